//! Waiting on the caller's thread: the core's flush and shutdown are futures (the browser awaits
//! them); here they are driven by a small executor that parks the thread until a waker or the
//! earliest [`Deadline`] it polled.

use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

thread_local! {
    /// The earliest deadline polled since the executor last parked.
    static WAKE_AT: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Completes at an instant; only meaningful under [`block_on`], which parks until then.
pub(super) struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Deadline {
        let now = Instant::now();
        Deadline(
            now.checked_add(timeout)
                .unwrap_or(now + Duration::from_secs(86_400 * 365)),
        )
    }
}

impl Future for Deadline {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.0 {
            return Poll::Ready(());
        }
        WAKE_AT.with(|at| at.set(Some(at.get().map_or(self.0, |t| t.min(self.0)))));
        Poll::Pending
    }
}

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `future` to completion on this thread.
pub(super) fn block_on<F: Future>(future: F) -> F::Output {
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        WAKE_AT.with(|at| at.set(None));
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        match WAKE_AT.with(Cell::get) {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        }
    }
}
