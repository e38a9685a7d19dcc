//! Clipping to a tile rectangle. Polygons: Sutherland–Hodgman per ring (the result may run
//! along the rectangle's edge, which renderers accept and MVT allows; rings that collapse are
//! dropped later). Lines: Liang–Barsky per segment, pieces joined while contiguous.

/// Axis-aligned rectangle [min x, min y, max x, max y].
pub type Rect = [f64; 4];

/// Clips a closed ring (first point == last point, or not) to `r`. Returns a closed ring, or
/// an empty vec when nothing is left.
pub fn clip_ring(ring: &[(f64, f64)], r: &Rect) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = ring.to_vec();
    if pts.len() > 1 && pts.first() == pts.last() {
        pts.pop();
    }
    // Fast path: entirely inside.
    if pts
        .iter()
        .all(|&(x, y)| x >= r[0] && x <= r[2] && y >= r[1] && y <= r[3])
    {
        let mut out = pts;
        if let Some(&first) = out.first() {
            out.push(first);
        }
        return out;
    }
    for edge in 0..4 {
        if pts.is_empty() {
            break;
        }
        let inside = |p: (f64, f64)| match edge {
            0 => p.0 >= r[0],
            1 => p.0 <= r[2],
            2 => p.1 >= r[1],
            _ => p.1 <= r[3],
        };
        let cross = |a: (f64, f64), b: (f64, f64)| -> (f64, f64) {
            match edge {
                0 | 1 => {
                    let x = if edge == 0 { r[0] } else { r[2] };
                    let t = (x - a.0) / (b.0 - a.0);
                    (x, a.1 + t * (b.1 - a.1))
                }
                _ => {
                    let y = if edge == 2 { r[1] } else { r[3] };
                    let t = (y - a.1) / (b.1 - a.1);
                    (a.0 + t * (b.0 - a.0), y)
                }
            }
        };
        let mut out = Vec::with_capacity(pts.len() + 4);
        let mut prev = pts[pts.len() - 1];
        for &cur in &pts {
            match (inside(prev), inside(cur)) {
                (true, true) => out.push(cur),
                (true, false) => out.push(cross(prev, cur)),
                (false, true) => {
                    out.push(cross(prev, cur));
                    out.push(cur);
                }
                (false, false) => {}
            }
            prev = cur;
        }
        pts = out;
    }
    if pts.len() < 3 {
        return Vec::new();
    }
    let first = pts[0];
    pts.push(first);
    pts
}

/// Clips a line string to `r`, returning the pieces inside.
pub fn clip_line(line: &[(f64, f64)], r: &Rect) -> Vec<Vec<(f64, f64)>> {
    let mut pieces = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for w in line.windows(2) {
        match clip_segment(w[0], w[1], r) {
            Some((a, b)) => {
                if cur.last() != Some(&a) {
                    if cur.len() >= 2 {
                        pieces.push(std::mem::take(&mut cur));
                    }
                    cur.clear();
                    cur.push(a);
                }
                cur.push(b);
                // Leaving the rectangle ends the piece.
                if b != w[1] {
                    pieces.push(std::mem::take(&mut cur));
                }
            }
            None => {
                if cur.len() >= 2 {
                    pieces.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    if cur.len() >= 2 {
        pieces.push(cur);
    }
    pieces
}

/// Liang–Barsky: the part of segment a→b inside `r`.
fn clip_segment(a: (f64, f64), b: (f64, f64), r: &Rect) -> Option<((f64, f64), (f64, f64))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let mut t0 = 0.0f64;
    let mut t1 = 1.0f64;
    for (p, q) in [
        (-dx, a.0 - r[0]),
        (dx, r[2] - a.0),
        (-dy, a.1 - r[1]),
        (dy, r[3] - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let t = q / p;
            if p < 0.0 {
                if t > t1 {
                    return None;
                }
                t0 = t0.max(t);
            } else {
                if t < t0 {
                    return None;
                }
                t1 = t1.min(t);
            }
        }
    }
    let pa = if t0 > 0.0 {
        (a.0 + t0 * dx, a.1 + t0 * dy)
    } else {
        a
    };
    let pb = if t1 < 1.0 {
        (a.0 + t1 * dx, a.1 + t1 * dy)
    } else {
        b
    };
    Some((pa, pb))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn area(r: &[(f64, f64)]) -> f64 {
        r.windows(2)
            .map(|w| w[0].0 * w[1].1 - w[1].0 * w[0].1)
            .sum::<f64>()
            / 2.0
    }

    #[test]
    fn ring_clipped_to_rect_keeps_inside_area() {
        let sq = vec![
            (-5.0, -5.0),
            (5.0, -5.0),
            (5.0, 5.0),
            (-5.0, 5.0),
            (-5.0, -5.0),
        ];
        let out = clip_ring(&sq, &[0.0, 0.0, 10.0, 10.0]);
        assert_eq!(out.first(), out.last());
        assert!((area(&out).abs() - 25.0).abs() < 1e-9);
        assert!(clip_ring(&sq, &[20.0, 20.0, 30.0, 30.0]).is_empty());
        let inside = clip_ring(&sq, &[-10.0, -10.0, 10.0, 10.0]);
        assert_eq!(inside, sq);
    }

    #[test]
    fn line_pieces_inside_rect() {
        let l = vec![(-5.0, 5.0), (15.0, 5.0), (15.0, 8.0), (5.0, 8.0)];
        let p = clip_line(&l, &[0.0, 0.0, 10.0, 10.0]);
        assert_eq!(
            p,
            vec![vec![(0.0, 5.0), (10.0, 5.0)], vec![(10.0, 8.0), (5.0, 8.0)]]
        );
        assert!(clip_line(&[(20.0, 20.0), (30.0, 30.0)], &[0.0, 0.0, 10.0, 10.0]).is_empty());
        let inside = vec![(1.0, 1.0), (2.0, 2.0), (3.0, 1.0)];
        assert_eq!(clip_line(&inside, &[0.0, 0.0, 10.0, 10.0]), vec![inside]);
    }
}
