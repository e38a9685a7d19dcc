//! Legend images: a swatch and a label per row (WMS GetLegendGraphic).

use tiny_skia::{FillRule, LineCap, PathBuilder, Pixmap, Stroke, Transform};

use super::props::{color, paint};
use super::text::TextRenderer;
use crate::style::{Context, LayerKind, Rgba, StyleLayer, Val};

/// One row of a legend: a swatch of the layer's kind in a colour, and its label.
#[derive(Debug, Clone)]
pub struct LegendRow {
    pub kind: LayerKind,
    pub color: Rgba,
    pub label: String,
}

const LEGEND_ROW: f64 = 20.0;
const LEGEND_TEXT: f64 = 12.0;
const LEGEND_PAD: f64 = 6.0;

/// Pixel size of the legend image for `rows` (what GetCapabilities announces in LegendURL).
pub fn legend_size(rows: &[LegendRow]) -> (u32, u32) {
    let text = TextRenderer::new();
    let widest = rows
        .iter()
        .map(|r| text.measure(&r.label, LEGEND_TEXT))
        .fold(0.0, f64::max);
    let w = (LEGEND_PAD * 3.0 + 24.0 + widest).ceil() as u32;
    let h = (LEGEND_PAD * 2.0 + LEGEND_ROW * rows.len().max(1) as f64).ceil() as u32;
    (w.max(32), h)
}

/// Draws a legend: per row a swatch (filled square, line or circle) and the label.
pub fn render_legend(rows: &[LegendRow]) -> Pixmap {
    let (w, h) = legend_size(rows);
    let mut pixmap = Pixmap::new(w, h).expect("non-zero legend size");
    pixmap.fill(tiny_skia::Color::WHITE);
    let mut text = TextRenderer::new();
    for (i, row) in rows.iter().enumerate() {
        let top = LEGEND_PAD + LEGEND_ROW * i as f64;
        let (x0, y0, x1, y1) = (
            LEGEND_PAD,
            top + 3.0,
            LEGEND_PAD + 24.0,
            top + LEGEND_ROW - 3.0,
        );
        let Some(p) = paint(row.color, 1.0) else {
            continue;
        };
        let outline = paint(Rgba::from_u8(90, 90, 90, 255), 1.0);
        match row.kind {
            LayerKind::Line => {
                let mut pb = PathBuilder::new();
                pb.move_to(x0 as f32, ((y0 + y1) / 2.0) as f32);
                pb.line_to(x1 as f32, ((y0 + y1) / 2.0) as f32);
                if let Some(path) = pb.finish() {
                    let stroke = Stroke {
                        width: 3.0,
                        line_cap: LineCap::Round,
                        ..Stroke::default()
                    };
                    pixmap.stroke_path(&path, &p, &stroke, Transform::identity(), None);
                }
            }
            LayerKind::Circle => {
                if let Some(c) = PathBuilder::from_circle(
                    ((x0 + x1) / 2.0) as f32,
                    ((y0 + y1) / 2.0) as f32,
                    5.0,
                ) {
                    pixmap.fill_path(&c, &p, FillRule::Winding, Transform::identity(), None);
                }
            }
            _ => {
                if let Some(rect) =
                    tiny_skia::Rect::from_ltrb(x0 as f32, y0 as f32, x1 as f32, y1 as f32)
                {
                    let path = PathBuilder::from_rect(rect);
                    pixmap.fill_path(&path, &p, FillRule::Winding, Transform::identity(), None);
                    if let Some(o) = outline {
                        let stroke = Stroke {
                            width: 0.6,
                            ..Stroke::default()
                        };
                        pixmap.stroke_path(&path, &o, &stroke, Transform::identity(), None);
                    }
                }
            }
        }
        let (paths, _, box_h) = text.layout(&row.label, LEGEND_TEXT, f64::INFINITY, 0.0);
        let t = Transform::from_translate(
            (x1 + LEGEND_PAD) as f32,
            (top + (LEGEND_ROW - box_h) / 2.0) as f32,
        );
        if let Some(p) = paint(Rgba::from_u8(30, 30, 30, 255), 1.0) {
            for path in &paths {
                pixmap.fill_path(path, &p, FillRule::Winding, t, None);
            }
        }
    }
    pixmap
}

/// A style property's colour for a feature without attributes at `zoom` (the default branch
/// of a `match`): the swatch colour of a style layer without a class legend.
pub fn constant_color(layer: &StyleLayer, name: &str, zoom: f64) -> Option<Rgba> {
    struct Empty(f64);
    impl Context for Empty {
        fn zoom(&self) -> f64 {
            self.0
        }
        fn property(&self, _: &str) -> Val {
            Val::Null
        }
        fn geometry_type(&self) -> &str {
            "Polygon"
        }
    }
    color(layer, name, &Empty(zoom))
}
