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
        // HTTP Basic with the key as the password (user name free): what SensorThings
        // clients such as FROST's and QGIS offer.
        if let Some(k) = v.strip_prefix("Basic ").and_then(basic_password) {
            return Some(k);
        }
    }
    uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_owned())
    })
}

fn basic_password(encoded: &str) -> Option<String> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (_, password) = text.split_once(':')?;
    (!password.is_empty()).then(|| password.to_owned())
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
            // The address is written out only when there is a budget to charge.
            _ if state.anonymous_limit.per_minute() > 0 => {
                state.anonymous_limit.check(&peer(req))?
            }
            _ => {}
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
