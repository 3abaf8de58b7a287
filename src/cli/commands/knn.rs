//! `repalign knn`: the N x K graph of one input, to `.npy`, CSV, JSON or a table.

use std::format;
use std::prelude::rust_2024::*;

use std::time::Instant;

use serde_json::{Value, json};

use crate::knn::{self, Similarity};
use crate::metrics::KnnMetric;
use crate::{Metric, Progress};

use super::{exec, isa_name, load};
use crate::cli::args::{Args, Fail};
use crate::cli::metric::check_k;
use crate::cli::output::{self, Object, number, print_json, print_table};
use crate::cli::progress;

/// `repalign knn X --k K`: the graph written by `--out`, or printed as CSV, JSON or a table.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    let [input] = &a.positional[..] else {
        return Err(Fail::Usage("knn takes one input file".into()));
    };
    let k = a.k.ok_or_else(|| Fail::Usage("knn needs --k K".into()))?;
    if a.out.is_some() && a.csv {
        return Err(Fail::Usage("--csv prints the graph to stdout: give --out or --csv, not both".into()));
    }
    if let Some(out) = &a.out {
        output::check_output("--out", out, &a.positional)?;
    }
    let x = load(input, &a, "knn", true)?;
    let similarity = if a.cosine { Similarity::Cosine } else { Similarity::InnerProduct };
    check_k(x.rows(), Metric::Knn { metric: KnnMetric::Mutual, k, similarity })?;
    let start = Instant::now();
    let g = {
        let bar = progress::Progress::bar(
            progress::visible(a.quiet),
            1,
            &format!("kNN graph, {} x {} ({})", x.rows(), k, x.dtype()),
        );
        let hook = |p: Progress| {
            if let Progress::Blocks { done, total } = p {
                bar.report(done, total)
            }
        };
        knn::graph(x.matrix()?, k, similarity, &exec(&a).with_progress(&hook))
            .map_err(|e| format!("{}: {e}", x.source))?
    };
    let seconds = start.elapsed().as_secs_f64();
    let (n, d) = (g.rows(), x.dim());
    let similarity = if a.cosine { "cosine" } else { "inner_product" };
    let mut o = Object::new();
    for (key, value) in [
        ("n", json!(n)),
        ("d", json!(d)),
        ("k", json!(k)),
        ("similarity", json!(similarity)),
        ("isa", json!(isa_name(g.isa()))),
        ("seconds", number(seconds)),
    ] {
        o.insert(key.into(), value);
    }
    if let Some(out) = &a.out {
        let graph: Vec<i32> = g.indices().iter().map(|&i| i as i32).collect();
        output::write_npy(out, &[n, k], &graph)?;
        if a.json {
            o.insert("out".into(), json!(out));
            print_json(o)?;
        } else {
            print_table(&[
                ("graph", format!("{n} x {k} int32 -> {out}")),
                ("input", format!("{} ({n} x {d}, {})", x.source, x.dtype())),
                ("similarity", similarity.into()),
                ("isa", isa_name(g.isa()).into()),
                ("seconds", format!("{seconds:.3}")),
            ])?;
        }
    } else if a.csv {
        output::print_csv(g.indices(), k)?;
    } else if a.json {
        let rows = |i: usize| json!(g.row(i));
        o.insert("indices".into(), Value::Array((0..n).map(rows).collect()));
        let sims = |i: usize| Value::Array(g.row_scores(i).iter().map(|&s| number(f64::from(s))).collect());
        o.insert("similarities".into(), Value::Array((0..n).map(sims).collect()));
        print_json(o)?;
    } else {
        output::to_stdout(|w| {
            writeln!(w, "row  neighbours, best first ({similarity})")?;
            for i in 0..n {
                let row: Vec<String> = g.row(i).iter().map(u32::to_string).collect();
                writeln!(w, "{i:<4} {}", row.join(" "))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}
