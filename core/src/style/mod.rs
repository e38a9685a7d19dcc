//! The style model WMS renders with: a documented subset of the MapLibre style specification,
//! read from the same `styles/*.json` the web map uses, so there is one source of colours.
//!
//! Supported: `fill`, `line`, `circle` and `symbol` layers; `minzoom`/`maxzoom`, `filter`,
//! `visibility`; the paint and layout properties in [`RENDERED_PROPERTIES`];
//! expressions `get`, `has`, `literal`, `zoom`, `geometry-type`, `match`, `case`, `step`,
//! `interpolate` (`linear`, `exponential`) over numbers and colours, `coalesce`, `to-string`,
//! `to-number`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `all`, `any`, `!`, `in`, `concat`, `upcase`,
//! `downcase`. Anything else is an error naming the expression, at load time.

use serde_json::Value as Json;
use thiserror::Error;

mod color;
mod expr;

pub use color::Rgba;
pub use expr::{CmpOp, Context, Expr, InterpKind, Val, MAX_EXPRESSION_DEPTH};

#[derive(Debug, Error)]
pub enum StyleError {
    #[error("style is not JSON: {0}")]
    Json(String),
    #[error("style layer '{layer}': {message}")]
    Layer { layer: String, message: String },
}

/// The paint and layout properties the renderer reads; others are ignored.
pub const RENDERED_PROPERTIES: &[&str] = &[
    "fill-color",
    "fill-opacity",
    "line-color",
    "line-width",
    "line-opacity",
    "line-dasharray",
    "line-cap",
    "line-join",
    "circle-color",
    "circle-radius",
    "circle-opacity",
    "circle-stroke-color",
    "circle-stroke-width",
    "text-field",
    "text-size",
    "text-color",
    "text-halo-color",
    "text-halo-width",
    "text-offset",
    "text-anchor",
    "text-max-width",
    "symbol-placement",
];

/// What a style layer draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerKind {
    Fill,
    Line,
    Circle,
    Symbol,
}

/// One style layer, compiled, with the properties of [`RENDERED_PROPERTIES`] it sets.
#[derive(Debug, Clone)]
pub struct StyleLayer {
    pub id: String,
    pub kind: LayerKind,
    pub source_layer: String,
    pub minzoom: f64,
    pub maxzoom: f64,
    pub filter: Option<Expr>,
    pub visible: bool,
    props: Vec<(String, Expr)>,
}

impl StyleLayer {
    /// A paint or layout property; `None` when the style does not set it.
    pub fn prop(&self, name: &str) -> Option<&Expr> {
        self.props.iter().find(|(k, _)| k == name).map(|(_, e)| e)
    }

    pub fn in_zoom(&self, zoom: f64) -> bool {
        zoom >= self.minzoom && zoom < self.maxzoom
    }

    /// The feature properties the layer's filter, paint and layout read.
    pub fn reads(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if let Some(f) = &self.filter {
            f.reads(&mut out);
        }
        self.props.iter().for_each(|(_, e)| e.reads(&mut out));
        out
    }

    /// Whether a feature passes the layer's filter.
    pub fn accepts(&self, ctx: &dyn Context) -> bool {
        self.filter.as_ref().is_none_or(|f| f.eval(ctx).truthy())
    }
}

/// A compiled style: its layers in drawing order.
#[derive(Debug, Clone)]
pub struct Style {
    pub name: String,
    /// "Vietnamese / English" from the style's metadata, or the name.
    pub title: String,
    pub layers: Vec<StyleLayer>,
    /// Legend entries from the style layers' metadata (`cuulong:legend`).
    pub legend: Vec<LegendEntry>,
}

/// One class in a legend: code, Vietnamese and English names, colour.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub source_layer: String,
    pub code: String,
    pub vi: String,
    pub en: String,
    pub color: Rgba,
}

