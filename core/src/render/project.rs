//! From EPSG:3857 to pixels: the style zoom of a scale, and the projector a map is drawn
//! through (linear for Web Mercator; other CRSs bring their own).

/// Equator length of EPSG:3857 in metres.
pub const WORLD: f64 = 2.0 * std::f64::consts::PI * 6_378_137.0;

/// The MapLibre zoom (512-pixel tiles) at which one pixel spans `metres_per_pixel` of
/// EPSG:3857; style expressions on `["zoom"]` see this value, so a WMS image at the same scale
/// as the web map gets the same widths.
pub fn style_zoom(metres_per_pixel: f64) -> f64 {
    (WORLD / (512.0 * metres_per_pixel)).log2()
}

/// Maps EPSG:3857 coordinates to pixel coordinates (x right, y down), in place.
pub trait Projector {
    fn project(&self, points: &mut [(f64, f64)]);
}

/// A linear EPSG:3857 → pixel mapping (the Web Mercator case).
pub struct MercatorView {
    pub bbox: [f64; 4],
    pub width: u32,
    pub height: u32,
}

impl Projector for MercatorView {
    fn project(&self, points: &mut [(f64, f64)]) {
        let sx = f64::from(self.width) / (self.bbox[2] - self.bbox[0]);
        let sy = f64::from(self.height) / (self.bbox[3] - self.bbox[1]);
        for p in points {
            *p = ((p.0 - self.bbox[0]) * sx, (self.bbox[3] - p.1) * sy);
        }
    }
}
