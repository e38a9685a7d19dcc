//! Exact-area anti-aliased scan conversion of many small shapes at once.
//!
//! Each edge adds its signed area and cover to an accumulation buffer (the technique of
//! font-rs and stb_truetype's v2 rasteriser); one running sum along each row then gives every
//! pixel's coverage. All shapes of one paint go through the buffer together, so a thousand
//! parcels a few pixels across cost one pass over the pixels they touch plus a few additions
//! per edge — no edge list to sort, no span blitter per shape — which is what makes map
//! images of dense layers fast (issue 18). Coverage is the exact area inside the shape, where
//! tiny-skia supersamples 4×4; overlapping shapes of one paint add up and are clamped at full
//! coverage, so with consistently oriented rings this is the non-zero rule for shapes that do
//! not overlap and for holes, and saturates where they do.
//!
//! Rows are tracked in blocks of pixels so compositing skips what no edge touched.

use tiny_skia::Pixmap;

/// Cells per block of the touched-cell bitmap.
const BLOCK: usize = 8;

/// Coverage below this is treated as none (float drift of a row's running sum).
const EPSILON: f32 = 1.0 / 1024.0;

/// Accumulation buffers up to this many cells are kept by the thread that used them, for its
/// next map (a new buffer costs the kernel a page fault and zeroing per 4 KiB); larger ones
/// are freed, so what stays is bounded by threads × 4 MiB.
const KEPT_CELLS: usize = 1 << 20;

