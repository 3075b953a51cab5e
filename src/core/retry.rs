//! PROTOCOL.md §3: what to do with each upload attempt's outcome.

use std::time::Duration;

use super::traits::{Response, TransportError};

/// Retry-After is honoured up to this long.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Delivered,
    /// Send the same body again (same batch id) after this delay.
    Retry(Duration),
    /// 413: send each half on its own.
    Split,
    /// Drop the batch and count its entries as rejected.
    Reject,
}

/// Exponential back-off with full jitter, per batch.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            attempt: 0,
        }
    }

    /// A delay drawn uniformly from zero to `min(max, initial × 2^attempt)`.
    pub fn next_delay(&mut self, rng: &mut fastrand::Rng) -> Duration {
        let cap = self
            .initial
            .saturating_mul(1u32.checked_shl(self.attempt).unwrap_or(u32::MAX))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        Duration::from_millis(rng.u64(0..=cap.as_millis() as u64))
    }
}

/// Parses `Retry-After`: integer seconds or an HTTP date, capped at five minutes.
pub fn parse_retry_after(value: &str, now_unix_nanos: i64) -> Option<Duration> {
    let value = value.trim();
    let delay = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        let at = at.duration_since(std::time::UNIX_EPOCH).ok()?;
        let now = Duration::from_nanos(now_unix_nanos.max(0) as u64);
        at.saturating_sub(now)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// Judges one attempt.
pub fn verdict(
    outcome: &Result<Response, TransportError>,
    now_unix_nanos: i64,
    backoff: &mut Backoff,
    rng: &mut fastrand::Rng,
) -> Verdict {
    let response = match outcome {
        Err(_) => return Verdict::Retry(backoff.next_delay(rng)),
        Ok(response) => response,
    };
    match response.status {
        200..=299 => Verdict::Delivered,
        413 => Verdict::Split,
        408 | 429 | 500..=599 => {
            let hinted = response
                .retry_after
                .as_deref()
                .and_then(|v| parse_retry_after(v, now_unix_nanos));
            match hinted {
                Some(delay) => {
                    backoff.attempt = backoff.attempt.saturating_add(1);
                    Verdict::Retry(delay)
                }
                None => Verdict::Retry(backoff.next_delay(rng)),
            }
        }
        _ => Verdict::Reject,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            retry_after: retry_after.map(str::to_owned),
            body_prefix: Vec::new(),
        })
    }

    #[test]
    fn statuses() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(1);
        let mut judge = |r| verdict(&r, 0, &mut b, &mut rng);
        assert_eq!(judge(response(200, None)), Verdict::Delivered);
        assert_eq!(judge(response(204, None)), Verdict::Delivered);
        assert_eq!(judge(response(413, None)), Verdict::Split);
        for status in [400, 401, 403, 404, 422] {
            assert_eq!(judge(response(status, None)), Verdict::Reject);
        }
        for status in [408, 429, 500, 502, 503] {
            assert!(matches!(judge(response(status, None)), Verdict::Retry(_)));
        }
        let err = Err(TransportError {
            message: "timeout".into(),
        });
        assert!(matches!(judge(err), Verdict::Retry(_)));
    }

    #[test]
    fn retry_after_both_forms_capped() {
        let now = 1_445_412_480 * 1_000_000_000; // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("86400", now), Some(MAX_RETRY_AFTER));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 09:28:00 GMT", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(1);
        assert_eq!(
            verdict(&response(503, Some("3")), now, &mut b, &mut rng),
            Verdict::Retry(Duration::from_secs(3))
        );
        assert_eq!(
            verdict(
                &response(429, Some("Wed, 21 Oct 2015 07:28:10 GMT")),
                now,
                &mut b,
                &mut rng
            ),
            Verdict::Retry(Duration::from_secs(10))
        );
    }

    #[test]
    fn backoff_is_full_jitter_under_an_exponential_cap() {
        let mut rng = fastrand::Rng::with_seed(7);
        for attempt in 0..12u32 {
            let cap = (1000u64 << attempt).min(60_000);
            let mut seen_max = 0;
            for _ in 0..2000 {
                let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
                b.attempt = attempt;
                let d = b.next_delay(&mut rng).as_millis() as u64;
                assert!(d <= cap);
                seen_max = seen_max.max(d);
            }
            assert!(
                seen_max > cap * 9 / 10,
                "attempt {attempt}: jitter should reach near the cap"
            );
        }
    }
}
