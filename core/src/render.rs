//! The WMS rasteriser: draws layers from the in-memory index with a compiled MapLibre style
//! ([`crate::style`]) onto a tiny-skia pixmap — anti-aliased fills, strokes with the style's
//! widths, dashes, caps and joins, circles, and labels in Noto Sans (Vietnamese glyphs
//! included) with halos and simple collision avoidance.
//!
//! Geometry stays in EPSG:3857 until the last step; a [`Projector`] maps it to pixels, so the
//! same code renders Web Mercator, lat/lon and VN-2000 maps.

use std::collections::HashMap;

use ab_glyph::{Font, FontRef, GlyphId, OutlineCurve, ScaleFont};
use geo::InteriorPoint;
use geo_types::{Geometry, LineString, Polygon};
use tiny_skia::{
    FillRule, LineCap, LineJoin, Paint, Path, PathBuilder, Pixmap, Stroke, StrokeDash, Transform,
};

use crate::clip::{clip_line, clip_ring, Rect};
use crate::index::LayerIndex;
use crate::interrupt::{Interrupt, Interrupted};
use crate::style::{Context, LayerKind, Rgba, StyleLayer, Val};

/// Noto Sans Regular (SIL Open Font License 1.1, see fonts/OFL.txt): covers Vietnamese.
static NOTO_SANS: &[u8] = include_bytes!("../fonts/NotoSans-Regular.ttf");

/// Equator length of EPSG:3857 in metres.
const WORLD: f64 = 2.0 * std::f64::consts::PI * 6_378_137.0;

/// The MapLibre zoom (512-pixel tiles) at which one pixel spans `metres_per_pixel` of
/// EPSG:3857; style expressions on `["zoom"]` see this value, so a WMS image at the same scale
/// as the web map gets the same widths.
pub fn style_zoom(metres_per_pixel: f64) -> f64 {
    (WORLD / (512.0 * metres_per_pixel)).log2()
}

/// Maps EPSG:3857 coordinates to pixel coordinates (x right, y down), in place.
pub trait Projector {
    fn project(&self, points: &mut [(f64, f64)]);
}

/// A linear EPSG:3857 → pixel mapping (the Web Mercator case).
pub struct MercatorView {
    pub bbox: [f64; 4],
    pub width: u32,
    pub height: u32,
}

impl Projector for MercatorView {
    fn project(&self, points: &mut [(f64, f64)]) {
        let sx = f64::from(self.width) / (self.bbox[2] - self.bbox[0]);
        let sy = f64::from(self.height) / (self.bbox[3] - self.bbox[1]);
        for p in points {
            *p = ((p.0 - self.bbox[0]) * sx, (self.bbox[3] - p.1) * sy);
        }
    }
}

/// What to draw of one data layer: its index and the style layers for it, in order.
pub struct DrawLayer<'a> {
    pub index: &'a LayerIndex,
    pub style_layers: Vec<&'a StyleLayer>,
}

/// One map request.
pub struct MapRequest<'a> {
    pub width: u32,
    pub height: u32,
    /// The area to draw, as an EPSG:3857 envelope (a superset of the image for other CRSs).
    pub bounds: [f64; 4],
    /// Metres of EPSG:3857 per pixel, for the style zoom and for generalisation.
    pub metres_per_pixel: f64,
    pub projector: &'a dyn Projector,
    pub background: Option<Rgba>,
}

struct FeatureCtx<'a> {
    zoom: f64,
    index: &'a LayerIndex,
    position: usize,
    geometry_type: &'static str,
}

impl Context for FeatureCtx<'_> {
    fn zoom(&self) -> f64 {
        self.zoom
    }
    fn property(&self, name: &str) -> Val {
        match self.index.meta.schema.index_of(name) {
            Some(i) => Val::from_value(&self.index.features[self.position].values[i]),
            None if name == "id" => Val::Num(self.index.features[self.position].id as f64),
            None => Val::Null,
        }
    }
    fn geometry_type(&self) -> &str {
        self.geometry_type
    }
    fn property_text(&self, name: &str) -> Option<&str> {
        let i = self.index.meta.schema.index_of(name)?;
        self.index.features[self.position].values[i].as_str()
    }
}

