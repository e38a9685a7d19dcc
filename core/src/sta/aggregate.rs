//! Aggregates of one datastream's readings: per local day and per tidal cycle, the count,
//! minimum, maximum (and when), mean, and the hours above each of a set of limits.
//!
//! The rules, so the same figures come out of PostgreSQL (`benches/salinity.sh` and the tests
//! compute them with window functions):
//! - only readings of quality `good` count; suspect and bad ones are counted apart;
//! - a reading stands for the time until the next good reading of the range asked, at most
//!   [`Aggregation::max_hold_ms`] (a logger offline longer leaves a gap, not hours above a
//!   limit), and never past the end of its bucket;
//! - a reading above a limit (`>`) adds the time it stands for to that limit's hours.
//!
//! Tidal cycles come from the series itself: low water of salinity, found as the minima of
//! the series smoothed over ±1 h that are the lowest within ±5 h (semi-diurnal tide: a low
//! every 12.42 h, with a diurnal inequality that can make one low shallow but not vanish).
//! A cycle runs from one low to the next; only whole cycles are reported, and none across a
//! gap of more than [`MAX_GAP_IN_CYCLE_MS`] (a logger offline, a sensor fault left out): the
//! readings either side of such a gap are searched for lows apart.

use serde::Serialize;

use super::series::Series;
use super::Quality;

pub const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Half-width of the moving mean that finds low water.
const SMOOTH_MS: i64 = HOUR_MS;
/// A low water is the lowest point within this either side.
const TROUGH_HALF_WINDOW_MS: i64 = 5 * HOUR_MS;
/// Readings further apart than this are not in one tidal cycle.
pub const MAX_GAP_IN_CYCLE_MS: i64 = 3 * HOUR_MS;

/// What to aggregate.
#[derive(Debug, Clone)]
pub struct Aggregation {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Offset of local time from UTC (Việt Nam: +7 h, no daylight saving), for the days.
    pub utc_offset_ms: i64,
    /// The limits whose hours above are counted (same order in every bucket).
    pub limits: Vec<f64>,
    /// The longest a reading stands for.
    pub max_hold_ms: i64,
}

impl Aggregation {
    pub fn new(from_ms: i64, to_ms: i64, limits: Vec<f64>) -> Self {
        Self {
            from_ms,
            to_ms,
            utc_offset_ms: 7 * HOUR_MS,
            limits,
            max_hold_ms: HOUR_MS,
        }
    }
}

/// One bucket (a day or a tidal cycle): `[start_ms, end_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bucket {
    pub start_ms: i64,
    pub end_ms: i64,
    /// Good readings.
    pub count: usize,
    /// Readings left out as suspect or bad.
    pub flagged: usize,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub max_at_ms: Option<i64>,
    pub mean: Option<f64>,
    /// Hours above each limit of [`Aggregation::limits`].
    pub hours_above: Vec<f64>,
    /// The longest time between two readings inside the bucket (gaps show here), minutes.
    pub longest_gap_min: f64,
}

/// The good readings of `[from, to)`: times and values.
fn good(series: &Series, from: i64, to: i64) -> (Vec<i64>, Vec<f64>, Vec<i64>) {
    let mut times = Vec::new();
    let mut values = Vec::new();
    let mut flagged = Vec::new();
    for i in series.range(from, to) {
        let (t, v, q) = series.at(i);
        if q == Quality::Good {
            times.push(t);
            values.push(v);
        } else {
            flagged.push(t);
        }
    }
    (times, values, flagged)
}

/// Aggregates over the given buckets (`[start, end)`, in time order, not overlapping).
fn aggregate(
    agg: &Aggregation,
    times: &[i64],
    values: &[f64],
    flagged: &[i64],
    buckets: &[(i64, i64)],
) -> Vec<Bucket> {
    let mut out = Vec::with_capacity(buckets.len());
    for &(start, end) in buckets {
        let a = times.partition_point(|&t| t < start);
        let b = times.partition_point(|&t| t < end);
        let mut bucket = Bucket {
            start_ms: start,
            end_ms: end,
            count: b - a,
            flagged: flagged.partition_point(|&t| t < end)
                - flagged.partition_point(|&t| t < start),
            min: None,
            max: None,
            max_at_ms: None,
            mean: None,
            hours_above: vec![0.0; agg.limits.len()],
            longest_gap_min: 0.0,
        };
        let mut sum = 0.0;
        for i in a..b {
            let (t, v) = (times[i], values[i]);
            sum += v;
            if bucket.min.is_none_or(|m| v < m) {
                bucket.min = Some(v);
            }
            if bucket.max.is_none_or(|m| v > m) {
                bucket.max = Some(v);
                bucket.max_at_ms = Some(t);
            }
            let next = times.get(i + 1).copied();
            let held = next
                .map_or(agg.max_hold_ms, |n| n - t)
                .min(agg.max_hold_ms)
                .min(end - t);
            for (k, &limit) in agg.limits.iter().enumerate() {
                if v > limit {
                    bucket.hours_above[k] += held as f64 / HOUR_MS as f64;
                }
            }
            if i + 1 < b {
                let gap = (times[i + 1] - t) as f64 / 60_000.0;
                bucket.longest_gap_min = bucket.longest_gap_min.max(gap);
            }
        }
        if bucket.count > 0 {
            bucket.mean = Some(sum / bucket.count as f64);
        }
        out.push(bucket);
    }
    out
}

