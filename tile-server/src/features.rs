//! OGC API – Features Part 1 (Core, GeoJSON, HTML) from the in-memory index: landing page,
//! conformance, collections, items with `bbox`, `limit`/`offset` paging and property equality
//! filters, single items. Output in CRS84. Every layer list passes the visibility rule.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use cuulong_core::index::LayerIndex;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::tile::{geometry_to_lonlat, to_mercator};
use cuulong_core::{FieldType, Value};
use geo::MapCoords;

use cuulong_core::crs::MapCrs;

use crate::auth::Auth;
use crate::error::ApiError;
use crate::http::{geojson_geometry, html_escape, GivenQuery};
use crate::reproject::Reprojector;
use crate::state::AppState;

const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
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
const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;
/// The largest offset: the largest integer a JSON (JavaScript) client holds exactly.
pub const MAX_OFFSET: usize = (1 << 53) - 1;

/// The URI of a map CRS (OGC API – Features Part 2).
fn crs_uri(crs: MapCrs) -> String {
    match crs {
        MapCrs::Crs84 => CRS84.to_owned(),
        MapCrs::Wgs84 => "http://www.opengis.net/def/crs/EPSG/0/4326".to_owned(),
        MapCrs::WebMercator => "http://www.opengis.net/def/crs/EPSG/0/3857".to_owned(),
        MapCrs::Vn2000(code) => format!("http://www.opengis.net/def/crs/EPSG/0/{code}"),
    }
}

/// Every CRS the features can be asked in: CRS84, EPSG:4326 (lat/lon), EPSG:3857, VN-2000.
pub fn crs_uris() -> Vec<String> {
    MapCrs::all().into_iter().map(crs_uri).collect()
}

/// A `crs`/`bbox-crs` value: a URI of [`crs_uris`] (or its `EPSG:n` / `[EPSG:n]` short form).
fn parse_crs(name: &str, s: &str) -> Result<MapCrs, ApiError> {
    let t = s.trim().trim_start_matches('[').trim_end_matches(']');
    let parsed = if t == CRS84 {
        Some(MapCrs::Crs84)
    } else if let Some(code) = t.strip_prefix("http://www.opengis.net/def/crs/EPSG/0/") {
        MapCrs::parse(&format!("EPSG:{code}"))
    } else if t.to_ascii_uppercase().starts_with("EPSG:") || t.eq_ignore_ascii_case("CRS:84") {
        MapCrs::parse(t)
    } else {
        None
    };
    parsed.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "{name}: '{}' is not supported; use one of {}",
            s.chars().take(80).collect::<String>(),
            crs_uris().join(", ")
        ))
    })
}

/// How response geometry is written: the CRS, and its reprojector when not CRS84.
struct OutCrs {
    crs: MapCrs,
    reprojector: Option<Reprojector>,
}

impl OutCrs {
    fn new(q: &HashMap<String, String>) -> Result<OutCrs, ApiError> {
        let crs = match q.get("crs") {
            Some(s) => parse_crs("crs", s)?,
            None => MapCrs::Crs84,
        };
        let reprojector = match crs {
            MapCrs::Crs84 => None,
            other => Some(
                Reprojector::new(other).map_err(|e| ApiError::BadRequest(format!("crs: {e}")))?,
            ),
        };
        Ok(OutCrs { crs, reprojector })
    }

    /// EPSG:3857 geometry → this CRS, in its axis order.
    fn geometry(&self, g: &geo_types::Geometry<f64>) -> geo_types::Geometry<f64> {
        let lat_first = self.crs.lat_first(true);
        match &self.reprojector {
            None => geometry_to_lonlat(g),
            Some(r) => g.map_coords(|c| {
                let mut p = [(c.x, c.y)];
                r.mercator_to_map(&mut p);
                let (x, y) = p[0];
                let (x, y) = if lat_first { (y, x) } else { (x, y) };
                geo_types::Coord { x, y }
            }),
        }
    }

    fn header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("<{}>", crs_uri(self.crs))).unwrap_or(
            HeaderValue::from_static("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"),
        )
    }
}

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

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=\"vi\"><head><meta charset=\"utf-8\"><title>{} — cuulong</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:70em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.25em .5em}}</style>\
         </head><body>{body}</body></html>",
        html_escape(title)
    ))
    .into_response()
}

fn link(href: String, rel: &str, kind: &str, title: &str) -> serde_json::Value {
    serde_json::json!({"href": href, "rel": rel, "type": kind, "title": title})
}

