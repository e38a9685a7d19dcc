//! "What is here?": the features of a set of layers at (or within a radius of) a point,
//! nearest first. The kernel behind `GET /query/point` and WMS GetFeatureInfo.

use std::borrow::Borrow;

use geo::{Distance, Euclidean};
use geo_types::Coord;

use crate::index::LayerIndex;
use crate::tile::to_mercator;

/// One feature found: distance in metres (0 when the geometry covers the point), its layer and
/// its position in that layer's index. Borrowed: no reference count touched per hit.
pub type PointHit<'a> = (f64, &'a LayerIndex, usize);

/// What lies at lon/lat in `layers`: features covering the point and, with a radius (m), those
/// within it; nearest first, then by layer id and feature id.
pub fn point_hits<L: Borrow<LayerIndex>>(
    layers: &[L],
    lon: f64,
    lat: f64,
    radius: f64,
) -> Vec<PointHit<'_>> {
    let (x, y) = to_mercator(lon, lat);
    // Mercator stretches distances by 1/cos(lat): search that far in map units.
    let scale = lat.to_radians().cos();
    let r = radius / scale;
    // A little slack so points and lines exactly at the point are found.
    let pad = r.max(0.01);
    let c = Coord { x, y };
    let p = geo_types::Point(c);
    let mut hits = Vec::new();
    for l in layers {
        let l: &LayerIndex = l.borrow();
        for (i, g) in l.query([x - pad, y - pad, x + pad, y + pad]) {
            // Containment first (cheap); the distance to every segment only for a radius.
            let d = if l.covers(i, c) {
                0.0
            } else if radius > 0.0 {
                Euclidean.distance(&p, g) * scale
            } else {
                continue;
            };
            if d <= radius {
                hits.push((d, l, i));
            }
        }
    }
    sort_hits(&mut hits);
    hits
}

/// Nearest first, then by layer id and feature id, so equal questions get equal answers.
pub fn sort_hits(hits: &mut [PointHit<'_>]) {
    hits.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.meta.id.cmp(&b.1.meta.id))
            .then_with(|| a.1.features[a.2].id.cmp(&b.1.features[b.2].id))
    });
}