/// A feature turned into pixel space once, drawn by every style layer that wants it.
struct Shape {
    position: usize,
    geometry_type: &'static str,
    /// Polygons: rings; lines: pieces; points: one point per entry.
    parts: Vec<Vec<(f64, f64)>>,
    /// Polygons: whether each ring of `parts` is an exterior ring.
    exterior: Vec<bool>,
    polygon: bool,
    /// Where a point label goes (interior point of polygons, the point itself for points).
    anchor: Option<(f64, f64)>,
}

fn geometry_type(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::Line(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    }
}

fn coords(l: &LineString<f64>) -> Vec<(f64, f64)> {
    l.0.iter().map(|c| (c.x, c.y)).collect()
}

fn add_polygon(
    p: &Polygon<f64>,
    clip: &Rect,
    out: &mut Vec<Vec<(f64, f64)>>,
    exterior: &mut Vec<bool>,
) {
    for (i, ring) in std::iter::once(p.exterior())
        .chain(p.interiors())
        .enumerate()
    {
        let inside = ring
            .0
            .iter()
            .all(|c| c.x >= clip[0] && c.x <= clip[2] && c.y >= clip[1] && c.y <= clip[3]);
        let r = if inside {
            coords(ring)
        } else {
            clip_ring(&coords(ring), clip)
        };
        if r.len() >= 4 {
            out.push(r);
            exterior.push(i == 0);
        }
    }
}

fn shape(
    position: usize,
    g: &Geometry<f64>,
    clip: &Rect,
    projector: &dyn Projector,
    want_anchor: bool,
) -> Option<Shape> {
    let mut parts = Vec::new();
    let mut exterior = Vec::new();
    let mut polygon = false;
    let mut anchor = None;
    match g {
        Geometry::Point(p) => parts.push(vec![(p.x(), p.y())]),
        Geometry::MultiPoint(mp) => parts.extend(mp.0.iter().map(|p| vec![(p.x(), p.y())])),
        Geometry::LineString(l) => parts.extend(clip_line(&coords(l), clip)),
        Geometry::MultiLineString(ml) => {
            for l in &ml.0 {
                parts.extend(clip_line(&coords(l), clip));
            }
        }
        Geometry::Polygon(p) => {
            polygon = true;
            add_polygon(p, clip, &mut parts, &mut exterior);
        }
        Geometry::MultiPolygon(mp) => {
            polygon = true;
            for p in &mp.0 {
                add_polygon(p, clip, &mut parts, &mut exterior);
            }
        }
        _ => return None,
    }
    if parts.is_empty() {
        return None;
    }
    if want_anchor {
        anchor = match g {
            Geometry::Point(p) => Some((p.x(), p.y())),
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
                g.interior_point().map(|p| (p.x(), p.y()))
            }
            _ => None,
        };
        if let Some(a) = anchor.as_mut() {
            let mut one = [*a];
            projector.project(&mut one);
            *a = one[0];
        }
    }
    for part in &mut parts {
        projector.project(part);
    }
    Some(Shape {
        position,
        geometry_type: geometry_type(g),
        parts,
        exterior,
        polygon,
        anchor,
    })
}

fn paint(color: Rgba, opacity: f64) -> Option<Paint<'static>> {
    let a = (f64::from(color.a) * opacity.clamp(0.0, 1.0)) as f32;
    if a <= 0.0 {
        return None;
    }
    let mut p = Paint::default();
    p.set_color(tiny_skia::Color::from_rgba(color.r, color.g, color.b, a)?);
    p.anti_alias = true;
    Some(p)
}

fn num(layer: &StyleLayer, name: &str, ctx: &dyn Context, default: f64) -> f64 {
    layer
        .prop(name)
        .and_then(|e| e.eval(ctx).as_f64())
        .unwrap_or(default)
}

