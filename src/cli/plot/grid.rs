//! Heatmaps: a layer sweep or representation × representation matrix ([`Heatmap`], every
//! value finite) and a model zoo's model × model matrix ([`ModelMatrix`], NaN where there is
//! no value), both drawn by one grid layout.
//!
//! Row i is the i-th band from the top, column j the j-th from the left; colours run along
//! viridis from the smallest to the largest finite value, with a colour bar to the right.
//! Cells without a value are a neutral grey and never enter the colour scale. A marked cell
//! (the best pair) gets a black and white outline that shows on every colour; significant
//! cells get a `*` (after the printed value, or alone when values are not printed), named in
//! a caption line. Column labels wider than a cell are rotated to read upwards. Large
//! matrices thin out their tick labels and drop the printed values.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Figure, ink_on, text_size, text_style, viridis, widest, write_figure};

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

/// A model × model matrix of a zoo: row model against column model.
pub struct ModelMatrix {
    /// Names of the row models (y axis).
    pub rows: Vec<String>,
    /// Names of the column models (x axis).
    pub cols: Vec<String>,
    /// `rows.len() × cols.len()` values, row-major. NaN: no value (e.g. the diagonal of a
    /// square zoo), drawn grey; ±∞ is an error.
    pub values: Vec<f64>,
    /// One flag per value, row-major: the cells to mark as significant.
    pub significant: Option<Vec<bool>>,
    pub title: String,
    /// Label of the colour bar (the metric).
    pub value_label: String,
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

/// Writes `map` as `.svg` or `.png` (by `path`'s extension).
pub fn write_heatmap_labeled(path: &Path, map: &Heatmap<'_>) -> Result<(), String> {
    super::format_of(path)?;
    let rows = map.scores.len();
    let cols = map.scores.first().map_or(0, Vec::len);
    if rows == 0 || cols == 0 {
        return Err("cannot plot an empty matrix".into());
    }
    let mut values = Vec::with_capacity(rows * cols);
    for (i, row) in map.scores.iter().enumerate() {
        if row.len() != cols {
            return Err(format!("cannot plot a ragged matrix: row {i} has {} values, row 0 has {cols}", row.len()));
        }
        for (j, &v) in row.iter().enumerate() {
            if !v.is_finite() {
                return Err(format!("cannot plot a non-finite value ({v} at row {i}, column {j})"));
            }
        }
        values.extend_from_slice(row);
    }
    if let Some((i, j)) = map.best.filter(|&(i, j)| i >= rows || j >= cols) {
        return Err(format!("the marked cell ({i}, {j}) is outside the {rows} x {cols} matrix"));
    }
    let labels = |given: Option<&[String]>, n: usize, axis: &str| match given {
        Some(l) if l.len() != n => Err(format!("{} {axis} labels for {n} {axis}s", l.len())),
        Some(l) => Ok(l.to_vec()),
        None => Ok((0..n).map(|i| i.to_string()).collect()),
    };
    let grid = Grid {
        row_labels: labels(map.row_labels, rows, "row")?,
        col_labels: labels(map.col_labels, cols, "column")?,
        values,
        best: map.best,
        significant: None,
        title: map.title,
        x_label: map.x_label,
        y_label: map.y_label,
        bar_label: "",
        annotate: map.annotate,
    };
    write_figure(path, &Layout::new(&grid, 560))
}

/// Writes a zoo's model × model matrix as `.svg` or `.png` (by `path`'s extension).
pub fn write_model_matrix(path: &Path, m: &ModelMatrix) -> Result<(), String> {
    super::format_of(path)?;
    let grid = model_grid(m)?;
    write_figure(path, &Layout::new(&grid, model_side(m)))
}

/// Longer side of a model matrix in pixels: cells of at least 36 pixels, large enough for
/// their values, up to 20 models.
fn model_side(m: &ModelMatrix) -> u32 {
    (36 * m.rows.len().max(m.cols.len()).min(20) as u32).max(520)
}

fn model_grid(m: &ModelMatrix) -> Result<Grid<'_>, String> {
    let (rows, cols) = (m.rows.len(), m.cols.len());
    if rows == 0 || cols == 0 {
        return Err("cannot plot an empty model matrix".into());
    }
    if m.values.len() != rows * cols {
        return Err(format!("{} values for {rows} x {cols} models", m.values.len()));
    }
    if let Some(k) = m.values.iter().position(|v| v.is_infinite()) {
        return Err(format!("cannot plot an infinite value (row {}, column {})", k / cols, k % cols));
    }
    if m.values.iter().all(|v| v.is_nan()) {
        return Err("cannot plot a model matrix without any value".into());
    }
    if let Some(s) = m.significant.as_ref().filter(|s| s.len() != rows * cols) {
        return Err(format!("{} significance flags for {rows} x {cols} models", s.len()));
    }
    Ok(Grid {
        row_labels: m.rows.clone(),
        col_labels: m.cols.clone(),
        values: m.values.clone(),
        best: None,
        significant: m.significant.as_deref(),
        title: &m.title,
        x_label: "",
        y_label: "",
        bar_label: &m.value_label,
        annotate: true,
    })
}