pub async fn landing(
    State(state): State<Arc<AppState>>,
    GivenQuery(q): GivenQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = state.base_url(&headers);
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
        "crs": crs_uris(),
        "storageCrs": CRS84,
        "extent": {"spatial": {"bbox": [bbox], "crs": CRS84}},
        "links": [
            link(format!("{base}/collections/{}", m.id), "self", "application/json", "This collection"),
            link(format!("{base}/collections/{}/items", m.id), "items", "application/geo+json", "Features"),
            link(format!("{base}/collections/{}/items?f=html", m.id), "items", "text/html", "Features as HTML"),
            link(format!("{base}/collections/{}/queryables", m.id), "http://www.opengis.net/def/rel/ogc/1.0/queryables", "application/schema+json", "Queryable properties"),
            link(format!("{base}/tiles/{}.json", m.id), "describedby", "application/json", "Vector tiles (TileJSON)"),
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
                    html_escape(&l.meta.title_vi),
                    html_escape(&l.meta.title_en),
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
    state.audit_read(caller, &l.meta, endpoint);
    Ok(l)
}

pub async fn collection(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = layer(&state, &caller, &id, "collections")?;
    let base = state.base_url(&headers);
    if wants_html(&q, &headers)? {
        let fields: String = l
            .meta
            .schema
            .fields
            .iter()
            .map(|f| format!("<li>{} ({})</li>", html_escape(&f.name), f.kind.name()))
            .collect();
        return Ok(page(&id, &format!("<h1>{} / {}</h1><p><a href=\"/collections/{id}/items?f=html\">Features</a></p><ul>{fields}</ul>", html_escape(&l.meta.title_vi), html_escape(&l.meta.title_en))));
    }
    Ok(Json(collection_json(&l, &base)).into_response())
}

/// `bbox` in `crs`'s axis order; min must not exceed max. Geographic coordinates out of range
/// are refused (they are most often lat/lon given in lon/lat order).
fn parse_bbox(s: &str, crs: MapCrs) -> Result<[f64; 4], ApiError> {
    let bad = |why: &str| {
        ApiError::BadRequest(format!(
            "bbox: {why} (expected minx,miny,maxx,maxy in {}; CRS84 is minLon,minLat,maxLon,maxLat)",
            crs.name()
        ))
    };
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad("not four numbers"))?;
    // Four numbers, or six with heights (minz, maxz), which a 2D index ignores.
    let (a, b, c, d) = match v[..] {
        [a, b, c, d] => (a, b, c, d),
        [a, b, _, d, e, _] => (a, b, d, e),
        _ => return Err(bad("needs four (or six) numbers")),
    };
    if v.iter().any(|x| !x.is_finite()) {
        return Err(bad("numbers must be finite"));
    }
    if crs.is_geographic() {
        let (lon0, lat0, lon1, lat1) = if crs.lat_first(true) {
            (b, a, d, c)
        } else {
            (a, b, c, d)
        };
        if !(-180.0..=180.0).contains(&lon0)
            || !(-180.0..=180.0).contains(&lon1)
            || !(-90.0..=90.0).contains(&lat0)
            || !(-90.0..=90.0).contains(&lat1)
        {
            return Err(bad("coordinates out of range"));
        }
    }
    if a > c || b > d {
        return Err(bad("min must not exceed max"));
    }
    Ok([a, b, c, d])
}

/// The features of `l` whose geometry meets `bbox` (in `crs`), in id order.
fn in_bbox(l: &LayerIndex, bbox: [f64; 4], crs: MapCrs) -> Result<Vec<usize>, ApiError> {
    // In the CRS's own axis order (lat/lon for EPSG:4326 and 4756): east/north first.
    let b = if crs.lat_first(true) {
        [bbox[1], bbox[0], bbox[3], bbox[2]]
    } else {
        bbox
    };
    let envelope = if crs == MapCrs::Crs84 || crs == MapCrs::Wgs84 {
        let (x0, y0) = to_mercator(b[0], b[1]);
        let (x1, y1) = to_mercator(b[2], b[3]);
        [x0, y0, x1, y1]
    } else {
        let r =
            Reprojector::new(crs).map_err(|e| ApiError::BadRequest(format!("bbox-crs: {e}")))?;
        r.mercator_envelope(b)
            .map_err(|e| ApiError::BadRequest(format!("bbox: {e}")))?
    };
    Ok(l.intersecting(envelope))
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

fn feature_json(l: &LayerIndex, i: usize, out: &OutCrs) -> Result<serde_json::Value, ApiError> {
    let a = &l.features[i];
    let geometry = geojson_geometry(&out.geometry(&l.geometries[i]));
    let props = l.meta.schema.properties_json(&a.values);
    Ok(
        serde_json::json!({"type": "Feature", "id": a.id, "geometry": geometry, "properties": props}),
    )
}

/// A `datetime` instant or interval (`a/b`, `..` or empty for open ends) as inclusive bounds.
/// Inclusive time bounds; `None` is open.
type Interval = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

fn parse_datetime(s: &str) -> Result<Interval, ApiError> {
    let bad = || {
        ApiError::BadRequest(format!(
            "datetime: '{}' is not an RFC 3339 date, date-time or interval",
            s.chars().take(64).collect::<String>()
        ))
    };
    let one = |t: &str, end: bool| -> Result<Option<DateTime<Utc>>, ApiError> {
        let t = t.trim();
        if t.is_empty() || t == ".." {
            return Ok(None);
        }
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return Ok(Some(d.with_timezone(&Utc)));
        }
        let d = chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").map_err(|_| bad())?;
        let time = if end {
            d.and_hms_opt(23, 59, 59)
        } else {
            d.and_hms_opt(0, 0, 0)
        };
        Ok(time.map(|t| t.and_utc()))
    };
    match s.split_once('/') {
        Some((a, b)) => {
            let (a, b) = (one(a, false)?, one(b, true)?);
            if let (Some(x), Some(y)) = (a, b) {
                if x > y {
                    return Err(bad());
                }
            }
            Ok((a, b))
        }
        None if s.trim() == ".." || s.trim().is_empty() => Err(bad()),
        None => Ok((one(s, false)?, one(s, true)?)),
    }
}

