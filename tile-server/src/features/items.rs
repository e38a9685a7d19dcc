//! `GET /collections/{id}/items` and `/items/{fid}`: a page of features (GeoJSON or HTML) with
//! its paging links, and single features. Selecting is the layer source's
//! ([`LayerSource::select`]); here the request is parsed and the answer written.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::{FeatureRef, Page};
use cuulong_core::LayerMeta;

use super::params::{ItemsQuery, OutCrs};
use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::{
    geojson_geometry, html_escape, html_page, link, urlencode, wants_html, GivenQuery,
};
use crate::state::AppState;

pub async fn items(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let layer = state.collection(&caller, &id, "items")?;
    // With `datetime`, every period of an admin layer in time is searched (the filter keeps
    // the units valid then); without it, today's units.
    let layer = if q.contains_key("datetime") {
        state.whole(&layer)
    } else {
        layer
    };
    let base = state.base_url(&headers);
    // Parsing a filter, selecting and writing a page cost CPU: off the async workers, and
    // stopped when the client leaves.
    state
        .work
        .run(move |interrupt| {
            let query = ItemsQuery::parse(&q, layer.meta(), &headers)?;
            let page = query.select(&*layer, interrupt)?;
            let links = PageLinks::new(&base, layer.meta(), &q, &query, page.matched);
            write_page(layer.meta(), &query, &page, &links, interrupt)
        })
        .await
}

pub async fn item(
    State(state): State<Arc<AppState>>,
    Path((id, fid)): Path<(String, String)>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // A unit of another period keeps its address.
    let layer = state.whole(&state.collection(&caller, &id, "items")?);
    let missing = || {
        ApiError::NotFound(format!(
            "feature '{}' does not exist in '{id}'",
            fid.chars().take(32).collect::<String>()
        ))
    };
    let n: i64 = fid.parse().map_err(|_| missing())?;
    let feature = layer.feature(n).ok_or_else(missing)?;
    let out = OutCrs::new(&q)?;
    let mut f = feature_json(layer.meta(), &feature, &out);
    let base = state.base_url(&headers);
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
        return Ok(feature_html(&id, n, &f));
    }
    Ok(geojson_response(f, &out))
}

fn feature_json(meta: &LayerMeta, f: &FeatureRef<'_>, out: &OutCrs) -> serde_json::Value {
    let geometry = geojson_geometry(&out.geometry(&f.geometry));
    let props = meta.schema.properties_json(&f.values);
    serde_json::json!({"type": "Feature", "id": f.id, "geometry": geometry, "properties": props})
}

fn feature_html(id: &str, n: i64, f: &serde_json::Value) -> Response {
    let rows: String = f["properties"]
        .as_object()
        .map(|p| {
            p.iter()
                .map(|(k, v)| {
                    format!(
                        "<tr><th>{}</th><td>{}</td></tr>",
                        html_escape(k),
                        html_escape(&v.to_string())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    html_page(
        &format!("{id} {n}"),
        &format!("<h1>{id} / {n}</h1><table>{rows}</table>"),
    )
}

/// A GeoJSON response with the headers OGC API – Features asks for (`Content-Crs`).
fn geojson_response(doc: serde_json::Value, out: &OutCrs) -> Response {
    let mut resp = Json(doc).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/geo+json"),
    );
    h.insert("Content-Crs", out.header());
    resp
}

/// The links of one page: self, next and previous (the same query at other offsets), the
/// HTML alternate and the queryables.
struct PageLinks(Vec<serde_json::Value>);

impl PageLinks {
    fn new(
        base: &str,
        meta: &LayerMeta,
        q: &HashMap<String, String>,
        query: &ItemsQuery,
        matched: usize,
    ) -> PageLinks {
        let (offset, limit, id) = (query.offset, query.limit, &meta.id);
        let mut params: Vec<(&String, &String)> = q
            .iter()
            .filter(|(k, _)| *k != "offset" && *k != "f" && *k != "key")
            .collect();
        params.sort();
        let at = |off: usize| {
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
        let geojson = "application/geo+json";
        let mut links = vec![link(at(offset), "self", geojson, "This page")];
        if offset + limit < matched {
            links.push(link(at(offset + limit), "next", geojson, "Next page"));
        }
        if offset > 0 {
            let prev = at(offset.saturating_sub(limit));
            links.push(link(prev, "prev", geojson, "Previous page"));
        }
        links.push(link(
            format!("{}&f=html", at(offset)),
            "alternate",
            "text/html",
            "This page as HTML",
        ));
        links.push(link(
            format!("{base}/collections/{id}/queryables"),
            "http://www.opengis.net/def/rel/ogc/1.0/queryables",
            "application/schema+json",
            "Queryable properties",
        ));
        PageLinks(links)
    }

    /// The same links as an HTTP `Link` header (RFC 8288), for clients that read headers.
    fn header(&self) -> Option<HeaderValue> {
        let text = self
            .0
            .iter()
            .map(|l| {
                format!(
                    "<{}>; rel=\"{}\"; type=\"{}\"",
                    l["href"].as_str().unwrap_or(""),
                    l["rel"].as_str().unwrap_or(""),
                    l["type"].as_str().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        HeaderValue::from_str(&text).ok()
    }
}

fn write_page(
    meta: &LayerMeta,
    query: &ItemsQuery,
    page: &Page<'_>,
    links: &PageLinks,
    interrupt: &Interrupt,
) -> Result<Response, ApiError> {
    let features: Vec<serde_json::Value> = page
        .features
        .iter()
        .map(|f| feature_json(meta, f, &query.out))
        .collect();
    interrupt.check()?;
    if query.html {
        return Ok(page_html(meta, &features, page.matched, links));
    }
    let doc = serde_json::json!({
        "type": "FeatureCollection",
        "numberMatched": page.matched,
        "numberReturned": features.len(),
        "timeStamp": chrono::Utc::now().to_rfc3339(),
        "links": links.0,
        "features": features,
    });
    let mut resp = geojson_response(doc, &query.out);
    if let Some(v) = links.header() {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
}

fn page_html(
    meta: &LayerMeta,
    features: &[serde_json::Value],
    matched: usize,
    links: &PageLinks,
) -> Response {
    let id = &meta.id;
    let rows: String = features
        .iter()
        .map(|f| format!("<tr><td><a href=\"/collections/{id}/items/{}?f=html\">{}</a></td><td><code>{}</code></td></tr>", f["id"], f["id"], html_escape(&f["properties"].to_string())))
        .collect();
    let nav: String = links
        .0
        .iter()
        .filter(|l| l["rel"] == "next" || l["rel"] == "prev")
        .map(|l| {
            format!(
                "<a href=\"{}&f=html\">{}</a> ",
                html_escape(l["href"].as_str().unwrap_or("")),
                l["title"].as_str().unwrap_or("")
            )
        })
        .collect();
    html_page(id.as_str(), &format!(
        "<h1>{} / {}</h1><p>{} / {} features</p><p>{nav}</p><table><tr><th>id</th><th>properties</th></tr>{rows}</table>",
        html_escape(&meta.title_vi), html_escape(&meta.title_en), features.len(), matched
    ))
}
