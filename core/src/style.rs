//! The style model WMS renders with: a documented subset of the MapLibre style specification,
//! read from the same `styles/*.json` the web map uses, so there is one source of colours.
//!
//! Supported: `fill`, `line`, `circle` and `symbol` layers; `minzoom`/`maxzoom`, `filter`,
//! `visibility`; the paint and layout properties in [`RENDERED_PROPERTIES`];
//! expressions `get`, `has`, `literal`, `zoom`, `geometry-type`, `match`, `case`, `step`,
//! `interpolate` (`linear`, `exponential`) over numbers and colours, `coalesce`, `to-string`,
//! `to-number`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `all`, `any`, `!`, `in`, `concat`, `upcase`,
//! `downcase`. Anything else is an error naming the expression, at load time.

use std::fmt;

use serde_json::Value as Json;
use thiserror::Error;

use crate::feature::Value;

#[derive(Debug, Error)]
pub enum StyleError {
    #[error("style is not JSON: {0}")]
    Json(String),
    #[error("style layer '{layer}': {message}")]
    Layer { layer: String, message: String },
}

/// An RGBA colour, components 0..=1 (not premultiplied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgba {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

impl Rgba {
    pub const BLACK: Rgba = Rgba {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        a: 1.0,
    };

    /// Parses `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb(r,g,b)`, `rgba(r,g,b,a)` and `transparent`.
    pub fn parse(s: &str) -> Option<Rgba> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("transparent") {
            return Some(Rgba {
                a: 0.0,
                ..Rgba::BLACK
            });
        }
        if let Some(hex) = s.strip_prefix('#') {
            let digit = |i: usize, n: usize| u8::from_str_radix(hex.get(i..i + n)?, 16).ok();
            let (r, g, b, a) = match hex.len() {
                3 => (digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17, 255),
                6 => (digit(0, 2)?, digit(2, 2)?, digit(4, 2)?, 255),
                8 => (digit(0, 2)?, digit(2, 2)?, digit(4, 2)?, digit(6, 2)?),
                _ => return None,
            };
            return Some(Rgba::from_u8(r, g, b, a));
        }
        let (inner, has_alpha) = if let Some(x) = s.strip_prefix("rgba(") {
            (x.strip_suffix(')')?, true)
        } else {
            (s.strip_prefix("rgb(")?.strip_suffix(')')?, false)
        };
        let parts: Vec<f32> = inner
            .split(',')
            .map(|p| p.trim().parse::<f32>().ok())
            .collect::<Option<_>>()?;
        match (parts.as_slice(), has_alpha) {
            ([r, g, b], false) => Some(Rgba {
                r: r / 255.0,
                g: g / 255.0,
                b: b / 255.0,
                a: 1.0,
            }),
            ([r, g, b, a], true) => Some(Rgba {
                r: r / 255.0,
                g: g / 255.0,
                b: b / 255.0,
                a: a.clamp(0.0, 1.0),
            }),
            _ => None,
        }
    }

    pub fn from_u8(r: u8, g: u8, b: u8, a: u8) -> Rgba {
        Rgba {
            r: f32::from(r) / 255.0,
            g: f32::from(g) / 255.0,
            b: f32::from(b) / 255.0,
            a: f32::from(a) / 255.0,
        }
    }

    pub fn to_u8(self) -> [u8; 4] {
        let c = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [c(self.r), c(self.g), c(self.b), c(self.a)]
    }

    pub fn hex(self) -> String {
        let [r, g, b, _] = self.to_u8();
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    fn lerp(self, other: Rgba, t: f32) -> Rgba {
        Rgba {
            r: self.r + (other.r - self.r) * t,
            g: self.g + (other.g - self.g) * t,
            b: self.b + (other.b - self.b) * t,
            a: self.a + (other.a - self.a) * t,
        }
    }
}

/// A value an expression evaluates to.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Color(Rgba),
    Array(Vec<Val>),
}

