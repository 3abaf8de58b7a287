//! Every figure as SVG and PNG: sizes agree, labels and titles are in the SVG, bad paths and
//! bad input are errors that leave an existing file alone, and cells without a value stay out
//! of the colour scale.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::path::{Path, PathBuf};

use super::*;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("repalign-plot-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Decodes a PNG: width, height and RGB bytes.
fn read_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    rgb.truncate(info.buffer_size());
    (info.width, info.height, rgb)
}

/// Writes a figure as SVG and PNG with `write`, checks that both have the same size, that
/// the SVG is well formed and names every `text`, and returns the SVG and the PNG.
fn both(name: &str, texts: &[&str], write: impl Fn(&Path) -> Result<(), String>) -> (String, (u32, u32, Vec<u8>)) {
    let (svg_path, png_path) = (scratch(&format!("{name}.svg")), scratch(&format!("{name}.png")));
    write(&svg_path).unwrap();
    write(&png_path).unwrap();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{name}");
    assert_eq!(svg.matches('<').count(), svg.matches('>').count());
    assert!(!svg.contains("NaN") && !svg.contains("inf"), "{name}");
    assert!(svg.contains(r#"font-family="DejaVu Sans, sans-serif""#));
    for t in texts {
        assert!(svg.contains(&svg_text(t)), "{name}: no text {t}");
    }
    let png = read_png(&png_path);
    let head = &svg[..svg.find('>').unwrap()];
    assert!(head.contains(&format!(r#"width="{}" height="{}""#, png.0, png.1)), "{head}");
    // Text is drawn: some pixels are neither white nor a fill colour, i.e. anti-aliased.
    assert!(
        png.2.chunks(3).any(|p| p[0] == p[1] && p[1] == p[2] && p[0] > 60 && p[0] < 200),
        "{name}: no grey text pixels"
    );
    (svg, png)
}

/// A text element's content as plotters writes it.
fn svg_text(t: &str) -> String {
    format!(">\n{t}\n</text>")
}

fn names() -> Vec<String> {
    ["minilm", "multilingual-e5", "glove", "lab", "lab_kernel", "random"].map(String::from).to_vec()
}

/// A 6-model zoo: NaN on the diagonal, symmetric, a few significant cells.
fn zoo(diagonal: f64) -> ModelMatrix {
    let n = 6;
    let mut values = vec![0.0; n * n];
    let mut significant = vec![false; n * n];
    for i in 0..n {
        for j in 0..n {
            values[i * n + j] =
                if i == j { diagonal } else { 0.02 + 0.03 * ((i + j) % 5) as f64 + 0.01 * (i.min(j)) as f64 };
            significant[i * n + j] = i != j && (i + j) % 3 == 0;
        }
    }
    ModelMatrix {
        rows: names(),
        cols: names(),
        values,
        significant: Some(significant),
        title: "Mutual kNN alignment (k = 10) of the zoo".into(),
        value_label: "mutual_knn".into(),
    }
}

/// The colour at the centre-left of cell (i, j) of a model matrix in the SVG (the fill of
/// the rectangle whose corner is the cell's).
fn cell_fill(svg: &str, m: &ModelMatrix, i: usize, j: usize) -> String {
    let grid = grid::tests_support::layout_corner(m, i, j);
    let key = format!(r#"<rect x="{}" y="{}" "#, grid.0, grid.1);
    let at = svg.find(&key).unwrap_or_else(|| std::panic!("no cell at {grid:?}"));
    let rest = &svg[at..];
    let f = rest.find(r#"fill=""#).unwrap() + 6;
    rest[f..f + 7].to_string()
}

#[test]
fn model_matrix_svg_and_png() {
    let m = zoo(f64::NAN);
    let (svg, (w, h, _)) =
        both("zoo", &["minilm", "multilingual-e5", "lab_kernel", "mutual_knn", "0.18*"], |p| write_model_matrix(p, &m));
    assert!(svg.contains("* significant; grey: no value"));
    assert!(svg.contains(&svg_text(&m.title)));
    assert!(w > 400 && h > 400);
    // The diagonal is grey.
    assert_eq!(cell_fill(&svg, &m, 2, 2), "#D9D9D9");
}

#[test]
fn nan_or_unit_diagonal_does_not_change_the_off_diagonal_colours() {
    let with_nan = zoo(f64::NAN);
    let mut svg = String::new();
    write_model_matrix(&scratch("nan.svg"), &with_nan).unwrap();
    svg.push_str(&std::fs::read_to_string(scratch("nan.svg")).unwrap());
    // The extremes of the off-diagonal values take the ends of viridis.
    let (lo, hi) = (0.02, 0.02 + 0.03 * 4.0 + 0.01 * 4.0);
    let cells: Vec<(usize, usize)> = (0..6).flat_map(|i| (0..6).map(move |j| (i, j))).filter(|(i, j)| i != j).collect();
    let v = |i: usize, j: usize| with_nan.values[i * 6 + j];
    let at_lo = cells.iter().find(|&&(i, j)| v(i, j) == lo).unwrap();
    let at_hi = cells.iter().copied().max_by(|a, b| v(a.0, a.1).total_cmp(&v(b.0, b.1))).unwrap();
    assert!(v(at_hi.0, at_hi.1) <= hi);
    assert_eq!(cell_fill(&svg, &with_nan, at_lo.0, at_lo.1), "#440154");
    assert_eq!(cell_fill(&svg, &with_nan, at_hi.0, at_hi.1), "#FDE725");
    // A diagonal of 1.0 drawn as a value would squash the scale; NaN keeps it.
    let mut unit = zoo(1.0);
    write_model_matrix(&scratch("unit.svg"), &unit).unwrap();
    let unit_svg = std::fs::read_to_string(scratch("unit.svg")).unwrap();
    assert_ne!(cell_fill(&unit_svg, &unit, at_hi.0, at_hi.1), "#FDE725");
    unit.values.iter_mut().enumerate().filter(|(k, _)| k % 7 == 0).for_each(|(_, v)| *v = f64::NAN);
    write_model_matrix(&scratch("unit.svg"), &unit).unwrap();
    let unit_svg = std::fs::read_to_string(scratch("unit.svg")).unwrap();
    for &(i, j) in &cells {
        assert_eq!(cell_fill(&unit_svg, &unit, i, j), cell_fill(&svg, &with_nan, i, j));
    }
}

#[test]
fn heatmap_svg_and_png() {
    let scores: Vec<Vec<f64>> = (0..7).map(|i| (0..12).map(|j| ((i * j) as f64 / 77.0).sqrt()).collect()).collect();
    both("sweep", &["mutual_knn (k=10)", "layer of A", "layer of B", "11"], |p| {
        write_heatmap(p, &scores, Some((6, 11)), "mutual_knn (k=10)", "layer of B", "layer of A")
    });
}

#[test]
fn map_svg_and_png() {
    let map = Map {
        names: names(),
        x: vec![0.31, 0.28, -0.05, -0.42, -0.38, 0.02],
        y: vec![0.12, 0.18, -0.33, 0.05, 0.09, 0.71],
        title: "The zoo in two dimensions".into(),
        groups: Some(vec![0, 0, 0, 1, 1, 1]),
        caption: "classical MDS of −log(alignment); 2 negative eigenvalues dropped".into(),
    };
    let (svg, (w, h, _)) =
        both("map", &["glove", "lab_kernel", "group A", "group B", "The zoo in two dimensions"], |p| {
            write_map(p, &map)
        });
    assert!(svg.contains("−log(alignment)"));
    assert!(w >= 800 && h >= 700);
}

#[test]
fn scatter_skips_non_finite_points_and_says_so() {
    let s = Scatter {
        names: names(),
        x: vec![0.16, 0.14, 0.09, f64::NAN, 0.05, 0.011],
        y: vec![0.71, 0.69, 0.55, 0.9, 0.48, 0.1],
        x_label: "mutual kNN alignment with lab".into(),
        y_label: "accuracy".into(),
        title: "Alignment vs. performance".into(),
        annotation: "Spearman ρ = 0.71, p = 0.003".into(),
    };
    let (svg, _) =
        both("scatter", &["minilm", "random", "accuracy", "Spearman ρ = 0.71, p = 0.003"], |p| write_scatter(p, &s));
    assert!(svg.contains(&svg_text("1 model with a non-finite coordinate not drawn: lab")));
    assert!(!svg.contains(&svg_text("lab")), "the skipped point has no label");
}

#[test]
fn errors_are_messages_and_leave_files_alone() {
    let keep = scratch("keep.jpg");
    std::fs::write(&keep, b"precious").unwrap();
    let m = zoo(f64::NAN);
    assert!(write_model_matrix(&keep, &m).unwrap_err().contains(".svg or .png"));
    assert!(check_path(&keep).is_err() && check_path(Path::new("a.PNG")).is_ok());
    let s = Scatter {
        names: vec!["a".into()],
        x: vec![1.0],
        y: vec![2.0],
        x_label: "x".into(),
        y_label: "y".into(),
        title: "t".into(),
        annotation: String::new(),
    };
    assert!(write_scatter(&keep, &s).unwrap_err().contains(".svg or .png"));
    let map = Map { names: vec![], x: vec![], y: vec![], title: "t".into(), groups: None, caption: String::new() };
    assert!(write_map(&keep, &map).is_err());
    assert_eq!(std::fs::read(&keep).unwrap(), b"precious");

    // Bad input to a good path: an error, the existing file untouched.
    let target = scratch("keep.svg");
    std::fs::write(&target, b"precious").unwrap();
    assert!(write_map(&target, &map).unwrap_err().contains("no points"));
    let short = Scatter { x: vec![], ..s };
    assert!(write_scatter(&target, &short).unwrap_err().contains("1 names, 0 x values"));
    let nan = Scatter { x: vec![f64::NAN], ..short };
    assert!(write_scatter(&target, &nan).unwrap_err().contains("no point"));
    let empty = ModelMatrix { rows: vec![], cols: vec![], values: vec![], significant: None, ..zoo(0.0) };
    assert!(write_model_matrix(&target, &empty).unwrap_err().contains("empty"));
    let ragged = ModelMatrix { values: vec![0.5; 5], ..zoo(0.0) };
    assert!(write_model_matrix(&target, &ragged).unwrap_err().contains("5 values"));
    let all_nan = ModelMatrix { values: vec![f64::NAN; 36], ..zoo(0.0) };
    assert!(write_model_matrix(&target, &all_nan).unwrap_err().contains("without any value"));
    let flags = ModelMatrix { significant: Some(vec![true]), ..zoo(0.0) };
    assert!(write_model_matrix(&target, &flags).unwrap_err().contains("significance"));
    let groups = Map { groups: Some(vec![0]), ..Map { names: names(), x: vec![0.0; 6], y: vec![0.0; 6], ..map } };
    assert!(write_map(&target, &groups).unwrap_err().contains("1 groups for 6 models"));
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
}

#[test]
fn a_lone_point_and_a_one_by_one_matrix() {
    let map = Map {
        names: vec!["only".into()],
        x: vec![3.0],
        y: vec![3.0],
        title: "one".into(),
        groups: None,
        caption: String::new(),
    };
    both("lone", &["only"], |p| write_map(p, &map));
    let m = ModelMatrix {
        rows: vec!["a".into()],
        cols: vec!["b".into()],
        values: vec![0.5],
        significant: None,
        title: "one".into(),
        value_label: String::new(),
    };
    both("one", &["0.50"], |p| write_model_matrix(p, &m));
}

#[test]
fn twenty_models_with_long_names() {
    let n = 20;
    let rows: Vec<String> = (0..n).map(|i| format!("sentence-transformers/model-{i:02}-base")).collect();
    let values: Vec<f64> = (0..n * n)
        .map(|k| if k / n == k % n { f64::NAN } else { 0.05 + 0.2 * ((k * 7919) % 97) as f64 / 97.0 })
        .collect();
    let m = ModelMatrix {
        rows: rows.clone(),
        cols: rows.clone(),
        significant: Some(values.iter().map(|&v| v > 0.2).collect()),
        values,
        title: "Twenty models".into(),
        value_label: "mutual kNN alignment (k = 10)".into(),
    };
    both("zoo20", &["sentence-transformers/model-19-base", "Twenty models"], |p| write_model_matrix(p, &m));
    let map = Map {
        names: rows,
        x: (0..n).map(|i| (i as f64 * 0.7).sin()).collect(),
        y: (0..n).map(|i| (i as f64 * 0.3).cos() * 0.5).collect(),
        title: "Twenty models".into(),
        groups: Some((0..n).map(|i| i % 2).collect()),
        caption: String::new(),
    };
    both("map20", &["sentence-transformers/model-19-base"], |p| write_map(p, &map));
}
