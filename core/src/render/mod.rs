//! The WMS rasteriser: draws layers from the in-memory index with a compiled MapLibre style
//! ([`crate::style`]) onto a tiny-skia pixmap — anti-aliased fills, strokes with the style's
//! widths, dashes, caps and joins, circles, and labels in Noto Sans (Vietnamese glyphs
//! included) with halos and simple collision avoidance.
//!
//! Geometry stays in EPSG:3857 until the last step; a [`Projector`] maps it to pixels, so the
//! same code renders Web Mercator, lat/lon and VN-2000 maps.

mod batch;
mod coverage;
mod dots;
mod legend;
mod project;
mod props;
mod shape;
mod text;

use tiny_skia::{FillRule, LineCap, LineJoin, PathBuilder, Pixmap, Stroke, StrokeDash, Transform};

use crate::interrupt::{Interrupt, Interrupted};
use crate::source::{FeatureRef, LayerSource};
use crate::style::{Context, Expr, LayerKind, Rgba, StyleLayer, Val};

use batch::{Batches, StrokeKey};
pub use legend::{constant_color, legend_size, render_legend, LegendRow};
use project::WORLD;
pub use project::{style_zoom, MercatorView, Projector};
use props::{color, color_halo, num, numbers, paint, paint_key, text};
use shape::{line_anchor, Shape, Shapes};
pub use text::{draw_text_block, TextRenderer};
use text::{place_labels, Label};

/// What to draw of one data layer: its source and the style layers for it, in order.
pub struct DrawLayer<'a> {
    pub source: &'a dyn LayerSource,
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

/// One feature as style expressions see it.
struct FeatureCtx<'a> {
    zoom: f64,
    fields: &'a Fields<'a>,
    feature: &'a FeatureRef<'a>,
    geometry_type: &'static str,
}

/// A layer's field positions by name, remembered by the name's address: style expressions ask
/// for the same few names (kept in the style) for every feature, so a lookup costs a pointer
/// comparison and one string comparison instead of a scan of the schema's names.
struct Fields<'a> {
    schema: &'a crate::Schema,
    seen: std::cell::RefCell<Vec<(usize, usize)>>,
}

impl<'a> Fields<'a> {
    fn new(schema: &'a crate::Schema) -> Fields<'a> {
        Fields {
            schema,
            seen: std::cell::RefCell::new(Vec::new()),
        }
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        let address = name.as_ptr() as usize;
        let hit = self
            .seen
            .borrow()
            .iter()
            .find(|(a, _)| *a == address)
            .map(|&(_, i)| i);
        if let Some(i) = hit {
            // The same address may hold another name by now; the comparison says.
            if self.schema.fields[i].name == name {
                return Some(i);
            }
        }
        let i = self.schema.index_of(name)?;
        let mut seen = self.seen.borrow_mut();
        if seen.len() < 16 {
            seen.push((address, i));
        }
        Some(i)
    }
}

impl Context for FeatureCtx<'_> {
    fn zoom(&self) -> f64 {
        self.zoom
    }
    fn property(&self, name: &str) -> Val {
        match self.fields.index_of(name) {
            Some(i) => Val::from_value(&self.feature.values[i]),
            None if name == "id" => Val::Num(self.feature.id as f64),
            None => Val::Null,
        }
    }
    fn geometry_type(&self) -> &str {
        self.geometry_type
    }
    fn property_text(&self, name: &str) -> Option<&str> {
        let i = self.fields.index_of(name)?;
        self.feature.values[i].as_str()
    }
}

