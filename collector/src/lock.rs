//! One collector per database: an exclusive lock on `<db>.lock`, beside the database, held for as
//! long as the collector runs. The operating system releases it when the process ends, however it
//! ends, so a crash never leaves a stale lock behind (the file itself stays, unlocked).

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

use crate::Error;

pub(crate) struct DbLock {
    _file: File,
}

impl DbLock {
    pub fn acquire(db: &Path) -> Result<DbLock, Error> {
        let lock = lock_path(db);
        let names = || (db.display().to_string(), lock.display().to_string());
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|source| {
                let (db, lock) = names();
                Error::Lock { db, lock, source }
            })?;
        match file.try_lock() {
            Ok(()) => Ok(DbLock { _file: file }),
            Err(TryLockError::WouldBlock) => {
                let (db, lock) = names();
                Err(Error::InUse { db, lock })
            }
            Err(TryLockError::Error(source)) => {
                let (db, lock) = names();
                Err(Error::Lock { db, lock, source })
            }
        }
    }
}

fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}
