//! A feature turned into pixel space once — clipped rings, line pieces or points, and where
//! its label goes — then drawn by every style layer that wants it.

use geo::InteriorPoint;
use geo_types::{Geometry, LineString, Polygon};

use super::project::Projector;
use crate::clip::{clip_line, clip_ring, Rect};

/// A feature turned into pixel space once, drawn by every style layer that wants it.
pub(super) struct Shape {
    /// Its position among the candidates the shapes were made from.
    pub(super) position: usize,
    pub(super) geometry_type: &'static str,
    /// Polygons: rings; lines: pieces; points: one point per entry.
    pub(super) parts: Vec<Vec<(f64, f64)>>,
    /// Polygons: whether each ring of `parts` is an exterior ring.
    pub(super) exterior: Vec<bool>,
    pub(super) polygon: bool,
    /// Where a point label goes (interior point of polygons, the point itself for points).
    pub(super) anchor: Option<(f64, f64)>,
}

pub(super) fn geometry_type(g: &Geometry<f64>) -> &'static str {
    match g {
        Geometry::Point(_) => "Point",
        Geometry::MultiPoint(_) => "MultiPoint",
        Geometry::LineString(_) | Geometry::Line(_) => "LineString",
        Geometry::MultiLineString(_) => "MultiLineString",
        Geometry::Polygon(_) | Geometry::Rect(_) | Geometry::Triangle(_) => "Polygon",
        Geometry::MultiPolygon(_) => "MultiPolygon",
        Geometry::GeometryCollection(_) => "GeometryCollection",
    }
}

pub(super) fn coords(l: &LineString<f64>) -> Vec<(f64, f64)> {
    l.0.iter().map(|c| (c.x, c.y)).collect()
}

pub(super) fn add_polygon(
    p: &Polygon<f64>,
    clip: &Rect,
    out: &mut Vec<Vec<(f64, f64)>>,
    exterior: &mut Vec<bool>,
) {
    for (i, ring) in std::iter::once(p.exterior())
        .chain(p.interiors())
        .enumerate()
    {
        let inside = ring
            .0
            .iter()
            .all(|c| c.x >= clip[0] && c.x <= clip[2] && c.y >= clip[1] && c.y <= clip[3]);
        let r = if inside {
            coords(ring)
        } else {
            clip_ring(&coords(ring), clip)
        };
        if r.len() >= 4 {
            out.push(r);
            exterior.push(i == 0);
        }
    }
}

pub(super) fn shape(
    position: usize,
    g: &Geometry<f64>,
    clip: &Rect,
    projector: &dyn Projector,
    want_anchor: bool,
) -> Option<Shape> {
    let mut parts = Vec::new();
    let mut exterior = Vec::new();
    let mut polygon = false;
    let mut anchor = None;
    match g {
        Geometry::Point(p) => parts.push(vec![(p.x(), p.y())]),
        Geometry::MultiPoint(mp) => parts.extend(mp.0.iter().map(|p| vec![(p.x(), p.y())])),
        Geometry::LineString(l) => parts.extend(clip_line(&coords(l), clip)),
        Geometry::MultiLineString(ml) => {
            for l in &ml.0 {
                parts.extend(clip_line(&coords(l), clip));
            }
        }
        Geometry::Polygon(p) => {
            polygon = true;
            add_polygon(p, clip, &mut parts, &mut exterior);
        }
        Geometry::MultiPolygon(mp) => {
            polygon = true;
            for p in &mp.0 {
                add_polygon(p, clip, &mut parts, &mut exterior);
            }
        }
        _ => return None,
    }
    if parts.is_empty() {
        return None;
    }
    if want_anchor {
        anchor = match g {
            Geometry::Point(p) => Some((p.x(), p.y())),
            Geometry::Polygon(_) | Geometry::MultiPolygon(_) => {
                g.interior_point().map(|p| (p.x(), p.y()))
            }
            _ => None,
        };
        if let Some(a) = anchor.as_mut() {
            let mut one = [*a];
            projector.project(&mut one);
            *a = one[0];
        }
    }
    for part in &mut parts {
        projector.project(part);
    }
    Some(Shape {
        position,
        geometry_type: geometry_type(g),
        parts,
        exterior,
        polygon,
        anchor,
    })
}

/// Middle of the longest piece, with the direction of the segment there, kept upright.
pub(super) fn line_anchor(parts: &[Vec<(f64, f64)>]) -> Option<((f64, f64), f64)> {
    let length = |p: &Vec<(f64, f64)>| -> f64 {
        p.windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum()
    };
    let piece = parts
        .iter()
        .max_by(|a, b| length(a).total_cmp(&length(b)))?;
    let total = length(piece);
    if total < 20.0 {
        return None;
    }
    let mut walked = 0.0;
    for w in piece.windows(2) {
        let seg = (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1);
        if walked + seg >= total / 2.0 && seg > 0.0 {
            let t = (total / 2.0 - walked) / seg;
            let at = (
                w[0].0 + t * (w[1].0 - w[0].0),
                w[0].1 + t * (w[1].1 - w[0].1),
            );
            let mut angle = (w[1].1 - w[0].1).atan2(w[1].0 - w[0].0);
            if angle > std::f64::consts::FRAC_PI_2 {
                angle -= std::f64::consts::PI;
            } else if angle < -std::f64::consts::FRAC_PI_2 {
                angle += std::f64::consts::PI;
            }
            return Some((at, angle));
        }
        walked += seg;
    }
    None
}
