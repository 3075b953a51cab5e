//! Retrying a failing background step (indexing, retention) without spinning or flooding stderr.

use std::fmt::Display;
use std::time::{Duration, Instant};

const FIRST_DELAY: Duration = Duration::from_millis(100);
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Exponential backoff for one background step: after the n-th failure in a row the step waits
/// 100 ms × 2ⁿ⁻¹ (at most a minute), and only failures 1, 2, 4, 8, … are reported.
#[derive(Debug)]
pub(super) struct Backoff {
    what: &'static str,
    failures: u32,
    retry_at: Option<Instant>,
}

impl Backoff {
    pub fn new(what: &'static str) -> Backoff {
        Backoff {
            what,
            failures: 0,
            retry_at: None,
        }
    }

    /// Whether the step may run at `now`.
    pub fn due(&self, now: Instant) -> bool {
        self.retry_at.is_none_or(|at| now >= at)
    }

    /// How long after the n-th failure in a row the step is tried again.
    fn delay(failures: u32) -> Duration {
        FIRST_DELAY
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_DELAY)
    }

    /// Records a failure at `now`; returns whether it was reported on stderr.
    pub fn failed(&mut self, now: Instant, error: &dyn Display) -> bool {
        self.failures = self.failures.saturating_add(1);
        let delay = Self::delay(self.failures);
        self.retry_at = Some(now + delay);
        let report = self.failures.is_power_of_two();
        if report {
            eprintln!(
                "logship-collector: {} failed ({} in a row, next try in {delay:?}): {error}",
                self.what, self.failures
            );
        }
        report
    }

    pub fn succeeded(&mut self) {
        if self.failures > 0 {
            eprintln!(
                "logship-collector: {} works again after {} failures",
                self.what, self.failures
            );
        }
        self.failures = 0;
        self.retry_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_a_minute_and_few_failures_are_reported() {
        let mut b = Backoff::new("test step");
        let t0 = Instant::now();
        assert!(b.due(t0));
        let mut reported = 0;
        let mut delays = Vec::new();
        for _ in 0..100 {
            reported += usize::from(b.failed(t0, &"boom"));
            let at = b.retry_at.unwrap();
            assert!(!b.due(at - Duration::from_millis(1)));
            assert!(b.due(at));
            delays.push(at - t0);
        }
        assert_eq!(
            &delays[..4],
            [100, 200, 400, 800].map(Duration::from_millis)
        );
        assert_eq!(delays[99], MAX_DELAY);
        assert_eq!(reported, 7); // 1, 2, 4, 8, 16, 32, 64
        b.succeeded();
        assert!(b.due(t0));
        assert!(b.failed(t0, &"boom again"));
        assert_eq!(b.retry_at, Some(t0 + FIRST_DELAY));
    }
}