impl Val {
    fn from_json(j: &Json) -> Val {
        match j {
            Json::Null => Val::Null,
            Json::Bool(b) => Val::Bool(*b),
            Json::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
            Json::String(s) => Val::Str(s.clone()),
            Json::Array(a) => Val::Array(a.iter().map(Val::from_json).collect()),
            Json::Object(_) => Val::Null,
        }
    }

    pub fn from_value(v: &Value) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Int(i) => Val::Num(*i as f64),
            Value::Float(f) => Val::Num(*f),
            Value::Text(s) => Val::Str(s.clone()),
            Value::Date(d) => Val::Str(d.to_string()),
            Value::DateTime(d) => Val::Str(d.to_rfc3339()),
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }

    pub fn truthy(&self) -> bool {
        match self {
            Val::Bool(b) => *b,
            Val::Null => false,
            _ => true,
        }
    }

    /// A colour from a colour value or a colour string.
    pub fn as_color(&self) -> Option<Rgba> {
        match self {
            Val::Color(c) => Some(*c),
            Val::Str(s) => Rgba::parse(s),
            _ => None,
        }
    }
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Null => Ok(()),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Val::Num(n) => write!(f, "{n}"),
            Val::Str(s) => f.write_str(s),
            Val::Color(c) => f.write_str(&c.hex()),
            Val::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                Ok(())
            }
        }
    }
}

/// What an expression may look at: the feature's properties, its geometry type, the zoom.
pub trait Context {
    fn zoom(&self) -> f64;
    fn property(&self, name: &str) -> Val;
    /// "Point", "LineString" or "Polygon" (MapLibre reports the single type for multi-parts too,
    /// but style filters here also match the Multi names, so both are accepted by `match`).
    fn geometry_type(&self) -> &str;
    /// A text property without copying it, when the context can lend one (fast path of
    /// `match` on a text attribute, the commonest style expression).
    fn property_text(&self, _name: &str) -> Option<&str> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Interp {
    Linear,
    Exponential(f64),
}

/// A compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Lit(Val),
    Get(String),
    Has(String),
    Zoom,
    GeometryType,
    Match {
        input: Box<Expr>,
        arms: Vec<(Vec<Val>, Expr)>,
        default: Box<Expr>,
    },
    Case {
        arms: Vec<(Expr, Expr)>,
        default: Box<Expr>,
    },
    Step {
        input: Box<Expr>,
        base: Box<Expr>,
        stops: Vec<(f64, Expr)>,
    },
    Interpolate {
        kind: InterpKind,
        input: Box<Expr>,
        stops: Vec<(f64, Expr)>,
    },
    Coalesce(Vec<Expr>),
    ToString(Box<Expr>),
    ToNumber(Box<Expr>),
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    All(Vec<Expr>),
    Any(Vec<Expr>),
    Not(Box<Expr>),
    In(Box<Expr>, Box<Expr>),
    Concat(Vec<Expr>),
    Upcase(Box<Expr>),
    Downcase(Box<Expr>),
}

/// Comparison operator of a compiled expression.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CmpOp(Cmp);

/// Interpolation curve of a compiled expression.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpKind(Interp);

fn fail<T>(msg: impl Into<String>) -> Result<T, String> {
    Err(msg.into())
}

/// Deepest expression a style may hold; compiling and evaluating recurse once per level.
pub const MAX_EXPRESSION_DEPTH: usize = 32;