/// Per local day of `[from, to)` (days cut at local midnight; the first and last may be
/// partial when `from`/`to` are not midnights).
pub fn daily(series: &Series, agg: &Aggregation) -> Vec<Bucket> {
    let (times, values, flagged) = good(series, agg.from_ms, agg.to_ms);
    let mut bounds = vec![agg.from_ms];
    let local = agg.from_ms + agg.utc_offset_ms;
    let mut midnight = local - local.rem_euclid(DAY_MS) + DAY_MS - agg.utc_offset_ms;
    while midnight < agg.to_ms {
        bounds.push(midnight);
        midnight += DAY_MS;
    }
    bounds.push(agg.to_ms);
    let buckets: Vec<(i64, i64)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    aggregate(agg, &times, &values, &flagged, &buckets)
}

/// Low-water times of the good readings: see the module's notes.
pub fn low_waters(times: &[i64], values: &[f64]) -> Vec<i64> {
    let n = times.len();
    if n < 3 {
        return Vec::new();
    }
    // Moving mean over ±SMOOTH_MS (two pointers, prefix sums).
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0.0);
    for v in values {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let (mut lo, mut hi) = (0, 0);
    let mut smooth = Vec::with_capacity(n);
    for i in 0..n {
        while times[lo] < times[i] - SMOOTH_MS {
            lo += 1;
        }
        while hi < n && times[hi] <= times[i] + SMOOTH_MS {
            hi += 1;
        }
        smooth.push((prefix[hi] - prefix[lo]) / (hi - lo) as f64);
    }
    // Minimum over ±TROUGH_HALF_WINDOW_MS with a monotonic deque of positions.
    let mut window = std::collections::VecDeque::new();
    let (mut lo, mut hi) = (0, 0);
    let mut lows: Vec<i64> = Vec::new();
    for i in 0..n {
        while hi < n && times[hi] <= times[i] + TROUGH_HALF_WINDOW_MS {
            while window
                .back()
                .is_some_and(|&j: &usize| smooth[j] > smooth[hi])
            {
                window.pop_back();
            }
            window.push_back(hi);
            hi += 1;
        }
        while times[lo] < times[i] - TROUGH_HALF_WINDOW_MS {
            lo += 1;
        }
        while window.front().is_some_and(|&j| j < lo) {
            window.pop_front();
        }
        // The window must reach its full width on both sides (no low at the range's edges),
        // and equal minima count once (the first).
        let whole = times[i] - times[0] >= TROUGH_HALF_WINDOW_MS
            && times[n - 1] - times[i] >= TROUGH_HALF_WINDOW_MS;
        if whole
            && window.front() == Some(&i)
            && lows
                .last()
                .is_none_or(|&l| times[i] - l > TROUGH_HALF_WINDOW_MS)
        {
            lows.push(times[i]);
        }
    }
    lows
}

