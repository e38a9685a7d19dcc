//! OGC API – Tiles 1.0 over the layer sources: the tile matrix sets (`/tileMatrixSets`), each
//! collection's vector tilesets (`/collections/{id}/tiles`, MVT in the grid's CRS) and map
//! tilesets (`/collections/{id}/map/tiles`, PNG or JPEG from the WMS renderer and the same
//! styles), in every served grid. Tiles go through the same access rule, cache (keyed by grid
//! too), ETag/304 and 204-when-empty as `/tiles`.

mod docs;
pub(crate) mod grid;

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::GivenQuery;
use crate::state::{AppState, Served};
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
    let scope = docs::Scope::Collection(layer.meta());
    Ok(Json(docs::tilesets(&state.grids, &scope, kind, &base)))
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
    let scope = docs::Scope::Collection(layer.meta());
    Ok(Json(docs::tileset(grid, &scope, kind, &base)))
}

/// `GET /collections/{id}/tiles/{tms}/{level}/{row}/{col}`: a vector tile in the grid's CRS.
pub async fn vector_tile(
    State(state): State<Arc<AppState>>,
    Path((id, tms, level, row, col)): Path<(String, String, String, String, String)>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    vector_format(q.get("f").map(String::as_str))?;
    let layers = vec![state.collection(&caller, &id, "tiles")?];
    let layers = state.on_day(layers, crate::tiles::datetime(&q)?);
    let request = GridRequest::parse(&state.grids, &tms, &level, &row, &col)?;
    check_limits(&request, &layers)?;
    serve_vector_tile(&state, layers, &request, &headers).await
}

/// A vector tile of `layers` (one MVT layer each) in any grid, through the tile cache;
/// WebMercatorQuad tiles are the XYZ tiles.
async fn serve_vector_tile(
    state: &Arc<AppState>,
    layers: Vec<Served>,
    request: &GridRequest<'_>,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(xyz) = request.xyz() {
        return serve_tile(state, layers, xyz, headers).await;
    }
    let (grid, tile) = (request.tms.clone(), request.tile);
    let name = request.name();
    serve_cached(
        state,
        layers,
        &name,
        TileKind::Vector,
        headers,
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
    let jpeg = map_format(q.get("f").map(String::as_str))?;
    let layers = vec![state.collection(&caller, &id, "map tiles")?];
    let layers = state.on_day(layers, crate::tiles::datetime(&q)?);
    let request = GridRequest::parse(&state.grids, &tms, &level, &row, &col)?;
    check_limits(&request, &layers)?;
    serve_map_tile(&state, layers, &request, None, jpeg, &headers).await
}

/// `datetime=` of a dataset tile: the day whose admin units it holds.
fn dataset_day(q: &[(String, String)]) -> Result<Option<chrono::NaiveDate>, ApiError> {
    q.iter()
        .find(|(k, v)| k == "datetime" && !crate::http::is_blank(v))
        .map(|(_, v)| crate::http::day_param("datetime", v))
        .transpose()
}

/// A tile outside its tileset's `tileMatrixSetLimits` is a 404, as one outside the matrix.
fn check_limits(request: &GridRequest<'_>, layers: &[Served]) -> Result<(), ApiError> {
    if request.within_limits(layers) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no tile {} in this tileset: outside its tileMatrixSetLimits (see the tileset)",
            request.name()
        )))
    }
}

/// `f` of a vector tile: MVT, the only format (given empty, not given).
fn vector_format(f: Option<&str>) -> Result<(), ApiError> {
    match f {
        None | Some("") | Some("mvt") => Ok(()),
        Some(other) => Err(ApiError::BadRequest(format!(
            "f: '{}' is not offered for vector tiles (mvt)",
            other.chars().take(16).collect::<String>()
        ))),
    }
}

/// `f` of a map tile: PNG (the default) or JPEG.
fn map_format(f: Option<&str>) -> Result<bool, ApiError> {
    match f {
        None | Some("") | Some("png") | Some("image/png") => Ok(false),
        Some("jpeg") | Some("jpg") | Some("image/jpeg") => Ok(true),
        Some(other) => Err(ApiError::BadRequest(format!(
            "f: '{}' is not offered for map tiles (png, jpeg)",
            other.chars().take(16).collect::<String>()
        ))),
    }
}

