//! Fills and strokes grouped by paint, so each group is rasterised once.

use tiny_skia::{FillRule, PathBuilder, Pixmap, Stroke, Transform};

use super::props::key_paint;
use super::shape::Shape;

/// The fills and strokes of one style layer grouped by paint, so tiny-skia rasterises each
/// group once: its anti-aliased fill costs a pass over the image width per call, so a call
/// per small polygon would dominate. Rings are oriented (exteriors one way, holes the other)
/// so the non-zero rule keeps holes open and overlapping features of one paint unite.
/// Consequence: within one style layer, features of the same paint are drawn together.
#[derive(Default)]
pub(super) struct Batches {
    fills: Vec<([u8; 4], PathBuilder)>,
    strokes: Vec<(StrokeKey, Stroke, PathBuilder)>,
}

#[derive(PartialEq)]
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
    pub(super) fn fill(&mut self, key: [u8; 4], s: &Shape) {
        let slot = match self.fills.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.fills.push((key, PathBuilder::new()));
                self.fills.len() - 1
            }
        };
        let pb = &mut self.fills[slot].1;
        for (ring, &exterior) in s.parts.iter().zip(&s.exterior) {
            // Pixel space has y down: exteriors get positive area here, holes negative.
            if (signed_area(ring) > 0.0) == exterior {
                append(pb, &mut ring.iter().copied(), true);
            } else {
                append(pb, &mut ring.iter().rev().copied(), true);
            }
        }
    }

    pub(super) fn stroke(&mut self, key: StrokeKey, stroke: Stroke, s: &Shape) {
        let slot = match self.strokes.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                self.strokes.push((key, stroke, PathBuilder::new()));
                self.strokes.len() - 1
            }
        };
        let pb = &mut self.strokes[slot].2;
        for part in &s.parts {
            if part.len() >= 2 {
                append(pb, &mut part.iter().copied(), s.polygon);
            }
        }
    }

    pub(super) fn flush(&mut self, pixmap: &mut Pixmap) {
        for (key, pb) in self.fills.drain(..) {
            if let Some(path) = pb.finish() {
                pixmap.fill_path(
                    &path,
                    &key_paint(key),
                    FillRule::Winding,
                    Transform::identity(),
                    None,
                );
            }
        }
        for (key, stroke, pb) in self.strokes.drain(..) {
            if let Some(path) = pb.finish() {
                pixmap.stroke_path(
                    &path,
                    &key_paint(key.color),
                    &stroke,
                    Transform::identity(),
                    None,
                );
            }
        }
    }
}
