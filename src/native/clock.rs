//! The wall clock every write reads. `SystemTime::now()` is a `clock_gettime` through the vDSO:
//! 52 ns per read on the machine behind benches/write.rs, most of a write's cost. The CPU's
//! counter (TSC, through quanta) reads in about 15 ns; this clock adds to it the wall clock's
//! offset, taken again from the system clock when the last one is older than a second, so that
//! timestamps follow NTP's slewing and a stepped clock within a second of any write.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::core::traits::Clock;

/// How old the wall-clock offset may get before a read takes it again.
const REANCHOR_NANOS: u64 = 1_000_000_000;

#[derive(Clone)]
pub struct WallClock(Arc<Anchor>);

struct Anchor {
    counter: quanta::Clock,
    /// The counter's reading when the clock was made: nanoseconds are counted from there.
    origin: u64,
    /// Unix nanoseconds minus counter nanoseconds since `origin`, as last taken.
    offset: AtomicI64,
    /// Counter nanoseconds since `origin` when `offset` was taken.
    taken_at: AtomicU64,
}

impl WallClock {
    pub fn new() -> Self {
        let counter = quanta::Clock::new();
        let origin = counter.raw();
        let clock = WallClock(Arc::new(Anchor {
            counter,
            origin,
            offset: AtomicI64::new(0),
            taken_at: AtomicU64::new(0),
        }));
        clock.reanchor(0);
        clock
    }

    /// Takes the wall clock's offset from the system clock, `elapsed` counter nanoseconds in.
    /// Racing threads each store an offset that was right when they read it.
    fn reanchor(&self, elapsed: u64) -> i64 {
        let offset = system_unix_nanos() - elapsed as i64;
        self.0.offset.store(offset, Ordering::Relaxed);
        self.0.taken_at.store(elapsed, Ordering::Relaxed);
        offset
    }
}

impl Clock for WallClock {
    fn unix_nanos(&self) -> i64 {
        let anchor = &self.0;
        let elapsed = anchor
            .counter
            .delta_as_nanos(anchor.origin, anchor.counter.raw());
        let taken_at = anchor.taken_at.load(Ordering::Relaxed);
        if elapsed.saturating_sub(taken_at) > REANCHOR_NANOS {
            return self.reanchor(elapsed) + elapsed as i64;
        }
        anchor.offset.load(Ordering::Relaxed) + elapsed as i64
    }
}

fn system_unix_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Within a few milliseconds of the system clock, at once and after a re-anchoring.
    #[test]
    fn follows_the_system_clock() {
        let clock = WallClock::new();
        let close = |clock: &WallClock| {
            let (before, ours, after) =
                (system_unix_nanos(), clock.unix_nanos(), system_unix_nanos());
            assert!(
                before - 2_000_000 <= ours && ours <= after + 2_000_000,
                "{before} {ours} {after}"
            );
        };
        close(&clock);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        close(&clock);
        // A stale offset (as after a clock step) is replaced by the next read past the second.
        clock
            .0
            .offset
            .fetch_add(3_600_000_000_000, Ordering::Relaxed);
        clock.0.taken_at.store(0, Ordering::Relaxed);
        close(&clock);
    }
}
