//! Helpers shared by the integration tests: the shared encoding vectors, the real loghub lines,
//! a fault-injecting server and polling for a condition.
#![allow(dead_code)] // each test binary uses its own subset

pub mod fault;
pub mod loghub;
pub mod shared_vectors;

use std::time::{Duration, Instant};

/// Waits up to `timeout` for `done`; says whether it came true. (Bounds stay loose: a loaded
/// machine must not turn a slow pass into a failure.)
pub fn eventually(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    done()
}
