//! `repalign demo` against the reference numbers of `tests/data/color-demo/scores.json`, and
//! the heatmap writer (SVG and PNG) on odd shapes.
//!
//! The demo and plot modules of the command-line tool (`repalign::cli`, feature `cli`) are
//! tested directly; the binary is run for the command line itself.
#![cfg(feature = "cli")]

mod cli_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use repalign::calibrate::CalibrationOptions;
use repalign::cli::{demo, plot};
use serde_json::Value;

use cli_support::repalign;

/// The reference's colour-demo folder (`../shared/color-demo`: scores.json, names.json and
/// each representation as `.f32.npy` and `.f16.npy`), assembled once in the scratch folder
/// from the repository (tests/data/README.md): `tests/data/color-demo/` holds the JSON and
/// the float32 features, gzipped; `data/color-demo/` ships three of the reference's float16
/// files byte for byte; e5's and MiniLM's are their float32 rounded to nearest. Each float16
/// file must have the CRC-32 of the reference's.
fn color_demo() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (data, shipped) = (root.join("tests/data/color-demo"), root.join("data/color-demo"));
        let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let dir = scratch("reference");
        std::fs::create_dir_all(&dir).unwrap();
        for file in ["scores.json", "names.json"] {
            std::fs::write(dir.join(file), read(data.join(file))).unwrap();
        }
        // The reference's name, the shipped float16 file that is the reference's (None: round
        // the float32), and the CRC-32 of the reference's float16 file.
        for (stem, shipped_f16, crc) in [
            ("lab_kernel", Some("lab_kernel"), 0x935f_2293),
            ("glove_thecolor", Some("glove"), 0xbc91_36d8),
            ("e5_thecolor", None, 0x0e82_85d5),
            ("minilm_thecolor", None, 0x54a2_65f8),
            ("random_gauss384", Some("random"), 0xf8c9_4ea4),
        ] {
            let mut f32_npy = Vec::new();
            let gz = read(data.join(format!("{stem}.f32.npy.gz")));
            flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut f32_npy).unwrap();
            let f16_npy = match shipped_f16 {
                Some(name) => read(shipped.join(format!("{name}.f16.npy"))),
                None => float16_npy(&f32_npy),
            };
            let mut sum = flate2::Crc::new();
            sum.update(&f16_npy);
            assert_eq!(sum.sum(), crc, "{stem}.f16.npy is not the reference's (see tests/data/README.md)");
            std::fs::write(dir.join(format!("{stem}.f32.npy")), f32_npy).unwrap();
            std::fs::write(dir.join(format!("{stem}.f16.npy")), f16_npy).unwrap();
        }
        dir
    })
    .clone()
}

/// A float32 `.npy` file (version 1.0) as float16, rounded to nearest even: the same header
/// with `<f2` for `<f4`.
fn float16_npy(npy: &[u8]) -> Vec<u8> {
    assert_eq!(&npy[..8], b"\x93NUMPY\x01\x00", "a version 1.0 .npy file");
    let start = 10 + usize::from(u16::from_le_bytes([npy[8], npy[9]]));
    let mut out = npy[..start].to_vec();
    let at = out.windows(3).position(|w| w == b"<f4").expect("a float32 .npy file");
    out[at..at + 3].copy_from_slice(b"<f2");
    for x in npy[start..].chunks_exact(4) {
        out.extend(repalign::f16::from_f32(f32::from_le_bytes(x.try_into().unwrap())).to_le_bytes());
    }
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_demo");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// The reference's name of each of the demo's representations.
fn reference_name(key: &str) -> &'static str {
    match key {
        "lab" => "lab_kernel",
        "glove" => "glove_thecolor",
        "e5" => "e5_thecolor",
        "minilm" => "minilm_thecolor",
        "random" => "random_gauss384",
        other => panic!("unknown representation {other}"),
    }
}

/// The reference row (template "the color {name}") of a demo row.
fn reference<'a>(scores: &'a Value, row: &demo::Row) -> &'a Value {
    let (a, b) = (reference_name(row.a), reference_name(row.b));
    let found: Vec<&Value> = scores["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["A"] == a && r["B"] == b && r["subset"] == row.subset && r["k"] == row.k)
        .collect();
    assert_eq!(found.len(), 1, "reference rows for {a} vs {b}, {}, k={}", row.subset, row.k);
    found[0]
}

fn run_demo(data: &demo::DemoData, permutations: usize) -> demo::Results {
    let opts = CalibrationOptions { permutations, ..CalibrationOptions::default() };
    demo::compute(data, &opts, &repalign::Exec::default(), &mut |_, _| {}).unwrap()
}

