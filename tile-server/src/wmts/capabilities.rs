//! The WMTS 1.0.0 capabilities document: the operations (KVP and RESTful), every layer the
//! caller may see with its styles, formats, grids and limits per level, and the grids.

use std::fmt::Write;

use cuulong_core::tms::TileMatrixSet;
use cuulong_core::LayerMeta;

use crate::ogc_tiles::grid::limits;
use crate::state::{AppState, Layers};
use crate::wms::featureinfo::INFO_FORMATS;
use crate::wms::request::{xml_escape, Params};

use super::error::WmtsError;

/// The CRS of a grid as WMTS names it (`urn:ogc:def:crs:EPSG::9210`).
fn crs_urn(tms: &TileMatrixSet) -> String {
    let uri = &tms.crs;
    if let Some(code) = uri.strip_prefix("http://www.opengis.net/def/crs/EPSG/0/") {
        format!("urn:ogc:def:crs:EPSG::{code}")
    } else if uri.ends_with("/OGC/1.3/CRS84") {
        "urn:ogc:def:crs:OGC:1.3:CRS84".to_owned()
    } else {
        uri.clone()
    }
}

/// The well-known scale set of a grid, as WMTS 1.0.0 names it.
fn scale_set_urn(tms: &TileMatrixSet) -> Option<&'static str> {
    match tms.well_known_scale_set.as_deref()? {
        s if s.ends_with("/GoogleMapsCompatible") => {
            Some("urn:ogc:def:wkss:OGC:1.0:GoogleMapsCompatible")
        }
        s if s.ends_with("/GoogleCRS84Quad") => Some("urn:ogc:def:wkss:OGC:1.0:GoogleCRS84Quad"),
        _ => None,
    }
}

fn operation(out: &mut String, name: &str, base: &str) {
    let _ = write!(
        out,
        "<ows:Operation name=\"{name}\"><ows:DCP><ows:HTTP>\
         <ows:Get xlink:href=\"{base}/wmts/1.0.0/\"><ows:Constraint name=\"GetEncoding\"><ows:AllowedValues><ows:Value>RESTful</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get>\
         <ows:Get xlink:href=\"{base}/wmts?\"><ows:Constraint name=\"GetEncoding\"><ows:AllowedValues><ows:Value>KVP</ows:Value></ows:AllowedValues></ows:Constraint></ows:Get>\
         </ows:HTTP></ows:DCP>"
    );
    if name == "GetCapabilities" {
        out.push_str(
            "<ows:Parameter name=\"AcceptFormats\"><ows:AllowedValues><ows:Value>application/xml</ows:Value></ows:AllowedValues></ows:Parameter>",
        );
    }
    out.push_str("</ows:Operation>");
}

/// The sections of the capabilities a GetCapabilities asks for (OWS 1.1 `Sections`, with
/// `AcceptVersions` checked on the way).
#[derive(Debug, Clone, Copy)]
pub struct Sections {
    identification: bool,
    operations: bool,
    contents: bool,
}

impl Sections {
    pub fn all() -> Sections {
        Sections {
            identification: true,
            operations: true,
            contents: true,
        }
    }

    /// `Sections` (default all) and `AcceptVersions` (must offer 1.0.0) of a KVP request.
    pub fn from_kvp(p: &Params) -> Result<Sections, WmtsError> {
        if let Some(versions) = p.get("ACCEPTVERSIONS") {
            if !versions.split(',').any(|v| v.trim() == "1.0.0") {
                return Err(WmtsError::new(
                    "VersionNegotiationFailed",
                    None,
                    format!(
                        "AcceptVersions '{}': this server speaks WMTS 1.0.0",
                        versions.chars().take(64).collect::<String>()
                    ),
                ));
            }
        }
        let Some(list) = p.get("SECTIONS") else {
            return Ok(Sections::all());
        };
        if list.trim().is_empty() {
            return Err(WmtsError::new(
                "MissingParameterValue",
                Some("Sections"),
                "Sections is empty".into(),
            ));
        }
        let mut s = Sections {
            identification: false,
            operations: false,
            contents: false,
        };
        for name in list.split(',').map(str::trim) {
            match name.to_ascii_lowercase().as_str() {
                "all" => s = Sections::all(),
                "serviceidentification" => s.identification = true,
                "operationsmetadata" => s.operations = true,
                "contents" => s.contents = true,
                // Sections this server does not write: asking for them is valid.
                "serviceprovider" | "themes" => {}
                _ => {
                    return Err(WmtsError::invalid(
                        "Sections",
                        format!(
                            "'{}' is not a section (ServiceIdentification, ServiceProvider, OperationsMetadata, Contents, Themes, All)",
                            name.chars().take(64).collect::<String>()
                        ),
                    ))
                }
            }
        }
        Ok(s)
    }
}

