//! A style layer's paint and layout properties evaluated for one feature, and the tiny-skia
//! paints made from them.

use tiny_skia::Paint;

use crate::style::{Context, Rgba, StyleLayer, Val};

pub(super) fn paint(color: Rgba, opacity: f64) -> Option<Paint<'static>> {
    let a = (f64::from(color.a) * opacity.clamp(0.0, 1.0)) as f32;
    if a <= 0.0 {
        return None;
    }
    let mut p = Paint::default();
    p.set_color(tiny_skia::Color::from_rgba(color.r, color.g, color.b, a)?);
    p.anti_alias = true;
    Some(p)
}

pub(super) fn num(layer: &StyleLayer, name: &str, ctx: &dyn Context, default: f64) -> f64 {
    layer
        .prop(name)
        .and_then(|e| e.eval(ctx).as_f64())
        .unwrap_or(default)
}

pub(super) fn color(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Option<Rgba> {
    layer.prop(name).and_then(|e| e.eval(ctx).as_color())
}

pub(super) fn text(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Option<String> {
    layer.prop(name).map(|e| e.eval(ctx).to_string())
}

pub(super) fn numbers(layer: &StyleLayer, name: &str, ctx: &dyn Context) -> Vec<f64> {
    match layer.prop(name).map(|e| e.eval(ctx)) {
        Some(Val::Array(a)) => a.iter().filter_map(Val::as_f64).collect(),
        _ => Vec::new(),
    }
}

pub(super) fn paint_key(color: Rgba, opacity: f64) -> Option<[u8; 4]> {
    let a = (f64::from(color.a) * opacity.clamp(0.0, 1.0)) as f32;
    let key = Rgba { a, ..color }.to_u8();
    (key[3] > 0).then_some(key)
}

pub(super) fn color_halo(style: &StyleLayer, ctx: &dyn Context, width: f64) -> Option<(Rgba, f64)> {
    if width <= 0.0 {
        return None;
    }
    color(style, "text-halo-color", ctx).map(|c| (c, width))
}
