//! Tiles of any grid from the layer sources, which hold EPSG:3857: a tile's bounds in its
//! grid's CRS become an EPSG:3857 envelope to select candidates, and each candidate is carried
//! into the grid's CRS (VN-2000 by the pinned EPSG:6960 pipeline) before it is cut and
//! encoded — so a VN-2000 tile holds what a VN-2000 GIS expects at those coordinates.

use cuulong_core::interrupt::Interrupt;
use cuulong_core::mvt::{TileTransform, BUFFER, EXTENT};
use cuulong_core::tile::{TileId, HALF_WORLD};
use cuulong_core::tms::{GridTile, TileMatrixSet};
use cuulong_core::LayerMeta;
use geo::{CoordsIter, MapCoordsInPlace};
use geo_types::Geometry;

use crate::error::ApiError;
use crate::reproject::{AreaWarp, Reprojector};
use crate::state::Served;

/// A tile named by a request: the grid, the level id, the row and the column, checked
/// against the grid (an unknown grid, level or a tile outside the matrix is a 404).
pub struct GridRequest<'a> {
    pub tms: &'a TileMatrixSet,
    pub tile: GridTile,
}

impl<'a> GridRequest<'a> {
    pub fn parse(
        grids: &'a [TileMatrixSet],
        tms: &str,
        level: &str,
        row: &str,
        col: &str,
    ) -> Result<GridRequest<'a>, ApiError> {
        let short = |s: &str| s.chars().take(64).collect::<String>();
        let grid = grids.iter().find(|g| g.id == tms).ok_or_else(|| {
            ApiError::NotFound(format!(
                "tile matrix set '{}' is not served (see /tileMatrixSets)",
                short(tms)
            ))
        })?;
        let number = |name: &str, s: &str| -> Result<u64, ApiError> {
            if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ApiError::BadRequest(format!(
                    "{name}: '{}' is not a non-negative integer",
                    short(s)
                )));
            }
            s.parse()
                .map_err(|_| ApiError::BadRequest(format!("{name}: out of range")))
        };
        let (row, col) = (number("tileRow", row)?, number("tileCol", col)?);
        let tile = grid.tile(level, row, col).ok_or_else(|| {
            ApiError::NotFound(format!(
                "no tile {}/{row}/{col} in {}: the level does not exist or the tile is outside its matrix",
                short(level),
                grid.id
            ))
        })?;
        Ok(GridRequest { tms: grid, tile })
    }

    /// The same tile as an XYZ tile when the grid is WebMercatorQuad (shares that cache).
    pub fn xyz(&self) -> Option<TileId> {
        if self.tms.id != "WebMercatorQuad" {
            return None;
        }
        TileId::new(self.tile.level as u64, self.tile.col, self.tile.row).ok()
    }

    /// Whether the tile lies inside the limits some layer of `layers` has at its level (the
    /// `tileMatrixSetLimits` of their tileset). Outside them a tile is out of range for
    /// OGC API – Tiles (abstract test /conf/core/tc-error: 404 or 400) and for WMTS
    /// (TileOutOfRange), even where the matrix goes on.
    pub fn within_limits(&self, layers: &[Served]) -> bool {
        let GridTile { row, col, .. } = self.tile;
        layers.iter().any(|layer| {
            self.layer_limits(layer).is_some_and(|(r0, r1, c0, c1)| {
                (r0..=r1).contains(&row) && (c0..=c1).contains(&col)
            })
        })
    }

    /// The rows and columns that hold some of `layer` at the tile's level: (min row, max
    /// row, min col, max col); `None` when it has none there.
    pub fn layer_limits(&self, layer: &Served) -> Option<(u64, u64, u64, u64)> {
        let bbox = cached_grid_bbox(self.tms, layer.meta())?;
        self.tms.limits(self.tile.level, bbox)
    }

    /// A name for the cache key and ETag.
    pub fn name(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.tms.id, self.tms.tile_matrices[self.tile.level].id, self.tile.row, self.tile.col
        )
    }
}

/// The Web Mercator zoom whose generalisation suits `mercator_per_pixel` (the grid's pixel
/// in EPSG:3857 units): the finer zoom when in between, so shapes move by at most a pixel.
fn zoom_for(mercator_per_pixel: f64) -> u8 {
    (2.0 * HALF_WORLD / 256.0 / mercator_per_pixel)
        .log2()
        .ceil()
        .clamp(0.0, 24.0) as u8
}

/// Carries an EPSG:3857 geometry into the grid's CRS (east/north); `None` when a point has
/// no image there.
fn to_grid(warp: &AreaWarp<'_>, g: &Geometry<f64>) -> Option<Geometry<f64>> {
    let mut pts: Vec<(f64, f64)> = g.coords_iter().map(|c| (c.x, c.y)).collect();
    warp.apply(&mut pts);
    if pts.iter().any(|p| !p.0.is_finite() || !p.1.is_finite()) {
        return None;
    }
    let mut out = g.clone();
    // The coordinates come back in the order `coords_iter` gave them.
    let next = std::cell::Cell::new(0usize);
    let pts = &pts;
    out.map_coords_in_place(|_| {
        let i = next.get();
        next.set(i + 1);
        let (x, y) = pts[i];
        geo_types::Coord { x, y }
    });
    Some(out)
}

