//! Who is calling: an API key from `Authorization: Bearer KEY` or `?key=KEY` (for WMS clients
//! that cannot set headers), checked against the stored salted hashes. No key is anonymous; a
//! wrong, revoked or expired key is a 401. Keys never reach the logs.

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use cuulong_core::access::{verify, Caller};

use crate::error::ApiError;
use crate::state::AppState;

/// The checked caller of a request.
pub struct Auth(pub Caller);

fn presented_key(parts: &Parts) -> Option<String> {
    if let Some(v) = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(k) = v.strip_prefix("Bearer ") {
            return Some(k.trim().to_owned());
        }
    }
    parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "key")
            .map(|(_, v)| v.to_owned())
    })
}

impl FromRequestParts<Arc<AppState>> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, ApiError> {
        let Some(key) = presented_key(parts) else {
            return Ok(Auth(Caller::Anonymous));
        };
        let keys = state.keys.load();
        match verify(&keys, &key, chrono::Utc::now()) {
            Ok(k) => {
                state.rate_limit.check(&k.name)?;
                Ok(Auth(Caller::from_key(k)))
            }
            Err(e) => Err(ApiError::Unauthorized(e.to_string())),
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

/// Per-key token buckets: a key may make `per_minute` requests a minute, in bursts of up to a
/// minute's worth; beyond that 429 with Retry-After.
pub struct RateLimit {
    per_minute: u32,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Default::default(),
        }
    }

    pub fn check(&self, key: &str) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets.entry(key.to_owned()).or_insert((capacity, now));
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
