//! `POST /query/summary` (GeoJSON polygon body) or `?admin=CODE`: per layer and class, the
//! area (ha, geodesic on WGS 84) or length (km, geodesic) inside the polygon, clipped exactly.
//! The area is read and checked here; measuring is the layer source's
//! ([`LayerSource::measure`]).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use cuulong_core::access::Caller;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::LayerSource;
use cuulong_core::tile::geometry_to_lonlat;
use geo_types::{Geometry, MultiPolygon};
use geozero::ToGeo;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::{AppState, Layers};

/// Largest query polygon accepted: vertices, and extent in degrees.
const MAX_VERTICES: usize = 100_000;
const MAX_EXTENT_DEG: f64 = 5.0;

#[derive(serde::Deserialize)]
pub struct SummaryQuery {
    admin: Option<String>,
    layers: Option<String>,
    /// The day whose admin units to use (default today's).
    datetime: Option<String>,
    // Read by the middleware; named here so the query string is accepted.
    #[allow(dead_code)]
    key: Option<String>,
}

use cuulong_core::family::class_field;

pub async fn summary(
    State(state): State<Arc<AppState>>,
    q: Result<Query<SummaryQuery>, axum::extract::rejection::QueryRejection>,
    Auth(caller): Auth,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|e| match e.status() {
        axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::TooLarge("body: larger than the 2 MiB a query polygon may have".into())
        }
        _ => ApiError::BadRequest(format!("body: {}", e.body_text())),
    })?;
    let Query(q) =
        q.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    // An empty list is no list; layers named twice count once (and at most MAX_LAYERS),
    // before any work is done.
    let list = q.layers.filter(|l| !l.trim().is_empty());
    let day = q
        .datetime
        .as_deref()
        .filter(|v| !crate::http::is_blank(v))
        .map(|v| crate::http::day_param("datetime", v))
        .transpose()?;
    let chosen = list
        .as_deref()
        .map(|list| state.resolve(&caller, "layers", list, "query/summary"))
        .transpose()?
        .map(|c| state.on_day(c, day));
    let work = state.clone();
    let answer = state
        .work
        .run(move |interrupt| {
            let visible: Layers = work
                .visible(&caller)
                .iter()
                .map(|(id, l)| (id.clone(), work.on_day(vec![l.clone()], day).remove(0)))
                .collect();
            let (area, admin_layer) =
                read_area(q.admin.as_deref(), &body, &visible).map_err(|e| {
                    match (e, q.admin.as_deref()) {
                        (ApiError::NotFound(m), Some(code)) => {
                            ApiError::NotFound(other_days(&work, &caller, code, day, m))
                        }
                        (e, _) => e,
                    }
                })?;
            let layers = chosen.unwrap_or_else(|| measurable(&visible, admin_layer.as_deref()));
            let audit = list.is_none().then_some((&*work, &caller));
            let measured = measure_layers(&layers, &area, audit, interrupt)?;
            Ok::<_, ApiError>(serde_json::json!({
                "area_ha": area_ha(&area),
                "admin": q.admin,
                "datetime": day,
                "layers": measured,
            }))
        })
        .await?;
    Ok(Json(answer))
}

/// A unit not valid on the day asked may be valid on others: say when, so the caller can
/// ask with `datetime=`.
fn other_days(
    state: &AppState,
    caller: &Caller,
    code: &str,
    day: Option<chrono::NaiveDate>,
    message: String,
) -> String {
    let mut spans = Vec::new();
    for l in state.visible(caller).values() {
        let whole = state.whole(l);
        let m = whole.meta();
        let (Some(c), Some(f), Some(t)) = (
            m.schema.index_of("code"),
            m.schema.index_of("valid_from"),
            m.schema.index_of("valid_to"),
        ) else {
            continue;
        };
        for unit in whole
            .features()
            .filter(|u| u.values[c].as_str() == Some(code))
        {
            let d = |v: &cuulong_core::Value| match v {
                cuulong_core::Value::Date(d) => d.to_string(),
                _ => "…".into(),
            };
            spans.push(format!("{} to {}", d(&unit.values[f]), d(&unit.values[t])));
        }
    }
    if spans.is_empty() {
        return message;
    }
    let on = day.unwrap_or_else(crate::temporal::today);
    format!(
        "admin: no unit with code '{}' on {on}; it is valid {} (ask with datetime=)",
        code.chars().take(16).collect::<String>(),
        spans.join(", ")
    )
}

/// Every visible layer a summary measures when none is named: not points, not the admin
/// layer the area came from.
fn measurable(visible: &Layers, admin_layer: Option<&str>) -> Vec<Arc<dyn LayerSource>> {
    visible
        .values()
        .filter(|l| {
            let m = l.meta();
            Some(m.id.as_str()) != admin_layer
                && m.geometry_type != "Point"
                && m.geometry_type != "MultiPoint"
        })
        .cloned()
        .collect()
}

