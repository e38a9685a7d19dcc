//! Operations: Prometheus metrics (`GET /metrics`), request ids and logs, a per-request
//! timeout, and bounded concurrency (503 + Retry-After instead of an unbounded queue). Health,
//! readiness and metrics bypass the limits so they answer under any load.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::auth::{Auth, PresentedKey};
use crate::error::ApiError;
use crate::state::AppState;
use crate::telemetry::BUCKETS;

/// Routes that must answer under any load: not counted against the concurrency limit nor the
/// rate limits (event streams have a cap of their own).
fn exempt(route: &str) -> bool {
    matches!(route, "/health" | "/ready" | "/metrics" | "/events")
}

/// Operators' probes, never rate-limited.
fn probe(route: &str) -> bool {
    matches!(route, "/health" | "/ready" | "/metrics")
}

/// Counts a request in flight until dropped: a request whose client hangs up is dropped
/// mid-way and must leave the count at once, not when (if ever) its handler returns.
struct InFlight<'a>(&'a AtomicI64);

impl<'a> InFlight<'a> {
    /// Enters, unless `limit` requests are in flight already.
    fn enter(counter: &'a AtomicI64, limit: u32) -> Option<Self> {
        let n = counter.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(counter);
        (n < i64::from(limit)).then_some(guard)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Request id, log line, metrics, who is calling (and their rate limit), timeout and the
/// concurrency limit for every request.
pub async fn middleware(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_owned();
    let id = format!(
        "{:x}-{:x}",
        state.started_at,
        state.metrics.next_id.fetch_add(1, Ordering::Relaxed)
    );
    let method = req.method().clone();
    let started = Instant::now();
    let limited = !exempt(&route);
    let span = tracing::info_span!("request", request_id = %id, %method, route = %route);
    let caller = crate::auth::authenticate(&state, &req, !probe(&route));
    let mut resp = async {
        if let Err(e) = &caller {
            // WMS clients read errors as XML service exceptions: the handler writes them.
            if route != "/wms" {
                return e.clone().into_response();
            }
        }
        req.extensions_mut()
            .insert(crate::auth::Authenticated(caller));
        if limited {
            let Some(_in_flight) = InFlight::enter(&state.metrics.in_flight, state.max_concurrency)
            else {
                state.metrics.shed.fetch_add(1, Ordering::Relaxed);
                return ApiError::Busy.into_response();
            };
            match tokio::time::timeout(state.request_timeout, next.run(req)).await {
                Ok(r) => r,
                Err(_) => ApiError::Timeout(state.request_timeout.as_secs()).into_response(),
            }
        } else {
            next.run(req).await
        }
    }
    .instrument(span)
    .await;
    let status = resp.status();
    let elapsed = started.elapsed();
    state.metrics.record(&route, status.as_u16(), elapsed);
    // The path only (route template), never the query: keys may travel there.
    tracing::debug!(request_id = %id, %method, route = %route, status = status.as_u16(), ms = elapsed.as_millis() as u64, "request");
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// `GET /metrics`: Prometheus text format. Per-layer series only for the layers the scrape's
/// caller may see (every layer with `Authorization: Bearer <--metrics-token>`); totals for all.
pub async fn metrics(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    PresentedKey(key): PresentedKey,
) -> Response {
    let operator = crate::auth::is_metrics_token(&state, key.as_deref());
    let layers = if operator {
        state.snapshot()
    } else {
        state.visible(&caller)
    };
    let mut out = String::new();
    write_requests(&state.metrics, &mut out);
    for (name, help, kind, value) in gauges(&state) {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
        );
    }
    write_layers(&layers, &mut out);
    write_rejections(&state, &mut out);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        out,
    )
        .into_response()
}

/// Requests by route and status, and the latency histogram by route.
fn write_requests(m: &crate::telemetry::Metrics, out: &mut String) {
    let _ = writeln!(out, "# HELP cuulong_requests_total HTTP requests by route and status.\n# TYPE cuulong_requests_total counter");
    if let Ok(r) = m.requests.lock() {
        for ((route, status), n) in r.iter() {
            let _ = writeln!(
                out,
                "cuulong_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
    }
    let _ = writeln!(out, "# HELP cuulong_request_duration_seconds Request latency by route.\n# TYPE cuulong_request_duration_seconds histogram");
    if let Ok(l) = m.latency.lock() {
        for (route, h) in l.iter() {
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                let _ = writeln!(
                    out,
                    "cuulong_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {c}"
                );
            }
            let _ = writeln!(
                out,
                "cuulong_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}\n\
                 cuulong_request_duration_seconds_sum{{route=\"{route}\"}} {}\n\
                 cuulong_request_duration_seconds_count{{route=\"{route}\"}} {}",
                h.count, h.sum, h.count
            );
        }
    }
}

/// The server-wide series: (name, help, type, value).
fn gauges(state: &AppState) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let m = &state.metrics;
    let (bytes, entries) = state.cache.as_ref().map_or((0, 0), |c| {
        c.run_pending_tasks();
        (c.weighted_size(), c.entry_count())
    });
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed).to_string();
    let webhook = |f: fn(&crate::salinity::webhook::Counters) -> &std::sync::atomic::AtomicU64| {
        state
            .salinity
            .webhooks
            .as_ref()
            .map_or(0, |w| f(&w.counters).load(Ordering::Relaxed))
            .to_string()
    };
    let reads = state.store.read_stats().unwrap_or_default();
    vec![
        ("cuulong_in_flight_requests", "Requests being served.", "gauge", m.in_flight.load(Ordering::Relaxed).to_string()),
        ("cuulong_shed_requests_total", "Requests refused with 503 because the server was saturated.", "counter", load(&m.shed)),
        ("cuulong_tile_cache_hits_total", "Tile cache hits.", "counter", load(&m.tile_cache_hits)),
        ("cuulong_tile_cache_misses_total", "Tile cache misses (tiles rendered).", "counter", load(&m.tile_cache_misses)),
        ("cuulong_wms_cache_hits_total", "Tiled-WMS GetMaps answered from the cache.", "counter", load(&m.wms_cache_hits)),
        ("cuulong_wms_cache_misses_total", "Tiled-WMS GetMaps not in the cache when they came (drawn, or found there once their turn came).", "counter", load(&m.wms_cache_misses)),
        ("cuulong_tile_cache_bytes", "Bytes held by the tile cache.", "gauge", bytes.to_string()),
        ("cuulong_tile_cache_entries", "Tiles held by the tile cache.", "gauge", entries.to_string()),
        ("cuulong_layers_loaded", "Layers in memory (all of them; the per-layer series below only those the scrape may see).", "gauge", state.snapshot().len().to_string()),
        ("cuulong_render_memory_bytes", "Bytes of the render budget held by map images being drawn.", "gauge", state.work.render_memory_in_use().to_string()),
        ("cuulong_render_memory_budget_bytes", "The render budget (--render-memory-mb).", "gauge", (state.work.render_budget_mb() * 1024 * 1024).to_string()),
        ("cuulong_event_streams", "Event streams open.", "gauge", state.event_streams.load(Ordering::Relaxed).to_string()),
        ("cuulong_store_up", "1 when the last contact with the store succeeded.", "gauge", u8::from(state.store_ok()).to_string()),
        ("cuulong_standby_reads_total", "Layer versions read from the standby (--standby-url) once it had replayed the primary's position.", "counter", load(&reads.standby)),
        ("cuulong_standby_fallbacks_total", "Layer versions read from the primary because the standby was away or behind for longer than --standby-max-lag-s.", "counter", load(&reads.primary)),
        ("cuulong_standby_wait_seconds_total", "Time spent waiting for the standby to replay changes before reading them.", "counter", format!("{:.3}", reads.waited_ms.load(Ordering::Relaxed) as f64 / 1000.0)),
        ("cuulong_observations_accepted_total", "Observations stored (new ones; re-sends not counted).", "counter", load(&state.observations.counters.accepted)),
        ("cuulong_mqtt_messages_total", "MQTT messages taken and acknowledged (after their readings were stored).", "counter", load(&state.observations.counters.mqtt_messages)),
        ("cuulong_observations_duplicates_total", "Observations re-sent: already stored, acknowledged again, not stored twice.", "counter", load(&state.observations.counters.duplicates)),
        ("cuulong_alerts_open", "Salinity alerts open now (all datastreams).", "gauge", state.salinity.open_count().to_string()),
        ("cuulong_webhook_delivered_total", "Alert webhooks delivered (2xx).", "counter", webhook(|c| &c.delivered)),
        ("cuulong_webhook_attempts_total", "Alert webhook attempts, retries included.", "counter", webhook(|c| &c.attempts)),
        ("cuulong_webhook_failed_attempts_total", "Alert webhook attempts answered other than 2xx, or not answered.", "counter", webhook(|c| &c.failed_attempts)),
        ("cuulong_webhook_given_up_total", "Alert webhooks given up after 24 h of retries.", "counter", webhook(|c| &c.given_up)),
        ("cuulong_webhook_pending", "Alert webhooks queued and not yet delivered.", "gauge", webhook(|c| &c.pending)),
    ]
}

