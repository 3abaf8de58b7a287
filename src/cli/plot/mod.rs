//! Heatmaps of score matrices (a layer sweep, or representation against representation) as
//! SVG or PNG, chosen by the file's extension.
//!
//! Row i of the matrix is drawn as the i-th band from the top (y axis), column j as the j-th
//! band from the left (x axis); colours run along viridis from the smallest to the largest
//! value, with a colour bar to the right. The marked cell (the best pair) gets a black and
//! white outline that shows on every colour. SVG and PNG share one pixel layout, computed
//! here; `svg` and `raster` draw it, the PNG's text in a built-in 5 x 7 bitmap font (no
//! system fonts).
//!
//! Guarantees: any matrix from 1 x 1 up (large ones thin out their tick labels), constant
//! matrices (every cell takes the middle colour), and an `Err` with a message, never a
//! panic, for an empty, ragged or non-finite matrix, a marked cell outside it, labels of the
//! wrong length, or an extension other than `.svg` / `.png`. The file is written atomically
//! (`output::write_atomic`): a failed write leaves an existing file as it was.

use std::prelude::rust_2024::*;
use std::{format, vec};

mod raster;
mod svg;

use std::path::Path;

/// A matrix to draw and its labels.
pub struct Heatmap<'a> {
    /// `scores[i][j]`: row i (y axis) against column j (x axis). Finite values.
    pub scores: &'a [Vec<f64>],
    /// The cell to outline, `(row, column)`.
    pub best: Option<(usize, usize)>,
    pub title: &'a str,
    /// Title of the x axis (columns).
    pub x_label: &'a str,
    /// Title of the y axis (rows).
    pub y_label: &'a str,
    /// Tick label of each row; `None`: the row index.
    pub row_labels: Option<&'a [String]>,
    /// Tick label of each column; `None`: the column index.
    pub col_labels: Option<&'a [String]>,
    /// Print each cell's value in it when the cells are large enough.
    pub annotate: bool,
}

/// Writes the heatmap of a layer-pair matrix: rows are layers of model A (y axis), columns
/// layers of model B (x axis), ticks are layer indices.
pub fn write_heatmap(
    path: &Path,
    scores: &[Vec<f64>],
    best: Option<(usize, usize)>,
    title: &str,
    x_label: &str,
    y_label: &str,
) -> Result<(), String> {
    let map = Heatmap { scores, best, title, x_label, y_label, row_labels: None, col_labels: None, annotate: true };
    write_heatmap_labeled(path, &map)
}

/// Writes `map` as `.svg` or `.png` (by `path`'s extension, case-insensitive).
pub fn write_heatmap_labeled(path: &Path, map: &Heatmap<'_>) -> Result<(), String> {
    let format = format_of(path)?;
    let plot = Plot::new(map)?;
    let bytes = match format {
        Format::Svg => plot.svg().into_bytes(),
        Format::Png => plot.png()?,
    };
    super::output::write_atomic(path, |w| w.write_all(&bytes))
        .map_err(|e| format!("{}: cannot write the plot: {e}", path.display()))
}

/// Checks that `path` names a format the writer knows, before any long computation.
pub fn check_path(path: &Path) -> Result<(), String> {
    format_of(path).map(|_| ())
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(format!("{}: unknown plot format (the file name must end in .svg or .png)", path.display())),
    }
}

enum Format {
    Svg,
    Png,
}

/// Glyph cell of the layout's text at scale 1: 5 x 7 pixels plus one of spacing.
const CHAR_W: usize = 6;
const CHAR_H: usize = 8;
/// Text scale of titles and tick labels (pixels per font pixel).
const SCALE: usize = 2;
const PAD: usize = 12;
const TICK: usize = 5;
const BAR_W: usize = 18;

/// A validated matrix and the pixel positions of everything drawn.
struct Plot<'a> {
    map: &'a Heatmap<'a>,
    rows: usize,
    cols: usize,
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    lo: f64,
    hi: f64,
    /// Side of a cell in pixels.
    cell: usize,
    /// Top-left corner of the matrix.
    left: usize,
    top: usize,
    /// Left edge of the colour bar.
    bar_x: usize,
    width: usize,
    height: usize,
    /// Every how many rows / columns a tick label is drawn.
    row_step: usize,
    col_step: usize,
    /// Font scale of the in-cell values, 0 when they are not drawn.
    value_scale: usize,
    /// Centre of the x-axis title (horizontal) and of the y-axis title (vertical): the
    /// middle of the matrix, moved inwards when a title is longer than the matrix.
    x_title_at: usize,
    y_title_at: usize,
    /// Decimals of the colour-bar labels.
    decimals: usize,
}

