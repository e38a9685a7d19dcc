//! The MapLibre expression language, the subset the renderer evaluates: compiled once from a
//! style's JSON, evaluated per feature against a [`Context`].

use rustc_hash::FxHashMap;
use std::fmt;

use serde_json::Value as Json;

use super::color::Rgba;
use crate::feature::Value;

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
        /// Text label → first arm with it, for matches with many labels (the land-use fill
        /// has over fifty), so a feature costs one hash lookup instead of a scan.
        by_text: Option<FxHashMap<String, usize>>,
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
                    by_text: text_index(&arms),
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
                by_text,
            } => {
                let borrowed = match input.as_ref() {
                    Expr::Get(name) => ctx.property_text(name),
                    Expr::GeometryType => Some(ctx.geometry_type()),
                    _ => None,
                };
                if let (Some(text), Some(index)) = (borrowed, by_text) {
                    return match index.get(text) {
                        Some(&i) => arms[i].1.eval(ctx),
                        None => default.eval(ctx),
                    };
                }
                if let Some(text) = borrowed {
                    for (labels, out) in arms {
                        if labels.iter().any(|l| matches!(l, Val::Str(s) if s == text)) {
                            return out.eval(ctx);
                        }
                    }
                    return default.eval(ctx);
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

    /// The expression with every colour string it can return parsed once, here, instead of per
    /// feature (for `*-color` properties; a data-driven land-use fill is a `match` of 50 colour
    /// strings).
    pub fn with_colours(self) -> Expr {
        let outputs = |arms: Vec<(f64, Expr)>| -> Vec<(f64, Expr)> {
            arms.into_iter()
                .map(|(x, e)| (x, e.with_colours()))
                .collect()
        };
        match self {
            Expr::Lit(Val::Str(s)) => match Rgba::parse(&s) {
                Some(c) => Expr::Lit(Val::Color(c)),
                None => Expr::Lit(Val::Str(s)),
            },
            Expr::Match {
                input,
                arms,
                default,
                by_text,
            } => Expr::Match {
                input,
                by_text,
                arms: arms
                    .into_iter()
                    .map(|(labels, e)| (labels, e.with_colours()))
                    .collect(),
                default: Box::new(default.with_colours()),
            },
            Expr::Case { arms, default } => Expr::Case {
                arms: arms
                    .into_iter()
                    .map(|(c, e)| (c, e.with_colours()))
                    .collect(),
                default: Box::new(default.with_colours()),
            },
            Expr::Step { input, base, stops } => Expr::Step {
                input,
                base: Box::new(base.with_colours()),
                stops: outputs(stops),
            },
            Expr::Interpolate { kind, input, stops } => Expr::Interpolate {
                kind,
                input,
                stops: outputs(stops),
            },
            Expr::Coalesce(list) => {
                Expr::Coalesce(list.into_iter().map(Expr::with_colours).collect())
            }
            e => e,
        }
    }

    /// True when the expression reads no feature property (so it can be evaluated once).
    pub fn is_feature_constant(&self) -> bool {
        self.constant(true)
    }

    /// True when the expression reads no feature property other than its geometry type (so it
    /// can be evaluated once per geometry type).
    pub fn reads_only_geometry_type(&self) -> bool {
        self.constant(false)
    }

    /// Appends the names of the feature properties the expression reads (`get`, `has`).
    pub fn reads<'e>(&'e self, out: &mut Vec<&'e str>) {
        match self {
            Expr::Get(name) | Expr::Has(name) => out.push(name),
            Expr::Lit(_) | Expr::Zoom | Expr::GeometryType => {}
            Expr::Match {
                input,
                arms,
                default,
                ..
            } => {
                input.reads(out);
                default.reads(out);
                arms.iter().for_each(|(_, e)| e.reads(out));
            }
            Expr::Case { arms, default } => {
                default.reads(out);
                for (c, e) in arms {
                    c.reads(out);
                    e.reads(out);
                }
            }
            Expr::Step { input, base, stops } => {
                input.reads(out);
                base.reads(out);
                stops.iter().for_each(|(_, e)| e.reads(out));
            }
            Expr::Interpolate { input, stops, .. } => {
                input.reads(out);
                stops.iter().for_each(|(_, e)| e.reads(out));
            }
            Expr::Coalesce(l) | Expr::All(l) | Expr::Any(l) | Expr::Concat(l) => {
                l.iter().for_each(|e| e.reads(out));
            }
            Expr::ToString(e)
            | Expr::ToNumber(e)
            | Expr::Not(e)
            | Expr::Upcase(e)
            | Expr::Downcase(e) => e.reads(out),
            Expr::Compare(_, a, b) | Expr::In(a, b) => {
                a.reads(out);
                b.reads(out);
            }
        }
    }

    /// No feature property read, the geometry type counting as one when `geometry`.
    fn constant(&self, geometry: bool) -> bool {
        match self {
            Expr::Get(_) | Expr::Has(_) => false,
            Expr::GeometryType => !geometry,
            Expr::Lit(_) | Expr::Zoom => true,
            Expr::Match {
                input,
                arms,
                default,
                ..
            } => {
                input.constant(geometry)
                    && default.constant(geometry)
                    && arms.iter().all(|(_, e)| e.constant(geometry))
            }
            Expr::Case { arms, default } => {
                default.constant(geometry)
                    && arms
                        .iter()
                        .all(|(c, e)| c.constant(geometry) && e.constant(geometry))
            }
            Expr::Step { input, base, stops } => {
                input.constant(geometry)
                    && base.constant(geometry)
                    && stops.iter().all(|(_, e)| e.constant(geometry))
            }
            Expr::Interpolate { input, stops, .. } => {
                input.constant(geometry) && stops.iter().all(|(_, e)| e.constant(geometry))
            }
            Expr::Coalesce(l) | Expr::All(l) | Expr::Any(l) | Expr::Concat(l) => {
                l.iter().all(|e| e.constant(geometry))
            }
            Expr::ToString(e)
            | Expr::ToNumber(e)
            | Expr::Not(e)
            | Expr::Upcase(e)
            | Expr::Downcase(e) => e.constant(geometry),
            Expr::Compare(_, a, b) | Expr::In(a, b) => a.constant(geometry) && b.constant(geometry),
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
/// Labels of a `match` with this many text labels or more are looked up by hash.
const HASHED_MATCH: usize = 8;

fn text_index(arms: &[(Vec<Val>, Expr)]) -> Option<FxHashMap<String, usize>> {
    let mut index = FxHashMap::default();
    for (i, (labels, _)) in arms.iter().enumerate() {
        for label in labels {
            if let Val::Str(s) = label {
                index.entry(s.clone()).or_insert(i);
            }
        }
    }
    (index.len() >= HASHED_MATCH).then_some(index)
}

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
