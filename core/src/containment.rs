//! Whether a point lies in a geometry: exact containment (boundary included) with
//! `geo`'s robust predicates, and the banded form for large rings — each ring's edges sorted
//! into horizontal bands once, so a point tests only the edges of its band. Used by the
//! index for point queries and feature info.

use geo::coordinate_position::{coord_pos_relative_to_ring, CoordPos};
use geo::kernels::RobustKernel;
use geo::{Intersects, Kernel, Orientation};
use geo_types::{Coord, Geometry, LineString, Polygon};

/// Whether a polygon covers `c` (inside or on its boundary). Goes ring by ring with the
/// winding-number test; geo's `Intersects` first computes the polygon's bounding box, a second
/// pass over every vertex that the R-tree has already made pointless.
fn polygon_covers(p: &Polygon<f64>, c: Coord<f64>) -> bool {
    match coord_pos_relative_to_ring(c, p.exterior()) {
        CoordPos::Outside => false,
        CoordPos::OnBoundary => true,
        CoordPos::Inside => p
            .interiors()
            .iter()
            .all(|hole| coord_pos_relative_to_ring(c, hole) != CoordPos::Inside),
    }
}

/// Whether `g` covers the coordinate (same answer as `g.intersects(&point)`).
pub fn covers(g: &Geometry<f64>, c: Coord<f64>) -> bool {
    match g {
        Geometry::Polygon(p) => polygon_covers(p, c),
        Geometry::MultiPolygon(mp) => mp.0.iter().any(|p| polygon_covers(p, c)),
        other => other.intersects(&c),
    }
}

/// Rings with more edges than this get [`RingBands`].
const BANDED_RING_EDGES: usize = 64;
/// Bands per edge of a banded ring (one band for about four edges).
const EDGES_PER_BAND: usize = 4;

/// Horizontal bands over a large ring, each listing the edges whose y-range meets it, so the
/// winding-number test visits only the edges near the point's y: every edge a horizontal ray
/// at y can cross, or that can hold the point, lies in y's band. A river polygon of 3 800
/// vertices costs a few edges per query instead of all of them. Same answer, edge for edge,
/// as geo's `coord_pos_relative_to_ring`.
#[derive(Debug, Clone)]
pub struct RingBands {
    y0: f64,
    y1: f64,
    inv_height: f64,
    last: usize,
    /// `edges[offsets[b]..offsets[b + 1]]`: the edges (by start vertex) meeting band `b`.
    offsets: Vec<u32>,
    edges: Vec<u32>,
}

