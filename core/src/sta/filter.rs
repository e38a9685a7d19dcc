//! The SensorThings `$filter` language (OData 4 subset of STA v1.1 §9.3.3.5): comparison,
//! logical and arithmetic operators, string, date, maths and spatial functions, property paths
//! across navigation (`Datastream/ObservedProperty/name`). Parsed into a tree once, then
//! evaluated per entity through [`Resolve`]. Input is hostile: length, depth and node count
//! are bounded, and every error names what it stopped at.
//!
//! Written by hand: no kept Rust crate parses OData `$filter` with SensorThings' spatial
//! functions (`st_within`, `geo.intersects`) and its unquoted ISO 8601 times.

use chrono::{DateTime, Datelike, Timelike, Utc};
use geo::{Relate, Within};
use geo_types::Geometry;

/// Longest `$filter` accepted, in bytes.
pub const MAX_LENGTH: usize = 4096;
/// Deepest nesting of parentheses, operators and function calls.
pub const MAX_DEPTH: usize = 32;
/// Most nodes in one expression tree.
pub const MAX_NODES: usize = 512;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    #[error("$filter: longer than {MAX_LENGTH} bytes")]
    TooLong,
    #[error("$filter: nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("$filter: more than {MAX_NODES} terms")]
    TooManyTerms,
    #[error("$filter: {message} at character {at}")]
    Syntax { message: String, at: usize },
    #[error("$filter: unknown function '{0}'")]
    UnknownFunction(String),
    #[error("$filter: {name} takes {expected} argument(s), not {got}")]
    Arity {
        name: String,
        expected: &'static str,
        got: usize,
    },
    #[error("$filter: geography literal: {0}")]
    Geography(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    And,
    Or,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Val),
    /// A property path: `result`, `Datastream/Thing/name`, `properties/river`.
    Path(Vec<String>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Call(Func, Vec<Expr>),
}

/// A value a path or an expression yields.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    /// ms since 1970, UTC.
    Time(i64),
    Geom(Box<Geometry<f64>>),
}

/// What a filter reads its paths from: an entity (and, through navigation, its relations).
pub trait Resolve {
    fn resolve(&self, path: &[String]) -> Val;
}

impl<F: Fn(&[String]) -> Val> Resolve for F {
    fn resolve(&self, path: &[String]) -> Val {
        self(path)
    }
}

macro_rules! funcs {
    ($($variant:ident = $name:literal, $min:literal..=$max:literal;)*) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Func { $($variant),* }
        impl Func {
            fn lookup(name: &str) -> Option<Func> {
                match name { $($name => Some(Func::$variant),)* _ => None }
            }
            fn arity(self) -> (usize, usize) {
                match self { $(Func::$variant => ($min, $max)),* }
            }
            pub fn name(self) -> &'static str {
                match self { $(Func::$variant => $name),* }
            }
        }
    };
}