/// Bytes a `width` × `height` render needs besides its pixmap (the accumulation buffer of the
/// fill rasteriser), for callers that budget render memory.
pub fn scratch_bytes(width: u32, height: u32) -> u64 {
    coverage::Coverage::bytes(width, height)
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
    let mut coverage = None;
    let mut shapes = Shapes::take();
    let mut batches = Batches::take();
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
        // Only the fields the active style layers read are materialised.
        let schema = &layer.source.meta().schema;
        let mut reads: Vec<usize> = active
            .iter()
            .flat_map(|l| l.reads())
            .filter_map(|name| schema.index_of(name))
            .collect();
        reads.sort_unstable();
        reads.dedup();
        let candidates = layer.source.candidates_reading(tile_zoom, clip, &reads);
        shapes.clear();
        for (n, f) in candidates.iter().enumerate() {
            if n % CHECK_EVERY == 0 {
                interrupt.check()?;
            }
            shapes.add(n, &f.geometry, &clip, req.projector, want_anchor);
        }
        let fields = Fields::new(&layer.source.meta().schema);
        for style in active {
            let mut memo = PaintMemo::new(style);
            for (n, s) in shapes.iter().enumerate() {
                if n % CHECK_EVERY == 0 {
                    interrupt.check()?;
                }
                let ctx = FeatureCtx {
                    zoom,
                    fields: &fields,
                    feature: &candidates[s.position],
                    geometry_type: s.geometry_type,
                };
                if !memo.accepts(style, &ctx) {
                    continue;
                }
                draw(
                    &mut pixmap,
                    &mut batches,
                    &mut memo,
                    style,
                    &s,
                    &ctx,
                    &mut labels,
                );
            }
            interrupt.check()?;
            batches.flush(&mut pixmap, &mut coverage);
        }
    }
    shapes.keep();
    batches.keep();
    interrupt.check()?;
    place_labels(&mut pixmap, &labels, &mut coverage);
    Ok(pixmap)
}

/// Paint properties that, when none of them reads a feature property, are evaluated once per
/// style layer instead of once per feature.
const PAINT_PROPERTIES: [&str; 8] = [
    "fill-color",
    "fill-opacity",
    "line-color",
    "line-opacity",
    "line-width",
    "line-cap",
    "line-join",
    "line-dasharray",
];

/// The fill and line paint of one style layer, kept after the first feature when the style
/// layer's paint is the same for every feature.
struct PaintMemo {
    constant: bool,
    fill: Option<Option<[u8; 4]>>,
    line: Option<Option<(StrokeKey, Stroke)>>,
    /// The filter's answer per geometry type, when that is all it reads.
    filter_by_type: Option<Vec<(&'static str, bool)>>,
}

impl PaintMemo {
    fn new(style: &StyleLayer) -> PaintMemo {
        PaintMemo {
            constant: PAINT_PROPERTIES
                .iter()
                .all(|p| style.prop(p).is_none_or(|e| e.is_feature_constant())),
            fill: None,
            line: None,
            filter_by_type: style
                .filter
                .as_ref()
                .is_some_and(Expr::reads_only_geometry_type)
                .then(Vec::new),
        }
    }

    /// Whether the feature passes the style layer's filter.
    fn accepts(&mut self, style: &StyleLayer, ctx: &FeatureCtx<'_>) -> bool {
        let Some(known) = &mut self.filter_by_type else {
            return style.accepts(ctx);
        };
        // Geometry type names are static strings: compared by address first.
        let kind = ctx.geometry_type;
        if let Some(&(_, pass)) = known
            .iter()
            .find(|(k, _)| std::ptr::eq(*k, kind) || *k == kind)
        {
            return pass;
        }
        let pass = style.accepts(ctx);
        known.push((kind, pass));
        pass
    }

    fn fill(&mut self, style: &StyleLayer, ctx: &FeatureCtx<'_>) -> Option<[u8; 4]> {
        if !self.constant {
            return fill_paint(style, ctx);
        }
        *self.fill.get_or_insert_with(|| fill_paint(style, ctx))
    }

