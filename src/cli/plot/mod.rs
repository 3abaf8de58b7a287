//! Figures of the command-line tool, drawn with [plotters](https://docs.rs/plotters) as SVG or
//! PNG (chosen by the file's extension, case-insensitive): heatmaps of score matrices (a layer
//! sweep, representation against representation, a model zoo), maps of models in 2-D and
//! labelled scatter plots.
//!
//! Text is set in DejaVu Sans, compiled into the binary (`assets/fonts/`, registered once with
//! plotters' ab_glyph backend): PNGs look the same on every machine, and SVGs name the same
//! family (with `sans-serif` as the viewer's fallback) and are laid out with its metrics. A
//! PNG is drawn into an RGB buffer and encoded by the `png` crate.
//!
//! Guarantees: an `Err` with a message, never a panic, for empty input, mismatched lengths or
//! an extension other than `.svg` / `.png` ([`check_path`] says so before any long
//! computation); every file is written atomically (`output::write_atomic`: a temporary file
//! in the target's directory renamed over it), so a failed write leaves an existing file as
//! it was.

use std::format;
use std::prelude::rust_2024::*;

mod grid;
mod points;
#[cfg(test)]
mod tests;

pub use grid::{Heatmap, ModelMatrix, write_heatmap, write_heatmap_labeled, write_model_matrix};
pub use points::{Map, Scatter, write_map, write_scatter};

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

/// The family every figure's text is set in: the name under which the embedded font is
/// registered, and the SVG's `font-family` (a CSS list, so viewers without DejaVu Sans fall
/// back to their sans-serif).
const FONT: &str = "DejaVu Sans, sans-serif";
static FONT_TTF: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Registers the embedded font with plotters, once per process.
fn register_fonts() -> Result<(), String> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, FONT_TTF).map_err(|_| "the embedded font cannot be read".to_string())
    })
    .clone()
}

/// Text of `size` pixels (plotters' size: the font's ascent to descent) in `colour`.
fn text_style(size: u32, colour: RGBColor) -> TextStyle<'static> {
    (FONT, f64::from(size)).into_font().color(&colour)
}

/// Width and height in pixels of `text` at `size`.
fn text_size(text: &str, size: u32) -> (u32, u32) {
    // Layout needs the font's metrics: register it before the first measurement.
    let _ = register_fonts();
    (FONT, f64::from(size)).into_font().box_size(text).unwrap_or((0, size))
}

/// Width of the widest of `texts` at `size`.
fn widest<S: AsRef<str>>(texts: &[S], size: u32) -> u32 {
    texts.iter().map(|t| text_size(t.as_ref(), size).0).max().unwrap_or(0)
}

/// Checks that `path` names a format the writers know, before any long computation.
pub fn check_path(path: &Path) -> Result<(), String> {
    format_of(path).map(|_| ())
}

#[derive(Clone, Copy)]
enum Format {
    Svg,
    Png,
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        _ => Err(format!("{}: unknown plot format (the file name must end in .svg or .png)", path.display())),
    }
}

/// A validated figure with its pixel size, drawable on any plotters backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>>;
}

/// Draws `figure` on a white canvas in the format of `path`'s extension and writes it
/// atomically.
fn write_figure(path: &Path, figure: &impl Figure) -> Result<(), String> {
    let format = format_of(path)?;
    register_fonts()?;
    let (w, h) = figure.size();
    let failed = |e: &dyn std::fmt::Display| format!("{}: cannot draw the plot: {e}", path.display());
    let bytes = match format {
        Format::Svg => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                root.fill(&WHITE).map_err(|e| failed(&e))?;
                figure.draw(&root).map_err(|e| failed(&e))?;
                root.present().map_err(|e| failed(&e))?;
            }
            svg.into_bytes()
        }
        Format::Png => {
            let mut rgb = vec![255; w as usize * h as usize * 3];
            {
                let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                figure.draw(&root).map_err(|e| failed(&e))?;
                root.present().map_err(|e| failed(&e))?;
            }
            encode_png(&rgb, w, h).map_err(|e| failed(&e))?
        }
    };
    super::output::write_atomic(path, |out| out.write_all(&bytes))
        .map_err(|e| format!("{}: cannot write the plot: {e}", path.display()))
}

fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Whether text on a background of colour `c` should be black (light background).
fn ink_is_dark(c: RGBColor) -> bool {
    0.299 * f64::from(c.0) + 0.587 * f64::from(c.1) + 0.114 * f64::from(c.2) > 140.0
}

/// The ink for text drawn on `background`.
fn ink_on(background: RGBColor) -> RGBColor {
    if ink_is_dark(background) { BLACK } else { WHITE }
}

/// The viridis colour map (matplotlib's), linearly interpolated between nine samples.
fn viridis(t: f64) -> RGBColor {
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
    let [r, g, b] = [0, 1, 2].map(|c| (f64::from(a[c]) + f * (f64::from(b[c]) - f64::from(a[c]))).round() as u8);
    RGBColor(r, g, b)
}
