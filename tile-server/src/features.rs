//! OGC API – Features Part 1 (Core, GeoJSON, HTML) from the in-memory index: landing page,
//! conformance, collections, items with `bbox`, `limit`/`offset` paging and property equality
//! filters, single items. Output in CRS84. Every layer list passes the visibility rule.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use cuulong_core::index::LayerIndex;
use cuulong_core::tile::{to_lonlat, to_mercator};
use cuulong_core::{FieldType, Value};
use geo::MapCoords;
use geozero::ToJson;

use crate::auth::{self, Auth};
use crate::error::ApiError;
use crate::state::AppState;
use crate::tiles::base_url;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const CONFORMANCE: [&str; 3] = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/html",
];
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 10_000;

fn wants_html(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<bool, ApiError> {
    match q.get("f").map(String::as_str) {
        Some("html") => Ok(true),
        Some("json") | Some("geojson") => Ok(false),
        Some(other) => Err(ApiError::BadRequest(format!(
            "f: unknown format '{}' (json or html)",
            other.chars().take(16).collect::<String>()
        ))),
        None => Ok(headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html") && !a.contains("json"))),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{} — cuulong</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25em .5em}}</style>\
         </head><body>{body}</body></html>",
        esc(title)
    ))
    .into_response()
}

fn link(href: String, rel: &str, kind: &str, title: &str) -> serde_json::Value {
    serde_json::json!({"href": href, "rel": rel, "type": kind, "title": title})
}

pub async fn landing(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    if wants_html(&q, &headers)? {
        return Ok(page(
            "cuulong",
            "<h1>cuulong — dữ liệu không gian tỉnh Bến Tre <small>/ Bến Tre geospatial data</small></h1>\
             <ul><li><a href=\"/collections?f=html\">Lớp dữ liệu / Collections</a></li>\
             <li><a href=\"/conformance?f=html\">Conformance</a></li>\
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
            link(format!("{base}/collections"), "data", "application/json", "Collections"),
        ],
    }))
    .into_response())
}

pub async fn conformance(
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if wants_html(&q, &headers)? {
        let items: String = CONFORMANCE
            .iter()
            .map(|c| format!("<li>{c}</li>"))
            .collect();
        return Ok(page(
            "Conformance",
            &format!("<h1>Conformance</h1><ul>{items}</ul>"),
        ));
    }
    Ok(Json(serde_json::json!({"conformsTo": CONFORMANCE})).into_response())
}

fn collection_json(l: &LayerIndex, base: &str) -> serde_json::Value {
    let m = &l.meta;
    let bbox = m.bbox.map_or([-180.0, -90.0, 180.0, 90.0], |b| b.0);
    serde_json::json!({
        "id": m.id,
        "title": format!("{} / {}", m.title_vi, m.title_en),
        "description": format!("{} ({} features, version {}, {})", m.title_en, m.feature_count, m.version, m.access.as_str()),
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": [
            link(format!("{base}/collections/{}", m.id), "self", "application/json", "This collection"),
            link(format!("{base}/collections/{}/items", m.id), "items", "application/geo+json", "Features"),
            link(format!("{base}/collections/{}/items?f=html", m.id), "items", "text/html", "Features as HTML"),
            link(format!("{base}/tiles/{}.json", m.id), "describedby", "application/json", "Vector tiles (TileJSON)"),
        ],
    })
}

pub async fn collections(
    State(state): State<Arc<AppState>>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let visible = state.visible(&caller);
    if wants_html(&q, &headers)? {
        let rows: String = visible
            .values()
            .map(|l| {
                format!(
                    "<tr><td><a href=\"/collections/{id}/items?f=html\">{id}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&l.meta.title_vi),
                    esc(&l.meta.title_en),
                    l.meta.feature_count,
                    id = l.meta.id
                )
            })
            .collect();
        return Ok(page(
            "Collections",
            &format!("<h1>Lớp dữ liệu / Collections</h1><table><tr><th>id</th><th>Tên</th><th>Title</th><th>Features</th></tr>{rows}</table>"),
        ));
    }
    let cols: Vec<_> = visible
        .values()
        .map(|l| collection_json(l, &base))
        .collect();
    Ok(Json(serde_json::json!({
        "links": [link(format!("{base}/collections"), "self", "application/json", "Collections")],
        "collections": cols,
    }))
    .into_response())
}

