//! Estuaries and the salinity front.
//!
//! An estuary is a centreline from the river mouth upstream (WGS 84, in the rules file). A
//! station's place on it is its chainage: the distance from the mouth along the line to the
//! point of the line nearest the station. Distances are measured in a local equirectangular
//! frame around the estuary (x = lon·cos φ₀, y = lat, in km): over a delta 100 km across this
//! is within 0.1 % of the geodesic distance.
//!
//! The front of a threshold (1‰, 4‰) is where salinity falls below it going upstream: between
//! the most upstream station at or above the threshold and the next station upstream, by
//! linear interpolation of the latest readings in distance. This is an approximation —
//! salinity between stations is not linear (it decays roughly exponentially with distance,
//! and the tide moves the front by kilometres within hours); the position is as good as the
//! station spacing. When every station is at or above the threshold the front is beyond the
//! most upstream one (at least that far); when none is, it is below the most seaward one.

use geo::Buffer;
use geo_types::{Coord, LineString, MultiPolygon};
use serde::{Deserialize, Serialize};

/// km per degree of latitude (and of longitude at the equator), WGS 84 mean.
const KM_PER_DEG_LAT: f64 = 110.574;
const KM_PER_DEG_LON: f64 = 111.320;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Estuary {
    /// The river's name as the stations' `river` gives it (e.g. "Hàm Luông").
    pub name: String,
    pub name_en: String,
    /// [lon, lat] points from the mouth upstream.
    pub centreline: Vec<[f64; 2]>,
    /// Where the line comes from (approximate hand digitising is said so).
    #[serde(default)]
    pub source: Option<String>,
}

/// A threshold's front on an estuary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Front {
    pub threshold: f64,
    /// Distance from the mouth along the centreline, km.
    pub km: f64,
    pub lon: f64,
    pub lat: f64,
    pub status: FrontStatus,
    /// The stations it was interpolated between (or bounded by).
    pub downstream: Option<String>,
    pub upstream: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrontStatus {
    /// Between two stations, interpolated.
    Interpolated,
    /// Every station is at or above the threshold: the front is at least this far up.
    BeyondUpstreamStation,
    /// No station reaches the threshold: the front is below (seaward of) this point.
    BelowSeawardStation,
}

/// An estuary's centreline in its local metric frame.
#[derive(Debug, Clone)]
pub struct Reach {
    lat0_cos: f64,
    /// Points in km.
    xy: Vec<(f64, f64)>,
    /// Chainage of each point, km.
    along: Vec<f64>,
}

impl Reach {
    pub fn new(estuary: &Estuary) -> Reach {
        let n = estuary.centreline.len().max(1) as f64;
        let lat0 = estuary.centreline.iter().map(|p| p[1]).sum::<f64>() / n;
        let lat0_cos = lat0.to_radians().cos();
        let xy: Vec<(f64, f64)> = estuary
            .centreline
            .iter()
            .map(|&[lon, lat]| (lon * lat0_cos * KM_PER_DEG_LON, lat * KM_PER_DEG_LAT))
            .collect();
        let mut along = vec![0.0];
        for w in xy.windows(2) {
            let d = ((w[1].0 - w[0].0).powi(2) + (w[1].1 - w[0].1).powi(2)).sqrt();
            along.push(along.last().copied().unwrap_or(0.0) + d);
        }
        Reach {
            lat0_cos,
            xy,
            along,
        }
    }

    pub fn length_km(&self) -> f64 {
        self.along.last().copied().unwrap_or(0.0)
    }

    fn to_km(&self, lon: f64, lat: f64) -> (f64, f64) {
        (lon * self.lat0_cos * KM_PER_DEG_LON, lat * KM_PER_DEG_LAT)
    }

    fn to_lonlat(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (x / (self.lat0_cos * KM_PER_DEG_LON), y / KM_PER_DEG_LAT)
    }

