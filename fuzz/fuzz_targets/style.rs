//! The WMS style compiler and expression evaluator: any style text compiles or is an error,
//! and a compiled style evaluates every property at any zoom for any attribute values.
//! Input: one byte of zoom (tenths), then the style text (seeded with styles/*.json).
#![no_main]

use cuulong_core::style::{Context, Style, Val, RENDERED_PROPERTIES};
use libfuzzer_sys::fuzz_target;

struct Ctx<'a> {
    zoom: f64,
    text: &'a str,
}

impl Context for Ctx<'_> {
    fn zoom(&self) -> f64 {
        self.zoom
    }
    fn property(&self, name: &str) -> Val {
        match name.len() % 3 {
            0 => Val::Str(self.text.to_owned()),
            1 => Val::Num(self.text.len() as f64),
            _ => Val::Null,
        }
    }
    fn geometry_type(&self) -> &str {
        "Polygon"
    }
    fn property_text(&self, _name: &str) -> Option<&str> {
        Some(self.text)
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&zoom, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let Ok(style) = Style::parse("fuzz", &text) else {
        return;
    };
    for value in ["LUC", "", "phù sa", "QL"] {
        let ctx = Ctx {
            zoom: f64::from(zoom) / 10.0,
            text: value,
        };
        for layer in &style.layers {
            let _ = layer.accepts(&ctx);
            for name in RENDERED_PROPERTIES {
                if let Some(e) = layer.prop(name) {
                    let _ = e.eval(&ctx).as_color();
                }
            }
        }
    }
});