/// Compares every row with the reference; returns the largest |score - reference|.
fn max_diff(res: &demo::Results, field: &str) -> f64 {
    let scores: Value = serde_json::from_slice(&std::fs::read(color_demo().join("scores.json")).unwrap()).unwrap();
    assert_eq!(res.rows.len(), 8 * 2 * 3);
    let mut worst = 0.0f64;
    for row in &res.rows {
        let r = reference(&scores, row);
        assert_eq!(r["n"].as_u64().unwrap() as usize, row.n);
        worst = worst.max((row.score - r[field].as_f64().unwrap()).abs());
    }
    worst
}

#[test]
fn demo_reproduces_the_reference_on_float32_features() {
    let data = demo::DemoData::from_dir(&color_demo(), Some("f32")).unwrap();
    let res = run_demo(&data, 1000);
    let diff = max_diff(&res, "raw");
    eprintln!("f32: max |score - scores.json raw| = {diff:e}");
    assert!(diff <= 1e-6, "max |diff| {diff}");
    let scores: Value = serde_json::from_slice(&std::fs::read(color_demo().join("scores.json")).unwrap()).unwrap();
    for row in &res.rows {
        let r = reference(&scores, row);
        // The null mean of 1000 permutations is within a few standard errors of the reference's.
        let se = r["null_std"].as_f64().unwrap() / 1000f64.sqrt();
        assert!((row.null_mean - r["null_mean"].as_f64().unwrap()).abs() < 6.0 * se, "{row:?}");
        if row.b == "random" {
            assert!(row.p_value > 0.01, "the random control must be at chance: {row:?}");
        } else {
            assert_eq!(row.p_value, 1.0 / 1001.0, "{row:?}");
            assert!(row.z > 5.0, "{row:?}");
        }
    }
    // The heatmap's matrix: symmetric, 1 on the diagonal, its entries the k = 10 rows.
    let m = &res.matrix;
    assert_eq!(m.len(), 5);
    for (i, row) in m.iter().enumerate() {
        assert_eq!(row[i], 1.0);
        assert!(row.iter().zip(m).all(|(&v, other)| v == other[i]), "row {i} of {m:?}");
    }
    let lab_minilm = res.rows.iter().find(|r| (r.a, r.b, r.subset, r.k) == ("lab", "minilm", "all", 10)).unwrap();
    assert_eq!(m[0][3], lab_minilm.score);
}

#[test]
fn demo_on_float16_features_is_within_0_01_of_the_float32_reference() {
    let data = demo::DemoData::from_dir(&color_demo(), Some("f16")).unwrap();
    let res = run_demo(&data, 100);
    let diff = max_diff(&res, "raw");
    let diff_f16 = max_diff(&res, "raw_from_f16");
    eprintln!("reference f16 files: max |score - raw| = {diff:e}, max |score - raw_from_f16| = {diff_f16:e}");
    assert!(diff <= 0.01, "max |diff| {diff}");
    // The reference also scored these very files: the same numbers.
    assert!(diff_f16 <= 1e-6, "max |diff| {diff_f16} against raw_from_f16");
}

#[test]
fn demo_on_the_shipped_float16_features_is_within_0_01_of_the_reference() {
    let data = demo::DemoData::embedded().unwrap();
    assert_eq!(data.names.len(), 913);
    assert_eq!(data.single_word.len(), 230);
    let reference: Value = serde_json::from_slice(&std::fs::read(color_demo().join("names.json")).unwrap()).unwrap();
    assert_eq!(data.names, serde_json::from_value::<Vec<String>>(reference["names"].clone()).unwrap());
    let res = run_demo(&data, 100);
    let diff = max_diff(&res, "raw");
    eprintln!("shipped f16: max |score - raw| = {diff:e}");
    assert!(diff <= 0.01, "max |diff| {diff}");
}

