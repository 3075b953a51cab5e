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
    /// A redirect (3xx), never followed: the address is wrong, which retrying cannot fix. Drop
    /// the batch and count its entries as rejected, and report it ([`redirect_message`]).
    Redirect,
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
    if response.opaque_redirect {
        return Verdict::Redirect;
    }
    match response.status {
        200..=299 => Verdict::Delivered,
        300..=399 => Verdict::Redirect,
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

/// The report of a redirect from the address `key` names (`base_url` or `backup_url`) that
/// dropped a batch of `entries`. It shows where the redirect points only as
/// `scheme://host[:port]`: the rest of a `Location` may hold the private id (a same-path
/// redirect) and its userinfo a password.
pub fn redirect_message(key: &str, response: &Response, entries: usize) -> String {
    let status = match response.status {
        0 => String::new(),
        status => format!(" with status {status}"),
    };
    let target = match (response.opaque_redirect, response.location.as_deref()) {
        (true, _) => " (the browser does not say where)".to_owned(),
        (false, Some(location)) => match origin(location) {
            Some(origin) => " to ".to_owned() + &origin,
            None => " to another path on the same server".to_owned(),
        },
        (false, None) => String::new(),
    };
    format!(
        "{key} redirects{status}{target}; use the final address (redirects are never followed: \
         {entries} entries dropped)"
    )
}

/// `scheme://host[:port]` of an absolute (or scheme-relative) URL, without userinfo; `None` for
/// a relative one.
fn origin(url: &str) -> Option<String> {
    // Byte scans rather than str patterns: this is in the browser bundle too.
    let scheme_len = url
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
        .count();
    let (scheme, rest) = url.split_at_checked(scheme_len)?;
    let rest = match scheme {
        "" => rest.strip_prefix("//")?,
        _ => rest.strip_prefix("://")?,
    };
    let end = rest.bytes().position(|b| b"/?#".contains(&b));
    let authority = rest.get(..end.unwrap_or(rest.len()))?;
    let host_at = authority
        .bytes()
        .rposition(|b| b == b'@')
        .map_or(0, |at| at + 1);
    let separator = match scheme {
        "" => "//",
        _ => "://",
    };
    Some(format!("{scheme}{separator}{}", authority.get(host_at..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, retry_after: Option<&str>) -> Result<Response, TransportError> {
        Ok(Response {
            status,
            retry_after: retry_after.map(str::to_owned),
            ..Response::default()
        })
    }

    fn redirect(status: u16, location: Option<&str>) -> Response {
        Response {
            status,
            location: location.map(str::to_owned),
            ..Response::default()
        }
    }

    #[test]
    fn every_redirect_is_a_configuration_error_that_names_only_the_origin() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60));
        let mut rng = fastrand::Rng::with_seed(1);
        let id = "ab".repeat(32);
        let same_path = format!("https://user:pw@logs.example:8443/c/app/{id}?x#y");
        for status in [300, 301, 302, 303, 304, 307, 308] {
            let outcome = Ok(redirect(status, Some(&same_path)));
            assert_eq!(verdict(&outcome, 0, &mut b, &mut rng), Verdict::Redirect);
        }
        let opaque = Response {
            opaque_redirect: true,
            ..Response::default()
        };
        assert_eq!(
            verdict(&Ok(opaque.clone()), 0, &mut b, &mut rng),
            Verdict::Redirect
        );
        let message = redirect_message("base_url", &redirect(302, Some(&same_path)), 3);
        assert_eq!(
            message,
            "base_url redirects with status 302 to https://logs.example:8443; use the final \
             address (redirects are never followed: 3 entries dropped)"
        );
        assert!(!message.contains(&id) && !message.contains("pw"));
        let cases = [
            (Some("http://other.test"), " to http://other.test;"),
            (Some("//cdn.test/c/app/x"), " to //cdn.test;"),
            (
                Some(&format!("/c/app/{id}")[..]),
                " to another path on the same server;",
            ),
            (
                Some(&format!("c/{id}")[..]),
                " to another path on the same server;",
            ),
            (None, "with status 307;"),
        ];
        for (location, expected) in cases {
            let message = redirect_message("backup_url", &redirect(307, location), 1);
            assert!(message.starts_with("backup_url redirects"), "{message}");
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(&id), "{message}");
        }
        assert_eq!(
            redirect_message("base_url", &opaque, 1),
            "base_url redirects (the browser does not say where); use the final address \
             (redirects are never followed: 1 entries dropped)"
        );
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
