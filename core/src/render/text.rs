//! Text: Noto Sans glyph outlines with kerning and wrapping, labels placed after the geometry
//! with halos and simple collision avoidance, and text blocks for error images.

use std::collections::HashMap;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, ScaleFont};
use tiny_skia::{FillRule, LineJoin, Path, PathBuilder, Pixmap, Stroke, Transform};

use super::coverage::Coverage;
use super::props::paint;
use crate::style::Rgba;

/// Noto Sans Regular (SIL Open Font License 1.1, see fonts/OFL.txt): covers Vietnamese.
static NOTO_SANS: &[u8] = include_bytes!("../../fonts/NotoSans-Regular.ttf");

/// A label waiting to be placed after all geometry is drawn.
pub(super) struct Label {
    pub(super) text: String,
    pub(super) at: (f64, f64),
    pub(super) angle: f64,
    pub(super) size: f64,
    pub(super) color: Rgba,
    pub(super) halo: Option<(Rgba, f64)>,
    /// Horizontal anchor: 0 = left edge at `at`, 0.5 = centred, 1 = right edge.
    pub(super) align: f64,
    pub(super) offset: (f64, f64),
    pub(super) max_width_em: f64,
}

/// Text shaping for labels: Noto Sans glyph outlines, kerning, greedy line wrapping.
pub struct TextRenderer {
    pub(super) font: FontRef<'static>,
    outlines: HashMap<GlyphId, Option<Path>>,
}

impl Default for TextRenderer {
    fn default() -> Self {
        Self::new()
    }
}

impl TextRenderer {
    pub fn new() -> Self {
        Self {
            font: FontRef::try_from_slice(NOTO_SANS).expect("bundled Noto Sans parses"),
            outlines: HashMap::new(),
        }
    }

    /// Glyph outline in font units (y up), cached.
    fn outline(&mut self, id: GlyphId) -> Option<&Path> {
        let font = &self.font;
        self.outlines
            .entry(id)
            .or_insert_with(|| {
                let outline = font.outline(id)?;
                let mut pb = PathBuilder::new();
                let mut last: Option<ab_glyph::Point> = None;
                for curve in &outline.curves {
                    let (start, end) = match curve {
                        OutlineCurve::Line(a, b) => (*a, *b),
                        OutlineCurve::Quad(a, _, b) => (*a, *b),
                        OutlineCurve::Cubic(a, _, _, b) => (*a, *b),
                    };
                    if last != Some(start) {
                        if last.is_some() {
                            pb.close();
                        }
                        pb.move_to(start.x, start.y);
                    }
                    match curve {
                        OutlineCurve::Line(_, b) => pb.line_to(b.x, b.y),
                        OutlineCurve::Quad(_, c, b) => pb.quad_to(c.x, c.y, b.x, b.y),
                        OutlineCurve::Cubic(_, c1, c2, b) => {
                            pb.cubic_to(c1.x, c1.y, c2.x, c2.y, b.x, b.y)
                        }
                    }
                    last = Some(end);
                }
                if last.is_some() {
                    pb.close();
                }
                pb.finish()
            })
            .as_ref()
    }

