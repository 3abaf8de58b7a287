//! Labelled points: a map of models in 2-D ([`Map`], equal aspect ratio, optionally coloured
//! by group) and a scatter plot of two quantities ([`Scatter`], e.g. alignment against model
//! performance).
//!
//! Each point carries its name, placed next to it on the first side (right, left, above,
//! below) where it stays on the canvas and clear of the labels already placed. Points with a
//! non-finite coordinate are not drawn; the line under the title says how many and which.
//! Empty input, mismatched lengths or no drawable point are errors.

use std::prelude::rust_2024::*;
use std::{format, vec};

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{Figure, text_size, text_style, write_figure};

/// Models as labelled points in 2-D, e.g. a classical MDS embedding of a zoo.
pub struct Map {
    pub names: Vec<String>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub title: String,
    /// A group per model (0: group A, 1: group B, ...), coloured and named in a legend.
    pub groups: Option<Vec<usize>>,
    /// A line under the title, e.g. how the map was made; empty: none.
    pub caption: String,
}

/// Labelled points of two quantities, e.g. alignment against model performance.
pub struct Scatter {
    pub names: Vec<String>,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    pub x_label: String,
    pub y_label: String,
    pub title: String,
    /// A line under the title, e.g. "Spearman ρ = 0.71, p = 0.003"; empty: none.
    pub annotation: String,
}

/// Writes `map` as `.svg` or `.png` (by `path`'s extension): one unit is as long on both
/// axes.
pub fn write_map(path: &Path, map: &Map) -> Result<(), String> {
    super::format_of(path)?;
    if let Some(g) = map.groups.as_ref().filter(|g| g.len() != map.names.len()) {
        return Err(format!("{} groups for {} models", g.len(), map.names.len()));
    }
    let points = Points::new(&map.names, &map.x, &map.y, map.groups.as_deref())?;
    let fig = Chart {
        p: points,
        title: &map.title,
        caption: &map.caption,
        x_label: "dimension 1",
        y_label: "dimension 2",
        equal_aspect: true,
    };
    write_figure(path, &fig)
}

/// Writes `scatter` as `.svg` or `.png` (by `path`'s extension).
pub fn write_scatter(path: &Path, s: &Scatter) -> Result<(), String> {
    super::format_of(path)?;
    let points = Points::new(&s.names, &s.x, &s.y, None)?;
    let fig = Chart {
        p: points,
        title: &s.title,
        caption: &s.annotation,
        x_label: &s.x_label,
        y_label: &s.y_label,
        equal_aspect: false,
    };
    write_figure(path, &fig)
}

/// The drawable points and the names of those left out.
struct Points<'a> {
    names: Vec<&'a str>,
    xy: Vec<(f64, f64)>,
    groups: Vec<usize>,
    grouped: bool,
    skipped: Vec<&'a str>,
}

impl<'a> Points<'a> {
    fn new(names: &'a [String], x: &[f64], y: &[f64], groups: Option<&[usize]>) -> Result<Self, String> {
        if names.is_empty() {
            return Err("cannot plot no points".into());
        }
        if x.len() != names.len() || y.len() != names.len() {
            return Err(format!("{} names, {} x values and {} y values", names.len(), x.len(), y.len()));
        }
        let mut p = Points { names: vec![], xy: vec![], groups: vec![], grouped: groups.is_some(), skipped: vec![] };
        for (k, name) in names.iter().enumerate() {
            if x[k].is_finite() && y[k].is_finite() {
                p.names.push(name);
                p.xy.push((x[k], y[k]));
                p.groups.push(groups.map_or(0, |g| g[k]));
            } else {
                p.skipped.push(name);
            }
        }
        if p.xy.is_empty() {
            return Err("cannot plot: no point has finite coordinates".into());
        }
        Ok(p)
    }
}

struct Chart<'a> {
    p: Points<'a>,
    title: &'a str,
    caption: &'a str,
    x_label: &'a str,
    y_label: &'a str,
    equal_aspect: bool,
}

const W: u32 = 860;
const H: u32 = 720;
const PAD: u32 = 14;
const TITLE: u32 = 22;
const LABEL: u32 = 17;
const SMALL: u32 = 15;
const RADIUS: i32 = 5;
/// Okabe–Ito colours: distinguishable with colour-blindness, and in greyscale print.
const GROUP_COLOURS: [RGBColor; 6] = [
    RGBColor(0x00, 0x72, 0xb2),
    RGBColor(0xd5, 0x5e, 0x00),
    RGBColor(0x00, 0x9e, 0x73),
    RGBColor(0xcc, 0x79, 0xa7),
    RGBColor(0xe6, 0x9f, 0x00),
    RGBColor(0x56, 0xb4, 0xe9),
];

