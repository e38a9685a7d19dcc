//! Request budgets: token buckets by API key name, or by address for callers without a valid
//! key. Beyond a budget, 429 with Retry-After.

use crate::error::ApiError;

/// Token buckets by key name (or by address, for anonymous callers): `per_minute` requests a
/// minute, in bursts of up to a minute's worth; beyond that 429 with Retry-After. The table is
/// bounded: past [`MAX_BUCKETS`] entries the full (idle) buckets are forgotten.
pub struct RateLimit {
    per_minute: u32,
    buckets: std::sync::Mutex<std::collections::HashMap<String, (f64, std::time::Instant)>>,
}

/// Buckets kept before idle ones are dropped (an attacker with many addresses cannot grow the
/// table without bound; if every bucket is busy, the table starts over).
pub const MAX_BUCKETS: usize = 100_000;

impl RateLimit {
    pub fn new(per_minute: u32) -> Self {
        Self {
            per_minute,
            buckets: Default::default(),
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    pub fn check(&self, who: &str) -> Result<(), ApiError> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_sec = capacity / 60.0;
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS && !buckets.contains_key(who) {
            buckets.retain(|_, (tokens, last)| {
                *tokens + now.duration_since(*last).as_secs_f64() * per_sec < capacity
            });
            if buckets.len() >= MAX_BUCKETS {
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(who.to_owned()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * per_sec).min(capacity);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - *tokens) / per_sec).ceil().max(1.0) as u64;
            Err(ApiError::RateLimited(wait))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_past_its_minute_and_the_table_stays_bounded() {
        let limit = RateLimit::new(3);
        for _ in 0..3 {
            limit.check("10.0.0.1").unwrap();
        }
        assert!(matches!(
            limit.check("10.0.0.1"),
            Err(ApiError::RateLimited(s)) if s >= 1
        ));
        // Another caller has its own budget.
        limit.check("10.0.0.2").unwrap();
        for i in 0..(MAX_BUCKETS + 10) {
            let _ = limit.check(&format!("host-{i}"));
        }
        let n = limit.buckets.lock().unwrap().len();
        assert!(n <= MAX_BUCKETS, "{n} buckets");
        assert!(RateLimit::new(0).check("x").is_ok(), "0 is unlimited");
    }
}
