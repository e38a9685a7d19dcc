//! The parameters of OGC API – Features requests: CRSs (Part 2), `bbox`, paging, `datetime`,
//! `filter` (Part 3) and property equalities, parsed and checked against a collection before
//! any feature is looked at.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderValue};
use chrono::{DateTime, Utc};
use cuulong_core::crs::MapCrs;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::source::{
    FeatureRef, Interval, LayerSource, Page, Predicate, SelectError, Selection,
};
use cuulong_core::tile::{geometry_to_lonlat, to_mercator};
use cuulong_core::{LayerMeta, Value};
use geo::MapCoords;

use crate::error::ApiError;
use crate::filter::Filter;
use crate::http::wants_html;
use crate::reproject::Reprojector;

pub(super) const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;
/// The largest offset: the largest integer a JSON (JavaScript) client holds exactly.
pub const MAX_OFFSET: usize = (1 << 53) - 1;

/// The URI of a map CRS (OGC API – Features Part 2).
pub(super) fn crs_uri(crs: MapCrs) -> String {
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
pub(super) struct OutCrs {
    crs: MapCrs,
    reprojector: Option<Reprojector>,
}

impl OutCrs {
    pub fn new(q: &HashMap<String, String>) -> Result<OutCrs, ApiError> {
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
    pub fn geometry(&self, g: &geo_types::Geometry<f64>) -> geo_types::Geometry<f64> {
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

    pub fn header(&self) -> HeaderValue {
        HeaderValue::from_str(&format!("<{}>", crs_uri(self.crs))).unwrap_or(
            HeaderValue::from_static("<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"),
        )
    }
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

/// The EPSG:3857 envelope of `bbox` given in `crs` (in the CRS's own axis order).
fn envelope(bbox: [f64; 4], crs: MapCrs) -> Result<[f64; 4], ApiError> {
    // In the CRS's own axis order (lat/lon for EPSG:4326 and 4756): east/north first.
    let b = if crs.lat_first(true) {
        [bbox[1], bbox[0], bbox[3], bbox[2]]
    } else {
        bbox
    };
    if crs == MapCrs::Crs84 || crs == MapCrs::Wgs84 {
        let (x0, y0) = to_mercator(b[0], b[1]);
        let (x1, y1) = to_mercator(b[2], b[3]);
        return Ok([x0, y0, x1, y1]);
    }
    let r = Reprojector::new(crs).map_err(|e| ApiError::BadRequest(format!("bbox-crs: {e}")))?;
    r.mercator_envelope(b)
        .map_err(|e| ApiError::BadRequest(format!("bbox: {e}")))
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

/// A `datetime` instant or interval (`a/b`, `..` or empty for open ends) as inclusive bounds.
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

/// The parameters `/collections/{id}/items` defines itself; any other names a property to
/// filter on (shared with `/api`, which lists the properties beside these).
pub const ITEMS_PARAMETERS: [&str; 11] = [
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

/// The parameters of one `/collections/{id}/items` request, checked against the collection.
pub(super) struct ItemsQuery {
    pub html: bool,
    pub limit: usize,
    pub offset: usize,
    pub out: OutCrs,
    envelope: Option<[f64; 4]>,
    during: Option<Interval>,
    filter: Option<Filter>,
    /// Property equalities: (field position, value in the field's type).
    equals: Vec<(usize, Value)>,
}

impl ItemsQuery {
    pub fn parse(
        q: &HashMap<String, String>,
        meta: &LayerMeta,
        headers: &HeaderMap,
    ) -> Result<ItemsQuery, ApiError> {
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
        let during = q.get("datetime").map(|s| parse_datetime(s)).transpose()?;
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
            .map(|f| Filter::parse(f, meta))
            .transpose()?;
        let equals = property_filters(q, meta)?;
        let envelope = bbox.map(|b| envelope(b, bbox_crs)).transpose()?;
        Ok(ItemsQuery {
            html,
            limit,
            offset,
            out,
            envelope,
            during,
            filter,
            equals,
        })
    }

    /// The page this query asks of `layer`.
    pub fn select<'a>(
        &self,
        layer: &'a dyn LayerSource,
        interrupt: &Interrupt,
    ) -> Result<Page<'a>, ApiError> {
        let meta = layer.meta();
        let filter = |f: &FeatureRef<'_>| match &self.filter {
            Some(filter) => filter.matches(meta, f),
            None => Ok(true),
        };
        let selection = Selection {
            envelope: self.envelope,
            equals: self.equals.clone(),
            during: self.during,
            predicate: self.filter.is_some().then_some(&filter as Predicate<'_>),
        };
        layer
            .select(&selection, self.offset, self.limit, interrupt)
            .map_err(|e| match e {
                SelectError::Interrupted(i) => ApiError::from(i),
                SelectError::Predicate(m) => ApiError::BadRequest(format!("filter: {m}")),
            })
    }
}

/// Property filters: any parameter the endpoint does not define must name a field of the
/// collection, and its value is read in the field's type (a number field compares numbers).
fn property_filters(
    q: &HashMap<String, String>,
    meta: &LayerMeta,
) -> Result<Vec<(usize, Value)>, ApiError> {
    let mut filters = Vec::new();
    for (k, v) in q {
        if ITEMS_PARAMETERS.contains(&k.as_str()) {
            continue;
        }
        let idx = meta.schema.index_of(k).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "'{}': unknown parameter or property of collection '{}'",
                k.chars().take(64).collect::<String>(),
                meta.id
            ))
        })?;
        let field = &meta.schema.fields[idx];
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
    Ok(filters)
}
