//! WMTS 1.0.0, KVP (`/wmts?SERVICE=WMTS&REQUEST=…`) and RESTful
//! (`/wmts/1.0.0/WMTSCapabilities.xml`, `/wmts/1.0.0/{layer}/{style}/{tms}/{z}/{row}/{col}.png`):
//! GetCapabilities (every visible layer, its styles, formats and the grids with their limits),
//! GetTile (the map tiles of OGC API – Tiles: same renderer, styles and cache) and
//! GetFeatureInfo (the search of WMS GetFeatureInfo at the tile pixel). Errors are OWS 1.1
//! exception reports with the standard codes.

mod capabilities;
mod error;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use cuulong_core::access::Caller;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::ogc_tiles::grid::GridRequest;
use crate::ogc_tiles::serve_map_tile;
use crate::state::AppState;
use crate::wms::request::Params;
use error::WmtsError;

/// `GET /wmts` (KVP).
pub async fn kvp(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(pairs): Query<Vec<(String, String)>>,
    auth: Result<Auth, ApiError>,
) -> Response {
    let p = Params::from_pairs(pairs);
    match dispatch(&state, &headers, &p, auth).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(
    state: &Arc<AppState>,
    headers: &HeaderMap,
    p: &Params,
    auth: Result<Auth, ApiError>,
) -> Result<Response, WmtsError> {
    let Auth(caller) = auth?;
    let service = required(p, "SERVICE")?;
    if !service.eq_ignore_ascii_case("WMTS") {
        return Err(WmtsError::invalid(
            "SERVICE",
            format!("'{}' is not WMTS", short(service)),
        ));
    }
    if !state.is_ready() {
        return Err(ApiError::NotReady.into());
    }
    match required(p, "REQUEST")?.to_ascii_lowercase().as_str() {
        "getcapabilities" => {
            let sections = capabilities::Sections::from_kvp(p)?;
            Ok(capabilities_response(state, &caller, headers, sections).await?)
        }
        "gettile" => {
            let q = TileQuery::from_kvp(p)?;
            get_tile(state, &caller, &q, headers).await
        }
        "getfeatureinfo" => {
            let q = TileQuery::from_kvp(p)?;
            let i = pixel(p, "I")?;
            let j = pixel(p, "J")?;
            let format = required(p, "INFOFORMAT")?;
            get_feature_info(state, &caller, &q, (i, j), format).await
        }
        // An operation WMTS does not define is a bad value (OGC's WMTS test suite,
        // Server.KVP.GET.InvalidRequest), not OperationNotSupported (501), which is for an
        // operation of the standard a server leaves out.
        other => Err(WmtsError::invalid(
            "REQUEST",
            format!(
                "'{}' is not an operation (GetCapabilities, GetTile, GetFeatureInfo)",
                short(other)
            ),
        )),
    }
}

/// `GET /wmts/1.0.0/WMTSCapabilities.xml`.
pub async fn rest_capabilities(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    auth: Result<Auth, ApiError>,
) -> Response {
    let result = async {
        let Auth(caller) = auth?;
        if !accepts_xml(&headers) {
            return Err(WmtsError::not_acceptable(
                "the capabilities are application/xml; the Accept header rules it out",
            ));
        }
        capabilities_response(&state, &caller, &headers, capabilities::Sections::all()).await
    };
    result
        .await
        .unwrap_or_else(|e: WmtsError| e.into_response())
}

/// `GET /wmts/1.0.0/{layer}/{style}/{tms}/{level}/{row}/{col}.{png|jpeg}`.
pub async fn rest_tile(
    State(state): State<Arc<AppState>>,
    Path((layer, style, tms, level, row, file)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
    headers: HeaderMap,
    auth: Result<Auth, ApiError>,
) -> Response {
    let result = async {
        let Auth(caller) = auth?;
        let (col, ext) = file
            .rsplit_once('.')
            .ok_or_else(|| WmtsError::not_found("a tile is …/{TileCol}.png or .jpeg"))?;
        let q = TileQuery {
            layer,
            style,
            tms,
            level,
            row,
            col: col.to_owned(),
            jpeg: image_format(ext)?,
        };
        get_tile(&state, &caller, &q, &headers).await
    };
    // In the RESTful encoding a bad path segment names a resource that does not exist: 404
    // with the exception report (OGC's WMTS test suite calls that best practice).
    result
        .await
        .unwrap_or_else(|e| e.resource_not_found().into_response())
}

/// Whether an `Accept` header admits XML (no header admits everything). Media ranges with
/// `q=0` are refused ones. Written here: one header, a few lines, no crate needed for it.
fn accepts_xml(headers: &HeaderMap) -> bool {
    let Some(accept) = headers.get(header::ACCEPT) else {
        return true;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    accept.split(',').any(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        !refused
            && matches!(
                media.as_str(),
                "*/*" | "application/*" | "text/*" | "application/xml" | "text/xml"
            )
    })
}

async fn capabilities_response(
    state: &Arc<AppState>,
    caller: &Caller,
    headers: &HeaderMap,
    sections: capabilities::Sections,
) -> Result<Response, WmtsError> {
    let visible = state.visible(caller);
    let base = state.base_url(headers);
    let job = state.clone();
    // Limits of every layer in every grid: CPU work, off the async workers.
    let xml = state
        .work
        .run(move |_| Ok::<_, ApiError>(capabilities::document(&job, &visible, &base, sections)))
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        xml,
    )
        .into_response())
}