/// How deeply arrays and objects nest in `j`, walked without recursion.
fn json_depth(j: &Json) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(j, 1usize)];
    while let Some((v, d)) = stack.pop() {
        deepest = deepest.max(d);
        match v {
            Json::Array(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            Json::Object(map) => stack.extend(map.values().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    deepest
}

impl Expr {
    /// [`Expr::compile`] for expressions from a document: refuses nesting deeper than
    /// [`MAX_EXPRESSION_DEPTH`] before recursing into it.
    pub fn compile_bounded(j: &Json) -> Result<Expr, String> {
        if json_depth(j) > MAX_EXPRESSION_DEPTH {
            return fail(format!(
                "expression nested deeper than {MAX_EXPRESSION_DEPTH} levels"
            ));
        }
        Expr::compile(j)
    }

    /// Compiles a style JSON value (a literal or an expression array).
    pub fn compile(j: &Json) -> Result<Expr, String> {
        let Json::Array(items) = j else {
            return Ok(Expr::Lit(Val::from_json(j)));
        };
        let Some(Json::String(op)) = items.first() else {
            // A bare array (e.g. a dash pattern) is a literal.
            return Ok(Expr::Lit(Val::from_json(j)));
        };
        let args = &items[1..];
        let arg = |i: usize| -> Result<Expr, String> {
            args.get(i)
                .map(Expr::compile)
                .unwrap_or_else(|| fail(format!("'{op}' needs argument {}", i + 1)))
        };
        let boxed = |i: usize| arg(i).map(Box::new);
        let all = || {
            args.iter()
                .map(Expr::compile)
                .collect::<Result<Vec<_>, _>>()
        };
        let string_arg = |i: usize| -> Result<String, String> {
            match args.get(i) {
                Some(Json::String(s)) => Ok(s.clone()),
                _ => fail(format!("'{op}' needs a property name")),
            }
        };
        Ok(match op.as_str() {
            "literal" => Expr::Lit(Val::from_json(args.first().unwrap_or(&Json::Null))),
            "get" => {
                if args.len() > 1 {
                    return fail("'get' from an object is not supported");
                }
                Expr::Get(string_arg(0)?)
            }
            "has" => Expr::Has(string_arg(0)?),
            "zoom" => Expr::Zoom,
            "geometry-type" => Expr::GeometryType,
            "match" => {
                if args.len() < 4 || args.len() % 2 != 0 {
                    return fail("'match' needs input, label/output pairs and a default");
                }
                let mut arms = Vec::new();
                let mut i = 1;
                while i + 1 < args.len() {
                    let labels = match &args[i] {
                        Json::Array(a) => a.iter().map(Val::from_json).collect(),
                        other => vec![Val::from_json(other)],
                    };
                    arms.push((labels, Expr::compile(&args[i + 1])?));
                    i += 2;
                }
                Expr::Match {
                    input: boxed(0)?,
                    arms,
                    default: boxed(args.len() - 1)?,
                }
            }
            "case" => {
                if args.len() < 3 || args.len() % 2 == 0 {
                    return fail("'case' needs condition/output pairs and a default");
                }
                let arms = args[..args.len() - 1]
                    .chunks(2)
                    .map(|c| Ok((Expr::compile(&c[0])?, Expr::compile(&c[1])?)))
                    .collect::<Result<Vec<_>, String>>()?;
                Expr::Case {
                    arms,
                    default: boxed(args.len() - 1)?,
                }
            }
            "step" => {
                if args.len() < 2 || args.len() % 2 != 0 {
                    return fail("'step' needs input, base output and stop/output pairs");
                }
                Expr::Step {
                    input: boxed(0)?,
                    base: boxed(1)?,
                    stops: stops(&args[2..])?,
                }
            }
            "interpolate" => {
                let kind = match args.first() {
                    Some(Json::Array(k)) => match k.first().and_then(Json::as_str) {
                        Some("linear") => Interp::Linear,
                        Some("exponential") => {
                            Interp::Exponential(k.get(1).and_then(Json::as_f64).unwrap_or(1.0))
                        }
                        other => {
                            return fail(format!(
                                "interpolation {other:?} is not supported (linear, exponential)"
                            ))
                        }
                    },
                    _ => return fail("'interpolate' needs an interpolation type"),
                };
                if args.len() < 4 || args.len() % 2 != 0 {
                    return fail("'interpolate' needs input and stop/output pairs");
                }
                Expr::Interpolate {
                    kind: InterpKind(kind),
                    input: boxed(1)?,
                    stops: stops(&args[2..])?,
                }
            }
            "coalesce" => Expr::Coalesce(all()?),
            "to-string" => Expr::ToString(boxed(0)?),
            "to-number" => Expr::ToNumber(boxed(0)?),
            "==" | "!=" | "<" | "<=" | ">" | ">=" => {
                let c = match op.as_str() {
                    "==" => Cmp::Eq,
                    "!=" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                Expr::Compare(CmpOp(c), boxed(0)?, boxed(1)?)
            }
            "all" => Expr::All(all()?),
            "any" => Expr::Any(all()?),
            "!" => Expr::Not(boxed(0)?),
            "in" => Expr::In(boxed(0)?, boxed(1)?),
            "concat" => Expr::Concat(all()?),
            "upcase" => Expr::Upcase(boxed(0)?),
            "downcase" => Expr::Downcase(boxed(0)?),
            other => return fail(format!("expression '{other}' is not supported by WMS")),
        })
    }

    pub fn eval(&self, ctx: &dyn Context) -> Val {
        match self {
            Expr::Lit(v) => v.clone(),
            Expr::Get(name) => ctx.property(name),
            Expr::Has(name) => Val::Bool(!matches!(ctx.property(name), Val::Null)),
            Expr::Zoom => Val::Num(ctx.zoom()),
            Expr::GeometryType => Val::Str(ctx.geometry_type().to_owned()),
            Expr::Match {
                input,
                arms,
                default,
            } => {
                if let Expr::Get(name) = input.as_ref() {
                    if let Some(text) = ctx.property_text(name) {
                        for (labels, out) in arms {
                            if labels.iter().any(|l| matches!(l, Val::Str(s) if s == text)) {
                                return out.eval(ctx);
                            }
                        }
                        return default.eval(ctx);
                    }
                }
                let v = input.eval(ctx);
                for (labels, out) in arms {
                    if labels.iter().any(|l| loose_eq(l, &v)) {
                        return out.eval(ctx);
                    }
                }
                default.eval(ctx)
            }
            Expr::Case { arms, default } => {
                for (cond, out) in arms {
                    if cond.eval(ctx).truthy() {
                        return out.eval(ctx);
                    }
                }
                default.eval(ctx)
            }
            Expr::Step { input, base, stops } => {
                let x = input.eval(ctx).as_f64().unwrap_or(f64::NAN);
                let mut chosen = base.as_ref();
                for (at, out) in stops {
                    if x >= *at {
                        chosen = out;
                    } else {
                        break;
                    }
                }
                chosen.eval(ctx)
            }
            Expr::Interpolate { kind, input, stops } => {
                let x = input.eval(ctx).as_f64().unwrap_or(f64::NAN);
                interpolate(&kind.0, x, stops, ctx)
            }
            Expr::Coalesce(list) => list
                .iter()
                .map(|e| e.eval(ctx))
                .find(|v| !matches!(v, Val::Null))
                .unwrap_or(Val::Null),
            Expr::ToString(e) => Val::Str(e.eval(ctx).to_string()),
            Expr::ToNumber(e) => match e.eval(ctx) {
                Val::Num(n) => Val::Num(n),
                Val::Bool(b) => Val::Num(if b { 1.0 } else { 0.0 }),
                Val::Str(s) => Val::Num(s.trim().parse().unwrap_or(0.0)),
                _ => Val::Num(0.0),
            },
            Expr::Compare(op, a, b) => {
                let (a, b) = (a.eval(ctx), b.eval(ctx));
                let ord = match (&a, &b) {
                    (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
                    (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
                    _ => None,
                };
                Val::Bool(match op.0 {
                    Cmp::Eq => loose_eq(&a, &b),
                    Cmp::Ne => !loose_eq(&a, &b),
                    Cmp::Lt => ord == Some(std::cmp::Ordering::Less),
                    Cmp::Le => matches!(
                        ord,
                        Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
                    ),
                    Cmp::Gt => ord == Some(std::cmp::Ordering::Greater),
                    Cmp::Ge => matches!(
                        ord,
                        Some(std::cmp::Ordering::Greater | std::cmp::Ordering::Equal)
                    ),
                })
            }
            Expr::All(list) => Val::Bool(list.iter().all(|e| e.eval(ctx).truthy())),
            Expr::Any(list) => Val::Bool(list.iter().any(|e| e.eval(ctx).truthy())),
            Expr::Not(e) => Val::Bool(!e.eval(ctx).truthy()),
            Expr::In(needle, hay) => {
                let needle = needle.eval(ctx);
                Val::Bool(match hay.eval(ctx) {
                    Val::Array(a) => a.iter().any(|v| loose_eq(v, &needle)),
                    Val::Str(s) => s.contains(&needle.to_string()),
                    _ => false,
                })
            }
            Expr::Concat(list) => Val::Str(list.iter().map(|e| e.eval(ctx).to_string()).collect()),
            Expr::Upcase(e) => Val::Str(e.eval(ctx).to_string().to_uppercase()),
            Expr::Downcase(e) => Val::Str(e.eval(ctx).to_string().to_lowercase()),
        }
    }

    /// True when the expression reads no feature property (so it can be evaluated once).
    pub fn is_feature_constant(&self) -> bool {
        match self {
            Expr::Get(_) | Expr::Has(_) | Expr::GeometryType => false,
            Expr::Lit(_) | Expr::Zoom => true,
            Expr::Match {
                input,
                arms,
                default,
            } => {
                input.is_feature_constant()
                    && default.is_feature_constant()
                    && arms.iter().all(|(_, e)| e.is_feature_constant())
            }
            Expr::Case { arms, default } => {
                default.is_feature_constant()
                    && arms
                        .iter()
                        .all(|(c, e)| c.is_feature_constant() && e.is_feature_constant())
            }
            Expr::Step { input, base, stops } => {
                input.is_feature_constant()
                    && base.is_feature_constant()
                    && stops.iter().all(|(_, e)| e.is_feature_constant())
            }
            Expr::Interpolate { input, stops, .. } => {
                input.is_feature_constant() && stops.iter().all(|(_, e)| e.is_feature_constant())
            }
            Expr::Coalesce(l) | Expr::All(l) | Expr::Any(l) | Expr::Concat(l) => {
                l.iter().all(Expr::is_feature_constant)
            }
            Expr::ToString(e)
            | Expr::ToNumber(e)
            | Expr::Not(e)
            | Expr::Upcase(e)
            | Expr::Downcase(e) => e.is_feature_constant(),
            Expr::Compare(_, a, b) | Expr::In(a, b) => {
                a.is_feature_constant() && b.is_feature_constant()
            }
        }
    }
}

fn stops(pairs: &[Json]) -> Result<Vec<(f64, Expr)>, String> {
    pairs
        .chunks(2)
        .map(|c| {
            let at = c[0].as_f64().ok_or("stop inputs must be numbers")?;
            Ok((at, Expr::compile(&c[1])?))
        })
        .collect()
}

/// Equality as MapLibre's `match` sees it, plus number/boolean strings from attribute tables
/// that store flags as text.
fn loose_eq(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Null, Val::Null) => true,
        _ => false,
    }
}

fn interpolate(kind: &Interp, x: f64, stops: &[(f64, Expr)], ctx: &dyn Context) -> Val {
    let Some(first) = stops.first() else {
        return Val::Null;
    };
    if x.is_nan() || x <= first.0 {
        return first.1.eval(ctx);
    }
    for pair in stops.windows(2) {
        let ((x0, e0), (x1, e1)) = (&pair[0], &pair[1]);
        if x <= *x1 {
            let span = x1 - x0;
            let t = match kind {
                Interp::Linear => (x - x0) / span,
                Interp::Exponential(base) if (*base - 1.0).abs() < 1e-9 => (x - x0) / span,
                Interp::Exponential(base) => (base.powf(x - x0) - 1.0) / (base.powf(span) - 1.0),
            };
            let (a, b) = (e0.eval(ctx), e1.eval(ctx));
            return match (&a, &b) {
                (Val::Num(p), Val::Num(q)) => Val::Num(p + (q - p) * t),
                _ => match (a.as_color(), b.as_color()) {
                    (Some(p), Some(q)) => Val::Color(p.lerp(q, t as f32)),
                    _ => a,
                },
            };
        }
    }
    stops[stops.len() - 1].1.eval(ctx)
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
                        props.push((
                            k.clone(),
                            Expr::compile_bounded(v).map_err(|m| err(format!("{k}: {m}")))?,
                        ));
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
