//! `repalign zoo` with a state cache and a performance file: cached runs give the uncached
//! results bit for bit and compute only what is new; damaged entries are replaced; a run
//! killed part way (Ctrl-C) leaves only whole entries; the performance CSV is checked and
//! its rank correlation is the library's.
#![cfg(feature = "cli")]

mod cli_support;

use std::process::{Command, Stdio};
use std::time::Duration;

use repalign::zoo::rank_correlation_test;
use serde_json::Value;

use cli_support::{BIN, TempDir, fails, json, ok, random, write_npy};

const N: usize = 64;

/// Models m0.. with `layers` layers of 6 features each, sharing a signal.
fn zoo_files(dir: &TempDir, layers: &[usize]) -> Vec<String> {
    let signal = random(N * 6, 99);
    layers
        .iter()
        .enumerate()
        .map(|(m, &l)| {
            let noise = random(N * l * 6, m as u64 + 1);
            let x: Vec<f32> = noise.iter().enumerate().map(|(e, v)| signal[(e / (l * 6)) * 6 + e % 6] + v).collect();
            let path = dir.path(&format!("m{m}.npy"));
            write_npy(&path, &[N as u64, l as u64, 6], &x);
            path
        })
        .collect()
}

fn run(models: &[String], extra: &[&str]) -> Value {
    let mut args = vec!["zoo"];
    args.extend(models.iter().map(String::as_str));
    args.extend(["--k", "5", "--prepare", "paper", "--json"]);
    args.extend(extra);
    json(&args)
}

fn cache(r: &Value) -> (u64, u64, u64) {
    let c = &r["cache"];
    (c["hits"].as_u64().unwrap(), c["computed"].as_u64().unwrap(), c["rejected"].as_u64().unwrap())
}

fn entries(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rpstate"))
        .collect();
    v.sort();
    v
}

#[test]
fn cached_zoos_equal_uncached_and_compute_only_what_is_new() {
    let dir = TempDir::new("cache");
    let models = zoo_files(&dir, &[3, 2, 4, 1]);
    let store = dir.0.join("states");
    let at = store.to_str().unwrap();
    let calibrate = ["--permutations", "20", "--seed", "4"];
    let want = run(&models[..3], &calibrate);
    let first = run(&models[..3], &[&calibrate[..], &["--cache", at]].concat());
    assert_eq!((first["pairs"].clone(), first["matrix"].clone()), (want["pairs"].clone(), want["matrix"].clone()));
    assert_eq!(cache(&first), (0, 9, 0));
    assert_eq!(first["cache"]["dir"], at);
    let second = run(&models[..3], &[&calibrate[..], &["--cache", at]].concat());
    assert_eq!((second["pairs"].clone(), second["matrix"].clone()), (want["pairs"].clone(), want["matrix"].clone()));
    assert_eq!(cache(&second), (9, 0, 0));
    // A fourth model: its one layer is computed, the rest read.
    let all = run(&models, &["--cache", at]);
    assert_eq!(cache(&all), (9, 1, 0));
    assert_eq!(all["pairs"], run(&models, &[])["pairs"]);
    // Another k is another state.
    let mut args: Vec<&str> = vec!["zoo"];
    args.extend(models.iter().map(String::as_str));
    args.extend(["--k", "4", "--prepare", "paper", "--json", "--cache", at]);
    let r = json(&args);
    assert_eq!(cache(&r), (0, 10, 0));
    // A damaged entry is found out, recomputed and replaced; the result is unchanged.
    let files = entries(&store);
    assert_eq!(files.len(), 20);
    let mut bytes = std::fs::read(&files[3]).unwrap();
    let end = bytes.len() - 1;
    bytes[end] ^= 0x40;
    std::fs::write(&files[3], &bytes).unwrap();
    std::fs::write(&files[7], b"").unwrap();
    let again = run(&models, &["--cache", at]);
    assert_eq!(again["pairs"], all["pairs"]);
    let (hits, computed, rejected) = cache(&again);
    assert_eq!(hits + computed, 10);
    assert!(rejected <= 2 && computed == rejected, "{:?}", cache(&again));
    // The text output says what the cache did.
    let mut args: Vec<&str> = vec!["zoo"];
    args.extend(models.iter().map(String::as_str));
    args.extend(["--k", "5", "--prepare", "paper", "--cache", at]);
    assert!(ok(&args).contains(&format!("cache {at}: 10 layer states read, 0 computed")));
    // A file where the directory should be is an error before any work.
    let file = dir.path("file");
    std::fs::write(&file, b"x").unwrap();
    let args: Vec<&str> = vec!["zoo", &models[0], &models[1], "--k", "5", "--cache", &file];
    assert!(fails(&args, 1).contains("--cache"));
}

