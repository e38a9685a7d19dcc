//! One datastream's observations in memory, in time order, as columns (16 bytes and a flag an
//! observation): a year of 15-minute readings is 35 040 of them, 0.6 MB. A reading of a time
//! already held is a re-send and changes nothing, which makes every ingest path idempotent.

use super::{Observation, Quality};

#[derive(Debug, Clone, Default)]
pub struct Series {
    times: Vec<i64>,
    values: Vec<f64>,
    quality: Vec<u8>,
}

impl Series {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// Adds a reading; `false` when one of that time is already held (it is kept as it was).
    pub fn insert(&mut self, time_ms: i64, value: f64, quality: Quality) -> bool {
        let at = match self.times.last() {
            Some(&last) if last < time_ms => self.times.len(),
            None => 0,
            _ => match self.times.binary_search(&time_ms) {
                Ok(_) => return false,
                Err(at) => at,
            },
        };
        self.times.insert(at, time_ms);
        self.values.insert(at, value);
        self.quality.insert(at, quality.as_u8());
        true
    }

    pub fn contains(&self, time_ms: i64) -> bool {
        self.times.binary_search(&time_ms).is_ok()
    }

    pub fn get(&self, time_ms: i64) -> Option<(f64, Quality)> {
        let i = self.times.binary_search(&time_ms).ok()?;
        Some((
            self.values[i],
            Quality::from_u8(self.quality[i]).unwrap_or_default(),
        ))
    }

    /// The reading at position `i` (time order).
    pub fn at(&self, i: usize) -> (i64, f64, Quality) {
        (
            self.times[i],
            self.values[i],
            Quality::from_u8(self.quality[i]).unwrap_or_default(),
        )
    }

    pub fn times(&self) -> &[i64] {
        &self.times
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    pub fn latest(&self) -> Option<(i64, f64)> {
        Some((*self.times.last()?, *self.values.last()?))
    }

    /// The last reading at or before `time_ms`.
    pub fn at_or_before(&self, time_ms: i64) -> Option<(i64, f64)> {
        let i = self.times.partition_point(|&t| t <= time_ms);
        (i > 0).then(|| (self.times[i - 1], self.values[i - 1]))
    }

    /// Positions of the readings with `from <= time < to`.
    pub fn range(&self, from: i64, to: i64) -> std::ops::Range<usize> {
        let a = self.times.partition_point(|&t| t < from);
        let b = self.times.partition_point(|&t| t < to);
        a..b.max(a)
    }

    /// The change over the last 24 h: latest value minus the one 24 h before it (none when the
    /// series does not reach that far back).
    pub fn trend_24h(&self) -> Option<f64> {
        let (t, v) = self.latest()?;
        let (_, before) = self.at_or_before(t - 24 * 3_600_000)?;
        Some(v - before)
    }

    pub fn observations(&self, datastream: u32) -> impl Iterator<Item = Observation> + '_ {
        (0..self.len()).map(move |i| {
            let (time_ms, result, quality) = self.at(i);
            Observation {
                datastream,
                time_ms,
                result,
                quality,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_are_kept_in_time_order_once_each() {
        let mut s = Series::default();
        assert!(s.insert(30, 3.0, Quality::Good));
        assert!(s.insert(10, 1.0, Quality::Good));
        assert!(s.insert(20, 2.0, Quality::Suspect));
        assert!(
            !s.insert(20, 9.0, Quality::Good),
            "a re-send changes nothing"
        );
        assert_eq!(s.times(), &[10, 20, 30]);
        assert_eq!(s.values(), &[1.0, 2.0, 3.0]);
        assert_eq!(s.get(20), Some((2.0, Quality::Suspect)));
        assert_eq!(s.range(15, 31), 1..3);
        assert_eq!(s.range(40, 10), 3..3);
        assert_eq!(s.at_or_before(25), Some((20, 2.0)));
        assert_eq!(s.at_or_before(5), None);
    }

    #[test]
    fn the_trend_compares_with_a_day_before() {
        let mut s = Series::default();
        let h = 3_600_000;
        s.insert(0, 2.0, Quality::Good);
        assert_eq!(s.trend_24h(), None);
        s.insert(12 * h, 3.0, Quality::Good);
        s.insert(25 * h, 5.5, Quality::Good);
        assert_eq!(s.trend_24h(), Some(3.5));
    }
}