    /// Width of `line` in pixels at `size` px.
    pub fn measure(&self, line: &str, size: f64) -> f64 {
        let scaled = self.font.as_scaled(size as f32);
        let mut width = 0.0f32;
        let mut prev: Option<GlyphId> = None;
        for c in line.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                width += scaled.kern(p, id);
            }
            width += scaled.h_advance(id);
            prev = Some(id);
        }
        f64::from(width)
    }

    /// Splits text into lines no wider than `max_px` (at spaces).
    fn wrap(&self, text: &str, size: f64, max_px: f64) -> Vec<String> {
        let mut lines: Vec<String> = Vec::new();
        let mut cur = String::new();
        for word in text.split_whitespace() {
            let candidate = if cur.is_empty() {
                word.to_owned()
            } else {
                format!("{cur} {word}")
            };
            if !cur.is_empty() && self.measure(&candidate, size) > max_px {
                lines.push(std::mem::take(&mut cur));
                cur = word.to_owned();
            } else {
                cur = candidate;
            }
        }
        if !cur.is_empty() {
            lines.push(cur);
        }
        lines
    }

    /// The glyph paths of `text` laid out at `size` px, with their box [w, h].
    pub(super) fn layout(
        &mut self,
        text: &str,
        size: f64,
        max_width_em: f64,
        align: f64,
    ) -> (Vec<Path>, f64, f64) {
        let block = self.block(text, size, max_width_em);
        let paths = self.glyphs(&block, size, align);
        (paths, block.width, block.height)
    }

    /// `text` wrapped at `max_width_em` and measured, without building any glyph.
    fn block(&self, text: &str, size: f64, max_width_em: f64) -> TextBlock {
        let lines = self.wrap(text, size, max_width_em * size);
        let widths: Vec<f64> = lines.iter().map(|l| self.measure(l, size)).collect();
        TextBlock {
            width: widths.iter().copied().fold(0.0, f64::max),
            height: size * 1.2 * lines.len() as f64,
            lines,
            widths,
        }
    }

    /// The glyph paths of a measured block at `size` px, lines aligned by `align`.
    fn glyphs(&mut self, block: &TextBlock, size: f64, align: f64) -> Vec<Path> {
        let unit = size as f32 / self.font.units_per_em().unwrap_or(1000.0);
        let line_height = size * 1.2;
        let mut paths = Vec::new();
        for (row, line) in block.lines.iter().enumerate() {
            let mut x = ((block.width - block.widths[row]) * align) as f32;
            // Baseline: about 0.8 em below the line's top.
            let baseline = (row as f64 * line_height + size * 0.95) as f32;
            let mut prev: Option<GlyphId> = None;
            for c in line.chars() {
                let scaled = self.font.as_scaled(size as f32);
                let id = scaled.glyph_id(c);
                if let Some(p) = prev {
                    x += scaled.kern(p, id);
                }
                let advance = scaled.h_advance(id);
                if let Some(path) = self.outline(id) {
                    let t = Transform::from_row(unit, 0.0, 0.0, -unit, x, baseline);
                    if let Some(p) = path.clone().transform(t) {
                        paths.push(p);
                    }
                }
                x += advance;
                prev = Some(id);
            }
        }
        paths
    }
}

/// Wrapped and measured text.
struct TextBlock {
    lines: Vec<String>,
    widths: Vec<f64>,
    width: f64,
    height: f64,
}

thread_local! {
    /// Each thread's text renderer, so glyph outlines are built once per thread, not per map.
    static TEXT: std::cell::RefCell<TextRenderer> = std::cell::RefCell::new(TextRenderer::new());
}

/// Draws wrapped text at the top left of an image (EXCEPTIONS=INIMAGE).
pub fn draw_text_block(pixmap: &mut Pixmap, message: &str, size: f64, color: Rgba, margin: f64) {
    let mut text = TextRenderer::new();
    let max_em = (f64::from(pixmap.width()) - 2.0 * margin).max(size) / size;
    let (paths, _, _) = text.layout(message, size, max_em, 0.0);
    let t = Transform::from_translate(margin as f32, margin as f32);
    if let Some(p) = paint(color, 1.0) {
        for path in &paths {
            pixmap.fill_path(path, &p, FillRule::Winding, t, None);
        }
    }
}

pub(super) fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

/// Places and draws `labels` in order, each where it overlaps none before it; glyphs and halos
/// go through the image's accumulation buffer like every fill.
pub(super) fn place_labels(pixmap: &mut Pixmap, labels: &[Label], coverage: &mut Option<Coverage>) {
    if labels.is_empty() {
        return;
    }
    TEXT.with(|text| place_with(&mut text.borrow_mut(), pixmap, labels, coverage));
}

/// A placed label's glyphs, text colour, and halo colour and outline.
type Placed = (tiny_skia::Path, [u8; 4], Option<([u8; 4], tiny_skia::Path)>);

