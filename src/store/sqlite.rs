//! SQLite backend: opens a store file read-only without changing a byte of it, reads the catalog,
//! and runs statements into backend-neutral cells.
//!
//! Opening read-only is subtle with write-ahead logging: a plain `mode=ro` reader still writes
//! read marks into the `-shm` file and creates `-wal`/`-shm` when they are missing, and
//! `immutable=1` ignores the WAL (and so recent events). So the open mode follows the files:
//! - a `-wal` and a `-shm` (a writer may have the file open, even if its WAL is empty right now):
//!   `mode=ro&readonly_shm=1`, which reads the WAL and sees the writer's new events;
//! - otherwise, no WAL content: `immutable=1` for a WAL-mode file (nothing else has it open, or
//!   the `-wal` and `-shm` would exist), `mode=ro` for a rollback-journal file;
//! - a WAL without `-shm` (a crashed writer): the file and its WAL are copied to a private
//!   directory and the copy is opened; the original files are never opened;
//! - a rollback journal with content (a writer stopped mid-transaction: a "hot" journal that
//!   SQLite must roll back before anyone reads, which needs writing): the file and its journal
//!   are copied to a private directory, the copy is rolled back there, and the copy is read —
//!   the store as of its last commit; the original files are never opened.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{Column as _, Row, Statement as _, TypeInfo, ValueRef};

use super::cell::{Cell, Param};
use super::layout::{Catalog, CatalogColumn, CatalogTable};
use super::result::{PreviewError, PreviewLimits, ResultColumn, ResultSet};
use super::sqlite_guard;
use super::{CancelToken, StoreError};

/// How a file was opened, in words for the status bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    ReadOnly,
    Immutable,
    ReadOnlyWal,
    PrivateCopy,
    RolledBackCopy,
}

impl OpenMode {
    pub fn describe(self) -> &'static str {
        match self {
            OpenMode::ReadOnly => "read-only",
            OpenMode::Immutable => "read-only (immutable)",
            OpenMode::ReadOnlyWal => "read-only, WAL read with a private index",
            OpenMode::PrivateCopy => "read-only private copy (WAL without -shm)",
            OpenMode::RolledBackCopy => {
                "read-only private copy as of the last commit (the store has a hot journal: a writer stopped \
                 mid-transaction)"
            }
        }
    }
}

/// The facts about a store file that decide how to open it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFacts {
    pub wal_mode: bool,
    pub wal_exists: bool,
    pub wal_has_content: bool,
    pub shm_exists: bool,
    /// A `-journal` with content beside a rollback-journal file.
    pub journal_has_content: bool,
}

/// The open mode for these facts (see the module docs).
pub fn open_mode(facts: FileFacts) -> OpenMode {
    if facts.wal_exists && facts.shm_exists {
        OpenMode::ReadOnlyWal
    } else if facts.wal_has_content {
        OpenMode::PrivateCopy
    } else if !facts.wal_mode && facts.journal_has_content {
        OpenMode::RolledBackCopy
    } else if facts.wal_mode {
        OpenMode::Immutable
    } else {
        OpenMode::ReadOnly
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Reads the header and the sibling files; fails with a clear error when the file is missing or
/// is not a SQLite database.
pub fn file_facts(path: &Path) -> Result<FileFacts, StoreError> {
    use std::io::Read;
    let shown = path.display().to_string();
    // The kind of file first, without opening it: opening a named pipe waits for a writer.
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            StoreError::NotFound(format!("there is no file at {shown}: check the path, or give a postgres:// URL"))
        }
        _ => StoreError::Open(format!("cannot read {shown}: {e}")),
    })?;
    if metadata.is_dir() {
        return Err(StoreError::Open(format!("{shown} is a directory, not a SQLite file")));
    }
    if !metadata.is_file() {
        return Err(StoreError::Open(format!(
            "{shown} is not a regular file (a named pipe, socket or device): give the path of a SQLite database file"
        )));
    }
    let mut file = std::fs::File::open(path).map_err(|e| StoreError::Open(format!("cannot read {shown}: {e}")))?;
    let mut header = [0u8; 100];
    let read = file.read(&mut header).unwrap_or(0);
    if read < 100 || &header[..16] != b"SQLite format 3\0" {
        return Err(StoreError::Open(format!(
            "{shown} is not a SQLite database (its first bytes are not the SQLite header)"
        )));
    }
    let wal_len = std::fs::metadata(sibling(path, "-wal")).map(|m| m.len()).ok();
    Ok(FileFacts {
        // Bytes 18 and 19 are the write and read format versions: 2 means WAL.
        wal_mode: header[18] == 2 || header[19] == 2,
        wal_exists: wal_len.is_some(),
        wal_has_content: wal_len.unwrap_or(0) > 0,
        shm_exists: sibling(path, "-shm").exists(),
        journal_has_content: std::fs::metadata(sibling(path, "-journal")).is_ok_and(|m| m.len() > 0),
    })
}