/// What both heatmaps draw: a validated row-major matrix, NaN where there is no value.
struct Grid<'a> {
    row_labels: Vec<String>,
    col_labels: Vec<String>,
    values: Vec<f64>,
    best: Option<(usize, usize)>,
    significant: Option<&'a [bool]>,
    title: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    bar_label: &'a str,
    annotate: bool,
}

const PAD: u32 = 14;
const TITLE: u32 = 22;
const LABEL: u32 = 17;
const TICK_FONT: u32 = 15;
const TICK: u32 = 5;
const BAR_W: u32 = 18;
/// Cells without a value.
const NO_VALUE: RGBColor = RGBColor(0xd9, 0xd9, 0xd9);

/// A grid and the pixel positions of everything drawn.
struct Layout<'a> {
    g: &'a Grid<'a>,
    rows: u32,
    cols: u32,
    lo: f64,
    hi: f64,
    cell: u32,
    /// Top-left corner of the matrix.
    left: u32,
    top: u32,
    bar_x: u32,
    width: u32,
    height: u32,
    row_step: u32,
    col_step: u32,
    /// Column labels read upwards.
    rotate: bool,
    /// Height of the column labels' band.
    col_band: u32,
    /// Font size of the printed values, 0 when they are not printed.
    value_font: u32,
    decimals: usize,
    caption: String,
}

/// The smallest of 1, 2, 5, 10, 20, 50, ... that is at least `min`.
fn nice_step(min: u32) -> u32 {
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

/// A value printed inside its cell: two decimals for scores in [-10, 10].
fn fmt_value(v: f64) -> String {
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}"),
        a if a >= 10.0 => format!("{v:.1}"),
        _ => format!("{v:.2}"),
    }
}

impl<'a> Layout<'a> {
    /// Lays out `g` with the matrix's longer side about `side` pixels.
    fn new(g: &'a Grid<'a>, side: u32) -> Self {
        let (rows, cols) = (g.row_labels.len() as u32, g.col_labels.len() as u32);
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for &v in g.values.iter().filter(|v| v.is_finite()) {
            (lo, hi) = (lo.min(v), hi.max(v));
        }
        let cell = (side / rows.max(cols)).clamp(4, 90);
        let line = text_size("Ag", LABEL).1;
        let tick_line = text_size("Ag", TICK_FONT).1;
        let row_w = widest(&g.row_labels, TICK_FONT);
        let col_w = widest(&g.col_labels, TICK_FONT);
        let rotate = col_w + 6 > cell;
        let row_step = nice_step((tick_line + 2).div_ceil(cell));
        let col_step = nice_step(if rotate { (tick_line + 2).div_ceil(cell) } else { 1 });
        let col_band = if rotate { col_w } else { tick_line };
        let y_title = if g.y_label.is_empty() { 0 } else { line + PAD };
        let left = PAD + y_title + row_w + TICK + 4;
        let title_h = text_size("Ag", TITLE).1;
        let top = PAD + title_h + PAD;
        let (plot_w, plot_h) = (cols * cell, rows * cell);
        let bar_x = left + plot_w + 2 * PAD;
        let decimals = match lo.abs().max(hi.abs()) {
            m if m >= 100.0 => 0,
            m if m >= 10.0 => 1,
            _ => 3,
        };
        let bar_ticks = widest(&[format!("{lo:.decimals$}"), format!("{hi:.decimals$}")], TICK_FONT);
        let bar_title = if g.bar_label.is_empty() { 0 } else { PAD + line };
        let marks = g.significant.is_some_and(|s| s.iter().any(|&b| b));
        let no_value = g.values.iter().any(|v| v.is_nan());
        let caption = match (marks, no_value) {
            (true, true) => "* significant; grey: no value",
            (true, false) => "* significant",
            (false, true) => "grey: no value",
            (false, false) => "",
        }
        .to_string();
        let mut bottom = top + plot_h + TICK + 4 + col_band + PAD;
        if !g.x_label.is_empty() {
            bottom += line + PAD;
        }
        if !caption.is_empty() {
            bottom += tick_line + PAD;
        }
        let width = (bar_x + BAR_W + TICK + 4 + bar_ticks + bar_title + PAD)
            .max(PAD + text_size(g.title, TITLE).0 + PAD)
            .max(left + text_size(g.x_label, LABEL).0 + PAD)
            .max(left + text_size(&caption, TICK_FONT).0 + PAD);
        let height =
            bottom.max(top + text_size(g.y_label, LABEL).0 + PAD).max(top + text_size(g.bar_label, LABEL).0 + PAD);
        let longest = g.values.iter().map(|&v| fmt_value(v).len() + usize::from(marks)).max().unwrap_or(0);
        let value_font = match g.annotate {
            true if cell >= 28 => {
                let fit = |size: u32| text_size(&"0".repeat(longest), size).0 + 6 <= cell;
                [16, 14, 12, 10].into_iter().find(|&s| fit(s)).unwrap_or(0)
            }
            _ => 0,
        };
        Layout {
            g,
            rows,
            cols,
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
            rotate,
            col_band,
            value_font,
            decimals,
            caption,
        }
    }