/// "group A", "group B", ..., "group Z", "group 26", ...
fn group_name(g: usize) -> String {
    match u8::try_from(g) {
        Ok(g) if g < 26 => format!("group {}", char::from(b'A' + g)),
        _ => format!("group {g}"),
    }
}

/// A data range padded by `pad` of its length on each side (a unit wide around a lone value).
fn padded((lo, hi): (f64, f64), pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - pad * span, hi + pad * span)
    } else {
        (lo - 0.5 * lo.abs().max(1.0), hi + 0.5 * hi.abs().max(1.0))
    }
}

/// Tick labels of an axis spanning `range` with about 7 ticks: as many decimals as the tick
/// step needs, the same on every tick, and never "-0".
fn tick_formatter((lo, hi): (f64, f64)) -> impl Fn(&f64) -> String {
    let step = (hi - lo) / 7.0;
    let decimals = if step > 0.0 { (-step.log10().floor()).clamp(0.0, 8.0) as usize } else { 2 };
    move |&v| {
        let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
        format!("{:.decimals$}", v + 0.0)
    }
}

impl Chart<'_> {
    /// The lines above the plot: the caption, then the skipped points.
    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.caption.is_empty() {
            notes.push(self.caption.to_string());
        }
        if !self.p.skipped.is_empty() {
            let n = self.p.skipped.len();
            let s = if n == 1 { "" } else { "s" };
            notes.push(format!("{n} model{s} with a non-finite coordinate not drawn: {}", self.p.skipped.join(", ")));
        }
        notes
    }

    /// Data ranges of the axes; for an equal aspect, the shorter one widened to the plot
    /// area's proportions (`area`: width and height in pixels).
    fn ranges(&self, area: (u32, u32)) -> ((f64, f64), (f64, f64)) {
        let span = |f: fn(&(f64, f64)) -> f64| {
            self.p.xy.iter().map(f).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)))
        };
        let (x, y) = (padded(span(|p| p.0), 0.12), padded(span(|p| p.1), 0.08));
        if !self.equal_aspect {
            return (x, y);
        }
        let (w, h) = (f64::from(area.0.max(1)), f64::from(area.1.max(1)));
        let per_px = ((x.1 - x.0) / w).max((y.1 - y.0) / h);
        let grow = |(lo, hi): (f64, f64), px: f64| {
            let mid = 0.5 * (lo + hi);
            (mid - 0.5 * per_px * px, mid + 0.5 * per_px * px)
        };
        (grow(x, w), grow(y, h))
    }

    fn colour(&self, k: usize) -> RGBColor {
        GROUP_COLOURS[self.p.groups[k] % GROUP_COLOURS.len()]
    }
}

