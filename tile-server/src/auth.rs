//! Who is calling: an API key from `Authorization: Bearer KEY` or `?key=KEY` (for WMS clients
//! that cannot set headers), checked against the stored salted hashes. No key is anonymous; a
//! wrong, revoked or expired key is a 401. Keys never reach the logs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use cuulong_core::access::{verify, Caller};

use crate::error::ApiError;
use crate::state::AppState;

/// The checked caller of a request.
pub struct Auth(pub Caller);

/// The key a request presents, from `Authorization: Bearer KEY` or `?key=KEY`.
fn presented_key(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(k) = v.strip_prefix("Bearer ") {
            return Some(k.trim().to_owned());
        }
    }
    uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_owned())
    })
}

/// The outcome of [`authenticate`], left in the request's extensions for the handlers.
#[derive(Clone)]
pub struct Authenticated(pub Result<Caller, ApiError>);

/// Where a request comes from, for the anonymous budget: the peer's address (an IPv6 peer by
/// its /64, which one host typically holds whole), or "unknown" in-process.
fn peer(req: &Request) -> String {
    match req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
    {
        Some(IpAddr::V4(ip)) => ip.to_string(),
        Some(IpAddr::V6(ip)) => {
            let s = ip.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

/// Checks the presented key (none is anonymous; a wrong, revoked or expired one is a 401) and,
/// when `rate_limited`, charges the request to the key's budget — or, without a valid key, to
/// its address's anonymous budget, so neither anonymous floods nor key guessing go unlimited.
pub fn authenticate(
    state: &AppState,
    req: &Request,
    rate_limited: bool,
) -> Result<Caller, ApiError> {
    let checked = match presented_key(req.headers(), req.uri()) {
        None => Ok(Caller::Anonymous),
        // The operator's scrape token is no API key: the metrics handler reads it itself.
        Some(key) if is_metrics_token(state, Some(&key)) => Ok(Caller::Anonymous),
        Some(key) => verify(&state.keys.load(), &key, chrono::Utc::now())
            .map(Caller::from_key)
            .map_err(|e| ApiError::Unauthorized(e.to_string())),
    };
    if rate_limited {
        match &checked {
            Ok(Caller::Key { name, .. }) => state.rate_limit.check(name)?,
            _ => state.anonymous_limit.check(&peer(req))?,
        }
    }
    checked
}

/// Whether `presented` is the operator's `--metrics-token` (compared in constant time).
pub fn is_metrics_token(state: &AppState, presented: Option<&str>) -> bool {
    match (state.metrics_token.as_deref(), presented) {
        (Some(token), Some(p)) if !token.is_empty() && token.len() == p.len() => {
            token
                .bytes()
                .zip(p.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
        }
        _ => false,
    }
}

/// Whether the key a stream was opened with still stands, as the caller it is now (grants
/// may have changed); `None` once it has been revoked, has expired or is gone.
pub fn recheck(state: &AppState, key: Option<&str>) -> Option<Caller> {
    match key {
        None => Some(Caller::Anonymous),
        Some(k) => verify(&state.keys.load(), k, chrono::Utc::now())
            .ok()
            .map(Caller::from_key),
    }
}

/// The key presented with a request (for streams that re-check it while they last).
pub struct PresentedKey(pub Option<String>);

impl FromRequestParts<Arc<AppState>> for PresentedKey {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        Ok(PresentedKey(presented_key(&parts.headers, &parts.uri)))
    }
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        if let Some(Authenticated(checked)) = parts.extensions.get::<Authenticated>() {
            return checked.clone().map(Auth);
        }
        // Outside the middleware (a router without it): check the key, no rate limit.
        match presented_key(&parts.headers, &parts.uri) {
            None => Ok(Auth(Caller::Anonymous)),
            Some(key) if is_metrics_token(state, Some(&key)) => Ok(Auth(Caller::Anonymous)),
            Some(key) => verify(&state.keys.load(), &key, chrono::Utc::now())
                .map(|k| Auth(Caller::from_key(k)))
                .map_err(|e| ApiError::Unauthorized(e.to_string())),
        }
    }
}

/// Records a read of a non-open layer: who, which layer, through which endpoint — as a
/// structured log line, and queued for the store's audit table.
pub fn audit(state: &AppState, caller: &Caller, layer: &cuulong_core::LayerMeta, endpoint: &str) {
    if layer.access == cuulong_core::Access::Open {
        return;
    }
    if let Caller::Key { name, agency, .. } = caller {
        tracing::info!(target: "cuulong::audit", key = %name, %agency, layer = %layer.id, access = layer.access.as_str(), endpoint, "read");
        let record = cuulong_core::access::AuditRecord {
            at: chrono::Utc::now(),
            key_name: name.clone(),
            agency: agency.clone(),
            layer: layer.id.to_string(),
            access: layer.access.as_str().to_owned(),
            endpoint: endpoint.to_owned(),
        };
        if state.audit.try_send(record).is_err() {
            tracing::warn!(target: "cuulong::audit", "audit queue full; the log line above is the record");
        }
    }
}

/// Writes queued audit records to the store about once a second.
pub async fn audit_writer(
    store: Arc<dyn cuulong_store::Store>,
    mut rx: tokio::sync::mpsc::Receiver<cuulong_core::access::AuditRecord>,
) {
    let mut batch = Vec::new();
    while let Some(first) = rx.recv().await {
        batch.push(first);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        while let Ok(r) = rx.try_recv() {
            batch.push(r);
        }
        if let Err(e) = store.record_reads(&batch).await {
            tracing::warn!(error = %e, records = batch.len(), "could not write the audit log");
        }
        batch.clear();
    }
}

/// Token buckets by key name (or by address, for anonymous callers): `per_minute` requests a
/// minute, in bursts of up to a minute's worth; beyond that 429 with Retry-After. The table is
/// bounded: past [`MAX_BUCKETS`] entries the full (idle) buckets are forgotten.
pub struct RateLimit {
    per_minute: u32,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

/// Buckets kept before idle ones are dropped (an attacker with many addresses cannot grow the
/// table without bound; if every bucket is busy, the table starts over).
pub const MAX_BUCKETS: usize = 100_000;

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Default::default(),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    pub fn check(&self, who: &str) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(who) {
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * per_sec < capacity
            });
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(who.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_sec).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / per_sec).ceil().max(1.0) as u64;
            Err(ApiError::RateLimited(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_minute_and_the_table_stays_bounded() {
        let limit = RateLimit::new(3);
        for _ in 0..3 {
            limit.check("10.0.0.1").unwrap();
        }
        assert!(matches!(
            limit.check("10.0.0.1"),
            Err(ApiError::RateLimited(s)) if s >= 1
        ));
        // Another caller has its own budget.
        limit.check("10.0.0.2").unwrap();
        for i in 0..(MAX_BUCKETS + 10) {
            let _ = limit.check(&format!("host-{i}"));
        }
        let n = limit.buckets.lock().unwrap().len();
        assert!(n <= MAX_BUCKETS, "{n} buckets");
        assert!(RateLimit::new(0).check("x").is_ok(), "0 is unlimited");
    }
}
