//! GetCapabilities: WMS 1.3.0 (valid against the OGC schema) and 1.1.1. Lists only the layers
//! the caller may see.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use cuulong_core::crs::MapCrs;
use cuulong_core::render::legend_size;
use cuulong_core::source::LayerSource;

use super::featureinfo::INFO_FORMATS;
use super::request::{xml_escape as esc, Version};
use crate::reproject::Reprojector;
use crate::state::{AppState, Layers};

/// A bbox in a CRS, x = east, y = north, from a lon/lat bbox (corners and edges densified).
fn bbox_in(crs: MapCrs, lonlat: [f64; 4]) -> Option<[f64; 4]> {
    let r = Reprojector::cached(crs).ok()?;
    const STEPS: usize = 8;
    let mut pts = Vec::new();
    for i in 0..=STEPS {
        let t = i as f64 / STEPS as f64;
        let lon = lonlat[0] + t * (lonlat[2] - lonlat[0]);
        let lat = lonlat[1] + t * (lonlat[3] - lonlat[1]);
        pts.extend([
            (lon, lonlat[1]),
            (lon, lonlat[3]),
            (lonlat[0], lat),
            (lonlat[2], lat),
        ]);
    }
    r.lonlat_to_map(&mut pts);
    let mut b = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for (x, y) in pts {
        if x.is_finite() && y.is_finite() {
            b = [b[0].min(x), b[1].min(y), b[2].max(x), b[3].max(y)];
        }
    }
    b[0].is_finite().then_some(b)
}

fn bounding_boxes(lonlat: [f64; 4], version: Version) -> String {
    let mut out = String::new();
    for crs in MapCrs::all() {
        // 1.1.1 has no CRS:84; its LatLonBoundingBox covers it.
        if version == Version::V111 && crs == MapCrs::Crs84 {
            continue;
        }
        let Some(b) = (if crs.is_geographic() && crs.vn2000_proj().is_none() {
            Some(lonlat)
        } else {
            bbox_in(crs, lonlat)
        }) else {
            continue;
        };
        let digits = if crs.is_geographic() { 6 } else { 2 };
        let (minx, miny, maxx, maxy) = if crs.lat_first(version == Version::V130) {
            (b[1], b[0], b[3], b[2])
        } else {
            (b[0], b[1], b[2], b[3])
        };
        let attr = match version {
            Version::V130 => "CRS",
            Version::V111 => "SRS",
        };
        out.push_str(&format!(
            "      <BoundingBox {attr}=\"{}\" minx=\"{minx:.digits$}\" miny=\"{miny:.digits$}\" maxx=\"{maxx:.digits$}\" maxy=\"{maxy:.digits$}\"/>\n",
            crs.name()
        ));
    }
    out
}

fn geographic_box(b: [f64; 4], version: Version) -> String {
    match version {
        Version::V130 => format!(
            "      <EX_GeographicBoundingBox><westBoundLongitude>{:.6}</westBoundLongitude><eastBoundLongitude>{:.6}</eastBoundLongitude><southBoundLatitude>{:.6}</southBoundLatitude><northBoundLatitude>{:.6}</northBoundLatitude></EX_GeographicBoundingBox>\n",
            b[0], b[2], b[1], b[3]
        ),
        Version::V111 => format!(
            "      <LatLonBoundingBox minx=\"{:.6}\" miny=\"{:.6}\" maxx=\"{:.6}\" maxy=\"{:.6}\"/>\n",
            b[0], b[1], b[2], b[3]
        ),
    }
}

fn layer_bbox(l: &dyn LayerSource) -> [f64; 4] {
    match l.meta().bbox {
        Some(b) if !b.is_empty() => b.0,
        _ => [105.9, 9.7, 106.9, 10.4],
    }
}

fn online(href: &str) -> String {
    format!(
        "<OnlineResource xlink:type=\"simple\" xlink:href=\"{}\"/>",
        esc(href)
    )
}

