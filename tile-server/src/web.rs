//! Styles, the web map page and its assets, layer list, change events, health and readiness.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use cuulong_core::LayerId;
use futures::Stream;

use crate::auth::{recheck as recheck_key, Auth, PresentedKey};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(serde::Deserialize)]
pub struct StyleQuery {
    layer: Option<String>,
}

/// `GET /styles/{name}.json`: a style of the served set (`styles/`), with `{{base}}` (and for the generic
/// style `{{layers}}`/`{{layer}}`) filled in.
pub async fn style(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    Query(q): Query<StyleQuery>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = file
        .strip_suffix(".json")
        .filter(|n| !n.is_empty() && n.len() <= 64)
        .filter(|n| {
            n.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        })
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no style '{}'",
                file.chars().take(64).collect::<String>()
            ))
        })?;
    // The same set WMS draws with (not the file as it is now on disk).
    let text = state
        .styles
        .load()
        .text(name)
        .ok_or_else(|| ApiError::NotFound(format!("no style '{name}'")))?
        .to_owned();
    let mut text = text.replace("{{base}}", &state.base_url(&headers));
    if text.contains("{{layer") {
        let layer = q.layer.ok_or_else(|| {
            ApiError::BadRequest(format!("layer: style '{name}' needs ?layer=ID"))
        })?;
        LayerId::parse(&layer).map_err(ApiError::BadRequest)?;
        if !state.visible(&caller).contains_key(&layer) {
            return Err(ApiError::NotFound(format!(
                "layer '{layer}' does not exist"
            )));
        }
        text = text
            .replace("{{layers}}", &layer)
            .replace("{{layer}}", &layer);
    }
    // Layers the caller may not see, or that are not served (a live layer before the
    // observation network is set up), leave the style.
    let visible = state.visible(&caller);
    text = restrict_style(&text, &state.base_url(&headers), &|id| {
        visible.contains_key(id)
    })?;
    Ok(([(header::CONTENT_TYPE, "application/json")], text).into_response())
}

/// Removes from a style what the caller may not see: ids from the cuulong tile source URLs,
/// style layers of those layers, and their metadata entries — so the style works for them.
fn restrict_style(
    text: &str,
    base: &str,
    visible: &dyn Fn(&str) -> bool,
) -> Result<String, ApiError> {
    let mut style: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ApiError::Internal(format!("style is not JSON: {e}")))?;
    let prefix = format!("{base}/tiles/");
    let mut dropped_sources = Vec::new();
    if let Some(sources) = style["sources"].as_object_mut() {
        for (name, src) in sources.iter_mut() {
            let Some(url) = src["url"].as_str() else {
                continue;
            };
            let Some(list) = url
                .strip_prefix(&prefix)
                .and_then(|u| u.strip_suffix(".json"))
            else {
                continue;
            };
            let kept: Vec<&str> = list.split(',').filter(|id| visible(id)).collect();
            if kept.is_empty() {
                dropped_sources.push(name.clone());
            } else {
                src["url"] = format!("{prefix}{}.json", kept.join(",")).into();
            }
        }
        for name in &dropped_sources {
            sources.remove(name);
        }
    }
    if let Some(layers) = style["layers"].as_array_mut() {
        layers.retain(|l| {
            let source_ok = l["source"]
                .as_str()
                .is_none_or(|s| !dropped_sources.iter().any(|d| d == s));
            let layer_ok = l["source-layer"].as_str().is_none_or(visible);
            source_ok && layer_ok
        });
    }
    if let Some(ids) = style["metadata"]["cuulong:layers"].as_array_mut() {
        ids.retain(|id| id.as_str().is_none_or(visible));
    }
    serde_json::to_string(&style).map_err(|e| ApiError::Internal(e.to_string()))
}

/// `GET /map`: the web map page.
pub async fn map_page(State(state): State<Arc<AppState>>) -> Result<Html<String>, ApiError> {
    let path = state.web_dir.join("map.html");
    tokio::fs::read_to_string(&path)
        .await
        .map(Html)
        .map_err(|e| ApiError::Internal(format!("{}: {e}", path.display())))
}

/// `GET /layers.json`: the loaded layers with their metadata.
pub async fn layers(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
) -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = state
        .visible(&caller)
        .values()
        .map(|l| {
            let m = l.meta();
            serde_json::json!({
                "id": m.id, "title_vi": m.title_vi, "title_en": m.title_en, "family": m.family,
                "geometry_type": m.geometry_type, "version": m.version,
                "feature_count": m.feature_count, "bbox": m.bbox.map(|b| b.0),
                "licence": m.licence, "owner": m.owner,
            })
        })
        .collect();
    Json(serde_json::Value::Array(list))
}

/// How often an open event stream re-checks its key (a revoked or expired key is cut off
/// within this, as every other endpoint refuses it at once).
const RECHECK_EVERY: Duration = Duration::from_millis(250);