#[test]
fn demo_command_prints_json_rows_and_writes_the_plot() {
    let svg = scratch("demo.svg");
    let _ = std::fs::remove_file(&svg);
    let dir = color_demo();
    let out = repalign(&[
        "demo",
        "--json",
        "--data",
        dir.to_str().unwrap(),
        "--dtype",
        "f32",
        "--permutations",
        "50",
        "--plot",
        svg.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = doc["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 48);
    for r in rows {
        for key in ["a", "b", "subset", "k", "score", "p_value", "null_mean", "null_std", "z"] {
            assert!(r.get(key).is_some(), "row lacks {key}: {r}");
        }
        assert!(["lab", "glove", "e5", "minilm", "random"].contains(&r["a"].as_str().unwrap()));
        assert!(["all", "single_word"].contains(&r["subset"].as_str().unwrap()));
    }
    let lab_minilm =
        rows.iter().find(|r| r["a"] == "lab" && r["b"] == "minilm" && r["subset"] == "all" && r["k"] == 10);
    assert!((lab_minilm.unwrap()["score"].as_f64().unwrap() - 0.1628).abs() < 1e-4);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(svg_cells(&text).len(), 25);
}

#[test]
fn demo_command_runs_from_any_directory_on_the_embedded_data() {
    // No arguments but a short null: the embedded features, the table, color-demo.svg here.
    let cwd = scratch("anywhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let _ = std::fs::remove_file(cwd.join("color-demo.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_repalign"))
        .args(["demo", "--permutations", "20"])
        .current_dir(&cwd)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("embedded"), "{text}");
    assert!(text.contains("single_word"), "{text}");
    assert!(text.contains("spelling") && text.contains("random control is at chance"), "{text}");
    let lines =
        text.lines().filter(|l| l.starts_with("lab ") || l.starts_with("e5 ") || l.starts_with("glove ")).count();
    assert_eq!(lines + text.lines().filter(|l| l.starts_with("minilm ")).count(), 48, "{text}");
    let svg = std::fs::read_to_string(cwd.join("color-demo.svg")).unwrap();
    assert_eq!(svg_cells(&svg).len(), 25);
}

#[test]
fn demo_command_writes_png_and_rejects_bad_arguments() {
    let png = scratch("demo.png");
    let out = repalign(&["demo", "--permutations", "5", "--json", "--plot", png.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(&std::fs::read(&png).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    for (args, message) in [
        (&["demo", "--bogus"][..], "--bogus"),
        (&["demo", "--no-plot", "--data", "/nonexistent/dir"], "/nonexistent/dir"),
        (&["demo", "--dtype", "f64"], "f16 or f32"),
        (&["demo", "--dtype", "f32"], "--data"),
        (&["demo", "--permutations", "0"], "at least 1"),
        (&["demo", "--seed"], "needs a value"),
        (&["demo", "--plot", "out.jpg", "--permutations", "1"], ".svg or .png"),
    ] {
        let out = repalign(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
}

// ---- Heatmaps ----

fn heatmap<'a>(scores: &'a [Vec<f64>], best: Option<(usize, usize)>) -> plot::Heatmap<'a> {
    plot::Heatmap {
        scores,
        best,
        title: "mutual_knn (k=10)",
        x_label: "layer of B",
        y_label: "layer of A",
        row_labels: None,
        col_labels: None,
        annotate: false,
    }
}

/// The attribute `name="..."` of an SVG element.
fn attr<'a>(element: &'a str, name: &str) -> &'a str {
    let start =
        element.find(&format!(" {name}=\"")).unwrap_or_else(|| panic!("no {name} in {element}")) + name.len() + 3;
    &element[start..start + element[start..].find('"').unwrap()]
}

/// The attributes of each `<rect>` of an SVG, from the space before the first one (so that
/// `attr` finds them all).
fn svg_rects(svg: &str) -> impl Iterator<Item = &str> {
    svg.match_indices("<rect ").map(|(at, _)| &svg[at + 5..at + svg[at..].find('>').unwrap()])
}

/// The heatmap cells of an SVG: its filled square rectangles, less the background and the
/// black and white of the best cell's outline (the colour bar is drawn in 1-pixel strips).
fn svg_cells(svg: &str) -> Vec<&str> {
    svg_rects(svg)
        .filter(|e| {
            !e.starts_with(r#" x="0" y="0""#)
                && attr(e, "width") == attr(e, "height")
                && attr(e, "stroke") == "none"
                && !["#FFFFFF", "#000000"].contains(&attr(e, "fill"))
        })
        .collect()
}

/// Writes `map` as SVG and PNG and checks both: the SVG's cells, and in the PNG the same
/// size and each cell's colour at its centre. Returns the SVG text.
fn check_both(map: &plot::Heatmap<'_>, name: &str) -> String {
    let (svg_path, png_path) = (scratch(&format!("{name}.svg")), scratch(&format!("{name}.png")));
    plot::write_heatmap_labeled(&svg_path, map).unwrap();
    plot::write_heatmap_labeled(&png_path, map).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    let cells = svg_cells(&svg);
    let (rows, cols) = (map.scores.len(), map.scores[0].len());
    assert_eq!(cells.len(), rows * cols);

    let bytes = std::fs::read(&png_path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let head = &svg[..svg.find('>').unwrap()];
    assert_eq!(info.width.to_string(), attr(head, "width"));
    assert_eq!(info.height.to_string(), attr(head, "height"));
    for cell in &cells {
        let at = |n: &str| attr(cell, n).parse::<usize>().unwrap();
        // Large cells print their value at the centre: sample them a quarter in.
        let (w, h) = (at("width"), at("height"));
        let (x, y) = if w >= 28 { (at("x") + w / 4, at("y") + h / 4) } else { (at("x") + w / 2, at("y") + h / 2) };
        let i = (y * info.width as usize + x) * 3;
        let fill = attr(cell, "fill");
        let expected: Vec<u8> = (0..3).map(|c| u8::from_str_radix(&fill[1 + 2 * c..3 + 2 * c], 16).unwrap()).collect();
        assert_eq!(&rgb[i..i + 3], &expected[..], "cell {cell}");
    }
    svg
}

#[test]
fn heatmap_svg_and_png_agree_on_a_layer_sweep() {
    let scores: Vec<Vec<f64>> = (0..7).map(|i| (0..12).map(|j| ((i * j) as f64 / 77.0).sqrt()).collect()).collect();
    let svg = check_both(&heatmap(&scores, Some((6, 11))), "sweep");
    // The best cell's outline: four black strips.
    assert_eq!(svg_rects(&svg).filter(|e| attr(e, "fill") == "#000000").count(), 4);
    assert!(svg.contains("layer of A") && svg.contains("mutual_knn (k=10)"));
    // Smallest and largest values take the ends of the colour map.
    assert!(svg.contains(r##"fill="#440154""##) && svg.contains(r##"fill="#FDE725""##));
}

#[test]
fn heatmap_of_one_cell_and_of_a_constant_matrix() {
    let one = vec![vec![0.25]];
    let svg = check_both(&heatmap(&one, Some((0, 0))), "one");
    assert!(svg.contains("0.250"), "the colour bar names the value");
    let constant = vec![vec![0.5; 4]; 3];
    check_both(&heatmap(&constant, None), "constant");
    let mut annotated = heatmap(&constant, Some((2, 3)));
    annotated.annotate = true;
    let svg = check_both(&heatmap(&constant, None), "constant_annotated");
    assert!(!svg.contains("NaN"));
    plot::write_heatmap_labeled(&scratch("annotated.png"), &annotated).unwrap();
}

#[test]
fn heatmap_of_100_by_100_thins_its_ticks() {
    let scores: Vec<Vec<f64>> = (0..100).map(|i| (0..100).map(|j| ((i + j) % 17) as f64).collect()).collect();
    let svg = check_both(&heatmap(&scores, Some((99, 0))), "large");
    let ticks = svg.matches("<polyline ").count();
    assert!(ticks < 100, "{ticks} tick marks");
}

#[test]
fn heatmap_with_labels_and_values() {
    let labels: Vec<String> = ["lab", "glove", "e5", "minilm", "random"].map(String::from).to_vec();
    let scores: Vec<Vec<f64>> =
        (0..5).map(|i| (0..5).map(|j| if i == j { 1.0 } else { 0.1 * (i + j) as f64 }).collect()).collect();
    let map = plot::Heatmap {
        row_labels: Some(&labels),
        col_labels: Some(&labels),
        annotate: true,
        ..heatmap(&scores, Some((3, 4)))
    };
    let svg = check_both(&map, "labels");
    assert!(svg.contains(">\nminilm\n</text>") && svg.contains(">\n0.70\n</text>"));
}

#[test]
fn heatmap_errors_are_messages() {
    let scores = vec![vec![1.0, 2.0]];
    let err = plot::write_heatmap(&scratch("x.jpg"), &scores, None, "t", "x", "y").unwrap_err();
    assert!(err.contains(".svg or .png"), "{err}");
    let err = plot::write_heatmap(&scratch("noext"), &scores, None, "t", "x", "y").unwrap_err();
    assert!(err.contains(".svg or .png"), "{err}");
    let svg = scratch("e.svg");
    assert!(plot::write_heatmap(&svg, &[], None, "t", "x", "y").unwrap_err().contains("empty"));
    let ragged = vec![vec![1.0, 2.0], vec![1.0]];
    assert!(plot::write_heatmap(&svg, &ragged, None, "t", "x", "y").unwrap_err().contains("ragged"));
    let nan = vec![vec![1.0, f64::NAN]];
    assert!(plot::write_heatmap(&svg, &nan, None, "t", "x", "y").unwrap_err().contains("row 0, column 1"));
    assert!(plot::write_heatmap(&svg, &scores, Some((0, 2)), "t", "x", "y").unwrap_err().contains("outside"));
    let labels = vec!["a".to_string()];
    let map = plot::Heatmap { col_labels: Some(&labels), ..heatmap(&scores, None) };
    assert!(plot::write_heatmap_labeled(&svg, &map).unwrap_err().contains("column labels"));
    let err = plot::write_heatmap(Path::new("/nonexistent/dir/p.svg"), &scores, None, "t", "x", "y").unwrap_err();
    assert!(err.contains("/nonexistent/dir/p.svg"), "{err}");
}