impl Figure for Chart<'_> {
    fn size(&self) -> (u32, u32) {
        let title = text_size(self.title, TITLE).0 + 2 * PAD;
        let notes = self.notes().iter().map(|n| text_size(n, SMALL).0 + 2 * PAD).max().unwrap_or(0);
        (W.max(title).max(notes), H)
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        let (width, height) = self.size();
        let mut y = PAD as i32;
        let at_top = |size: u32| text_style(size, BLACK).pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(self.title.to_string(), (PAD as i32, y), at_top(TITLE)))?;
        y += (text_size("Ag", TITLE).1 + PAD / 2) as i32;
        for note in self.notes() {
            root.draw(&Text::new(note, (PAD as i32, y), at_top(SMALL)))?;
            y += (text_size("Ag", SMALL).1 + 4) as i32;
        }
        let body = root.margin(y as u32 + PAD / 2, PAD, PAD, PAD);
        // The plot area's size: the body less the axis label areas below and to the left.
        let (x_area, y_area) =
            (2 * text_size("Ag", LABEL).1 + 14, text_size("-0.000", SMALL).0 + text_size("Ag", LABEL).1 + 20);
        let (bw, bh) = body.dim_in_pixel();
        let (xr, yr) = self.ranges((bw.saturating_sub(y_area), bh.saturating_sub(x_area)));
        let mut chart = ChartBuilder::on(&body)
            .x_label_area_size(x_area)
            .y_label_area_size(y_area)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
        let (x_fmt, y_fmt) = (tick_formatter(xr), tick_formatter(yr));
        chart
            .configure_mesh()
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(self.x_label)
            .y_desc(self.y_label)
            .label_style(text_style(SMALL, BLACK))
            .axis_desc_style(text_style(LABEL, BLACK))
            .bold_line_style(RGBColor(0xe4, 0xe4, 0xe4))
            .light_line_style(TRANSPARENT)
            .x_labels(7)
            .y_labels(7)
            .draw()?;
        let pixels: Vec<(i32, i32)> = self.p.xy.iter().map(|&p| chart.backend_coord(&p)).collect();
        let area = chart.plotting_area();
        for (k, &p) in self.p.xy.iter().enumerate() {
            area.draw(&Circle::new(p, RADIUS, self.colour(k).filled()))?;
            area.draw(&Circle::new(p, RADIUS, BLACK.stroke_width(1)))?;
        }
        // Labels on the root, so that they may extend into the margins, never off the canvas,
        // and avoid the points and the legend.
        let mut placed: Vec<[i32; 4]> =
            pixels.iter().map(|&(x, y)| [x - RADIUS, y - RADIUS, x + RADIUS, y + RADIUS]).collect();
        if self.p.grouped {
            let (xs, ys) = area.get_pixel_range();
            placed.push(self.draw_legend(root, (xs.end - 8, ys.start + 8))?);
        }
        for (k, &(px, py)) in pixels.iter().enumerate() {
            let name = self.p.names[k];
            let (w, h) = text_size(name, SMALL);
            let (w, h) = (w as i32, h as i32);
            let gap = RADIUS + 4;
            // Right, left, above, below; then right and left moved up or down by a line or two.
            let mut candidates = vec![
                (px + gap, py - h / 2),
                (px - gap - w, py - h / 2),
                (px - w / 2, py - gap - h),
                (px - w / 2, py + gap),
            ];
            for dy in [-h / 2 - 2, h / 2 + 2, -h - 4, h + 4, -3 * h / 2 - 6, 3 * h / 2 + 6] {
                candidates.extend([(px + gap, py - h / 2 + dy), (px - gap - w, py - h / 2 + dy)]);
            }
            let inside =
                |&(x, y): &(i32, i32)| x >= 2 && y >= 2 && x + w <= width as i32 - 2 && y + h <= height as i32 - 2;
            let free =
                |&(x, y): &(i32, i32)| placed.iter().all(|b| x + w <= b[0] || x >= b[2] || y + h <= b[1] || y >= b[3]);
            let (x, y) = candidates
                .iter()
                .copied()
                .find(|c| inside(c) && free(c))
                .or_else(|| candidates.iter().copied().find(inside))
                .unwrap_or((
                    (px + gap).clamp(2, (width as i32 - w - 2).max(2)),
                    (py - h / 2).clamp(2, (height as i32 - h - 2).max(2)),
                ));
            placed.push([x, y, x + w, y + h]);
            root.draw(&Text::new(name.to_string(), (x, y), at_top(SMALL)))?;
        }
        Ok(())
    }
}

impl Chart<'_> {
    /// A legend box whose top-right corner is `corner`: one dot and name per group. Returns
    /// the box.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        corner: (i32, i32),
    ) -> Result<[i32; 4], DrawingAreaErrorKind<DB::ErrorType>> {
        let mut groups = self.p.groups.clone();
        groups.sort_unstable();
        groups.dedup();
        let names: Vec<String> = groups.iter().map(|&g| group_name(g)).collect();
        let line = text_size("Ag", SMALL).1 as i32 + 6;
        let w = super::widest(&names, SMALL) as i32 + 3 * RADIUS + 16;
        let h = line * names.len() as i32 + 8;
        let (x0, y0) = (corner.0 - w, corner.1);
        root.draw(&Rectangle::new([(x0, y0), (x0 + w, y0 + h)], WHITE.filled()))?;
        root.draw(&Rectangle::new([(x0, y0), (x0 + w, y0 + h)], RGBColor(0x99, 0x99, 0x99).stroke_width(1)))?;
        for (r, (&g, name)) in groups.iter().zip(&names).enumerate() {
            let cy = y0 + 4 + line * r as i32 + line / 2;
            let c = GROUP_COLOURS[g % GROUP_COLOURS.len()];
            root.draw(&Circle::new((x0 + 6 + RADIUS, cy), RADIUS, c.filled()))?;
            root.draw(&Circle::new((x0 + 6 + RADIUS, cy), RADIUS, BLACK.stroke_width(1)))?;
            let style = text_style(SMALL, BLACK).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(name.clone(), (x0 + 12 + 2 * RADIUS, cy), style))?;
        }
        Ok([x0, y0, x0 + w, y0 + h])
    }
}