    /// Position of `v` on the colour scale, in [0, 1]; 0.5 when every value is the same.
    fn unit(&self, v: f64) -> f64 {
        if self.hi > self.lo { ((v - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0) } else { 0.5 }
    }

    /// The colour of a cell's value (grey for none).
    fn colour(&self, v: f64) -> RGBColor {
        if v.is_nan() { NO_VALUE } else { viridis(self.unit(v)) }
    }

    fn cell_corner(&self, i: u32, j: u32) -> (i32, i32) {
        ((self.left + j * self.cell) as i32, (self.top + i * self.cell) as i32)
    }
}

/// A filled rectangle from its corner and size.
fn fill<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    (x, y): (i32, i32),
    (w, h): (i32, i32),
    c: RGBColor,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], c.filled()))
}

fn text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    at: (i32, i32),
    style: &TextStyle<'_>,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    area.draw(&Text::new(s.to_string(), at, style.clone()))
}

impl Figure for Layout<'_> {
    fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let g = self.g;
        let c = self.cell as i32;
        let (left, top) = (self.left as i32, self.top as i32);
        let (plot_w, plot_h) = ((self.cols * self.cell) as i32, (self.rows * self.cell) as i32);
        let anchored = |size: u32, h: HPos, v: VPos| text_style(size, BLACK).pos(Pos::new(h, v));
        text(root, g.title, (PAD as i32, PAD as i32), &anchored(TITLE, HPos::Left, VPos::Top))?;

        let flag = |k: usize| g.significant.is_some_and(|s| s[k]);
        for i in 0..self.rows {
            for j in 0..self.cols {
                let v = g.values[(i * self.cols + j) as usize];
                fill(root, self.cell_corner(i, j), (c, c), self.colour(v))?;
            }
        }
        for i in 0..self.rows {
            for j in 0..self.cols {
                let k = (i * self.cols + j) as usize;
                let (v, (x, y)) = (g.values[k], self.cell_corner(i, j));
                let centre = (x + c / 2, y + c / 2);
                let ink = ink_on(self.colour(v));
                let label = match (self.value_font > 0 && v.is_finite(), flag(k)) {
                    (true, true) => format!("{}*", fmt_value(v)),
                    (true, false) => fmt_value(v),
                    (false, true) => "*".to_string(),
                    (false, false) => continue,
                };
                let size = if self.value_font > 0 { self.value_font } else { (self.cell * 3 / 4).clamp(8, 20) };
                let style = text_style(size, ink).pos(Pos::new(HPos::Center, VPos::Center));
                text(root, &label, centre, &style)?;
            }
        }
        if let Some((i, j)) = g.best {
            let (x, y) = self.cell_corner(i as u32, j as u32);
            // The white line thins in small cells, so that their colour still shows.
            for (off, t, colour) in [(-1, 2, BLACK), (1, if c >= 12 { 2 } else { 1 }, WHITE)] {
                let (x, y, s) = (x + off, y + off, c - 2 * off);
                fill(root, (x, y), (s, t), colour)?;
                fill(root, (x, y + s - t), (s, t), colour)?;
                fill(root, (x, y), (t, s), colour)?;
                fill(root, (x + s - t, y), (t, s), colour)?;
            }
        }

        // Tick labels: rows to the left, columns below (rotated to read upwards when wide).
        let tick_style = |h, v| text_style(TICK_FONT, BLACK).pos(Pos::new(h, v));
        for i in (0..self.rows).step_by(self.row_step as usize) {
            let y = top + (i * self.cell) as i32 + c / 2;
            root.draw(&PathElement::new([(left - TICK as i32, y), (left, y)], BLACK))?;
            text(root, &g.row_labels[i as usize], (left - TICK as i32 - 4, y), &tick_style(HPos::Right, VPos::Center))?;
        }
        let below = top + plot_h;
        for j in (0..self.cols).step_by(self.col_step as usize) {
            let x = left + (j * self.cell) as i32 + c / 2;
            root.draw(&PathElement::new([(x, below), (x, below + TICK as i32)], BLACK))?;
            let at = (x, below + TICK as i32 + 4);
            let label = &g.col_labels[j as usize];
            if self.rotate {
                let style = tick_style(HPos::Right, VPos::Center).transform(FontTransform::Rotate270);
                text(root, label, at, &style)?;
            } else {
                text(root, label, at, &tick_style(HPos::Center, VPos::Top))?;
            }
        }
        let mut y = below + (TICK + 4 + self.col_band + PAD) as i32;
        if !g.x_label.is_empty() {
            let x = (left + plot_w / 2).max((PAD + text_size(g.x_label, LABEL).0 / 2) as i32);
            text(root, g.x_label, (x, y), &anchored(LABEL, HPos::Center, VPos::Top))?;
            y += (text_size("Ag", LABEL).1 + PAD) as i32;
        }
        if !self.caption.is_empty() {
            text(root, &self.caption, (left, y), &tick_style(HPos::Left, VPos::Top))?;
        }
        if !g.y_label.is_empty() {
            let y = (top + plot_h / 2).max(top + (text_size(g.y_label, LABEL).0 / 2) as i32);
            let style = anchored(LABEL, HPos::Center, VPos::Top).transform(FontTransform::Rotate270);
            text(root, g.y_label, (PAD as i32, y), &style)?;
        }
        self.draw_bar(root)
    }
}

