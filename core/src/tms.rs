//! Tile matrix sets (OGC Two Dimensional Tile Matrix Set 2.0, 17-083r4): the grids tiles are
//! cut in. Three are built in — `WebMercatorQuad` and `WorldCRS84Quad` as the standard defines
//! them, and `VN2000TM3BenTreQuad`, a quad grid in VN-2000 / TM-3 105°45' (EPSG:9210) over
//! former Bến Tre and the new Vĩnh Long province — and more can be read from TMS 2.0 JSON,
//! checked on load. The JSON written is the standard's, so clients (and `morecantile`) read
//! these grids as they read any other.

use serde::{Deserialize, Serialize};

use crate::crs::MapCrs;
use crate::tile::HALF_WORLD;

/// The standardised rendering pixel size, metres (0.28 mm).
const PIXEL_M: f64 = 0.000_28;
/// Metres per degree on the WGS 84 equator (for scale denominators of geographic grids).
const METRES_PER_DEGREE: f64 = 6_378_137.0 * 2.0 * std::f64::consts::PI / 360.0;

/// One level of a grid. Field names and meaning as in TMS 2.0 JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TileMatrix {
    pub id: String,
    pub scale_denominator: f64,
    /// CRS units per pixel.
    pub cell_size: f64,
    #[serde(default = "top_left")]
    pub corner_of_origin: String,
    /// In the CRS's axis order.
    pub point_of_origin: [f64; 2],
    pub tile_width: u32,
    pub tile_height: u32,
    pub matrix_width: u64,
    pub matrix_height: u64,
}

fn top_left() -> String {
    "topLeft".into()
}

/// A tile matrix set as TMS 2.0 JSON has it (the members cuulong uses and writes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TileMatrixSet {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// The CRS as a URI (`http://www.opengis.net/def/crs/EPSG/0/9210`).
    pub crs: String,
    pub ordered_axes: [String; 2],
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub well_known_scale_set: Option<String>,
    pub tile_matrices: Vec<TileMatrix>,
}

/// Why a tile matrix set cannot be served.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TmsError {
    #[error("tile matrix set: not TMS 2.0 JSON: {0}")]
    Json(String),
    #[error("tile matrix set '{id}': CRS '{crs}' is not one cuulong reprojects to (EPSG:3857, CRS84, EPSG:4326, VN-2000 EPSG:4756/3405/9209/9210)")]
    Crs { id: String, crs: String },
    #[error("tile matrix set '{id}', level '{level}': {problem}")]
    Level {
        id: String,
        level: String,
        problem: String,
    },
    #[error("tile matrix set '{0}': no levels")]
    Empty(String),
    #[error("tile matrix set id '{0}': use letters, digits, '_' and '-' only")]
    Id(String),
}

/// A tile of a grid: level index (position in `tile_matrices`), row and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GridTile {
    pub level: usize,
    pub row: u64,
    pub col: u64,
}

impl TileMatrixSet {
    /// Reads and checks TMS 2.0 JSON.
    pub fn from_json(text: &str) -> Result<TileMatrixSet, TmsError> {
        let tms: TileMatrixSet =
            serde_json::from_str(text).map_err(|e| TmsError::Json(e.to_string()))?;
        tms.check()?;
        Ok(tms)
    }