/// Each layer's measure inside `area`, by class, as the answer lists it. `audit`: the reads
/// to record when the caller did not name the layers.
fn measure_layers(
    layers: &[Arc<dyn LayerSource>],
    area: &MultiPolygon<f64>,
    audit: Option<(&AppState, &Caller)>,
    interrupt: &Interrupt,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut out = Vec::new();
    for l in layers {
        let m = l.meta();
        if let Some((state, caller)) = audit {
            state.audit_read(caller, m, "query/summary");
        }
        let class = class_field(m.family.as_deref()).and_then(|f| m.schema.index_of(f));
        let Some(measure) = l.measure(area, class, interrupt)? else {
            continue;
        };
        let total: f64 = measure.classes.values().map(|(v, _)| v).sum();
        out.push(serde_json::json!({
            "layer": m.id, "title_vi": m.title_vi, "title_en": m.title_en,
            "measure": if measure.is_area { "area_ha" } else { "length_km" },
            "class_field": class.map(|c| m.schema.fields[c].name.clone()),
            "total": total,
            "classes": measure.classes.iter().map(|(k, (v, n))| serde_json::json!({"class": k, "value": v, "features": n})).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}

fn area_ha(area: &MultiPolygon<f64>) -> f64 {
    use geo::orient::{Direction, Orient};
    use geo::GeodesicArea;
    // Oriented first: a clockwise ring would otherwise measure the rest of the globe.
    area.orient(Direction::Default).geodesic_area_unsigned() / 10_000.0
}

fn as_multipolygon(g: Geometry<f64>) -> Option<MultiPolygon<f64>> {
    match g {
        Geometry::Polygon(p) => Some(MultiPolygon(vec![p])),
        Geometry::MultiPolygon(mp) => Some(mp),
        _ => None,
    }
}

/// The area to summarise: an admin unit by code, or a GeoJSON (Multi)Polygon body, checked
/// (size, range, validity). With it, the id of the admin layer it came from.
fn read_area(
    admin: Option<&str>,
    body: &[u8],
    visible: &Layers,
) -> Result<(MultiPolygon<f64>, Option<String>), ApiError> {
    let (area, admin_layer) = match (admin, body.is_empty()) {
        (Some(code), true) => {
            let (g, layer) = admin_unit(code, visible)?;
            let area = as_multipolygon(g)
                .ok_or_else(|| ApiError::BadRequest("admin: the unit is not a polygon".into()))?;
            (area, Some(layer))
        }
        (None, false) => (polygon_body(body)?, None),
        (Some(_), false) => {
            return Err(ApiError::BadRequest(
                "give either admin=CODE or a GeoJSON polygon body, not both".into(),
            ))
        }
        (None, true) => {
            return Err(ApiError::BadRequest(
                "body: a GeoJSON polygon is required (or admin=CODE)".into(),
            ))
        }
    };
    check_area(&area)?;
    Ok((area, admin_layer))
}

/// The geometry (lon/lat) of the admin unit with `code`, and its layer's id.
fn admin_unit(code: &str, visible: &Layers) -> Result<(Geometry<f64>, String), ApiError> {
    visible
        .values()
        .filter(|l| l.meta().family.as_deref() == Some("admin"))
        .find_map(|l| {
            let code_idx = l.meta().schema.index_of("code")?;
            let unit = l
                .features()
                .find(|f| f.values[code_idx].as_str() == Some(code))?;
            Some((geometry_to_lonlat(&unit.geometry), l.meta().id.to_string()))
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "admin: no unit with code '{}'",
                code.chars().take(16).collect::<String>()
            ))
        })
}

fn polygon_body(body: &[u8]) -> Result<MultiPolygon<f64>, ApiError> {
    let text =
        std::str::from_utf8(body).map_err(|_| ApiError::BadRequest("body: not UTF-8".into()))?;
    let v: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("body: not JSON: {e}")))?;
    let geom_json = if v["type"] == "Feature" {
        v["geometry"].clone()
    } else {
        v
    };
    let g: Geometry<f64> = geozero::geojson::GeoJson(&geom_json.to_string())
        .to_geo()
        .map_err(|e| ApiError::BadRequest(format!("body: not a GeoJSON geometry: {e}")))?;
    as_multipolygon(g).ok_or_else(|| {
        ApiError::BadRequest("body: the geometry must be a Polygon or MultiPolygon".into())
    })
}

fn check_area(area: &MultiPolygon<f64>) -> Result<(), ApiError> {
    use geo::{Area, BoundingRect, CoordsIter};
    if area.coords_count() > MAX_VERTICES {
        return Err(ApiError::BadRequest(format!(
            "body: polygon too large (more than {MAX_VERTICES} vertices)"
        )));
    }
    let rect = area
        .bounding_rect()
        .ok_or_else(|| ApiError::BadRequest("body: empty polygon".into()))?;
    if rect.min().x < -180.0 || rect.max().x > 180.0 || rect.min().y < -85.0 || rect.max().y > 85.0
    {
        return Err(ApiError::BadRequest(
            "body: coordinates out of range (lon/lat, CRS84)".into(),
        ));
    }
    if rect.width() > MAX_EXTENT_DEG || rect.height() > MAX_EXTENT_DEG {
        return Err(ApiError::BadRequest(format!(
            "body: polygon too large (over {MAX_EXTENT_DEG}° across)"
        )));
    }
    if !geo::Validation::is_valid(area) || area.unsigned_area() == 0.0 {
        return Err(ApiError::BadRequest(
            "body: invalid polygon (self-intersecting, unclosed or empty)".into(),
        ));
    }
    Ok(())
}