funcs! {
    Substringof = "substringof", 2..=2;
    Endswith = "endswith", 2..=2;
    Startswith = "startswith", 2..=2;
    Contains = "contains", 2..=2;
    Length = "length", 1..=1;
    Indexof = "indexof", 2..=2;
    Substring = "substring", 2..=3;
    Tolower = "tolower", 1..=1;
    Toupper = "toupper", 1..=1;
    Trim = "trim", 1..=1;
    Concat = "concat", 2..=2;
    Year = "year", 1..=1;
    Month = "month", 1..=1;
    Day = "day", 1..=1;
    Hour = "hour", 1..=1;
    Minute = "minute", 1..=1;
    Second = "second", 1..=1;
    Fractionalseconds = "fractionalseconds", 1..=1;
    Date = "date", 1..=1;
    Totaloffsetminutes = "totaloffsetminutes", 1..=1;
    Now = "now", 0..=0;
    Mindatetime = "mindatetime", 0..=0;
    Maxdatetime = "maxdatetime", 0..=0;
    Round = "round", 1..=1;
    Floor = "floor", 1..=1;
    Ceiling = "ceiling", 1..=1;
    GeoDistance = "geo.distance", 2..=2;
    GeoLength = "geo.length", 1..=1;
    GeoIntersects = "geo.intersects", 2..=2;
    StEquals = "st_equals", 2..=2;
    StDisjoint = "st_disjoint", 2..=2;
    StTouches = "st_touches", 2..=2;
    StWithin = "st_within", 2..=2;
    StOverlaps = "st_overlaps", 2..=2;
    StCrosses = "st_crosses", 2..=2;
    StIntersects = "st_intersects", 2..=2;
    StContains = "st_contains", 2..=2;
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Time(i64),
    Geom(Box<Geometry<f64>>),
    Ident(String),
    Open,
    Close,
    Comma,
    Minus,
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let syntax = |message: &str, at: usize| FilterError::Syntax {
        message: message.to_owned(),
        at,
    };
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'(' => {
                out.push((start, Tok::Open));
                i += 1;
            }
            b')' => {
                out.push((start, Tok::Close));
                i += 1;
            }
            b',' => {
                out.push((start, Tok::Comma));
                i += 1;
            }
            b'-' => {
                out.push((start, Tok::Minus));
                i += 1;
            }
            b'\'' => {
                let (s, next) =
                    quoted(src, i).ok_or_else(|| syntax("unterminated string", start))?;
                out.push((start, Tok::Str(s)));
                i = next;
            }
            b'0'..=b'9' => {
                if looks_like_time(&b[i..]) {
                    let mut j = i;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b".:+-".contains(&b[j])) {
                        j += 1;
                    }
                    let text = &src[i..j];
                    let t = DateTime::parse_from_rfc3339(text).map_err(|_| {
                        syntax(&format!("'{}' is not an ISO 8601 time", clip(text)), start)
                    })?;
                    out.push((start, Tok::Time(t.with_timezone(&Utc).timestamp_millis())));
                    i = j;
                    continue;
                }
                // A number stops at what cannot continue it ("3)" or "3 ").
                let mut k = i;
                while k < b.len() && (b[k].is_ascii_digit() || b[k] == b'.') {
                    k += 1;
                }
                if k < b.len() && (b[k] == b'e' || b[k] == b'E') {
                    k += 1;
                    if k < b.len() && (b[k] == b'+' || b[k] == b'-') {
                        k += 1;
                    }
                    while k < b.len() && b[k].is_ascii_digit() {
                        k += 1;
                    }
                }
                let n: f64 = src[i..k].parse().map_err(|_| {
                    syntax(&format!("'{}' is not a number", clip(&src[i..k])), start)
                })?;
                out.push((start, Tok::Num(n)));
                i = k;
            }
            c if c.is_ascii_alphabetic() || c == b'@' || c == b'_' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b"_./@".contains(&b[j])) {
                    j += 1;
                }
                let word = &src[i..j];
                if (word == "geography" || word == "geometry") && b.get(j) == Some(&b'\'') {
                    let (wkt_text, next) =
                        quoted(src, j).ok_or_else(|| syntax("unterminated geography", start))?;
                    out.push((start, Tok::Geom(Box::new(parse_wkt(&wkt_text)?))));
                    i = next;
                } else {
                    out.push((start, Tok::Ident(word.to_owned())));
                    i = j;
                }
            }
            _ => {
                let ch = src[i..].chars().next().unwrap_or('?');
                return Err(syntax(&format!("unexpected '{ch}'"), start));
            }
        }
    }
    Ok(out)
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}

/// A quoted string from `at` (the opening quote), `''` standing for a quote; with the index
/// past the closing quote.
fn quoted(src: &str, at: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[at + 1..].char_indices();
    while let Some((k, ch)) = chars.next() {
        if ch == '\'' {
            if src[at + 1 + k + 1..].starts_with('\'') {
                out.push('\'');
                chars.next();
            } else {
                return Some((out, at + 1 + k + 1));
            }
        } else {
            out.push(ch);
        }
    }
    None
}

fn looks_like_time(b: &[u8]) -> bool {
    b.len() >= 10 && b[4] == b'-' && b[7] == b'-' && b[..4].iter().all(u8::is_ascii_digit)
}

