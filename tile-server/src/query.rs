//! `GET /query/point?lon=&lat=[&layers=][&radius_m=]`: every visible feature at (or within a
//! radius of) a point, across layers, nearest first — "what soil, land use, commune and road
//! is here". Answered from the in-memory R-trees.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::Json;
use cuulong_core::tile::to_mercator;
use cuulong_core::LayerId;
use geo::{Distance, Euclidean};

use crate::auth::{self, Auth};
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

pub async fn point(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
) -> Result<Json<serde_json::Value>, ApiError> {
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
    let visible = state.visible(&caller);
    let layers: Vec<_> = match q.get("layers") {
        Some(list) => list
            .split(',')
            .map(|id| {
                LayerId::parse(id)
                    .ok()
                    .and_then(|_| visible.get(id).cloned())
                    .ok_or_else(|| {
                        ApiError::NotFound(format!(
                            "layer '{}' does not exist",
                            id.chars().take(64).collect::<String>()
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
        None => visible.values().cloned().collect(),
    };
    let (x, y) = to_mercator(lon, lat);
    // Mercator stretches distances by 1/cos(lat): search that far in map units.
    let scale = lat.to_radians().cos();
    let r = radius / scale;
    // A little slack so points and lines exactly at the point are found.
    let pad = r.max(0.01);
    let p = geo_types::Point::new(x, y);
    let mut hits = Vec::new();
    for l in &layers {
        for (i, g) in l.query([x - pad, y - pad, x + pad, y + pad]) {
            let d = Euclidean.distance(&p, g) * scale;
            if d <= radius.max(1e-6) {
                hits.push((d, l.clone(), i));
            }
        }
    }
    hits.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.meta.id.cmp(&b.1.meta.id))
    });
    let features: Vec<serde_json::Value> = hits
        .iter()
        .map(|(d, l, i)| {
            auth::audit(&state, &caller, &l.meta, "query/point");
            let a = &l.features[*i];
            let props: serde_json::Map<String, serde_json::Value> = l
                .meta
                .schema
                .fields
                .iter()
                .zip(&a.values)
                .map(|(f, v)| (f.name.clone(), v.to_json()))
                .collect();
            serde_json::json!({
                "layer": l.meta.id, "id": a.id, "distance_m": (d * 100.0).round() / 100.0,
                "title_vi": l.meta.title_vi, "title_en": l.meta.title_en, "properties": props,
            })
        })
        .collect();
    Ok(Json(serde_json::json!({
        "lon": lon, "lat": lat, "radius_m": radius, "count": features.len(), "features": features,
    })))
}