/// The tile a GetTile or GetFeatureInfo names.
struct TileQuery {
    layer: String,
    style: String,
    tms: String,
    level: String,
    row: String,
    col: String,
    jpeg: bool,
}

impl TileQuery {
    /// The KVP parameters of GetTile and GetFeatureInfo, all mandatory as WMTS 1.0.0 has them
    /// (an empty STYLE is the default style).
    fn from_kvp(p: &Params) -> Result<TileQuery, WmtsError> {
        let version = required(p, "VERSION")?;
        if version != "1.0.0" {
            return Err(WmtsError::invalid(
                "VERSION",
                format!("'{}' is not 1.0.0", short(version)),
            ));
        }
        let style = p.get("STYLE").ok_or_else(|| missing("STYLE"))?;
        Ok(TileQuery {
            layer: required(p, "LAYER")?.to_owned(),
            style: style.trim().to_owned(),
            tms: required(p, "TILEMATRIXSET")?.to_owned(),
            level: required(p, "TILEMATRIX")?.to_owned(),
            row: required(p, "TILEROW")?.to_owned(),
            col: required(p, "TILECOL")?.to_owned(),
            jpeg: image_format(required(p, "FORMAT")?)?,
        })
    }

    /// The layer (one the caller may see), and the tile checked against its grid with the
    /// WMTS exception codes.
    fn resolve<'a>(
        &self,
        state: &'a AppState,
        caller: &Caller,
    ) -> Result<(crate::state::Served, GridRequest<'a>), WmtsError> {
        let layer = state.collection(caller, &self.layer, "wmts").map_err(|_| {
            WmtsError::invalid(
                "LAYER",
                format!("layer '{}' is not offered", short(&self.layer)),
            )
        })?;
        let grid = state.grid(&self.tms).ok_or_else(|| {
            WmtsError::invalid(
                "TILEMATRIXSET",
                format!("'{}' is not offered", short(&self.tms)),
            )
        })?;
        let level = grid.level(&self.level).ok_or_else(|| {
            WmtsError::invalid(
                "TILEMATRIX",
                format!("'{}' is not a level of {}", short(&self.level), grid.id),
            )
        })?;
        let number = |name: &'static str, s: &str| {
            s.parse::<u64>().map_err(|_| {
                WmtsError::invalid(
                    name,
                    format!("'{}' is not a non-negative integer", short(s)),
                )
            })
        };
        let (row, col) = (number("TILEROW", &self.row)?, number("TILECOL", &self.col)?);
        let m = &grid.tile_matrices[level];
        if row >= m.matrix_height {
            return Err(WmtsError::out_of_range("TILEROW", row, m.matrix_height));
        }
        if col >= m.matrix_width {
            return Err(WmtsError::out_of_range("TILECOL", col, m.matrix_width));
        }
        let tile = cuulong_core::tms::GridTile { level, row, col };
        let request = GridRequest { tms: grid, tile };
        // Outside the layer's TileMatrixSetLimits (in the capabilities) is out of range too.
        if !request.within_limits(std::slice::from_ref(&layer)) {
            let (name, value) = match request.layer_limits(&layer) {
                Some((r0, r1, ..)) if (r0..=r1).contains(&row) => ("TILECOL", col),
                _ => ("TILEROW", row),
            };
            return Err(WmtsError::new(
                "TileOutOfRange",
                Some(name),
                format!(
                    "{name}={value} is outside the TileMatrixSetLimits of '{}' at {}",
                    self.layer, m.id
                ),
            ));
        }
        Ok((layer, request))
    }

    fn style(&self) -> Option<&str> {
        (!self.style.is_empty() && !self.style.eq_ignore_ascii_case("default"))
            .then_some(self.style.as_str())
    }
}

