//! `GET /query/point?lon=&lat=[&layers=][&radius_m=]`: every visible feature at (or within a
//! radius of) a point, across layers, nearest first — "what soil, land use, commune and road
//! is here". Answered by the layer sources ([`point_hits`]).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use cuulong_core::feature::Properties;
use cuulong_core::query::point_hits;

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
    let Some(s) = q.get(name).filter(|s| !crate::http::is_blank(s)) else {
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
        if !["lon", "lat", "layers", "radius_m", "datetime", "key"].contains(&k.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "'{}': unknown parameter (lon, lat, layers, radius_m, datetime)",
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
    // The admin units of that day (default: today's).
    let chosen = state.on_day(chosen, crate::tiles::datetime(&q)?);
    let hits = point_hits(&chosen, lon, lat, radius);
    let features: Vec<PointFeature> = hits
        .iter()
        .map(|(d, l, f)| {
            let meta = l.meta();
            if list.is_none() {
                state.audit_read(&caller, meta, "query/point");
            }
            PointFeature {
                layer: meta.id.as_str(),
                id: f.id,
                distance_m: (d * 100.0).round() / 100.0,
                title_vi: &meta.title_vi,
                title_en: &meta.title_en,
                properties: meta.schema.properties(&f.values),
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