/// A directory that is removed when dropped: holds the private copy of a store.
#[derive(Debug)]
pub struct PrivateCopy {
    dir: PathBuf,
}

impl Drop for PrivateCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The prefix of private copies in the temporary directory (then the process id).
const COPY_PREFIX: &str = "eventscope-copy-";

/// Removes private copies left by processes that no longer run (one stopped with Ctrl-C or
/// killed before it could remove its own).
fn remove_stale_private_copies() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(COPY_PREFIX).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let alive = pid.parse::<u32>().is_ok_and(|pid| {
            pid == std::process::id()
                || Path::new(&format!("/proc/{pid}")).exists()
                || !Path::new("/proc/self").exists()
        });
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Copies the store and its `suffix` file (`-wal` or `-journal`) to a private directory.
fn make_private_copy(path: &Path, suffix: &str) -> Result<(PrivateCopy, PathBuf), StoreError> {
    let unique =
        format!("{COPY_PREFIX}{}-{}", std::process::id(), chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default());
    let dir = std::env::temp_dir().join(unique);
    let fail = |e: std::io::Error| {
        StoreError::Open(format!("cannot make a private copy of {} to read its {suffix}: {e}", path.display()))
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let guard = PrivateCopy { dir: dir.clone() };
    let copy = dir.join("store.sqlite");
    std::fs::copy(path, &copy).map_err(fail)?;
    std::fs::copy(sibling(path, suffix), sibling(&copy, suffix)).map_err(fail)?;
    Ok((guard, copy))
}

/// Opens eventscope's own private copy once for writing, which makes SQLite roll its hot
/// journal back (in the copy only), and closes it.
async fn roll_back_copy(copy: &Path) -> Result<(), sqlx::Error> {
    use sqlx::{ConnectOptions as _, Connection as _};
    let options = SqliteConnectOptions::new().filename(copy).create_if_missing(false);
    let mut conn = options.connect().await?;
    sqlx::query("SELECT count(*) FROM sqlite_master").fetch_one(&mut conn).await?;
    conn.close().await
}

/// Percent-encodes a path for a `file:` URI (everything but unreserved characters and `/`).
fn uri_path(path: &Path) -> String {
    let mut out = String::new();
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(byte as char),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// An open SQLite store.
pub struct SqliteBackend {
    pub pool: SqlitePool,
    /// How the pool's connections were opened: each preview opens one more like them.
    options: SqliteConnectOptions,
    pub mode: OpenMode,
    /// When the file was last changed, as it was opened.
    pub modified: Option<std::time::SystemTime>,
    /// How long one of eventscope's own statements may run (milliseconds).
    deadline_ms: std::sync::atomic::AtomicU64,
    _copy: Option<PrivateCopy>,
}

pub async fn open(path: &Path) -> Result<SqliteBackend, StoreError> {
    // The real file (a symbolic link's target): its `-wal` and `-shm` lie next to it, not to
    // the link.
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let facts = file_facts(&real)?;
    let mode = open_mode(facts);
    remove_stale_private_copies();
    let absolute =
        std::path::absolute(&real).map_err(|e| StoreError::Open(format!("cannot resolve {}: {e}", path.display())))?;
    let (copy, target) = match mode {
        OpenMode::PrivateCopy => {
            let (guard, copy) = make_private_copy(&absolute, "-wal")?;
            (Some(guard), copy)
        }
        OpenMode::RolledBackCopy => {
            let (guard, copy) = make_private_copy(&absolute, "-journal")?;
            roll_back_copy(&copy).await.map_err(|e| {
                StoreError::Open(format!(
                    "{} has a hot journal (a writer stopped mid-transaction) and its private copy could not be \
                     rolled back: {e}",
                    path.display()
                ))
            })?;
            (Some(guard), copy)
        }
        _ => (None, absolute),
    };
    let query = match mode {
        OpenMode::ReadOnly | OpenMode::PrivateCopy | OpenMode::RolledBackCopy => "mode=ro",
        OpenMode::Immutable => "mode=ro&immutable=1",
        OpenMode::ReadOnlyWal => "mode=ro&readonly_shm=1",
    };
    let options = SqliteConnectOptions::new()
        .filename(format!("file:{}?{query}", uri_path(&target)))
        .read_only(true)
        .create_if_missing(false)
        .foreign_keys(false)
        .busy_timeout(Duration::from_secs(5))
        // Rows cross from SQLite's thread in batches rather than one hand-off each (a long
        // stream's read spent a fifth of its time waking the other thread).
        .row_buffer_size(2_048);
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .after_connect(|conn, _| {
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                // SAFETY: the handle is locked for this call.
                unsafe { register_fold(handle.as_raw_handle().as_ptr()) };
                Ok(())
            })
        })
        .connect_with(options.clone())
        .await
        .map_err(|e| StoreError::Open(format!("cannot open {}: {e}", path.display())))?;
    let deadline_ms = std::sync::atomic::AtomicU64::new(QUERY_DEADLINE.as_millis() as u64);
    let modified = std::fs::metadata(&real).and_then(|m| m.modified()).ok();
    Ok(SqliteBackend { pool, options, mode, modified, deadline_ms, _copy: copy })
}