/// The MVT bytes of a tile of a grid other than WebMercatorQuad (empty when no feature is in
/// it): each layer's candidates in the tile's EPSG:3857 envelope, carried into the grid's
/// CRS, cut to the tile plus its buffer.
pub fn vector_tile(
    layers: &[Served],
    tms: &TileMatrixSet,
    tile: GridTile,
    interrupt: &Interrupt,
) -> Result<Vec<u8>, ApiError> {
    let crs = tms
        .map_crs()
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let r = Reprojector::cached(crs).map_err(|e| ApiError::Internal(e.to_string()))?;
    let b = tms.bounds(tile);
    let pad = (b[2] - b[0]) * f64::from(BUFFER) / f64::from(EXTENT);
    let padded = [b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad];
    let envelope = r
        .mercator_envelope(padded)
        .map_err(|e| ApiError::BadRequest(format!("tile: {e}")))?;
    let width_px = f64::from(tms.tile_matrices[tile.level].tile_width);
    let zoom =
        zoom_for((envelope[2] - envelope[0]) / (width_px * (1.0 + 2.0 * pad / (b[2] - b[0]))));
    let transform = TileTransform::for_bounds(b, EXTENT, BUFFER);
    // One grid of exact points over the tile, interpolated for every vertex inside it.
    let warp = AreaWarp::new(&r, envelope);
    let project = |g: &Geometry<f64>| to_grid(&warp, g);
    let mut out = Vec::new();
    for l in layers {
        interrupt.check()?;
        if let Some(layer) = l.grid_tile(envelope, zoom, &project, transform) {
            out.push(layer);
        }
    }
    Ok(cuulong_core::mvt::encode_tile(&out))
}

/// The rows and columns of one level that hold some of a layer.
pub struct Limits<'a> {
    pub level: &'a str,
    pub rows: (u64, u64),
    pub cols: (u64, u64),
}

/// Per level, the rows and columns of `tms` that hold some of the layer (from its lon/lat
/// bounding box carried into the grid's CRS); levels it misses are left out.
pub fn limits<'a>(tms: &'a TileMatrixSet, meta: &LayerMeta) -> Vec<Limits<'a>> {
    let Some(bbox) = grid_bbox(tms, meta) else {
        return Vec::new();
    };
    (0..tms.tile_matrices.len())
        .filter_map(|level| {
            let (r0, r1, c0, c1) = tms.limits(level, bbox)?;
            Some(Limits {
                level: &tms.tile_matrices[level].id,
                rows: (r0, r1),
                cols: (c0, c1),
            })
        })
        .collect()
}

/// [`grid_bbox`], remembered per grid and lon/lat box: every tile request checks its limits,
/// and carrying a box into VN-2000 takes 33 reprojected points. Bounded: cleared at 4 096 boxes.
fn cached_grid_bbox(tms: &TileMatrixSet, meta: &LayerMeta) -> Option<[f64; 4]> {
    type Boxes = std::collections::HashMap<(String, [u64; 4]), Option<[f64; 4]>>;
    static BOXES: std::sync::OnceLock<std::sync::Mutex<Boxes>> = std::sync::OnceLock::new();
    let key = (tms.id.clone(), meta.bbox?.0.map(f64::to_bits));
    let boxes = BOXES.get_or_init(Default::default);
    if let Some(hit) = boxes.lock().ok()?.get(&key) {
        return *hit;
    }
    let bbox = grid_bbox(tms, meta);
    let mut boxes = boxes.lock().ok()?;
    if boxes.len() >= 4096 {
        boxes.clear();
    }
    boxes.insert(key, bbox);
    bbox
}

/// The layer's bounding box in the grid's CRS (its lon/lat box densified and carried over).
pub fn grid_bbox(tms: &TileMatrixSet, meta: &LayerMeta) -> Option<[f64; 4]> {
    let b = meta.bbox?.0;
    let r = Reprojector::cached(tms.map_crs().ok()?).ok()?;
    const STEPS: usize = 8;
    let mut pts = Vec::with_capacity(4 * STEPS + 1);
    for i in 0..=STEPS {
        let t = i as f64 / STEPS as f64;
        let lon = b[0] + t * (b[2] - b[0]);
        let lat = b[1] + t * (b[3] - b[1]);
        pts.extend([(lon, b[1]), (lon, b[3]), (b[0], lat), (b[2], lat)]);
    }
    r.lonlat_to_map(&mut pts);
    let finite = pts.iter().filter(|p| p.0.is_finite() && p.1.is_finite());
    let mut env = [
        f64::INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::NEG_INFINITY,
    ];
    for p in finite {
        env = [
            env[0].min(p.0),
            env[1].min(p.1),
            env[2].max(p.0),
            env[3].max(p.1),
        ];
    }
    (env[0] <= env[2]).then_some(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalisation_follows_the_grid_pixel() {
        // A WebMercatorQuad pixel at z10 is z10; a 0.15 m pixel is z20, past the last band.
        assert_eq!(zoom_for(2.0 * HALF_WORLD / 256.0 / 1024.0), 10);
        assert_eq!(zoom_for(0.15), 20);
        assert_eq!(zoom_for(1e9), 0);
    }
}
