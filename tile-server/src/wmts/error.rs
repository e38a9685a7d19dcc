//! WMTS errors: OWS 1.1 exception reports with the standard codes and the HTTP status the
//! WMTS 1.0.0 standard gives each (table 28).

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::wms::request::xml_escape;

#[derive(Debug)]
pub struct WmtsError {
    code: &'static str,
    locator: Option<&'static str>,
    message: String,
    status: StatusCode,
    retry_after: Option<u64>,
}

impl WmtsError {
    pub fn new(code: &'static str, locator: Option<&'static str>, message: String) -> Self {
        let status = match code {
            "OperationNotSupported" => StatusCode::NOT_IMPLEMENTED,
            "NoApplicableCode" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        WmtsError {
            code,
            locator,
            message,
            status,
            retry_after: None,
        }
    }

    pub fn invalid(locator: &'static str, message: String) -> Self {
        Self::new(
            "InvalidParameterValue",
            Some(locator),
            format!("{locator}: {message}"),
        )
    }

    pub fn out_of_range(locator: &'static str, value: u64, size: u64) -> Self {
        Self::new(
            "TileOutOfRange",
            Some(locator),
            format!(
                "{locator}={value} is outside the matrix (0–{})",
                size.saturating_sub(1)
            ),
        )
    }

    /// 406: the `Accept` header rules out every format offered.
    pub fn not_acceptable(message: &str) -> Self {
        WmtsError {
            status: StatusCode::NOT_ACCEPTABLE,
            ..Self::new("InvalidParameterValue", None, message.to_owned())
        }
    }

    /// A 400 as 404 (same code and locator): for the RESTful encoding, where the bad value is
    /// a path segment. Other statuses (busy, not ready, access) stay.
    pub fn resource_not_found(self) -> Self {
        if self.status == StatusCode::BAD_REQUEST {
            WmtsError {
                status: StatusCode::NOT_FOUND,
                ..self
            }
        } else {
            self
        }
    }

    pub fn not_found(message: &str) -> Self {
        WmtsError {
            status: StatusCode::NOT_FOUND,
            ..Self::new("InvalidParameterValue", None, message.to_owned())
        }
    }
}

/// Errors shared with the rest of the server keep their status (busy, not ready, limits).
impl From<ApiError> for WmtsError {
    fn from(e: ApiError) -> Self {
        let status = e.status();
        let code = if status.is_server_error() {
            "NoApplicableCode"
        } else {
            "InvalidParameterValue"
        };
        WmtsError {
            code,
            locator: None,
            retry_after: e.retry_after(),
            message: e.to_string(),
            status,
        }
    }
}

impl IntoResponse for WmtsError {
    fn into_response(self) -> Response {
        let locator = self
            .locator
            .map(|l| format!(" locator=\"{l}\""))
            .unwrap_or_default();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <ows:ExceptionReport xmlns:ows=\"http://www.opengis.net/ows/1.1\" version=\"1.0.0\" xml:lang=\"en\">\
             <ows:Exception exceptionCode=\"{}\"{locator}><ows:ExceptionText>{}</ows:ExceptionText></ows:Exception>\
             </ows:ExceptionReport>\n",
            self.code,
            xml_escape(&self.message)
        );
        let mut resp = (
            self.status,
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            body,
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        resp
    }
}