fn parse_wkt(text: &str) -> Result<Geometry<f64>, FilterError> {
    use std::str::FromStr;
    let w = wkt::Wkt::<f64>::from_str(text.trim())
        .map_err(|e| FilterError::Geography(e.to_string()))?;
    Geometry::try_from(w).map_err(|e| FilterError::Geography(e.to_string()))
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    depth: usize,
    nodes: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |(a, _)| *a)
    }

    fn syntax(&self, message: impl Into<String>) -> FilterError {
        FilterError::Syntax {
            message: message.into(),
            at: self.at(),
        }
    }

    fn keyword(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Ident(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn node(&mut self, e: Expr) -> Result<Expr, FilterError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(FilterError::TooManyTerms);
        }
        Ok(e)
    }

    fn enter(&mut self) -> Result<(), FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(FilterError::TooDeep);
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.enter()?;
        let mut left = self.and()?;
        while self.keyword() == Some("or") {
            self.pos += 1;
            let right = self.and()?;
            left = self.node(Expr::Binary(BinOp::Or, Box::new(left), Box::new(right)))?;
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.not()?;
        while self.keyword() == Some("and") {
            self.pos += 1;
            let right = self.not()?;
            left = self.node(Expr::Binary(BinOp::And, Box::new(left), Box::new(right)))?;
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, FilterError> {
        if self.keyword() == Some("not") {
            self.pos += 1;
            self.enter()?;
            let inner = self.not()?;
            self.depth -= 1;
            return self.node(Expr::Not(Box::new(inner)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, FilterError> {
        let left = self.additive()?;
        let op = match self.keyword() {
            Some("eq") => BinOp::Eq,
            Some("ne") => BinOp::Ne,
            Some("gt") => BinOp::Gt,
            Some("ge") => BinOp::Ge,
            Some("lt") => BinOp::Lt,
            Some("le") => BinOp::Le,
            _ => return Ok(left),
        };
        self.pos += 1;
        let right = self.additive()?;
        self.node(Expr::Binary(op, Box::new(left), Box::new(right)))
    }

    fn additive(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = match self.keyword() {
                Some("add") => BinOp::Add,
                Some("sub") => BinOp::Sub,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.multiplicative()?;
            left = self.node(Expr::Binary(op, Box::new(left), Box::new(right)))?;
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            let op = match self.keyword() {
                Some("mul") => BinOp::Mul,
                Some("div") => BinOp::Div,
                Some("mod") => BinOp::Mod,
                _ => return Ok(left),
            };
            self.pos += 1;
            let right = self.unary()?;
            left = self.node(Expr::Binary(op, Box::new(left), Box::new(right)))?;
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == Some(&Tok::Minus) {
            self.pos += 1;
            self.enter()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return self.node(Expr::Neg(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return Err(self.syntax("expression expected, found the end"));
        };
        self.pos += 1;
        let e = match tok {
            Tok::Open => {
                let inner = self.expr()?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.syntax("')' expected"));
                }
                self.pos += 1;
                return Ok(inner);
            }
            Tok::Num(n) => Expr::Literal(Val::Num(n)),
            Tok::Str(s) => Expr::Literal(Val::Str(s)),
            Tok::Time(t) => Expr::Literal(Val::Time(t)),
            Tok::Geom(g) => Expr::Literal(Val::Geom(g)),
            Tok::Ident(w) => match w.as_str() {
                "true" => Expr::Literal(Val::Bool(true)),
                "false" => Expr::Literal(Val::Bool(false)),
                "null" => Expr::Literal(Val::Null),
                "eq" | "ne" | "gt" | "ge" | "lt" | "le" | "and" | "or" | "add" | "sub" | "mul"
                | "div" | "mod" => {
                    self.pos -= 1;
                    return Err(self.syntax(format!("operand expected before '{w}'")));
                }
                _ if self.peek() == Some(&Tok::Open) => {
                    let func =
                        Func::lookup(&w).ok_or_else(|| FilterError::UnknownFunction(clip(&w)))?;
                    self.pos += 1;
                    self.enter()?;
                    let mut args = Vec::new();
                    if self.peek() != Some(&Tok::Close) {
                        loop {
                            args.push(self.expr()?);
                            match self.peek() {
                                Some(Tok::Comma) => self.pos += 1,
                                Some(Tok::Close) => break,
                                _ => return Err(self.syntax("',' or ')' expected")),
                            }
                        }
                    }
                    self.pos += 1;
                    self.depth -= 1;
                    let (min, max) = func.arity();
                    if args.len() < min || args.len() > max {
                        return Err(FilterError::Arity {
                            name: func.name().to_owned(),
                            expected: match (min, max) {
                                (0, 0) => "0",
                                (1, 1) => "1",
                                (2, 2) => "2",
                                _ => "2 or 3",
                            },
                            got: args.len(),
                        });
                    }
                    Expr::Call(func, args)
                }
                _ => {
                    let path: Vec<String> = w
                        .split('/')
                        .map(|s| {
                            if s == "@iot.id" {
                                "id".to_owned()
                            } else {
                                s.to_owned()
                            }
                        })
                        .collect();
                    if path.iter().any(|s| s.is_empty()) {
                        self.pos -= 1;
                        return Err(self.syntax(format!("'{}' is not a property path", clip(&w))));
                    }
                    Expr::Path(path)
                }
            },
            Tok::Close | Tok::Comma | Tok::Minus => {
                self.pos -= 1;
                return Err(self.syntax("operand expected"));
            }
        };
        self.node(e)
    }
}

impl Expr {
    pub fn parse(src: &str) -> Result<Expr, FilterError> {
        if src.len() > MAX_LENGTH {
            return Err(FilterError::TooLong);
        }
        let toks = lex(src)?;
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
            nodes: 0,
            end: src.len(),
        };
        let e = p.expr()?;
        if p.pos != p.toks.len() {
            return Err(p.syntax("operator or end expected"));
        }
        Ok(e)
    }

    /// Whether the filter holds for an entity: only a true result does (null is no match).
    pub fn matches(&self, entity: &dyn Resolve) -> bool {
        self.eval(entity, 0) == Val::Bool(true)
    }

    pub fn eval(&self, entity: &dyn Resolve, depth: usize) -> Val {
        // The parser bounds the depth; this guards trees built some other way.
        if depth > 4 * MAX_DEPTH {
            return Val::Null;
        }
        match self {
            Expr::Literal(v) => v.clone(),
            Expr::Path(p) => entity.resolve(p),
            Expr::Not(e) => match e.eval(entity, depth + 1) {
                Val::Bool(b) => Val::Bool(!b),
                _ => Val::Null,
            },
            Expr::Neg(e) => match e.eval(entity, depth + 1) {
                Val::Num(n) => Val::Num(-n),
                _ => Val::Null,
            },
            Expr::Binary(op, a, b) => {
                let a = a.eval(entity, depth + 1);
                // Short-circuit the logical operators.
                match (op, &a) {
                    (BinOp::And, Val::Bool(false)) => return Val::Bool(false),
                    (BinOp::Or, Val::Bool(true)) => return Val::Bool(true),
                    _ => {}
                }
                binary(*op, a, b.eval(entity, depth + 1))
            }
            Expr::Call(f, args) => {
                let args: Vec<Val> = args.iter().map(|a| a.eval(entity, depth + 1)).collect();
                call(*f, args)
            }
        }
    }

    /// The first path segment of every property the expression reads, for checking them
    /// against an entity type before running it.
    pub fn paths(&self, out: &mut Vec<Vec<String>>) {
        match self {
            Expr::Literal(_) => {}
            Expr::Path(p) => out.push(p.clone()),
            Expr::Not(e) | Expr::Neg(e) => e.paths(out),
            Expr::Binary(_, a, b) => {
                a.paths(out);
                b.paths(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.paths(out)),
        }
    }
}

/// A time string as a value (paths yield ISO 8601 text where the entity stores times as text).
fn as_time(v: &Val) -> Option<i64> {
    match v {
        Val::Time(t) => Some(*t),
        Val::Str(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc).timestamp_millis()),
        _ => None,
    }
}

fn compare(a: &Val, b: &Val) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Val::Num(x), Val::Num(y)) => x.partial_cmp(y),
        (Val::Str(x), Val::Str(y)) => Some(x.cmp(y)),
        (Val::Bool(x), Val::Bool(y)) => Some(x.cmp(y)),
        (Val::Time(_), _) | (_, Val::Time(_)) => as_time(a)?.partial_cmp(&as_time(b)?),
        // A numeric string property compared with a number (results given as text).
        (Val::Str(s), Val::Num(y)) => s.trim().parse::<f64>().ok()?.partial_cmp(y),
        (Val::Num(x), Val::Str(s)) => x.partial_cmp(&s.trim().parse::<f64>().ok()?),
        _ => None,
    }
}

fn binary(op: BinOp, a: Val, b: Val) -> Val {
    use std::cmp::Ordering::*;
    match op {
        BinOp::And => match (a, b) {
            (Val::Bool(x), Val::Bool(y)) => Val::Bool(x && y),
            _ => Val::Null,
        },
        BinOp::Or => match (a, b) {
            (Val::Bool(x), Val::Bool(y)) => Val::Bool(x || y),
            _ => Val::Null,
        },
        BinOp::Eq | BinOp::Ne => {
            let equal = match (&a, &b) {
                (Val::Null, Val::Null) => true,
                (Val::Null, _) | (_, Val::Null) => false,
                (Val::Geom(x), Val::Geom(y)) => x == y,
                _ => compare(&a, &b) == Some(Equal),
            };
            Val::Bool(equal == (op == BinOp::Eq))
        }
        BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => match compare(&a, &b) {
            Some(o) => Val::Bool(match op {
                BinOp::Gt => o == Greater,
                BinOp::Ge => o != Less,
                BinOp::Lt => o == Less,
                _ => o != Greater,
            }),
            None => Val::Null,
        },
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => match (a, b) {
            (Val::Num(x), Val::Num(y)) => Val::Num(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                _ => x % y,
            }),
            _ => Val::Null,
        },
    }
}

fn text(v: &Val) -> Option<&str> {
    match v {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

fn num(v: &Val) -> Option<f64> {
    match v {
        Val::Num(n) => Some(*n),
        _ => None,
    }
}

fn geom(v: &Val) -> Option<&Geometry<f64>> {
    match v {
        Val::Geom(g) => Some(g),
        _ => None,
    }
}

fn call(f: Func, a: Vec<Val>) -> Val {
    let opt = || -> Option<Val> {
        Some(match f {
            Func::Substringof => Val::Bool(text(&a[1])?.contains(text(&a[0])?)),
            Func::Contains => Val::Bool(text(&a[0])?.contains(text(&a[1])?)),
            Func::Endswith => Val::Bool(text(&a[0])?.ends_with(text(&a[1])?)),
            Func::Startswith => Val::Bool(text(&a[0])?.starts_with(text(&a[1])?)),
            Func::Length => Val::Num(text(&a[0])?.chars().count() as f64),
            Func::Indexof => {
                let (s, sub) = (text(&a[0])?, text(&a[1])?);
                Val::Num(match s.find(sub) {
                    Some(byte) => s[..byte].chars().count() as f64,
                    None => -1.0,
                })
            }
            Func::Substring => {
                let s = text(&a[0])?;
                let from = num(&a[1])?.max(0.0) as usize;
                let chars = s.chars().skip(from);
                Val::Str(match a.get(2) {
                    Some(n) => chars.take(num(n)?.max(0.0) as usize).collect(),
                    None => chars.collect(),
                })
            }
            Func::Tolower => Val::Str(text(&a[0])?.to_lowercase()),
            Func::Toupper => Val::Str(text(&a[0])?.to_uppercase()),
            Func::Trim => Val::Str(text(&a[0])?.trim().to_owned()),
            Func::Concat => Val::Str(format!("{}{}", text(&a[0])?, text(&a[1])?)),
            Func::Year
            | Func::Month
            | Func::Day
            | Func::Hour
            | Func::Minute
            | Func::Second
            | Func::Fractionalseconds
            | Func::Date
            | Func::Totaloffsetminutes => {
                let t = DateTime::<Utc>::from_timestamp_millis(as_time(&a[0])?)?;
                match f {
                    Func::Year => Val::Num(f64::from(t.year())),
                    Func::Month => Val::Num(f64::from(t.month())),
                    Func::Day => Val::Num(f64::from(t.day())),
                    Func::Hour => Val::Num(f64::from(t.hour())),
                    Func::Minute => Val::Num(f64::from(t.minute())),
                    Func::Second => Val::Num(f64::from(t.second())),
                    Func::Fractionalseconds => {
                        Val::Num(f64::from(t.timestamp_subsec_millis()) / 1000.0)
                    }
                    Func::Date => Val::Str(t.format("%Y-%m-%d").to_string()),
                    // Times are held in UTC.
                    _ => Val::Num(0.0),
                }
            }
            Func::Now => Val::Time(Utc::now().timestamp_millis()),
            Func::Mindatetime => Val::Time(i64::MIN),
            Func::Maxdatetime => Val::Time(i64::MAX),
            Func::Round => Val::Num(num(&a[0])?.round()),
            Func::Floor => Val::Num(num(&a[0])?.floor()),
            Func::Ceiling => Val::Num(num(&a[0])?.ceil()),
            Func::GeoDistance => {
                use geo::Distance;
                let (x, y) = (geom(&a[0])?, geom(&a[1])?);
                Val::Num(geo::Euclidean.distance(x, y))
            }
            Func::GeoLength => {
                use geo::{Euclidean, Length};
                Val::Num(match geom(&a[0])? {
                    Geometry::LineString(l) => Euclidean.length(l),
                    Geometry::MultiLineString(m) => Euclidean.length(m),
                    _ => 0.0,
                })
            }
            Func::StWithin => Val::Bool(geom(&a[0])?.is_within(geom(&a[1])?)),
            Func::GeoIntersects
            | Func::StEquals
            | Func::StDisjoint
            | Func::StTouches
            | Func::StOverlaps
            | Func::StCrosses
            | Func::StIntersects
            | Func::StContains => {
                let m = geom(&a[0])?.relate(geom(&a[1])?);
                Val::Bool(match f {
                    Func::StEquals => m.is_equal_topo(),
                    Func::StDisjoint => m.is_disjoint(),
                    Func::StTouches => m.is_touches(),
                    Func::StOverlaps => m.is_overlaps(),
                    Func::StCrosses => m.is_crosses(),
                    Func::StContains => m.is_contains(),
                    _ => m.is_intersects(),
                })
            }
        })
    };
    opt().unwrap_or(Val::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(path: &[String]) -> Val {
        match path
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["result"] => Val::Num(4.5),
            ["phenomenonTime"] => Val::Time(1_764_460_800_000), // 2025-11-30T00:00:00Z
            ["name"] => Val::Str("Sơn Đốc".into()),
            ["Datastream", "ObservedProperty", "name"] => Val::Str("Độ mặn".into()),
            ["location"] => Val::Geom(Box::new(Geometry::Point(
                geo_types::point!(x: 106.464, y: 10.054),
            ))),
            ["properties", "river"] => Val::Str("Hàm Luông".into()),
            _ => Val::Null,
        }
    }

    fn holds(src: &str) -> bool {
        Expr::parse(src)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
            .matches(&entity)
    }

    #[test]
    fn comparison_logic_and_arithmetic() {
        assert!(holds("result gt 4"));
        assert!(holds("result ge 4.5 and result le 4.5"));
        assert!(holds("not (result lt 4) or result eq 0"));
        assert!(!holds("result ne 4.5"));
        assert!(holds(
            "result mul 2 eq 9 and result sub 0.5 eq 4 and result div 2 eq 2.25"
        ));
        assert!(holds("result add 1 gt 5 and result mod 2 eq 0.5"));
        assert!(holds("-result lt 0"));
        assert!(holds("(result gt 1 or result lt 0) and name eq 'Sơn Đốc'"));
        assert!(!holds("missing gt 1"), "null compares as no match");
        assert!(holds("missing eq null"));
    }

    #[test]
    fn times_and_their_functions() {
        assert!(holds("phenomenonTime ge 2025-11-29T00:00:00Z"));
        assert!(holds("phenomenonTime eq 2025-11-30T07:00:00+07:00"));
        assert!(holds("year(phenomenonTime) eq 2025 and month(phenomenonTime) eq 11 and day(phenomenonTime) eq 30"));
        assert!(holds("hour(phenomenonTime) eq 0 and minute(phenomenonTime) eq 0 and second(phenomenonTime) eq 0"));
        assert!(holds(
            "phenomenonTime lt now() and phenomenonTime gt mindatetime()"
        ));
        assert!(holds("date(phenomenonTime) eq '2025-11-30'"));
    }

    #[test]
    fn strings_maths_and_navigation() {
        assert!(holds("startswith(name, 'Sơn') and endswith(name, 'Đốc')"));
        assert!(holds("substringof('n Đ', name) and contains(name, 'n Đ')"));
        assert!(holds("length(name) eq 7 and indexof(name, 'Đ') eq 4"));
        assert!(holds(
            "substring(name, 4) eq 'Đốc' and substring(name, 0, 3) eq 'Sơn'"
        ));
        assert!(holds("tolower(name) eq 'sơn đốc' and toupper('a') eq 'A'"));
        assert!(holds(
            "trim(' x ') eq 'x' and concat(name, '!') eq 'Sơn Đốc!'"
        ));
        assert!(holds(
            "round(result) eq 5 and floor(result) eq 4 and ceiling(result) eq 5"
        ));
        assert!(holds("Datastream/ObservedProperty/name eq 'Độ mặn'"));
        assert!(holds("properties/river eq 'Hàm Luông'"));
        assert!(holds("name eq 'O''Brien' or true"));
    }

    #[test]
    fn spatial_functions() {
        let area =
            "geography'POLYGON((106.4 10.0, 106.5 10.0, 106.5 10.1, 106.4 10.1, 106.4 10.0))'";
        assert!(holds(&format!("st_within(location, {area})")));
        assert!(holds(&format!("geo.intersects(location, {area})")));
        assert!(holds(&format!(
            "st_intersects(location, {area}) and st_contains({area}, location)"
        )));
        assert!(holds(&format!("not st_disjoint(location, {area})")));
        assert!(!holds(
            "st_within(location, geography'POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))')"
        ));
        assert!(holds(
            "geo.distance(location, geography'POINT(106.464 10.154)') lt 0.11"
        ));
        assert!(holds("geo.length(geography'LINESTRING(0 0, 3 4)') eq 5"));
        assert!(holds(
            "st_equals(location, geography'POINT(106.464 10.054)')"
        ));
        assert!(holds(
            "st_touches(geography'LINESTRING(0 0, 1 0)', geography'LINESTRING(1 0, 2 0)')"
        ));
        assert!(holds(
            "st_crosses(geography'LINESTRING(0 0, 2 2)', geography'LINESTRING(0 2, 2 0)')"
        ));
        assert!(holds("st_overlaps(geography'POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))', geography'POLYGON((1 1, 3 1, 3 3, 1 3, 1 1))')"));
    }

    #[test]
    fn hostile_and_broken_filters_are_named() {
        let deep = format!("{}result gt 1{}", "(".repeat(100), ")".repeat(100));
        assert_eq!(Expr::parse(&deep), Err(FilterError::TooDeep));
        let nots = format!("{}true", "not ".repeat(100));
        assert_eq!(Expr::parse(&nots), Err(FilterError::TooDeep));
        let negs = format!("{}1 eq 1", "-".repeat(100));
        assert_eq!(Expr::parse(&negs), Err(FilterError::TooDeep));
        let many = vec!["a gt 1"; 300].join(" or ");
        assert_eq!(Expr::parse(&many), Err(FilterError::TooManyTerms));
        assert_eq!(Expr::parse(&"a".repeat(5000)), Err(FilterError::TooLong));
        let nested_calls = format!("{}'x'{}", "tolower(".repeat(60), ")".repeat(60));
        assert_eq!(Expr::parse(&nested_calls), Err(FilterError::TooDeep));
        for bad in [
            "result gt",
            "gt 1",
            "(result gt 1",
            "result gt 1)",
            "name eq 'open",
            "frob(result)",
            "round(1, 2)",
            "result # 1",
            "2025-13-45T00:00:00Z eq phenomenonTime",
            "st_within(location, geography'POLYGON((0 0')",
            "a//b eq 1",
            "",
        ] {
            let e = Expr::parse(bad).unwrap_err();
            assert!(!e.to_string().is_empty(), "{bad}");
        }
        assert!(matches!(
            Expr::parse("frob(1)"),
            Err(FilterError::UnknownFunction(_))
        ));
    }
}