    fn line(&mut self, style: &StyleLayer, ctx: &FeatureCtx<'_>) -> Option<(StrokeKey, Stroke)> {
        if !self.constant {
            return line_paint(style, ctx);
        }
        self.line
            .get_or_insert_with(|| line_paint(style, ctx))
            .clone()
    }
}

fn fill_paint(style: &StyleLayer, ctx: &FeatureCtx<'_>) -> Option<[u8; 4]> {
    let c = color(style, "fill-color", ctx).unwrap_or(Rgba::BLACK);
    paint_key(c, num(style, "fill-opacity", ctx, 1.0))
}

fn line_paint(style: &StyleLayer, ctx: &FeatureCtx<'_>) -> Option<(StrokeKey, Stroke)> {
    let c = color(style, "line-color", ctx).unwrap_or(Rgba::BLACK);
    let key = paint_key(c, num(style, "line-opacity", ctx, 1.0))?;
    let width = num(style, "line-width", ctx, 1.0).max(0.0) as f32;
    if width <= 0.0 {
        return None;
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
    Some((key, stroke))
}

fn draw(
    pixmap: &mut Pixmap,
    batches: &mut Batches,
    memo: &mut PaintMemo,
    style: &StyleLayer,
    s: &Shape<'_>,
    ctx: &FeatureCtx<'_>,
    labels: &mut Vec<Label>,
) {
    match style.kind {
        LayerKind::Fill if s.polygon => {
            if let Some(key) = memo.fill(style, ctx) {
                batches.fill(key, s);
            }
        }
        LayerKind::Line if s.parts().any(|p| p.len() >= 2) => {
            if let Some((key, stroke)) = memo.line(style, ctx) {
                batches.stroke(key, stroke, s);
            }
        }
        LayerKind::Circle => {
            let radius = num(style, "circle-radius", ctx, 5.0) as f32;
            let fill = color(style, "circle-color", ctx).unwrap_or(Rgba::BLACK);
            let opacity = num(style, "circle-opacity", ctx, 1.0);
            let stroke_w = num(style, "circle-stroke-width", ctx, 0.0) as f32;
            let stroke_c = color(style, "circle-stroke-color", ctx).unwrap_or(Rgba::BLACK);
            let points: Vec<(f64, f64)> = if s.polygon || s.parts().any(|p| p.len() > 1) {
                s.anchor.into_iter().collect()
            } else {
                s.parts().filter_map(|p| p.first().copied()).collect()
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
                match line_anchor(s.parts()) {
                    Some(x) => x,
                    None => return,
                }
            } else if let Some(a) = s.anchor {
                (a, 0.0)
            } else if let Some(first) = s.parts().next().and_then(|p| p.first()) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feature::{Feature, Field, FieldType, Schema, Value};
    use crate::index::LayerIndex;
    use crate::layer::{LayerId, LayerMeta};
    use crate::style::Style;
    use crate::tile::to_mercator;
    use ab_glyph::Font;
    use geo_types::polygon;
    use geo_types::Geometry;

    fn meta() -> LayerMeta {
        let schema = Schema::new(vec![
            Field::new("lu_code", FieldType::Text),
            Field::new("name", FieldType::Text),
        ]);
        LayerMeta {
            family: Some("land_use".into()),
            feature_count: 2,
            ..LayerMeta::new(LayerId::parse("land_use").unwrap(), "Polygon", schema)
        }
    }

    fn square(lon: f64, lat: f64, d: f64) -> Geometry<f64> {
        Geometry::Polygon(polygon![
            (x: lon, y: lat), (x: lon + d, y: lat), (x: lon + d, y: lat + d), (x: lon, y: lat + d), (x: lon, y: lat)
        ])
    }

    /// Renders `index` with every layer of `style` in a Mercator view of the lon/lat box,
    /// `width` × `height` pixels, no background.
    fn draw(
        index: &LayerIndex,
        style: &Style,
        (lon0, lat0, lon1, lat1): (f64, f64, f64, f64),
        width: u32,
        height: u32,
    ) -> Pixmap {
        let (x0, y0) = to_mercator(lon0, lat0);
        let (x1, y1) = to_mercator(lon1, lat1);
        let view = MercatorView {
            bbox: [x0, y0, x1, y1],
            width,
            height,
        };
        let req = MapRequest {
            width,
            height,
            bounds: view.bbox,
            metres_per_pixel: (x1 - x0) / f64::from(width),
            projector: &view,
            background: None,
        };
        let layer = DrawLayer {
            source: index,
            style_layers: style.layers.iter().collect(),
        };
        render(&req, &[layer])
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
        let img = draw(&index, &style, (106.0, 10.0, 106.2, 10.1), 200, 100);
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

    /// Filters that read only the geometry type are answered once per type, not once for all.
    #[test]
    fn geometry_type_filters_are_answered_per_type() {
        let multi = |lon: f64| match square(lon, 10.0, 0.1) {
            Geometry::Polygon(p) => Geometry::MultiPolygon(geo_types::MultiPolygon(vec![p])),
            _ => unreachable!(),
        };
        let features = vec![
            Feature {
                id: 1,
                geometry: square(106.0, 10.0, 0.1),
                values: vec![Value::Text("LUC".into()), Value::Null],
            },
            Feature {
                id: 2,
                geometry: multi(106.1),
                values: vec![Value::Text("LUC".into()), Value::Null],
            },
            Feature {
                id: 3,
                geometry: square(106.2, 10.0, 0.1),
                values: vec![Value::Text("LUC".into()), Value::Null],
            },
        ];
        let index = LayerIndex::build(meta(), features);
        let style = Style::parse(
            "t",
            r##"{"layers":[
              {"id":"p","type":"fill","source":"s","source-layer":"land_use",
               "filter":["match",["geometry-type"],["Polygon"],true,false],
               "paint":{"fill-color":"#FF0000"}},
              {"id":"m","type":"fill","source":"s","source-layer":"land_use",
               "filter":["==",["geometry-type"],"MultiPolygon"],
               "paint":{"fill-color":"#0000FF"}}]}"##,
        )
        .unwrap();
        let img = draw(&index, &style, (106.0, 10.0, 106.3, 10.1), 300, 100);
        let px = |x: u32| {
            let p = img.pixel(x, 50).unwrap().demultiply();
            [p.red(), p.green(), p.blue(), p.alpha()]
        };
        assert_eq!(px(50), [0xFF, 0, 0, 255], "Polygon");
        assert_eq!(px(150), [0, 0, 0xFF, 255], "MultiPolygon");
        assert_eq!(px(250), [0xFF, 0, 0, 255], "Polygon again");
    }

    /// Polygons under a pixel go out by area, their holes taken away: the ink on the image is
    /// the polygon's area in pixels, with or without a hole.
    #[test]
    fn sub_pixel_polygons_draw_their_area_less_their_holes() {
        let ring = |lon: f64, lat: f64, d: f64| {
            geo_types::LineString::from(vec![
                (lon, lat),
                (lon + d, lat),
                (lon + d, lat + d),
                (lon, lat + d),
                (lon, lat),
            ])
        };
        // A view 22 m across (no generalised band at this scale) and a square of 17 cm.
        let (lon, lat, d) = (106.000_101_3, 10.000_102_7, 0.000_001_5);
        let (x0, y0) = to_mercator(106.0, 10.0);
        let (x1, y1) = to_mercator(106.0002, 10.0002);
        // Pixels per metre across and down (the 100 × 100 image of a box of degrees).
        let (sx, sy) = (100.0 / (x1 - x0), 100.0 / (y1 - y0));
        let area_px = |lon: f64, lat: f64, d: f64| {
            let (a, b) = (to_mercator(lon, lat), to_mercator(lon + d, lat + d));
            (b.0 - a.0) * (b.1 - a.1) * sx * sy
        };
        let ink = |holes: Vec<geo_types::LineString<f64>>| {
            let index = LayerIndex::build(
                meta(),
                vec![Feature {
                    id: 1,
                    geometry: Geometry::Polygon(geo_types::Polygon::new(ring(lon, lat, d), holes)),
                    values: vec![Value::Text("LUC".into()), Value::Null],
                }],
            );
            let style = Style::parse(
                "t",
                r##"{"layers":[{"id":"f","type":"fill","source":"s","source-layer":"land_use",
                   "paint":{"fill-color":"#000000"}}]}"##,
            )
            .unwrap();
            let img = draw(&index, &style, (106.0, 10.0, 106.0002, 10.0002), 100, 100);
            img.pixels()
                .iter()
                .map(|p| f64::from(p.alpha()) / 255.0)
                .sum::<f64>()
        };
        let outer = area_px(lon, lat, d);
        assert!(
            outer > 0.2 && outer < 1.0,
            "a sub-pixel square: {outer} px²"
        );
        let whole = ink(vec![]);
        assert!((whole - outer).abs() < 0.02, "ink {whole} for {outer} px²");
        let hole = area_px(lon + d / 4.0, lat + d / 4.0, d / 2.0);
        let holed = ink(vec![ring(lon + d / 4.0, lat + d / 4.0, d / 2.0)]);
        assert!(
            (holed - (outer - hole)).abs() < 0.02,
            "ink {holed} for {outer} − {hole} px²"
        );
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