/// The layer's time: its first date or date-time field, and a second one as the end of a
/// validity period (e.g. `valid_from`/`valid_to` of administrative units), if there is one.
fn time_fields(l: &LayerIndex) -> Option<(usize, Option<usize>)> {
    let mut it = l
        .meta
        .schema
        .fields
        .iter()
        .enumerate()
        .filter(|(_, f)| matches!(f.kind, FieldType::Date | FieldType::DateTime))
        .map(|(i, _)| i);
    let start = it.next()?;
    Some((start, it.next()))
}

/// A value's time span: a date covers its whole day.
fn span(v: &Value) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    match v {
        Value::Date(d) => Some((
            d.and_hms_opt(0, 0, 0)?.and_utc(),
            d.and_hms_opt(23, 59, 59)?.and_utc(),
        )),
        Value::DateTime(t) => Some((*t, *t)),
        _ => None,
    }
}

/// Whether a feature's time (an instant, or a period from `start` to `end`, open when null)
/// meets the requested interval.
fn in_interval(
    values: &[Value],
    (start, end): (usize, Option<usize>),
    (from, to): Interval,
) -> bool {
    let Some((lo, first_hi)) = span(&values[start]) else {
        return false;
    };
    let hi = match end {
        None => Some(first_hi),
        // A period: a missing end means "still valid".
        Some(e) => span(&values[e]).map(|(_, h)| h),
    };
    from.is_none_or(|f| hi.is_none_or(|h| h >= f)) && to.is_none_or(|t| lo <= t)
}

/// The parameters `/collections/{id}/items` defines itself; any other names a property to
/// filter on (shared with `/api`, which lists the properties beside these).
pub(crate) const ITEMS_PARAMETERS: [&str; 11] = [
    "f",
    "limit",
    "offset",
    "bbox",
    "bbox-crs",
    "crs",
    "key",
    "datetime",
    "filter",
    "filter-lang",
    "filter-crs",
];

pub async fn items(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Filtering, paging and writing a page cost CPU: off the async workers, and stopped when
    // the client leaves.
    let work = state.clone();
    state
        .work
        .run(move |interrupt| items_page(&work, &id, &q, &caller, &headers, interrupt))
        .await
}