impl SqliteBackend {
    pub async fn catalog(&self) -> Result<Catalog, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::query)?;
        let mut tables = Vec::new();
        for name in names {
            // A view that no longer compiles (it names a dropped table) is left out, not fatal:
            // the rest of the store stays browsable.
            let Ok(rows) = sqlx::query("SELECT name, type FROM pragma_table_info(?1) ORDER BY cid")
                .bind(&name)
                .fetch_all(&self.pool)
                .await
            else {
                continue;
            };
            let columns = rows
                .iter()
                .map(|row| CatalogColumn {
                    name: row.try_get(0).unwrap_or_default(),
                    type_name: row.try_get(1).unwrap_or_default(),
                })
                .collect();
            tables.push(CatalogTable { schema: None, name, columns });
        }
        Ok(Catalog { tables })
    }

    /// Runs one of eventscope's own statements; SQLite stops it at [`QUERY_DEADLINE`] (a view
    /// that never ends, a runaway scan) and the user is told so.
    pub async fn fetch(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::query)?;
        let limit = self.query_deadline();
        let deadline = Instant::now() + limit;
        let timed_out = Arc::new(AtomicBool::new(false));
        {
            let stopped = timed_out.clone();
            let mut handle = conn.lock_handle().await.map_err(StoreError::query)?;
            handle.set_progress_handler(10_000, move || {
                if Instant::now() >= deadline {
                    stopped.store(true, Ordering::SeqCst);
                    return false;
                }
                true
            });
        }
        let result = self.fetch_on(&mut conn, sql, params).await;
        if let Ok(mut handle) = conn.lock_handle().await {
            handle.remove_progress_handler();
        }
        result.map_err(|e| {
            if timed_out.load(Ordering::SeqCst) {
                StoreError::Query(format!(
                    "the database did not finish within {} ms and the query was stopped (a view that never \
                     ends, or a scan of a very large table); the rest of the store stays browsable",
                    limit.as_millis()
                ))
            } else {
                e
            }
        })
    }

    /// How long one of eventscope's own statements may run.
    pub fn query_deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.load(Ordering::Relaxed))
    }

    pub fn set_query_deadline(&self, limit: Duration) {
        self.deadline_ms.store(limit.as_millis() as u64, Ordering::Relaxed);
    }

    async fn fetch_on(
        &self,
        conn: &mut sqlx::SqliteConnection,
        sql: &str,
        params: &[Param],
    ) -> Result<Vec<Vec<Cell>>, StoreError> {
        let rows = bound(sql, params).fetch_all(&mut *conn).await.map_err(StoreError::query)?;
        Ok(rows.iter().map(row_cells).collect())
    }

    /// Runs a statement and hands each row to `each` as it comes, until `each` says stop: one
    /// query for a whole-log reader, in memory one row at a time. The rows are stepped on this
    /// thread through the connection's own handle: handing each row over from sqlx's SQLite
    /// thread cost more than reading it (half of the time went to waking threads). The reader
    /// may take as long as it needs, but SQLite stops the statement when it goes the query
    /// deadline without a row, ten times that before the first (a view that never ends). (On a store in rollback-journal mode,
    /// writers wait while it runs, as they would for any reader; in WAL mode they do not.)
    pub async fn fetch_each<F: FnMut(Vec<Cell>) -> bool>(
        &self,
        sql: &str,
        params: &[Param],
        each: &mut F,
    ) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await.map_err(StoreError::query)?;
        let mut handle = conn.lock_handle().await.map_err(StoreError::query)?;
        let limit = self.query_deadline();
        let started = Instant::now();
        // 1 + milliseconds from `started` to the last row; 0 before the first. The first row may
        // take ten times the deadline (an order no index serves sorts the whole table first).
        let last_row = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let timed_out = Arc::new(AtomicBool::new(false));
        {
            let (last_row, stopped) = (last_row.clone(), timed_out.clone());
            handle.set_progress_handler(10_000, move || {
                let (since, allowed) = match last_row.load(Ordering::Relaxed) {
                    0 => (Duration::ZERO, limit * 10),
                    at => (Duration::from_millis(at - 1), limit),
                };
                if started.elapsed().saturating_sub(since) >= allowed {
                    stopped.store(true, Ordering::SeqCst);
                    return false;
                }
                true
            });
        }
        let db = handle.as_raw_handle().as_ptr();
        let mut counted = |cells: Vec<Cell>| {
            last_row.store(started.elapsed().as_millis() as u64 + 1, Ordering::Relaxed);
            each(cells)
        };
        let mut read = || {
            // SAFETY: the handle is locked for this call (sqlx's thread for it waits), and the
            // statement is finalised before the lock is let go.
            unsafe { step_rows(db, sql, params, &mut counted) }
        };
        // Stepping blocks this thread: on a runtime with other threads, say so, so that other
        // tasks move elsewhere meanwhile.
        let result = match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(read),
            _ => read(),
        };
        handle.remove_progress_handler();
        result.map_err(|e| {
            if timed_out.load(Ordering::SeqCst) {
                StoreError::Query(format!(
                    "the database gave no row for {} ms ({} ms before the first) and the query was stopped (a \
                     view that never ends, or a scan of a very large table); the rows read so far were kept",
                    limit.as_millis(),
                    limit.as_millis() * 10
                ))
            } else {
                e
            }
        })
    }
}