    /// A grid cuulong can serve: a known CRS, top-left origins, positive sizes, levels that
    /// get finer.
    pub fn check(&self) -> Result<(), TmsError> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            return Err(TmsError::Id(self.id.chars().take(64).collect()));
        }
        self.map_crs()?;
        if self.tile_matrices.is_empty() {
            return Err(TmsError::Empty(self.id.clone()));
        }
        let mut previous = f64::INFINITY;
        for m in &self.tile_matrices {
            let bad = |problem: &str| TmsError::Level {
                id: self.id.clone(),
                level: m.id.clone(),
                problem: problem.into(),
            };
            if m.corner_of_origin != "topLeft" {
                return Err(bad("only cornerOfOrigin topLeft is served"));
            }
            let finite = m.cell_size.is_finite()
                && m.point_of_origin.iter().all(|v| v.is_finite())
                && m.scale_denominator.is_finite();
            if !finite || m.cell_size <= 0.0 {
                return Err(bad("cellSize must be a positive number"));
            }
            if !(1..=4096).contains(&m.tile_width) || !(1..=4096).contains(&m.tile_height) {
                return Err(bad("tileWidth and tileHeight must be 1–4096"));
            }
            if m.matrix_width == 0 || m.matrix_height == 0 || m.matrix_width > 1 << 30 {
                return Err(bad("matrixWidth and matrixHeight must be 1–2^30"));
            }
            if m.cell_size >= previous {
                return Err(bad("each level must be finer than the one before"));
            }
            previous = m.cell_size;
        }
        Ok(())
    }

    /// The CRS of the grid, as one cuulong reprojects to.
    pub fn map_crs(&self) -> Result<MapCrs, TmsError> {
        let uri = self.crs.trim();
        let parsed = if let Some(code) = uri.strip_prefix("http://www.opengis.net/def/crs/EPSG/0/")
        {
            MapCrs::parse(&format!("EPSG:{code}"))
        } else {
            MapCrs::parse(uri)
        };
        parsed.ok_or_else(|| TmsError::Crs {
            id: self.id.clone(),
            crs: uri.chars().take(120).collect(),
        })
    }

    /// Whether the first axis of the CRS is northing/latitude (EPSG:4326, EPSG:4756).
    fn northing_first(&self) -> bool {
        self.map_crs().is_ok_and(|c| c.lat_first(true))
    }

    /// The level with this id.
    pub fn level(&self, id: &str) -> Option<usize> {
        self.tile_matrices.iter().position(|m| m.id == id)
    }

    /// A tile, if the level exists and the row and column are inside its matrix.
    pub fn tile(&self, level: &str, row: u64, col: u64) -> Option<GridTile> {
        let level = self.level(level)?;
        let m = &self.tile_matrices[level];
        (row < m.matrix_height && col < m.matrix_width).then_some(GridTile { level, row, col })
    }

    /// A tile's bounds in the grid's CRS, east/north order: [min east, min north, max east,
    /// max north].
    pub fn bounds(&self, t: GridTile) -> [f64; 4] {
        let m = &self.tile_matrices[t.level];
        let (ox, oy) = if self.northing_first() {
            (m.point_of_origin[1], m.point_of_origin[0])
        } else {
            (m.point_of_origin[0], m.point_of_origin[1])
        };
        let w = m.cell_size * f64::from(m.tile_width);
        let h = m.cell_size * f64::from(m.tile_height);
        let x0 = ox + t.col as f64 * w;
        let y1 = oy - t.row as f64 * h;
        [x0, y1 - h, x0 + w, y1]
    }

    /// The rows and columns of `level` that meet `bbox` (grid CRS, east/north order), clamped
    /// to the matrix: (min row, max row, min col, max col); `None` when it misses the matrix.
    pub fn limits(&self, level: usize, bbox: [f64; 4]) -> Option<(u64, u64, u64, u64)> {
        let m = &self.tile_matrices[level];
        let first = self.bounds(GridTile {
            level,
            row: 0,
            col: 0,
        });
        let w = first[2] - first[0];
        let h = first[3] - first[1];
        let col = |x: f64| ((x - first[0]) / w).floor();
        let row = |y: f64| ((first[3] - y) / h).floor();
        let (c0, c1) = (col(bbox[0]), col(bbox[2]));
        let (r0, r1) = (row(bbox[3]), row(bbox[1]));
        let (mw, mh) = (m.matrix_width as f64, m.matrix_height as f64);
        if c1 < 0.0 || r1 < 0.0 || c0 >= mw || r0 >= mh {
            return None;
        }
        let clamp = |v: f64, n: f64| v.clamp(0.0, n - 1.0) as u64;
        Some((clamp(r0, mh), clamp(r1, mh), clamp(c0, mw), clamp(c1, mw)))
    }

    /// Ground metres per pixel at `level` (for geographic grids, at the equator), to choose
    /// generalisation.
    pub fn metres_per_pixel(&self, level: usize) -> f64 {
        let cell = self.tile_matrices[level].cell_size;
        if self.map_crs().is_ok_and(MapCrs::is_geographic) {
            cell * METRES_PER_DEGREE
        } else {
            cell
        }
    }
}

/// `levels` quad levels from `origin`: level 0 is `width0` tiles across and one down, each
/// level halves the cell size.
fn quad(
    origin: [f64; 2],
    cell0: f64,
    metres_per_unit: f64,
    levels: usize,
    width0: u64,
) -> Vec<TileMatrix> {
    (0..levels)
        .map(|z| {
            let cell = cell0 / f64::from(1u32 << z);
            TileMatrix {
                id: z.to_string(),
                scale_denominator: cell * metres_per_unit / PIXEL_M,
                cell_size: cell,
                corner_of_origin: top_left(),
                point_of_origin: origin,
                tile_width: 256,
                tile_height: 256,
                matrix_width: width0 << z,
                matrix_height: 1 << z,
            }
        })
        .collect()
}

/// `WebMercatorQuad` (OGC 17-083r4 Annex D.1), levels 0–24.
pub fn web_mercator_quad() -> TileMatrixSet {
    let crs = "http://www.opengis.net/def/crs/EPSG/0/3857";
    TileMatrixSet {
        id: "WebMercatorQuad".into(),
        title: "Google Maps Compatible for the World".into(),
        description: None,
        uri: Some("http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad".into()),
        crs: crs.into(),
        ordered_axes: ["X".into(), "Y".into()],
        well_known_scale_set: Some(
            "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible".into(),
        ),
        tile_matrices: quad(
            [-HALF_WORLD, HALF_WORLD],
            2.0 * HALF_WORLD / 256.0,
            1.0,
            25,
            1,
        ),
    }
}

