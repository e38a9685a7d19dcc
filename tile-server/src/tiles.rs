//! `GET /tiles/{layers}/{z}/{x}/{y}.mvt` and `GET /tiles/{layers}.json` (TileJSON 3.0.0).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::io::{Read, Write};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cuulong_core::source::LayerSource;
use cuulong_core::tile::TileId;
use cuulong_core::FieldType;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::{AppState, Served};

pub const MVT_TYPE: &str = "application/vnd.mapbox-vector-tile";

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}

fn parse_coord(name: &str, s: &str) -> Result<u64, ApiError> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(format!(
            "{name}: '{}' is not a tile coordinate (a non-negative integer)",
            truncate(s)
        )));
    }
    s.parse()
        .map_err(|_| ApiError::BadRequest(format!("{name}: '{s}' is out of range")))
}

/// The version token of a set of layers: changes whenever any of them changes.
pub fn version_token(layers: &[Arc<dyn LayerSource>]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    for l in layers {
        l.meta().id.as_str().hash(&mut h);
        l.meta().version.hash(&mut h);
    }
    format!("{:016x}", h.finish())
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = flate2::read::GzDecoder::new(bytes).read_to_end(&mut out);
    out
}

/// Encodes a tile (uncompressed MVT bytes; empty when no layer has a feature there).
pub fn render(layers: &[Arc<dyn LayerSource>], tile: TileId) -> Vec<u8> {
    let tile_layers: Vec<_> = layers.iter().filter_map(|l| l.tile(tile)).collect();
    cuulong_core::mvt::encode_tile(&tile_layers)
}

pub async fn tile(
    State(state): State<Arc<AppState>>,
    Path((list, z, x, y)): Path<(String, String, String, String)>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::NotReady);
    }
    let Some(y) = y.strip_suffix(".mvt") else {
        return Err(ApiError::NotFound(format!(
            "no such resource: tiles are /tiles/{{layers}}/{{z}}/{{x}}/{{y}}.mvt, not '{}'",
            truncate(&y)
        )));
    };
    let tile = TileId::new(
        parse_coord("z", &z)?,
        parse_coord("x", &x)?,
        parse_coord("y", y)?,
    )?;
    let layers = state.resolve(&caller, "layers", &list, "tiles")?;
    let layers = state.on_day(layers, datetime(&q)?);
    serve_tile(&state, layers, tile, &headers).await
}

/// Answers a vector tile of `layers`: 304 when the client's ETag matches, else the cached or
/// newly encoded bytes (204 for an empty tile), gzip when the client takes it.
pub async fn serve_tile(
    state: &Arc<AppState>,
    layers: Vec<Served>,
    tile: TileId,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let kind = TileKind::Vector;
    let name = format!("{}/{}/{}", tile.z, tile.x, tile.y);
    serve_cached(state, layers, &name, kind, headers, move |layers, _| {
        Ok(render(layers, tile))
    })
    .await
}

/// What a cached tile holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TileKind {
    /// MVT, kept gzip-compressed.
    Vector,
    /// An image of this media type, kept as encoded, whose drawing takes this many bytes of
    /// the render budget (reserved only when it is not in the cache).
    Image(&'static str, u64),
}

/// The one way a tile is answered, whatever its grid and kind: ETag from the layers' versions
/// and `name` (grid, level, row, column and anything else that changes the bytes), 304 on a
/// match; else the bytes from the cache or from `make` run as compute work (interruptible;
/// cached even if the client has gone, the next one will want them); 204 when empty.
pub async fn serve_cached<F>(
    state: &Arc<AppState>,
    layers: Vec<Served>,
    name: &str,
    kind: TileKind,
    headers: &HeaderMap,
    make: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(&[Served], &cuulong_core::interrupt::Interrupt) -> Result<Vec<u8>, ApiError>
        + Send
        + 'static,
{
    let token = version_token(&layers);
    let etag = format!("\"{token}-{}\"", name.replace('/', "-"));
    let mut common = tile_headers(&layers, &etag);
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return Ok((StatusCode::NOT_MODIFIED, common).into_response());
    }
    // The version token names the layers and their versions, so the key needs no layer list.
    let key = format!("{token}/{name}");
    let bytes = tile_bytes(state, layers, key, kind, make).await?;
    if bytes.is_empty() {
        return Ok((StatusCode::NO_CONTENT, common).into_response());
    }
    match kind {
        TileKind::Image(media, _) => {
            common.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
            Ok((common, bytes).into_response())
        }
        TileKind::Vector => {
            common.insert(header::CONTENT_TYPE, HeaderValue::from_static(MVT_TYPE));
            if accepts_gzip(headers) {
                common.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                Ok((common, bytes).into_response())
            } else {
                Ok((common, gunzip(&bytes)).into_response())
            }
        }
    }
}

/// ETag, cache rules and Vary of a tile answer. Shared caches may keep open tiles; tiles with
/// a shared or restricted layer only the caller's own cache, or a proxy could hand them to
/// someone without the key.
fn tile_headers(layers: &[Served], etag: &str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::ETAG,
        HeaderValue::from_str(etag).unwrap_or(HeaderValue::from_static("\"0\"")),
    );
    let all_open = layers
        .iter()
        .all(|l| l.meta().access == cuulong_core::Access::Open);
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if all_open {
            "public, max-age=60"
        } else {
            "private, max-age=60"
        }),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("Accept-Encoding, Authorization"),
    );
    h
}

