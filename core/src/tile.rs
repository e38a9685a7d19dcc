//! Web Mercator tile math (EPSG:3857, XYZ scheme, origin top-left).

/// Half the width of the Web Mercator world, in metres.
pub const HALF_WORLD: f64 = 20_037_508.342_789_244;
/// Latitude limit of Web Mercator.
pub const MAX_LAT: f64 = 85.051_128_779_806_59;
pub const MAX_ZOOM: u8 = 22;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    pub z: u8,
    pub x: u32,
    pub y: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileError {
    #[error("zoom {0} is out of range 0–22")]
    Zoom(u64),
    #[error("tile column x={x} is out of range 0–{max} at zoom {z}")]
    X { z: u8, x: u64, max: u64 },
    #[error("tile row y={y} is out of range 0–{max} at zoom {z}")]
    Y { z: u8, y: u64, max: u64 },
}

impl TileId {
    pub fn new(z: u64, x: u64, y: u64) -> Result<Self, TileError> {
        let z = u8::try_from(z)
            .ok()
            .filter(|z| *z <= MAX_ZOOM)
            .ok_or(TileError::Zoom(z))?;
        let max = (1u64 << z) - 1;
        if x > max {
            return Err(TileError::X { z, x, max });
        }
        if y > max {
            return Err(TileError::Y { z, y, max });
        }
        // In range, so they fit in u32 (max 2^22 - 1).
        Ok(Self {
            z,
            x: x as u32,
            y: y as u32,
        })
    }

    /// Width of this tile in metres.
    pub fn size(&self) -> f64 {
        2.0 * HALF_WORLD / f64::from(1u32 << self.z)
    }

    /// [min x, min y, max x, max y] in EPSG:3857.
    pub fn bounds(&self) -> [f64; 4] {
        let size = self.size();
        let minx = -HALF_WORLD + f64::from(self.x) * size;
        let maxy = HALF_WORLD - f64::from(self.y) * size;
        [minx, maxy - size, minx + size, maxy]
    }
}

/// Width of a tile at zoom `z`, in metres.
pub fn tile_size(z: u8) -> f64 {
    2.0 * HALF_WORLD / f64::from(1u32 << z.min(MAX_ZOOM))
}

/// lon/lat (degrees) → EPSG:3857 metres; latitude clamped to the Mercator limit.
pub fn to_mercator(lon: f64, lat: f64) -> (f64, f64) {
    let lat = lat.clamp(-MAX_LAT, MAX_LAT);
    let x = lon * HALF_WORLD / 180.0;
    let y = (std::f64::consts::FRAC_PI_4 + lat.to_radians() / 2.0)
        .tan()
        .ln()
        * HALF_WORLD
        / std::f64::consts::PI;
    (x, y)
}

/// EPSG:3857 metres → lon/lat degrees.
pub fn to_lonlat(x: f64, y: f64) -> (f64, f64) {
    let lon = x / HALF_WORLD * 180.0;
    let lat = (2.0 * (y / HALF_WORLD * std::f64::consts::PI).exp().atan()
        - std::f64::consts::FRAC_PI_2)
        .to_degrees();
    (lon, lat)
}

/// [`to_mercator`] on a coordinate.
fn coord_to_mercator(c: geo_types::Coord<f64>) -> geo_types::Coord<f64> {
    let (x, y) = to_mercator(c.x, c.y);
    geo_types::Coord { x, y }
}

/// A lon/lat geometry in EPSG:3857.
pub fn geometry_to_mercator(g: &geo_types::Geometry<f64>) -> geo_types::Geometry<f64> {
    use geo::MapCoords;
    g.map_coords(coord_to_mercator)
}

/// [`geometry_to_mercator`] in place: no second copy of the coordinates, for a feature
/// decoded per request.
pub fn geometry_into_mercator(g: &mut geo_types::Geometry<f64>) {
    use geo::MapCoordsInPlace;
    g.map_coords_in_place(coord_to_mercator);
}

/// An EPSG:3857 geometry (as the index keeps it) in lon/lat degrees.
pub fn geometry_to_lonlat(g: &geo_types::Geometry<f64>) -> geo_types::Geometry<f64> {
    use geo::MapCoords;
    g.map_coords(|c| {
        let (x, y) = to_lonlat(c.x, c.y);
        geo_types::Coord { x, y }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_bounds_and_validation() {
        let t = TileId::new(0, 0, 0).unwrap();
        assert_eq!(
            t.bounds(),
            [-HALF_WORLD, -HALF_WORLD, HALF_WORLD, HALF_WORLD]
        );
        let t = TileId::new(1, 1, 0).unwrap();
        assert_eq!(t.bounds(), [0.0, 0.0, HALF_WORLD, HALF_WORLD]);
        assert_eq!(TileId::new(23, 0, 0), Err(TileError::Zoom(23)));
        assert!(matches!(TileId::new(3, 8, 0), Err(TileError::X { .. })));
        assert!(matches!(TileId::new(3, 0, 8), Err(TileError::Y { .. })));
        assert!(TileId::new(22, (1 << 22) - 1, (1 << 22) - 1).is_ok());
        assert!(TileId::new(u64::MAX, 0, 0).is_err());
    }

    #[test]
    fn mercator_round_trips() {
        let (x, y) = to_mercator(106.375, 10.235);
        let (lon, lat) = to_lonlat(x, y);
        assert!((lon - 106.375).abs() < 1e-9 && (lat - 10.235).abs() < 1e-9);
        let (_, y) = to_mercator(0.0, 90.0);
        assert!((y - HALF_WORLD).abs() < 1e-3);
    }
}
