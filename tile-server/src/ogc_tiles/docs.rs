//! The JSON documents of OGC API – Tiles: the list of tile matrix sets, a collection's
//! tilesets and a tileset's metadata (with `tileMatrixSetLimits` from the layer's extent).

use cuulong_core::tms::TileMatrixSet;
use cuulong_core::LayerMeta;

use super::grid::limits;
use crate::http::link;

/// The conformance classes of OGC API – Tiles 1.0 and TMS 2.0 that cuulong implements.
pub const CONFORMANCE: [&str; 8] = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/png",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/jpeg",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
];

const TILING_SCHEME: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme";
pub const MVT: &str = "application/vnd.mapbox-vector-tile";

/// Vector tiles (`/collections/{id}/tiles`) or map tiles (`/collections/{id}/map/tiles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Vector,
    Map,
}

impl Kind {
    /// Which of the two a request path asks for.
    pub fn of(path: &str) -> Kind {
        if path.contains("/map/tiles") {
            Kind::Map
        } else {
            Kind::Vector
        }
    }

    fn data_type(self) -> &'static str {
        match self {
            Kind::Vector => "vector",
            Kind::Map => "map",
        }
    }

    /// The tilesets path of collection `id`.
    fn path(self, id: &str) -> String {
        match self {
            Kind::Vector => format!("/collections/{id}/tiles"),
            Kind::Map => format!("/collections/{id}/map/tiles"),
        }
    }

    fn media(self) -> &'static str {
        match self {
            Kind::Vector => MVT,
            Kind::Map => "image/png",
        }
    }
}

/// `/tileMatrixSets`.
pub fn tile_matrix_sets(grids: &[TileMatrixSet], base: &str) -> serde_json::Value {
    let sets: Vec<serde_json::Value> = grids
        .iter()
        .map(|g| {
            let mut v = serde_json::json!({
                "id": g.id, "title": g.title, "crs": g.crs,
                "links": [link(format!("{base}/tileMatrixSets/{}", g.id), "self", "application/json", &g.title)],
            });
            if let Some(uri) = &g.uri {
                v["uri"] = uri.clone().into();
            }
            v
        })
        .collect();
    serde_json::json!({
        "tileMatrixSets": sets,
        "links": [link(format!("{base}/tileMatrixSets"), "self", "application/json", "Tile matrix sets")],
    })
}

/// The summary of one tileset, as the tilesets list has it.
fn summary(grid: &TileMatrixSet, meta: &LayerMeta, kind: Kind, base: &str) -> serde_json::Value {
    let id = &meta.id;
    let mut v = serde_json::json!({
        "title": format!("{} / {} — {}", meta.title_vi, meta.title_en, grid.id),
        "dataType": kind.data_type(),
        "crs": grid.crs,
        "links": [
            link(format!("{base}{}/{}", kind.path(id.as_str()), grid.id), "self", "application/json", "Tileset metadata"),
            link(format!("{base}/tileMatrixSets/{}", grid.id), TILING_SCHEME, "application/json", &grid.title),
        ],
    });
    if let Some(uri) = &grid.uri {
        v["tileMatrixSetURI"] = uri.clone().into();
    }
    v
}

/// `/collections/{id}/tiles` or `/collections/{id}/map/tiles`: one tileset per grid.
pub fn tilesets(
    grids: &[TileMatrixSet],
    meta: &LayerMeta,
    kind: Kind,
    base: &str,
) -> serde_json::Value {
    let path = kind.path(meta.id.as_str());
    serde_json::json!({
        "tilesets": grids.iter().map(|g| summary(g, meta, kind, base)).collect::<Vec<_>>(),
        "links": [link(format!("{base}{path}"), "self", "application/json", "Tilesets")],
    })
}

/// `/collections/{id}/tiles/{tms}` or its map twin: the summary, the limits per level, the
/// layer and the tile URL template.
pub fn tileset(
    grid: &TileMatrixSet,
    meta: &LayerMeta,
    kind: Kind,
    base: &str,
) -> serde_json::Value {
    let mut doc = summary(grid, meta, kind, base);
    doc["tileMatrixSetLimits"] = limits(grid, meta)
        .iter()
        .map(|l| {
            serde_json::json!({
                "tileMatrix": l.level,
                "minTileRow": l.rows.0, "maxTileRow": l.rows.1,
                "minTileCol": l.cols.0, "maxTileCol": l.cols.1,
            })
        })
        .collect::<Vec<_>>()
        .into();
    doc["layers"] = serde_json::json!([{
        "id": meta.id,
        "title": format!("{} / {}", meta.title_vi, meta.title_en),
        "dataType": kind.data_type(),
        "geometryDimension": geometry_dimension(&meta.geometry_type),
        "propertiesSchema": {
            "type": "object",
            "properties": meta.schema.fields.iter().map(|f| {
                let (kind, _) = f.kind.json_schema();
                (f.name.clone(), serde_json::json!({"type": kind}))
            }).collect::<serde_json::Map<_, _>>(),
        },
    }]);
    let template = format!(
        "{base}{}/{}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
        kind.path(meta.id.as_str()),
        grid.id
    );
    if let Some(links) = doc["links"].as_array_mut() {
        let mut item = link(template, "item", kind.media(), "Tiles");
        item["templated"] = true.into();
        links.push(item);
    }
    doc
}

fn geometry_dimension(geometry_type: &str) -> Option<u8> {
    let t = geometry_type.to_ascii_lowercase();
    if t.contains("point") {
        Some(0)
    } else if t.contains("line") {
        Some(1)
    } else if t.contains("polygon") {
        Some(2)
    } else {
        None
    }
}
