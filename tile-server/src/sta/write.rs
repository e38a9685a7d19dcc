//! `POST /sta/v1.1/Observations`, `POST /sta/v1.1/Datastreams(n)/Observations` and the
//! `CreateObservations` DataArray extension (STA v1.1 §14). Each reading is checked (number,
//! plausible range, not in the future, known datastream the key may write); the good ones are
//! stored durably, then acknowledged; a re-sent (datastream, time) is acknowledged again
//! without being stored twice.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use cuulong_core::access::Caller;
use cuulong_core::sta::{Catalog, Observation, Quality, Rejection};
use serde_json::{json, Value};

use super::{MAX_BATCH, MAX_BODY, PREFIX};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// One reading as sent, before it is checked.
pub struct Reading {
    pub datastream: i64,
    pub time: Option<DateTime<Utc>>,
    pub result: Value,
    pub quality: Quality,
}

fn time_of(v: &Value) -> Result<Option<DateTime<Utc>>, Rejection> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => {
            if s.contains('/') {
                return Err(Rejection::Malformed(
                    "phenomenonTime: intervals are not taken; give the instant".into(),
                ));
            }
            DateTime::parse_from_rfc3339(s.trim())
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    Rejection::Malformed(format!(
                        "phenomenonTime '{}' is not an ISO 8601 time with a zone",
                        s.chars().take(40).collect::<String>()
                    ))
                })
        }
        _ => Err(Rejection::Malformed(
            "phenomenonTime must be a string".into(),
        )),
    }
}

fn quality_of(v: Option<&Value>) -> Result<Quality, Rejection> {
    match v {
        None | Some(Value::Null) => Ok(Quality::Good),
        Some(Value::String(s)) => match s.as_str() {
            "good" => Ok(Quality::Good),
            "suspect" => Ok(Quality::Suspect),
            "bad" => Ok(Quality::Bad),
            _ => Err(Rejection::Malformed(
                "resultQuality: good, suspect or bad".into(),
            )),
        },
        _ => Err(Rejection::Malformed(
            "resultQuality must be a string".into(),
        )),
    }
}

fn datastream_ref(v: Option<&Value>) -> Option<i64> {
    v?.get("@iot.id")?.as_i64()
}

/// Checks readings against the network and the caller's grants: the observations to store,
/// and per reading its observation or why it was refused.
pub fn check_all(
    catalog: &Catalog,
    caller: &Caller,
    readings: Vec<Result<Reading, Rejection>>,
    now: DateTime<Utc>,
) -> Vec<Result<Observation, Rejection>> {
    // The caller's rights per datastream, decided once a request (batches hold thousands of
    // readings of a few datastreams).
    let mut rights: std::collections::HashMap<u32, (bool, bool)> = Default::default();
    readings
        .into_iter()
        .map(|r| {
            let r = r?;
            let mut o = catalog.check(r.datastream, r.time.unwrap_or(now), &r.result, now)?;
            o.quality = r.quality;
            let (sees, writes) = *rights.entry(o.datastream).or_insert_with(|| {
                catalog
                    .datastream(o.datastream)
                    .map_or((false, false), |d| {
                        let grant = format!("datastream:{}", d.id);
                        (
                            caller.may_see(d.access, &grant, d.owner.as_deref()),
                            caller.may_write_observations(d.id, d.access, d.owner.as_deref()),
                        )
                    })
            });
            if !sees {
                // A datastream the caller may not see does not exist for it.
                return Err(Rejection::UnknownDatastream(r.datastream));
            }
            if !writes {
                return Err(Rejection::Malformed(format!(
                    "this API key may not write to datastream {}",
                    o.datastream
                )));
            }
            Ok(o)
        })
        .collect()
}