impl Style {
    /// Compiles a MapLibre style document. Style layers of other sources (e.g. a raster basemap)
    /// are skipped; unsupported expressions are errors.
    pub fn parse(name: &str, text: &str) -> Result<Style, StyleError> {
        let doc: Json = serde_json::from_str(text).map_err(|e| StyleError::Json(e.to_string()))?;
        let mut layers = Vec::new();
        let mut legend = Vec::new();
        for l in doc["layers"].as_array().into_iter().flatten() {
            let id = l["id"].as_str().unwrap_or("").to_owned();
            let err = |message: String| StyleError::Layer {
                layer: id.clone(),
                message,
            };
            let kind = match l["type"].as_str() {
                Some("fill") => LayerKind::Fill,
                Some("line") => LayerKind::Line,
                Some("circle") => LayerKind::Circle,
                Some("symbol") => LayerKind::Symbol,
                _ => continue,
            };
            let Some(source_layer) = l["source-layer"].as_str() else {
                continue;
            };
            parse_legend(source_layer, &l["metadata"], &mut legend);
            let mut props = Vec::new();
            for section in ["paint", "layout"] {
                if let Some(obj) = l[section].as_object() {
                    for (k, v) in obj {
                        // Only what the renderer reads is compiled (text-font, for one,
                        // is a plain list of names, not an expression).
                        if !RENDERED_PROPERTIES.contains(&k.as_str()) {
                            continue;
                        }
                        let mut e =
                            Expr::compile_bounded(v).map_err(|m| err(format!("{k}: {m}")))?;
                        if k.ends_with("-color") {
                            e = e.with_colours();
                        }
                        props.push((k.clone(), e));
                    }
                }
            }
            let filter = match l.get("filter") {
                Some(f) if !f.is_null() => {
                    Some(Expr::compile_bounded(f).map_err(|m| err(format!("filter: {m}")))?)
                }
                _ => None,
            };
            layers.push(StyleLayer {
                id: id.clone(),
                kind,
                source_layer: source_layer.to_owned(),
                minzoom: l["minzoom"].as_f64().unwrap_or(0.0),
                maxzoom: l["maxzoom"].as_f64().unwrap_or(24.0),
                filter,
                visible: l["layout"]["visibility"].as_str() != Some("none"),
                props,
            });
        }
        let title = match (
            doc["metadata"]["cuulong:title_vi"].as_str(),
            doc["metadata"]["cuulong:title_en"].as_str(),
        ) {
            (Some(vi), Some(en)) => format!("{vi} / {en}"),
            (Some(t), None) | (None, Some(t)) => t.to_owned(),
            _ => doc["name"].as_str().unwrap_or(name).to_owned(),
        };
        Ok(Style {
            name: name.to_owned(),
            title,
            layers,
            legend,
        })
    }

    /// Source layers this style draws, in first-appearance order.
    pub fn source_layers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for l in &self.layers {
            if !out.contains(&l.source_layer.as_str()) {
                out.push(&l.source_layer);
            }
        }
        out
    }

    /// The style layers drawing `source_layer`, in order.
    pub fn layers_for<'a>(&'a self, source_layer: &'a str) -> impl Iterator<Item = &'a StyleLayer> {
        self.layers
            .iter()
            .filter(move |l| l.source_layer == source_layer)
    }
}

