//! The one place errors become HTTP responses: JSON `{"code", "description"}` with a 4xx/5xx
//! status. 5xx bodies stay generic; the cause is logged once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use cuulong_core::interrupt::Interrupted;

use crate::work::WorkError;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("the server is still loading layers")]
    NotReady,
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("too many requests for this API key; retry in {0} s")]
    RateLimited(u64),
    #[error("the server is busy; retry in a second")]
    Busy,
    #[error("{0}")]
    TooLarge(String),
    #[error("the request took longer than {0} s")]
    Timeout(u64),
    #[error("internal error: {0}")]
    Internal(String),
    /// The store holds a newer version of a layer than the one served, which is being
    /// swapped in; asked again in a second, the two agree.
    #[error("{0}; the server is swapping in the new version, retry in a second")]
    Replacing(String),
    /// The store failed (unreachable, or an error of its own); the cause is logged.
    #[error("the data store failed: {0}")]
    Store(String),
    #[error(transparent)]
    Work(#[from] crate::work::WorkError),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        self.parts().0
    }

    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "InvalidParameterValue"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::NotReady => (StatusCode::SERVICE_UNAVAILABLE, "NotReady"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "InvalidApiKey"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::Busy => (StatusCode::SERVICE_UNAVAILABLE, "ServerBusy"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge"),
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "Timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            ApiError::Replacing(_) => (StatusCode::SERVICE_UNAVAILABLE, "LayerReplacing"),
            ApiError::Store(_) => (StatusCode::SERVICE_UNAVAILABLE, "StoreUnavailable"),
            ApiError::Work(e) => match e {
                WorkError::MemoryBusy => (StatusCode::SERVICE_UNAVAILABLE, "ServerBusy"),
                WorkError::OverBudget { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "OverBudget"),
                WorkError::Interrupted(Interrupted::DeadlinePassed) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "Timeout")
                }
                WorkError::Interrupted(Interrupted::Cancelled) => {
                    (StatusCode::SERVICE_UNAVAILABLE, "Cancelled")
                }
                WorkError::Panicked(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            },
        }
    }
}

impl ApiError {
    /// Seconds a client should wait before trying again, for the errors that pass.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::RateLimited(secs) => Some(*secs),
            ApiError::Busy
            | ApiError::NotReady
            | ApiError::Replacing(_)
            | ApiError::Work(WorkError::MemoryBusy) => Some(1),
            ApiError::Store(_) => Some(5),
            _ => None,
        }
    }
}

impl From<cuulong_store::StoreError> for ApiError {
    fn from(e: cuulong_store::StoreError) -> Self {
        match e {
            cuulong_store::StoreError::NotFound(_) => ApiError::NotFound(e.to_string()),
            cuulong_store::StoreError::VersionGone { .. } => ApiError::Replacing(e.to_string()),
            other => ApiError::Store(other.to_string()),
        }
    }
}

impl From<Interrupted> for ApiError {
    fn from(e: Interrupted) -> Self {
        ApiError::Work(WorkError::Interrupted(e))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let description = match &self {
            ApiError::Internal(cause) | ApiError::Work(crate::work::WorkError::Panicked(cause)) => {
                tracing::error!(%cause, "internal error");
                "internal error; see the server log".to_owned()
            }
            ApiError::Store(cause) => {
                tracing::error!(%cause, "store error");
                "the data store is not available; retry later".to_owned()
            }
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(serde_json::json!({"code": code, "description": description})),
        )
            .into_response();
        if let Some(secs) = self.retry_after() {
            resp.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs),
            );
        }
        resp
    }
}

impl From<cuulong_core::tile::TileError> for ApiError {
    fn from(e: cuulong_core::tile::TileError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_map_to_404_or_503_without_their_cause() {
        let missing = ApiError::from(cuulong_store::StoreError::NotFound("soil".into()));
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        let down = ApiError::from(cuulong_store::StoreError::Config(
            "password=secret host=db".into(),
        ));
        assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(down.retry_after(), Some(5));
        let resp = down.into_response();
        let body = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 4096))
            .expect("a small body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("StoreUnavailable"), "{text}");
        assert!(!text.contains("secret"), "the cause leaked: {text}");
    }

    #[test]
    fn a_version_being_replaced_is_a_503_to_retry_in_a_second() {
        let e = ApiError::from(cuulong_store::StoreError::VersionGone {
            layer: "soil".into(),
            version: 3,
            current: 4,
        });
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.retry_after(), Some(1));
        assert!(e.to_string().contains("version 3"), "{e}");
    }
}