/// Stores the accepted observations durably, then serves them. Counts what was new, re-sent
/// and refused.
pub async fn ingest(
    state: &AppState,
    checked: &[Result<Observation, Rejection>],
) -> Result<(), ApiError> {
    let good: Vec<Observation> = checked
        .iter()
        .filter_map(|r| r.as_ref().ok().copied())
        .collect();
    for r in checked {
        if let Err(e) = r {
            state.observations.counters.reject(e.reason());
        }
    }
    if good.is_empty() {
        return Ok(());
    }
    let stored = state.store.append_observations(&good).await.map_err(|e| {
        tracing::error!(error = %e, readings = good.len(), "could not store observations");
        ApiError::Store("could not store the observations; nothing of this request was kept".into())
    })?;
    let counters = &state.observations.counters;
    counters.accepted.fetch_add(stored, Ordering::Relaxed);
    counters.duplicates.fetch_add(
        good.len() as u64 - stored.min(good.len() as u64),
        Ordering::Relaxed,
    );
    state.observations.insert(&good);
    Ok(())
}

fn write_caller(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Anonymous => Err(ApiError::Unauthorized(
            "writing observations needs an API key with the scope observations:write".into(),
        )),
        Caller::Key { scopes, .. }
            if !scopes
                .iter()
                .any(|s| s.starts_with(cuulong_core::access::WRITE_OBSERVATIONS)) =>
        {
            Err(ApiError::Forbidden(
                "this API key may only read; writing needs the scope observations:write".into(),
            ))
        }
        _ => Ok(()),
    }
}

fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge(format!(
            "body: larger than {} MiB",
            MAX_BODY / (1024 * 1024)
        )),
        _ => ApiError::BadRequest(format!("body: {}", e.body_text())),
    })
}

fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(format!("body: not JSON: {e}")))
}

pub async fn post(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    headers: HeaderMap,
    Path(path): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    write_caller(&caller)?;
    // Until the network is loaded every datastream would look unknown.
    if !state.observations.is_loaded() {
        return Err(ApiError::NotReady);
    }
    let base = crate::http::base_url(state.public_url.as_deref(), &headers);
    let path = path.trim_matches('/');
    if path == "CreateObservations" {
        return create_observations(&state, caller, base, body_bytes(body)?).await;
    }
    let datastream_in_path = match path {
        "Observations" => None,
        p => {
            let id = p
                .strip_prefix("Datastreams(")
                .and_then(|r| r.strip_suffix(")/Observations"))
                .and_then(|id| id.parse::<i64>().ok());
            match id {
                Some(id) => Some(id),
                None => {
                    return Err(ApiError::BadRequest(format!(
                        "POST {PREFIX}/{}: only Observations are created here (POST \
                         {PREFIX}/Observations, {PREFIX}/Datastreams(id)/Observations or \
                         {PREFIX}/CreateObservations); the network of stations is set up with \
                         `cuulong observations setup`",
                        path.chars().take(60).collect::<String>()
                    )))
                }
            }
        }
    };
    // A body may be up to 32 MiB: parsed off the async threads.
    let body = body_bytes(body)?;
    let v = state
        .work
        .run(move |_: &cuulong_core::interrupt::Interrupt| parse_json(&body))
        .await?;
    let reading = (|| {
        let obj = v
            .as_object()
            .ok_or_else(|| Rejection::Malformed("the body must be a JSON object".into()))?;
        let datastream = datastream_in_path
            .or_else(|| datastream_ref(obj.get("Datastream")))
            .ok_or_else(|| {
                Rejection::Malformed("Datastream: {\"@iot.id\": n} is required".into())
            })?;
        Ok(Reading {
            datastream,
            time: time_of(obj.get("phenomenonTime").unwrap_or(&Value::Null))?,
            result: obj
                .get("result")
                .cloned()
                .ok_or_else(|| Rejection::Malformed("result is required".into()))?,
            quality: quality_of(obj.get("resultQuality"))?,
        })
    })();
    let catalog = state.observations.catalog.load_full();
    let checked = check_all(&catalog, &caller, vec![reading], Utc::now());
    ingest(&state, &checked).await?;
    match checked.into_iter().next() {
        Some(Ok(o)) => {
            let link = format!("{base}{PREFIX}/Observations({})", o.id());
            let ent = super::entity::Ent::Observation(o);
            let ctx = super::entity::Ctx {
                catalog: &catalog,
                caller: &caller,
                base: &base,
                observations: &state.observations,
            };
            let body = Value::Object(ctx.json(&ent, None));
            Ok((
                StatusCode::CREATED,
                [
                    (header::LOCATION, link),
                    (header::CONTENT_TYPE, "application/json".to_owned()),
                ],
                serde_json::to_vec(&body).unwrap_or_default(),
            )
                .into_response())
        }
        Some(Err(Rejection::UnknownDatastream(id))) => Err(ApiError::BadRequest(format!(
            "Datastream {id} does not exist"
        ))),
        Some(Err(e)) => Err(ApiError::BadRequest(format!("observation refused: {e}"))),
        None => Err(ApiError::Internal("no reading".into())),
    }
}

