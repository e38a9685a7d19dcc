//! CQL2 text filters (OGC API – Features Part 3) on the in-memory index. Parsed by the `cql2`
//! crate (the reference implementation behind the Python `cql2` package) and evaluated per
//! feature against its attributes and CRS84 geometry — no SQL anywhere. `S_DWITHIN`, which
//! the crate does not evaluate, is decided here (metres, geodesic-corrected Mercator) and
//! substituted before the crate reduces the rest.

use cql2::Expr;
use cuulong_core::index::LayerIndex;
use cuulong_core::tile::{geometry_to_lonlat, geometry_to_mercator, to_lonlat};
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
    pub fn parse(text: &str, layer: &LayerIndex) -> Result<Filter, ApiError> {
        if text.len() > 100_000 {
            return Err(bad("longer than 100 000 characters"));
        }
        let mut expr = cql2::parse_text(text).map_err(|e| {
            bad(format!(
                "not valid CQL2 text: {}",
                e.to_string().chars().take(400).collect::<String>()
            ))
        })?;
        let fields: Vec<&str> = layer
            .meta
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

    /// Whether feature `i` of `layer` passes.
    pub fn matches(&self, layer: &LayerIndex, i: usize) -> Result<bool, ApiError> {
        let a = &layer.features[i];
        let mut record = serde_json::json!({
            "id": a.id,
            "properties": serde_json::Value::Object(layer.meta.schema.properties_json(&a.values)),
        });
        if self.spatial {
            record["geometry"] =
                crate::features::geojson_geometry(&geometry_to_lonlat(&layer.geometries[i]));
        }
        let mut expr = self.expr.clone();
        if !self.dwithin.is_empty() {
            let mut k = 0;
            substitute_dwithin(&mut expr, &self.dwithin, &mut k, &layer.geometries[i]);
        }
        expr.matches(Some(&record)).map_err(|e| {
            bad(format!(
                "cannot be evaluated: {}",
                e.to_string().chars().take(300).collect::<String>()
            ))
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