/// Refused observations by reason.
fn write_rejections(state: &AppState, out: &mut String) {
    let _ = writeln!(out, "# HELP cuulong_observations_rejected_total Observations refused, by reason.\n# TYPE cuulong_observations_rejected_total counter");
    if let Ok(r) = state.observations.counters.rejected.lock() {
        for (reason, n) in r.iter() {
            let _ = writeln!(
                out,
                "cuulong_observations_rejected_total{{reason=\"{reason}\"}} {n}"
            );
        }
    }
}

/// Version, features and index memory of each layer in `layers`.
fn write_layers(layers: &crate::state::Layers, out: &mut String) {
    let _ = writeln!(out, "# HELP cuulong_layer_version Version of each loaded layer.\n# TYPE cuulong_layer_version gauge");
    for (id, l) in layers {
        let _ = writeln!(
            out,
            "cuulong_layer_version{{layer=\"{id}\"}} {}",
            l.meta().version
        );
    }
    let _ = writeln!(out, "# HELP cuulong_layer_features Features of each loaded layer.\n# TYPE cuulong_layer_features gauge");
    for (id, l) in layers {
        let _ = writeln!(out, "cuulong_layer_features{{layer=\"{id}\"}} {}", l.len());
    }
    let _ = writeln!(out, "# HELP cuulong_layer_source How each layer is served: memory (held decoded) or flatgeobuf (its file mapped, read per request).\n# TYPE cuulong_layer_source gauge");
    for (id, l) in layers {
        let _ = writeln!(
            out,
            "cuulong_layer_source{{layer=\"{id}\",source=\"{}\"}} 1",
            l.served_from()
        );
    }
    let _ = writeln!(out, "# HELP cuulong_index_bytes Approximate memory of each layer's index.\n# TYPE cuulong_index_bytes gauge");
    for (id, l) in layers {
        let _ = writeln!(
            out,
            "cuulong_index_bytes{{layer=\"{id}\"}} {}",
            l.approx_bytes()
        );
    }
}