#[test]
fn an_interrupted_run_leaves_only_whole_entries() {
    let dir = TempDir::new("interrupt");
    // Big enough that a run takes a while: 6 models of 4 layers, N = 3000.
    let n = 3000u64;
    let models: Vec<String> = (0..6u64)
        .map(|m| {
            let path = dir.path(&format!("big{m}.npy"));
            write_npy(&path, &[n, 4, 48], &random(n as usize * 4 * 48, m + 10));
            path
        })
        .collect();
    let store = dir.0.join("states");
    let at = store.to_str().unwrap();
    for wait in [40u64, 120, 250, 400] {
        let mut args: Vec<&str> = vec!["zoo", "--k", "10", "--quiet", "--threads", "1", "--cache", at];
        args.extend(models.iter().map(String::as_str));
        let mut child = Command::new(BIN).args(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(wait));
        let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        let _ = child.wait();
    }
    // Every entry is whole: a finishing run rejects none and matches an uncached one.
    let mut args: Vec<&str> = vec!["zoo", "--k", "10", "--json", "--quiet", "--cache", at];
    args.extend(models.iter().map(String::as_str));
    let r = json(&args);
    assert_eq!(cache(&r).2, 0, "{}", r["cache"]);
    assert_eq!(cache(&r).0 + cache(&r).1, 24);
    let mut plain: Vec<&str> = vec!["zoo", "--k", "10", "--json", "--quiet"];
    plain.extend(models.iter().map(String::as_str));
    assert_eq!(r["matrix"], json(&plain)["matrix"]);
}

#[test]
fn performance_relates_mean_alignment_to_scores() {
    let dir = TempDir::new("perf");
    let models = zoo_files(&dir, &[2, 2, 1, 3, 1]);
    let named: Vec<String> =
        models.iter().enumerate().map(|(i, p)| format!("{}={p}", ["vit", "dino", "clip", "mae", "rand"][i])).collect();
    let perf = dir.path("perf.csv");
    std::fs::write(&perf, "model,score\nvit,0.81\ndino,0.79\n\"clip\",0.9\nmae, 0.7\n").unwrap();
    let r = run(&named, &["--performance", &perf]);
    let p = &r["performance"];
    let rows = p["models"].as_array().unwrap();
    assert_eq!(rows.iter().map(|m| m["name"].as_str().unwrap()).collect::<Vec<_>>(), ["vit", "dino", "clip", "mae"]);
    // Each model's mean alignment is the mean of its matrix row.
    let names = ["vit", "dino", "clip", "mae", "rand"];
    let mut align = Vec::new();
    for row in rows {
        let i = names.iter().position(|n| *n == row["name"].as_str().unwrap()).unwrap();
        let cells: Vec<f64> = r["matrix"][i].as_array().unwrap().iter().filter_map(Value::as_f64).collect();
        let mean = cells.iter().sum::<f64>() / cells.len() as f64;
        assert!((row["mean_alignment"].as_f64().unwrap() - mean).abs() < 1e-12);
        align.push(row["mean_alignment"].as_f64().unwrap());
    }
    let want = rank_correlation_test(&align, &[0.81, 0.79, 0.9, 0.7], 9_999, 0).unwrap();
    assert_eq!(p["spearman_rho"].as_f64().unwrap(), want.rho);
    assert_eq!(p["p_value"].as_f64().unwrap(), want.p_value);
    assert_eq!((p["exact"].as_bool(), p["permutations"].as_u64()), (Some(true), Some(24)));
    let mut args: Vec<&str> = vec!["zoo"];
    args.extend(named.iter().map(String::as_str));
    args.extend(["--k", "5", "--performance", &perf]);
    assert!(ok(&args).contains("alignment vs. performance (4 models): Spearman rho = "));

    // Wrong labels and bad files are errors that name the line, before any work.
    let check = |text: &str, want: &str| {
        std::fs::write(&perf, text).unwrap();
        let mut args: Vec<&str> = vec!["zoo"];
        args.extend(named.iter().map(String::as_str));
        args.extend(["--k", "5", "--performance", &perf]);
        let e = fails(&args, 1);
        assert!(e.contains(want), "{text:?}: {e}");
    };
    check("model,score\nvit,1\nvitt,2\nclip,3\n", "line 3: 'vitt' is not a model of this zoo");
    check("vit,1\ndino,x\nclip,3\n", "line 2: 'x' is not a number");
    check("vit,1\ndino,2\nvit,3\n", "vit is listed twice");
    check("vit,1\ndino,NaN\nclip,3\n", "not finite");
    check("vit,1\ndino,2\n", "3 models or more");
    check("vit 1\n", "expected 'model,score'");
    let mut args: Vec<&str> = vec!["zoo"];
    args.extend(named.iter().map(String::as_str));
    args.extend(["--k", "5", "--performance", "/nonexistent/perf.csv"]);
    assert!(fails(&args, 1).contains("/nonexistent/perf.csv"));
    args.truncate(args.len() - 2);
    args.extend(["--scatter", "x.svg"]);
    assert!(fails(&args, 2).contains("needs --performance"));
}

