//! The database of a test (`TestDatabase`): a SQLite file in a temporary directory, or,
//! when `UMSGATE_TEST_DATABASE_URL` names a PostgreSQL server, a fresh migrated database
//! of its own there (`store::ScratchDatabase`), dropped with it. It must not start a
//! gateway.

use std::path::Path;

use tempfile::TempDir;
use umsgate::store::{ScratchDatabase, TEST_DATABASE_URL};

/// Where a test's gateway keeps its data; the directory also holds the test's other files.
pub struct TestDatabase {
    dir: TempDir,
    postgres: Option<ScratchDatabase>,
}

impl TestDatabase {
    /// On the server of `UMSGATE_TEST_DATABASE_URL` if set, else a SQLite file.
    pub fn new() -> TestDatabase {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(server) if !server.is_empty() => TestDatabase {
                dir: tempfile::tempdir().expect("temp dir"),
                postgres: Some(ScratchDatabase::create(&server).expect("scratch database")),
            },
            _ => Self::sqlite(),
        }
    }

    /// A SQLite file whatever the variable says: for the tests about SQLite's file itself
    /// (deleted, replaced, backed up, its size on disk).
    pub fn sqlite() -> TestDatabase {
        TestDatabase {
            dir: tempfile::tempdir().expect("temp dir"),
            postgres: None,
        }
    }

    /// The directory (SQLite's file is `gateway.db` in it).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL URL (`store.url`), if the test runs on PostgreSQL.
    pub fn url(&self) -> Option<&str> {
        self.postgres.as_ref().map(ScratchDatabase::url)
    }
}