fn color(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Option<Rgba> {
    layer.prop(name).and_then(|e| e.eval(ctx).as_color())
}

fn text(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Option<String> {
    layer.prop(name).map(|e| e.eval(ctx).to_string())
}

fn numbers(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Vec<f64> {
    match layer.prop(name).map(|e| e.eval(ctx)) {
        Some(Val::Array(a)) => a.iter().filter_map(Val::as_f64).collect(),
        _ => Vec::new(),
    }
}

/// A label waiting to be placed after all geometry is drawn.
struct Label {
    text: String,
    at: (f64, f64),
    angle: f64,
    size: f64,
    color: Rgba,
    halo: Option<(Rgba, f64)>,
    /// Horizontal anchor: 0 = left edge at `at`, 0.5 = centred, 1 = right edge.
    align: f64,
    offset: (f64, f64),
    max_width_em: f64,
}

/// The fills and strokes of one style layer grouped by paint, so tiny-skia rasterises each
/// group once: its anti-aliased fill costs a pass over the image width per call, so a call
/// per small polygon would dominate. Rings are oriented (exteriors one way, holes the other)
/// so the non-zero rule keeps holes open and overlapping features of one paint unite.
/// Consequence: within one style layer, features of the same paint are drawn together.
#[derive(Default)]
struct Batches {
    fills: Vec<([u8; 4], PathBuilder)>,
    strokes: Vec<(StrokeKey, Stroke, PathBuilder)>,
}

#[derive(PartialEq)]
struct StrokeKey {
    color: [u8; 4],
    width: u32,
    dash: Vec<u32>,
    cap: u8,
    join: u8,
}

fn paint_key(color: Rgba, opacity: f64) -> Option<[u8; 4]> {
    let a = (f64::from(color.a) * opacity.clamp(0.0, 1.0)) as f32;
    let key = Rgba { a, ..color }.to_u8();
    (key[3] > 0).then_some(key)
}

fn key_paint(key: [u8; 4]) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(key[0], key[1], key[2], key[3]);
    p.anti_alias = true;
    p
}

fn signed_area(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum::<f64>()
        / 2.0
}

fn append(pb: &mut PathBuilder, points: &mut dyn Iterator<Item = (f64, f64)>, close: bool) {
    let Some((x, y)) = points.next() else {
        return;
    };
    pb.move_to(x as f32, y as f32);
    for (x, y) in points {
        pb.line_to(x as f32, y as f32);
    }
    if close {
        pb.close();
    }
}

impl Batches {
    fn fill(&mut self, key: [u8; 4], s: &Shape) {
        let slot = match self.fills.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.fills.push((key, PathBuilder::new()));
                self.fills.len() - 1
            }
        };
        let pb = &mut self.fills[slot].1;
        for (ring, &exterior) in s.parts.iter().zip(&s.exterior) {
            // Pixel space has y down: exteriors get positive area here, holes negative.
            if (signed_area(ring) > 0.0) == exterior {
                append(pb, &mut ring.iter().copied(), true);
            } else {
                append(pb, &mut ring.iter().rev().copied(), true);
            }
        }
    }

    fn stroke(&mut self, key: StrokeKey, stroke: Stroke, s: &Shape) {
        let slot = match self.strokes.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                self.strokes.push((key, stroke, PathBuilder::new()));
                self.strokes.len() - 1
            }
        };
        let pb = &mut self.strokes[slot].2;
        for part in &s.parts {
            if part.len() >= 2 {
                append(pb, &mut part.iter().copied(), s.polygon);
            }
        }
    }

    fn flush(&mut self, pixmap: &mut Pixmap) {
        for (key, pb) in self.fills.drain(..) {
            if let Some(path) = pb.finish() {
                pixmap.fill_path(
                    &path,
                    &key_paint(key),
                    FillRule::Winding,
                    Transform::identity(),
                    None,
                );
            }
        }
        for (key, stroke, pb) in self.strokes.drain(..) {
            if let Some(path) = pb.finish() {
                pixmap.stroke_path(
                    &path,
                    &key_paint(key.color),
                    &stroke,
                    Transform::identity(),
                    None,
                );
            }
        }
    }
}

