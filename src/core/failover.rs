//! A destination's backup address (the log pipeline in DESIGN.md's lineage): after
//! [`FAILOVER_AFTER`] consecutive failed attempts on the primary, uploads go to the backup; while
//! they do, every `probe_interval` the next attempt tries the primary first. That probe is a real
//! upload, so an answer proves the primary takes logs again, and uploads return to it.
//!
//! "Failed" means the attempt is to be retried (transport error, timeout, 408, 429, 5xx): a primary
//! that answers 4xx or 413 is up, and switching would not help. Pure: the shipper asks where the
//! next attempt goes and reports how it went, with the time from its Clock.

use std::time::Duration;

/// Consecutive failed attempts on the primary before uploads move to the backup: one failure is
/// often a blip (a restart, a reset connection), three in a row, with back-off between them, is
/// an outage.
pub const FAILOVER_AFTER: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Primary,
    Backup,
}

#[derive(Debug, Clone)]
pub struct Failover {
    has_backup: bool,
    probe_interval: Duration,
    /// Consecutive failed attempts on the primary.
    failures: u32,
    on_backup: bool,
    /// While on the backup: when the primary is tried next (Unix nanoseconds).
    probe_at: i64,
}

impl Failover {
    /// `has_backup` false: every attempt goes to the primary, as if there were no failover.
    pub fn new(has_backup: bool, probe_interval: Duration) -> Self {
        Failover {
            has_backup,
            probe_interval,
            failures: 0,
            on_backup: false,
            probe_at: 0,
        }
    }

    /// Where the next attempt goes.
    pub fn target(&self, now_unix_nanos: i64) -> Target {
        if self.on_backup && now_unix_nanos < self.probe_at {
            Target::Backup
        } else {
            Target::Primary
        }
    }

    /// Whether uploads go to the backup (until the next successful probe).
    pub fn on_backup(&self) -> bool {
        self.on_backup
    }

    /// Records how an attempt at `target` went (`failed`: it is to be retried). Returns true when
    /// the next attempt should go at once, without the back-off delay: uploads just moved to the
    /// backup, or a probe of the primary failed and the batch goes back to the backup.
    pub fn record(&mut self, target: Target, failed: bool, now_unix_nanos: i64) -> bool {
        let next_probe = now_unix_nanos.saturating_add(self.probe_interval.as_nanos() as i64);
        match (target, failed) {
            (Target::Backup, _) => false,
            (Target::Primary, false) => {
                self.failures = 0;
                self.on_backup = false;
                false
            }
            (Target::Primary, true) if self.on_backup => {
                self.probe_at = next_probe;
                true
            }
            (Target::Primary, true) => {
                self.failures += 1;
                if !self.has_backup || self.failures < FAILOVER_AFTER {
                    return false;
                }
                self.failures = 0;
                self.on_backup = true;
                self.probe_at = next_probe;
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: i64 = 1_000_000_000;

    #[test]
    fn three_failures_move_to_the_backup_and_a_probe_brings_uploads_back() {
        let mut f = Failover::new(true, Duration::from_secs(30));
        assert_eq!(f.target(0), Target::Primary);
        assert!(!f.record(Target::Primary, true, 0));
        assert!(!f.record(Target::Primary, true, SEC));
        assert!(!f.on_backup());
        assert!(f.record(Target::Primary, true, 2 * SEC), "switch at once");
        assert!(f.on_backup());
        assert_eq!(f.target(2 * SEC), Target::Backup);
        assert!(
            !f.record(Target::Backup, true, 3 * SEC),
            "backup failures back off"
        );
        assert!(!f.record(Target::Backup, false, 4 * SEC));
        assert_eq!(f.target(32 * SEC - 1), Target::Backup);
        assert_eq!(f.target(32 * SEC), Target::Primary, "probe due");
        assert!(
            f.record(Target::Primary, true, 32 * SEC),
            "failed probe: backup at once"
        );
        assert_eq!(f.target(33 * SEC), Target::Backup);
        assert_eq!(f.target(62 * SEC), Target::Primary);
        assert!(!f.record(Target::Primary, false, 62 * SEC));
        assert!(!f.on_backup());
        assert_eq!(f.target(63 * SEC), Target::Primary);
    }

    #[test]
    fn a_success_resets_the_count_and_without_a_backup_nothing_moves() {
        let mut f = Failover::new(true, Duration::from_secs(30));
        f.record(Target::Primary, true, 0);
        f.record(Target::Primary, true, 0);
        f.record(Target::Primary, false, 0);
        f.record(Target::Primary, true, 0);
        f.record(Target::Primary, true, 0);
        assert!(!f.on_backup(), "not three in a row");
        let mut alone = Failover::new(false, Duration::from_secs(30));
        for _ in 0..10 {
            assert!(!alone.record(Target::Primary, true, 0));
        }
        assert_eq!(alone.target(0), Target::Primary);
    }
}
