//! Synthetic but realistic-looking readings for the sample network (labelled synthetic
//! wherever they are served). Salinity follows the semi-diurnal tide (M2, 12.42 h) with a
//! diurnal inequality, rises through the dry season, scales with how far the station is up
//! its river (its 2016 maximum), and has noise, gaps (a logger offline a few hours) and one
//! sensor fault (a day stuck at one value, flagged suspect). Water level, water quality and
//! traffic follow their own daily cycles. Deterministic for a seed.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Catalog, Observation, Quality};

const HOUR_MS: i64 = 3_600_000;
const M2_HOURS: f64 = 12.42;
const K1_HOURS: f64 = 23.93;

/// The yearly maximum salinity (‰) a station reaches, by its code (2016 values of
/// salinity_stations.csv; a guess by river position for the stations without one).
fn station_peak(code: &str) -> f64 {
    match code {
        "BT01" => 27.2,
        "BT02" => 17.5,
        "BT03" => 31.5,
        "BT04" => 27.4,
        "BT05" => 12.4,
        "BT06" => 29.3,
        "BT07" => 16.6,
        "BT08" => 18.0,
        "BT09" => 8.0,
        _ => 10.0,
    }
}

/// Dry-season factor (0..1): salinity peaks in March–April, lowest in the rainy season.
fn season(ms: i64) -> f64 {
    let day = (ms / (24 * HOUR_MS)).rem_euclid(365) as f64;
    // Day 80 ≈ 21 March.
    let phase = (day - 80.0) / 365.0 * std::f64::consts::TAU;
    (0.5 + 0.5 * phase.cos()).powf(1.5)
}

pub struct Simulation {
    pub seed: u64,
    /// First reading time (ms), inclusive.
    pub from_ms: i64,
    /// Last reading time (ms), exclusive.
    pub to_ms: i64,
    pub step_ms: i64,
    /// Leave out gaps and the sensor fault (for a live feed, where each step is one reading).
    pub clean: bool,
}

impl Simulation {
    /// The readings of every datastream of the catalogue, datastream by datastream, in time
    /// order.
    pub fn run(&self, catalog: &Catalog) -> Vec<Observation> {
        let mut out = Vec::new();
        for d in &catalog.datastreams {
            let (Some(thing), Some(p)) = (catalog.thing(d.thing), catalog.property(d.property))
            else {
                continue;
            };
            let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ (u64::from(d.id) << 32));
            let code = thing.station.code.as_str();
            let phase = rng.gen_range(0.0..std::f64::consts::TAU);
            // One fault per salinity datastream of the first station, on a day of the period.
            let span = (self.to_ms - self.from_ms).max(1);
            let fault_at = self.from_ms + span / 3;
            let faulty = !self.clean && code == "BT05" && p.code == "salinity";
            let mut gap_until = i64::MIN;
            let mut t = self.from_ms - self.from_ms.rem_euclid(self.step_ms);
            if t < self.from_ms {
                t += self.step_ms;
            }
            let mut stuck = None;
            while t < self.to_ms {
                let hours = t as f64 / HOUR_MS as f64;
                let tide = (hours / M2_HOURS * std::f64::consts::TAU + phase).sin();
                let diurnal = (hours / K1_HOURS * std::f64::consts::TAU + phase / 2.0).sin();
                if !self.clean && t >= gap_until && rng.gen_bool(0.002) {
                    // A logger offline for 2–6 hours.
                    gap_until = t + rng.gen_range(2..=6) * HOUR_MS;
                }
                if t < gap_until {
                    t += self.step_ms;
                    continue;
                }
                let noise: f64 = rng.gen_range(-1.0..1.0);
                let (value, quality) = match p.code.as_str() {
                    "salinity" => {
                        if faulty && (fault_at..fault_at + 24 * HOUR_MS).contains(&t) {
                            let v = *stuck.get_or_insert(station_peak(code) * 0.1);
                            (v, Quality::Suspect)
                        } else {
                            let level = station_peak(code) * (0.15 + 0.85 * season(t));
                            let v = level * (0.6 + 0.3 * tide + 0.1 * diurnal) + 0.15 * noise;
                            (v.max(0.05), Quality::Good)
                        }
                    }
                    "water_level" => (1.1 * tide + 0.3 * diurnal + 0.03 * noise, Quality::Good),
                    "ph" => (7.2 + 0.25 * diurnal + 0.05 * noise, Quality::Good),
                    "dissolved_oxygen" => (5.0 + 1.2 * diurnal + 0.2 * noise, Quality::Good),
                    "temperature" => (29.0 + 1.5 * diurnal + 0.2 * noise, Quality::Good),
                    "traffic_flow" | "speed" => {
                        let hour = (t / HOUR_MS).rem_euclid(24) as f64 + 7.0; // UTC+7
                        let rush = (-((hour % 24.0 - 7.5).powi(2)) / 3.0).exp()
                            + (-((hour % 24.0 - 17.5).powi(2)) / 3.0).exp();
                        let night = if (hour % 24.0) < 5.0 { 0.15 } else { 1.0 };
                        let flow = (300.0 + 1500.0 * rush) * night * (1.0 + 0.1 * noise);
                        if p.code == "traffic_flow" {
                            (flow.round(), Quality::Good)
                        } else {
                            ((55.0 - 20.0 * rush + 3.0 * noise).max(5.0), Quality::Good)
                        }
                    }
                    _ => {
                        let [lo, hi] = p.range;
                        (lo + (hi - lo) * (0.5 + 0.1 * tide), Quality::Good)
                    }
                };
                let [lo, hi] = p.range;
                out.push(Observation {
                    datastream: d.id,
                    time_ms: t,
                    result: (value.clamp(lo, hi) * 1000.0).round() / 1000.0,
                    quality,
                });
                t += self.step_ms;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sta::Network;

    fn catalog() -> Catalog {
        let n = Network::parse(include_str!(
            "../../../data-samples/observations/network.toml"
        ))
        .unwrap();
        Catalog::default().merge(&n, chrono::Utc::now())
    }

    #[test]
    fn a_seed_gives_the_same_series_and_the_tide_shows() {
        let c = catalog();
        let day = 24 * HOUR_MS;
        let from = 1_774_000_000_000 - 1_774_000_000_000 % day; // March 2026
        let sim = Simulation {
            seed: 7,
            from_ms: from,
            to_ms: from + 7 * day,
            step_ms: 15 * 60_000,
            clean: false,
        };
        let a = sim.run(&c);
        assert_eq!(a, sim.run(&c));
        let ds = c.datastream_of("BT03", "salinity").unwrap().id;
        let an_thuan: Vec<_> = a.iter().filter(|o| o.datastream == ds).collect();
        assert!(an_thuan.len() > 500 && an_thuan.len() <= 7 * 96);
        let max = an_thuan.iter().map(|o| o.result).fold(0.0, f64::max);
        let min = an_thuan.iter().map(|o| o.result).fold(f64::MAX, f64::min);
        assert!(
            max > 15.0 && max <= 45.0,
            "dry-season peak near the mouth: {max}"
        );
        assert!(max - min > 5.0, "the tide moves salinity: {min}..{max}");
        // Within 12.42 h there is a high and a low: the semi-diurnal cycle.
        let fault = c.datastream_of("BT05", "salinity").unwrap().id;
        assert!(a
            .iter()
            .any(|o| o.datastream == fault && o.quality == Quality::Suspect));
        for o in &a {
            let p = c
                .property(c.datastream(o.datastream).unwrap().property)
                .unwrap();
            assert!(o.result >= p.range[0] && o.result <= p.range[1]);
        }
    }
}