/// Prepares `sql`, binds `params`, and hands each row's cells to `each` until it says stop or
/// the rows end; the statement is finalised whatever happens.
///
/// # Safety
/// `db` must be a valid connection that nothing else uses during the call.
unsafe fn step_rows(
    db: *mut libsqlite3_sys::sqlite3,
    sql: &str,
    params: &[Param],
    each: &mut dyn FnMut(Vec<Cell>) -> bool,
) -> Result<(), StoreError> {
    use libsqlite3_sys as ffi;
    let error = |what: &str| {
        // SAFETY: `db` is valid; the message is copied at once.
        let message = unsafe { std::ffi::CStr::from_ptr(ffi::sqlite3_errmsg(db)) }.to_string_lossy().into_owned();
        StoreError::Query(format!("{what}: {message}"))
    };
    let length = std::ffi::c_int::try_from(sql.len()).map_err(|_| StoreError::Query("the query is too long".into()))?;
    let mut stmt = std::ptr::null_mut();
    // SAFETY: valid handle, text and length; `stmt` is finalised below.
    let rc = unsafe { ffi::sqlite3_prepare_v2(db, sql.as_ptr().cast(), length, &mut stmt, std::ptr::null_mut()) };
    if rc != ffi::SQLITE_OK || stmt.is_null() {
        return Err(error("the query could not be prepared"));
    }
    // SAFETY: `stmt` is a valid statement until it is finalised at the end of this block.
    let result = unsafe {
        (|| {
            for (i, param) in params.iter().enumerate() {
                let at = std::ffi::c_int::try_from(i + 1).unwrap_or(std::ffi::c_int::MAX);
                let rc = match param {
                    Param::Null => ffi::sqlite3_bind_null(stmt, at),
                    Param::Int(v) => ffi::sqlite3_bind_int64(stmt, at, *v),
                    Param::Float(v) => ffi::sqlite3_bind_double(stmt, at, *v),
                    Param::Text(text) => bind_text(stmt, at, text.as_bytes()),
                    Param::Time(t) => bind_text(stmt, at, crate::model::format_time(*t).as_bytes()),
                    Param::Bytes(b) | Param::TextBytes(b) => {
                        let len = std::ffi::c_int::try_from(b.len()).unwrap_or(std::ffi::c_int::MAX);
                        ffi::sqlite3_bind_blob(stmt, at, b.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT())
                    }
                };
                if rc != ffi::SQLITE_OK {
                    return Err(error("a value could not be bound"));
                }
            }
            let columns = ffi::sqlite3_column_count(stmt);
            loop {
                match ffi::sqlite3_step(stmt) {
                    ffi::SQLITE_ROW => {
                        let cells = (0..columns).map(|i| column_cell(stmt, i)).collect();
                        if !each(cells) {
                            return Ok(());
                        }
                    }
                    ffi::SQLITE_DONE => return Ok(()),
                    _ => return Err(error("the query failed")),
                }
            }
        })()
    };
    // SAFETY: prepared above and not used after this.
    unsafe { ffi::sqlite3_finalize(stmt) };
    result
}