thread_local! {
    static KEPT: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The accumulation buffer of one map image, reused by every paint drawn into it.
pub(super) struct Coverage {
    width: usize,
    height: usize,
    /// Row length of `acc`: the image width plus two columns that take what falls at or
    /// beyond the right edge, so every row sums back to zero.
    stride: usize,
    acc: Vec<f32>,
    /// One bit per block of [`BLOCK`] cells of each row says an edge touched it; a row has
    /// `words` words of bits.
    words: usize,
    touched: Vec<u64>,
    /// Rows touched since the last composite, `first..end`.
    first: usize,
    end: usize,
}

impl Coverage {
    pub(super) fn new(width: u32, height: u32) -> Coverage {
        let (width, height) = (width as usize, height as usize);
        let stride = width + 2;
        Coverage {
            width,
            height,
            stride,
            acc: Self::buffer(stride * height),
            words: stride.div_ceil(BLOCK * 64),
            touched: vec![0; height * stride.div_ceil(BLOCK * 64)],
            first: height,
            end: 0,
        }
    }

    /// A zeroed buffer of `cells`, the thread's kept one when it is large enough.
    fn buffer(cells: usize) -> Vec<f32> {
        let kept = KEPT.with(|k| std::mem::take(&mut *k.borrow_mut()));
        if kept.len() >= cells {
            // Kept buffers are all zero (see Drop); the tail past `cells` stays unused.
            return kept;
        }
        vec![0.0; cells]
    }

    /// Bytes this buffer takes for a `width` × `height` image.
    pub(super) fn bytes(width: u32, height: u32) -> u64 {
        (u64::from(width) + 2) * u64::from(height) * 4
            + (u64::from(width) + 2).div_ceil(8 * 64) * u64::from(height) * 8
    }

    /// Adds the closed ring through `points` (the last point joins the first).
    pub(super) fn ring(&mut self, points: &[(f32, f32)]) {
        let Some(&last) = points.last() else {
            return;
        };
        self.mark(points);
        let mut from = last;
        for &to in points {
            self.edge(from, to);
            from = to;
        }
    }

    /// Marks the blocks under the box of `points` as touched, once per ring rather than per
    /// edge (a small shape's edges share their rows and blocks).
    fn mark(&mut self, points: &[(f32, f32)]) {
        let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
        for &(x, y) in points {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
        // NaN coordinates fail these comparisons and mark nothing (their edges add nothing).
        if !(x0 <= x1 && y0 <= y1) {
            return;
        }
        let right = self.width as f32;
        let bottom = self.height as f32;
        if y1 <= 0.0 || y0 >= bottom {
            return;
        }
        let y_first = whole(y0.max(0.0));
        let last = y1.min(bottom);
        let y_end = (whole(last) + usize::from((whole(last) as f32) < last)).min(self.height);
        let b0 = whole(x0.clamp(0.0, right)) / BLOCK;
        let b1 = (whole(x1.clamp(0.0, right)) + 2).min(self.stride - 1) / BLOCK;
        let words = self.words;
        for w in b0 / 64..=b1 / 64 {
            let lo = if w == b0 / 64 { b0 % 64 } else { 0 };
            let hi = if w == b1 / 64 { b1 % 64 } else { 63 };
            let bits = (u64::MAX >> (63 - hi)) & (u64::MAX << lo);
            for y in y_first..y_end {
                self.touched[y * words + w] |= bits;
            }
        }
        self.first = self.first.min(y_first);
        self.end = self.end.max(y_end);
    }

    /// Adds the quadrilateral covering the segment `a`–`b` drawn `width` wide, lengthened by
    /// half the width at both ends so that consecutive segments of a thin line meet without a
    /// notch at the joins. Every quad winds the same way, so overlaps add up, never cancel.
    pub(super) fn segment(&mut self, a: (f32, f32), b: (f32, f32), width: f32) {
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let length = (dx * dx + dy * dy).sqrt();
        if !length.is_finite() || length <= 0.0 {
            return;
        }
        let half = width / 2.0;
        let (ux, uy) = (dx / length * half, dy / length * half);
        let (a, b) = ((a.0 - ux, a.1 - uy), (b.0 + ux, b.1 + uy));
        // The normal, half a width long.
        let (nx, ny) = (-uy, ux);
        self.ring(&[
            (a.0 + nx, a.1 + ny),
            (b.0 + nx, b.1 + ny),
            (b.0 - nx, b.1 - ny),
            (a.0 - nx, a.1 - ny),
        ]);
    }

    /// Adds every contour of a tiny-skia path (pixel space), curves flattened to within about
    /// a tenth of a pixel; open contours are closed, as a fill closes them. Used for the
    /// outlines tiny-skia's stroker makes of wide lines and for glyphs: its stroker emits every
    /// outline with the same winding, so overlapping lines add up, and the fill rule here (sum,
    /// clamped) matches non-zero wherever a pixel is covered whole.
    pub(super) fn path(&mut self, path: &tiny_skia::Path, scratch: &mut Vec<(f32, f32)>) {
        use tiny_skia::PathSegment;
        scratch.clear();
        let mut last = (0.0f32, 0.0f32);
        for segment in path.segments() {
            match segment {
                PathSegment::MoveTo(p) => {
                    self.flush_contour(scratch);
                    last = (p.x, p.y);
                    scratch.push(last);
                }
                PathSegment::LineTo(p) => {
                    last = (p.x, p.y);
                    scratch.push(last);
                }
                PathSegment::QuadTo(c, p) => {
                    let (c, p) = ((c.x, c.y), (p.x, p.y));
                    let n = pieces(last, c, c, p);
                    for k in 1..=n {
                        let t = k as f32 / n as f32;
                        let u = 1.0 - t;
                        scratch.push((
                            u * u * last.0 + 2.0 * u * t * c.0 + t * t * p.0,
                            u * u * last.1 + 2.0 * u * t * c.1 + t * t * p.1,
                        ));
                    }
                    last = p;
                }
                PathSegment::CubicTo(c1, c2, p) => {
                    let (c1, c2, p) = ((c1.x, c1.y), (c2.x, c2.y), (p.x, p.y));
                    let n = pieces(last, c1, c2, p);
                    for k in 1..=n {
                        let t = k as f32 / n as f32;
                        let u = 1.0 - t;
                        let (a, b, c, d) = (u * u * u, 3.0 * u * u * t, 3.0 * u * t * t, t * t * t);
                        scratch.push((
                            a * last.0 + b * c1.0 + c * c2.0 + d * p.0,
                            a * last.1 + b * c1.1 + c * c2.1 + d * p.1,
                        ));
                    }
                    last = p;
                }
                PathSegment::Close => self.flush_contour(scratch),
            }
        }
        self.flush_contour(scratch);
    }

    fn flush_contour(&mut self, contour: &mut Vec<(f32, f32)>) {
        if contour.len() >= 3 {
            self.ring(contour);
        }
        contour.clear();
    }

    /// Adds the band `width` wide centred on the closed ring `points` (a closing point equal
    /// to the first is allowed): the ring offset outwards and inwards by half the width with
    /// mitred corners, 2n edges where n segments as quads take 4n. Returns false, adding nothing,
    /// when a corner is sharper than the mitre limit or the ring is degenerate; the caller then
    /// draws it as segments. The band winds like [`Coverage::segment`]'s quads, so the outline
    /// of a neighbour sharing an edge adds to it instead of cancelling it.
    pub(super) fn ring_outline(
        &mut self,
        points: &[(f32, f32)],
        width: f32,
        scratch: &mut Vec<(f32, f32)>,
    ) -> bool {
        // tiny-skia's (and Skia's) default mitre limit.
        const MITER_LIMIT: f32 = 4.0;
        let mut ring = points;
        if ring.len() > 1 && ring.first() == ring.last() {
            ring = &ring[..ring.len() - 1];
        }
        let n = ring.len();
        if n < 3 {
            return false;
        }
        let half = width / 2.0;
        scratch.clear();
        let unit = |a: (f32, f32), b: (f32, f32)| -> Option<(f32, f32)> {
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let l = (dx * dx + dy * dy).sqrt();
            (l > 1e-6 && l.is_finite()).then(|| {
                let inv = l.recip();
                (dx * inv, dy * inv)
            })
        };
        let Some(mut d0) = unit(ring[n - 1], ring[0]) else {
            return false;
        };
        for i in 0..n {
            let Some(d1) = unit(ring[i], ring[(i + 1) % n]) else {
                return false;
            };
            // The mitre point between the left normals n0, n1 of the edges in and out lies at
            // half · (n0 + n1) / (1 + n0·n1): 1 + n0·n1 = 2cos²(θ/2), so it is half / cos(θ/2)
            // away, and within the limit when 1 + n0·n1 ≥ 2 / limit². No square root.
            let denominator = 1.0 + d0.0 * d1.0 + d0.1 * d1.1;
            // (NaN fails too.)
            if denominator.is_nan() || denominator < 2.0 / (MITER_LIMIT * MITER_LIMIT) {
                return false;
            }
            let k = half / denominator;
            scratch.push((ring[i].0 - (d0.1 + d1.1) * k, ring[i].1 + (d0.0 + d1.0) * k));
            d0 = d1;
        }
        for i in 0..n {
            let (dx, dy) = (scratch[i].0 - ring[i].0, scratch[i].1 - ring[i].1);
            scratch.push((ring[i].0 - dx, ring[i].1 - dy));
        }
        self.mark(scratch);
        let (outer, inner) = scratch.split_at(n);
        // Quads wind negatively (shoelace in pixel space); make the band do the same.
        let band = shoelace(outer) - shoelace(inner);
        let (first, second) = if band < 0.0 {
            (outer, inner)
        } else {
            (inner, outer)
        };
        let mut from = first[n - 1];
        for &to in first {
            self.edge(from, to);
            from = to;
        }
        let mut from = second[0];
        for &to in second.iter().rev() {
            self.edge(from, to);
            from = to;
        }
        true
    }

    /// Adds a shape no larger than a pixel each way by its area alone, given its box
    /// `[x0, y0, x1, y1]`: the area goes to the (up to four) pixels the box overlaps, in
    /// proportion to the overlap. Exact for a shape inside one pixel and for a rectangle;
    /// otherwise its ink lands within the pixels it touches, which at that size is all
    /// anti-aliasing can show. Eight additions where its edges would cost a scan each.
    pub(super) fn dot(&mut self, bbox: [f32; 4], area: f32) {
        if !(bbox.iter().all(|v| v.is_finite()) && area.is_finite()) {
            return;
        }
        let [x0, y0, x1, y1] = bbox;
        let (col, wx) = split(x0, x1);
        let (row, wy) = split(y0, y1);
        // Coverage here is the negated signed area of the accumulated ring (see `line`).
        let a = -area;
        for (r, share_y) in [(row, wy), (row + 1, 1.0 - wy)] {
            if r < 0 || r >= self.height as i64 || share_y <= 0.0 {
                continue;
            }
            let r = r as usize;
            for (c, share_x) in [(col, wx), (col + 1, 1.0 - wx)] {
                if c < 0 || c >= self.width as i64 || share_x <= 0.0 {
                    continue;
                }
                let c = c as usize;
                let v = a * share_x * share_y;
                let cells = &mut self.acc[r * self.stride..(r + 1) * self.stride];
                cells[c] += v;
                cells[c + 1] -= v;
                for block in [c / BLOCK, (c + 1) / BLOCK] {
                    self.touched[r * self.words + block / 64] |= 1 << (block % 64);
                }
                self.first = self.first.min(r);
                self.end = self.end.max(r + 1);
            }
        }
    }

    /// Adds one directed edge. Parts left of the image count as on its left edge (they still
    /// cover what lies to their right), parts right of it land in the spare columns; parts above
    /// or below add nothing.
    fn edge(&mut self, p: (f32, f32), q: (f32, f32)) {
        // Horizontal edges add nothing (a third of a small square's).
        if p.1 == q.1 || !(p.1.is_finite() && q.1.is_finite()) {
            return;
        }
        let right = self.width as f32;
        if p.0 >= 0.0 && p.0 <= right && q.0 >= 0.0 && q.0 <= right {
            self.line(p, q);
            return;
        }
        if !(p.0.is_finite() && q.0.is_finite()) {
            return;
        }
        // Split where the edge crosses x = 0 and x = width, then clamp each piece's x.
        let mut cuts = [0.0f32, 1.0, 1.0, 1.0];
        let mut n = 1;
        let dx = q.0 - p.0;
        if dx != 0.0 {
            for edge_x in [0.0, right] {
                let t = (edge_x - p.0) / dx;
                if t > 0.0 && t < 1.0 {
                    cuts[n] = t;
                    n += 1;
                }
            }
        }
        cuts[n] = 1.0;
        if n == 3 && cuts[1] > cuts[2] {
            cuts.swap(1, 2);
        }
        let at = |t: f32| (p.0 + dx * t, p.1 + (q.1 - p.1) * t);
        for k in 0..n {
            let (a, b) = (at(cuts[k]), at(cuts[k + 1]));
            let a = (a.0.clamp(0.0, right), a.1);
            let b = (b.0.clamp(0.0, right), b.1);
            self.line(a, b);
        }
    }

    /// Accumulates an edge whose x lies within [0, width] (font-rs's `draw_line`).
    fn line(&mut self, p0: (f32, f32), p1: (f32, f32)) {
        if p0.1 == p1.1 {
            return;
        }
        let (dir, p0, p1) = if p0.1 < p1.1 {
            (1.0f32, p0, p1)
        } else {
            (-1.0f32, p1, p0)
        };
        let bottom = self.height as f32;
        if p1.1 <= 0.0 || p0.1 >= bottom {
            return;
        }
        let top = p0.1.max(0.0);
        if p0.0 == p1.0 {
            self.vertical(p0.0, top, p1.1.min(bottom), dir);
            return;
        }
        let dxdy = (p1.0 - p0.0) / (p1.1 - p0.1);
        let max_x = self.width as f32;
        let mut x = (p0.0 + (top - p0.1) * dxdy).clamp(0.0, max_x);
        let y_first = whole(top);
        let last = p1.1.min(bottom);
        let y_end = (whole(last) + usize::from((whole(last) as f32) < last)).min(self.height);
        if y_first >= y_end {
            return;
        }
        for y in y_first..y_end {
            let row = y * self.stride;
            let dy = ((y + 1) as f32).min(p1.1) - (y as f32).max(top);
            let xnext = (x + dxdy * dy).clamp(0.0, max_x);
            let d = dy * dir;
            let (x0, x1) = if x < xnext { (x, xnext) } else { (xnext, x) };
            // x ≥ 0 here, so truncation is floor (and cheaper than a libm call).
            let x0i = whole(x0);
            let x0floor = x0i as f32;
            let x1i = whole(x1) + usize::from((whole(x1) as f32) < x1);
            let x1ceil = x1i as f32;
            let acc = &mut self.acc[row..row + self.stride];
            if x1i <= x0i + 1 {
                let xmf = 0.5 * (x + xnext) - x0floor;
                acc[x0i] += d - d * xmf;
                acc[x0i + 1] += d * xmf;
            } else {
                let s = (x1 - x0).recip();
                let x0f = x0 - x0floor;
                let a0 = 0.5 * s * (1.0 - x0f) * (1.0 - x0f);
                let x1f = x1 - x1ceil + 1.0;
                let am = 0.5 * s * x1f * x1f;
                acc[x0i] += d * a0;
                if x1i == x0i + 2 {
                    acc[x0i + 1] += d * (1.0 - a0 - am);
                } else {
                    let a1 = s * (1.5 - x0f);
                    acc[x0i + 1] += d * (a1 - a0);
                    for cell in &mut acc[x0i + 2..x1i - 1] {
                        *cell += d * s;
                    }
                    let a2 = a1 + (x1i - x0i - 3) as f32 * s;
                    acc[x1i - 1] += d * (1.0 - a2 - am);
                }
                acc[x1i] += d * am;
            }
            x = xnext;
        }
    }

    /// [`Coverage::line`] for a vertical edge at `x` from `top` down to `last` (both within
    /// the image): one cell pair per row, split at `x` — the edges of anything axis-aligned
    /// in pixel space, like a grid's cells.
    fn vertical(&mut self, x: f32, top: f32, last: f32, dir: f32) {
        let x = x.clamp(0.0, self.width as f32);
        let xi = whole(x);
        let right = x - xi as f32;
        let y_first = whole(top);
        let y_end = (whole(last) + usize::from((whole(last) as f32) < last)).min(self.height);
        for y in y_first..y_end {
            let dy = ((y + 1) as f32).min(last) - (y as f32).max(top);
            let d = dy * dir;
            let cells = &mut self.acc[y * self.stride + xi..y * self.stride + xi + 2];
            cells[0] += d - d * right;
            cells[1] += d * right;
        }
    }

    /// Draws the accumulated coverage onto `pixmap` in `color` (straight RGBA8, source-over)
    /// and empties the buffer for the next paint.
    pub(super) fn composite(&mut self, pixmap: &mut Pixmap, color: [u8; 4]) {
        debug_assert_eq!(
            (pixmap.width() as usize, pixmap.height() as usize),
            (self.width, self.height)
        );
        let paint = Paint::new(color);
        let width = self.width;
        let pixels = pixmap.data_mut();
        let words = self.words;
        for y in self.first..self.end {
            let row = &mut self.acc[y * self.stride..(y + 1) * self.stride];
            let out = &mut pixels[y * width * 4..(y + 1) * width * 4];
            let mut sum = 0.0f32;
            for (w, mask) in self.touched[y * words..(y + 1) * words]
                .iter_mut()
                .enumerate()
            {
                let mask = std::mem::take(mask);
                if mask == 0 && sum.abs() < EPSILON {
                    // 64 blocks outside any shape.
                    continue;
                }
                for b in 0..64 {
                    let start = (w * 64 + b) * BLOCK;
                    if start >= width {
                        break;
                    }
                    let stop = (start + BLOCK).min(width);
                    if mask & (1 << b) == 0 {
                        if sum.abs() < EPSILON {
                            sum = 0.0;
                            continue;
                        }
                        // Inside a shape wider than the block: constant coverage.
                        let level = level(sum);
                        for px in out[start * 4..stop * 4].chunks_exact_mut(4) {
                            paint.blend(px, level);
                        }
                        continue;
                    }
                    for (cell, px) in row[start..stop]
                        .iter_mut()
                        .zip(out[start * 4..stop * 4].chunks_exact_mut(4))
                    {
                        sum += std::mem::take(cell);
                        let level = level(sum);
                        if level > 0 {
                            paint.blend(px, level);
                        }
                    }
                }
            }
            // Anything past the right edge is not drawn.
            for cell in &mut row[width..] {
                *cell = 0.0;
            }
        }
        self.first = self.height;
        self.end = 0;
    }
}

/// The pixel a span `lo..hi` starts in and the share of the span inside that pixel.
pub(super) fn split(lo: f32, hi: f32) -> (i64, f32) {
    let first = lo.floor();
    let share = if hi - lo > 0.0 {
        ((first + 1.0).min(hi) - lo) / (hi - lo)
    } else {
        1.0
    };
    (first as i64, share)
}

/// Line pieces for a curve from `a` to `d` with control points `b`, `c`: the control polygon's
/// deviation from the chord bounds the curve's, and pieces grow with its square root.
fn pieces(a: (f32, f32), b: (f32, f32), c: (f32, f32), d: (f32, f32)) -> usize {
    let dev = |p: (f32, f32)| {
        let (mx, my) = ((a.0 + d.0) / 2.0, (a.1 + d.1) / 2.0);
        (p.0 - mx).abs() + (p.1 - my).abs()
    };
    let deviation = dev(b).max(dev(c));
    if !deviation.is_finite() {
        return 1;
    }
    ((deviation / 0.1).sqrt().ceil() as usize).clamp(1, 32)
}

/// Twice the signed area of a closed ring.
fn shoelace(ring: &[(f32, f32)]) -> f32 {
    let mut from = ring[ring.len() - 1];
    let mut sum = 0.0;
    for &to in ring {
        sum += from.0 * to.1 - to.0 * from.1;
        from = to;
    }
    sum
}

impl Drop for Coverage {
    fn drop(&mut self) {
        if self.acc.len() > KEPT_CELLS {
            return;
        }
        // A render stopped between accumulating and compositing leaves rows to clear.
        for y in self.first..self.end {
            self.acc[y * self.stride..(y + 1) * self.stride].fill(0.0);
        }
        let acc = std::mem::take(&mut self.acc);
        KEPT.with(|k| {
            let mut k = k.borrow_mut();
            if acc.len() > k.len() {
                *k = acc;
            }
        });
    }
}

/// The whole part of a non-negative pixel coordinate (through i32: one instruction, where a
/// float-to-usize conversion takes several).
#[inline(always)]
fn whole(v: f32) -> usize {
    v as i32 as usize
}

/// A coverage sum as one of 256 levels (0 = none, 255 = full).
#[inline(always)]
fn level(sum: f32) -> usize {
    (sum.abs().min(1.0) * 255.0 + 0.5) as i32 as usize
}

/// One paint's source-over at each of the 256 coverage levels, in integers: the premultiplied
/// source times the coverage, and what is kept of the destination (out of 65 536).
struct Paint {
    src: [[u16; 4]; 256],
    keep: [u32; 256],
}

impl Paint {
    fn new(color: [u8; 4]) -> Paint {
        let alpha = f32::from(color[3]) / 255.0;
        let premultiplied = [
            f32::from(color[0]) * alpha,
            f32::from(color[1]) * alpha,
            f32::from(color[2]) * alpha,
            f32::from(color[3]),
        ];
        let mut paint = Paint {
            src: [[0; 4]; 256],
            keep: [0; 256],
        };
        // Everything here is ≥ 0, so adding a half and truncating rounds (without a libm
        // call per entry: a label composites twice).
        for level in 0..256 {
            let coverage = level as f32 / 255.0;
            paint.src[level] = premultiplied.map(|c| (c * coverage + 0.5) as u16);
            paint.keep[level] = ((1.0 - alpha * coverage) * 65536.0 + 0.5) as u32;
        }
        paint
    }

    /// Source-over onto one premultiplied RGBA8 pixel.
    #[inline(always)]
    fn blend(&self, px: &mut [u8], level: usize) {
        let (src, keep) = (&self.src[level], self.keep[level]);
        for c in 0..4 {
            let kept = (u32::from(px[c]) * keep + 32768) >> 16;
            px[c] = (u32::from(src[c]) + kept).min(255) as u8;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tiny_skia::{FillRule, Paint, PathBuilder, Transform};

    fn alpha(p: &Pixmap, x: u32, y: u32) -> u8 {
        p.pixel(x, y).unwrap().alpha()
    }

    /// A thread keeps the accumulation buffer of its last map for the next one only up to
    /// `KEPT_CELLS`, and keeps it zeroed.
    #[test]
    fn a_thread_keeps_buffers_up_to_the_bound_and_zeroed() {
        // A thread of its own: the harness's threads run other tests that keep buffers too.
        std::thread::spawn(|| {
            let kept = || KEPT.with(|k| k.borrow().len());
            let mut small = Coverage::new(256, 256);
            let mut p = Pixmap::new(256, 256).unwrap();
            small.ring(&[(10.0, 10.0), (200.0, 10.0), (200.0, 200.0), (10.0, 200.0)]);
            small.composite(&mut p, [0, 0, 0, 255]);
            // Stopped between accumulating and compositing: dirty rows to clear on drop.
            small.ring(&[(20.0, 20.0), (90.0, 20.0), (90.0, 90.0)]);
            drop(small);
            assert_eq!(kept(), 258 * 256, "a 256 × 256 buffer is kept");
            assert!(
                KEPT.with(|k| k.borrow().iter().all(|&v| v == 0.0)),
                "and zeroed"
            );
            let big = Coverage::new(2048, 1024);
            assert_eq!(kept(), 0, "the big map took the kept buffer… ");
            drop(big);
            assert_eq!(kept(), 0, "…and, over the bound, did not leave its own");
            const { assert!(2050 * 1024 > KEPT_CELLS) };
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_pixel_aligned_square_covers_exactly_its_pixels() {
        let mut c = Coverage::new(16, 16);
        let mut p = Pixmap::new(16, 16).unwrap();
        c.ring(&[(2.0, 2.0), (6.0, 2.0), (6.0, 6.0), (2.0, 6.0)]);
        c.composite(&mut p, [255, 0, 0, 255]);
        for y in 0..16 {
            for x in 0..16 {
                let inside = (2..6).contains(&x) && (2..6).contains(&y);
                assert_eq!(alpha(&p, x, y), if inside { 255 } else { 0 }, "{x},{y}");
            }
        }
        assert_eq!(p.pixel(3, 3).unwrap().red(), 255);
    }

    #[test]
    fn half_covered_pixels_get_half_alpha_either_winding() {
        for ring in [
            [(2.5, 2.0), (6.0, 2.0), (6.0, 6.0), (2.5, 6.0)],
            [(2.5, 2.0), (2.5, 6.0), (6.0, 6.0), (6.0, 2.0)],
        ] {
            let mut c = Coverage::new(8, 8);
            let mut p = Pixmap::new(8, 8).unwrap();
            c.ring(&ring);
            c.composite(&mut p, [0, 0, 0, 255]);
            assert_eq!(alpha(&p, 2, 3), 128);
            assert_eq!(alpha(&p, 3, 3), 255);
            assert_eq!(alpha(&p, 1, 3), 0);
        }
    }

    #[test]
    fn holes_stay_open_and_the_buffer_is_empty_after_compositing() {
        let mut c = Coverage::new(20, 20);
        let mut p = Pixmap::new(20, 20).unwrap();
        c.ring(&[(1.0, 1.0), (19.0, 1.0), (19.0, 19.0), (1.0, 19.0)]);
        c.ring(&[(5.0, 5.0), (5.0, 15.0), (15.0, 15.0), (15.0, 5.0)]);
        c.composite(&mut p, [0, 0, 255, 255]);
        assert_eq!(alpha(&p, 2, 2), 255);
        assert_eq!(alpha(&p, 10, 10), 0);
        assert!(c.acc.iter().all(|&a| a == 0.0));
        assert!(c.touched.iter().all(|&t| t == 0));
    }

    #[test]
    fn shapes_beyond_the_edges_are_clipped_not_wrapped() {
        // Wider than the image on both sides and taller: every pixel covered, nothing leaks
        // into the next row from the spare columns.
        let mut c = Coverage::new(10, 10);
        let mut p = Pixmap::new(10, 10).unwrap();
        c.ring(&[(-30.0, -5.0), (40.0, -5.0), (40.0, 4.0), (-30.0, 4.0)]);
        c.composite(&mut p, [0, 0, 0, 255]);
        for x in 0..10 {
            assert_eq!(alpha(&p, x, 3), 255);
            assert_eq!(alpha(&p, x, 4), 0);
        }
        // A triangle leaning out of the left edge.
        let mut c = Coverage::new(10, 10);
        let mut p = Pixmap::new(10, 10).unwrap();
        c.ring(&[(-10.0, 0.0), (5.0, 5.0), (-10.0, 10.0)]);
        c.composite(&mut p, [0, 0, 0, 255]);
        assert_eq!(alpha(&p, 0, 5), 255);
        assert_eq!(alpha(&p, 8, 5), 0);
        assert_eq!(
            alpha(&p, 0, 0),
            0,
            "the tip at the top is outside the image"
        );
        // A rectangle from outside the left edge to the middle of pixel 2.
        let mut c = Coverage::new(10, 4);
        let mut p = Pixmap::new(10, 4).unwrap();
        c.ring(&[(-5.0, 0.0), (2.5, 0.0), (2.5, 4.0), (-5.0, 4.0)]);
        c.composite(&mut p, [0, 0, 0, 255]);
        assert_eq!([0, 1, 2, 3].map(|x| alpha(&p, x, 1)), [255, 255, 128, 0]);
    }

    #[test]
    fn translucent_paint_blends_over_what_is_drawn() {
        let mut c = Coverage::new(4, 4);
        let mut p = Pixmap::new(4, 4).unwrap();
        p.fill(tiny_skia::Color::WHITE);
        c.ring(&[(0.0, 0.0), (4.0, 0.0), (4.0, 4.0), (0.0, 4.0)]);
        c.composite(&mut p, [0, 0, 0, 128]);
        let px = p.pixel(1, 1).unwrap();
        assert_eq!((px.red(), px.alpha()), (127, 255));
    }

    #[test]
    fn thin_segments_cover_their_width() {
        let mut c = Coverage::new(20, 10);
        let mut p = Pixmap::new(20, 10).unwrap();
        // A horizontal line half a pixel wide along a pixel row's centre.
        c.segment((2.0, 5.5), (18.0, 5.5), 0.5);
        c.composite(&mut p, [0, 0, 0, 255]);
        assert_eq!(alpha(&p, 10, 5), 128);
        assert_eq!(alpha(&p, 10, 4), 0);
        // A polyline's two segments overlap at the join and do not double.
        let mut c = Coverage::new(20, 20);
        let mut p = Pixmap::new(20, 20).unwrap();
        c.segment((2.5, 2.5), (10.5, 2.5), 1.0);
        c.segment((10.5, 2.5), (10.5, 12.5), 1.0);
        c.composite(&mut p, [0, 0, 0, 255]);
        assert_eq!(alpha(&p, 10, 2), 255);
        assert_eq!(alpha(&p, 6, 2), 255);
        assert_eq!(alpha(&p, 10, 8), 255);
    }

    #[test]
    fn ring_outlines_match_segments_and_neighbours_add_up() {
        // A 10 px square outlined 1 px wide, pixel-aligned: the band covers the pixels the
        // edges run through, whichever way the ring winds.
        for ring in [
            [
                (2.5, 2.5),
                (12.5, 2.5),
                (12.5, 12.5),
                (2.5, 12.5),
                (2.5, 2.5),
            ],
            [
                (2.5, 2.5),
                (2.5, 12.5),
                (12.5, 12.5),
                (12.5, 2.5),
                (2.5, 2.5),
            ],
        ] {
            let mut c = Coverage::new(16, 16);
            let mut p = Pixmap::new(16, 16).unwrap();
            assert!(c.ring_outline(&ring, 1.0, &mut Vec::new()));
            c.composite(&mut p, [0, 0, 0, 255]);
            assert_eq!(
                [1, 2, 7, 12, 13].map(|x| alpha(&p, x, 2)),
                [0, 255, 255, 255, 0]
            );
            assert_eq!(alpha(&p, 7, 7), 0, "inside stays empty");
            assert_eq!(alpha(&p, 2, 7), 255);
        }
        // Two squares sharing an edge, wound opposite ways: the shared edge stays drawn.
        let mut c = Coverage::new(30, 16);
        let mut p = Pixmap::new(30, 16).unwrap();
        let mut scratch = Vec::new();
        assert!(c.ring_outline(
            &[(2.5, 2.5), (12.5, 2.5), (12.5, 12.5), (2.5, 12.5)],
            1.0,
            &mut scratch
        ));
        assert!(c.ring_outline(
            &[(12.5, 2.5), (12.5, 12.5), (22.5, 12.5), (22.5, 2.5)],
            1.0,
            &mut scratch
        ));
        c.segment((25.5, 2.5), (25.5, 12.5), 1.0);
        c.composite(&mut p, [0, 0, 0, 255]);
        assert_eq!(alpha(&p, 12, 7), 255, "shared edge");
        assert_eq!(alpha(&p, 25, 7), 255, "segment beside them");
        // A spike sharper than the mitre limit is left to the caller.
        assert!(!c.ring_outline(&[(0.0, 0.0), (10.0, 0.5), (0.0, 1.0)], 1.0, &mut scratch));
    }

    #[test]
    fn stroked_paths_and_curves_match_tiny_skia() {
        use tiny_skia::{LineCap, LineJoin, Stroke};
        // A wide round-joined polyline crossing itself and a second one of the same paint,
        // plus a filled curve: tiny-skia's stroker outline through the accumulator against
        // tiny-skia's own stroke and fill.
        let mut pb = PathBuilder::new();
        pb.move_to(5.0, 10.0);
        pb.line_to(50.0, 30.0);
        pb.line_to(10.0, 50.0);
        pb.line_to(40.0, 5.0);
        pb.move_to(60.0, 60.0);
        pb.line_to(5.0, 40.0);
        let lines = pb.finish().unwrap();
        let stroke = Stroke {
            width: 5.0,
            line_cap: LineCap::Round,
            line_join: LineJoin::Round,
            ..Stroke::default()
        };
        let mut pb = PathBuilder::new();
        pb.move_to(20.0, 60.0);
        pb.quad_to(40.0, 20.0, 60.0, 60.0);
        pb.cubic_to(50.0, 70.0, 30.0, 70.0, 20.0, 60.0);
        pb.close();
        let curve = pb.finish().unwrap();
        let mut paint = Paint::default();
        paint.set_color_rgba8(0, 0, 0, 255);
        let mut theirs = Pixmap::new(64, 64).unwrap();
        theirs.stroke_path(&lines, &paint, &stroke, Transform::identity(), None);
        theirs.fill_path(
            &curve,
            &paint,
            FillRule::Winding,
            Transform::identity(),
            None,
        );
        let mut ours = Pixmap::new(64, 64).unwrap();
        let mut c = Coverage::new(64, 64);
        let mut scratch = Vec::new();
        c.path(&lines.stroke(&stroke, 1.0).unwrap(), &mut scratch);
        c.path(&curve, &mut scratch);
        c.composite(&mut ours, [0, 0, 0, 255]);
        let diffs: Vec<i32> = ours
            .pixels()
            .iter()
            .zip(theirs.pixels())
            .map(|(a, b)| (i32::from(a.alpha()) - i32::from(b.alpha())).abs())
            .collect();
        let worst = diffs.iter().max().unwrap();
        let off = diffs.iter().filter(|&&d| d > 16).count();
        // Edge pixels where two outlines overlap are summed here where tiny-skia takes the
        // union (darker by up to ~100 of 255 there), and tiny-skia's 4×4 supersampling rounds
        // edges down a little: within the golden-image tolerance (≤ 1 % of pixels off by > 16).
        assert!(
            *worst <= 100 && off * 100 <= diffs.len(),
            "worst {worst}, {off} pixels off by > 16"
        );
        // Where both lines cross the coverage is full, not cancelled.
        assert_eq!(alpha(&ours, 20, 44), alpha(&theirs, 20, 44));
    }

    #[test]
    fn a_dot_inside_one_pixel_equals_its_ring_and_spreads_by_overlap_otherwise() {
        // A 0.5 × 0.5 square inside pixel (3, 2): same alpha as scanning its edges.
        let square = [(3.2, 2.3), (3.7, 2.3), (3.7, 2.8), (3.2, 2.8)];
        let mut ring_px = Pixmap::new(8, 8).unwrap();
        let mut c = Coverage::new(8, 8);
        c.ring(&square);
        c.composite(&mut ring_px, [0, 0, 0, 255]);
        let mut dot_px = Pixmap::new(8, 8).unwrap();
        c.dot([3.2, 2.3, 3.7, 2.8], 0.25);
        c.composite(&mut dot_px, [0, 0, 0, 255]);
        assert_eq!(alpha(&ring_px, 3, 2), 64);
        assert_eq!(alpha(&dot_px, 3, 2), alpha(&ring_px, 3, 2));
        // A box centred on a pixel corner: a quarter of the area in each of the four pixels.
        let mut p = Pixmap::new(8, 8).unwrap();
        c.dot([3.5, 3.5, 4.5, 4.5], 0.8);
        c.composite(&mut p, [0, 0, 0, 255]);
        for (x, y) in [(3, 3), (4, 3), (3, 4), (4, 4)] {
            assert_eq!(alpha(&p, x, y), 51, "{x},{y}");
        }
        assert!(c.acc.iter().all(|&a| a == 0.0));
    }

    /// Random small polygons agree with tiny-skia's anti-aliased fill within its
    /// supersampling error.
    #[test]
    fn matches_tiny_skia_on_random_polygons() {
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32
        };
        for _ in 0..50 {
            let (cx, cy, r) = (next() * 64.0, next() * 64.0, 1.0 + next() * 12.0);
            let n = 3 + (next() * 6.0) as usize;
            let ring: Vec<(f32, f32)> = (0..n)
                .map(|k| {
                    let a = k as f32 / n as f32 * std::f32::consts::TAU;
                    (cx + r * a.cos(), cy + r * a.sin())
                })
                .collect();
            let mut ours = Pixmap::new(64, 64).unwrap();
            let mut c = Coverage::new(64, 64);
            c.ring(&ring);
            c.composite(&mut ours, [0, 0, 0, 255]);
            let mut theirs = Pixmap::new(64, 64).unwrap();
            let mut pb = PathBuilder::new();
            pb.move_to(ring[0].0, ring[0].1);
            for &(x, y) in &ring[1..] {
                pb.line_to(x, y);
            }
            pb.close();
            let mut paint = Paint::default();
            paint.set_color_rgba8(0, 0, 0, 255);
            theirs.fill_path(
                &pb.finish().unwrap(),
                &paint,
                FillRule::Winding,
                Transform::identity(),
                None,
            );
            let worst = ours
                .pixels()
                .iter()
                .zip(theirs.pixels())
                .map(|(a, b)| (i32::from(a.alpha()) - i32::from(b.alpha())).abs())
                .max()
                .unwrap();
            assert!(worst <= 40, "alpha differs by {worst} at r {r}");
        }
    }
}
