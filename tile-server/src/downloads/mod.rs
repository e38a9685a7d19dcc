//! `GET /downloads/{layer}.{geojson|csv|fgb|gpkg}`: the features of the layer version being
//! served — the one tiles, maps and features answer from — streamed from the store
//! (`Store::features_of` with that version). When the store has already moved on to a newer
//! version the server has not swapped in yet, the answer is a 503 with `Retry-After: 1`
//! rather than a file that differs from the map.

mod encode;
mod files;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use cuulong_core::LayerId;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::state::AppState;
pub use files::EncodeError;

/// The download formats: extension, name, media type.
pub const FORMATS: [(&str, &str, &str); 4] = [
    ("geojson", "GeoJSON", "application/geo+json"),
    ("fgb", "FlatGeobuf", "application/flatgeobuf"),
    ("gpkg", "GeoPackage", "application/geopackage+sqlite3"),
    ("csv", "CSV (WKT geometry)", "text/csv"),
];

pub async fn download(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
    let (layer, ext, media) = parse_file(&file)?;
    let meta = state
        .visible(&caller)
        .get(layer.as_str())
        .map(|l| l.meta().clone())
        .ok_or_else(|| ApiError::NotFound(format!("layer '{layer}' does not exist")))?;
    state.audit_read(&caller, &meta, "downloads");
    let features = state.store.features_of(&layer, Some(meta.version)).await?;
    let body = match ext {
        "geojson" => encode::geojson(meta.schema.clone(), features),
        "csv" => encode::csv(meta.schema.clone(), features),
        _ => {
            let path = files::write_file(&state.work, ext, meta, features).await?;
            let file = tokio::fs::File::open(path.path())
                .await
                .map_err(EncodeError::from)?;
            // The temp file is unlinked when `path` drops; the open handle keeps it readable.
            drop(path);
            axum::body::Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
    };
    Ok((attachment(layer.as_str(), ext, media), body).into_response())
}

/// `{layer}.{ext}` → the layer id, the extension and its media type.
fn parse_file(file: &str) -> Result<(LayerId, &str, &'static str), ApiError> {
    let (id, ext) = file.rsplit_once('.').ok_or_else(|| {
        ApiError::NotFound("downloads are /downloads/{layer}.{geojson|csv|fgb|gpkg}".into())
    })?;
    let (_, _, media) = FORMATS.iter().find(|(e, _, _)| *e == ext).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no download format '{}' (geojson, csv, fgb, gpkg)",
            ext.chars().take(16).collect::<String>()
        ))
    })?;
    let layer =
        LayerId::parse(id).map_err(|_| ApiError::NotFound("layer does not exist".into()))?;
    Ok((layer, ext, media))
}

fn attachment(id: &str, ext: &str, media: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h
}