async fn get_tile(
    state: &Arc<AppState>,
    caller: &Caller,
    q: &TileQuery,
    headers: &HeaderMap,
) -> Result<Response, WmtsError> {
    let (layer, request) = q.resolve(state, caller)?;
    check_style(state, &layer, q)?;
    Ok(serve_map_tile(state, vec![layer], &request, q.style(), q.jpeg, headers).await?)
}

/// A STYLE the layer does not have is `InvalidParameterValue` (locator STYLE).
fn check_style(
    state: &AppState,
    layer: &crate::state::Served,
    q: &TileQuery,
) -> Result<(), WmtsError> {
    let Some(wanted) = q.style() else {
        return Ok(());
    };
    let known = state
        .styles
        .load()
        .for_layer(layer.meta())
        .iter()
        .any(|s| s.name == wanted);
    if known {
        Ok(())
    } else {
        Err(WmtsError::invalid(
            "STYLE",
            format!("style '{}' is not offered for '{}'", short(wanted), q.layer),
        ))
    }
}

async fn get_feature_info(
    state: &Arc<AppState>,
    caller: &Caller,
    q: &TileQuery,
    (i, j): (u32, u32),
    format: &str,
) -> Result<Response, WmtsError> {
    let (layer, request) = q.resolve(state, caller)?;
    let frame = crate::ogc_tiles::tile_frame(&request)?;
    if i >= frame.width || j >= frame.height {
        return Err(WmtsError::new(
            "PointIJOutOfRange",
            Some(if i >= frame.width { "I" } else { "J" }),
            format!(
                "I={i}, J={j} is outside the {}×{} tile",
                frame.width, frame.height
            ),
        ));
    }
    let info = crate::wms::featureinfo::InfoRequest::at_pixel(vec![layer], &frame, (i, j), format)
        .map_err(|e| WmtsError::invalid("INFOFORMAT", e.message))?;
    let mime = info.mime();
    let body = state
        .work
        .run(move |interrupt| {
            info.answer(interrupt)
                .map_err(|e| ApiError::BadRequest(e.message))
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, mime)], body).into_response())
}

fn required<'a>(p: &'a Params, name: &'static str) -> Result<&'a str, WmtsError> {
    match p.get(name).map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(missing(name)),
    }
}

fn missing(name: &'static str) -> WmtsError {
    WmtsError::new(
        "MissingParameterValue",
        Some(name),
        format!("{name} is required"),
    )
}

fn pixel(p: &Params, name: &'static str) -> Result<u32, WmtsError> {
    let raw = required(p, name)?;
    raw.parse()
        .map_err(|_| WmtsError::invalid(name, format!("'{}' is not a pixel", short(raw))))
}

fn image_format(s: &str) -> Result<bool, WmtsError> {
    match s.trim().to_ascii_lowercase().as_str() {
        "image/png" | "png" => Ok(false),
        "image/jpeg" | "jpeg" | "jpg" => Ok(true),
        other => Err(WmtsError::invalid(
            "FORMAT",
            format!("'{}' is not offered (image/png, image/jpeg)", short(other)),
        )),
    }
}

fn short(s: &str) -> String {
    s.chars().take(64).collect()
}