fn parse_legend(source_layer: &str, meta: &Json, out: &mut Vec<LegendEntry>) {
    for e in meta["cuulong:legend"].as_array().into_iter().flatten() {
        let text = |k: &str| e[k].as_str().unwrap_or("").to_owned();
        let Some(color) = e["color"].as_str().and_then(Rgba::parse) else {
            continue;
        };
        out.push(LegendEntry {
            source_layer: source_layer.to_owned(),
            code: text("code"),
            vi: text("vi"),
            en: text("en"),
            color,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Ctx {
        zoom: f64,
        props: Vec<(&'static str, Val)>,
    }

    impl Context for Ctx {
        fn zoom(&self) -> f64 {
            self.zoom
        }
        fn property(&self, name: &str) -> Val {
            self.props
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or(Val::Null)
        }
        fn geometry_type(&self) -> &str {
            "Polygon"
        }
    }

    fn ctx(zoom: f64, code: &str) -> Ctx {
        Ctx {
            zoom,
            props: vec![("lu_code", Val::Str(code.into())), ("w", Val::Num(3.0))],
        }
    }

    #[test]
    fn an_expression_names_every_property_it_reads() {
        let e = Expr::compile(&json!([
            "case",
            ["==", ["get", "a"], 1],
            ["match", ["get", "b"], "x", ["upcase", ["get", "c"]], "#000"],
            [
                "step",
                ["zoom"],
                ["coalesce", ["get", "d"], "-"],
                10,
                ["to-string", ["has", "e"]]
            ]
        ]))
        .unwrap();
        let mut reads = Vec::new();
        e.reads(&mut reads);
        reads.sort_unstable();
        assert_eq!(reads, ["a", "b", "c", "d", "e"]);
        let mut none = Vec::new();
        let by_zoom = Expr::compile(&json!(["interpolate", ["linear"], ["zoom"], 8, 1, 14, 3]));
        by_zoom.as_ref().unwrap().reads(&mut none);
        assert!(none.is_empty());
    }

    #[test]
    fn match_with_label_lists_and_default() {
        let e = Expr::compile(&json!([
            "match",
            ["get", "lu_code"],
            "LUC",
            "#FFFC8C",
            ["BHK", "NHK"],
            "#FFF0B4",
            "#000"
        ]))
        .unwrap();
        assert_eq!(
            e.eval(&ctx(10.0, "NHK")).as_color().unwrap().hex(),
            "#FFF0B4"
        );
        assert_eq!(
            e.eval(&ctx(10.0, "LUC")).as_color().unwrap().hex(),
            "#FFFC8C"
        );
        assert_eq!(
            e.eval(&ctx(10.0, "XXX")).as_color().unwrap().hex(),
            "#000000"
        );
    }

    #[test]
    fn interpolate_linear_exponential_and_colours() {
        let lin =
            Expr::compile(&json!(["interpolate", ["linear"], ["zoom"], 8, 1, 12, 3])).unwrap();
        assert_eq!(lin.eval(&ctx(10.0, "")).as_f64(), Some(2.0));
        assert_eq!(lin.eval(&ctx(4.0, "")).as_f64(), Some(1.0));
        assert_eq!(lin.eval(&ctx(20.0, "")).as_f64(), Some(3.0));
        let exp = Expr::compile(&json!([
            "interpolate",
            ["exponential", 2],
            ["zoom"],
            0,
            0,
            2,
            3
        ]))
        .unwrap();
        // (2^1 - 1) / (2^2 - 1) = 1/3 of the way.
        assert!((exp.eval(&ctx(1.0, "")).as_f64().unwrap() - 1.0).abs() < 1e-9);
        let col = Expr::compile(&json!([
            "interpolate",
            ["linear"],
            ["zoom"],
            0,
            "#000000",
            10,
            "#FFFFFF"
        ]))
        .unwrap();
        assert_eq!(
            col.eval(&ctx(5.0, "")).as_color().unwrap().to_u8(),
            [128, 128, 128, 255]
        );
    }

    #[test]
    fn step_case_coalesce_and_comparisons() {
        let step = Expr::compile(&json!(["step", ["zoom"], "a", 12, "b", 14, "c"])).unwrap();
        assert_eq!(step.eval(&ctx(11.9, "")), Val::Str("a".into()));
        assert_eq!(step.eval(&ctx(12.0, "")), Val::Str("b".into()));
        assert_eq!(step.eval(&ctx(15.0, "")), Val::Str("c".into()));
        let case =
            Expr::compile(&json!(["case", [">", ["get", "w"], 2], "wide", "narrow"])).unwrap();
        assert_eq!(case.eval(&ctx(0.0, "")), Val::Str("wide".into()));
        let co = Expr::compile(&json!([
            "to-string",
            ["coalesce", ["get", "ref"], ["get", "lu_code"]]
        ]))
        .unwrap();
        assert_eq!(co.eval(&ctx(0.0, "LUC")), Val::Str("LUC".into()));
        assert!(!Expr::compile(&json!(["get", "x"]))
            .unwrap()
            .is_feature_constant());
        assert!(
            Expr::compile(&json!(["interpolate", ["linear"], ["zoom"], 1, 1, 2, 2]))
                .unwrap()
                .is_feature_constant()
        );
    }

    #[test]
    fn unsupported_expressions_are_named() {
        let mut deep = json!(["get", "x"]);
        for _ in 0..40 {
            deep = json!(["!", deep]);
        }
        let too_deep = Expr::compile_bounded(&deep).unwrap_err();
        assert!(too_deep.contains("deeper than 32"), "{too_deep}");
        let err = Expr::compile(&json!(["distance", ["literal", 1]])).unwrap_err();
        assert!(err.contains("distance"), "{err}");
    }

    #[test]
    fn colours_parse() {
        assert_eq!(
            Rgba::parse("#abc").unwrap().to_u8(),
            [0xAA, 0xBB, 0xCC, 255]
        );
        assert_eq!(
            Rgba::parse("rgba(10, 20, 30, 0.5)").unwrap().to_u8(),
            [10, 20, 30, 128]
        );
        assert!(Rgba::parse("blue-ish").is_none());
    }

    #[test]
    fn every_shipped_style_compiles() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../styles");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let style =
                Style::parse("x", &text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!style.layers.is_empty(), "{}", path.display());
            n += 1;
        }
        assert!(n >= 6);
    }
}