/// Binds text (copied by SQLite).
///
/// # Safety
/// `stmt` must be a valid statement.
unsafe fn bind_text(stmt: *mut libsqlite3_sys::sqlite3_stmt, at: std::ffi::c_int, text: &[u8]) -> std::ffi::c_int {
    use libsqlite3_sys as ffi;
    let len = std::ffi::c_int::try_from(text.len()).unwrap_or(std::ffi::c_int::MAX);
    // SAFETY: the pointer and length describe `text`; SQLite copies it (SQLITE_TRANSIENT).
    unsafe { ffi::sqlite3_bind_text(stmt, at, text.as_ptr().cast(), len, ffi::SQLITE_TRANSIENT()) }
}

/// One column of the current row, by its value's type (as [`row_cells`] reads it).
///
/// # Safety
/// `stmt` must be a valid statement positioned on a row, and `i` one of its columns.
unsafe fn column_cell(stmt: *mut libsqlite3_sys::sqlite3_stmt, i: std::ffi::c_int) -> Cell {
    use libsqlite3_sys as ffi;
    // SAFETY: as the function's contract says; pointers read are copied at once.
    unsafe {
        let bytes = |pointer: *const u8| {
            let len = usize::try_from(ffi::sqlite3_column_bytes(stmt, i)).unwrap_or(0);
            if pointer.is_null() || len == 0 { Vec::new() } else { std::slice::from_raw_parts(pointer, len).to_vec() }
        };
        match ffi::sqlite3_column_type(stmt, i) {
            ffi::SQLITE_INTEGER => Cell::Int(ffi::sqlite3_column_int64(stmt, i)),
            ffi::SQLITE_FLOAT => Cell::Float(ffi::sqlite3_column_double(stmt, i)),
            ffi::SQLITE_BLOB => Cell::Bytes(bytes(ffi::sqlite3_column_blob(stmt, i).cast())),
            ffi::SQLITE_TEXT => {
                // Text that is not UTF-8 keeps its bytes (the decoder says what is wrong).
                let raw = bytes(ffi::sqlite3_column_text(stmt, i));
                String::from_utf8(raw).map_or_else(|e| Cell::InvalidText(e.into_bytes()), Cell::Text)
            }
            _ => Cell::Null,
        }
    }
}

