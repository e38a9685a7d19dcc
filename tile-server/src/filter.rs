//! CQL2 text filters (OGC API – Features Part 3) on the in-memory index. Parsed by the `cql2`
//! crate (the reference implementation behind the Python `cql2` package) and evaluated per
//! feature against its attributes and CRS84 geometry — no SQL anywhere. `S_DWITHIN`, which
//! the crate does not evaluate, is decided here (metres, geodesic-corrected Mercator) and
//! substituted before the crate reduces the rest.

use cql2::Expr;
use cuulong_core::source::FeatureRef;
use cuulong_core::tile::{geometry_to_lonlat, geometry_to_mercator, to_lonlat};
use cuulong_core::LayerMeta;
use geo::{Distance, Euclidean};

use crate::error::ApiError;

/// Names a filter may use for the feature geometry.
const GEOMETRY_NAMES: [&str; 3] = ["geometry", "geom", "the_geom"];

/// A parsed filter, checked against a layer's fields.
pub struct Filter {
    expr: Expr,
    spatial: bool,
    /// S_DWITHIN operands: (geometry in EPSG:3857, distance in metres), in tree order.
    dwithin: Vec<(geo_types::Geometry<f64>, f64)>,
}

fn bad(message: impl std::fmt::Display) -> ApiError {
    ApiError::BadRequest(format!("filter: {message}"))
}

/// Longest filter text, bytes.
pub const MAX_FILTER_BYTES: usize = 64 * 1024;
/// Deepest parenthesis nesting (geometry literals included: they need at most five).
pub const MAX_NESTING: usize = 20;
/// Most operators (AND, OR, NOT, comparisons, arithmetic, signs) outside geometry literals.
pub const MAX_OPERATORS: usize = 128;

/// Words that start a geometry literal when a parenthesis follows; their coordinates (signs
/// included) are not operators.
const GEOMETRY_WORDS: [&str; 9] = [
    "POINT",
    "LINESTRING",
    "POLYGON",
    "MULTIPOINT",
    "MULTILINESTRING",
    "MULTIPOLYGON",
    "GEOMETRYCOLLECTION",
    "BBOX",
    "ENVELOPE",
];

