//! OGC API – Features Part 1 (Core, GeoJSON, HTML), Part 2 (CRS) and Part 3 (filtering,
//! queryables) over the layer sources: landing page, conformance, collections, items
//! (`items`), the request parameters (`params`). Every layer list passes the visibility rule.

mod items;
mod params;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cuulong_core::source::LayerSource;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::{html_escape, html_page, link, wants_html, GivenQuery};
use crate::state::AppState;
pub use items::{item, items};
use params::CRS84;
pub use params::{crs_uris, ITEMS_PARAMETERS, MAX_LIMIT, MAX_OFFSET};

const CONFORMANCE: [&str; 13] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
];
pub async fn landing(
    State(state): State<Arc<AppState>>,
    GivenQuery(q): GivenQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
    if wants_html(&q, &headers)? {
        return Ok(html_page(
            "cuulong",
            "<h1>cuulong — dữ liệu không gian tỉnh Bến Tre <small>/ Bến Tre geospatial data</small></h1>\
             <ul><li><a href=\"/collections?f=html\">Lớp dữ liệu / Collections</a></li>\
             <li><a href=\"/conformance?f=html\">Conformance</a></li>\
             <li><a href=\"/tiles\">Tilesets (OGC API – Tiles)</a>, <a href=\"/map/tiles\">map tilesets</a>, \
             <a href=\"/tileMatrixSets\">tile matrix sets</a>, <a href=\"/wmts/1.0.0/WMTSCapabilities.xml\">WMTS</a></li>\
             <li><a href=\"/map\">Bản đồ / Map</a></li><li><a href=\"/catalog?f=html\">Danh mục / Catalogue</a></li></ul>",
        ));
    }
    Ok(Json(serde_json::json!({
        "title": "cuulong — dữ liệu không gian tỉnh Bến Tre / Bến Tre geospatial data",
        "description": "Land, environment and transport layers of Bến Tre province: OGC API – Features, vector tiles, catalogue.",
        "links": [
            link(format!("{base}/"), "self", "application/json", "This document"),
            link(format!("{base}/?f=html"), "alternate", "text/html", "This document as HTML"),
            link(format!("{base}/conformance"), "conformance", "application/json", "Conformance classes"),
            link(format!("{base}/conformance"), "http://www.opengis.net/def/rel/ogc/1.0/conformance", "application/json", "Conformance classes"),
            link(format!("{base}/collections"), "data", "application/json", "Collections"),
            link(format!("{base}/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json", "Vector tilesets of the dataset (OGC API – Tiles)"),
            link(format!("{base}/map/tiles"), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map", "application/json", "Map tilesets of the dataset (OGC API – Tiles)"),
            link(format!("{base}/wmts/1.0.0/WMTSCapabilities.xml"), "service-meta", "application/xml", "WMTS 1.0.0 capabilities"),
            link(format!("{base}/tileMatrixSets"), "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes", "application/json", "Tile matrix sets"),
            link(format!("{base}/api"), "service-desc", "application/vnd.oai.openapi+json;version=3.0", "OpenAPI 3.0 definition"),
        ],
    }))
    .into_response())
}

pub async fn conformance(
    GivenQuery(q): GivenQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if wants_html(&q, &headers)? {
        let items: String = CONFORMANCE
            .iter()
            .chain(crate::ogc_tiles::CONFORMANCE.iter())
            .map(|c| format!("<li>{c}</li>"))
            .collect();
        return Ok(html_page(
            "Conformance",
            &format!("<h1>Conformance</h1><ul>{items}</ul>"),
        ));
    }
    let classes: Vec<&str> = CONFORMANCE
        .iter()
        .chain(crate::ogc_tiles::CONFORMANCE.iter())
        .copied()
        .collect();
    Ok(Json(serde_json::json!({"conformsTo": classes})).into_response())
}

fn collection_json(state: &AppState, l: &dyn LayerSource, base: &str) -> serde_json::Value {
    let m = l.meta();
    let bbox = m.bbox.map_or([-180.0, -90.0, 180.0, 90.0], |b| b.0);
    let mut extent = serde_json::json!({"spatial": {"bbox": [bbox], "crs": CRS84}});
    // Admin units in time: the days they cover (items default to today's; `datetime=` others).
    if let Some(e) = state.temporal.load().get(m.id.as_str()) {
        let (from, to) = e.interval();
        extent["temporal"] = serde_json::json!({
            "interval": [[from.map(|d| format!("{d}T00:00:00Z")), to.map(|d| format!("{d}T23:59:59Z"))]],
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
        });
    }
    serde_json::json!({
        "id": m.id,
        "title": format!("{} / {}", m.title_vi, m.title_en),
        "description": format!("{} ({} features, version {}, {})", m.title_en, m.feature_count, m.version, m.access.as_str()),
        "itemType": "feature",
        "crs": crs_uris(),
        "storageCrs": CRS84,
        "extent": extent,
        "links": [
            link(format!("{base}/collections/{}", m.id), "self", "application/json", "This collection"),
            link(format!("{base}/collections/{}/items", m.id), "items", "application/geo+json", "Features"),
            link(format!("{base}/collections/{}/items?f=html", m.id), "items", "text/html", "Features as HTML"),
            link(format!("{base}/collections/{}/queryables", m.id), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "Queryable properties"),
            link(format!("{base}/tiles/{}.json", m.id), "describedby", "application/json", "Vector tiles (TileJSON)"),
            link(format!("{base}/collections/{}/tiles", m.id), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector", "application/json", "Vector tilesets (OGC API – Tiles)"),
            link(format!("{base}/collections/{}/map/tiles", m.id), "http://www.opengis.net/def/rel/ogc/1.0/tilesets-map", "application/json", "Map tilesets (OGC API – Tiles)"),
        ],
    })
}

pub async fn collections(
    State(state): State<Arc<AppState>>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
    let visible = state.visible(&caller);
    if wants_html(&q, &headers)? {
        let rows: String = visible
            .values()
            .map(|l| {
                format!(
                    "<tr><td><a href=\"/collections/{id}/items?f=html\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    html_escape(&l.meta().title_vi),
                    html_escape(&l.meta().title_en),
                    l.meta().feature_count,
                    id = l.meta().id
                )
            })
            .collect();
        return Ok(html_page(
            "Collections",
            &format!("<h1>Lớp dữ liệu / Collections</h1><table><tr><th>id</th><th>Tên</th><th>Title</th><th>Features</th></tr>{rows}</table>"),
        ));
    }
    let cols: Vec<_> = visible
        .values()
        .map(|l| collection_json(&state, &**l, &base))
        .collect();
    Ok(Json(serde_json::json!({
        "links": [link(format!("{base}/collections"), "self", "application/json", "Collections")],
        "collections": cols,
    }))
    .into_response())
}

pub async fn collection(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = state.collection(&caller, &id, "collections")?;
    let base = state.base_url(&headers);
    if wants_html(&q, &headers)? {
        let fields: String = l
            .meta()
            .schema
            .fields
            .iter()
            .map(|f| format!("<li>{} ({})</li>", html_escape(&f.name), f.kind.name()))
            .collect();
        return Ok(html_page(&id, &format!("<h1>{} / {}</h1><p><a href=\"/collections/{id}/items?f=html\">Features</a></p><ul>{fields}</ul>", html_escape(&l.meta().title_vi), html_escape(&l.meta().title_en))));
    }
    Ok(Json(collection_json(&state, &*l, &base)).into_response())
}

/// `GET /collections/{id}/queryables`: the properties usable in filters, as JSON Schema.
pub async fn queryables(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = state.collection(&caller, &id, "queryables")?;
    let base = state.base_url(&headers);
    let mut props = serde_json::Map::new();
    for f in &l.meta().schema.fields {
        let (kind, format) = f.kind.json_schema();
        let mut p = serde_json::json!({"title": f.name, "type": kind});
        if let Some(format) = format {
            p["format"] = format.into();
        }
        props.insert(f.name.clone(), p);
    }
    // The geometry is queryable too (spatial predicates in CQL2 filters).
    props.insert(
        "geometry".into(),
        serde_json::json!({"title": "geometry", "format": "geometry-any", "x-ogc-role": "primary-geometry"}),
    );
    if wants_html(&q, &headers)? {
        let rows: String = props
            .iter()
            .map(|(k, v)| {
                format!(
                    "<tr><td>{}</td><td>{}</td></tr>",
                    html_escape(k),
                    html_escape(&v["type"].to_string())
                )
            })
            .collect();
        return Ok(html_page(
            &id,
            &format!("<h1>Queryables: {id}</h1><table>{rows}</table>"),
        ));
    }
    let doc = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{id}/queryables"),
        "type": "object",
        "title": format!("{} / {}", &l.meta().title_vi, &l.meta().title_en),
        "properties": props,
        "additionalProperties": false,
    });
    let mut resp = Json(doc).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/schema+json"),
    );
    Ok(resp)
}