impl RingBands {
    /// Bands for `ring`, or `None` when it is small enough to walk whole.
    pub fn build(ring: &LineString<f64>) -> Option<Self> {
        let n = ring.0.len().saturating_sub(1);
        if n <= BANDED_RING_EDGES {
            return None;
        }
        let (y0, y1) = ring
            .0
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), c| {
                (lo.min(c.y), hi.max(c.y))
            });
        if !(y0.is_finite() && y1.is_finite()) || y1 <= y0 {
            return None;
        }
        let count = n / EDGES_PER_BAND;
        let mut bands = Self {
            y0,
            y1,
            inv_height: count as f64 / (y1 - y0),
            last: count - 1,
            offsets: vec![0; count + 1],
            edges: Vec::new(),
        };
        let span = |b: &Self, e: usize| {
            let (a, z) = (ring.0[e].y, ring.0[e + 1].y);
            b.band(a.min(z))..=b.band(a.max(z))
        };
        for e in 0..n {
            for b in span(&bands, e) {
                bands.offsets[b + 1] += 1;
            }
        }
        for b in 0..count {
            bands.offsets[b + 1] += bands.offsets[b];
        }
        let mut fill: Vec<u32> = bands.offsets[..count].to_vec();
        bands.edges = vec![0; bands.offsets[count] as usize];
        for e in 0..n {
            for b in span(&bands, e) {
                bands.edges[fill[b] as usize] = e as u32;
                fill[b] += 1;
            }
        }
        Some(bands)
    }

    /// Heap size in bytes.
    pub fn heap_bytes(&self) -> usize {
        (self.offsets.len() + self.edges.len()) * 4
    }

    /// The band of y (monotone in y, so an edge's band range covers every y it spans).
    fn band(&self, y: f64) -> usize {
        let b = ((y - self.y0) * self.inv_height).floor();
        if b <= 0.0 {
            0
        } else {
            (b as usize).min(self.last)
        }
    }

    /// Where `c` lies relative to `ring` (the ring these bands were built for).
    pub fn position(&self, ring: &LineString<f64>, c: Coord<f64>) -> CoordPos {
        if c.y.is_nan() || c.y < self.y0 || c.y > self.y1 {
            return CoordPos::Outside;
        }
        let b = self.band(c.y);
        let mut winding = 0i32;
        for &e in &self.edges[self.offsets[b] as usize..self.offsets[b + 1] as usize] {
            let (start, end) = (ring.0[e as usize], ring.0[e as usize + 1]);
            // geo's rules: upward edges include their start, downward ones their end,
            // horizontal ones count only as boundary.
            let between = || (start.x.min(end.x)..=start.x.max(end.x)).contains(&c.x);
            if start.y <= c.y {
                if end.y >= c.y {
                    let o = RobustKernel::orient2d(start, end, c);
                    if o == Orientation::CounterClockwise && end.y != c.y {
                        winding += 1;
                    } else if o == Orientation::Collinear && between() {
                        return CoordPos::OnBoundary;
                    }
                }
            } else if end.y <= c.y {
                let o = RobustKernel::orient2d(start, end, c);
                if o == Orientation::Clockwise {
                    winding -= 1;
                } else if o == Orientation::Collinear && between() {
                    return CoordPos::OnBoundary;
                }
            }
        }
        if winding == 0 {
            CoordPos::Outside
        } else {
            CoordPos::Inside
        }
    }
}

/// Bands for every ring of a polygonal geometry (exterior then holes, polygon by polygon), or
/// `None` when no ring is large enough to need them.
pub fn polygon_bands(g: &Geometry<f64>) -> Option<Box<[Option<RingBands>]>> {
    let polygons: &[Polygon<f64>] = match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(mp) => &mp.0,
        _ => return None,
    };
    let bands: Box<[Option<RingBands>]> = polygons
        .iter()
        .flat_map(|p| std::iter::once(p.exterior()).chain(p.interiors()))
        .map(RingBands::build)
        .collect();
    bands.iter().any(Option::is_some).then_some(bands)
}