/// Width in pixels of `text` at `scale` (the last glyph's spacing not counted).
fn text_width(text: &str, scale: usize) -> usize {
    (text.chars().count() * CHAR_W).saturating_sub(1) * scale
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `min`.
fn nice_step(min: usize) -> usize {
    let mut base = 1;
    loop {
        for m in [1, 2, 5] {
            if base * m >= min {
                return base * m;
            }
        }
        base *= 10;
    }
}

impl<'a> Plot<'a> {
    fn new(map: &'a Heatmap<'a>) -> Result<Self, String> {
        let rows = map.scores.len();
        let cols = map.scores.first().map_or(0, Vec::len);
        if rows == 0 || cols == 0 {
            return Err("cannot plot an empty matrix".into());
        }
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for (i, row) in map.scores.iter().enumerate() {
            if row.len() != cols {
                return Err(format!("cannot plot a ragged matrix: row {i} has {} values, row 0 has {cols}", row.len()));
            }
            for (j, &v) in row.iter().enumerate() {
                if !v.is_finite() {
                    return Err(format!("cannot plot a non-finite value ({v} at row {i}, column {j})"));
                }
                (lo, hi) = (lo.min(v), hi.max(v));
            }
        }
        if let Some((i, j)) = map.best.filter(|&(i, j)| i >= rows || j >= cols) {
            return Err(format!("the marked cell ({i}, {j}) is outside the {rows} x {cols} matrix"));
        }
        let labels = |given: Option<&[String]>, n: usize, axis: &str| match given {
            Some(l) if l.len() != n => Err(format!("{} {axis} labels for {n} {axis}s", l.len())),
            Some(l) => Ok(l.to_vec()),
            None => Ok((0..n).map(|i| i.to_string()).collect()),
        };
        let row_labels = labels(map.row_labels, rows, "row")?;
        let col_labels = labels(map.col_labels, cols, "column")?;

        let cell = (560 / rows.max(cols)).clamp(4, 80);
        let widest = |l: &[String]| l.iter().map(|s| text_width(s, SCALE)).max().unwrap_or(0);
        let (row_w, col_w) = (widest(&row_labels), widest(&col_labels));
        let row_step = nice_step((CHAR_H * SCALE + 2).div_ceil(cell));
        let col_step = nice_step((col_w + 2 * SCALE).div_ceil(cell).max(1));
        let line = CHAR_H * SCALE;
        let left = PAD + line + PAD + row_w + TICK + 4;
        let top = PAD + line + PAD;
        let (plot_w, plot_h) = (cols * cell, rows * cell);
        let bar_x = left + plot_w + 2 * PAD;
        let decimals = match lo.abs().max(hi.abs()) {
            m if m >= 100.0 => 0,
            m if m >= 10.0 => 1,
            _ => 3,
        };
        let bar_labels = [lo, hi].map(|v| text_width(&format!("{v:.decimals$}"), SCALE)).into_iter().max();
        let (x_title_w, y_title_w) = (text_width(map.x_label, SCALE), text_width(map.y_label, SCALE));
        let x_title_at = (left + plot_w / 2).max(PAD + x_title_w / 2);
        let y_title_at = (top + plot_h / 2).max(top + y_title_w / 2);
        let width = (bar_x + BAR_W + TICK + 4 + bar_labels.unwrap_or(0) + PAD)
            .max(left + text_width(map.title, SCALE) + PAD)
            .max(x_title_at + x_title_w.div_ceil(2) + PAD);
        let height = (top + plot_h + TICK + 4 + line + PAD + line + PAD).max(y_title_at + y_title_w.div_ceil(2) + PAD);
        let longest = map.scores.iter().flatten().map(|&v| fmt_value(v).len()).max().unwrap_or(0);
        let value_scale = match map.annotate {
            true if text_width(&"0".repeat(longest), 2) + 6 <= cell && cell >= 2 * CHAR_H + 6 => 2,
            true if text_width(&"0".repeat(longest), 1) + 4 <= cell && cell >= CHAR_H + 4 => 1,
            _ => 0,
        };
        Ok(Plot {
            map,
            rows,
            cols,
            row_labels,
            col_labels,
            lo,
            hi,
            cell,
            left,
            top,
            bar_x,
            width,
            height,
            row_step,
            col_step,
            value_scale,
            x_title_at,
            y_title_at,
            decimals,
        })
    }

    /// Position of `v` on the colour scale, in [0, 1]; 0.5 for a constant matrix.
    fn unit(&self, v: f64) -> f64 {
        if self.hi > self.lo { ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0) } else { 0.5 }
    }

    /// The colour-bar tick values, top first (one when the matrix is constant).
    fn bar_ticks(&self) -> Vec<(f64, usize)> {
        let h = self.rows * self.cell;
        if self.hi > self.lo {
            let mid = 0.5 * (self.lo + self.hi);
            let mut t = vec![(self.hi, self.top), (self.lo, self.top + h)];
            if h >= 4 * CHAR_H * SCALE {
                t.insert(1, (mid, self.top + h / 2));
            }
            t
        } else {
            vec![(self.lo, self.top + h / 2)]
        }
    }

    /// A colour-bar label: three decimals when every value is below 10 in magnitude.
    fn fmt_tick(&self, v: f64) -> String {
        format!("{v:.*}", self.decimals)
    }

    fn png(&self) -> Result<Vec<u8>, String> {
        raster::render(self).encode()
    }
}

/// A value printed inside its cell: two decimals for scores in [-10, 10].
fn fmt_value(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

/// Whether text on a background of colour `rgb` should be black (light background).
fn ink_is_dark([r, g, b]: [u8; 3]) -> bool {
    0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b) > 140.0
}

/// The viridis colour map (matplotlib's), linearly interpolated between nine samples.
fn viridis(t: f64) -> [u8; 3] {
    const STOPS: [[u8; 3]; 9] = [
        [0x44, 0x01, 0x54],
        [0x47, 0x2d, 0x7b],
        [0x3b, 0x52, 0x8b],
        [0x2c, 0x72, 0x8e],
        [0x21, 0x91, 0x8c],
        [0x28, 0xae, 0x80],
        [0x5e, 0xc9, 0x62],
        [0xad, 0xdc, 0x30],
        [0xfd, 0xe7, 0x25],
    ];
    let x = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [0, 1, 2].map(|c| (f64::from(a[c]) + f * (f64::from(b[c]) - f64::from(a[c]))).round() as u8)
}
