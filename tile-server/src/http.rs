//! What every handler shares about HTTP and its formats, below all of them: the base URL
//! clients reach the server at, the query parameters that were given, content negotiation
//! (`f=` or `Accept`), HTML pages and escaping, links, URL encoding and GeoJSON geometry
//! writing.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{header, HeaderMap};
use axum::response::{Html, IntoResponse, Response};

use crate::error::ApiError;

/// The base URL clients should use: `public_url` when configured, else from the Host header
/// (only when it looks like a host name, so no header can inject markup or a path).
pub fn base_url(public_url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(u) = public_url {
        return u.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1:8080");
    format!("http://{host}")
}

/// Text for HTML (element content and quoted attribute values).
pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Whether a parameter's value counts as not given: empty (`?datetime=&f=`, as HTML forms send
/// them). Anything else — a space, a tab — is given, and checked like any other value (as /api
/// says: `allowEmptyValue`, nothing more).
pub fn is_blank(v: &str) -> bool {
    v.is_empty()
}

/// The query parameters that were given a value: a parameter given empty (`?filter=&f=`, as
/// HTML forms send them) is a parameter not given. A repeated name keeps its last value.
pub struct GivenQuery(pub HashMap<String, String>);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for GivenQuery {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _: &S,
    ) -> Result<Self, ApiError> {
        let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::BadRequest(format!("query string: {}", e.body_text())))?;
        let mut given = HashMap::new();
        for (k, v) in pairs {
            if is_blank(&v) {
                continue;
            }
            // One value per parameter: `?limit=1&limit=9` is ambiguous.
            if given.contains_key(&k) {
                return Err(ApiError::BadRequest(format!(
                    "'{}': given more than once",
                    k.chars().take(64).collect::<String>()
                )));
            }
            given.insert(k, v);
        }
        Ok(GivenQuery(given))
    }
}

/// A geometry as a GeoJSON object, built directly (no text round trip: items pages, feature
/// info and spatial filters are hot paths).
pub fn geojson_geometry(g: &geo_types::Geometry<f64>) -> serde_json::Value {
    use geo_types::Geometry as G;
    use serde_json::{json, Value as J};
    fn pos(c: &geo_types::Coord<f64>) -> J {
        J::Array(vec![J::from(c.x), J::from(c.y)])
    }
    fn line(l: &geo_types::LineString<f64>) -> J {
        J::Array(l.0.iter().map(pos).collect())
    }
    fn poly(p: &geo_types::Polygon<f64>) -> J {
        J::Array(
            std::iter::once(p.exterior())
                .chain(p.interiors())
                .map(line)
                .collect(),
        )
    }
    match g {
        G::Point(p) => json!({"type": "Point", "coordinates": pos(&p.0)}),
        G::MultiPoint(m) => {
            json!({"type": "MultiPoint", "coordinates": J::Array(m.0.iter().map(|p| pos(&p.0)).collect())})
        }
        G::LineString(l) => json!({"type": "LineString", "coordinates": line(l)}),
        G::MultiLineString(m) => {
            json!({"type": "MultiLineString", "coordinates": J::Array(m.0.iter().map(line).collect())})
        }
        G::Polygon(p) => json!({"type": "Polygon", "coordinates": poly(p)}),
        G::MultiPolygon(m) => {
            json!({"type": "MultiPolygon", "coordinates": J::Array(m.0.iter().map(poly).collect())})
        }
        G::GeometryCollection(c) => {
            json!({"type": "GeometryCollection", "geometries": J::Array(c.0.iter().map(geojson_geometry).collect())})
        }
        G::Line(l) => {
            json!({"type": "LineString", "coordinates": J::Array(vec![pos(&l.start), pos(&l.end)])})
        }
        G::Rect(r) => geojson_geometry(&G::Polygon(r.to_polygon())),
        G::Triangle(t) => geojson_geometry(&G::Polygon(t.to_polygon())),
    }
}

/// Whether the client asked for HTML: `f=html`, or (without `f`) an `Accept` that prefers it.
/// `f` other than html, json or geojson is refused.
pub fn wants_html(q: &HashMap<String, String>, headers: &HeaderMap) -> Result<bool, ApiError> {
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

/// `datetime` (or WMS `TIME`) as the day it names, for the admin layers in time: an RFC 3339
/// date or date-time, counted in Vietnam's day (UTC+7); `current` or `now` is today.
pub fn day_param(name: &str, value: &str) -> Result<chrono::NaiveDate, ApiError> {
    let v = value.trim();
    if v.eq_ignore_ascii_case("current") || v.eq_ignore_ascii_case("now") {
        return Ok(crate::temporal::today());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return Ok(d);
    }
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|t| (t.with_timezone(&chrono::Utc) + chrono::Duration::hours(7)).date_naive())
        .map_err(|_| {
            ApiError::BadRequest(format!(
                "{name}: '{}' is not an instant (an RFC 3339 date or date-time, or 'current')",
                v.chars().take(64).collect::<String>()
            ))
        })
}

/// A small HTML page in cuulong's plain style.
pub fn html_page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{} — cuulong</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25em .5em}}</style>\
         </head><body>{body}</body></html>",
        html_escape(title)
    ))
    .into_response()
}

/// A link object (OGC API and catalogue documents).
pub fn link(href: String, rel: &str, kind: &str, title: &str) -> serde_json::Value {
    serde_json::json!({"href": href, "rel": rel, "type": kind, "title": title})
}

/// Percent-encodes all but unreserved characters (and `,`, which bbox lists keep readable).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b',' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