/// [`covers`] for a polygonal geometry with the bands [`polygon_bands`] built for it.
pub fn covers_banded(g: &Geometry<f64>, bands: &[Option<RingBands>], c: Coord<f64>) -> bool {
    let polygons: &[Polygon<f64>] = match g {
        Geometry::Polygon(p) => std::slice::from_ref(p),
        Geometry::MultiPolygon(mp) => &mp.0,
        other => return covers(other, c),
    };
    let position = |ring: &LineString<f64>, slot: usize| match bands.get(slot) {
        Some(Some(b)) => b.position(ring, c),
        _ => coord_pos_relative_to_ring(c, ring),
    };
    let mut slot = 0;
    for p in polygons {
        let outer = position(p.exterior(), slot);
        let holes = slot + 1..slot + 1 + p.interiors().len();
        slot = holes.end;
        let covered = match outer {
            CoordPos::Outside => false,
            CoordPos::OnBoundary => true,
            CoordPos::Inside => p
                .interiors()
                .iter()
                .zip(holes)
                .all(|(hole, s)| position(hole, s) != CoordPos::Inside),
        };
        if covered {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo_types::{coord, polygon, LineString, MultiPolygon};

    fn square_with_hole() -> Polygon<f64> {
        polygon!(
            exterior: [(x: 0., y: 0.), (x: 10., y: 0.), (x: 10., y: 10.), (x: 0., y: 10.), (x: 0., y: 0.)],
            interiors: [[(x: 4., y: 4.), (x: 6., y: 4.), (x: 6., y: 6.), (x: 4., y: 6.), (x: 4., y: 4.)]],
        )
    }

    #[test]
    fn covers_agrees_with_geo_intersects() {
        let poly = square_with_hole();
        let multi = MultiPolygon(vec![
            poly.clone(),
            polygon![(x: 20., y: 0.), (x: 30., y: 0.), (x: 25., y: 8.), (x: 20., y: 0.)],
        ]);
        let line = Geometry::LineString(LineString::from(vec![(0., 0.), (10., 10.)]));
        // Inside, in the hole, on the outer and inner boundary, on a vertex, outside, in the
        // second part, on a line and beside it.
        let probes = [
            coord! { x: 2., y: 2. },
            coord! { x: 5., y: 5. },
            coord! { x: 10., y: 3. },
            coord! { x: 4., y: 5. },
            coord! { x: 6., y: 6. },
            coord! { x: 0., y: 0. },
            coord! { x: 11., y: 5. },
            coord! { x: 25., y: 4. },
            coord! { x: 3., y: 3.5 },
        ];
        for g in [Geometry::Polygon(poly), Geometry::MultiPolygon(multi), line] {
            for c in probes {
                assert_eq!(covers(&g, c), g.intersects(&c), "{g:?} at {c:?}");
            }
        }
        assert!(!covers(
            &Geometry::Polygon(square_with_hole()),
            coord! { x: 5., y: 5. }
        ));
        assert!(covers(
            &Geometry::Polygon(square_with_hole()),
            coord! { x: 4., y: 5. }
        ));
    }

    /// A star-shaped ring of `n` vertices with jagged radii, around (cx, cy).
    fn jagged_ring(n: usize, cx: f64, cy: f64, r: f64, seed: u64) -> LineString<f64> {
        let mut state = seed;
        let mut pts: Vec<(f64, f64)> = (0..n)
            .map(|k| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let jag = 0.5 + (state >> 11) as f64 / (1u64 << 53) as f64 * 0.5;
                let a = k as f64 / n as f64 * std::f64::consts::TAU;
                // Whole numbers, so probes can land exactly on vertices and edges.
                (
                    (cx + r * jag * a.cos()).round(),
                    (cy + r * jag * a.sin()).round(),
                )
            })
            .collect();
        pts.dedup();
        pts.push(pts[0]);
        LineString::from(pts)
    }

    #[test]
    fn banded_rings_answer_as_geo_does() {
        let outer = jagged_ring(700, 0., 0., 1000., 7);
        let hole = jagged_ring(300, 100., -50., 250., 11);
        let poly = Polygon::new(outer.clone(), vec![hole.clone()]);
        let g = Geometry::MultiPolygon(MultiPolygon(vec![
            poly,
            Polygon::new(jagged_ring(90, 3000., 0., 400., 3), vec![]),
            polygon![(x: -3000., y: 0.), (x: -2900., y: 0.), (x: -2950., y: 80.), (x: -3000., y: 0.)],
        ]));
        let bands = polygon_bands(&g).expect("large rings get bands");
        assert!(bands[0].is_some() && bands[1].is_some() && bands[3].is_none());
        // A grid over everything (on whole numbers: many probes on vertices, horizontal and
        // vertical edges), plus every vertex and every edge midpoint.
        let mut probes: Vec<Coord<f64>> = Vec::new();
        for x in (-3200..=3500).step_by(37) {
            for y in (-1100..=1100).step_by(23) {
                probes.push(coord! { x: f64::from(x), y: f64::from(y) });
            }
        }
        for ring in [&outer, &hole] {
            for l in ring.lines() {
                probes.push(l.start);
                probes
                    .push(coord! { x: (l.start.x + l.end.x) / 2., y: (l.start.y + l.end.y) / 2. });
            }
        }
        let mut inside = 0;
        for c in &probes {
            let expected = g.intersects(c);
            assert_eq!(covers_banded(&g, &bands, *c), expected, "at {c:?}");
            inside += usize::from(expected);
        }
        // The probes are not all on one side.
        assert!(inside > 1000 && inside < probes.len() - 1000, "{inside}");
        // And ring by ring against geo's own test.
        let b = RingBands::build(&outer).unwrap();
        for c in &probes {
            assert_eq!(
                b.position(&outer, *c),
                coord_pos_relative_to_ring(*c, &outer)
            );
        }
    }
}
