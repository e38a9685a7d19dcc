//! The salinity endpoints (documented in `/api`):
//! - `GET /api/observations/{datastream}/aggregates?period=day|tide&from=&to=&limits=&f=csv`
//! - `GET /api/alerts?state=open|closed|all&station=&from=&to=&limit=&f=csv`
//! - `GET /api/salinity/fronts`: each estuary's stations, fronts and rice land seaward of the
//!   rice front, per commune
//! - `GET /api/salinity/zones?datetime=`: each station's zone (GeoJSON) and the land in it
//!
//! What a caller may not see does not exist for it: datastreams by the access rule, alerts by
//! their datastream, zones by their station's datastreams.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cuulong_core::interrupt::Interrupt;
use cuulong_core::sta::aggregate::{self, Aggregation, Bucket};
use cuulong_core::sta::iso_time;
use cuulong_core::tile::geometry_to_lonlat;
use geo::BooleanOps;
use serde_json::{json, Value};

use super::{as_multipolygon, exposure, Alert};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// The longest range one aggregates request may cover.
const MAX_RANGE_DAYS: i64 = 3 * 366;
/// Most alerts one request lists.
pub const MAX_ALERTS: usize = 10_000;

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn params(q: Params, allowed: &[&str]) -> Result<HashMap<String, String>, ApiError> {
    let Query(q) =
        q.map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
    for k in q.keys() {
        if k != "key" && !allowed.contains(&k.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown parameter '{}' (known: {})",
                k.chars().take(40).collect::<String>(),
                allowed.join(", ")
            )));
        }
    }
    Ok(q.into_iter()
        .filter(|(_, v)| !crate::http::is_blank(v))
        .collect())
}

fn time_param(name: &str, v: &str) -> Result<i64, ApiError> {
    DateTime::parse_from_rfc3339(v.trim())
        .map(|t| t.timestamp_millis())
        .or_else(|_| {
            crate::http::day_param(name, v).map(|d| {
                // A bare date is local midnight (UTC+7).
                d.and_hms_opt(0, 0, 0)
                    .map_or(0, |t| t.and_utc().timestamp_millis() - 7 * 3_600_000)
            })
        })
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: '{}' is not an RFC 3339 time or a date (YYYY-MM-DD)",
                v.chars().take(40).collect::<String>()
            ))
        })
}