/// Refuses filter text whose parse or evaluation would recurse too deeply, before it reaches
/// the `cql2` crate: its parser, its Pratt reduction and its evaluator all recurse once per
/// nesting level and per chained operator, and a few hundred levels overflow a thread's stack
/// — which ends the whole process, not one request. Quoted strings and identifiers are skipped.
pub fn check_shape(text: &str) -> Result<(), ApiError> {
    if text.len() > MAX_FILTER_BYTES {
        return Err(ApiError::TooLarge(format!(
            "filter: longer than {MAX_FILTER_BYTES} bytes"
        )));
    }
    let b = text.as_bytes();
    let (mut depth, mut operators) = (0usize, 0usize);
    // The depth inside which a geometry literal's coordinates are.
    let mut geometry_at: Option<usize> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' => {
                // Quoted text ends at the next lone quote (a doubled one is an escape).
                i += 1;
                while i < b.len() {
                    if b[i] == c {
                        if b.get(i + 1) == Some(&c) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(bad(format!(
                        "parentheses nested deeper than {MAX_NESTING} levels"
                    )));
                }
            }
            b')' => {
                depth = depth.saturating_sub(1);
                if geometry_at.is_some_and(|g| depth < g) {
                    geometry_at = None;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' | b'=' | b'<' | b'>' | b'!'
                if geometry_at.is_none() =>
            {
                operators += 1;
            }
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = text[start..i].to_ascii_uppercase();
                if geometry_at.is_none() {
                    if matches!(word.as_str(), "AND" | "OR" | "NOT" | "DIV") {
                        operators += 1;
                    } else if GEOMETRY_WORDS.contains(&word.as_str()) {
                        // A geometry when its parenthesis follows (after Z, M, ZM).
                        let rest = text[i..].trim_start_matches(|ch: char| {
                            ch.is_ascii_whitespace() || matches!(ch, 'Z' | 'M' | 'z' | 'm')
                        });
                        if rest.starts_with('(') {
                            geometry_at = Some(depth + 1);
                        }
                    }
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if operators > MAX_OPERATORS {
        return Err(bad(format!(
            "more than {MAX_OPERATORS} operators (AND, OR, NOT, comparisons, arithmetic)"
        )));
    }
    Ok(())
}

/// Walks the expression: checks property names, renames geometry properties, collects
/// S_DWITHIN operands and notes whether any spatial operator is used.
fn check(
    e: &mut Expr,
    fields: &[&str],
    spatial: &mut bool,
    dwithin: &mut Vec<(geo_types::Geometry<f64>, f64)>,
) -> Result<(), ApiError> {
    match e {
        Expr::Property { property } => {
            if GEOMETRY_NAMES.contains(&property.as_str()) {
                *property = "geometry".into();
                *spatial = true;
            } else if property != "id" && !fields.contains(&property.as_str()) {
                return Err(bad(format!(
                    "unknown property '{}' (queryables: {})",
                    property.chars().take(64).collect::<String>(),
                    fields.join(", ")
                )));
            }
        }
        Expr::Operation { op, args } => {
            let lower = op.to_ascii_lowercase();
            if lower.starts_with("s_") || lower.starts_with("st_") || lower == "intersects" {
                *spatial = true;
            }
            if lower == "s_dwithin" || lower == "st_dwithin" || lower == "dwithin" {
                let [_, g, d, ..] = args.as_slice() else {
                    return Err(bad("S_DWITHIN needs a property, a geometry and a distance"));
                };
                let Expr::Geometry(g) = g.as_ref() else {
                    return Err(bad(
                        "S_DWITHIN's second argument must be a geometry literal",
                    ));
                };
                let Expr::Float(d) = d.as_ref() else {
                    return Err(bad("S_DWITHIN's distance must be a number (metres)"));
                };
                if !d.is_finite() || *d < 0.0 || *d > 100_000.0 {
                    return Err(bad("S_DWITHIN's distance must be 0–100000 metres"));
                }
                let wkt = g.to_wkt().map_err(bad)?;
                let geom: geo_types::Geometry<f64> = geozero::wkt::Wkt(wkt.as_str())
                    .to_geo()
                    .map_err(|e| bad(format!("S_DWITHIN geometry: {e}")))?;
                dwithin.push((geometry_to_mercator(&geom), *d));
            }
            for a in args.iter_mut() {
                check(a, fields, spatial, dwithin)?;
            }
        }
        Expr::Interval { interval: v } | Expr::BBox { bbox: v } | Expr::Array(v) => {
            for a in v.iter_mut() {
                check(a, fields, spatial, dwithin)?;
            }
        }
        Expr::Timestamp { timestamp: a } | Expr::Date { date: a } => {
            check(a, fields, spatial, dwithin)?
        }
        _ => {}
    }
    Ok(())
}

use geozero::ToGeo;

impl Filter {
    /// Parses `text` (cql2-text) for `layer`; errors name the problem and, for syntax, where.
    pub fn parse(text: &str, layer: &LayerMeta) -> Result<Filter, ApiError> {
        check_shape(text)?;
        let mut expr = cql2::parse_text(text).map_err(|e| {
            bad(format!(
                "not valid CQL2 text: {}",
                e.to_string().chars().take(400).collect::<String>()
            ))
        })?;
        let fields: Vec<&str> = layer
            .schema
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        let mut spatial = false;
        let mut dwithin = Vec::new();
        check(&mut expr, &fields, &mut spatial, &mut dwithin)?;
        Ok(Filter {
            expr,
            spatial,
            dwithin,
        })
    }

    /// Whether `feature` of `layer` passes; `Err` says why it could not be evaluated.
    pub fn matches(&self, layer: &LayerMeta, feature: &FeatureRef<'_>) -> Result<bool, String> {
        let mut record = serde_json::json!({
            "id": feature.id,
            "properties": serde_json::Value::Object(layer.schema.properties_json(&feature.values)),
        });
        if self.spatial {
            record["geometry"] =
                crate::http::geojson_geometry(&geometry_to_lonlat(&feature.geometry));
        }
        let mut expr = self.expr.clone();
        if !self.dwithin.is_empty() {
            let mut k = 0;
            substitute_dwithin(&mut expr, &self.dwithin, &mut k, &feature.geometry);
        }
        expr.matches(Some(&record)).map_err(|e| {
            format!(
                "cannot be evaluated: {}",
                e.to_string().chars().take(300).collect::<String>()
            )
        })
    }
}

/// Replaces each S_DWITHIN node by its truth value for one feature (EPSG:3857 geometry).
fn substitute_dwithin(
    e: &mut Expr,
    operands: &[(geo_types::Geometry<f64>, f64)],
    k: &mut usize,
    feature: &geo_types::Geometry<f64>,
) {
    if let Expr::Operation { op, args } = e {
        let lower = op.to_ascii_lowercase();
        if lower == "s_dwithin" || lower == "st_dwithin" || lower == "dwithin" {
            let (g, metres) = &operands[*k];
            *k += 1;
            // Mercator stretches by 1/cos(lat): scale back at the literal's latitude.
            let lat = geo::BoundingRect::bounding_rect(g)
                .map(|r| to_lonlat(r.center().x, r.center().y).1)
                .unwrap_or(0.0);
            let d = Euclidean.distance(feature, g) * lat.to_radians().cos();
            *e = Expr::Bool(d <= *metres);
            return;
        }
        for a in args.iter_mut() {
            substitute_dwithin(a, operands, k, feature);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        match check_shape(text) {
            Err(e) => e.to_string(),
            Ok(()) => panic!("accepted: {}", text.chars().take(80).collect::<String>()),
        }
    }

    #[test]
    fn deep_or_long_filters_are_refused_before_parsing_and_ordinary_ones_pass() {
        for ok in [
            "lu_code = 'LUC' AND area_m2 > 50000",
            "lu_code IN ('LUC','LUK','ONT','CLN','NTS','SON','DGT','TSC','BHK')",
            "S_INTERSECTS(geometry, POLYGON((-106.3 -10.2, -106.4 -10.2, -106.4 -10.3, -106.3 -10.2)))",
            "S_INTERSECTS(geometry, GEOMETRYCOLLECTION(MULTIPOLYGON(((1 1, 2 1, 2 2, 1 1)))))",
            "name LIKE '((((((((((((((((((((((((((((((((' AND \"odd (name\" = 1",
            "point = 1 AND polygon = 2",
        ] {
            let r = check_shape(ok);
            assert!(r.is_ok(), "{ok}: {r:?}");
        }
        let nested = format!("{}a=1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(refused(&nested).contains("deeper than 20"));
        let nots = format!("{}a=1", "NOT ".repeat(1000));
        assert!(refused(&nots).contains("more than 128 operators"));
        let signs = format!("a={}1", "-".repeat(5000));
        assert!(refused(&signs).contains("operators"));
        let chain = format!("a=1{}", " AND a=1".repeat(200));
        assert!(refused(&chain).contains("operators"));
        let functions = format!("{}1{}=1", "f(".repeat(100), ")".repeat(100));
        assert!(refused(&functions).contains("deeper"));
        // Signs inside a geometry literal do not count, but the words after it do.
        let after_geometry = format!(
            "S_INTERSECTS(geometry, POINT(-1 -1)){}",
            " OR a=1".repeat(100)
        );
        assert!(refused(&after_geometry).contains("operators"));
        let huge = "a".repeat(MAX_FILTER_BYTES + 1);
        assert!(matches!(check_shape(&huge), Err(ApiError::TooLarge(_))));
    }
}