fn place_with(
    text: &mut TextRenderer,
    pixmap: &mut Pixmap,
    labels: &[Label],
    coverage: &mut Option<Coverage>,
) {
    let mut scratch = Vec::new();
    let mut placed: Vec<[f64; 4]> = Vec::new();
    let mut drawn: Vec<Placed> = Vec::new();
    let (w, h) = (f64::from(pixmap.width()), f64::from(pixmap.height()));
    for label in labels {
        // Measured first: glyphs are built only for labels that find room.
        let block = text.block(&label.text, label.size, label.max_width_em);
        if block.lines.is_empty() {
            continue;
        }
        let (box_w, box_h) = (block.width, block.height);
        // Position of the box's top-left corner relative to the anchor, before rotation.
        let dx = -box_w * label.align + label.offset.0;
        let dy = -box_h / 2.0 + label.offset.1;
        let (sin, cos) = label.angle.sin_cos();
        let corners = [
            (dx, dy),
            (dx + box_w, dy),
            (dx, dy + box_h),
            (dx + box_w, dy + box_h),
        ]
        .map(|(x, y)| {
            (
                label.at.0 + x * cos - y * sin,
                label.at.1 + x * sin + y * cos,
            )
        });
        let halo = label.halo.map(|(_, w)| w).unwrap_or(0.0);
        let bbox = [
            corners.iter().map(|c| c.0).fold(f64::INFINITY, f64::min) - halo,
            corners.iter().map(|c| c.1).fold(f64::INFINITY, f64::min) - halo,
            corners
                .iter()
                .map(|c| c.0)
                .fold(f64::NEG_INFINITY, f64::max)
                + halo,
            corners
                .iter()
                .map(|c| c.1)
                .fold(f64::NEG_INFINITY, f64::max)
                + halo,
        ];
        if bbox[2] < 0.0 || bbox[3] < 0.0 || bbox[0] > w || bbox[1] > h {
            continue;
        }
        if placed.iter().any(|p| overlaps(p, &bbox)) {
            continue;
        }
        // One path per label: its halo is stroked and its glyphs filled in one call each.
        let mut pb = PathBuilder::new();
        for glyph in text.glyphs(&block, label.size, 0.5) {
            pb.push_path(&glyph);
        }
        let Some(path) = pb.finish() else {
            continue;
        };
        placed.push(bbox);
        let t = Transform::from_row(
            cos as f32,
            sin as f32,
            -sin as f32,
            cos as f32,
            label.at.0 as f32,
            label.at.1 as f32,
        )
        .pre_translate(dx as f32, dy as f32);
        let Some(path) = path.transform(t) else {
            continue;
        };
        let halo = label.halo.and_then(|(color, halo_w)| {
            let stroke = Stroke {
                width: (halo_w * 2.0) as f32,
                line_join: LineJoin::Round,
                ..Stroke::default()
            };
            Some((color.to_u8(), path.stroke(&stroke, 1.0)?))
        });
        drawn.push((path, label.color.to_u8(), halo));
    }
    if drawn.is_empty() {
        return;
    }
    // All halos, then all glyphs, one composite per colour (as MapLibre draws a layer's halos
    // before its text): placed labels do not overlap, so only the number of passes changes.
    let c = coverage.get_or_insert_with(|| Coverage::new(pixmap.width(), pixmap.height()));
    let mut colours: Vec<[u8; 4]> = drawn.iter().filter_map(|d| Some(d.2.as_ref()?.0)).collect();
    colours.sort_unstable();
    colours.dedup();
    for colour in colours {
        for (_, _, halo) in &drawn {
            if let Some((_, outline)) = halo.as_ref().filter(|h| h.0 == colour) {
                c.path(outline, &mut scratch);
            }
        }
        c.composite(pixmap, colour);
    }
    let mut colours: Vec<[u8; 4]> = drawn.iter().map(|d| d.1).collect();
    colours.sort_unstable();
    colours.dedup();
    for colour in colours {
        for (path, _, _) in drawn.iter().filter(|d| d.1 == colour) {
            c.path(path, &mut scratch);
        }
        c.composite(pixmap, colour);
    }
}