fn layer(out: &mut String, state: &AppState, meta: &LayerMeta, base: &str) {
    let id = meta.id.as_str();
    let b = meta.bbox.map_or([-180.0, -90.0, 180.0, 90.0], |b| b.0);
    let _ = write!(
        out,
        "<Layer><ows:Title xml:lang=\"vi\">{}</ows:Title><ows:Title xml:lang=\"en\">{}</ows:Title>\
         <ows:WGS84BoundingBox><ows:LowerCorner>{} {}</ows:LowerCorner><ows:UpperCorner>{} {}</ows:UpperCorner></ows:WGS84BoundingBox>\
         <ows:Identifier>{id}</ows:Identifier>",
        xml_escape(&meta.title_vi),
        xml_escape(&meta.title_en),
        b[0],
        b[1],
        b[2],
        b[3]
    );
    let styles = state.styles.load().for_layer(meta);
    if styles.is_empty() {
        out.push_str("<Style isDefault=\"true\"><ows:Identifier>default</ows:Identifier></Style>");
    }
    for (n, s) in styles.iter().enumerate() {
        let _ = write!(
            out,
            "<Style isDefault=\"{}\"><ows:Title>{}</ows:Title><ows:Identifier>{}</ows:Identifier></Style>",
            n == 0,
            xml_escape(&s.title),
            xml_escape(&s.name)
        );
    }
    out.push_str("<Format>image/png</Format><Format>image/jpeg</Format>");
    for f in INFO_FORMATS {
        let _ = write!(out, "<InfoFormat>{f}</InfoFormat>");
    }
    for tms in &state.grids {
        let _ = write!(
            out,
            "<TileMatrixSetLink><TileMatrixSet>{}</TileMatrixSet><TileMatrixSetLimits>",
            tms.id
        );
        for l in limits(tms, meta) {
            let _ = write!(
                out,
                "<TileMatrixLimits><TileMatrix>{}</TileMatrix><MinTileRow>{}</MinTileRow><MaxTileRow>{}</MaxTileRow><MinTileCol>{}</MinTileCol><MaxTileCol>{}</MaxTileCol></TileMatrixLimits>",
                l.level, l.rows.0, l.rows.1, l.cols.0, l.cols.1
            );
        }
        out.push_str("</TileMatrixSetLimits></TileMatrixSetLink>");
    }
    for (ext, media) in [("png", "image/png"), ("jpeg", "image/jpeg")] {
        let _ = write!(
            out,
            "<ResourceURL format=\"{media}\" resourceType=\"tile\" template=\"{base}/wmts/1.0.0/{id}/{{Style}}/{{TileMatrixSet}}/{{TileMatrix}}/{{TileRow}}/{{TileCol}}.{ext}\"/>"
        );
    }
    out.push_str("</Layer>");
}

fn tile_matrix_set(out: &mut String, tms: &TileMatrixSet) {
    let _ = write!(
        out,
        "<TileMatrixSet><ows:Title>{}</ows:Title><ows:Identifier>{}</ows:Identifier><ows:SupportedCRS>{}</ows:SupportedCRS>",
        xml_escape(&tms.title),
        tms.id,
        crs_urn(tms)
    );
    if let Some(wkss) = scale_set_urn(tms) {
        let _ = write!(out, "<WellKnownScaleSet>{wkss}</WellKnownScaleSet>");
    }
    for m in &tms.tile_matrices {
        // In the CRS's own axis order, as the grid's point of origin is given.
        let _ = write!(
            out,
            "<TileMatrix><ows:Identifier>{}</ows:Identifier><ScaleDenominator>{}</ScaleDenominator>\
             <TopLeftCorner>{} {}</TopLeftCorner><TileWidth>{}</TileWidth><TileHeight>{}</TileHeight>\
             <MatrixWidth>{}</MatrixWidth><MatrixHeight>{}</MatrixHeight></TileMatrix>",
            m.id,
            m.scale_denominator,
            m.point_of_origin[0],
            m.point_of_origin[1],
            m.tile_width,
            m.tile_height,
            m.matrix_width,
            m.matrix_height
        );
    }
    out.push_str("</TileMatrixSet>");
}

/// The whole document for the layers in `visible`.
pub fn document(state: &AppState, visible: &Layers, base: &str, sections: Sections) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Capabilities xmlns=\"http://www.opengis.net/wmts/1.0\" xmlns:ows=\"http://www.opengis.net/ows/1.1\" \
         xmlns:xlink=\"http://www.w3.org/1999/xlink\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"http://www.opengis.net/wmts/1.0 http://schemas.opengis.net/wmts/1.0/wmtsGetCapabilities_response.xsd\" version=\"1.0.0\">",
    );
    if sections.identification {
        out.push_str(
            "<ows:ServiceIdentification><ows:Title>cuulong — bản đồ nền tỉnh Vĩnh Long (Bến Tre cũ) / tiles of Vĩnh Long province (former Bến Tre)</ows:Title>\
             <ows:ServiceType>OGC WMTS</ows:ServiceType><ows:ServiceTypeVersion>1.0.0</ows:ServiceTypeVersion></ows:ServiceIdentification>",
        );
    }
    if sections.operations {
        out.push_str("<ows:OperationsMetadata>");
        for op in ["GetCapabilities", "GetTile", "GetFeatureInfo"] {
            operation(&mut out, op, base);
        }
        out.push_str("</ows:OperationsMetadata>");
    }
    if sections.contents {
        out.push_str("<Contents>");
        for l in visible.values() {
            layer(&mut out, state, l.meta(), base);
        }
        for tms in &state.grids {
            tile_matrix_set(&mut out, tms);
        }
        out.push_str("</Contents>");
    }
    let _ = writeln!(
        out,
        "<ServiceMetadataURL xlink:href=\"{base}/wmts/1.0.0/WMTSCapabilities.xml\"/></Capabilities>"
    );
    out
}