/// A statement with its parameters bound (times as eventscope writes them).
fn bound<'q>(sql: &str, params: &[Param]) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for param in params {
        query = match param {
            Param::Null => query.bind(None::<i64>),
            Param::Int(i) => query.bind(*i),
            Param::Float(f) => query.bind(*f),
            Param::Text(s) => query.bind(s.clone()),
            Param::Bytes(b) | Param::TextBytes(b) => query.bind(b.clone()),
            Param::Time(t) => query.bind(crate::model::format_time(*t)),
        };
    }
    query
}

/// How long one of eventscope's own statements may run on SQLite before it is stopped.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(60);

impl SqliteBackend {
    /// Runs a preview query under the guard of `sqlite_guard`: on a fresh read-only connection
    /// of its own (closed afterwards), hardened, with the text checked by SQLite to be one
    /// read-only statement the authorizer allows. A progress handler stops it at the deadline or
    /// when cancelled, and a client-side deadline ends the wait whatever SQLite does.
    pub async fn preview(
        &self,
        query: &str,
        limits: PreviewLimits,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        let work = self.guarded_preview(query, limits, cancel);
        match tokio::time::timeout(limits.timeout + super::CLIENT_GRACE, work).await {
            Ok(result) => result,
            Err(_) if cancel.is_cancelled() => Err(PreviewError::Cancelled),
            Err(_) => Err(PreviewError::Timeout(limits.timeout)),
        }
    }

    async fn guarded_preview(
        &self,
        query: &str,
        limits: PreviewLimits,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        use sqlx::{ConnectOptions as _, Connection as _, Executor as _};
        let started = Instant::now();
        let mut conn = self.options.connect().await.map_err(|e| database_error(e, query))?;
        let deadline = started + limits.timeout;
        let timed_out = Arc::new(AtomicBool::new(false));
        let statement_len = {
            let mut handle = conn.lock_handle().await.map_err(|e| database_error(e, query))?;
            let db = handle.as_raw_handle().as_ptr();
            // SAFETY: the handle is locked: no other thread uses the connection meanwhile.
            unsafe { sqlite_guard::harden(db) }
                .map_err(|e| PreviewError::Refused(format!("{e}: the preview did not run")))?;
            let cancelled = cancel.flag();
            let stopped_by_deadline = timed_out.clone();
            handle.set_progress_handler(1_000, move || {
                if cancelled.load(Ordering::SeqCst) {
                    return false;
                }
                if Instant::now() >= deadline {
                    stopped_by_deadline.store(true, Ordering::SeqCst);
                    return false;
                }
                true
            });
            // SAFETY: as above; the connection was hardened just now.
            unsafe { sqlite_guard::check_statement(db, query) }.map_err(|rejection| match rejection {
                sqlite_guard::Rejection::Refused(reason) => PreviewError::Refused(refusal(&reason)),
                sqlite_guard::Rejection::Invalid { message, offset } => PreviewError::Database {
                    message: format!("the database refused the query: {message}"),
                    position: offset.filter(|o| *o < query.len()),
                },
            })?
        };
        // Only the one statement SQLite compiled runs (a trailing comment is left out).
        let query = &query[..statement_len];
        let result = async {
            let prepared =
                (&mut conn).prepare(sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(query.to_owned()))).await?;
            let mut columns: Vec<ResultColumn> = prepared
                .columns()
                .iter()
                .map(|c| ResultColumn { name: c.name().to_owned(), type_name: c.type_info().name().to_owned() })
                .collect();
            let (rows, truncated) = {
                let stream = sqlx::query(sqlx::AssertSqlSafe(query.to_owned())).fetch(&mut conn);
                super::collect_capped(stream, limits.max_rows, row_cells).await?
            };
            // SQLite types values, not columns: name a column by its values where the table
            // does not declare it.
            for (i, column) in columns.iter_mut().enumerate() {
                if column.type_name == "NULL" {
                    column.type_name = rows
                        .iter()
                        .find_map(|r| match r.get(i) {
                            Some(Cell::Int(_)) => Some("INTEGER"),
                            Some(Cell::Float(_)) => Some("REAL"),
                            Some(Cell::Text(_)) => Some("TEXT"),
                            Some(Cell::Bytes(_)) => Some("BLOB"),
                            _ => None,
                        })
                        .unwrap_or("NULL")
                        .to_owned();
                }
            }
            Ok::<_, sqlx::Error>((columns, rows, truncated))
        }
        .await;
        let _ = conn.close().await;
        match result {
            Ok((columns, rows, truncated)) => Ok(ResultSet { columns, rows, truncated, elapsed: started.elapsed() }),
            Err(_) if cancel.is_cancelled() => Err(PreviewError::Cancelled),
            Err(_) if timed_out.load(Ordering::SeqCst) => Err(PreviewError::Timeout(limits.timeout)),
            Err(e) => Err(database_error(e, query)),
        }
    }
}

