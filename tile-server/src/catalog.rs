//! `GET /catalog`: metadata of every visible layer (DCAT-AP style, JSON or HTML), and
//! `GET /downloads/{layer}.{geojson|csv|fgb|gpkg}`: the layer's features, streamed from the
//! store (GeoJSON, CSV) or written to a temporary file first where the format needs it
//! (FlatGeobuf's index, GeoPackage through GDAL) — never built in memory.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use cuulong_core::{Feature, FieldType, LayerId, LayerMeta, Value};
use futures::{StreamExt, TryStreamExt};
use geozero::{ToJson, ToWkt};

use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::html_escape;
use crate::state::AppState;

#[derive(serde::Deserialize)]
pub struct FormatQuery {
    f: Option<String>,
}

fn wants_html(q: &FormatQuery, headers: &HeaderMap) -> bool {
    match q.f.as_deref() {
        Some("html") => true,
        Some(_) => false,
        None => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html")),
    }
}

const FORMATS: [(&str, &str, &str); 4] = [
    ("geojson", "GeoJSON", "application/geo+json"),
    ("fgb", "FlatGeobuf", "application/flatgeobuf"),
    ("gpkg", "GeoPackage", "application/geopackage+sqlite3"),
    ("csv", "CSV (WKT geometry)", "text/csv"),
];

async fn dataset(state: &AppState, m: &LayerMeta, base: &str) -> serde_json::Value {
    // The catalogue is served from memory while the store is away; the history is the store's
    // and is left out (and said so in the log) rather than failing the whole catalogue.
    let history = match state.store.history(&m.id).await {
        Ok(h) => h,
        Err(e) => {
            tracing::warn!(layer = %m.id, error = %e, "catalogue without import history: the store did not answer");
            Vec::new()
        }
    };
    let last = history.last();
    let distributions: Vec<serde_json::Value> = FORMATS
        .iter()
        .map(|(ext, name, media)| {
            serde_json::json!({
                "title": name, "format": name, "mediaType": media,
                "downloadURL": format!("{base}/downloads/{}.{ext}", m.id),
            })
        })
        .chain(std::iter::once(serde_json::json!({
            "title": "Mapbox Vector Tiles (TileJSON)", "format": "MVT",
            "mediaType": "application/vnd.mapbox-vector-tile",
            "accessURL": format!("{base}/tiles/{}.json", m.id),
        })))
        .collect();
    serde_json::json!({
        "type": "dcat:Dataset",
        "identifier": m.id,
        "title": {"vi": m.title_vi, "en": m.title_en},
        "theme": m.family,
        "keyword": [m.family.clone().unwrap_or_else(|| "generic".into())],
        "publisher": m.owner,
        "license": m.licence,
        "accessRights": m.access.as_str(),
        "provenance": m.lineage,
        "modified": m.updated_at,
        "version": m.version,
        "spatial": {"bbox": m.bbox.map(|b| b.0), "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"},
        "geometryType": m.geometry_type,
        "featureCount": m.feature_count,
        "fields": m.schema,
        "quality": last.map(|h| serde_json::json!({
            "read": h.read, "imported": h.imported, "repaired": h.repaired, "rejected": h.rejected,
            "sourceCrs": h.src_crs, "transformation": h.transformation, "sha256": h.sha256,
        })),
        "history": history.iter().map(|h| serde_json::json!({
            "version": h.version, "finished_at": h.finished_at, "file": std::path::Path::new(&h.file).file_name().map(|f| f.to_string_lossy().into_owned()),
            "read": h.read, "imported": h.imported, "rejected": h.rejected,
        })).collect::<Vec<_>>(),
        "distribution": distributions,
    })
}

pub async fn catalog(
    State(state): State<Arc<AppState>>,
    Query(q): Query<FormatQuery>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
    let visible = state.visible(&caller);
    let mut datasets = Vec::new();
    for l in visible.values() {
        state.audit_read(&caller, l.meta(), "catalog");
        datasets.push(dataset(&state, l.meta(), &base).await);
    }
    if wants_html(&q, &headers) {
        let mut html = String::from(
            "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Danh mục dữ liệu / Data catalogue — cuulong</title>\
             <style>body{font-family:sans-serif;margin:2em;max-width:70em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}</style></head><body>\
             <h1>Danh mục dữ liệu tỉnh Bến Tre <small>/ Bến Tre data catalogue</small></h1>\
             <table><tr><th>Lớp / Layer</th><th>Nhóm / Family</th><th>Quyền / Access</th><th>Cơ quan / Owner</th><th>Giấy phép / Licence</th><th>Đối tượng / Features</th><th>Phiên bản / Version</th><th>Tải về / Download</th></tr>",
        );
        for l in visible.values() {
            let m = l.meta();
            let links: Vec<String> = FORMATS
                .iter()
                .map(|(ext, name, _)| format!("<a href=\"/downloads/{}.{ext}\">{name}</a>", m.id))
                .collect();
            html.push_str(&format!(
                "<tr><td><b>{}</b><br>{}<br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
                html_escape(&m.title_vi),
                html_escape(&m.title_en),
                m.id,
                html_escape(m.family.as_deref().unwrap_or("-")),
                m.access.as_str(),
                html_escape(m.owner.as_deref().unwrap_or("-")),
                html_escape(m.licence.as_deref().unwrap_or("-")),
                m.feature_count,
                m.version,
                m.updated_at.format("%Y-%m-%d %H:%M"),
                links.join(" · ")
            ));
        }
        html.push_str("</table><p><a href=\"/catalog?f=json\">JSON (DCAT-AP)</a> · <a href=\"/map\">Bản đồ / Map</a></p></body></html>");
        return Ok(Html(html).into_response());
    }
    Ok(Json(serde_json::json!({
        "type": "dcat:Catalog",
        "title": {"vi": "Danh mục dữ liệu không gian tỉnh Bến Tre", "en": "Bến Tre geospatial data catalogue"},
        "homepage": format!("{base}/map"),
        "dataset": datasets,
    }))
    .into_response())
}