fn items_page(
    state: &AppState,
    id: &str,
    q: &HashMap<String, String>,
    caller: &cuulong_core::access::Caller,
    headers: &HeaderMap,
    interrupt: &Interrupt,
) -> Result<Response, ApiError> {
    let l = layer(state, caller, id, "items")?;
    let html = wants_html(q, headers)?;
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
        .map(|s| parse_count("offset", s, MAX_OFFSET))
        .transpose()?
        .unwrap_or(0);
    let bbox_crs = match q.get("bbox-crs") {
        Some(s) => parse_crs("bbox-crs", s)?,
        None => MapCrs::Crs84,
    };
    let bbox = q.get("bbox").map(|s| parse_bbox(s, bbox_crs)).transpose()?;
    let out = OutCrs::new(q)?;
    let when = q.get("datetime").map(|s| parse_datetime(s)).transpose()?;
    if let Some(lang) = q.get("filter-lang") {
        if lang != "cql2-text" {
            return Err(ApiError::BadRequest(format!(
                "filter-lang: '{}' is not supported (cql2-text)",
                lang.chars().take(32).collect::<String>()
            )));
        }
    }
    if let Some(c) = q.get("filter-crs") {
        if parse_crs("filter-crs", c)? != MapCrs::Crs84 {
            return Err(ApiError::BadRequest(
                "filter-crs: only CRS84 is supported for filter geometries".into(),
            ));
        }
    }
    let filter = q
        .get("filter")
        .map(|f| crate::filter::Filter::parse(f, &l))
        .transpose()?;
    // Property filters: any other parameter must name a field of the collection.
    let mut filters = Vec::new();
    for (k, v) in q {
        if ITEMS_PARAMETERS.contains(&k.as_str()) {
            continue;
        }
        let idx = l.meta.schema.index_of(k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}': unknown parameter or property of collection '{id}'",
                k.chars().take(64).collect::<String>()
            ))
        })?;
        let field = &l.meta.schema.fields[idx];
        // The value in the field's type: a number field is compared with a number.
        let want = Value::Text(v.clone()).coerce(field.kind).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}': '{}' is not a {} value",
                field.name,
                v.chars().take(64).collect::<String>(),
                field.kind.name()
            ))
        })?;
        filters.push((idx, want));
    }
    let candidates = match bbox {
        Some(b) => in_bbox(&l, b, bbox_crs)?,
        None => l.all_in_id_order(),
    };
    let time = time_fields(&l);
    let mut seen = 0usize;
    let matched: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            seen += 1;
            // A cancelled scan stops matching; the check below turns it into an error.
            (!seen.is_multiple_of(1024) || !interrupt.is_cancelled())
                && filters
                .iter()
                .all(|(f, want)| &l.features[i].values[*f] == want)
                // Layers without time ignore `datetime` (Part 1: it selects on the temporal
                // property, which they lack).
                && match (when, time) {
                    (Some(w), Some(t)) => in_interval(&l.features[i].values, t, w),
                    _ => true,
                }
        })
        .collect();
    interrupt.check()?;
    let matched: Vec<usize> = match &filter {
        None => matched,
        Some(f) => matched
            .into_iter()
            .enumerate()
            .filter_map(|(n, i)| {
                if n % 64 == 0 {
                    if let Err(e) = interrupt.check() {
                        return Some(Err(ApiError::from(e)));
                    }
                }
                match f.matches(&l, i) {
                    Ok(true) => Some(Ok(i)),
                    Ok(false) => None,
                    Err(e) => Some(Err(e)),
                }
            })
            .collect::<Result<_, _>>()?,
    };
    let page_items = matched.iter().skip(offset).take(limit);
    let features: Vec<serde_json::Value> = page_items
        .map(|&i| feature_json(&l, i, &out))
        .collect::<Result<_, _>>()?;
    let base = state.base_url(headers);
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
    links.push(link(
        format!("{}&f=html", qs(offset)),
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
    if html {
        let rows: String = features
            .iter()
            .map(|f| format!("<tr><td><a href=\"/collections/{id}/items/{}?f=html\">{}</a></td><td><code>{}</code></td></tr>", f["id"], f["id"], html_escape(&f["properties"].to_string())))
            .collect();
        let nav: String = links
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
        return Ok(page(id, &format!(
            "<h1>{} / {}</h1><p>{} / {} features</p><p>{nav}</p><table><tr><th>id</th><th>properties</th></tr>{rows}</table>",
            html_escape(&l.meta.title_vi), html_escape(&l.meta.title_en), features.len(), matched.len()
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
    let link_header = doc["links"]
        .as_array()
        .map(|ls| {
            ls.iter()
                .map(|l| {
                    format!(
                        "<{}>; rel=\"{}\"; type=\"{}\"",
                        l["href"].as_str().unwrap_or(""),
                        l["rel"].as_str().unwrap_or(""),
                        l["type"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    interrupt.check()?;
    let mut resp = geojson_response(doc, &out);
    // The same links as HTTP Link headers, for clients that read headers (RFC 8288).
    if let Ok(v) = HeaderValue::from_str(&link_header) {
        resp.headers_mut().insert(header::LINK, v);
    }
    Ok(resp)
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
    GivenQuery(q): GivenQuery,
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
    let out = OutCrs::new(&q)?;
    let mut f = feature_json(&l, i, &out)?;
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
        return Ok(page(
            &format!("{id} {n}"),
            &format!("<h1>{id} / {n}</h1><table>{rows}</table>"),
        ));
    }
    Ok(geojson_response(f, &out))
}

/// `GET /collections/{id}/queryables`: the properties usable in filters, as JSON Schema.
pub async fn queryables(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    GivenQuery(q): GivenQuery,
    Auth(caller): Auth,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let l = layer(&state, &caller, &id, "queryables")?;
    let base = state.base_url(&headers);
    let mut props = serde_json::Map::new();
    for f in &l.meta.schema.fields {
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
        return Ok(page(
            &id,
            &format!("<h1>Queryables: {id}</h1><table>{rows}</table>"),
        ));
    }
    let doc = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{id}/queryables"),
        "type": "object",
        "title": format!("{} / {}", l.meta.title_vi, l.meta.title_en),
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