impl Layout<'_> {
    /// The colour bar: one strip per pixel row, ticks at the ends and the middle.
    fn draw_bar<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (x, top, h) = (self.bar_x as i32, self.top as i32, (self.rows * self.cell) as i32);
        for p in 0..h {
            let t = if h > 1 { 1.0 - f64::from(p) / f64::from(h - 1) } else { 0.5 };
            fill(root, (x, top + p), (BAR_W as i32, 1), viridis(t))?;
        }
        let ticks = if self.hi > self.lo {
            let mut t = vec![(self.hi, top), (self.lo, top + h - 1)];
            if h >= 4 * TICK_FONT as i32 {
                t.insert(1, (0.5 * (self.lo + self.hi), top + h / 2));
            }
            t
        } else {
            vec![(self.lo, top + h / 2)]
        };
        let right = x + BAR_W as i32;
        let style = text_style(TICK_FONT, BLACK).pos(Pos::new(HPos::Left, VPos::Center));
        for (v, y) in ticks {
            root.draw(&PathElement::new([(right, y), (right + TICK as i32, y)], BLACK))?;
            text(root, &format!("{v:.*}", self.decimals), (right + TICK as i32 + 4, y), &style)?;
        }
        if !self.g.bar_label.is_empty() {
            let style =
                text_style(LABEL, BLACK).pos(Pos::new(HPos::Center, VPos::Bottom)).transform(FontTransform::Rotate270);
            let at = ((self.width - PAD) as i32, top + h / 2);
            text(root, self.g.bar_label, at, &style)?;
        }
        Ok(())
    }
}

#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    /// The pixel corner of cell (i, j) of `m`'s figure.
    pub(in crate::cli::plot) fn layout_corner(m: &ModelMatrix, i: usize, j: usize) -> (i32, i32) {
        let grid = model_grid(m).unwrap();
        Layout::new(&grid, model_side(m)).cell_corner(i as u32, j as u32)
    }
}
