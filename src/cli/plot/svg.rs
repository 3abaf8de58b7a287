//! The SVG form of a heatmap: the shared layout as SVG elements, each cell with a `<title>`
//! tooltip naming its row, column and value.

use std::format;
use std::prelude::rust_2024::*;

use std::fmt::Write as _;

use super::{BAR_W, CHAR_H, PAD, Plot, SCALE, TICK, fmt_value, ink_is_dark, viridis};

impl Plot<'_> {
    /// The heatmap as an SVG document.
    pub(super) fn svg(&self) -> String {
        let (c, rows, cols) = (self.cell, self.rows, self.cols);
        let (plot_w, plot_h) = (cols * c, rows * c);
        let font = CHAR_H * SCALE - 2;
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{font}">"#,
            w = self.width,
            h = self.height
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-weight="bold">{}</text>"#,
            self.left,
            PAD + font,
            xml(self.map.title)
        );
        let _ = writeln!(s, r#"<g shape-rendering="crispEdges">"#);
        for (i, row) in self.map.scores.iter().enumerate() {
            for (j, &v) in row.iter().enumerate() {
                let [r, g, b] = viridis(self.unit(v));
                let _ = writeln!(
                    s,
                    r##"<rect class="cell" x="{}" y="{}" width="{c}" height="{c}" fill="#{r:02x}{g:02x}{b:02x}"><title>{} {}, {} {}: {v}</title></rect>"##,
                    self.left + j * c,
                    self.top + i * c,
                    xml(self.map.y_label),
                    xml(&self.row_labels[i]),
                    xml(self.map.x_label),
                    xml(&self.col_labels[j]),
                );
            }
        }
        let _ = writeln!(s, "</g>");
        if self.value_scale > 0 {
            let size = (CHAR_H * self.value_scale) as f64 * 0.9;
            for (i, row) in self.map.scores.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    let _ = writeln!(
                        s,
                        r#"<text x="{}" y="{}" font-size="{size}" text-anchor="middle" dominant-baseline="central" fill="{}">{}</text>"#,
                        self.left + j * c + c / 2,
                        self.top + i * c + c / 2,
                        if ink_is_dark(viridis(self.unit(v))) { "black" } else { "white" },
                        fmt_value(v)
                    );
                }
            }
        }
        if let Some((i, j)) = self.map.best {
            let (x, y) = (self.left + j * c, self.top + i * c);
            let _ = writeln!(
                s,
                r#"<rect class="best" x="{}" y="{}" width="{}" height="{}" fill="none" stroke="black" stroke-width="2"/>"#,
                x as f64 - 1.0,
                y as f64 - 1.0,
                c + 2,
                c + 2
            );
            let _ = writeln!(
                s,
                r#"<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="white" stroke-width="2"/>"#,
                x + 1,
                y + 1,
                c.saturating_sub(2),
                c.saturating_sub(2)
            );
        }
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#,
            self.left, self.top
        );
        // Tick labels, thinned to every `step`-th row / column.
        for i in (0..rows).step_by(self.row_step) {
            let y = self.top + i * c + c / 2;
            let _ = writeln!(
                s,
                r#"<line x1="{}" y1="{y}" x2="{}" y2="{y}" stroke="black"/><text x="{}" y="{y}" text-anchor="end" dominant-baseline="central">{}</text>"#,
                self.left - TICK,
                self.left,
                self.left - TICK - 3,
                xml(&self.row_labels[i])
            );
        }
        let below = self.top + plot_h;
        for j in (0..cols).step_by(self.col_step) {
            let x = self.left + j * c + c / 2;
            let _ = writeln!(
                s,
                r#"<line x1="{x}" y1="{below}" x2="{x}" y2="{}" stroke="black"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
                below + TICK,
                below + TICK + 3 + font,
                xml(&self.col_labels[j])
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            self.x_title_at,
            below + TICK + 4 + CHAR_H * SCALE + PAD + font,
            xml(self.map.x_label)
        );
        let (yx, yy) = (PAD + font, self.y_title_at);
        let _ = writeln!(
            s,
            r#"<text x="{yx}" y="{yy}" text-anchor="middle" transform="rotate(-90 {yx} {yy})">{}</text>"#,
            xml(self.map.y_label)
        );
        // Colour bar: a vertical gradient from the largest value (top) to the smallest.
        let _ = writeln!(
            s,
            r#"<defs><linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">{}</linearGradient></defs>"#,
            (0..=8)
                .map(|t| {
                    let [r, g, b] = viridis(t as f64 / 8.0);
                    format!(r##"<stop offset="{}" stop-color="#{r:02x}{g:02x}{b:02x}"/>"##, t as f64 / 8.0)
                })
                .collect::<String>()
        );
        let fill = if self.hi > self.lo {
            "url(#scale)".to_string()
        } else {
            let [r, g, b] = viridis(0.5);
            format!("#{r:02x}{g:02x}{b:02x}")
        };
        let _ = writeln!(
            s,
            r#"<rect class="colorbar" x="{}" y="{}" width="{BAR_W}" height="{plot_h}" fill="{fill}" stroke="black"/>"#,
            self.bar_x, self.top
        );
        for (v, y) in self.bar_ticks() {
            let x = self.bar_x + BAR_W;
            let _ = writeln!(
                s,
                r#"<line x1="{x}" y1="{y}" x2="{}" y2="{y}" stroke="black"/><text x="{}" y="{y}" dominant-baseline="central">{}</text>"#,
                x + TICK,
                x + TICK + 3,
                self.fmt_tick(v)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// Escapes text for SVG.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}