/// Renders `layers` in order (and within each, its style layers in order), labels last.
pub fn render(req: &MapRequest<'_>, layers: &[DrawLayer<'_>]) -> Pixmap {
    match render_until(req, layers, &Interrupt::never()) {
        Ok(p) => p,
        Err(_) => unreachable!("a render that cannot be interrupted was interrupted"),
    }
}

/// Features drawn between two looks at the interrupt.
const CHECK_EVERY: usize = 256;

/// [`render`], stopping early (between features and before each batch is filled) once
/// `interrupt` fires: a map whose client has gone is not drawn to the end.
pub fn render_until(
    req: &MapRequest<'_>,
    layers: &[DrawLayer<'_>],
    interrupt: &Interrupt,
) -> Result<Pixmap, Interrupted> {
    interrupt.check()?;
    let mut pixmap =
        Pixmap::new(req.width.max(1), req.height.max(1)).expect("non-zero pixmap size");
    if let Some(bg) = req.background {
        if let Some(c) = tiny_skia::Color::from_rgba(bg.r, bg.g, bg.b, bg.a) {
            pixmap.fill(c);
        }
    }
    let zoom = style_zoom(req.metres_per_pixel);
    // Clip a little outside the image so strokes and outlines do not show the cut.
    let pad = req.metres_per_pixel * 32.0;
    let clip = [
        req.bounds[0] - pad,
        req.bounds[1] - pad,
        req.bounds[2] + pad,
        req.bounds[3] + pad,
    ];
    // Generalised geometry from the coarsest band whose simplification tolerance (half its
    // 256-pixel tile's pixel) stays within one of our pixels: shapes move by at most a pixel,
    // and only features under a pixel are left out.
    let tile_zoom = (WORLD / 512.0 / req.metres_per_pixel)
        .log2()
        .ceil()
        .clamp(0.0, 24.0) as u8;
    let mut labels: Vec<Label> = Vec::new();
    for layer in layers {
        let active: Vec<&StyleLayer> = layer
            .style_layers
            .iter()
            .copied()
            .filter(|l| l.visible && l.in_zoom(zoom))
            .collect();
        if active.is_empty() {
            continue;
        }
        let want_anchor = active.iter().any(|l| l.kind == LayerKind::Symbol);
        let mut shapes: Vec<Shape> = Vec::new();
        for (n, (i, g)) in layer
            .index
            .candidates(tile_zoom, clip)
            .into_iter()
            .enumerate()
        {
            if n % CHECK_EVERY == 0 {
                interrupt.check()?;
            }
            shapes.extend(shape(i, g, &clip, req.projector, want_anchor));
        }
        let mut batches = Batches::default();
        for style in active {
            for (n, s) in shapes.iter().enumerate() {
                if n % CHECK_EVERY == 0 {
                    interrupt.check()?;
                }
                let ctx = FeatureCtx {
                    zoom,
                    index: layer.index,
                    position: s.position,
                    geometry_type: s.geometry_type,
                };
                if !style.accepts(&ctx) {
                    continue;
                }
                draw(&mut pixmap, &mut batches, style, s, &ctx, &mut labels);
            }
            interrupt.check()?;
            batches.flush(&mut pixmap);
        }
    }
    interrupt.check()?;
    place_labels(&mut pixmap, &labels);
    Ok(pixmap)
}

fn draw(
    pixmap: &mut Pixmap,
    batches: &mut Batches,
    style: &StyleLayer,
    s: &Shape,
    ctx: &FeatureCtx<'_>,
    labels: &mut Vec<Label>,
) {
    match style.kind {
        LayerKind::Fill if s.polygon => {
            let c = color(style, "fill-color", ctx).unwrap_or(Rgba::BLACK);
            if let Some(key) = paint_key(c, num(style, "fill-opacity", ctx, 1.0)) {
                batches.fill(key, s);
            }
        }
        LayerKind::Line if !s.parts.iter().all(|p| p.len() < 2) => {
            let c = color(style, "line-color", ctx).unwrap_or(Rgba::BLACK);
            let Some(key) = paint_key(c, num(style, "line-opacity", ctx, 1.0)) else {
                return;
            };
            let width = num(style, "line-width", ctx, 1.0).max(0.0) as f32;
            if width <= 0.0 {
                return;
            }
            let (line_cap, cap) = match text(style, "line-cap", ctx).as_deref() {
                Some("round") => (LineCap::Round, 1),
                Some("square") => (LineCap::Square, 2),
                _ => (LineCap::Butt, 0),
            };
            let (line_join, join) = match text(style, "line-join", ctx).as_deref() {
                Some("round") => (LineJoin::Round, 1),
                Some("bevel") => (LineJoin::Bevel, 2),
                _ => (LineJoin::Miter, 0),
            };
            let mut stroke = Stroke {
                width,
                line_cap,
                line_join,
                ..Stroke::default()
            };
            // MapLibre dash lengths are in line widths.
            let mut dashes: Vec<f32> = numbers(style, "line-dasharray", ctx)
                .iter()
                .map(|d| (d * f64::from(width)).max(0.5) as f32)
                .collect();
            if dashes.len() % 2 == 1 {
                dashes.extend_from_within(..);
            }
            if dashes.len() >= 2 {
                stroke.dash = StrokeDash::new(dashes.clone(), 0.0);
            }
            let key = StrokeKey {
                color: key,
                width: width.to_bits(),
                dash: dashes.iter().map(|d| d.to_bits()).collect(),
                cap,
                join,
            };
            batches.stroke(key, stroke, s);
        }
        LayerKind::Circle => {
            let radius = num(style, "circle-radius", ctx, 5.0) as f32;
            let fill = color(style, "circle-color", ctx).unwrap_or(Rgba::BLACK);
            let opacity = num(style, "circle-opacity", ctx, 1.0);
            let stroke_w = num(style, "circle-stroke-width", ctx, 0.0) as f32;
            let stroke_c = color(style, "circle-stroke-color", ctx).unwrap_or(Rgba::BLACK);
            let points: Vec<(f64, f64)> = if s.polygon || s.parts.iter().any(|p| p.len() > 1) {
                s.anchor.into_iter().collect()
            } else {
                s.parts.iter().filter_map(|p| p.first().copied()).collect()
            };
            for (x, y) in points {
                let Some(circle) = PathBuilder::from_circle(x as f32, y as f32, radius.max(0.1))
                else {
                    continue;
                };
                if let Some(p) = paint(fill, opacity) {
                    pixmap.fill_path(&circle, &p, FillRule::Winding, Transform::identity(), None);
                }
                if stroke_w > 0.0 {
                    if let Some(p) = paint(stroke_c, 1.0) {
                        let stroke = Stroke {
                            width: stroke_w,
                            ..Stroke::default()
                        };
                        pixmap.stroke_path(&circle, &p, &stroke, Transform::identity(), None);
                    }
                }
            }
        }
        LayerKind::Symbol => {
            let Some(label) = text(style, "text-field", ctx) else {
                return;
            };
            let label = label.trim().to_owned();
            if label.is_empty() {
                return;
            }
            let size = num(style, "text-size", ctx, 16.0);
            let color = color(style, "text-color", ctx).unwrap_or(Rgba::BLACK);
            let halo_w = num(style, "text-halo-width", ctx, 0.0);
            let halo = color_halo(style, ctx, halo_w);
            let align = match text(style, "text-anchor", ctx).as_deref() {
                Some("left" | "top-left" | "bottom-left") => 0.0,
                Some("right" | "top-right" | "bottom-right") => 1.0,
                _ => 0.5,
            };
            let off = numbers(style, "text-offset", ctx);
            let offset = (
                off.first().copied().unwrap_or(0.0) * size,
                off.get(1).copied().unwrap_or(0.0) * size,
            );
            let max_width_em = num(style, "text-max-width", ctx, 10.0);
            let along_line = text(style, "symbol-placement", ctx).as_deref() == Some("line");
            let (at, angle) = if along_line && !s.polygon {
                match line_anchor(&s.parts) {
                    Some(x) => x,
                    None => return,
                }
            } else if let Some(a) = s.anchor {
                (a, 0.0)
            } else if let Some(first) = s.parts.first().and_then(|p| p.first()) {
                (*first, 0.0)
            } else {
                return;
            };
            labels.push(Label {
                text: label,
                at,
                angle,
                size,
                color,
                halo,
                align,
                offset,
                max_width_em: if along_line {
                    f64::INFINITY
                } else {
                    max_width_em
                },
            });
        }
        _ => {}
    }
}

fn color_halo(style: &StyleLayer, ctx: &dyn Context, width: f64) -> Option<(Rgba, f64)> {
    if width <= 0.0 {
        return None;
    }
    color(style, "text-halo-color", ctx).map(|c| (c, width))
}

/// Middle of the longest piece, with the direction of the segment there, kept upright.
fn line_anchor(parts: &[Vec<(f64, f64)>]) -> Option<((f64, f64), f64)> {
    let length = |p: &Vec<(f64, f64)>| -> f64 {
        p.windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum()
    };
    let piece = parts
        .iter()
        .max_by(|a, b| length(a).total_cmp(&length(b)))?;
    let total = length(piece);
    if total < 20.0 {
        return None;
    }
    let mut walked = 0.0;
    for w in piece.windows(2) {
        let seg = (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1);
        if walked + seg >= total / 2.0 && seg > 0.0 {
            let t = (total / 2.0 - walked) / seg;
            let at = (
                w[0].0 + t * (w[1].0 - w[0].0),
                w[0].1 + t * (w[1].1 - w[0].1),
            );
            let mut angle = (w[1].1 - w[0].1).atan2(w[1].0 - w[0].0);
            if angle > std::f64::consts::FRAC_PI_2 {
                angle -= std::f64::consts::PI;
            } else if angle < -std::f64::consts::FRAC_PI_2 {
                angle += std::f64::consts::PI;
            }
            return Some((at, angle));
        }
        walked += seg;
    }
    None
}

/// Text shaping for labels: Noto Sans glyph outlines, kerning, greedy line wrapping.
pub struct TextRenderer {
    font: FontRef<'static>,
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
    fn layout(
        &mut self,
        text: &str,
        size: f64,
        max_width_em: f64,
        align: f64,
    ) -> (Vec<Path>, f64, f64) {
        let lines = self.wrap(text, size, max_width_em * size);
        let unit = size as f32 / self.font.units_per_em().unwrap_or(1000.0);
        let line_height = size * 1.2;
        let widths: Vec<f64> = lines.iter().map(|l| self.measure(l, size)).collect();
        let box_w = widths.iter().copied().fold(0.0, f64::max);
        let box_h = line_height * lines.len() as f64;
        let mut paths = Vec::new();
        for (row, line) in lines.iter().enumerate() {
            let mut x = ((box_w - widths[row]) * align) as f32;
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
        (paths, box_w, box_h)
    }
}

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

fn overlaps(a: &[f64; 4], b: &[f64; 4]) -> bool {
    a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3]
}

fn place_labels(pixmap: &mut Pixmap, labels: &[Label]) {
    if labels.is_empty() {
        return;
    }
    let mut text = TextRenderer::new();
    let mut placed: Vec<[f64; 4]> = Vec::new();
    let (w, h) = (f64::from(pixmap.width()), f64::from(pixmap.height()));
    for label in labels {
        let (paths, box_w, box_h) = text.layout(&label.text, label.size, label.max_width_em, 0.5);
        if paths.is_empty() {
            continue;
        }
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
        if let Some((halo_color, halo_w)) = label.halo {
            if let Some(p) = paint(halo_color, 1.0) {
                let stroke = Stroke {
                    width: (halo_w * 2.0) as f32,
                    line_join: LineJoin::Round,
                    ..Stroke::default()
                };
                for path in &paths {
                    pixmap.stroke_path(path, &p, &stroke, t, None);
                }
            }
        }
        if let Some(p) = paint(label.color, 1.0) {
            for path in &paths {
                pixmap.fill_path(path, &p, FillRule::Winding, t, None);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Feature, Field, FieldType, Schema, Value};
    use crate::layer::{Access, LayerId, LayerMeta};
    use crate::style::Style;
    use crate::tile::to_mercator;
    use geo_types::polygon;

    fn meta() -> LayerMeta {
        LayerMeta {
            id: LayerId::parse("land_use").unwrap(),
            title_vi: "Đất".into(),
            title_en: "Land".into(),
            family: Some("land_use".into()),
            geometry_type: "Polygon".into(),
            access: Access::Open,
            owner: None,
            licence: None,
            lineage: None,
            version: 1,
            updated_at: chrono::Utc::now(),
            bbox: None,
            feature_count: 2,
            schema: Schema::new(vec![
                Field::new("lu_code", FieldType::Text),
                Field::new("name", FieldType::Text),
            ]),
        }
    }

    fn square(lon: f64, lat: f64, d: f64) -> Geometry<f64> {
        Geometry::Polygon(polygon![
            (x: lon, y: lat), (x: lon + d, y: lat), (x: lon + d, y: lat + d), (x: lon, y: lat + d), (x: lon, y: lat)
        ])
    }

    #[test]
    fn fills_take_the_style_colour_and_labels_draw_vietnamese() {
        let features = vec![
            Feature {
                id: 1,
                geometry: square(106.0, 10.0, 0.1),
                values: vec![Value::Text("LUC".into()), Value::Text("Bến Tre".into())],
            },
            Feature {
                id: 2,
                geometry: square(106.1, 10.0, 0.1),
                values: vec![Value::Text("ONT".into()), Value::Null],
            },
        ];
        let index = LayerIndex::build(meta(), features);
        let style = Style::parse(
            "t",
            r##"{"layers":[
              {"id":"f","type":"fill","source":"s","source-layer":"land_use",
               "paint":{"fill-color":["match",["get","lu_code"],"LUC","#FFFC8C","#FF0000"]}},
              {"id":"l","type":"symbol","source":"s","source-layer":"land_use",
               "layout":{"text-field":["coalesce",["get","name"],""],"text-size":14},
               "paint":{"text-color":"#000000"}}]}"##,
        )
        .unwrap();
        let (x0, y0) = to_mercator(106.0, 10.0);
        let (x1, y1) = to_mercator(106.2, 10.1);
        let view = MercatorView {
            bbox: [x0, y0, x1, y1],
            width: 200,
            height: 100,
        };
        let req = MapRequest {
            width: 200,
            height: 100,
            bounds: view.bbox,
            metres_per_pixel: (x1 - x0) / 200.0,
            projector: &view,
            background: None,
        };
        let draw = DrawLayer {
            index: &index,
            style_layers: style.layers.iter().collect(),
        };
        let img = render(&req, &[draw]);
        let px = |x: u32, y: u32| {
            let p = img.pixel(x, y).unwrap().demultiply();
            [p.red(), p.green(), p.blue(), p.alpha()]
        };
        assert_eq!(px(10, 10), [0xFF, 0xFC, 0x8C, 255]);
        assert_eq!(px(190, 90), [0xFF, 0x00, 0x00, 255]);
        // The label "Bến Tre" is drawn (dark pixels near the first square's centre).
        let dark = (30..70)
            .flat_map(|x| (35..65).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y)[0] < 100)
            .count();
        assert!(dark > 20, "label pixels: {dark}");
    }

    #[test]
    fn text_measures_vietnamese_glyphs() {
        let t = TextRenderer::new();
        let w = t.measure("Mỏ Cày Bắc", 12.0);
        assert!(w > 40.0 && w < 90.0, "{w}");
        assert!(
            t.font.glyph_id('ế').0 != 0,
            "Noto Sans has Vietnamese glyphs"
        );
    }

    #[test]
    fn style_zoom_matches_maplibre() {
        // At zoom 0 a 512-pixel tile spans the world.
        assert!((style_zoom(WORLD / 512.0)).abs() < 1e-9);
        assert!((style_zoom(WORLD / 512.0 / 1024.0) - 10.0).abs() < 1e-9);
    }
}