fn layer_xml(state: &AppState, l: &dyn LayerSource, version: Version, base: &str) -> String {
    let m = l.meta();
    let bbox = layer_bbox(l);
    let mut out = String::from("    <Layer queryable=\"1\" opaque=\"0\">\n");
    out.push_str(&format!("      <Name>{}</Name>\n", esc(m.id.as_str())));
    out.push_str(&format!(
        "      <Title>{} / {}</Title>\n",
        esc(&m.title_vi),
        esc(&m.title_en)
    ));
    let mut abstract_ = format!(
        "{} đối tượng / features, phiên bản / version {}, cập nhật / updated {}.",
        m.feature_count,
        m.version,
        m.updated_at.format("%Y-%m-%d")
    );
    if let Some(lineage) = &m.lineage {
        abstract_.push_str(&format!(" Nguồn / source: {lineage}."));
    }
    out.push_str(&format!("      <Abstract>{}</Abstract>\n", esc(&abstract_)));
    out.push_str("      <KeywordList>");
    for k in [
        Some(m.family.as_deref().unwrap_or("data")),
        Some(m.access.as_str()),
    ]
    .into_iter()
    .flatten()
    {
        out.push_str(&format!("<Keyword>{}</Keyword>", esc(k)));
    }
    out.push_str("</KeywordList>\n");
    out.push_str(&geographic_box(bbox, version));
    out.push_str(&bounding_boxes(bbox, version));
    // Admin units in time: the days they cover, GetMap/GetFeatureInfo take TIME=.
    if let (Version::V130, Some(epochs)) = (version, state.temporal.load().get(m.id.as_str())) {
        out.push_str(&format!(
            "      <Dimension name=\"time\" units=\"ISO8601\" default=\"{}\" nearestValue=\"0\" current=\"1\">{}</Dimension>\n",
            crate::temporal::today(),
            esc(&epochs.extent())
        ));
    }
    if let Some(licence) = &m.licence {
        out.push_str(&format!(
            "      <Attribution><Title>{}</Title></Attribution>\n",
            esc(licence)
        ));
    }
    for style in state.styles.load().for_layer(m) {
        let rows = super::map::legend_rows(m, &style);
        let (w, h) = legend_size(&rows);
        let href = format!(
            "{base}/wms?SERVICE=WMS&VERSION={}&REQUEST=GetLegendGraphic&LAYER={}&STYLE={}&FORMAT=image/png",
            version.as_str(),
            m.id.as_str(),
            style.name
        );
        out.push_str(&format!(
            "      <Style><Name>{}</Name><Title>{}</Title><LegendURL width=\"{w}\" height=\"{h}\"><Format>image/png</Format>{}</LegendURL></Style>\n",
            esc(&style.name),
            esc(&style.title),
            online(&href)
        ));
    }
    out.push_str("    </Layer>\n");
    out
}

fn dcp(href: &str) -> String {
    format!(
        "<DCPType><HTTP><Get>{}</Get></HTTP></DCPType>",
        online(href)
    )
}