    /// (chainage km, distance from the line km) of a point.
    pub fn locate(&self, lon: f64, lat: f64) -> (f64, f64) {
        let p = self.to_km(lon, lat);
        let mut best = (0.0, f64::INFINITY);
        for (i, w) in self.xy.windows(2).enumerate() {
            let (a, b) = (w[0], w[1]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (((p.0 - a.0) * dx + (p.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let q = (a.0 + t * dx, a.1 + t * dy);
            let d = ((p.0 - q.0).powi(2) + (p.1 - q.1).powi(2)).sqrt();
            if d < best.1 {
                best = (self.along[i] + t * len2.sqrt(), d);
            }
        }
        best
    }

    /// The point of the line `km` from the mouth (clamped to the line), km frame.
    fn point_km(&self, km: f64) -> (f64, f64) {
        let km = km.clamp(0.0, self.length_km());
        let i = self
            .along
            .partition_point(|&a| a <= km)
            .clamp(1, self.xy.len().max(2) - 1);
        let (a, b) = (self.xy[i - 1], self.xy[i]);
        let seg = self.along[i] - self.along[i - 1];
        let t = if seg > 0.0 {
            (km - self.along[i - 1]) / seg
        } else {
            0.0
        };
        (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
    }

    /// The point `km` from the mouth, lon/lat.
    pub fn point_at(&self, km: f64) -> (f64, f64) {
        self.to_lonlat(self.point_km(km))
    }

    /// The part of the line between two chainages, km frame.
    fn part_km(&self, from: f64, to: f64) -> Vec<(f64, f64)> {
        let (from, to) = (from.min(to), from.max(to));
        let mut pts = vec![self.point_km(from)];
        for (i, &a) in self.along.iter().enumerate() {
            if a > from && a < to {
                pts.push(self.xy[i]);
            }
        }
        pts.push(self.point_km(to));
        pts
    }

    /// The land within `km` of the line between two chainages (lon/lat).
    pub fn zone(&self, from: f64, to: f64, km: f64) -> MultiPolygon<f64> {
        let mut pts = self.part_km(from, to);
        if pts.len() == 2 && pts[0] == pts[1] {
            // A zero-length part: a disc around the point.
            pts[1].0 += 1e-6;
        }
        let line = LineString::from(
            pts.into_iter()
                .map(|(x, y)| Coord { x, y })
                .collect::<Vec<_>>(),
        );
        let mut zone = line.buffer(km);
        use geo::MapCoordsInPlace;
        zone.map_coords_in_place(|c| {
            let (x, y) = self.to_lonlat((c.x, c.y));
            Coord { x, y }
        });
        zone
    }
}

/// A station placed on its estuary, with its latest reading.
#[derive(Debug, Clone, PartialEq)]
pub struct Placed {
    pub code: String,
    pub km: f64,
    pub value: f64,
}

/// The front of `threshold` from stations ordered by chainage (see the module's notes).
/// `None` without stations.
pub fn front(reach: &Reach, stations: &[Placed], threshold: f64) -> Option<Front> {
    let first = stations.first()?;
    let last_above = stations.iter().rposition(|s| s.value >= threshold);
    let (km, status, down, up) = match last_above {
        None => (
            first.km,
            FrontStatus::BelowSeawardStation,
            None,
            Some(first.code.clone()),
        ),
        Some(i) if i + 1 == stations.len() => (
            stations[i].km,
            FrontStatus::BeyondUpstreamStation,
            Some(stations[i].code.clone()),
            None,
        ),
        Some(i) => {
            let (a, b) = (&stations[i], &stations[i + 1]);
            let f = (a.value - threshold) / (a.value - b.value);
            (
                a.km + f * (b.km - a.km),
                FrontStatus::Interpolated,
                Some(a.code.clone()),
                Some(b.code.clone()),
            )
        }
    };
    let (lon, lat) = reach.point_at(km);
    Some(Front {
        threshold,
        km,
        lon,
        lat,
        status,
        downstream: down,
        upstream: up,
    })
}

/// Each station's reach: from halfway to the station seaward of it (or the mouth) to halfway to
/// the one upstream (or as far beyond it as its seaward half). Stations ordered by chainage.
pub fn station_reaches(kms: &[f64]) -> Vec<(f64, f64)> {
    (0..kms.len())
        .map(|i| {
            let from = if i == 0 {
                0.0
            } else {
                (kms[i - 1] + kms[i]) / 2.0
            };
            let to = if i + 1 < kms.len() {
                (kms[i] + kms[i + 1]) / 2.0
            } else {
                kms[i] + (kms[i] - from)
            };
            (from, to)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A straight estuary along the equator, 1° long (111.32 km).
    fn straight() -> Reach {
        Reach::new(&Estuary {
            name: "Thẳng".into(),
            name_en: "Straight".into(),
            centreline: vec![[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]],
            source: None,
        })
    }

    fn placed(code: &str, km: f64, value: f64) -> Placed {
        Placed {
            code: code.into(),
            km,
            value,
        }
    }

    #[test]
    fn fronts_are_interpolated_between_the_stations_around_them() {
        let r = straight();
        let s = [
            placed("A", 10.0, 8.0),
            placed("B", 30.0, 3.0),
            placed("C", 50.0, 0.5),
        ];
        // By hand: 4‰ between A and B: 10 + (8 − 4)/(8 − 3)·20 = 26 km.
        let f4 = front(&r, &s, 4.0).unwrap();
        assert!((f4.km - 26.0).abs() < 1e-9, "{f4:?}");
        assert_eq!(f4.status, FrontStatus::Interpolated);
        assert_eq!(
            (f4.downstream.as_deref(), f4.upstream.as_deref()),
            (Some("A"), Some("B"))
        );
        assert!((f4.lon - 26.0 / KM_PER_DEG_LON).abs() < 1e-9 && f4.lat.abs() < 1e-12);
        // 1‰ between B and C: 30 + (3 − 1)/(3 − 0.5)·20 = 46 km.
        assert!((front(&r, &s, 1.0).unwrap().km - 46.0).abs() < 1e-9);
        // Above everywhere / nowhere.
        let f = front(&r, &s, 0.1).unwrap();
        assert_eq!((f.status, f.km), (FrontStatus::BeyondUpstreamStation, 50.0));
        let f = front(&r, &s, 20.0).unwrap();
        assert_eq!((f.status, f.km), (FrontStatus::BelowSeawardStation, 10.0));
        assert!(front(&r, &[], 1.0).is_none());
    }

    #[test]
    fn stations_are_placed_by_chainage_and_reaches_meet_halfway() {
        let r = straight();
        assert!((r.length_km() - KM_PER_DEG_LON).abs() < 1e-9);
        let (km, off) = r.locate(0.25, 0.01);
        assert!((km - 0.25 * KM_PER_DEG_LON).abs() < 1e-9);
        assert!((off - 0.01 * KM_PER_DEG_LAT).abs() < 1e-9);
        assert_eq!(
            station_reaches(&[10.0, 30.0, 50.0]),
            vec![(0.0, 20.0), (20.0, 40.0), (40.0, 60.0)]
        );
    }

    #[test]
    fn a_zone_is_the_land_within_its_distance_of_the_reach() {
        use geo::{Area, Contains};
        let r = straight();
        let z = r.zone(10.0, 30.0, 2.0);
        let at = |km: f64, off_km: f64| {
            geo_types::Point::new(km / KM_PER_DEG_LON, off_km / KM_PER_DEG_LAT)
        };
        assert!(z.contains(&at(20.0, 1.9)));
        assert!(!z.contains(&at(20.0, 2.1)));
        assert!(!z.contains(&at(35.0, 0.0)));
        // Area in km² (frame): 20 × 4 + π·2² ≈ 92.57, within the arcs' segments.
        let mut km = z.clone();
        use geo::MapCoordsInPlace;
        km.map_coords_in_place(|c| Coord {
            x: c.x * KM_PER_DEG_LON,
            y: c.y * KM_PER_DEG_LAT,
        });
        let a = km.unsigned_area();
        assert!((a - (80.0 + std::f64::consts::PI * 4.0)).abs() < 0.5, "{a}");
    }
}
