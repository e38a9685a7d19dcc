//! `GET /query/point?lon=&lat=[&layers=][&radius_m=]`: every visible feature at (or within a
//! radius of) a point, across layers, nearest first — "what soil, land use, commune and road
//! is here". Answered from the in-memory R-trees.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cuulong_core::feature::Properties;
use cuulong_core::index::LayerIndex;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::query::point_hits;
use cuulong_core::tile::{geometry_to_lonlat, to_mercator};
use geozero::ToGeo;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The largest search radius, metres.
pub const MAX_RADIUS_M: f64 = 10_000.0;

fn number(
    q: &HashMap<String, String>,
    name: &str,
    range: std::ops::RangeInclusive<f64>,
) -> Result<Option<f64>, ApiError> {
    let Some(s) = q.get(name) else {
        return Ok(None);
    };
    let v: f64 = s.trim().parse().map_err(|_| {
        ApiError::BadRequest(format!(
            "{name}: '{}' is not a number",
            s.chars().take(32).collect::<String>()
        ))
    })?;
    if !v.is_finite() || !range.contains(&v) {
        return Err(ApiError::BadRequest(format!(
            "{name}: {v} is out of range {}–{}",
            range.start(),
            range.end()
        )));
    }
    Ok(Some(v))
}

/// The answer of `/query/point`, serialised straight from the index (no JSON tree).
#[derive(serde::Serialize)]
struct PointAnswer<'a> {
    lon: f64,
    lat: f64,
    radius_m: f64,
    count: usize,
    features: Vec<PointFeature<'a>>,
}

#[derive(serde::Serialize)]
struct PointFeature<'a> {
    layer: &'a str,
    id: i64,
    distance_m: f64,
    title_vi: &'a str,
    title_en: &'a str,
    properties: Properties<'a>,
}

pub async fn point(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    for k in q.keys() {
        if !["lon", "lat", "layers", "radius_m", "key"].contains(&k.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "'{}': unknown parameter (lon, lat, layers, radius_m)",
                k.chars().take(32).collect::<String>()
            )));
        }
    }
    let lon = number(&q, "lon", -180.0..=180.0)?
        .ok_or_else(|| ApiError::BadRequest("lon: required".into()))?;
    let lat = number(&q, "lat", -85.0..=85.0)?
        .ok_or_else(|| ApiError::BadRequest("lat: required".into()))?;
    let radius = number(&q, "radius_m", 0.0..=MAX_RADIUS_M)?.unwrap_or(0.0);
    // An empty list is no list: every visible layer.
    let list = q.get("layers").filter(|l| !l.trim().is_empty());
    let chosen = match list {
        Some(list) => state.resolve(&caller, "layers", list, "query/point")?,
        None => state.visible(&caller).values().cloned().collect(),
    };
    let layers: Vec<&LayerIndex> = chosen.iter().map(|l| &**l).collect();
    let hits = point_hits(&layers, lon, lat, radius);
    let features: Vec<PointFeature> = hits
        .iter()
        .map(|(d, l, i)| {
            if list.is_none() {
                state.audit_read(&caller, &l.meta, "query/point");
            }
            let a = &l.features[*i];
            PointFeature {
                layer: l.meta.id.as_str(),
                id: a.id,
                distance_m: (d * 100.0).round() / 100.0,
                title_vi: &l.meta.title_vi,
                title_en: &l.meta.title_en,
                properties: l.meta.schema.properties(&a.values),
            }
        })
        .collect();
    let answer = PointAnswer {
        lon,
        lat,
        radius_m: radius,
        count: features.len(),
        features,
    };
    // Written in one go from the borrowed index; axum's Json would do the same, but the
    // answer borrows `hits`, which a returned `Json` could not outlive.
    let body =
        serde_json::to_vec(&answer).map_err(|e| ApiError::Internal(format!("query/point: {e}")))?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// The attribute a family's statistics are grouped by.
fn class_field(family: Option<&str>) -> Option<&'static str> {
    match family? {
        "land_use" => Some("lu_code"),
        "soil" => Some("soil_group"),
        "transport" => Some("road_class"),
        "hydrology" => Some("kind"),
        "admin" => Some("level"),
        _ => None,
    }
}

/// Largest query polygon accepted: vertices, and extent in degrees.
const MAX_VERTICES: usize = 100_000;
const MAX_EXTENT_DEG: f64 = 5.0;

#[derive(serde::Deserialize)]
pub struct SummaryQuery {
    admin: Option<String>,
    layers: Option<String>,
    key: Option<String>,
}

fn as_multipolygon(g: geo_types::Geometry<f64>) -> Option<geo_types::MultiPolygon<f64>> {
    match g {
        geo_types::Geometry::Polygon(p) => Some(geo_types::MultiPolygon(vec![p])),
        geo_types::Geometry::MultiPolygon(mp) => Some(mp),
        _ => None,
    }
}

/// `POST /query/summary` (GeoJSON polygon body) or `?admin=CODE`: per layer and class, the
/// area (ha, geodesic on WGS 84) or length (km, geodesic) inside the polygon, clipped exactly.
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
    // An empty list is no list; layers named twice count once (and at most MAX_LAYERS), before any work is done.
    let Query(mut q) =
        q.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    q.layers = q.layers.filter(|l| !l.trim().is_empty());
    let chosen = q
        .layers
        .as_deref()
        .map(|list| state.resolve(&caller, "layers", list, "query/summary"))
        .transpose()?;
    let work = state.clone();
    let answer = state
        .work
        .run(move |interrupt| measure(&work, &caller, &q, &body, chosen, interrupt))
        .await?;
    Ok(Json(answer))
}