/// Holds one of the event-stream slots until the stream ends.
struct StreamSlot(Arc<AppState>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0
            .event_streams
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// `GET /events`: Server-Sent Events, one `layer` event per layer version change, about the
/// layers the caller may see at that moment. The stream re-checks its key on every event and
/// every quarter second: once the key is revoked or expired it sends `error` and ends. Streams
/// count against `--max-event-streams`.
pub async fn events(
    State(state): State<Arc<AppState>>,
    Auth(_): Auth,
    PresentedKey(key): PresentedKey,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let open = state
        .event_streams
        .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    let slot = StreamSlot(state.clone());
    if open >= state.max_event_streams {
        return Err(ApiError::Busy);
    }
    let mut rx = state.events.subscribe();
    let mut observations = state.observations.events.subscribe();
    let mut alerts = state.salinity.events.subscribe();
    let mut shutdown = state.shutdown.subscribe();
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    enum Next {
        Layer(Result<crate::state::LayerEvent, RecvError>),
        Observation(Result<crate::sta::ObservationEvent, RecvError>),
        Alert(Box<Result<crate::salinity::AlertEvent, RecvError>>),
        Recheck,
    }
    use tokio::sync::broadcast::error::RecvError;
    let stream = async_stream::stream! {
        let _slot = slot;
        yield Ok(Event::default().event("hello").data("{}"));
        loop {
            let next = tokio::select! {
                r = rx.recv() => Next::Layer(r),
                r = observations.recv() => Next::Observation(r),
                r = alerts.recv() => Next::Alert(Box::new(r)),
                _ = recheck.tick() => Next::Recheck,
                // End the stream on shutdown so graceful shutdown does not wait for clients.
                _ = shutdown.wait_for(|s| *s) => break,
            };
            // Who the caller is now: grants may have changed, the key may be gone.
            let Some(caller) = recheck_key(&state, key.as_deref()) else {
                yield Ok(Event::default().event("error").data(
                    r#"{"code":"InvalidApiKey","description":"the API key was revoked or has expired"}"#,
                ));
                break;
            };
            match next {
                Next::Recheck => {}
                Next::Layer(Ok(ev)) => {
                    // Only about layers this caller may see (now).
                    if !state.visible(&caller).contains_key(&ev.layer) {
                        continue;
                    }
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    yield Ok(Event::default().event("layer").data(data));
                }
                Next::Observation(Ok(ev)) => {
                    // Only about datastreams this caller may see (now).
                    let catalog = state.observations.catalog.load();
                    if !state.observations.may_see(&caller, &catalog, ev.datastream) {
                        continue;
                    }
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    yield Ok(Event::default().event("observation").data(data));
                }
                Next::Alert(r) => match *r {
                Ok(ev) => {
                    // Alerts of datastreams this caller may see (now) only.
                    let catalog = state.observations.catalog.load();
                    if !state.observations.may_see(&caller, &catalog, ev.alert.datastream) {
                        continue;
                    }
                    let data = serde_json::to_string(&ev).unwrap_or_default();
                    yield Ok(Event::default().event("alert").data(data));
                }
                Err(RecvError::Lagged(_)) => {
                    yield Ok(Event::default().event("reload").data("{}"));
                }
                Err(RecvError::Closed) => break,
                },
                // A slow client missed events: tell it to reload everything.
                Next::Layer(Err(RecvError::Lagged(_)))
                | Next::Observation(Err(RecvError::Lagged(_))) => {
                    yield Ok(Event::default().event("reload").data("{}"));
                }
                Next::Layer(Err(RecvError::Closed))
                | Next::Observation(Err(RecvError::Closed)) => break,
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({"status": "ok"}))
}

pub async fn ready(State(state): State<Arc<AppState>>, Auth(caller): Auth) -> Response {
    let layers = state.visible(&caller);
    let versions: serde_json::Map<String, serde_json::Value> = layers
        .iter()
        .map(|(id, l)| (id.clone(), l.meta().version.into()))
        .collect();
    if state.is_ready() {
        // Serving from memory (or the snapshot) while the store is away: still ready, degraded.
        let status = if state.store_ok() {
            "ready"
        } else {
            "degraded"
        };
        let source = if state
            .from_snapshot
            .load(std::sync::atomic::Ordering::Acquire)
        {
            "snapshot"
        } else {
            "store"
        };
        (
            StatusCode::OK,
            Json(serde_json::json!({
                "status": status,
                "store": if state.store_ok() { "reachable" } else { "unreachable" },
                "layers_from": source,
                "layers": versions,
            })),
        )
            .into_response()
    } else {
        let mut r = (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "loading", "layers": versions})),
        )
            .into_response();
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        r
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such resource".into())
}

/// `GET /fonts/{fontstack}/{range}.pbf`: glyph ranges from `web/fonts`. A range the font does
/// not ship is an empty glyph set (200), so a label with a rare character does not break the map.
pub async fn glyphs(
    State(state): State<Arc<AppState>>,
    Path((stack, range)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let valid_range = range
        .strip_suffix(".pbf")
        .and_then(|r| r.split_once('-'))
        .is_some_and(|(a, b)| {
            a.parse::<u32>().is_ok_and(|a| a % 256 == 0 && a < 65536) && b.parse::<u32>().is_ok()
        });
    if !valid_range {
        return Err(ApiError::NotFound(format!(
            "no glyph range '{}': expected START-END.pbf",
            range.chars().take(32).collect::<String>()
        )));
    }
    // The first font of a stack that has the range wins (MapLibre asks "A,B" for fallbacks).
    for font in stack.split(',') {
        let font = font.trim();
        if font.is_empty() || font.contains(['/', '\\']) || font.starts_with('.') {
            continue;
        }
        let path = state.web_dir.join("fonts").join(font).join(&range);
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return Ok(([(header::CONTENT_TYPE, "application/x-protobuf")], bytes).into_response());
        }
    }
    Ok((
        [(header::CONTENT_TYPE, "application/x-protobuf")],
        Vec::new(),
    )
        .into_response())
}