pub fn capabilities(state: &AppState, visible: &Layers, version: Version, base: &str) -> Response {
    let endpoint = format!("{base}/wms?");
    let mut all = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for l in visible.values() {
        let b = layer_bbox(&**l);
        all = [
            all[0].min(b[0]),
            all[1].min(b[1]),
            all[2].max(b[2]),
            all[3].max(b[3]),
        ];
    }
    if !all[0].is_finite() {
        all = [105.9, 9.7, 106.9, 10.4];
    }
    let update_sequence: i64 = visible.values().map(|l| l.meta().version).sum();
    let (cap_format, exc_formats, info_formats) = match version {
        Version::V130 => (
            "text/xml",
            vec!["XML", "INIMAGE", "BLANK"],
            INFO_FORMATS.to_vec(),
        ),
        Version::V111 => (
            "application/vnd.ogc.wms_xml",
            vec![
                "application/vnd.ogc.se_xml",
                "application/vnd.ogc.se_inimage",
                "application/vnd.ogc.se_blank",
            ],
            INFO_FORMATS.to_vec(),
        ),
    };
    let mut doc = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    match version {
        Version::V130 => doc.push_str(&format!(
            "<WMS_Capabilities version=\"1.3.0\" updateSequence=\"{update_sequence}\" xmlns=\"http://www.opengis.net/wms\" xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"http://www.opengis.net/wms http://schemas.opengis.net/wms/1.3.0/capabilities_1_3_0.xsd\">\n"
        )),
        Version::V111 => doc.push_str(&format!(
            "<!DOCTYPE WMT_MS_Capabilities SYSTEM \"http://schemas.opengis.net/wms/1.1.1/WMS_MS_Capabilities.dtd\">\n<WMT_MS_Capabilities version=\"1.1.1\" updateSequence=\"{update_sequence}\" xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n"
        )),
    }
    let service_name = match version {
        Version::V130 => "WMS",
        Version::V111 => "OGC:WMS",
    };
    doc.push_str(&format!(
        "  <Service>\n    <Name>{service_name}</Name>\n    <Title>cuulong — Dữ liệu không gian tỉnh Bến Tre / Bến Tre province geospatial data</Title>\n    <Abstract>Bản đồ đất đai, thổ nhưỡng, thủy văn, giao thông và địa giới hành chính tỉnh Bến Tre (VN-2000). Land use, soil, hydrology, transport and administrative boundaries of Bến Tre province.</Abstract>\n    <KeywordList><Keyword>Bến Tre</Keyword><Keyword>Cửu Long</Keyword><Keyword>VN-2000</Keyword><Keyword>WMS</Keyword></KeywordList>\n    {}\n    <Fees>none</Fees>\n    <AccessConstraints>Dữ liệu mở miễn phí; dữ liệu dùng chung và dùng riêng cần khóa API / open layers are free, shared and restricted layers need an API key</AccessConstraints>\n",
        online(&format!("{base}/wms"))
    ));
    if version == Version::V130 {
        doc.push_str(&format!(
            "    <MaxWidth>{m}</MaxWidth>\n    <MaxHeight>{m}</MaxHeight>\n",
            m = state.wms_max_size
        ));
    }
    doc.push_str("  </Service>\n  <Capability>\n    <Request>\n");
    let formats = |list: &[&str]| -> String {
        list.iter()
            .map(|f| format!("<Format>{}</Format>", esc(f)))
            .collect()
    };
    doc.push_str(&format!(
        "      <GetCapabilities>{}{}</GetCapabilities>\n",
        formats(&[cap_format]),
        dcp(&endpoint)
    ));
    doc.push_str(&format!(
        "      <GetMap>{}{}</GetMap>\n",
        formats(&["image/png", "image/jpeg"]),
        dcp(&endpoint)
    ));
    doc.push_str(&format!(
        "      <GetFeatureInfo>{}{}</GetFeatureInfo>\n",
        formats(&info_formats),
        dcp(&endpoint)
    ));
    if version == Version::V111 {
        doc.push_str(&format!(
            "      <GetLegendGraphic>{}{}</GetLegendGraphic>\n",
            formats(&["image/png"]),
            dcp(&endpoint)
        ));
    }
    doc.push_str("    </Request>\n");
    doc.push_str(&format!(
        "    <Exception>{}</Exception>\n",
        formats(&exc_formats)
    ));
    doc.push_str("    <Layer>\n      <Title>Bến Tre</Title>\n");
    for crs in MapCrs::all() {
        match version {
            Version::V130 => doc.push_str(&format!("      <CRS>{}</CRS>\n", crs.name())),
            Version::V111 if crs != MapCrs::Crs84 => {
                doc.push_str(&format!("      <SRS>{}</SRS>\n", crs.name()))
            }
            Version::V111 => {}
        }
    }
    doc.push_str(&geographic_box(all, version));
    doc.push_str(&bounding_boxes(all, version));
    for l in visible.values() {
        doc.push_str(&layer_xml(state, &**l, version, base));
    }
    doc.push_str("    </Layer>\n  </Capability>\n");
    doc.push_str(match version {
        Version::V130 => "</WMS_Capabilities>\n",
        Version::V111 => "</WMT_MS_Capabilities>\n",
    });
    let content_type = match version {
        Version::V130 => "text/xml; charset=utf-8",
        Version::V111 => "application/vnd.ogc.wms_xml; charset=utf-8",
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        doc,
    )
        .into_response()
}
