//! The JSON documents of OGC API – Tiles: the list of tile matrix sets, a collection's
//! tilesets and a tileset's metadata (with `tileMatrixSetLimits` from the layer's extent).

use cuulong_core::tms::TileMatrixSet;
use cuulong_core::LayerMeta;

use super::grid::limits;
use crate::http::link;

/// The conformance classes of OGC API – Tiles 1.0 and TMS 2.0 that cuulong implements.
pub const CONFORMANCE: [&str; 10] = [
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/dataset-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/collections-selection",
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

    /// The tilesets path of `scope`.
    fn path(self, scope: &Scope<'_>) -> String {
        let prefix = match scope {
            Scope::Collection(m) => format!("/collections/{}", m.id),
            Scope::Dataset(_) => String::new(),
        };
        match self {
            Kind::Vector => format!("{prefix}/tiles"),
            Kind::Map => format!("{prefix}/map/tiles"),
        }
    }

    fn media(self) -> &'static str {
        match self {
            Kind::Vector => MVT,
            Kind::Map => "image/png",
        }
    }
}

/// What a tileset covers: one collection, or the dataset (the collections a request selects,
/// every visible one by default).
pub enum Scope<'a> {
    Collection(&'a LayerMeta),
    Dataset(Vec<&'a LayerMeta>),
}

impl Scope<'_> {
    fn title(&self) -> String {
        match self {
            Scope::Collection(m) => format!("{} / {}", m.title_vi, m.title_en),
            Scope::Dataset(_) => "cuulong — dữ liệu tỉnh Vĩnh Long (Bến Tre cũ) / Vĩnh Long province data (former Bến Tre)".into(),
        }
    }

    fn metas(&self) -> Vec<&LayerMeta> {
        match self {
            Scope::Collection(m) => vec![m],
            Scope::Dataset(ms) => ms.clone(),
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

/// The summary of one tileset, as the tilesets list has it: with the grid's id, the limits
/// per level and the templated tile link, as OGC's executable test suite looks for them in the
/// list entries too (ets-ogcapi-tiles10 `Tile.validateTilesAreAvailable`).
fn summary(grid: &TileMatrixSet, scope: &Scope<'_>, kind: Kind, base: &str) -> serde_json::Value {
    let template = format!(
        "{base}{}/{}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}",
        kind.path(scope),
        grid.id
    );
    let mut item = link(template, "item", kind.media(), "Tiles");
    item["templated"] = true.into();
    let mut v = serde_json::json!({
        "title": format!("{} — {}", scope.title(), grid.id),
        "dataType": kind.data_type(),
        "crs": grid.crs,
        "tileMatrixSetId": grid.id,
        "tileMatrixSetLimits": scope_limits(grid, scope),
        "links": [
            link(format!("{base}{}/{}", kind.path(scope), grid.id), "self", "application/json", "Tileset metadata"),
            link(format!("{base}/tileMatrixSets/{}", grid.id), TILING_SCHEME, "application/json", &grid.title),
            item,
        ],
    });
    if let Some(uri) = &grid.uri {
        v["tileMatrixSetURI"] = uri.clone().into();
    }
    v
}

/// `/collections/{id}/tiles`, `/tiles` or their map twins: one tileset per grid.
pub fn tilesets(
    grids: &[TileMatrixSet],
    scope: &Scope<'_>,
    kind: Kind,
    base: &str,
) -> serde_json::Value {
    let path = kind.path(scope);
    serde_json::json!({
        "tilesets": grids.iter().map(|g| summary(g, scope, kind, base)).collect::<Vec<_>>(),
        "links": [link(format!("{base}{path}"), "self", "application/json", "Tilesets")],
    })
}

/// The rows and columns per level that hold some of the layers in scope (their union).
fn scope_limits(grid: &TileMatrixSet, scope: &Scope<'_>) -> Vec<serde_json::Value> {
    let mut by_level: std::collections::BTreeMap<usize, (String, [u64; 4])> = Default::default();
    for meta in scope.metas() {
        for l in limits(grid, meta) {
            let Some(level) = grid.level(l.level) else {
                continue;
            };
            let e = by_level
                .entry(level)
                .or_insert((l.level.to_owned(), [u64::MAX, 0, u64::MAX, 0]));
            e.1 = [
                e.1[0].min(l.rows.0),
                e.1[1].max(l.rows.1),
                e.1[2].min(l.cols.0),
                e.1[3].max(l.cols.1),
            ];
        }
    }
    by_level
        .into_values()
        .map(|(level, [r0, r1, c0, c1])| {
            serde_json::json!({
                "tileMatrix": level,
                "minTileRow": r0, "maxTileRow": r1, "minTileCol": c0, "maxTileCol": c1,
            })
        })
        .collect()
}

/// A tileset's metadata: the summary, the limits per level, the layers and the tile URL
/// template (for the dataset, `?collections=` selects layers).
pub fn tileset(
    grid: &TileMatrixSet,
    scope: &Scope<'_>,
    kind: Kind,
    base: &str,
) -> serde_json::Value {
    let mut doc = summary(grid, scope, kind, base);
    doc["layers"] = scope
        .metas()
        .iter()
        .map(|meta| {
            serde_json::json!({
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
            })
        })
        .collect::<Vec<_>>()
        .into();
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