fn format_param(q: &HashMap<String, String>) -> Result<bool, ApiError> {
    match q.get("f").map(String::as_str) {
        None | Some("json") => Ok(false),
        Some("csv") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "f: '{}' is not json or csv",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

fn csv_response(name: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response()
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(String::new, |v| format!("{v}"))
}

pub async fn aggregates(
    State(state): State<Arc<AppState>>,
    Path(datastream): Path<String>,
    q: Params,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    let q = params(q, &["period", "from", "to", "limits", "f"])?;
    let catalog = state.observations.catalog.load_full();
    let ds = datastream
        .parse::<u32>()
        .ok()
        .filter(|&id| state.observations.may_see(&caller, &catalog, id))
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "datastream '{}': no such datastream",
                datastream.chars().take(20).collect::<String>()
            ))
        })?;
    let d = catalog
        .datastream(ds)
        .ok_or_else(|| ApiError::NotFound("datastream: gone".into()))?;
    let p = catalog
        .property(d.property)
        .ok_or_else(|| ApiError::NotFound("datastream: its property is gone".into()))?;
    let station = catalog.thing(d.thing).map(|t| t.station.clone());
    let tidal = match q.get("period").map(String::as_str) {
        None | Some("day") => false,
        Some("tide") => true,
        Some(o) => {
            return Err(ApiError::BadRequest(format!(
                "period: '{}' is not day or tide",
                o.chars().take(20).collect::<String>()
            )))
        }
    };
    let csv = format_param(&q)?;
    // Limits: codes of the property's crop limits or numbers; all of its limits by default.
    let of_property: Vec<_> = catalog
        .limits
        .iter()
        .filter(|l| l.property == p.code)
        .collect();
    let mut limits: Vec<(String, f64)> = Vec::new();
    match q.get("limits") {
        None => limits.extend(of_property.iter().map(|l| (l.code.clone(), l.limit))),
        Some(list) => {
            for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if limits.len() >= 32 {
                    return Err(ApiError::BadRequest("limits: at most 32".into()));
                }
                match of_property.iter().find(|l| l.code == item) {
                    Some(l) => limits.push((l.code.clone(), l.limit)),
                    None => match item.parse::<f64>() {
                        Ok(v) if v.is_finite() => limits.push((item.to_owned(), v)),
                        _ => {
                            return Err(ApiError::BadRequest(format!(
                                "limits: '{}' is neither a limit of {} ({}) nor a number",
                                item.chars().take(20).collect::<String>(),
                                p.code,
                                of_property
                                    .iter()
                                    .map(|l| l.code.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )))
                        }
                    },
                }
            }
        }
    }
    let series = state.observations.series(ds);
    let latest = series.read().ok().and_then(|s| s.latest()).map(|l| l.0);
    let to = match q.get("to") {
        Some(v) => time_param("to", v)?,
        // The end of the local day (UTC+7) of the latest reading (or of now).
        None => {
            let t = latest.unwrap_or_else(|| Utc::now().timestamp_millis()) + 7 * 3_600_000;
            t - t.rem_euclid(86_400_000) + 86_400_000 - 7 * 3_600_000
        }
    };
    let from = match q.get("from") {
        Some(v) => time_param("from", v)?,
        None => to - 30 * 86_400_000,
    };
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to - from > MAX_RANGE_DAYS * 86_400_000 {
        return Err(ApiError::BadRequest(format!(
            "from, to: at most {MAX_RANGE_DAYS} days at once"
        )));
    }
    let agg = Aggregation::new(from, to, limits.iter().map(|l| l.1).collect());
    let buckets = state
        .work
        .run(move |_interrupt: &Interrupt| {
            let s = series.read().unwrap_or_else(|e| e.into_inner());
            Ok::<_, ApiError>(if tidal {
                aggregate::tidal(&s, &agg)
            } else {
                aggregate::daily(&s, &agg)
            })
        })
        .await?;
    let period = if tidal { "tide" } else { "day" };
    if csv {
        let mut out = String::from("start,end,count,flagged,min,max,max_at,mean,longest_gap_min");
        for (code, _) in &limits {
            let _ = write!(out, ",{}", csv_field(&format!("hours_above_{code}")));
        }
        out.push('\n');
        for b in &buckets {
            let _ = write!(
                out,
                "{},{},{},{},{},{},{},{},{}",
                iso_time(b.start_ms),
                iso_time(b.end_ms),
                b.count,
                b.flagged,
                num(b.min),
                num(b.max),
                b.max_at_ms.map(iso_time).unwrap_or_default(),
                num(b.mean),
                b.longest_gap_min
            );
            for h in &b.hours_above {
                let _ = write!(out, ",{h}");
            }
            out.push('\n');
        }
        return Ok(csv_response(&format!("datastream-{ds}-{period}"), out));
    }
    let bucket_json = |b: &Bucket| {
        let hours: serde_json::Map<String, Value> = limits
            .iter()
            .zip(&b.hours_above)
            .map(|((code, _), h)| (code.clone(), json!(h)))
            .collect();
        json!({
            "start": iso_time(b.start_ms),
            "end": iso_time(b.end_ms),
            "count": b.count,
            "flagged": b.flagged,
            "min": b.min,
            "max": b.max,
            "max_at": b.max_at_ms.map(iso_time),
            "mean": b.mean,
            "hours_above": hours,
            "longest_gap_min": b.longest_gap_min,
        })
    };
    let body = json!({
        "datastream": ds,
        "station": station.as_ref().map(|s| &s.code),
        "station_name": station.as_ref().map(|s| &s.name),
        "property": p.code,
        "unit": p.unit.symbol,
        "period": period,
        "from": iso_time(from),
        "to": iso_time(to),
        "utc_offset": "+07:00",
        "limits": limits.iter().map(|(c, v)| json!({"code": c, "value": v})).collect::<Vec<_>>(),
        "method": "good readings only; a reading stands for the time to the next good one, at most 1 h and not past its bucket; hours above count readings > the limit; tidal cycles run low water to low water (minima of the series smoothed over ±1 h, lowest within ±5 h)",
        "buckets": buckets.iter().map(bucket_json).collect::<Vec<_>>(),
    });
    Ok(axum::Json(body).into_response())
}