fn layer(
    state: &AppState,
    caller: &cuulong_core::access::Caller,
    id: &str,
    endpoint: &str,
) -> Result<Arc<LayerIndex>, ApiError> {
    let l = state.visible(caller).get(id).cloned().ok_or_else(|| {
        ApiError::NotFound(format!(
            "collection '{}' does not exist",
            id.chars().take(64).collect::<String>()
        ))
    })?;
    auth::audit(state, caller, &l.meta, endpoint);
    Ok(l)
}

pub async fn collection(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = layer(&state, &caller, &id, "collections")?;
    let base = base_url(&state, &headers);
    if wants_html(&q, &headers)? {
        let fields: String = l
            .meta
            .schema
            .fields
            .iter()
            .map(|f| format!("<li>{} ({})</li>", esc(&f.name), f.kind.name()))
            .collect();
        return Ok(page(&id, &format!("<h1>{} / {}</h1><p><a href=\"/collections/{id}/items?f=html\">Features</a></p><ul>{fields}</ul>", esc(&l.meta.title_vi), esc(&l.meta.title_en))));
    }
    Ok(Json(collection_json(&l, &base)).into_response())
}

fn parse_bbox(s: &str) -> Result<[f64; 4], ApiError> {
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "bbox: {why} (expected minLon,minLat,maxLon,maxLat in CRS84)"
        ))
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("not four numbers"))?;
    let [a, b, c, d] = v[..] else {
        return Err(bad("needs exactly four numbers"));
    };
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad("numbers must be finite"));
    }
    if !(-180.0..=180.0).contains(&a)
        || !(-180.0..=180.0).contains(&c)
        || !(-90.0..=90.0).contains(&b)
        || !(-90.0..=90.0).contains(&d)
    {
        return Err(bad("coordinates out of range"));
    }
    if a > c || b > d {
        return Err(bad("min must not exceed max"));
    }
    Ok([a, b, c, d])
}

fn parse_count(name: &str, s: &str, max: usize) -> Result<usize, ApiError> {
    s.parse::<usize>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{name}: '{}' is not an integer between 0 and {max}",
                s.chars().take(24).collect::<String>()
            ))
        })
}

fn feature_json(l: &LayerIndex, i: usize) -> Result<serde_json::Value, ApiError> {
    let a = &l.features[i];
    let g = l.geometries[i].map_coords(|c| {
        let (x, y) = to_lonlat(c.x, c.y);
        geo_types::Coord { x, y }
    });
    let geometry: serde_json::Value =
        serde_json::from_str(&g.to_json().map_err(|e| ApiError::Internal(e.to_string()))?)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
    let props = l.meta.schema.properties_json(&a.values);
    Ok(
        serde_json::json!({"type": "Feature", "id": a.id, "geometry": geometry, "properties": props}),
    )
}

fn matches(v: &Value, want: &str, kind: FieldType) -> bool {
    match Value::Text(want.to_owned()).coerce(kind) {
        Some(w) => &w == v,
        None => false,
    }
}

