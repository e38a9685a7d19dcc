//! GetFeatureInfo: the pixel's centre → lon/lat → the same search as `/query/point`, with a
//! tolerance of a few pixels so lines and points can be clicked.

use std::sync::Arc;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use cuulong_core::access::Caller;
use cuulong_core::interrupt::Interrupt;
use cuulong_core::query::{point_hits, sort_hits};
use cuulong_core::source::{FeatureRef, LayerSource};

use super::request::{
    parse_frame, parse_layers, quote, xml_escape, Frame, Params, Requested, Version, WmsError,
};
use crate::error::ApiError;
use crate::reproject::Reprojector;
use crate::state::{AppState, Served};
use std::collections::HashMap;

/// Click tolerance, in pixels.
const TOLERANCE_PX: f64 = 3.0;

#[derive(Clone, Copy, PartialEq, Eq)]
enum InfoFormat {
    Text,
    Json,
    Html,
    Gml,
}

impl InfoFormat {
    fn parse(s: &str) -> Option<Self> {
        match s
            .trim()
            .to_ascii_lowercase()
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
        {
            "text/plain" => Some(Self::Text),
            "application/json" | "application/geo+json" | "application/geojson" | "json" => {
                Some(Self::Json)
            }
            "text/html" => Some(Self::Html),
            "application/vnd.ogc.gml" | "text/xml" | "application/xml" | "gml" => Some(Self::Gml),
            _ => None,
        }
    }
    fn mime(self) -> &'static str {
        match self {
            Self::Text => "text/plain; charset=utf-8",
            Self::Json => "application/geo+json",
            Self::Html => "text/html; charset=utf-8",
            Self::Gml => "application/vnd.ogc.gml; charset=utf-8",
        }
    }
}

/// Formats offered, as listed in the capabilities.
pub const INFO_FORMATS: &[&str] = &[
    "text/plain",
    "application/json",
    "text/html",
    "application/vnd.ogc.gml",
];

struct Hit<'a> {
    layer: &'a dyn LayerSource,
    feature: FeatureRef<'a>,
    distance_m: f64,
}

pub async fn get_feature_info(
    state: &Arc<AppState>,
    caller: &Caller,
    p: &Params,
    version: Version,
) -> Result<Response, WmsError> {
    let request = InfoRequest::parse(state, caller, p, version)?;
    let format = request.format;
    // The search and the writing run off the async workers (a huge pixel makes a wide
    // search, and FEATURE_COUNT many features to write).
    let body = state
        .work
        .run(move |interrupt| request.answer(interrupt))
        .await?;
    Ok(([(header::CONTENT_TYPE, format.mime())], body).into_response())
}

/// Where a click on pixel (`i`, `j`) of `frame` is (lon/lat) and how far around it to look
/// (metres: the click tolerance in pixels on the ground).
fn click(frame: &Frame, i: u32, j: u32) -> Result<(f64, f64, f64), WmsError> {
    let rx = (frame.bbox[2] - frame.bbox[0]) / f64::from(frame.width);
    let ry = (frame.bbox[3] - frame.bbox[1]) / f64::from(frame.height);
    let x = frame.bbox[0] + (f64::from(i) + 0.5) * rx;
    let y = frame.bbox[3] - (f64::from(j) + 0.5) * ry;
    // The point and one pixel to the right, for the pixel's size on the ground.
    let mut pts = [(x, y), (x + rx, y)];
    Reprojector::new(frame.crs)?.map_to_lonlat(&mut pts)?;
    let (lon, lat) = pts[0];
    if !(-180.0..=180.0).contains(&lon) || !(-85.06..=85.06).contains(&lat) {
        return Err(WmsError::new(
            "InvalidPoint",
            "the pixel is outside the world",
        ));
    }
    let pixel_m = ((pts[1].0 - lon).to_radians() * lat.to_radians().cos() * 6_371_008.8).abs();
    Ok((lon, lat, (TOLERANCE_PX * pixel_m * 100.0).round() / 100.0))
}

/// A GetFeatureInfo request, read and checked: where the click is, how far to look, which
/// layers, how many features per layer and in which format.
pub(crate) struct InfoRequest {
    query_layers: Vec<Requested>,
    format: InfoFormat,
    lon: f64,
    lat: f64,
    radius_m: f64,
    count: usize,
}

