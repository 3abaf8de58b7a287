//! `repalign score`: the alignment of two N x D inputs, optionally calibrated.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::time::Instant;

use crate::knn::Similarity;
use crate::prepare::Prepare;

use super::{calibration_rows, exec, isa_name, load_pair, same_samples, score_layers, warnings, with_run_keys};
use crate::cli::args::{Args, Fail};
use crate::cli::metric::{check_cca_dim, check_k, metric_json, metric_of, metric_text};
use crate::cli::output::{number, print_json, print_table};
use crate::cli::stepwise::Side;

/// `repalign score A B`: one score (calibrated with `--permutations`) as JSON or a table.
pub(crate) fn run(a: Args) -> Result<(), Fail> {
    let [pa, pb] = &a.positional[..] else {
        return Err(Fail::Usage("score takes two input files".into()));
    };
    let (name, metric) = metric_of(&a)?;
    let (mut fa, mut fb) = load_pair(pa, pb, &a, "score", true)?;
    same_samples(&fa, &fb)?;
    check_k(fa.rows(), metric)?;
    check_cca_dim(fa.rows(), fa.dim(), fb.dim(), metric)?;
    let start = Instant::now();
    // --normalize: inner products of L2-normalised rows (--cosine does the same without
    // changing them).
    let (mode, metric) = match a.normalize {
        true => (Prepare::Normalize, metric.with_similarity(Similarity::InnerProduct)),
        false => (Prepare::None, metric),
    };
    // The files' own element types, for the report; then each prepared where it is.
    let dtypes = (fa.dtype(), fb.dtype());
    fa.prepare(mode, 1.0, &exec(&a))?;
    fb.prepare(mode, 1.0, &exec(&a))?;
    let (ma, mb) = (fa.tensor()?.layer_views(), fb.tensor()?.layer_views());
    let (sa, sb) = (
        Side { source: &fa.source, layers: &ma, layer_ids: &[0] },
        Side { source: &fb.source, layers: &mb, layer_ids: &[0] },
    );
    let (result, calibration) = score_layers(&a, &sa, &sb, &metric)?;
    let score = result.scores[0];
    let warnings = warnings(&result, [&sa, &sb]);
    let seconds = start.elapsed().as_secs_f64();
    let isa = isa_name(result.isa);
    if a.json {
        let mut o = metric_json(&name, metric);
        o.insert("score".into(), number(score));
        o.insert("n".into(), fa.rows().into());
        o.insert("d_a".into(), fa.dim().into());
        o.insert("d_b".into(), fb.dim().into());
        o.insert("normalize".into(), a.normalize.into());
        print_json(with_run_keys(o, isa, seconds, warnings, calibration.as_ref(), &a))?;
    } else {
        let mut rows = vec![
            ("metric", metric_text(&name, metric)),
            ("score", format!("{score:.6}")),
            ("A", format!("{} ({} x {}, {})", fa.source, fa.rows(), fa.dim(), dtypes.0)),
            ("B", format!("{} ({} x {}, {})", fb.source, fb.rows(), fb.dim(), dtypes.1)),
            ("normalize", a.normalize.to_string()),
        ];
        rows.extend(calibration.as_ref().map(calibration_rows).unwrap_or_default());
        rows.push(("isa", isa.into()));
        rows.push(("seconds", format!("{seconds:.3}")));
        rows.extend(warnings.into_iter().map(|w| ("warning", w)));
        print_table(&rows)?;
    }
    Ok(())
}
