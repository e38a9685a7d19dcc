//! A feature turned into pixel space once — clipped rings, line pieces or points, and where
//! its label goes — then drawn by every style layer that wants it.

use geo::InteriorPoint;
use geo_types::{Geometry, LineString, Polygon};

use super::project::Projector;
use crate::clip::{clip_line, clip_ring, Rect};

/// The features of one layer turned into pixel space once, in shared buffers (a map of tens
/// of thousands of small parcels would otherwise allocate a few vectors per parcel), each drawn
/// by every style layer that wants it.
#[derive(Default)]
pub(super) struct Shapes {
    points: Vec<(f64, f64)>,
    parts: Vec<Part>,
    shapes: Vec<Entry>,
}

/// A ring, line piece or point: `points[start..end]`.
struct Part {
    start: usize,
    end: usize,
    /// Polygons: whether the ring is an exterior ring.
    exterior: bool,
}

struct Entry {
    position: usize,
    geometry_type: &'static str,
    parts: std::ops::Range<usize>,
    polygon: bool,
    anchor: Option<(f64, f64)>,
}

/// One feature in pixel space.
#[derive(Clone, Copy)]
pub(super) struct Shape<'a> {
    /// Its position among the candidates the shapes were made from.
    pub(super) position: usize,
    pub(super) geometry_type: &'static str,
    pub(super) polygon: bool,
    /// Where a point label goes (interior point of polygons, the point itself for points).
    pub(super) anchor: Option<(f64, f64)>,
    points: &'a [(f64, f64)],
    parts: &'a [Part],
}

impl<'a> Shape<'a> {
    /// Polygons: rings; lines: pieces; points: one point per part.
    pub(super) fn parts(&self) -> impl Iterator<Item = &'a [(f64, f64)]> + Clone + 'a {
        let points = self.points;
        self.parts.iter().map(move |p| &points[p.start..p.end])
    }

    /// Polygons: each ring with whether it is an exterior ring.
    pub(super) fn rings(&self) -> impl Iterator<Item = (&'a [(f64, f64)], bool)> + 'a {
        let points = self.points;
        self.parts
            .iter()
            .map(move |p| (&points[p.start..p.end], p.exterior))
    }
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

/// Shape buffers up to this many points are kept by the thread that used them, for its next
/// map: growing them again costs copies and page faults on every request.
pub(super) const KEPT_POINTS: usize = 1 << 19;

thread_local! {
    static KEPT: std::cell::RefCell<Shapes> = std::cell::RefCell::new(Shapes::default());
}

impl Shapes {
    /// Empty buffers, the thread's kept ones when it has some.
    pub(super) fn take() -> Shapes {
        let mut shapes = KEPT.with(|k| std::mem::take(&mut *k.borrow_mut()));
        shapes.clear();
        shapes
    }

    /// Gives the buffers back to the thread for its next map, unless they grew too large.
    pub(super) fn keep(self) {
        if self.points.capacity() <= KEPT_POINTS {
            KEPT.with(|k| *k.borrow_mut() = self);
        }
    }

    pub(super) fn clear(&mut self) {
        self.points.clear();
        self.parts.clear();
        self.shapes.clear();
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = Shape<'_>> {
        self.shapes.iter().map(|e| Shape {
            position: e.position,
            geometry_type: e.geometry_type,
            polygon: e.polygon,
            anchor: e.anchor,
            points: &self.points,
            parts: &self.parts[e.parts.clone()],
        })
    }

    fn part(&mut self, points: impl IntoIterator<Item = (f64, f64)>, exterior: bool) {
        let start = self.points.len();
        self.points.extend(points);
        self.parts.push(Part {
            start,
            end: self.points.len(),
            exterior,
        });
    }

    fn polygon(&mut self, p: &Polygon<f64>, clip: &Rect) {
        for (i, ring) in std::iter::once(p.exterior())
            .chain(p.interiors())
            .enumerate()
        {
            let inside = ring
                .0
                .iter()
                .all(|c| c.x >= clip[0] && c.x <= clip[2] && c.y >= clip[1] && c.y <= clip[3]);
            if inside {
                if ring.0.len() >= 4 {
                    self.part(ring.0.iter().map(|c| (c.x, c.y)), i == 0);
                }
            } else {
                let r = clip_ring(&coords(ring), clip);
                if r.len() >= 4 {
                    self.part(r, i == 0);
                }
            }
        }
    }

    /// Adds the feature at `position` of the candidates, clipped to `clip` (EPSG:3857) and
    /// projected to pixels; nothing when none of it is inside.
    pub(super) fn add(
        &mut self,
        position: usize,
        g: &Geometry<f64>,
        clip: &Rect,
        projector: &dyn Projector,
        want_anchor: bool,
    ) {
        let (first_point, first_part) = (self.points.len(), self.parts.len());
        let mut polygon = false;
        match g {
            Geometry::Point(p) => self.part([(p.x(), p.y())], false),
            Geometry::MultiPoint(mp) => {
                for p in &mp.0 {
                    self.part([(p.x(), p.y())], false);
                }
            }
            Geometry::LineString(l) => {
                for piece in clip_line(&coords(l), clip) {
                    self.part(piece, false);
                }
            }
            Geometry::MultiLineString(ml) => {
                for l in &ml.0 {
                    for piece in clip_line(&coords(l), clip) {
                        self.part(piece, false);
                    }
                }
            }
            Geometry::Polygon(p) => {
                polygon = true;
                self.polygon(p, clip);
            }
            Geometry::MultiPolygon(mp) => {
                polygon = true;
                for p in &mp.0 {
                    self.polygon(p, clip);
                }
            }
            _ => return,
        }
        if self.parts.len() == first_part {
            return;
        }
        let mut anchor = None;
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
        projector.project(&mut self.points[first_point..]);
        self.shapes.push(Entry {
            position,
            geometry_type: geometry_type(g),
            parts: first_part..self.parts.len(),
            polygon,
            anchor,
        });
    }
}

/// Middle of the longest piece, with the direction of the segment there, kept upright.
pub(super) fn line_anchor<'a>(
    parts: impl Iterator<Item = &'a [(f64, f64)]>,
) -> Option<((f64, f64), f64)> {
    let length = |p: &[(f64, f64)]| -> f64 {
        p.windows(2)
            .map(|w| (w[1].0 - w[0].0).hypot(w[1].1 - w[0].1))
            .sum()
    };
    let piece = parts.max_by(|a, b| length(a).total_cmp(&length(b)))?;
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
