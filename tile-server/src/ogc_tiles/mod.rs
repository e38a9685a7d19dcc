//! OGC API – Tiles 1.0 over the layer sources: the tile matrix sets (`/tileMatrixSets`), each
//! collection's vector tilesets (`/collections/{id}/tiles`, MVT in the grid's CRS) and map
//! tilesets (`/collections/{id}/map/tiles`, PNG or JPEG from the WMS renderer and the same
//! styles), in every served grid. Tiles go through the same access rule, cache (keyed by grid
//! too), ETag/304 and 204-when-empty as `/tiles`.

mod docs;
pub(crate) mod grid;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::GivenQuery;
use crate::state::AppState;
use crate::tiles::{serve_cached, serve_tile, TileKind};
use crate::wms::request::{styled, Frame};
use crate::work::render_bytes;
use grid::GridRequest;

pub use docs::CONFORMANCE;

/// `GET /tileMatrixSets`.
pub async fn tile_matrix_sets(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Json<serde_json::Value> {
    Json(docs::tile_matrix_sets(
        &state.grids,
        &state.base_url(&headers),
    ))
}

/// `GET /tileMatrixSets/{id}`: the grid as OGC TMS 2.0 JSON.
pub async fn tile_matrix_set(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<cuulong_core::tms::TileMatrixSet>, ApiError> {
    state.grid(&id).cloned().map(Json).ok_or_else(|| {
        ApiError::NotFound(format!(
            "tile matrix set '{}' is not served (see /tileMatrixSets)",
            id.chars().take(64).collect::<String>()
        ))
    })
}

/// `GET /collections/{id}/tiles` and `/collections/{id}/map/tiles`: the tilesets of a
/// collection, one per grid.
pub async fn tilesets(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Auth(caller): Auth,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kind = docs::Kind::of(uri.path());
    let layer = state.collection(&caller, &id, "tiles")?;
    let base = state.base_url(&headers);
    Ok(Json(docs::tilesets(
        &state.grids,
        layer.meta(),
        kind,
        &base,
    )))
}

/// `GET /collections/{id}/tiles/{tms}` and `/collections/{id}/map/tiles/{tms}`: a tileset's
/// metadata with its limits per level.
pub async fn tileset(
    State(state): State<Arc<AppState>>,
    Path((id, tms)): Path<(String, String)>,
    Auth(caller): Auth,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Json<serde_json::Value>, ApiError> {
    let kind = docs::Kind::of(uri.path());
    let layer = state.collection(&caller, &id, "tiles")?;
    let grid = GridRequest::parse(&state.grids, &tms, "0", "0", "0")?.tms;
    let base = state.base_url(&headers);
    Ok(Json(docs::tileset(grid, layer.meta(), kind, &base)))
}

/// `GET /collections/{id}/tiles/{tms}/{level}/{row}/{col}`: a vector tile in the grid's CRS.
pub async fn vector_tile(
    State(state): State<Arc<AppState>>,
    Path((id, tms, level, row, col)): Path<(String, String, String, String, String)>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(f) = q.get("f").filter(|f| *f != "mvt") {
        return Err(ApiError::BadRequest(format!(
            "f: '{}' is not offered for vector tiles (mvt)",
            f.chars().take(16).collect::<String>()
        )));
    }
    let layers = vec![state.collection(&caller, &id, "tiles")?];
    let request = GridRequest::parse(&state.grids, &tms, &level, &row, &col)?;
    if let Some(xyz) = request.xyz() {
        return serve_tile(&state, layers, xyz, &headers).await;
    }
    let (grid, tile) = (request.tms.clone(), request.tile);
    let name = request.name();
    serve_cached(
        &state,
        layers,
        &name,
        TileKind::Vector,
        &headers,
        move |l, i| grid::vector_tile(l, &grid, tile, i),
    )
    .await
}

/// `GET /collections/{id}/map/tiles/{tms}/{level}/{row}/{col}[?f=png|jpeg]`: a map tile
/// drawn as WMS draws (same renderer, same default style).
pub async fn map_tile(
    State(state): State<Arc<AppState>>,
    Path((id, tms, level, row, col)): Path<(String, String, String, String, String)>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let jpeg = match q.get("f").map(String::as_str) {
        None | Some("png") | Some("image/png") => false,
        Some("jpeg") | Some("jpg") | Some("image/jpeg") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "f: '{}' is not offered for map tiles (png, jpeg)",
                other.chars().take(16).collect::<String>()
            )))
        }
    };
    let layer = state.collection(&caller, &id, "map tiles")?;
    let request = GridRequest::parse(&state.grids, &tms, &level, &row, &col)?;
    serve_map_tile(&state, layer, &request, None, jpeg, &headers).await
}

/// A map tile of `layer` in the style named `style` (else its default), as PNG or JPEG,
/// through the tile cache: OGC API – Tiles map tiles and WMTS GetTile alike.
pub(crate) async fn serve_map_tile(
    state: &Arc<AppState>,
    layer: crate::state::Served,
    request: &GridRequest<'_>,
    style: Option<&str>,
    jpeg: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let frame = tile_frame(request)?;
    let drawn = styled(state, vec![layer.clone()], style).map_err(wms_to_api)?;
    let style_name = drawn[0].style.as_ref().map_or("none", |s| s.name.as_str());
    let (media, ext) = if jpeg {
        ("image/jpeg", "jpeg")
    } else {
        ("image/png", "png")
    };
    let name = format!("map/{style_name}/{}.{ext}", request.name());
    // A tile's image buffers come out of the render budget like a GetMap's.
    let memory = state
        .work
        .reserve(render_bytes(frame.width, frame.height))
        .await?;
    let response = serve_cached(
        state,
        vec![layer],
        &name,
        TileKind::Image(media),
        headers,
        {
            move |_, interrupt| {
                crate::wms::map::tile_image(&frame, &drawn, jpeg, interrupt).map_err(wms_to_api)
            }
        },
    )
    .await;
    drop(memory);
    response
}

/// The WMS frame of a grid tile: its bounds in the grid's CRS and its pixel size.
pub(crate) fn tile_frame(request: &GridRequest<'_>) -> Result<Frame, ApiError> {
    let m = &request.tms.tile_matrices[request.tile.level];
    Ok(Frame {
        crs: request
            .tms
            .map_crs()
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        bbox: request.tms.bounds(request.tile),
        width: m.tile_width,
        height: m.tile_height,
    })
}

/// A WMS error met on an OGC API path: the same status, as a JSON error.
pub(crate) fn wms_to_api(e: crate::wms::request::WmsError) -> ApiError {
    match e.status {
        s if s == axum::http::StatusCode::NOT_FOUND => ApiError::NotFound(e.message),
        s if s.is_client_error() => ApiError::BadRequest(e.message),
        _ => ApiError::Internal(e.message),
    }
}
