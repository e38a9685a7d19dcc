//! `GET /catalog`: metadata of every visible layer (DCAT-AP style, JSON or HTML), with the
//! download links of each (`downloads`).

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use cuulong_core::LayerMeta;

use crate::auth::Auth;
use crate::downloads::FORMATS;
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
        "servedFrom": state.snapshot().get(m.id.as_str()).map(|l| l.served_from()),
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
        "temporal": periods(state, m),
    })
}

/// An admin layer in time: its periods, with the names of their units when there are few (the
/// province's name as of each day: "Tỉnh Bến Tre (đến 30/6/2025)", "Tỉnh Vĩnh Long (từ
/// 1/7/2025), khu vực Bến Tre cũ"). `None` for other layers.
fn periods(state: &AppState, m: &LayerMeta) -> Option<Vec<serde_json::Value>> {
    let temporal = state.temporal.load();
    let epochs = temporal.get(m.id.as_str())?;
    let label = m.schema.index_of("label");
    let name = m.schema.index_of("name");
    Some(
        epochs
            .periods()
            .filter(|(_, _, s)| !s.is_empty())
            .map(|(from, to, s)| {
                let names: Vec<String> = if s.len() <= 3 {
                    s.features()
                        .filter_map(|f| {
                            let text = |i: Option<usize>| i.and_then(|i| f.values[i].as_str());
                            text(label).or(text(name)).map(str::to_owned)
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                serde_json::json!({"from": from, "to": to, "units": s.len(), "names": names})
            })
            .collect(),
    )
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
            // The names of a few-unit admin layer as of each period (the province's).
            let named: Vec<String> = periods(&state, m)
                .unwrap_or_default()
                .iter()
                .flat_map(|p| p["names"].as_array().cloned().unwrap_or_default())
                .filter_map(|n| n.as_str().map(html_escape))
                .collect();
            let dated = if named.is_empty() {
                String::new()
            } else {
                format!("<br><small>{}</small>", named.join(" → "))
            };
            html.push_str(&format!(
                "<tr><td><b>{}</b>{dated}<br>{}<br><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
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
