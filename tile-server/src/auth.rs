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
            Ok(k) => Ok(Auth(Caller::from_key(k))),
            Err(e) => Err(ApiError::Unauthorized(e.to_string())),
        }
    }
}

/// Records a read of a non-open layer: who, which layer, through which endpoint.
pub fn audit(caller: &Caller, layer: &cuulong_core::LayerMeta, endpoint: &str) {
    if layer.access == cuulong_core::Access::Open {
        return;
    }
    if let Caller::Key { name, agency, .. } = caller {
        tracing::info!(target: "cuulong::audit", key = %name, %agency, layer = %layer.id, access = layer.access.as_str(), endpoint, "read");
    }
}