/// A refusal of the SQLite guard as the one line the user reads.
fn refusal(reason: &str) -> String {
    format!("refused: {reason} — a preview only reads (one SELECT or WITH), and the store is left unchanged")
}

/// A database error in words, with the position of the token SQLite names (`near "x"`).
fn database_error(e: sqlx::Error, query: &str) -> PreviewError {
    match StoreError::query(e) {
        StoreError::ReadOnly(message) => PreviewError::Refused(message),
        // The authorizer denied something only SQLite's own machinery asked for (a pragma
        // table such as `pragma_table_info`).
        StoreError::Query(message) if message.ends_with("not authorized") => PreviewError::Refused(refusal(
            "the query uses something previews may not (a pragma, another database, or a function outside the \
             read-only set)",
        )),
        other => {
            let message = other.to_string();
            // SQLite names the token, not its place: find it in the query.
            let token = message
                .split_once("near \"")
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(token, _)| token)
                .or_else(|| {
                    ["no such column: ", "no such table: ", "no such function: "]
                        .iter()
                        .find_map(|p| message.split_once(p).map(|(_, rest)| rest.trim()))
                });
            let position = token.filter(|t| !t.is_empty()).and_then(|t| query.find(t));
            PreviewError::Database { message, position }
        }
    }
}

/// The name of the SQL function that folds text to lower case by Unicode's rules (SQLite's own
/// `lower()` folds ASCII only: `ÉCOLE` would not find `école`).
pub const FOLD_FUNCTION: &str = "eventscope_fold";

/// `eventscope_fold(text)`: the text in lower case (Unicode), NULL for NULL; bytes that are
/// not UTF-8 are read with replacement characters.
unsafe extern "C" fn fold_text(
    ctx: *mut libsqlite3_sys::sqlite3_context,
    argc: std::ffi::c_int,
    argv: *mut *mut libsqlite3_sys::sqlite3_value,
) {
    use libsqlite3_sys as ffi;
    if argc != 1 || argv.is_null() {
        // SAFETY: `ctx` is the context SQLite passes.
        unsafe { ffi::sqlite3_result_null(ctx) };
        return;
    }
    // SAFETY: SQLite passes `argc` valid values; the text pointer lives until the next call on
    // the value, and is read right away.
    unsafe {
        let value = *argv;
        let text = ffi::sqlite3_value_text(value);
        if text.is_null() {
            ffi::sqlite3_result_null(ctx);
            return;
        }
        let len = usize::try_from(ffi::sqlite3_value_bytes(value)).unwrap_or(0);
        let bytes = std::slice::from_raw_parts(text, len);
        let folded = String::from_utf8_lossy(bytes).to_lowercase();
        let Ok(folded_len) = std::ffi::c_int::try_from(folded.len()) else {
            ffi::sqlite3_result_null(ctx);
            return;
        };
        ffi::sqlite3_result_text(ctx, folded.as_ptr().cast(), folded_len, ffi::SQLITE_TRANSIENT());
    }
}