impl InfoRequest {
    fn parse(
        state: &Arc<AppState>,
        caller: &Caller,
        p: &Params,
        version: Version,
    ) -> Result<InfoRequest, WmsError> {
        let frame = parse_frame(p, version, state.wms_max_size)?;
        // LAYERS is part of the map the click is on; only QUERY_LAYERS are searched.
        parse_layers(state, caller, p, "LAYERS", false)?;
        let query_layers = parse_layers(state, caller, p, "QUERY_LAYERS", false)?;
        let format_raw = p.get("INFO_FORMAT").unwrap_or("text/plain");
        let format = InfoFormat::parse(format_raw).ok_or_else(|| {
            WmsError::new(
                "InvalidFormat",
                format!(
                    "INFO_FORMAT '{}' is not offered ({})",
                    quote(format_raw),
                    INFO_FORMATS.join(", ")
                ),
            )
        })?;
        // 1.3.0 says I/J, 1.1.1 X/Y; GDAL's WMS driver (3.6) sends X/Y with 1.3.0, so a 1.3.0
        // request without I/J falls back to X/Y, as GeoServer and MapServer do.
        let (i_name, j_name) = match version {
            Version::V130 if p.get("I").is_none() && p.get("X").is_some() => ("X", "Y"),
            Version::V130 => ("I", "J"),
            Version::V111 => ("X", "Y"),
        };
        let pixel = |name: &str, max: u32| -> Result<u32, WmsError> {
            let raw = p.required(name)?;
            let v: i64 = raw.parse().map_err(|_| {
                WmsError::new(
                    "InvalidPoint",
                    format!("{name} '{}' is not an integer", quote(raw)),
                )
            })?;
            if v < 0 || v >= i64::from(max) {
                return Err(WmsError::new(
                    "InvalidPoint",
                    format!("{name}={v} is outside the image (0–{})", max - 1),
                ));
            }
            Ok(v as u32)
        };
        let i = pixel(i_name, frame.width)?;
        let j = pixel(j_name, frame.height)?;
        let count = match p.get("FEATURE_COUNT") {
            None => 1,
            Some(raw) => raw
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .ok_or_else(|| {
                    WmsError::invalid("FEATURE_COUNT", format!("'{}' is not 1–1000", quote(raw)))
                })?,
        };
        let (lon, lat, radius_m) = click(&frame, i, j)?;
        Ok(InfoRequest {
            query_layers,
            format,
            lon,
            lat,
            radius_m,
            count,
        })
    }

    /// A click on pixel (`i`, `j`) of a tile (WMTS GetFeatureInfo): one feature per layer,
    /// in `format` (a media type of [`INFO_FORMATS`]).
    pub(crate) fn at_pixel(
        layers: Vec<Served>,
        frame: &Frame,
        (i, j): (u32, u32),
        format: &str,
    ) -> Result<InfoRequest, WmsError> {
        let format = InfoFormat::parse(format).ok_or_else(|| {
            WmsError::new(
                "InvalidFormat",
                format!(
                    "'{}' is not offered ({})",
                    quote(format),
                    INFO_FORMATS.join(", ")
                ),
            )
        })?;
        let (lon, lat, radius_m) = click(frame, i, j)?;
        Ok(InfoRequest {
            query_layers: layers
                .into_iter()
                .map(|source| Requested {
                    source,
                    style: None,
                })
                .collect(),
            format,
            lon,
            lat,
            radius_m,
            count: 1,
        })
    }

    pub(crate) fn mime(&self) -> &'static str {
        self.format.mime()
    }

    /// The features at the click, nearest first, FEATURE_COUNT per layer, written.
    pub(crate) fn answer(&self, interrupt: &Interrupt) -> Result<String, WmsError> {
        let InfoRequest {
            query_layers,
            format,
            lon,
            lat,
            radius_m,
            count,
        } = self;
        let (lon, lat, radius_m, count) = (*lon, *lat, *radius_m, *count);
        // Polygons answer by containment only (a neighbour is not "here"); lines and
        // points within the click tolerance, as MapServer's TOLERANCE does.
        let (areas, others): (Vec<Served>, Vec<Served>) = query_layers
            .iter()
            .map(|r| r.source.clone())
            .partition(|l| {
                l.meta()
                    .geometry_type
                    .to_ascii_lowercase()
                    .contains("polygon")
            });
        let mut hits = point_hits(&areas, lon, lat, 0.0);
        interrupt.check().map_err(ApiError::from)?;
        hits.extend(point_hits(&others, lon, lat, radius_m));
        interrupt.check().map_err(ApiError::from)?;
        sort_hits(&mut hits);
        // FEATURE_COUNT is per layer, as in MapServer and GeoServer.
        let mut per_layer: HashMap<&str, usize> = HashMap::new();
        let mut kept: Vec<Hit> = Vec::new();
        for (d, layer, feature) in hits {
            let n = per_layer.entry(layer.meta().id.as_str()).or_default();
            if *n < count {
                *n += 1;
                kept.push(Hit {
                    layer,
                    feature,
                    distance_m: d,
                });
            }
        }
        interrupt.check().map_err(ApiError::from)?;
        Ok(match format {
            InfoFormat::Json => json(&kept, lon, lat, radius_m),
            InfoFormat::Text => text(&kept, lon, lat),
            InfoFormat::Html => html(&kept, lon, lat),
            InfoFormat::Gml => gml(&kept),
        })
    }
}

