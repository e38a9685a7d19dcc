//! Fills under a pixel, of every paint of a style layer, drawn in one pass.
//!
//! A view 60 km wide over the cadastre has 200 000 parcels a fraction of a pixel each, in
//! twenty land-use colours. Through the accumulation buffer each colour is one composite pass
//! over the rows its dots touch — twenty passes over most of the image. Here every dot adds
//! its area times its premultiplied colour to a pixel directly (a dot needs no scan
//! conversion), rows are completed in order in two row buffers, and each row is blended once:
//! one pass whatever the number of colours. Where dots of different colours share a pixel they
//! mix by area instead of being painted over one another — at that size, what anti-aliasing
//! can show either way.

use tiny_skia::Pixmap;

use super::coverage::split;

/// A shape no larger than a pixel each way: its box `[x0, y0, x1, y1]`, area (pixels) and
/// paint.
#[derive(Clone, Copy)]
pub(super) struct Dot {
    pub(super) bbox: [f32; 4],
    pub(super) area: f32,
    pub(super) paint: u32,
}

/// The dots of one style layer and their paints (straight RGBA8).
#[derive(Default)]
pub(super) struct Dots {
    dots: Vec<Dot>,
    paints: Vec<[u8; 4]>,
}

impl Dots {
    /// The number [`Dots::push`] takes for `color`.
    pub(super) fn paint(&mut self, color: [u8; 4]) -> u32 {
        match self.paints.iter().position(|p| *p == color) {
            Some(i) => i as u32,
            None => {
                self.paints.push(color);
                (self.paints.len() - 1) as u32
            }
        }
    }

    pub(super) fn push(&mut self, dot: Dot) {
        self.dots.push(dot);
    }

    /// The last dot pushed, to take a hole's area from it.
    pub(super) fn last_mut(&mut self) -> Option<&mut Dot> {
        self.dots.last_mut()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.dots.is_empty()
    }

    /// Blends the dots onto `pixmap` (premultiplied RGBA8, source-over) and empties the list.
    pub(super) fn draw(&mut self, pixmap: &mut Pixmap) {
        let (width, height) = (pixmap.width() as usize, pixmap.height() as usize);
        // Premultiplied colours, 0–1.
        let colours: Vec<[f32; 4]> = self
            .paints
            .iter()
            .map(|c| {
                let a = f32::from(c[3]) / 255.0;
                [
                    f32::from(c[0]) / 255.0 * a,
                    f32::from(c[1]) / 255.0 * a,
                    f32::from(c[2]) / 255.0 * a,
                    a,
                ]
            })
            .collect();
        // Dots by first row (a counting sort: linear, and rows are then filled in order).
        let mut starts = vec![0u32; height + 1];
        // The slot of a dot's first row, 1 + the row (0: it starts above the image), or
        // `u32::MAX` when it draws nothing.
        let slot_of = |d: &Dot| -> u32 {
            let [x0, y0, x1, y1] = d.bbox;
            let finite = d.bbox.iter().all(|v| v.is_finite()) && d.area.is_finite();
            let seen = finite
                && d.area > 0.0
                && x1 >= 0.0
                && y1 >= 0.0
                && x0 < width as f32
                && y0 < height as f32;
            if seen {
                (y0.floor().max(-1.0) + 1.0) as u32
            } else {
                u32::MAX
            }
        };
        let slots: Vec<u32> = self.dots.iter().map(slot_of).collect();
        for &k in &slots {
            if k != u32::MAX {
                starts[k as usize] += 1;
            }
        }
        let mut at = 0u32;
        for s in starts.iter_mut() {
            let n = *s;
            *s = at;
            at += n;
        }
        let mut order = vec![0u32; at as usize];
        let mut next = starts.clone();
        for (i, &k) in slots.iter().enumerate() {
            if k != u32::MAX {
                let slot = &mut next[k as usize];
                order[*slot as usize] = i as u32;
                *slot += 1;
            }
        }
        // Row buffers for rows y and y + 1 (a dot reaches two rows).
        let mut rows = [vec![[0f32; 4]; width], vec![[0f32; 4]; width]];
        // The columns each row buffer has had dots in, `lo..hi`, so a row is blended only
        // there.
        let mut spans = [(usize::MAX, 0usize); 2];
        let data = pixmap.data_mut();
        // Slot k of `starts` holds dots whose first row is k − 1 (k = 0: above the image).
        for k in 0..=height {
            let y = k as i64 - 1;
            let end = starts.get(k + 1).copied().unwrap_or(at);
            for &i in &order[starts[k] as usize..end as usize] {
                let d = &self.dots[i as usize];
                let colour = colours[d.paint as usize];
                let [x0, y0, x1, y1] = d.bbox;
                let (col, wx) = split(x0, x1);
                let (_, wy) = split(y0, y1);
                for (r, share_y) in [(y, wy), (y + 1, 1.0 - wy)] {
                    if r < 0 || r >= height as i64 || share_y <= 0.0 {
                        continue;
                    }
                    let row = &mut rows[(r & 1) as usize];
                    let span = &mut spans[(r & 1) as usize];
                    for (c, share_x) in [(col, wx), (col + 1, 1.0 - wx)] {
                        if c < 0 || c >= width as i64 || share_x <= 0.0 {
                            continue;
                        }
                        let v = d.area * share_x * share_y;
                        let cell = &mut row[c as usize];
                        *span = (span.0.min(c as usize), span.1.max(c as usize + 1));
                        for ch in 0..4 {
                            cell[ch] += v * colour[ch];
                        }
                    }
                }
            }
            if y < 0 {
                continue;
            }
            let y = y as usize;
            let (lo, hi) = std::mem::replace(&mut spans[y & 1], (usize::MAX, 0));
            if lo >= hi {
                continue;
            }
            let row = &mut rows[y & 1][lo..hi];
            let out = &mut data[(y * width + lo) * 4..(y * width + hi) * 4];
            for (cell, px) in row.iter_mut().zip(out.chunks_exact_mut(4)) {
                let [r, g, b, a] = std::mem::take(cell);
                if a <= 0.0 {
                    continue;
                }
                // Dots of one pixel covering more than it: their mix, at full cover.
                let scale = if a > 1.0 { 1.0 / a } else { 1.0 };
                let keep = 1.0 - a * scale;
                for (ch, v) in [r, g, b, a].into_iter().enumerate() {
                    let mixed = v * scale * 255.0 + f32::from(px[ch]) * keep;
                    px[ch] = (mixed + 0.5).clamp(0.0, 255.0) as u8;
                }
            }
        }
        self.dots.clear();
        self.paints.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pixmap(w: u32, h: u32) -> Pixmap {
        let mut p = Pixmap::new(w, h).unwrap();
        p.fill(tiny_skia::Color::WHITE);
        p
    }

    #[test]
    fn a_dot_inside_one_pixel_blends_by_its_area() {
        let mut p = pixmap(4, 4);
        let mut dots = Dots::default();
        let red = dots.paint([255, 0, 0, 255]);
        dots.push(Dot {
            bbox: [1.2, 2.2, 1.7, 2.7],
            area: 0.25,
            paint: red,
        });
        dots.draw(&mut p);
        let px = p.pixel(1, 2).unwrap();
        // A quarter red over white.
        assert_eq!(
            (px.red(), px.green(), px.blue(), px.alpha()),
            (255, 191, 191, 255)
        );
        assert_eq!(p.pixel(2, 2).unwrap().green(), 255);
        assert_eq!(p.pixel(1, 3).unwrap().green(), 255);
        assert!(dots.is_empty());
    }

    #[test]
    fn a_dot_across_four_pixels_shares_its_area_as_a_rectangle_would() {
        let mut p = Pixmap::new(4, 4).unwrap();
        let mut dots = Dots::default();
        let black = dots.paint([0, 0, 0, 255]);
        // A full pixel centred on the corner of pixels (1, 1)–(2, 2).
        dots.push(Dot {
            bbox: [1.5, 1.5, 2.5, 2.5],
            area: 1.0,
            paint: black,
        });
        dots.draw(&mut p);
        for (x, y) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
            assert_eq!(p.pixel(x, y).unwrap().alpha(), 64, "pixel {x},{y}");
        }
        assert_eq!(p.pixel(0, 0).unwrap().alpha(), 0);
        assert_eq!(p.pixel(3, 3).unwrap().alpha(), 0);
    }

