//! The durable disk spool (`spool_dir`): the files behind `core::spool`'s decisions, and the
//! writer task that moves batches from the queue into them and from them to the shipper.
//!
//! Flow: writes go to the in-memory queue as always. The writer (on a thread of its own, so that
//! a slow disk never stalls uploads) waits up to `spool_sync_ms` for company, builds batches,
//! appends each as a checksummed record to the current segment and releases it from the queue;
//! every `spool_sync_ms` it makes what it wrote durable (fsync). It reads the oldest unsent
//! batches back, a few at a time, and hands them to the shipper, which reports each one settled
//! (only noting its id: the writer applies it); a segment is deleted once every batch in it is
//! settled. A logger opened on a spool with unsent segments therefore sends them first, in
//! order, under their original `Logship-Batch` ids. All file work is the writer's, or the
//! caller's in `open`, `flush` and drop: never the upload thread's.
//!
//! Files: `lock` (held with an exclusive lock for the logger's life: a second logger on the same
//! directory fails to build; not inherited by exec'd children, and let go of in fork children),
//! `seg-<20-digit sequence>.log` (born as `seg-<sequence>.tmp` until its header is durable), and
//! `private_id` (when none is configured), all created 0600 in a 0700 directory. An existing
//! directory that another user owns, or that group or others may write, is refused: its segments
//! would be uploaded as this program's logs and its `private_id` trusted.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Seek as _, SeekFrom, Write as _};
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use event_listener::Event;
use futures::future::{select, Either};

use crate::core::batch::{Batch, BatchIds};
use crate::core::ids::PrivateId;
use crate::core::logger::Durable;
use crate::core::shipper::{Handoff, Intake};
use crate::core::spool::{
    decode_batch, encode_batch, read_record, scan_segment, SpoolIndex, SEGMENT_MAGIC,
};
use crate::core::Shared;

const LOCK_FILE: &str = "lock";
const PRIVATE_ID_FILE: &str = "private_id";

/// What opening a spool found.
#[derive(Debug, Default)]
pub(crate) struct Recovery {
    /// Batches left by an earlier logger, to be sent first.
    pub batches: usize,
    /// Bytes of torn or corrupt segment tails skipped, in how many segments, and the writes they
    /// held (as far as known: see `core::spool::Lost`).
    pub skipped_bytes: u64,
    pub damaged_segments: usize,
    pub damaged_records: u64,
    /// Writes lost to damage or in segments evicted at once because the spool was over its
    /// bound, and drops whose notice went with them.
    pub dropped_records: u64,
    pub renoticed: u64,
}

pub(crate) struct Spool {
    dir: PathBuf,
    files: Mutex<Files>,
    /// Batches the shipper settled, by id, for the writer to apply: the upload thread never
    /// waits for `files`, which the writer holds while it writes and syncs.
    settled: Mutex<Vec<String>>,
    /// Wakes the writer: a flush or shutdown, or a settled batch (room to hand off another).
    kick: Event,
    sync_interval: Duration,
    /// Held (and exclusively locked) for the spool's life; the lock goes with the handle.
    lock_file: File,
}

struct Files {
    index: SpoolIndex,
    /// The current segment, appended to; `None` after a write error (the next append starts a
    /// new segment rather than writing after a torn record).
    current: Option<File>,
    dirty: bool,
    last_sync: Instant,
    record: Vec<u8>,
}

fn segment_name(seq: u64) -> String {
    format!("seg-{seq:020}.log")
}

/// A segment being born: renamed to [`segment_name`] once its header is durable.
fn temp_segment_name(seq: u64) -> String {
    format!("seg-{seq:020}.tmp")
}

fn segment_seq(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("seg-")?.strip_suffix(".log")?;
    (digits.len() == 20 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())?
}