/// A map tile of `layers` (drawn in order) in the style named `style` (else each one's
/// default), as PNG or JPEG, through the tile cache: OGC API – Tiles map tiles and WMTS
/// GetTile alike.
pub(crate) async fn serve_map_tile(
    state: &Arc<AppState>,
    layers: Vec<Served>,
    request: &GridRequest<'_>,
    style: Option<&str>,
    jpeg: bool,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let frame = tile_frame(request)?;
    let drawn = styled(state, layers.clone(), style).map_err(wms_to_api)?;
    let style_name = drawn
        .iter()
        .map(|d| d.style.as_ref().map_or("none", |s| s.name.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    let (media, ext) = if jpeg {
        ("image/jpeg", "jpeg")
    } else {
        ("image/png", "png")
    };
    let name = format!("map/{style_name}/{}.{ext}", request.name());
    // A tile's image buffers come out of the render budget like a GetMap's, on a cache miss.
    let kind = TileKind::Image(media, render_bytes(frame.width, frame.height));
    serve_cached(state, layers, &name, kind, headers, {
        move |_, interrupt| {
            crate::wms::map::tile_image(&frame, &drawn, jpeg, interrupt).map_err(wms_to_api)
        }
    })
    .await
}

/// The layers of a dataset tile: `collections` (a comma list, read as every layer list is),
/// else every layer the caller may see.
fn dataset_layers(
    state: &AppState,
    caller: &cuulong_core::access::Caller,
    q: &[(String, String)],
) -> Result<Vec<Served>, ApiError> {
    match q
        .iter()
        .find(|(k, _)| k == "collections")
        .map(|(_, v)| v.trim())
    {
        Some(list) if !list.is_empty() => {
            Ok(state.resolve(caller, "collections", list, "tiles")?)
        }
        _ => Ok(state.visible(caller).values().cloned().collect()),
    }
}

/// `GET /tiles` and `GET /map/tiles`: the dataset's tilesets, one per grid.
pub async fn dataset_tilesets(
    State(state): State<Arc<AppState>>,
    Auth(caller): Auth,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Json<serde_json::Value> {
    let visible = state.visible(&caller);
    let scope = docs::Scope::Dataset(visible.values().map(|l| l.meta()).collect());
    let base = state.base_url(&headers);
    Json(docs::tilesets(
        &state.grids,
        &scope,
        docs::Kind::of(uri.path()),
        &base,
    ))
}

/// `GET /tiles/{segment}`: TileJSON (`/tiles/{layers}.json`) or the dataset's vector tileset
/// in a grid (`/tiles/{tms}`); `GET /map/tiles/{tms}`: its map tileset.
pub async fn dataset_tileset(
    State(state): State<Arc<AppState>>,
    Path(segment): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
    Auth(caller): Auth,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    // `.json`, or a segment that names no grid, is TileJSON (and its errors).
    let map = uri.path().starts_with("/map/");
    if !map && (segment.ends_with(".json") || state.grid(&segment).is_none()) {
        let q = Query(q.iter().cloned().collect());
        return crate::tiles::tilejson(State(state), Path(segment), q, Auth(caller), headers).await;
    }
    let layers = dataset_layers(&state, &caller, &q)?;
    let grid = GridRequest::parse(&state.grids, &segment, "0", "0", "0")?.tms;
    let scope = docs::Scope::Dataset(layers.iter().map(|l| l.meta()).collect());
    let base = state.base_url(&headers);
    Ok(Json(docs::tileset(
        grid,
        &scope,
        docs::Kind::of(uri.path()),
        &base,
    ))
    .into_response())
}

/// `GET /tiles/{a}/{b}/{c}/{d}`: an XYZ tile (`/tiles/{layers}/{z}/{x}/{y}.mvt`) or the
/// dataset's vector tile in a grid (`/tiles/{tms}/{level}/{row}/{col}[?collections=…]`).
pub async fn dataset_vector_tile(
    State(state): State<Arc<AppState>>,
    Path((a, b, c, d)): Path<(String, String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // `.mvt`, or a first segment that names no grid, is the XYZ path (and its errors).
    if d.ends_with(".mvt") || state.grid(&a).is_none() {
        let q = Query(q.iter().cloned().collect());
        return crate::tiles::tile(State(state), Path((a, b, c, d)), q, Auth(caller), headers)
            .await;
    }
    if !state.is_ready() {
        return Err(ApiError::NotReady);
    }
    let f = q.iter().find(|(k, _)| k == "f").map(|(_, v)| v.as_str());
    vector_format(f)?;
    let layers = dataset_layers(&state, &caller, &q)?;
    let layers = state.on_day(layers, dataset_day(&q)?);
    let request = GridRequest::parse(&state.grids, &a, &b, &c, &d)?;
    check_limits(&request, &layers)?;
    serve_vector_tile(&state, layers, &request, &headers).await
}

/// `GET /map/tiles/{tms}/{level}/{row}/{col}[?collections=…][&f=png|jpeg]`: the dataset's
/// map tile, the layers drawn in order with their default styles.
pub async fn dataset_map_tile(
    State(state): State<Arc<AppState>>,
    Path((tms, level, row, col)): Path<(String, String, String, String)>,
    Query(q): Query<Vec<(String, String)>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let f = q.iter().find(|(k, _)| k == "f").map(|(_, v)| v.as_str());
    let jpeg = map_format(f)?;
    let layers = dataset_layers(&state, &caller, &q)?;
    let layers = state.on_day(layers, dataset_day(&q)?);
    let request = GridRequest::parse(&state.grids, &tms, &level, &row, &col)?;
    check_limits(&request, &layers)?;
    serve_map_tile(&state, layers, &request, None, jpeg, &headers).await
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