fn attachment(id: &str, ext: &str, media: &'static str) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.{ext}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h
}

fn csv_cell(v: &Value) -> String {
    let s = v.to_string();
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

pub async fn download(
    State(state): State<Arc<AppState>>,
    Path(file): Path<String>,
    Auth(caller): Auth,
) -> Result<Response, ApiError> {
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
    let meta = state
        .visible(&caller)
        .get(layer.as_str())
        .map(|l| l.meta().clone())
        .ok_or_else(|| ApiError::NotFound(format!("layer '{layer}' does not exist")))?;
    state.audit_read(&caller, &meta, "downloads");
    let features = state.store.features(&layer).await?;
    let headers = attachment(id, ext, media);
    let schema = meta.schema.clone();
    let body = match ext {
        "geojson" => {
            let mut first = true;
            let head = futures::stream::once(async {
                Ok::<_, std::io::Error>(Bytes::from_static(
                    b"{\"type\":\"FeatureCollection\",\"features\":[\n",
                ))
            });
            let feats = features.map(move |f| {
                let f = f.map_err(std::io::Error::other)?;
                let geometry = f.geometry.to_json().map_err(std::io::Error::other)?;
                let props = serde_json::Value::Object(schema.properties_json(&f.values));
                let sep = if std::mem::take(&mut first) { "" } else { ",\n" };
                Ok(Bytes::from(format!(
                    "{sep}{{\"type\":\"Feature\",\"id\":{},\"geometry\":{geometry},\"properties\":{props}}}",
                    f.id
                )))
            });
            let tail = futures::stream::once(async { Ok(Bytes::from_static(b"\n]}\n")) });
            Body::from_stream(head.chain(feats).chain(tail))
        }
        "csv" => {
            let mut header_line = String::from("fid,wkt");
            for f in &schema.fields {
                header_line.push(',');
                header_line.push_str(&csv_cell(&Value::Text(f.name.clone())));
            }
            header_line.push('\n');
            let head =
                futures::stream::once(
                    async move { Ok::<_, std::io::Error>(Bytes::from(header_line)) },
                );
            let rows = features.map(move |f| {
                let f = f.map_err(std::io::Error::other)?;
                let wkt = f.geometry.to_wkt().map_err(std::io::Error::other)?;
                let mut row = format!("{},\"{wkt}\"", f.id);
                for v in &f.values {
                    row.push(',');
                    row.push_str(&csv_cell(v));
                }
                row.push('\n');
                Ok(Bytes::from(row))
            });
            Body::from_stream(head.chain(rows))
        }
        _ => {
            let path = write_file(&state.work, ext, meta, features).await?;
            let file = tokio::fs::File::open(path.path())
                .await
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            // The temp file is unlinked when `path` drops; the open handle keeps it readable.
            drop(path);
            Body::from_stream(tokio_util::io::ReaderStream::new(file))
        }
    };
    Ok((headers, body).into_response())
}

/// Writes FlatGeobuf or GeoPackage to a temporary file, feature by feature. The encoder runs
/// as compute work (one of the cores' slots); if the client leaves, the feed stops and the
/// encoder ends with it.
async fn write_file(
    work: &crate::work::Work,
    ext: &str,
    meta: LayerMeta,
    features: cuulong_store::FeatureStream,
) -> Result<tempfile::NamedTempFile, ApiError> {
    let tmp = tempfile::Builder::new()
        .prefix("cuulong-download-")
        .suffix(&format!(".{ext}"))
        .tempfile()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Feature>(256);
    let path = tmp.path().to_owned();
    let ext = ext.to_owned();
    let writer = work.run(move |_| -> Result<(), ApiError> {
        match ext.as_str() {
            "fgb" => write_fgb(&path, &meta, &mut rx),
            _ => write_gpkg(&path, &meta, &mut rx),
        }
        .map_err(ApiError::Internal)
    });
    let feed = async move {
        let mut features = features;
        while let Some(f) = features
            .try_next()
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
        {
            if tx.send(f).await.is_err() {
                break;
            }
        }
        Ok::<(), ApiError>(())
    };
    tokio::try_join!(feed, writer)?;
    Ok(tmp)
}

fn write_fgb(
    path: &std::path::Path,
    meta: &LayerMeta,
    rx: &mut tokio::sync::mpsc::Receiver<Feature>,
) -> Result<(), String> {
    use flatgeobuf::{ColumnType, FgbCrs, FgbWriter, FgbWriterOptions, GeometryType};
    use geozero::{ColumnValue, PropertyProcessor};
    let mut fgb = FgbWriter::create_with_options(
        meta.id.as_str(),
        GeometryType::Unknown,
        FgbWriterOptions {
            write_index: true,
            crs: FgbCrs {
                code: 4326,
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .map_err(|e| e.to_string())?;
    fgb.add_column("fid", ColumnType::Long, |_, _| {});
    for f in &meta.schema.fields {
        let t = match f.kind {
            FieldType::Bool => ColumnType::Bool,
            FieldType::Int => ColumnType::Long,
            FieldType::Float => ColumnType::Double,
            FieldType::Text => ColumnType::String,
            FieldType::Date | FieldType::DateTime => ColumnType::DateTime,
        };
        fgb.add_column(&f.name, t, |_, _| {});
    }
    while let Some(f) = rx.blocking_recv() {
        let mut err = None;
        fgb.add_feature_geom(f.geometry.clone(), |w| {
            let _ = w.property(0, "fid", &ColumnValue::Long(f.id));
            for (i, (field, v)) in meta.schema.fields.iter().zip(&f.values).enumerate() {
                let text;
                let cv = match v {
                    Value::Null => continue,
                    Value::Bool(b) => ColumnValue::Bool(*b),
                    Value::Int(n) => ColumnValue::Long(*n),
                    Value::Float(x) => ColumnValue::Double(*x),
                    Value::Text(s) => ColumnValue::String(s),
                    other => {
                        text = other.to_string();
                        ColumnValue::DateTime(&text)
                    }
                };
                if let Err(e) = w.property(i + 1, &field.name, &cv) {
                    err.get_or_insert(e.to_string());
                }
            }
        })
        .map_err(|e| e.to_string())?;
        if let Some(e) = err {
            return Err(e);
        }
    }
    let out = std::fs::File::create(path).map_err(|e| e.to_string())?;
    fgb.write(std::io::BufWriter::new(out))
        .map_err(|e| e.to_string())
}

fn write_gpkg(
    path: &std::path::Path,
    meta: &LayerMeta,
    rx: &mut tokio::sync::mpsc::Receiver<Feature>,
) -> Result<(), String> {
    use gdal::vector::{Geometry as OgrGeometry, LayerOptions};
    use gdal::DriverManager;
    use geozero::{CoordDimensions, ToWkb};
    let _ = std::fs::remove_file(path);
    let driver = DriverManager::get_driver_by_name("GPKG").map_err(|e| e.to_string())?;
    let mut ds = driver.create_vector_only(path).map_err(|e| e.to_string())?;
    let srs = gdal::spatial_ref::SpatialRef::from_epsg(4326).map_err(|e| e.to_string())?;
    let mut txn = ds.start_transaction().map_err(|e| e.to_string())?;
    let layer = txn
        .create_layer(LayerOptions {
            name: meta.id.as_str(),
            srs: Some(&srs),
            ty: gdal_sys::OGRwkbGeometryType::wkbUnknown,
            options: Some(&["FID=fid"]),
        })
        .map_err(|e| e.to_string())?;
    use gdal_sys::OGRFieldType as T;
    for f in &meta.schema.fields {
        let t = match f.kind {
            FieldType::Bool | FieldType::Int => T::OFTInteger64,
            FieldType::Float => T::OFTReal,
            FieldType::Text => T::OFTString,
            FieldType::Date => T::OFTDate,
            FieldType::DateTime => T::OFTDateTime,
        };
        gdal::vector::FieldDefn::new(&f.name, t)
            .and_then(|d| d.add_to_layer(&layer))
            .map_err(|e| e.to_string())?;
    }
    let defn = gdal::vector::Defn::from_layer(&layer);
    while let Some(f) = rx.blocking_recv() {
        let mut feature = gdal::vector::Feature::new(&defn).map_err(|e| e.to_string())?;
        let wkb = f
            .geometry
            .to_wkb(CoordDimensions::xy())
            .map_err(|e| e.to_string())?;
        feature
            .set_geometry(OgrGeometry::from_wkb(&wkb).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        // SAFETY: the handle is valid while `feature` lives.
        unsafe { gdal_sys::OGR_F_SetFID(feature.c_feature(), f.id) };
        for (i, v) in f.values.iter().enumerate() {
            let r = match v {
                Value::Null => feature.set_field_null(i),
                Value::Bool(b) => feature.set_field_integer64(i, i64::from(*b)),
                Value::Int(n) => feature.set_field_integer64(i, *n),
                Value::Float(x) => feature.set_field_double(i, *x),
                Value::Text(s) => feature.set_field_string(i, s),
                other => feature.set_field_string(i, &other.to_string()),
            };
            r.map_err(|e| e.to_string())?;
        }
        feature.create(&layer).map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())
}