fn properties(h: &Hit<'_>) -> Vec<(String, String)> {
    let meta = h.layer.meta();
    meta.schema
        .fields
        .iter()
        .zip(h.feature.values.iter())
        .map(|(f, v)| {
            let s = match v.to_json() {
                serde_json::Value::String(s) => s,
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            (f.name.clone(), s)
        })
        .collect()
}

fn json(hits: &[Hit<'_>], lon: f64, lat: f64, radius_m: f64) -> String {
    let features: Vec<serde_json::Value> = hits
        .iter()
        .map(|h| {
            let a = &h.feature;
            let mut props = h.layer.meta().schema.properties_json(&a.values);
            props.insert("layer".into(), h.layer.meta().id.as_str().into());
            props.insert(
                "distance_m".into(),
                ((h.distance_m * 100.0).round() / 100.0).into(),
            );
            let geometry = crate::http::geojson_geometry(&cuulong_core::tile::geometry_to_lonlat(
                &h.feature.geometry,
            ));
            serde_json::json!({
                "type": "Feature",
                "id": format!("{}.{}", h.layer.meta().id.as_str(), a.id),
                "geometry": geometry,
                "properties": props,
            })
        })
        .collect();
    serde_json::json!({
        "type": "FeatureCollection",
        "lon": lon, "lat": lat,
        // The tolerance used for line and point layers; polygons are matched by containment.
        "radius_m": radius_m,
        "features": features,
    })
    .to_string()
}

fn text(hits: &[Hit<'_>], lon: f64, lat: f64) -> String {
    let mut out = format!("GetFeatureInfo at lon {lon:.6}, lat {lat:.6}\n");
    if hits.is_empty() {
        out.push_str("no features found\n");
    }
    for h in hits {
        let m = h.layer.meta();
        out.push_str(&format!(
            "\nLayer '{}' ({} / {})\n  Feature {}:\n",
            m.id.as_str(),
            m.title_vi,
            m.title_en,
            h.feature.id
        ));
        for (k, v) in properties(h) {
            out.push_str(&format!("    {k} = '{v}'\n"));
        }
    }
    out
}

fn html(hits: &[Hit<'_>], lon: f64, lat: f64) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>GetFeatureInfo</title></head><body>\n<p>lon {lon:.6}, lat {lat:.6}</p>\n"
    );
    if hits.is_empty() {
        out.push_str("<p>Không có đối tượng / no features</p>\n");
    }
    for h in hits {
        let m = h.layer.meta();
        out.push_str(&format!(
            "<table>\n<caption>{} / {} — {} {}</caption>\n",
            xml_escape(&m.title_vi),
            xml_escape(&m.title_en),
            xml_escape(m.id.as_str()),
            h.feature.id
        ));
        for (k, v) in properties(h) {
            out.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>\n",
                xml_escape(&k),
                xml_escape(&v)
            ));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

/// GML 2 in MapServer's `msGMLOutput` layout, which GDAL's WMS driver (gdallocationinfo) and
/// QGIS read.
fn gml(hits: &[Hit<'_>]) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<msGMLOutput xmlns:gml=\"http://www.opengis.net/gml\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n",
    );
    let mut current: Option<&str> = None;
    for h in hits {
        let id = h.layer.meta().id.as_str();
        if current != Some(id) {
            if let Some(prev) = current {
                out.push_str(&format!("</{prev}_layer>\n"));
            }
            out.push_str(&format!(
                "<{id}_layer>\n<gml:name>{}</gml:name>\n",
                xml_escape(&h.layer.meta().title_vi)
            ));
            current = Some(id);
        }
        out.push_str(&format!("  <{id}_feature fid=\"{id}.{}\">\n", h.feature.id));
        for (k, v) in properties(h) {
            let k = xml_name(&k);
            out.push_str(&format!("    <{k}>{}</{k}>\n", xml_escape(&v)));
        }
        out.push_str(&format!("  </{id}_feature>\n"));
    }
    if let Some(prev) = current {
        out.push_str(&format!("</{prev}_layer>\n"));
    }
    out.push_str("</msGMLOutput>\n");
    out
}

/// A field name as an XML element name: letters, digits, '_', '-', '.'; not starting with a
/// digit.
fn xml_name(k: &str) -> String {
    let mut out: String = k
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '.') {
        out.insert(0, '_');
    }
    out
}