/// The work of `/query/summary`, off the async workers: find the area, clip every candidate
/// feature of each layer to it and sum by class.
fn measure(
    state: &AppState,
    caller: &cuulong_core::access::Caller,
    q: &SummaryQuery,
    body: &[u8],
    chosen: Option<Vec<Arc<LayerIndex>>>,
    interrupt: &Interrupt,
) -> Result<serde_json::Value, ApiError> {
    use geo::orient::{Direction, Orient};
    use geo::{Area, BooleanOps, BoundingRect, CoordsIter, Geodesic, GeodesicArea, Length};
    let _ = &q.key;
    let visible = state.visible(caller);
    let (area, admin_layer) = match (&q.admin, body.is_empty()) {
        (Some(code), true) => {
            let hit = visible
                .values()
                .filter(|l| l.meta.family.as_deref() == Some("admin"))
                .find_map(|l| {
                    let code_idx = l.meta.schema.index_of("code")?;
                    let i = l
                        .features
                        .iter()
                        .position(|a| a.values[code_idx].as_str() == Some(code.as_str()))?;
                    Some((geometry_to_lonlat(&l.geometries[i]), l.meta.id.to_string()))
                });
            let (g, layer) = hit.ok_or_else(|| {
                ApiError::NotFound(format!(
                    "admin: no unit with code '{}'",
                    code.chars().take(16).collect::<String>()
                ))
            })?;
            (
                as_multipolygon(g).ok_or_else(|| {
                    ApiError::BadRequest("admin: the unit is not a polygon".into())
                })?,
                Some(layer),
            )
        }
        (None, false) => {
            let text = std::str::from_utf8(body)
                .map_err(|_| ApiError::BadRequest("body: not UTF-8".into()))?;
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| ApiError::BadRequest(format!("body: not JSON: {e}")))?;
            let geom_json = if v["type"] == "Feature" {
                v["geometry"].clone()
            } else {
                v
            };
            let g: geo_types::Geometry<f64> = geozero::geojson::GeoJson(&geom_json.to_string())
                .to_geo()
                .map_err(|e| ApiError::BadRequest(format!("body: not a GeoJSON geometry: {e}")))?;
            (
                as_multipolygon(g).ok_or_else(|| {
                    ApiError::BadRequest(
                        "body: the geometry must be a Polygon or MultiPolygon".into(),
                    )
                })?,
                None,
            )
        }
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
    if !geo::Validation::is_valid(&area) || area.unsigned_area() == 0.0 {
        return Err(ApiError::BadRequest(
            "body: invalid polygon (self-intersecting, unclosed or empty)".into(),
        ));
    }
    let layers: Vec<_> = match chosen {
        Some(layers) => layers,
        None => visible
            .values()
            .filter(|l| {
                Some(l.meta.id.to_string()) != admin_layer
                    && l.meta.geometry_type != "Point"
                    && l.meta.geometry_type != "MultiPoint"
            })
            .cloned()
            .collect(),
    };
    let (x0, y0) = to_mercator(rect.min().x, rect.min().y);
    let (x1, y1) = to_mercator(rect.max().x, rect.max().y);
    let mut out = Vec::new();
    for l in &layers {
        if q.layers.is_none() {
            state.audit_read(caller, &l.meta, "query/summary");
        }
        let class_idx =
            class_field(l.meta.family.as_deref()).and_then(|f| l.meta.schema.index_of(f));
        let mut classes: std::collections::BTreeMap<String, (f64, usize)> = Default::default();
        let mut is_area = None;
        for (n, (i, g)) in l.query([x0, y0, x1, y1]).enumerate() {
            if n % 32 == 0 {
                interrupt.check()?;
            }
            let g = geometry_to_lonlat(g);
            let value = match &g {
                geo_types::Geometry::Polygon(_) | geo_types::Geometry::MultiPolygon(_) => {
                    is_area = Some(true);
                    let mp = as_multipolygon(g).unwrap_or_else(|| geo_types::MultiPolygon(vec![]));
                    mp.intersection(&area).geodesic_area_unsigned() / 10_000.0
                }
                geo_types::Geometry::LineString(_) | geo_types::Geometry::MultiLineString(_) => {
                    is_area.get_or_insert(false);
                    let mls = match g {
                        geo_types::Geometry::LineString(ls) => geo_types::MultiLineString(vec![ls]),
                        geo_types::Geometry::MultiLineString(m) => m,
                        _ => unreachable!("matched above"),
                    };
                    area.clip(&mls, false)
                        .0
                        .iter()
                        .map(|ls| Geodesic.length(ls))
                        .sum::<f64>()
                        / 1000.0
                }
                _ => continue,
            };
            if value <= 0.0 {
                continue;
            }
            let class =
                class_idx.map_or_else(|| "all".to_owned(), |c| l.features[i].values[c].to_string());
            let e = classes.entry(class).or_default();
            e.0 += value;
            e.1 += 1;
        }
        let Some(is_area) = is_area else { continue };
        let unit = if is_area { "area_ha" } else { "length_km" };
        let total: f64 = classes.values().map(|(v, _)| v).sum();
        out.push(serde_json::json!({
            "layer": l.meta.id, "title_vi": l.meta.title_vi, "title_en": l.meta.title_en,
            "measure": unit, "class_field": class_idx.map(|c| l.meta.schema.fields[c].name.clone()),
            "total": total,
            "classes": classes.iter().map(|(k, (v, n))| serde_json::json!({"class": k, "value": v, "features": n})).collect::<Vec<_>>(),
        }));
    }
    Ok(serde_json::json!({
        // Oriented first: a clockwise ring would otherwise measure the rest of the globe.
        "area_ha": area.orient(Direction::Default).geodesic_area_unsigned() / 10_000.0,
        "admin": q.admin,
        "layers": out,
    }))
}
