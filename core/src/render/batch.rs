//! Fills and strokes grouped by paint, so each group is rasterised once.

use tiny_skia::{PathBuilder, Pixmap, Stroke};

use super::coverage::Coverage;
use super::dots::{Dot, Dots};
// Spare polyline buffers are kept under the same bound as the shape buffers.
use super::shape::Shape;
use super::shape::KEPT_POINTS;

/// Strokes at most this wide (pixels, undashed) are drawn as quads through [`Coverage`]; at
/// that width caps and joins are under a pixel and tiny-skia's stroker costs more than it shows.
pub(super) const THIN_STROKE: f32 = 1.5;

/// The fills and strokes of one style layer grouped by paint, so each group is rasterised
/// once. Fills and thin strokes go through the accumulation rasteriser ([`Coverage`]) in one
/// pass per paint — a shape a few pixels across costs a few additions per edge; wide or dashed
/// strokes through tiny-skia's stroker, one path per paint, whose outline the accumulator
/// fills too. Rings are oriented (exteriors one way, holes the other) so holes stay open and
/// overlapping features of one paint unite. Consequence: within one style layer, features of
/// the same paint are drawn together.
#[derive(Default)]
pub(super) struct Batches {
    fills: Vec<([u8; 4], Polylines)>,
    /// Fills under a pixel, of every paint, drawn in one pass after the larger ones.
    dots: Dots,
    thin: Vec<(([u8; 4], u32), Polylines)>,
    strokes: Vec<(StrokeKey, Stroke, PathBuilder)>,
    /// Emptied buffers of groups already drawn, for the next groups: a map of thousands of
    /// small shapes would otherwise grow new ones (copying as they double) per style layer.
    spare: Vec<Polylines>,
}

thread_local! {
    static KEPT: std::cell::RefCell<Vec<Polylines>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Pixel-space polylines in one buffer: `ends[i]` is where the i-th one stops in `points`.
#[derive(Default)]
struct Polylines {
    points: Vec<(f32, f32)>,
    ends: Vec<(usize, bool)>,
    /// Holes no larger than a pixel each way in larger rings, as their box and (negative)
    /// area.
    dots: Vec<([f32; 4], f32)>,
}

impl Polylines {
    fn clear(&mut self) {
        self.points.clear();
        self.ends.clear();
        self.dots.clear();
    }

    fn push(&mut self, points: impl Iterator<Item = (f64, f64)>, closed: bool) {
        self.points
            .extend(points.map(|(x, y)| (x as f32, y as f32)));
        self.ends.push((self.points.len(), closed));
    }

    /// The polylines top to bottom (by their first point's row, `rows` and beyond counting as
    /// the last): the accumulation buffer is then written row after row instead of all over —
    /// it is larger than the CPU's caches for big images, and features arrive in file order,
    /// not in space order. A counting sort: linear in polylines and rows.
    fn each(&self, rows: usize) -> impl Iterator<Item = (&[(f32, f32)], bool)> {
        let row_of = |start: usize| -> usize {
            self.points
                .get(start)
                .map_or(0, |p| (p.1.max(0.0) as usize).min(rows))
        };
        let mut starts = vec![0u32; rows + 2];
        let mut start = 0;
        for &(end, _) in &self.ends {
            starts[row_of(start) + 1] += 1;
            start = end;
        }
        for r in 1..starts.len() {
            starts[r] += starts[r - 1];
        }
        let mut order = vec![(0usize, 0usize, false); self.ends.len()];
        let mut start = 0;
        for &(end, closed) in &self.ends {
            let slot = &mut starts[row_of(start)];
            order[*slot as usize] = (start, end, closed);
            *slot += 1;
            start = end;
        }
        order
            .into_iter()
            .map(move |(start, end, closed)| (&self.points[start..end], closed))
    }
}

/// A ring's box when it is at most a pixel each way.
fn within_a_pixel(ring: &[(f64, f64)]) -> Option<[f32; 4]> {
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for &(x, y) in ring {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
        if x1 - x0 > 1.0 || y1 - y0 > 1.0 {
            return None;
        }
    }
    (x0 <= x1).then_some([x0 as f32, y0 as f32, x1 as f32, y1 as f32])
}

/// The polylines of `key`, a spare (cleared) buffer when a new group starts.
fn slot<'a, K: PartialEq>(
    groups: &'a mut Vec<(K, Polylines)>,
    key: K,
    spare: &mut Vec<Polylines>,
) -> &'a mut Polylines {
    let i = match groups.iter().position(|(k, _)| *k == key) {
        Some(i) => i,
        None => {
            groups.push((key, spare.pop().unwrap_or_default()));
            groups.len() - 1
        }
    };
    &mut groups[i].1
}

#[derive(Clone, PartialEq)]
pub(super) struct StrokeKey {
    pub(super) color: [u8; 4],
    pub(super) width: u32,
    pub(super) dash: Vec<u32>,
    pub(super) cap: u8,
    pub(super) join: u8,
}
pub(super) fn signed_area(ring: &[(f64, f64)]) -> f64 {
    ring.windows(2)
        .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
        .sum::<f64>()
        / 2.0
}