pub async fn alerts(
    State(state): State<Arc<AppState>>,
    q: Params,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    let q = params(q, &["state", "station", "from", "to", "limit", "f"])?;
    let csv = format_param(&q)?;
    let wanted = match q.get("state").map(String::as_str) {
        None | Some("all") => None,
        Some(s @ ("open" | "closed")) => Some(s.to_owned()),
        Some(o) => {
            return Err(ApiError::BadRequest(format!(
                "state: '{}' is not open, closed or all",
                o.chars().take(20).collect::<String>()
            )))
        }
    };
    let from = q.get("from").map(|v| time_param("from", v)).transpose()?;
    let to = q.get("to").map(|v| time_param("to", v)).transpose()?;
    let limit = match q.get("limit") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|&n| (1..=MAX_ALERTS).contains(&n))
            .ok_or_else(|| {
                ApiError::BadRequest(format!("limit: an integer from 1 to {MAX_ALERTS}"))
            })?,
    };
    let station = q.get("station").cloned();
    if station.as_ref().is_some_and(|s| s.chars().count() > 64) {
        return Err(ApiError::BadRequest(
            "station: a station code of at most 64 characters".into(),
        ));
    }
    // The history may hold tens of thousands of alerts: filtered off the async threads.
    let history = state.salinity.history();
    let work = state.clone();
    let (total, list) = state
        .work
        .run(move |_: &Interrupt| {
            let catalog = work.observations.catalog.load();
            let mut list: Vec<Arc<Alert>> = history
                .iter()
                .rev()
                .filter(|a| work.observations.may_see(&caller, &catalog, a.datastream))
                .filter(|a| wanted.as_deref().is_none_or(|w| a.state == w))
                .filter(|a| station.as_deref().is_none_or(|s| a.station == s))
                // Alerts that were open at some time in [from, to).
                .filter(|a| to.is_none_or(|t| a.opened_ms < t))
                .filter(|a| from.is_none_or(|f| a.closed_ms.is_none_or(|c| c > f)))
                .cloned()
                .collect();
            let total = list.len();
            list.truncate(limit);
            Ok::<_, ApiError>((total, list))
        })
        .await?;
    if csv {
        let mut out = String::from(
            "id,state,station,station_name,river,property,limit_code,limit_en,limit,close_below,opened_at,opened_value,closed_at,closed_value,peak,land_at_risk_ha,zone_communes\n",
        );
        for a in &list {
            let communes = a
                .exposure
                .as_ref()
                .map(|e| {
                    e.communes
                        .iter()
                        .map(|c| format!("{} ({:.1} ha)", c.name, c.total_ha))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default();
            let fields = [
                a.id.clone(),
                a.state.to_owned(),
                a.station.clone(),
                a.station_name.clone(),
                a.river.clone().unwrap_or_default(),
                a.property.clone(),
                a.limit_code.clone(),
                a.limit_en.clone(),
                a.limit.to_string(),
                a.close_below.to_string(),
                a.opened_at.clone(),
                a.opened_value.to_string(),
                a.closed_at.clone().unwrap_or_default(),
                num(a.closed_value),
                a.peak.to_string(),
                a.land_at_risk_ha
                    .map(|h| format!("{h:.2}"))
                    .unwrap_or_default(),
                communes,
            ];
            let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            out.push_str(&row.join(","));
            out.push('\n');
        }
        return Ok(csv_response("alerts", out));
    }
    let alerts: Vec<&Alert> = list.iter().map(|a| a.as_ref()).collect();
    Ok(axum::Json(json!({
        "numberMatched": total,
        "numberReturned": alerts.len(),
        "alerts": alerts,
    }))
    .into_response())
}

pub async fn fronts(
    State(state): State<Arc<AppState>>,
    q: Params,
    Auth(_): Auth,
) -> Result<Response, ApiError> {
    let _ = params(q, &[])?;
    let Some(loaded) = state.salinity.loaded.clone() else {
        return Err(ApiError::NotFound(
            "no salinity rules are configured (cuulong serve --salinity-rules FILE)".into(),
        ));
    };
    let fronts = state.salinity.fronts.load_full();
    // Measuring the rice land is not free: one answer per state of the fronts and the layers.
    let versions = {
        let layers = state.snapshot();
        let v = |id: &str| layers.get(id).map_or(-1, |l| l.meta().version);
        let s = &loaded.rules.settings;
        (v(&s.land_use_layer), v(&s.communes_layer))
    };
    if let Some(a) = state.salinity.fronts_answer.lock().ok().and_then(|a| {
        a.as_ref()
            .filter(|a| Arc::ptr_eq(&a.fronts, &fronts) && a.versions == versions)
            .map(|a| a.body.clone())
    }) {
        return Ok(axum::Json(a.as_ref().clone()).into_response());
    }
    let work = state.clone();
    let for_cache = fronts.clone();
    let body = state
        .work
        .run(move |interrupt: &Interrupt| {
            let settings = &loaded.rules.settings;
            let layers = work.snapshot();
            let (Some(land_use), Some(communes)) = (
                layers.get(&settings.land_use_layer).cloned(),
                layers.get(&settings.communes_layer).cloned(),
            ) else {
                return Err(ApiError::NotReady);
            };
            let class = land_use.meta().schema.index_of("lu_code");
            let code_field = communes.meta().schema.index_of("code");
            let name_field = communes.meta().schema.index_of("name");
            let mut out = Vec::new();
            for (e, f) in fronts.iter().enumerate() {
                let mut rice: BTreeMap<String, (String, f64)> = BTreeMap::new();
                let reach = loaded
                    .rules
                    .estuaries
                    .iter()
                    .position(|x| x.name == f.estuary)
                    .map(|i| &loaded.reaches[i]);
                if let (Some(reach), Some(front)) = (reach, f.rice_front.as_ref()) {
                    if front.status != cuulong_core::sta::front::FrontStatus::BelowSeawardStation
                    {
                        let zone = reach.zone(0.0, front.km, settings.zone_km);
                        for c in communes.in_envelope(mercator_bounds(&zone)) {
                            interrupt.check()?;
                            let part =
                                as_multipolygon(&geometry_to_lonlat(&c.geometry)).intersection(&zone);
                            if part.0.is_empty() {
                                continue;
                            }
                            let Some(m) = land_use.measure(&part, class, interrupt)? else {
                                continue;
                            };
                            let ha: f64 = m
                                .classes
                                .iter()
                                .filter(|(k, _)| settings.rice_land_use.contains(k))
                                .map(|(_, (ha, _))| ha)
                                .sum();
                            if ha > 0.0 {
                                let code = code_field.map_or_else(String::new, |i| c.values[i].to_string());
                                let name = name_field.map_or_else(String::new, |i| c.values[i].to_string());
                                let entry = rice.entry(code).or_insert((name, 0.0));
                                entry.1 += ha;
                            }
                        }
                    }
                }
                let _ = e;
                out.push(json!({
                    "estuary": f.estuary,
                    "estuary_en": f.estuary_en,
                    "length_km": f.length_km,
                    "source": f.source,
                    "stations": f.stations,
                    "fronts": f.fronts,
                    "rice_front": f.rice_front,
                    "rice_land_seaward_of_front": {
                        "distance_km": settings.zone_km,
                        "land_use": settings.rice_land_use,
                        "total_ha": rice.values().fold(0.0, |sum, v| sum + v.1),
                        "communes": rice.iter().map(|(code, (name, ha))| json!({"code": code, "name": name, "ha": ha})).collect::<Vec<_>>(),
                    },
                }));
            }
            Ok::<_, ApiError>(json!({
                "estuaries": out,
                "method": "each threshold's front lies between the most upstream station at or above it and the next station upstream, by linear interpolation of their latest good readings in distance along the estuary's centreline (hand-digitised); an approximation as good as the station spacing. Rice land: land-use classes of rice within distance_km of the centreline from the mouth up to the rice front, per commune of today.",
            }))
        })
        .await?;
    let body = Arc::new(body);
    if let Ok(mut a) = state.salinity.fronts_answer.lock() {
        *a = Some(super::FrontsAnswer {
            fronts: for_cache,
            versions,
            body: body.clone(),
        });
    }
    Ok(axum::Json(body.as_ref().clone()).into_response())
}

fn mercator_bounds(zone: &geo_types::MultiPolygon<f64>) -> [f64; 4] {
    use geo::BoundingRect;
    let Some(r) = zone.bounding_rect() else {
        return [0.0; 4];
    };
    let (x0, y0) = cuulong_core::tile::to_mercator(r.min().x, r.min().y);
    let (x1, y1) = cuulong_core::tile::to_mercator(r.max().x, r.max().y);
    [x0, y0, x1, y1]
}

pub async fn zones(
    State(state): State<Arc<AppState>>,
    q: Params,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    let q = params(q, &["datetime"])?;
    let day = match q.get("datetime") {
        Some(v) => crate::http::day_param("datetime", v)?,
        None => crate::temporal::today(),
    };
    let Some(loaded) = state.salinity.loaded.clone() else {
        return Err(ApiError::NotFound(
            "no salinity rules are configured (cuulong serve --salinity-rules FILE)".into(),
        ));
    };
    if !state.is_ready() {
        return Err(ApiError::NotReady);
    }
    let work = state.clone();
    let body = state
        .work
        .run(move |interrupt: &Interrupt| {
            let catalog = work.observations.catalog.load_full();
            let watched: Vec<u32> = catalog
                .properties
                .iter()
                .filter(|p| loaded.rules.rules.iter().any(|r| r.property == p.code))
                .map(|p| p.id)
                .collect();
            let mut features = Vec::new();
            for t in &catalog.things {
                // A station shows when the caller may see one of its watched datastreams.
                let visible = catalog.datastreams.iter().any(|d| {
                    d.thing == t.id
                        && watched.contains(&d.property)
                        && work.observations.may_see(&caller, &catalog, d.id)
                });
                if !visible {
                    continue;
                }
                let Some(e) = exposure(&work, &loaded, &catalog, t, day, interrupt)? else {
                    continue;
                };
                let geometry = geo_types::Geometry::MultiPolygon(e.zone.clone());
                features.push(json!({
                    "type": "Feature",
                    "id": t.station.code,
                    "geometry": crate::http::geojson_geometry(&geometry),
                    "properties": serde_json::to_value(&*e).unwrap_or_default(),
                }));
            }
            Ok::<_, ApiError>(json!({
                "type": "FeatureCollection",
                "datetime": day.to_string(),
                "features": features,
            }))
        })
        .await?;
    Ok(axum::Json(body).into_response())
}