/// The tile's bytes (vector tiles gzip-compressed; empty for an empty tile), from the cache
/// or made as compute work.
async fn tile_bytes<F>(
    state: &Arc<AppState>,
    layers: Vec<Served>,
    key: String,
    kind: TileKind,
    make: F,
) -> Result<Bytes, ApiError>
where
    F: FnOnce(&[Served], &cuulong_core::interrupt::Interrupt) -> Result<Vec<u8>, ApiError>
        + Send
        + 'static,
{
    let counted = |hit: bool| {
        let counter = if hit {
            &state.metrics.tile_cache_hits
        } else {
            &state.metrics.tile_cache_misses
        };
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    };
    if let Some(bytes) = state.cache.as_ref().and_then(|c| c.get(&key)) {
        counted(true);
        return Ok(bytes);
    }
    counted(false);
    // Drawing an image takes its buffers out of the render budget, like a GetMap; a cache hit
    // above needs none.
    let _memory = match kind {
        TileKind::Image(_, bytes) if bytes > 0 => Some(state.work.reserve(bytes).await?),
        _ => None,
    };
    let job_state = state.clone();
    state
        .work
        .run(move |interrupt| -> Result<Bytes, ApiError> {
            // Many requests for one new tile queue here together: the first renders, the
            // rest find its bytes once their turn comes.
            if let Some(bytes) = job_state.cache.as_ref().and_then(|c| c.get(&key)) {
                return Ok(bytes);
            }
            let raw = make(&layers, interrupt)?;
            let bytes = Bytes::from(match kind {
                TileKind::Vector if !raw.is_empty() => gzip(&raw),
                _ => raw,
            });
            if let Some(c) = &job_state.cache {
                c.insert(key, bytes.clone());
            }
            Ok(bytes)
        })
        .await
}

fn json_type(kind: FieldType) -> &'static str {
    match kind {
        FieldType::Bool => "Boolean",
        FieldType::Int | FieldType::Float => "Number",
        FieldType::Text | FieldType::Date | FieldType::DateTime => "String",
    }
}

/// `datetime=` of a tile or TileJSON request: the day whose admin units to serve.
pub fn datetime(q: &HashMap<String, String>) -> Result<Option<chrono::NaiveDate>, ApiError> {
    q.get("datetime")
        .filter(|v| !crate::http::is_blank(v))
        .map(|v| crate::http::day_param("datetime", v))
        .transpose()
}

pub async fn tilejson(
    State(state): State<Arc<AppState>>,
    Path(segment): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::NotReady);
    }
    let Some(list) = segment.strip_suffix(".json") else {
        return Err(ApiError::NotFound(format!(
            "no such resource '/tiles/{}': TileJSON is /tiles/{{layers}}.json",
            truncate(&segment)
        )));
    };
    let layers = state.resolve(&caller, "layers", list, "tilejson")?;
    let day = datetime(&q)?;
    let layers = state.on_day(layers, day);
    let base = state.base_url(&headers);
    let mut doc = tilejson_document(&layers, &base, list);
    // The tiles of that day: the template carries it.
    if let (Some(day), Some(url)) = (day, doc["tiles"][0].as_str().map(str::to_owned)) {
        doc["tiles"][0] = format!("{url}&datetime={day}").into();
    }
    let mut resp = Json(doc).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(resp)
}

/// The TileJSON 3.0.0 document of `layers` (named `list` in the tile URL): bounds and centre
/// from their extents, attribution from their licences, each layer's fields.
fn tilejson_document(layers: &[Served], base: &str, list: &str) -> serde_json::Value {
    let token = version_token(layers);
    let mut bounds = [180.0f64, 85.0, -180.0, -85.0];
    for l in layers {
        if let Some(b) = l.meta().bbox {
            bounds = [
                bounds[0].min(b.0[0]),
                bounds[1].min(b.0[1]),
                bounds[2].max(b.0[2]),
                bounds[3].max(b.0[3]),
            ];
        }
    }
    if bounds[0] > bounds[2] {
        bounds = [-180.0, -85.051_128_779_806_59, 180.0, 85.051_128_779_806_59];
    }
    let center = [
        (bounds[0] + bounds[2]) / 2.0,
        (bounds[1] + bounds[3]) / 2.0,
        9.0,
    ];
    let mut licences: Vec<String> = layers
        .iter()
        .filter_map(|l| l.meta().licence.clone())
        .collect();
    licences.sort();
    licences.dedup();
    let vector_layers: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let fields: serde_json::Map<String, serde_json::Value> = l
                .meta()
                .schema
                .fields
                .iter()
                .map(|f| (f.name.clone(), json_type(f.kind).into()))
                .collect();
            serde_json::json!({
                "id": l.meta().id,
                "description": format!("{} / {}", &l.meta().title_vi, &l.meta().title_en),
                "minzoom": 0,
                "maxzoom": 22,
                "fields": fields,
            })
        })
        .collect();
    serde_json::json!({
        "tilejson": "3.0.0",
        "name": layers.iter().map(|l| l.meta().title_vi.as_str()).collect::<Vec<_>>().join(", "),
        "description": layers.iter().map(|l| l.meta().title_en.as_str()).collect::<Vec<_>>().join(", "),
        "version": "1.0.0",
        "attribution": licences.join("; "),
        "scheme": "xyz",
        "tiles": [format!("{base}/tiles/{list}/{{z}}/{{x}}/{{y}}.mvt?v={token}")],
        "minzoom": 0,
        "maxzoom": 22,
        "bounds": bounds,
        "center": center,
        "vector_layers": vector_layers,
    })
}