pub(super) fn append(
    pb: &mut PathBuilder,
    points: &mut dyn Iterator<Item = (f64, f64)>,
    close: bool,
) {
    let Some((x, y)) = points.next() else {
        return;
    };
    pb.move_to(x as f32, y as f32);
    for (x, y) in points {
        pb.line_to(x as f32, y as f32);
    }
    if close {
        pb.close();
    }
}

impl Batches {
    /// Empty batches with the thread's kept buffers.
    pub(super) fn take() -> Batches {
        Batches {
            spare: KEPT.with(|k| std::mem::take(&mut *k.borrow_mut())),
            ..Batches::default()
        }
    }

    /// Gives the spare buffers back to the thread for its next map, unless they grew too large.
    pub(super) fn keep(mut self) {
        let mut spare = std::mem::take(&mut self.spare);
        spare.extend(self.fills.drain(..).map(|(_, p)| p));
        spare.extend(self.thin.drain(..).map(|(_, p)| p));
        if spare.iter().map(|p| p.points.capacity()).sum::<usize>() > KEPT_POINTS {
            return;
        }
        for p in &mut spare {
            p.clear();
        }
        KEPT.with(|k| *k.borrow_mut() = spare);
    }

    pub(super) fn fill(&mut self, key: [u8; 4], s: &Shape<'_>) {
        let rings = slot(&mut self.fills, key, &mut self.spare);
        // Whether the current polygon's exterior went to the dots: its holes then take their
        // area from it.
        let mut exterior_dot = false;
        for (ring, exterior) in s.rings() {
            let area = signed_area(ring);
            if let Some(bbox) = within_a_pixel(ring) {
                let a = area.abs() as f32;
                if exterior {
                    let paint = self.dots.paint(key);
                    self.dots.push(Dot {
                        bbox,
                        area: a,
                        paint,
                    });
                    exterior_dot = true;
                } else if exterior_dot {
                    if let Some(dot) = self.dots.last_mut() {
                        dot.area -= a;
                    }
                } else {
                    rings.dots.push((bbox, -a));
                }
                continue;
            }
            exterior_dot = exterior_dot && !exterior;
            // Pixel space has y down: exteriors get positive area here, holes negative.
            if (area > 0.0) == exterior {
                rings.push(ring.iter().copied(), true);
            } else {
                rings.push(ring.iter().rev().copied(), true);
            }
        }
    }

    pub(super) fn stroke(&mut self, key: StrokeKey, stroke: Stroke, s: &Shape<'_>) {
        if stroke.dash.is_none() && stroke.width <= THIN_STROKE {
            let lines = slot(&mut self.thin, (key.color, key.width), &mut self.spare);
            for part in s.parts().filter(|p| p.len() >= 2) {
                lines.push(part.iter().copied(), s.polygon);
            }
            return;
        }
        let slot = match self.strokes.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                self.strokes.push((key, stroke, PathBuilder::new()));
                self.strokes.len() - 1
            }
        };
        let pb = &mut self.strokes[slot].2;
        for part in s.parts() {
            if part.len() >= 2 {
                append(pb, &mut part.iter().copied(), s.polygon);
            }
        }
    }

    /// Draws what was batched, fills first, and empties the batches. `coverage` is the image's
    /// accumulation buffer, made on first use.
    pub(super) fn flush(&mut self, pixmap: &mut Pixmap, coverage: &mut Option<Coverage>) {
        let (w, h) = (pixmap.width(), pixmap.height());
        let mut scratch = Vec::new();
        for (color, mut rings) in self.fills.drain(..) {
            if !(rings.ends.is_empty() && rings.dots.is_empty()) {
                let c = coverage.get_or_insert_with(|| Coverage::new(w, h));
                for (ring, _) in rings.each(h as usize) {
                    c.ring(ring);
                }
                for &(bbox, area) in &rings.dots {
                    c.dot(bbox, area);
                }
                c.composite(pixmap, color);
            }
            rings.clear();
            self.spare.push(rings);
        }
        if !self.dots.is_empty() {
            self.dots.draw(pixmap);
        }
        for ((color, width), mut lines) in self.thin.drain(..) {
            let c = coverage.get_or_insert_with(|| Coverage::new(w, h));
            let width = f32::from_bits(width);
            for (line, closed) in lines.each(h as usize) {
                if closed && c.ring_outline(line, width, &mut scratch) {
                    continue;
                }
                for pair in line.windows(2) {
                    c.segment(pair[0], pair[1], width);
                }
                if closed && line.len() > 2 && line.first() != line.last() {
                    c.segment(line[line.len() - 1], line[0], width);
                }
            }
            c.composite(pixmap, color);
            lines.clear();
            self.spare.push(lines);
        }
        for (key, stroke, pb) in self.strokes.drain(..) {
            let Some(path) = pb.finish() else {
                continue;
            };
            // tiny-skia's stroker (and dasher) makes the outline; the accumulator fills it.
            let dashed = match &stroke.dash {
                Some(dash) => path.dash(dash, 1.0),
                None => Some(path),
            };
            if let Some(outline) = dashed.and_then(|p| p.stroke(&stroke, 1.0)) {
                let c = coverage.get_or_insert_with(|| Coverage::new(w, h));
                c.path(&outline, &mut scratch);
                c.composite(pixmap, key.color);
            }
        }
    }
}