pub async fn items(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = layer(&state, &caller, &id, "items")?;
    let html = wants_html(&q, &headers)?;
    let limit = q
        .get("limit")
        .map(|s| parse_count("limit", s, MAX_LIMIT))
        .transpose()?
        .unwrap_or(DEFAULT_LIMIT);
    if limit == 0 {
        return Err(ApiError::BadRequest(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        )));
    }
    let offset = q
        .get("offset")
        .map(|s| parse_count("offset", s, usize::MAX >> 1))
        .transpose()?
        .unwrap_or(0);
    let bbox = q.get("bbox").map(|s| parse_bbox(s)).transpose()?;
    if let Some(crs) = q.get("bbox-crs") {
        if crs != CRS84 {
            return Err(ApiError::BadRequest(format!(
                "bbox-crs: '{}' is not supported (only {CRS84})",
                crs.chars().take(80).collect::<String>()
            )));
        }
    }
    // Property filters: any other parameter must name a field of the collection.
    let reserved = [
        "f", "limit", "offset", "bbox", "bbox-crs", "key", "datetime",
    ];
    let mut filters = Vec::new();
    for (k, v) in &q {
        if reserved.contains(&k.as_str()) {
            continue;
        }
        let idx = l.meta.schema.index_of(k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}': unknown parameter or property of collection '{id}'",
                k.chars().take(64).collect::<String>()
            ))
        })?;
        filters.push((idx, l.meta.schema.fields[idx].kind, v.clone()));
    }
    let candidates = match bbox {
        Some([a, b, c, d]) => {
            let (x0, y0) = to_mercator(a, b);
            let (x1, y1) = to_mercator(c, d);
            l.intersecting([x0, y0, x1, y1])
        }
        None => l.all_in_id_order(),
    };
    let matched: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            filters
                .iter()
                .all(|(f, kind, want)| matches(&l.features[i].values[*f], want, *kind))
        })
        .collect();
    let page_items = matched.iter().skip(offset).take(limit);
    let features: Vec<serde_json::Value> = page_items
        .map(|&i| feature_json(&l, i))
        .collect::<Result<_, _>>()?;
    let base = base_url(&state, &headers);
    let mut params: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "offset" && *k != "f" && *k != "key")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    params.sort();
    let qs = |off: usize| {
        let mut p: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", urlencode(k), urlencode(v)))
            .collect();
        p.push(format!("offset={off}"));
        if !p.iter().any(|s| s.starts_with("limit=")) {
            p.push(format!("limit={limit}"));
        }
        format!("{base}/collections/{id}/items?{}", p.join("&"))
    };
    let mut links = vec![link(
        qs(offset),
        "self",
        "application/geo+json",
        "This page",
    )];
    if offset + limit < matched.len() {
        links.push(link(
            qs(offset + limit),
            "next",
            "application/geo+json",
            "Next page",
        ));
    }
    if offset > 0 {
        links.push(link(
            qs(offset.saturating_sub(limit)),
            "prev",
            "application/geo+json",
            "Previous page",
        ));
    }
    if html {
        let rows: String = features
            .iter()
            .map(|f| format!("<tr><td><a href=\"/collections/{id}/items/{}?f=html\">{}</a></td><td><code>{}</code></td></tr>", f["id"], f["id"], esc(&f["properties"].to_string())))
            .collect();
        let nav: String = links
            .iter()
            .filter(|l| l["rel"] != "self")
            .map(|l| {
                format!(
                    "<a href=\"{}&f=html\">{}</a> ",
                    esc(l["href"].as_str().unwrap_or("")),
                    l["title"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Ok(page(&id, &format!(
            "<h1>{} / {}</h1><p>{} / {} features</p><p>{nav}</p><table><tr><th>id</th><th>properties</th></tr>{rows}</table>",
            esc(&l.meta.title_vi), esc(&l.meta.title_en), features.len(), matched.len()
        )));
    }
    let doc = serde_json::json!({
        "type": "FeatureCollection",
        "numberMatched": matched.len(),
        "numberReturned": features.len(),
        "timeStamp": chrono::Utc::now().to_rfc3339(),
        "links": links,
        "features": features,
    });
    Ok(geojson_response(doc))
}

/// A GeoJSON response in CRS84, with the headers OGC API – Features asks for.
fn geojson_response(doc: serde_json::Value) -> Response {
    let mut resp = Json(doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    h.insert(
        "Content-Crs",
        HeaderValue::from_static("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"),
    );
    resp
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn item(
    State(state): State<Arc<AppState>>,
    Path((id, fid)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = layer(&state, &caller, &id, "items")?;
    let n: i64 = fid.parse().map_err(|_| {
        ApiError::NotFound(format!(
            "feature '{}' does not exist in '{id}'",
            fid.chars().take(32).collect::<String>()
        ))
    })?;
    let i = l
        .position(n)
        .ok_or_else(|| ApiError::NotFound(format!("feature {n} does not exist in '{id}'")))?;
    let mut f = feature_json(&l, i)?;
    let base = base_url(&state, &headers);
    f["links"] = serde_json::json!([
        link(
            format!("{base}/collections/{id}/items/{n}"),
            "self",
            "application/geo+json",
            "This feature"
        ),
        link(
            format!("{base}/collections/{id}"),
            "collection",
            "application/json",
            "The collection"
        ),
    ]);
    if wants_html(&q, &headers)? {
        let rows: String = f["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        format!(
                            "<tr><th>{}</th><td>{}</td></tr>",
                            esc(k),
                            esc(&v.to_string())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        return Ok(page(
            &format!("{id} {n}"),
            &format!("<h1>{id} / {n}</h1><table>{rows}</table>"),
        ));
    }
    Ok(geojson_response(f))
}