    #[test]
    fn dots_of_two_colours_in_one_pixel_mix_by_area_and_saturate() {
        let mut p = pixmap(2, 2);
        let mut dots = Dots::default();
        let (red, blue) = (dots.paint([255, 0, 0, 255]), dots.paint([0, 0, 255, 255]));
        for (paint, area) in [(red, 0.75), (blue, 0.75)] {
            dots.push(Dot {
                bbox: [0.0, 0.0, 0.9, 0.9],
                area,
                paint,
            });
        }
        dots.draw(&mut p);
        let px = p.pixel(0, 0).unwrap();
        // 1.5 pixels of ink in one pixel: half red, half blue, no white left.
        assert_eq!((px.red(), px.green(), px.blue()), (128, 0, 128));
    }

    #[test]
    fn dots_outside_the_image_or_not_finite_draw_nothing() {
        let mut p = Pixmap::new(3, 3).unwrap();
        let mut dots = Dots::default();
        let black = dots.paint([0, 0, 0, 255]);
        for bbox in [
            [-2.0, 1.0, -1.5, 1.5],
            [3.0, 1.0, 3.5, 1.5],
            [1.0, -1.6, 1.5, -1.1],
            [1.0, 3.0, 1.5, 3.5],
            [f32::NAN, 1.0, 1.5, 1.5],
            [1.0, f32::INFINITY, 1.5, 1.5],
        ] {
            dots.push(Dot {
                bbox,
                area: 0.25,
                paint: black,
            });
        }
        dots.draw(&mut p);
        assert!(p.data().iter().all(|&b| b == 0));
    }

    #[test]
    fn a_dot_straddling_the_top_edge_draws_its_lower_half() {
        let mut p = Pixmap::new(2, 2).unwrap();
        let mut dots = Dots::default();
        let black = dots.paint([0, 0, 0, 255]);
        dots.push(Dot {
            bbox: [0.0, -0.5, 1.0, 0.5],
            area: 1.0,
            paint: black,
        });
        dots.draw(&mut p);
        assert_eq!(p.pixel(0, 0).unwrap().alpha(), 128);
        assert_eq!(p.pixel(1, 0).unwrap().alpha(), 0);
    }
}
