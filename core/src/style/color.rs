//! Colours of styles: CSS colour strings parsed into straight RGBA.

/// An RGBA colour, components 0..=1 (not premultiplied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rgba {
    pub r: f32,
    pub g: f32,
    pub b: f32,
    pub a: f32,
}

impl Rgba {
    pub const BLACK: Rgba = Rgba {
        r: 0.0,
        g: 0.0,
        b: 0.0,
        a: 1.0,
    };

    /// Parses `#rgb`, `#rrggbb`, `#rrggbbaa`, `rgb(r,g,b)`, `rgba(r,g,b,a)` and `transparent`.
    pub fn parse(s: &str) -> Option<Rgba> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("transparent") {
            return Some(Rgba {
                a: 0.0,
                ..Rgba::BLACK
            });
        }
        if let Some(hex) = s.strip_prefix('#') {
            let digit = |i: usize, n: usize| u8::from_str_radix(hex.get(i..i + n)?, 16).ok();
            let (r, g, b, a) = match hex.len() {
                3 => (digit(0, 1)? * 17, digit(1, 1)? * 17, digit(2, 1)? * 17, 255),
                6 => (digit(0, 2)?, digit(2, 2)?, digit(4, 2)?, 255),
                8 => (digit(0, 2)?, digit(2, 2)?, digit(4, 2)?, digit(6, 2)?),
                _ => return None,
            };
            return Some(Rgba::from_u8(r, g, b, a));
        }
        let (inner, has_alpha) = if let Some(x) = s.strip_prefix("rgba(") {
            (x.strip_suffix(')')?, true)
        } else {
            (s.strip_prefix("rgb(")?.strip_suffix(')')?, false)
        };
        let parts: Vec<f32> = inner
            .split(',')
            .map(|p| p.trim().parse::<f32>().ok())
            .collect::<Option<_>>()?;
        match (parts.as_slice(), has_alpha) {
            ([r, g, b], false) => Some(Rgba {
                r: r / 255.0,
                g: g / 255.0,
                b: b / 255.0,
                a: 1.0,
            }),
            ([r, g, b, a], true) => Some(Rgba {
                r: r / 255.0,
                g: g / 255.0,
                b: b / 255.0,
                a: a.clamp(0.0, 1.0),
            }),
            _ => None,
        }
    }

    pub fn from_u8(r: u8, g: u8, b: u8, a: u8) -> Rgba {
        Rgba {
            r: f32::from(r) / 255.0,
            g: f32::from(g) / 255.0,
            b: f32::from(b) / 255.0,
            a: f32::from(a) / 255.0,
        }
    }

    pub fn to_u8(self) -> [u8; 4] {
        let c = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        [c(self.r), c(self.g), c(self.b), c(self.a)]
    }

    pub fn hex(self) -> String {
        let [r, g, b, _] = self.to_u8();
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    pub(super) fn lerp(self, other: Rgba, t: f32) -> Rgba {
        Rgba {
            r: self.r + (other.r - self.r) * t,
            g: self.g + (other.g - self.g) * t,
            b: self.b + (other.b - self.b) * t,
            a: self.a + (other.a - self.a) * t,
        }
    }
}
