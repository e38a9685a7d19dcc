//! `GET /wms`: OGC WMS 1.3.0 (and 1.1.1 for old clients) from the same in-memory index and
//! the same MapLibre styles as the vector tiles. GetCapabilities, GetMap (PNG/JPEG rendered
//! with tiny-skia), GetFeatureInfo (the same answer as `/query/point`), GetLegendGraphic.
//! Every error is an XML ServiceExceptionReport with the standard code and a 4xx status —
//! never a 500 — or, when the client asks, an image (EXCEPTIONS=INIMAGE/BLANK).

mod capabilities;
pub(crate) mod featureinfo;
pub(crate) mod map;
pub(crate) mod request;

pub use request::DEFAULT_MAX_SIZE;
use request::{exception_report, quote, Params, WmsError};

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;

/// `GET /wms`.
pub async fn wms(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    auth: Result<Auth, ApiError>,
) -> Response {
    let p = Params::from_pairs(pairs);
    match dispatch(&state, &headers, &p, auth).await {
        Ok(resp) => resp,
        Err(e) => error_response(&state, &p, &e).await,
    }
}

/// Checks SERVICE and REQUEST and runs the operation asked for.
async fn dispatch(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    p: &Params,
    auth: Result<Auth, ApiError>,
) -> Result<Response, WmsError> {
    let version = p.version();
    let Auth(caller) = auth?;
    if let Some(service) = p.get("SERVICE") {
        if !service.eq_ignore_ascii_case("WMS") {
            return Err(WmsError::invalid(
                "SERVICE",
                format!("'{}' is not WMS", quote(service)),
            ));
        }
    }
    let request = p.required("REQUEST")?.to_owned();
    if !state.is_ready() {
        return Err(ApiError::NotReady.into());
    }
    let visible = state.visible(&caller);
    match request.to_ascii_lowercase().as_str() {
        "getcapabilities" | "capabilities" => {
            // Boxes in every CRS for every layer: CPU work, off the async workers.
            let job_state = state.clone();
            let base = state.base_url(headers);
            state
                .work
                .run(move |_| -> Result<Response, WmsError> {
                    Ok(capabilities::capabilities(&job_state, &visible, version, &base))
                })
                .await
        }
        "getmap" | "map" => map::get_map(state, &caller, p, version).await,
        "getfeatureinfo" | "feature_info" => {
            featureinfo::get_feature_info(state, &caller, p, version).await
        }
        "getlegendgraphic" => map::get_legend(state, &visible, p).await,
        other => Err(WmsError::new(
            "OperationNotSupported",
            format!(
                "REQUEST '{}' is not supported (GetCapabilities, GetMap, GetFeatureInfo, GetLegendGraphic)",
                quote(other)
            ),
        )),
    }
}

/// A failed request's answer: an error image for GetMap with EXCEPTIONS=INIMAGE or BLANK,
/// else a service exception report.
async fn error_response(state: &Arc<AppState>, p: &Params, e: &WmsError) -> Response {
    let version = p.version();
    let wants_image = matches!(
        p.get("REQUEST").map(str::to_ascii_lowercase).as_deref(),
        Some("getmap" | "map")
    );
    let exceptions = p.get("EXCEPTIONS").unwrap_or("").to_ascii_uppercase();
    if wants_image && (exceptions.ends_with("INIMAGE") || exceptions.ends_with("BLANK")) {
        if let Some(resp) =
            map::exception_image(state, p, version, e, exceptions.ends_with("BLANK")).await
        {
            return resp;
        }
    }
    exception_report(version, e)
}
