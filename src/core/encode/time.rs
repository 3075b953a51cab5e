//! PROTOCOL.md §1.2 `client_time`: UTC RFC 3339 with nanoseconds, trailing zeros dropped.

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Formats `client_time`s, remembering the date and time of day of the last second it
/// formatted: consecutive entries mostly fall in the same second.
#[derive(Debug, Default)]
pub struct TimeFormatter {
    second: Option<i64>,
    /// `YYYY-MM-DDTHH:MM:SS` of `second`.
    prefix: Vec<u8>,
}

impl TimeFormatter {
    /// Appends `YYYY-MM-DDTHH:MM:SS[.fraction]Z` for nanoseconds since the Unix epoch.
    pub fn append(&mut self, out: &mut Vec<u8>, unix_nanos: i64) {
        let secs = unix_nanos.div_euclid(NANOS_PER_SEC);
        let nanos = unix_nanos.rem_euclid(NANOS_PER_SEC) as u32;
        if self.second != Some(secs) {
            self.prefix.clear();
            append_seconds(&mut self.prefix, secs);
            self.second = Some(secs);
        }
        out.extend_from_slice(&self.prefix);
        if nanos != 0 {
            let mut digits = [0u8; 10];
            digits[0] = b'.';
            let mut n = nanos;
            for d in digits[1..].iter_mut().rev() {
                *d = b'0' + (n % 10) as u8;
                n /= 10;
            }
            let len = 10 - digits.iter().rev().take_while(|&&d| d == b'0').count();
            out.extend_from_slice(&digits[..len]);
        }
        out.push(b'Z');
    }
}

/// Appends `YYYY-MM-DDTHH:MM:SS` for seconds since the Unix epoch.
fn append_seconds(out: &mut Vec<u8>, secs: i64) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u32;
    let (year, month, day) = civil_from_days(days);
    push2(out, (year / 100) as u32);
    push2(out, (year % 100) as u32);
    out.push(b'-');
    push2(out, month);
    out.push(b'-');
    push2(out, day);
    out.push(b'T');
    push2(out, sod / 3600);
    out.push(b':');
    push2(out, sod / 60 % 60);
    out.push(b':');
    push2(out, sod % 60);
}

fn push2(out: &mut Vec<u8>, n: u32) {
    out.push(b'0' + (n / 10 % 10) as u8);
    out.push(b'0' + (n % 10) as u8);
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::TimeFormatter;

    fn fmt(nanos: i64) -> String {
        let mut out = Vec::new();
        TimeFormatter::default().append(&mut out, nanos);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats() {
        assert_eq!(fmt(123_000_000_456), "1970-01-01T00:02:03.000000456Z");
        assert_eq!(fmt(946_684_800_000_000_000), "2000-01-01T00:00:00Z");
        assert_eq!(fmt(951_782_400_500_000_000), "2000-02-29T00:00:00.5Z");
        assert_eq!(
            fmt(1_700_000_000_123_456_789),
            "2023-11-14T22:13:20.123456789Z"
        );
        assert_eq!(fmt(-1), "1969-12-31T23:59:59.999999999Z");
    }

    #[test]
    fn a_formatter_reused_across_seconds_formats_each_time_afresh() {
        let mut times = TimeFormatter::default();
        let mut out = Vec::new();
        for nanos in [
            1_700_000_000_000_000_005,
            1_700_000_000_123_456_789,
            1_700_000_000_900_000_000,
            1_700_000_001_000_000_000,
            -1,
        ] {
            out.clear();
            times.append(&mut out, nanos);
            assert_eq!(String::from_utf8(out.clone()).unwrap(), fmt(nanos));
        }
        out.clear();
        times.append(&mut out, 1_700_000_000_999_999_999);
        times.append(&mut out, 1_700_000_001_000_000_001);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "2023-11-14T22:13:20.999999999Z2023-11-14T22:13:21.000000001Z"
        );
    }
}
