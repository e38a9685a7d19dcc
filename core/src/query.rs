//! "What is here?": the features of a set of layers at (or within a radius of) a point,
//! nearest first. The kernel behind `GET /query/point` and WMS GetFeatureInfo.

use std::borrow::Borrow;

use crate::source::{FeatureRef, LayerSource};
use crate::tile::to_mercator;

/// One feature found: distance in metres (0 when the geometry covers the point), its layer and
/// the feature. Borrowed: no reference count touched per hit.
pub type PointHit<'a> = (f64, &'a dyn LayerSource, FeatureRef<'a>);

/// What lies at lon/lat in `layers`: features covering the point and, with a radius (m), those
/// within it; nearest first, then by layer id and feature id.
pub fn point_hits<L: Borrow<dyn LayerSource>>(
    layers: &[L],
    lon: f64,
    lat: f64,
    radius: f64,
) -> Vec<PointHit<'_>> {
    let (x, y) = to_mercator(lon, lat);
    // Mercator stretches distances by 1/cos(lat): the source searches that far in map units.
    let scale = lat.to_radians().cos();
    let mut hits = Vec::new();
    // One scratch list for every layer's hits: no allocation per layer and query.
    let mut found = Vec::new();
    for l in layers {
        let l: &dyn LayerSource = l.borrow();
        l.hits(x, y, radius, scale, &mut found);
        hits.extend(found.drain(..).map(|(d, f)| (d, l, f)));
    }
    sort_hits(&mut hits);
    hits
}

/// Nearest first, then by layer id and feature id, so equal questions get equal answers.
pub fn sort_hits(hits: &mut [PointHit<'_>]) {
    hits.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| a.1.meta().id.cmp(&b.1.meta().id))
            .then_with(|| a.2.id.cmp(&b.2.id))
    });
}