/// `WorldCRS84Quad` (OGC 17-083r4 Annex D.2), levels 0–23: two tiles across at level 0.
pub fn world_crs84_quad() -> TileMatrixSet {
    let crs = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";
    TileMatrixSet {
        id: "WorldCRS84Quad".into(),
        title: "CRS84 for the World".into(),
        description: None,
        uri: Some("http://www.opengis.net/def/tilematrixset/OGC/1.0/WorldCRS84Quad".into()),
        crs: crs.into(),
        ordered_axes: ["Lon".into(), "Lat".into()],
        well_known_scale_set: Some(
            "http://www.opengis.net/def/wkss/OGC/1.0/GoogleCRS84Quad".into(),
        ),
        tile_matrices: quad([-180.0, 90.0], 180.0 / 256.0, METRES_PER_DEGREE, 24, 2),
    }
}

/// The id of the VN-2000 grid.
pub const VN2000_QUAD: &str = "VN2000TM3BenTreQuad";

/// A quad grid in VN-2000 / TM-3 105°45' (EPSG:9210): a square level-0 tile of 163 840 m
/// (640 m a pixel) from E 465 000, N 1 180 000 — lon ≈105.46–106.93°, lat ≈9.19–10.67°:
/// former Bến Tre and the whole new Vĩnh Long province — halving to 0.156 m a pixel at level
/// 12.
pub fn vn2000_quad() -> TileMatrixSet {
    let crs = "http://www.opengis.net/def/crs/EPSG/0/9210";
    TileMatrixSet {
        id: VN2000_QUAD.into(),
        title: "VN-2000 / TM-3 105-45 quad grid for Bến Tre and Vĩnh Long".into(),
        description: Some(
            "Lưới ô vuông VN-2000 múi 3° kinh tuyến trục 105°45' (EPSG:9210), tỉnh Vĩnh Long (gồm Bến Tre cũ) / Quad grid in VN-2000 TM-3 105°45' over Vĩnh Long province (former Bến Tre included)".into(),
        ),
        uri: None,
        crs: crs.into(),
        ordered_axes: ["E".into(), "N".into()],
        well_known_scale_set: None,
        tile_matrices: quad(
            [465_000.0, 1_180_000.0],
            640.0,
            1.0,
            13,
            1,
        ),
    }
}

/// The built-in grids, in the order they are listed.
pub fn built_in() -> Vec<TileMatrixSet> {
    vec![web_mercator_quad(), world_crs84_quad(), vn2000_quad()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_mercator_quad_is_the_xyz_grid() {
        let tms = web_mercator_quad();
        tms.check().unwrap();
        let t = tms.tile("10", 480, 810).unwrap();
        let xyz = crate::tile::TileId::new(10, 810, 480).unwrap().bounds();
        for (a, b) in tms.bounds(t).iter().zip(xyz) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        assert!((tms.tile_matrices[0].scale_denominator - 559_082_264.028_717_8).abs() < 1e-3);
        assert!(tms.tile("10", 1024, 0).is_none());
    }

    #[test]
    fn crs84_quad_has_two_tiles_at_level_zero() {
        let tms = world_crs84_quad();
        tms.check().unwrap();
        let east = tms.tile("0", 0, 1).unwrap();
        assert_eq!(tms.bounds(east), [0.0, -90.0, 180.0, 90.0]);
        assert!((tms.tile_matrices[0].scale_denominator - 279_541_132.014_358_8).abs() < 1e-3);
    }

    #[test]
    fn the_vn2000_grid_covers_the_province_and_reaches_a_sixth_of_a_metre() {
        let tms = vn2000_quad();
        tms.check().unwrap();
        assert_eq!(
            tms.bounds(tms.tile("0", 0, 0).unwrap()),
            [465_000.0, 1_016_160.0, 628_840.0, 1_180_000.0]
        );
        assert!((tms.tile_matrices.last().unwrap().cell_size - 0.156_25).abs() < 1e-12);
        // Bến Tre town (about E 590 500, N 1 132 000) at level 5: 32 × 32 tiles of 5 120 m.
        let (r0, r1, c0, c1) = tms
            .limits(5, [590_000.0, 1_131_000.0, 591_000.0, 1_133_000.0])
            .unwrap();
        assert_eq!((r0, r1, c0, c1), (9, 9, 24, 24));
        assert!(tms.limits(5, [0.0, 0.0, 10.0, 10.0]).is_none());
    }

    #[test]
    fn bad_grids_are_refused_with_the_reason() {
        let mut tms = vn2000_quad();
        tms.crs = "http://www.opengis.net/def/crs/EPSG/0/2154".into();
        assert!(matches!(tms.check(), Err(TmsError::Crs { .. })));
        let mut tms = vn2000_quad();
        tms.tile_matrices[3].cell_size = 1000.0;
        assert!(matches!(tms.check(), Err(TmsError::Level { .. })));
        let json = serde_json::to_string(&vn2000_quad()).unwrap();
        assert_eq!(TileMatrixSet::from_json(&json).unwrap(), vn2000_quad());
        assert!(matches!(
            TileMatrixSet::from_json("{\"id\": 1}"),
            Err(TmsError::Json(_))
        ));
    }
}