/// `CreateObservations`: up to 32 MiB of JSON and 200 000 readings, so parsing and checking
/// the body, and writing the answer's links, run on `Work` (off the async threads, a core at a
/// time); only storing them is async.
async fn create_observations(
    state: &AppState,
    caller: Caller,
    base: String,
    body: Bytes,
) -> Result<Response, ApiError> {
    let catalog = state.observations.catalog.load_full();
    let checked = state
        .work
        .run(move |_: &cuulong_core::interrupt::Interrupt| {
            let readings = data_arrays(&parse_json(&body)?)?;
            Ok::<_, ApiError>(check_all(&catalog, &caller, readings, Utc::now()))
        })
        .await?;
    ingest(state, &checked).await?;
    let links = state
        .work
        .run(move |_: &cuulong_core::interrupt::Interrupt| {
            let links: Vec<Value> = checked
                .iter()
                .map(|r| match r {
                    Ok(o) => json!(format!("{base}{PREFIX}/Observations({})", o.id())),
                    Err(e) => json!(format!("error: {e}")),
                })
                .collect();
            Ok::<_, ApiError>(serde_json::to_vec(&links).unwrap_or_default())
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        links,
    )
        .into_response())
}

/// The readings of a CreateObservations body (each, or why it is refused); a body that is not
/// the DataArray form at all is a 400, more than [`MAX_BATCH`] readings a 413.
fn data_arrays(v: &Value) -> Result<Vec<Result<Reading, Rejection>>, ApiError> {
    let groups = v.as_array().ok_or_else(|| {
        ApiError::BadRequest("CreateObservations: the body must be a JSON array".into())
    })?;
    let mut readings = Vec::new();
    for (g, group) in groups.iter().enumerate() {
        let datastream = datastream_ref(group.get("Datastream")).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "CreateObservations[{g}]: Datastream {{\"@iot.id\": n}} is required"
            ))
        })?;
        let components: Vec<&str> = group
            .get("components")
            .and_then(Value::as_array)
            .map(|c| c.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let at = |name: &str| components.iter().position(|c| *c == name);
        let (Some(time_at), Some(result_at)) = (at("phenomenonTime"), at("result")) else {
            return Err(ApiError::BadRequest(format!(
                "CreateObservations[{g}]: components must name phenomenonTime and result"
            )));
        };
        if let Some(c) = components.iter().find(|c| {
            !matches!(
                **c,
                "phenomenonTime"
                    | "result"
                    | "resultTime"
                    | "resultQuality"
                    | "FeatureOfInterest/id"
                    | "parameters"
                    | "validTime"
            )
        }) {
            return Err(ApiError::BadRequest(format!(
                "CreateObservations[{g}]: unknown component '{}'",
                c.chars().take(40).collect::<String>()
            )));
        }
        let quality_at = at("resultQuality");
        let rows = group
            .get("dataArray")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                ApiError::BadRequest(format!("CreateObservations[{g}]: dataArray is required"))
            })?;
        if readings.len() + rows.len() > MAX_BATCH {
            return Err(ApiError::TooLarge(format!(
                "CreateObservations: more than {MAX_BATCH} observations in one request"
            )));
        }
        for row in rows {
            readings.push((|| {
                let row = row
                    .as_array()
                    .filter(|r| r.len() == components.len())
                    .ok_or_else(|| {
                        Rejection::Malformed(format!(
                            "a dataArray row must list the {} components",
                            components.len()
                        ))
                    })?;
                Ok(Reading {
                    datastream,
                    time: time_of(&row[time_at])?,
                    result: row[result_at].clone(),
                    quality: quality_of(quality_at.map(|i| &row[i]))?,
                })
            })());
        }
    }
    Ok(readings)
}