/// Registers [`FOLD_FUNCTION`] on a connection of the store's pool.
///
/// # Safety
/// `db` must be an open connection no other thread uses meanwhile.
unsafe fn register_fold(db: *mut libsqlite3_sys::sqlite3) {
    use libsqlite3_sys as ffi;
    let Ok(name) = std::ffi::CString::new(FOLD_FUNCTION) else {
        return;
    };
    // SAFETY: valid handle and name; the function keeps no user data.
    unsafe {
        ffi::sqlite3_create_function_v2(
            db,
            name.as_ptr(),
            1,
            ffi::SQLITE_UTF8 | ffi::SQLITE_DETERMINISTIC | ffi::SQLITE_INNOCUOUS,
            std::ptr::null_mut(),
            Some(fold_text),
            None,
            None,
            None,
        );
    }
}

/// Decodes a row by each value's runtime type.
pub fn row_cells(row: &SqliteRow) -> Vec<Cell> {
    (0..row.len())
        .map(|i| {
            let Ok(raw) = row.try_get_raw(i) else {
                return Cell::Null;
            };
            if raw.is_null() {
                return Cell::Null;
            }
            let type_name = raw.type_info().name().to_owned();
            match type_name.as_str() {
                "INTEGER" | "BOOLEAN" => row.try_get_unchecked::<i64, _>(i).map(Cell::Int),
                "REAL" | "NUMERIC" => row.try_get_unchecked::<f64, _>(i).map(Cell::Float),
                "BLOB" => row.try_get_unchecked::<Vec<u8>, _>(i).map(Cell::Bytes),
                // Text that is not UTF-8 keeps its bytes (the decoder says what is wrong).
                _ => row
                    .try_get_unchecked::<String, _>(i)
                    .map(Cell::Text)
                    .or_else(|_| row.try_get_unchecked::<Vec<u8>, _>(i).map(Cell::InvalidText)),
            }
            .unwrap_or(Cell::Null)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_mode_table() {
        let facts = |wal_mode, wal_len: Option<u64>, shm_exists| FileFacts {
            wal_mode,
            wal_exists: wal_len.is_some(),
            wal_has_content: wal_len.unwrap_or(0) > 0,
            shm_exists,
            journal_has_content: false,
        };
        assert_eq!(open_mode(facts(false, None, false)), OpenMode::ReadOnly);
        assert_eq!(open_mode(facts(true, None, false)), OpenMode::Immutable);
        assert_eq!(open_mode(facts(true, Some(0), false)), OpenMode::Immutable);
        assert_eq!(open_mode(facts(true, None, true)), OpenMode::Immutable);
        // A writer that has the file open but has not written yet: its WAL is empty.
        assert_eq!(open_mode(facts(true, Some(0), true)), OpenMode::ReadOnlyWal);
        assert_eq!(open_mode(facts(true, Some(4096), true)), OpenMode::ReadOnlyWal);
        assert_eq!(open_mode(facts(true, Some(4096), false)), OpenMode::PrivateCopy);
        let hot = FileFacts { journal_has_content: true, ..facts(false, None, false) };
        assert_eq!(open_mode(hot), OpenMode::RolledBackCopy);
    }

    #[test]
    fn uri_paths_are_percent_encoded() {
        assert_eq!(uri_path(Path::new("/tmp/a b/x?y#z.db")), "/tmp/a%20b/x%3Fy%23z.db");
    }
}