#[test]
fn the_bundled_colour_zoo_finds_the_last_blocks() {
    let root = env!("CARGO_MANIFEST_DIR");
    let d = format!("{root}/data/color-demo");
    let (minilm, e5) = (
        format!("minilm={d}/minilm_layers.safetensors:layers.{{}}"),
        format!("e5={d}/e5_layers.safetensors:layers.{{}}"),
    );
    let (lab, random) = (format!("{d}/lab_kernel.f16.npy"), format!("{d}/random.f16.npy"));
    let args = [
        "zoo",
        &minilm,
        &e5,
        &random,
        "--group-b",
        &lab,
        "--k",
        "10",
        "--prepare",
        "normalize",
        "--permutations",
        "200",
        "--seed",
        "1",
        "--json",
        "--quiet",
    ];
    let r = json(&args);
    let layers: Vec<&Value> = r["models"].as_array().unwrap().iter().map(|m| &m["layer_ids"]).collect();
    assert_eq!(layers[0], &serde_json::json!([0, 2, 4, 6]));
    assert_eq!(layers[1], &serde_json::json!([0, 4, 8, 12]));
    // The files' own element type, though their prepared values are f32.
    let models = r["models"].as_array().unwrap();
    assert_eq!((&models[2]["dtype"], &models[3]["dtype"]), (&serde_json::json!("f16"), &serde_json::json!("f16")));
    let pairs = r["pairs"].as_array().unwrap();
    // The last block of each text model aligns best with perceptual colour distance, far
    // above the null; the random control does not.
    // 1486 of the 913 x 10 neighbours shared (0.1628).
    assert_eq!(
        (&pairs[0]["best_layers"], pairs[0]["best"].as_f64().unwrap()),
        (&serde_json::json!([6, 0]), 1486.0 / 9130.0)
    );
    assert_eq!(pairs[1]["best_layers"], serde_json::json!([12, 0]));
    assert!(pairs[1]["best"].as_f64().unwrap() > 0.15);
    for p in &pairs[..2] {
        assert_eq!(p["p_value"].as_f64().unwrap(), 1.0 / 201.0);
    }
    assert!(pairs[2]["p_value"].as_f64().unwrap() > 0.1 && pairs[2]["best"].as_f64().unwrap() < 0.012);
}

#[test]
fn figures_of_a_zoo() {
    let dir = TempDir::new("figures");
    let models = zoo_files(&dir, &[2, 3, 1, 2]);
    let named: Vec<String> =
        models.iter().enumerate().map(|(i, p)| format!("{}={p}", ["vit", "dino", "clip", "mae"][i])).collect();
    let perf = dir.path("perf.csv");
    std::fs::write(&perf, "vit,1\ndino,2\nclip,3\nmae,4\n").unwrap();
    let (plot, map, scatter) = (dir.path("matrix.svg"), dir.path("map.png"), dir.path("perf.svg"));
    let r = run(
        &named,
        &["--permutations", "30", "--plot", &plot, "--map", &map, "--performance", &perf, "--scatter", &scatter],
    );
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && ["vit", "dino", "clip", "mae"].iter().all(|n| svg.contains(n)));
    assert_eq!(&std::fs::read(&map).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    assert!(std::fs::read_to_string(&scatter).unwrap().contains("Spearman rho"));
    // The map's JSON: one point per model, distances close to -ln(best) when the
    // eigenvalues are all positive.
    let m = &r["map"];
    assert_eq!(m["models"].as_array().unwrap().len(), 4);
    let share = m["negative_share"].as_f64().unwrap();
    assert!((0.0..1.0).contains(&share) && share.is_sign_positive());
    // Bad figure requests are refused before any work.
    let mut args: Vec<&str> = vec!["zoo"];
    args.extend(named.iter().map(String::as_str));
    args.extend(["--k", "5"]);
    let with = |extra: &[&'static str]| -> Vec<String> { args.iter().chain(extra).map(|s| s.to_string()).collect() };
    let refs = |v: &[String]| -> Vec<String> { v.to_vec() };
    let fail = |v: Vec<String>, code| fails(&v.iter().map(String::as_str).collect::<Vec<_>>(), code);
    assert!(fail(with(&["--map", "m.pdf"]), 2).contains("--map m.pdf"));
    let mut bad_scatter = with(&["--scatter", "s.jpg", "--performance"]);
    bad_scatter.push(perf.clone());
    assert!(fail(bad_scatter, 2).contains(".svg or .png"));
    let mut grouped = refs(&with(&[]));
    grouped.insert(3, "--group-b".into());
    grouped.extend(["--map".to_string(), dir.path("m.svg")]);
    assert!(fail(grouped, 2).contains("--map"));
    let mut over = with(&["--plot"]);
    over.push(models[0].clone());
    assert!(fail(over, 2).contains("written as .svg or .png"));
}