/// Options for a new file that only this user may read or write.
fn private_file() -> OpenOptions {
    let mut options = OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Refuses a directory that another user owns or that group or others may write. Reads the
/// directory's own metadata: a symbolic link in its place is refused, not followed.
#[cfg(unix)]
fn check_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt as _;
    let shown = dir.display();
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if meta.file_type().is_symlink() {
        return Err(format!(
            "{shown} is a symbolic link: give the directory itself"
        ));
    }
    if !meta.is_dir() {
        return Err(format!("{shown} is not a directory"));
    }
    let user = rustix::process::geteuid().as_raw();
    if meta.uid() != user {
        return Err(format!(
            "{shown} belongs to user {} but this process runs as user {user}: \
             the spool_dir must belong to the process's user",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{shown} is writable by group or others (mode {:o}): the spool_dir must be \
             private to its user (chmod 700)",
            meta.mode() & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_dir(_: &Path) -> Result<(), String> {
    Ok(())
}

/// Fork children let go of the spool locks: a flock lock belongs to the open file, which fork
/// shares, so a child that lives on (a pre-fork server's worker) would keep the spool locked.
/// This crate keeps the table of lock descriptors; a fork handler (the C door's) empties it.
#[cfg(unix)]
mod fork_release {
    use std::os::fd::RawFd;
    use std::sync::atomic::{AtomicI32, Ordering};

    /// The lock descriptors held right now; -1 is a free slot. Fixed, so that a fork handler
    /// neither locks nor allocates. A process with more spools open than this keeps the rest
    /// locked in its fork children.
    static LOCK_FDS: [AtomicI32; 16] = [const { AtomicI32::new(-1) }; 16];

    pub(super) fn hold(fd: RawFd) {
        let _ = LOCK_FDS.iter().find(|slot| {
            slot.compare_exchange(-1, fd, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
    }

    pub(super) fn release(fd: RawFd) {
        let _ = LOCK_FDS.iter().find(|slot| {
            slot.compare_exchange(fd, -1, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        });
    }

    /// Empties the table, handing each descriptor to `let_go`.
    pub fn take_all(mut let_go: impl FnMut(RawFd)) {
        for slot in &LOCK_FDS {
            let fd = slot.swap(-1, Ordering::SeqCst);
            if fd >= 0 {
                let_go(fd);
            }
        }
    }
}

/// For a fork child: takes every spool lock descriptor this process holds out of logship's
/// table and hands each to `let_go`, which must make the child let go of it (point it at
/// /dev/null: the number stays taken, so a later close closes nothing else). Only atomic
/// operations: callable from a `pthread_atfork` child handler. The C door's handler does this;
/// a Rust program that forks and keeps its children alive can do the same.
#[cfg(unix)]
pub fn release_spool_locks_after_fork(let_go: impl FnMut(std::os::fd::RawFd)) {
    fork_release::take_all(let_go);
}

impl Spool {
    /// Opens (creating) the spool in `dir`, takes its lock and reads what an earlier logger left.
    pub(crate) fn open(
        dir: &Path,
        max_bytes: u64,
        sync_interval: Duration,
    ) -> Result<(Spool, Recovery), String> {
        let shown = dir.display();
        create_private_dir(dir).map_err(|e| format!("cannot create {shown}: {e}"))?;
        check_private_dir(dir)?;
        // std opens every file close-on-exec: an exec'd child never holds the lock.
        let lock = private_file()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))
            .map_err(|e| format!("cannot open the lock file in {shown}: {e}"))?;
        // An advisory lock (File::try_lock, Rust 1.89): released by the OS even on SIGKILL.
        if let Err(err) = lock.try_lock() {
            return Err(match err {
                fs::TryLockError::WouldBlock => format!(
                    "{shown} is in use by another logger (its lock file is held): \
                     each spool_dir serves one logger at a time"
                ),
                fs::TryLockError::Error(e) => format!("cannot lock {shown}: {e}"),
            });
        }
        let mut index = SpoolIndex::new(max_bytes);
        let mut recovery = Recovery::default();
        let mut segments: Vec<(u64, PathBuf)> = fs::read_dir(dir)
            .map_err(|e| format!("cannot read {shown}: {e}"))?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let name = entry.file_name();
                let name = name.to_str()?;
                if name.starts_with("seg-") && name.ends_with(".tmp") {
                    // A segment whose birth a crash interrupted: it never held a batch.
                    let _ = fs::remove_file(entry.path());
                    return None;
                }
                Some((segment_seq(name)?, entry.path()))
            })
            .collect();
        segments.sort();
        let mut last_seq = 0;
        for (seq, path) in segments {
            last_seq = seq;
            let bytes =
                fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let scan = scan_segment(&bytes);
            if scan.skipped_bytes > 0 {
                recovery.skipped_bytes += scan.skipped_bytes;
                recovery.damaged_segments += 1;
                recovery.damaged_records += scan.lost.records;
                recovery.dropped_records += scan.lost.records;
                recovery.renoticed += scan.lost.noticed;
            }
            if scan.batches.is_empty() {
                let _ = fs::remove_file(&path);
                continue;
            }
            let good = bytes.len() as u64 - scan.skipped_bytes;
            if scan.skipped_bytes > 0 {
                // Cut off, so that the loss is counted by this open only (should this fail,
                // the next open counts it again).
                let _ = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .and_then(|file| file.set_len(good).and_then(|()| file.sync_data()));
            }
            recovery.batches += scan.batches.len();
            index.add_recovered(seq, good, &scan.batches);
        }
        let eviction = index.make_room(0);
        recovery.dropped_records += eviction.dropped_records;
        recovery.renoticed += eviction.renoticed;
        for seq in &eviction.segments {
            let _ = fs::remove_file(dir.join(segment_name(*seq)));
        }
        let spool = Spool {
            dir: dir.to_owned(),
            files: Mutex::new(Files {
                index,
                current: None,
                dirty: false,
                last_sync: Instant::now(),
                record: Vec::new(),
            }),
            settled: Mutex::default(),
            kick: Event::new(),
            sync_interval,
            lock_file: lock,
        };
        // From here on, dropping the spool (on an error below too) releases the slot.
        #[cfg(unix)]
        fork_release::hold(std::os::fd::AsRawFd::as_raw_fd(&spool.lock_file));
        // Always a fresh segment: never append after an earlier logger's (maybe torn) tail.
        spool
            .lock()
            .start_segment(&spool.dir, last_seq + 1)
            .map_err(|e| format!("cannot create a segment in {shown}: {e}"))?;
        Ok((spool, recovery))
    }

    /// The private id this spool's batches were made for, when none is configured: stored here
    /// (0600) at first use, so that a restarted logger continues the same stream and the
    /// collector, which remembers batch ids per stream, stores a resent batch once.
    pub(crate) fn stored_private_id(&self, fresh: PrivateId) -> Result<PrivateId, String> {
        let path = self.dir.join(PRIVATE_ID_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => PrivateId::parse(text.trim())
                .map_err(|e| format!("{} holds no private id: {e}", path.display())),
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                let mut file = private_file()
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
                file.write_all(fresh.to_hex().as_bytes())
                    .and_then(|()| file.sync_all())
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                Ok(fresh)
            }
            Err(err) => Err(format!("cannot read {}: {err}", path.display())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Files> {
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shipper delivered or rejected batch `id` (on the upload thread): noted for the
    /// writer, which it wakes.
    pub(crate) fn settled(&self, id: &str) {
        self.settled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(id.to_owned());
        self.kick.notify(usize::MAX);
    }

    fn has_settled(&self) -> bool {
        !self
            .settled
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_empty()
    }

    /// Applies what the shipper settled: deletes the segments that are now done. Returns whether
    /// there was anything (someone may wait for the unsettled count to fall).
    fn apply_settled(&self) -> bool {
        let ids = std::mem::take(&mut *self.settled.lock().unwrap_or_else(PoisonError::into_inner));
        if ids.is_empty() {
            return false;
        }
        let deletable: Vec<u64> = {
            let mut files = self.lock();
            ids.iter().flat_map(|id| files.index.settle(id)).collect()
        };
        for seq in deletable {
            let _ = fs::remove_file(self.dir.join(segment_name(seq)));
        }
        true
    }

    /// Appends one batch; returns the writes lost to make room (evicted segments, or the batch
    /// itself when it does not fit or cannot be written), and the drops whose notice was lost.
    fn append(&self, batch: &Batch, shared: &Shared) -> (u64, u64) {
        let mut files = self.lock();
        let files = &mut *files;
        files.record.clear();
        encode_batch(batch, &mut files.record);
        let len = files.record.len() as u64;
        let (mut dropped, mut renoticed) = (0, 0);
        let result = (|| -> io::Result<()> {
            if files.current.is_none() || files.index.should_rotate() {
                files.rotate(&self.dir)?;
            }
            let eviction = files.index.make_room(len);
            dropped += eviction.dropped_records;
            renoticed += eviction.renoticed;
            for seq in &eviction.segments {
                let _ = fs::remove_file(self.dir.join(segment_name(*seq)));
            }
            if eviction.current_evicted {
                files.current = None;
                files.dirty = false;
                files.rotate(&self.dir)?;
            }
            if eviction.too_large {
                dropped += batch.records();
                renoticed += batch.noticed_drops();
                return Ok(());
            }
            let offset = files.index.current_bytes();
            let file = files.current.as_mut().expect("a current segment");
            if let Err(err) = file.write_all(&files.record) {
                // What reached the file is a torn record: start afresh.
                files.current = None;
                return Err(err);
            }
            let (records, noticed) = (batch.records(), batch.noticed_drops());
            files
                .index
                .append(batch.id.clone(), offset, len, records, noticed);
            files.dirty = true;
            Ok(())
        })();
        if let Err(err) = result {
            shared.report_error(
                "spool write",
                format!(
                    "cannot write to the spool in {}: {err} ({} entries dropped)",
                    self.dir.display(),
                    batch.records()
                ),
            );
            dropped += batch.records();
            renoticed += batch.noticed_drops();
        }
        (dropped, renoticed)
    }

    /// The oldest unsent batch, read back from disk, when the shipper has room for one more.
    /// Sets `lost` when a batch could not be read back (its writes are counted as dropped).
    fn next_hand_off(&self, shared: &Shared, lost: &mut bool) -> Option<Batch> {
        loop {
            let mut files = self.lock();
            let at = files.index.next_hand_off()?;
            let path = self.dir.join(segment_name(at.segment));
            let read = (|| -> io::Result<Vec<u8>> {
                let mut file = File::open(&path)?;
                file.seek(SeekFrom::Start(at.offset))?;
                let mut record = vec![0; at.len as usize];
                file.read_exact(&mut record)?;
                Ok(record)
            })();
            let batch = read.ok().and_then(|record| {
                let payload = read_record(&record)?;
                decode_batch(payload, &shared.body_format).ok()
            });
            match batch {
                Some(batch) => return Some(batch),
                None => {
                    let (dropped, renoticed) = files.index.abandon(at.segment, at.offset);
                    drop(files);
                    shared.queue.count_dropped(dropped, renoticed);
                    *lost = true;
                    shared.report_error(
                        "spool read",
                        format!(
                            "a spooled batch in {} could not be read back ({dropped} entries dropped)",
                            path.display()
                        ),
                    );
                }
            }
        }
    }
}

impl Durable for Spool {
    /// Wakes the writer (a flush or shutdown wants the queue spooled now).
    fn kick(&self) {
        self.kick.notify(usize::MAX);
    }

    /// Makes everything appended so far durable.
    fn sync(&self) -> io::Result<()> {
        self.lock().sync()
    }

    /// Batches not yet delivered or rejected.
    fn unsettled_batches(&self) -> usize {
        self.lock().index.unsettled_batches()
    }
}

impl Files {
    /// Creates the next segment. Its header is durable before it is linked under its name, so
    /// that a crash never leaves a segment with a torn header; a crash before the rename leaves
    /// a `.tmp` file, removed at the next open.
    fn start_segment(&mut self, dir: &Path, seq: u64) -> io::Result<()> {
        let temp = dir.join(temp_segment_name(seq));
        let mut file = private_file()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)?;
        file.write_all(SEGMENT_MAGIC)?;
        file.sync_data()?;
        fs::rename(&temp, dir.join(segment_name(seq)))?;
        // The new name must survive a crash too.
        File::open(dir)?.sync_all()?;
        self.index.start_segment(seq, SEGMENT_MAGIC.len() as u64);
        self.current = Some(file);
        Ok(())
    }

    /// Makes the current segment durable and starts the next one.
    fn rotate(&mut self, dir: &Path) -> io::Result<()> {
        self.sync()?;
        let seq = self.index.last_seq().unwrap_or(0) + 1;
        self.start_segment(dir, seq)?;
        // A settled segment that was current may go now.
        for seq in self.index.take_deletable(false) {
            let _ = fs::remove_file(dir.join(segment_name(seq)));
        }
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some(file) = &self.current {
                file.sync_data()?;
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        #[cfg(unix)]
        fork_release::release(std::os::fd::AsRawFd::as_raw_fd(&self.lock_file));
        self.apply_settled();
        let dir = self.dir.clone();
        let mut files = self.lock();
        let _ = files.sync();
        // A clean exit with everything settled leaves an empty directory behind.
        for seq in files.index.take_deletable(true) {
            let _ = fs::remove_file(dir.join(segment_name(seq)));
        }
    }
}

/// The writer task: runs on the spool thread until the queue is stopped.
pub(crate) async fn run_writer(
    spool: Arc<Spool>,
    shared: Arc<Shared>,
    handoff: Handoff,
    max_batch_bytes: usize,
    seed: u64,
    notice_owed: bool,
) {
    let (mut intake, mut ids) = (Intake::new(shared.clone()), BatchIds::new(seed));
    let mut append_queued = |notice_owed| {
        spool_queued(
            &spool,
            &shared,
            &mut intake,
            &mut ids,
            max_batch_bytes,
            notice_owed,
        )
    };
    let queue = &shared.queue;
    // What opening the spool lost reaches the server even if nothing is written.
    append_queued(notice_owed);
    while !queue.is_stopped() {
        if spool.apply_settled() {
            // Shutdown waits for the spool's unsettled batches to fall to 0.
            queue.progress.notify(usize::MAX);
        }
        let mut lost = false;
        while let Some(batch) = spool.next_hand_off(&shared, &mut lost) {
            handoff.push(batch);
        }
        if lost {
            // The loss reaches the server even if nothing else is written.
            append_queued(true);
            continue;
        }
        // An entry waits at most half the interval for company and half for the next sync, so
        // that a crash loses at most `spool_sync_ms` of entries.
        let half = spool.sync_interval / 2;
        if queue.has_records() {
            // Wait for company (fewer, fuller batches).
            let deadline = Instant::now() + half;
            while !queue.is_urgent() && !queue.is_stopped() {
                let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                    break;
                };
                let (wake, kick) = (queue.wake.listen(), spool.kick.listen());
                if queue.is_urgent() {
                    break;
                }
                let sleep = pin!(tokio::time::sleep(left));
                if let Either::Right(_) = select(select(wake, kick), sleep).await {
                    break;
                }
            }
            append_queued(false);
            sync_if_due(&spool, &shared, half);
            continue;
        }
        // Idle: sleep until a write or a kick (the queue wakes every listener), or until what
        // was written is due for its sync; with nothing written, no timer at all.
        let due = sync_if_due(&spool, &shared, half);
        let (wake, kick) = (queue.wake.listen(), spool.kick.listen());
        if queue.has_records() || queue.is_stopped() || spool.has_settled() {
            continue;
        }
        match due {
            Some(due) => {
                let sleep = pin!(tokio::time::sleep(due.max(Duration::from_millis(1))));
                let _ = select(select(wake, kick), sleep).await;
            }
            None => {
                let _ = select(wake, kick).await;
            }
        }
    }
    let _ = spool.sync();
}

/// Syncs when what was written has waited `after`; returns how long until a sync is due.
fn sync_if_due(spool: &Spool, shared: &Shared, after: Duration) -> Option<Duration> {
    let mut files = spool.lock();
    if files.dirty && files.last_sync.elapsed() >= after {
        if let Err(err) = files.sync() {
            shared.report_error("spool sync", format!("cannot sync the spool: {err}"));
        }
    }
    files
        .dirty
        .then(|| after.saturating_sub(files.last_sync.elapsed()))
}

/// Moves everything queued into the spool, batch by batch, then a notice of what was lost
/// (evicted here, or `notice_owed` already): the loss must reach the server even if nothing
/// else is written, so a notice-only batch. Bounded: a notice is tiny, but it may evict again.
fn spool_queued(
    spool: &Spool,
    shared: &Shared,
    intake: &mut Intake,
    ids: &mut BatchIds,
    max_batch_bytes: usize,
    mut notice_owed: bool,
) {
    let mut notices = 0;
    loop {
        let records = shared.queue.has_records();
        if !records {
            if !notice_owed || notices == 3 {
                break;
            }
            notices += 1;
        }
        let batch = intake.build_batch(ids.next_id(), max_batch_bytes);
        if batch.is_empty() {
            break;
        }
        let (dropped, renoticed) = spool.append(&batch, shared);
        shared.queue.release_to_spool();
        let lost = dropped + renoticed > 0;
        if lost {
            shared.queue.count_dropped(dropped, renoticed);
        }
        // A notice-only batch settles what was owed, unless appending it lost more.
        notice_owed = lost || (records && notice_owed);
    }
}