/// Per tidal cycle (low water to low water) within `[from, to)`.
pub fn tidal(series: &Series, agg: &Aggregation) -> Vec<Bucket> {
    let (times, values, flagged) = good(series, agg.from_ms, agg.to_ms);
    let mut cycles = Vec::new();
    let mut run = 0;
    for i in 1..=times.len() {
        if i == times.len() || times[i] - times[i - 1] > MAX_GAP_IN_CYCLE_MS {
            let lows = low_waters(&times[run..i], &values[run..i]);
            cycles.extend(lows.windows(2).map(|w| (w[0], w[1])));
            run = i;
        }
    }
    aggregate(agg, &times, &values, &flagged, &cycles)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn series(points: &[(i64, f64, Quality)]) -> Series {
        let mut s = Series::default();
        for &(t, v, q) in points {
            s.insert(t, v, q);
        }
        s
    }

    #[test]
    fn days_are_local_and_hours_above_stop_at_gaps_and_midnight() {
        // Local midnight of day 1 is 17:00 UTC of day 0.
        let midnight = 17 * HOUR_MS;
        let s = series(&[
            (midnight - 30 * MIN, 3.0, Quality::Good), // day 0, above 2 for 30 min (cut at midnight)
            (midnight, 1.0, Quality::Good),            // day 1
            (midnight + 15 * MIN, 2.5, Quality::Good), // above for 15 min
            (midnight + 30 * MIN, 9.0, Quality::Suspect), // left out
            (midnight + 45 * MIN, 4.0, Quality::Good), // above; next is 5 h on: holds 1 h
            (midnight + 345 * MIN, 1.5, Quality::Good), // last: holds 1 h, below
        ]);
        let agg = Aggregation::new(0, midnight + DAY_MS, vec![2.0, 3.5]);
        let days = daily(&s, &agg);
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].count, 1);
        assert_eq!(days[0].hours_above, vec![0.5, 0.0]);
        let d = &days[1];
        assert_eq!((d.start_ms, d.end_ms), (midnight, midnight + DAY_MS));
        assert_eq!(d.count, 4);
        assert_eq!(d.flagged, 1);
        assert_eq!(d.min, Some(1.0));
        assert_eq!(d.max, Some(4.0));
        assert_eq!(d.max_at_ms, Some(midnight + 45 * MIN));
        assert_eq!(d.mean, Some((1.0 + 2.5 + 4.0 + 1.5) / 4.0));
        // 2.5 for 30 min (to the next good reading at +45), 4.0 for 1 h.
        assert_eq!(d.hours_above, vec![1.5, 1.0]);
        assert_eq!(d.longest_gap_min, 300.0);
    }

    #[test]
    fn a_pure_semidiurnal_tide_gives_a_cycle_every_12_42_hours() {
        let step = 15 * MIN;
        let period = 12.42 * HOUR_MS as f64;
        let week = 7 * DAY_MS;
        let points: Vec<_> = (0..week / step)
            .map(|k| {
                let t = k * step;
                let tide = (t as f64 / period * std::f64::consts::TAU).sin();
                // A diurnal inequality that leaves every low in place.
                let diurnal = (t as f64 / (23.93 * HOUR_MS as f64) * std::f64::consts::TAU).sin();
                (t, 10.0 + 5.0 * tide + 1.0 * diurnal, Quality::Good)
            })
            .collect();
        let s = series(&points);
        let cycles = tidal(&s, &Aggregation::new(0, week, vec![12.0]));
        // The first low is at 0.75 × 12.42 = 9.3 h; (168 − 9.3) / 12.42 = 12.8: 13 lows, 12
        // whole cycles between them.
        assert_eq!(
            cycles.len(),
            12,
            "{:?}",
            cycles.iter().map(|c| c.start_ms / MIN).collect::<Vec<_>>()
        );
        for c in &cycles {
            let hours = (c.end_ms - c.start_ms) as f64 / HOUR_MS as f64;
            // The diurnal inequality moves each low by a little.
            assert!((11.5..13.5).contains(&hours), "cycle of {hours} h");
            assert!(c.max.unwrap() > 14.0 && c.min.unwrap() < 6.5);
            assert!(c.hours_above[0] > 2.0 && c.hours_above[0] < 8.0);
        }
        let span = cycles.last().unwrap().end_ms - cycles[0].start_ms;
        let mean = span as f64 / cycles.len() as f64 / HOUR_MS as f64;
        assert!((mean - 12.42).abs() < 0.1, "mean cycle {mean} h");
    }

    #[test]
    fn no_cycle_spans_a_long_gap() {
        let step = 15 * MIN;
        let period = 12.42 * HOUR_MS as f64;
        let points: Vec<_> = (0..(4 * DAY_MS) / step)
            .map(|k| k * step)
            // A day offline in the middle.
            .filter(|t| !(DAY_MS + 6 * HOUR_MS..2 * DAY_MS + 6 * HOUR_MS).contains(t))
            .map(|t| {
                let tide = (t as f64 / period * std::f64::consts::TAU).sin();
                (t, 10.0 + 5.0 * tide, Quality::Good)
            })
            .collect();
        let cycles = tidal(&series(&points), &Aggregation::new(0, 4 * DAY_MS, vec![]));
        assert!(cycles.len() >= 3, "{}", cycles.len());
        for c in &cycles {
            let hours = (c.end_ms - c.start_ms) as f64 / HOUR_MS as f64;
            assert!((12.0..12.9).contains(&hours), "a cycle of {hours} h");
            assert!(c.longest_gap_min <= 15.0);
        }
    }

    #[test]
    fn nothing_to_aggregate_gives_empty_buckets() {
        let s = Series::default();
        let days = daily(&s, &Aggregation::new(0, DAY_MS, vec![1.0]));
        assert_eq!(days.len(), 2, "the UTC day crosses local midnight");
        assert!(days.iter().all(|d| d.count == 0 && d.mean.is_none()));
        assert!(tidal(&s, &Aggregation::new(0, DAY_MS, vec![])).is_empty());
    }
}
