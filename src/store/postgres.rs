//! PostgreSQL backend: connects with a read-only session (`default_transaction_read_only`), a
//! connect timeout and TLS as the URL's `sslmode` asks; reads the catalog; runs statements into
//! backend-neutral cells; runs previews under `pg_guard` on sessions of their own. The password
//! never leaves this module: errors are scrubbed of it.

use std::str::FromStr;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgValueFormat};
use sqlx::{Column as _, ConnectOptions, Connection, Executor as _, Row, Statement as _, TypeInfo, ValueRef};

use super::cell::{Cell, Param};
use super::layout::{Catalog, CatalogColumn, CatalogTable};
use super::pg_guard;
use super::result::{PreviewError, PreviewLimits, PreviewPermissions, ResultColumn, ResultSet};
use super::{CancelToken, StoreError};

/// How long connecting may take before the user is told the server does not answer.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's `statement_timeout` for eventscope's own statements (previews set their own).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the client waits for one of its statements before giving up on the server.
pub const QUERY_DEADLINE: Duration = Duration::from_secs(STATEMENT_TIMEOUT.as_secs() + 5);

/// The password in a URL, if any (percent-decoded and raw), so errors can be scrubbed of it.
fn passwords(url: &str) -> Vec<String> {
    let mut found = Vec::new();
    for password in super::url_parts(url).map(|parts| parts.passwords()).unwrap_or_default() {
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned();
        found.push(password.to_owned());
        if decoded != password && !decoded.is_empty() {
            found.push(decoded);
        }
    }
    found
}

/// Replaces the URL's password by `***` wherever it appears in `text`.
pub fn scrub(text: &str, url: &str) -> String {
    passwords(url).iter().fold(text.to_owned(), |t, p| t.replace(p.as_str(), "***"))
}

/// An open PostgreSQL store.
pub struct PgBackend {
    pub pool: PgPool,
    /// How the pool's sessions connect: each preview opens a session of its own like them.
    options: PgConnectOptions,
    url: String,
    /// How long the client waits for one of its statements (milliseconds).
    deadline_ms: std::sync::atomic::AtomicU64,
}

pub async fn connect(url: &str, shown: &str) -> Result<PgBackend, StoreError> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| {
            // (sqlx says "error with configuration:" twice.)
            let why = scrub(&e.to_string(), url).replace("error with configuration: error with configuration: ", "");
            StoreError::BadUrl(format!("{shown} is not a valid PostgreSQL URL: {why}"))
        })?
        .application_name("eventscope")
        // Read-only sessions; standard strings, so that the server reads a preview's text the
        // way the parser that checked it did.
        .options([
            ("default_transaction_read_only", "on"),
            ("statement_timeout", &STATEMENT_TIMEOUT.as_millis().to_string()),
            ("standard_conforming_strings", "on"),
        ]);
    let host = format!("{}:{}", options.get_host(), options.get_port());
    let no_answer = || {
        StoreError::Connect(format!(
            "no answer from the PostgreSQL server at {host} within {} s: check that it is running and \
             reachable, and the host and port in the URL",
            CONNECT_TIMEOUT.as_secs()
        ))
    };
    // One direct connection first: a refused connection or a wrong password is reported at
    // once, instead of being retried by the pool until its time-out.
    match tokio::time::timeout(CONNECT_TIMEOUT, options.connect()).await {
        Err(_) => return Err(no_answer()),
        Ok(Err(e)) => return Err(StoreError::Connect(connect_error(&e, &host, url))),
        Ok(Ok(conn)) => {
            let _ = conn.close().await;
        }
    }
    let connecting = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(CONNECT_TIMEOUT)
        .after_connect(|conn, _| Box::pin(async move { watch_for_a_lost_client(conn).await }))
        .connect_with(options.clone());
    let pool = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => return Err(no_answer()),
        Ok(Err(e)) => return Err(StoreError::Connect(connect_error(&e, &host, url))),
        Ok(Ok(pool)) => pool,
    };
    let deadline_ms = std::sync::atomic::AtomicU64::new(QUERY_DEADLINE.as_millis() as u64);
    Ok(PgBackend { pool, options, url: url.to_owned(), deadline_ms })
}

/// Has the server check, every second while one of this session's statements runs, that
/// eventscope is still connected, and stop the statement when it is not (PostgreSQL 14 and
/// later: `client_connection_check_interval`). Without it a statement whose client is gone —
/// Ctrl-C, a closed window, a crash — runs on until it has rows to send: a sort of a whole
/// table, for minutes. (Older servers do not know the setting: it is not set there.)
async fn watch_for_a_lost_client(conn: &mut sqlx::PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query(
        "SELECT pg_catalog.set_config('client_connection_check_interval', '1000', false) \
         WHERE pg_catalog.current_setting('server_version_num')::int >= 140000",
    )
    .execute(conn)
    .await
    .map(|_| ())
}

fn connect_error(e: &sqlx::Error, host: &str, url: &str) -> String {
    let detail = match e {
        sqlx::Error::Database(db) => scrub(db.message(), url),
        other => scrub(&other.to_string(), url),
    };
    let detail = super::clean_message(&detail);
    let tls_words = ["certificate", "tls", "ssl", "handshake", "unknownissuer"];
    let about_tls = tls_words.iter().any(|w| detail.to_ascii_lowercase().contains(w));
    let advice = match e {
        sqlx::Error::Io(_) | sqlx::Error::Configuration(_) if about_tls => {
            "the secure connection (TLS) failed: check `sslmode`, `sslrootcert` and the server's certificate in \
             the URL"
                .to_owned()
        }
        sqlx::Error::Io(_) => format!(
            "cannot reach the PostgreSQL server at {host}: check that it is running and the host and port in the URL"
        ),
        sqlx::Error::Tls(_) => {
            "the TLS handshake failed: check `sslmode` in the URL (disable, prefer, require, verify-full)".to_owned()
        }
        sqlx::Error::PoolTimedOut => {
            format!("no answer from the PostgreSQL server at {host}: check that it is running and reachable")
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("28P01") || db.code().as_deref() == Some("28000") => {
            "the server refused the user name or password in the URL".to_owned()
        }
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => {
            "the database named in the URL does not exist on that server".to_owned()
        }
        _ => "could not connect".to_owned(),
    };
    if detail.starts_with("(the database gave no reason") { advice } else { format!("{advice} ({detail})") }
}

impl PgBackend {
    pub async fn catalog(&self) -> Result<Catalog, StoreError> {
        let rows = self
            .fetch(
                "SELECT c.table_schema::text, c.table_name::text, c.column_name::text, \
                 CASE WHEN c.data_type = 'USER-DEFINED' THEN c.udt_name::text ELSE c.data_type::text END \
                 FROM information_schema.columns c \
                 WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') \
                 AND c.table_schema NOT LIKE 'pg_toast%' \
                 ORDER BY c.table_schema, c.table_name, c.ordinal_position",
                &[],
            )
            .await?;
        let mut catalog = Catalog::default();
        for row in rows {
            let text = |i: usize| row.get(i).and_then(Cell::as_text).unwrap_or_default();
            let (schema, table) = (text(0), text(1));
            let column = CatalogColumn { name: text(2), type_name: text(3) };
            match catalog.tables.last_mut() {
                Some(last) if last.schema.as_deref() == Some(schema.as_str()) && last.name == table => {
                    last.columns.push(column)
                }
                _ => catalog.tables.push(CatalogTable { schema: Some(schema), name: table, columns: vec![column] }),
            }
        }
        Ok(catalog)
    }

    fn error(&self, e: sqlx::Error) -> StoreError {
        match StoreError::query(e) {
            StoreError::ReadOnly(m) => StoreError::ReadOnly(scrub(&m, &self.url)),
            other => StoreError::Query(scrub(&other.to_string(), &self.url)),
        }
    }

    /// Runs one of eventscope's own statements. The server stops it at `statement_timeout`;
    /// the client gives up a little later whatever the server does (one that stops answering
    /// must not hang the window or the command line).
    pub async fn fetch(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let limit = self.query_deadline();
        match tokio::time::timeout(limit, self.fetch_unbounded(sql, params)).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Query(format!(
                "the PostgreSQL server did not answer within {} ms: it may be overloaded, waiting on a lock or \
                 unreachable; try again",
                limit.as_millis()
            ))),
        }
    }

    /// How long the client waits for one of its statements.
    pub fn query_deadline(&self) -> Duration {
        Duration::from_millis(self.deadline_ms.load(std::sync::atomic::Ordering::Relaxed))
    }

    pub fn set_query_deadline(&self, limit: Duration) {
        self.deadline_ms.store(limit.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    async fn fetch_unbounded(&self, sql: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let rows = bound(sql, params).fetch_all(&self.pool).await.map_err(|e| self.error(e))?;
        Ok(rows.iter().map(row_cells).collect())
    }

    /// Runs a statement and hands each row to `each` as it comes, until `each` says stop: one
    /// query for a whole-log reader, streamed by the server (only the rows in flight are in
    /// memory), in a read-only transaction without the statement time-out (a sort of the whole
    /// table may take minutes). The client still gives up when the server sends nothing for
    /// ten times the usual deadline before the first row, or the usual deadline after it.
    pub async fn fetch_each<F: FnMut(Vec<Cell>) -> bool>(
        &self,
        sql: &str,
        params: &[Param],
        each: &mut F,
    ) -> Result<(), StoreError> {
        use futures_util::TryStreamExt as _;
        let conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
        let mut session = StreamedSession { conn: Some(conn), pool: self.pool.clone(), pid: None, read_to_end: false };
        let silent = |limit: Duration| {
            StoreError::Query(format!(
                "the PostgreSQL server sent nothing for {} s: it may be overloaded or unreachable; the rows \
                 read so far were kept",
                limit.as_secs()
            ))
        };
        let mut result = Ok(());
        {
            let Some(conn) = session.conn.as_mut() else { unreachable!("the session holds its connection") };
            let mut tx = conn.begin().await.map_err(|e| self.error(e))?;
            // (`SET LOCAL`, and the session's server process, in one round trip.)
            let pid = sqlx::query_scalar("SELECT pg_backend_pid() FROM set_config('statement_timeout', '0', true)")
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| self.error(e))?;
            session.pid = Some(pid);
            {
                let mut rows = bound(sql, params).fetch(&mut *tx);
                let mut wait = self.query_deadline() * 10;
                loop {
                    match tokio::time::timeout(wait, rows.try_next()).await {
                        Err(_) => {
                            result = Err(silent(wait));
                            break;
                        }
                        Ok(Err(e)) => {
                            result = Err(self.error(e));
                            session.read_to_end = true;
                            break;
                        }
                        Ok(Ok(None)) => {
                            session.read_to_end = true;
                            break;
                        }
                        Ok(Ok(Some(row))) => {
                            if !each(row_cells(&row)) {
                                break;
                            }
                        }
                    }
                    wait = self.query_deadline();
                }
            }
            if session.read_to_end {
                let _ = tx.rollback().await;
            }
        }
        session.end().await;
        result
    }

    /// Runs a statement inside a transaction that is always rolled back.
    pub async fn fetch_rolled_back(&self, sql: &str) -> Result<Vec<Vec<Cell>>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(|e| self.error(e))?;
        let result = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&mut *tx).await;
        let _ = tx.rollback().await;
        let rows = result.map_err(|e| self.error(e))?;
        Ok(rows.iter().map(row_cells).collect())
    }
}

/// The session a whole-log statement streams on ([`PgBackend::fetch_each`]). When the reading
/// stops before the last row — the reader has enough, the server went silent, or the future
/// reading it was dropped (a cancel) — the server would go on sorting and sending the rest for
/// minutes, and handing the session back to the pool would first read all of it. Instead the
/// session is closed and its statement cancelled (`pg_cancel_backend`, allowed on one's own
/// sessions); it never goes back to the pool, where a late cancel could hit its next statement.
struct StreamedSession {
    conn: Option<sqlx::pool::PoolConnection<sqlx::Postgres>>,
    pool: PgPool,
    /// The session's server process, once known.
    pid: Option<i32>,
    read_to_end: bool,
}

impl StreamedSession {
    /// Ends the session: back to the pool when it was read to the end, otherwise closed with its
    /// statement cancelled (waited for, briefly, so that what runs next does not share the
    /// server with it).
    async fn end(mut self) {
        if self.read_to_end {
            return;
        }
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
        self.read_to_end = true;
        if let Some(pid) = self.pid {
            cancel_backend_briefly(&self.pool, pid).await;
        }
    }
}

impl Drop for StreamedSession {
    fn drop(&mut self) {
        if self.read_to_end {
            return;
        }
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
        if let (Ok(runtime), Some(pid)) = (tokio::runtime::Handle::try_current(), self.pid) {
            let pool = self.pool.clone();
            runtime.spawn(async move { cancel_backend_briefly(&pool, pid).await });
        }
    }
}

/// Asks the server to cancel the statement of process `pid`, waiting at most two seconds for a
/// session to ask it on (the server may be the one that went silent).
async fn cancel_backend_briefly(pool: &PgPool, pid: i32) {
    let cancel = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(pool);
    let _ = tokio::time::timeout(Duration::from_secs(2), cancel).await;
}

/// A statement with its parameters bound.
fn bound<'q>(sql: &str, params: &[Param]) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for param in params {
        query = match param {
            Param::Null => query.bind(None::<String>),
            Param::Int(i) => query.bind(*i),
            Param::Float(f) => query.bind(*f),
            Param::Text(s) => query.bind(s.clone()),
            Param::Bytes(b) | Param::TextBytes(b) => query.bind(b.clone()),
            Param::Time(t) => query.bind(*t),
        };
    }
    query
}

impl PgBackend {
    /// What the connected role may do (see `pg_guard::RolePrivileges`); `events_table` is the
    /// layout's table as SQL.
    pub async fn read_role(&self, events_table: &str) -> Result<pg_guard::RolePrivileges, StoreError> {
        let read = async {
            let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
            pg_guard::read_role(&mut conn, events_table).await.map_err(|e| self.error(e))
        };
        tokio::time::timeout(QUERY_DEADLINE, read)
            .await
            .unwrap_or_else(|_| Err(StoreError::Query("the PostgreSQL server did not answer".to_owned())))
    }

    /// Whether reading the layout's relations (`tables`, as SQL names) would call a function a
    /// preview could not (a planted view, policy or type): the message says which.
    pub async fn check_layout(&self, tables: &[String]) -> Result<(), StoreError> {
        let check = async {
            let mut conn = self.pool.acquire().await.map_err(|e| self.error(e))?;
            let mut tx = conn.begin().await.map_err(|e| self.error(e))?;
            let outcome = pg_guard::check_relations(&mut tx, tables, &Default::default()).await;
            let _ = tx.rollback().await;
            match outcome {
                Ok(()) => Ok(()),
                Err(pg_guard::CatalogRefusal::Function(refused)) => Err(StoreError::Open(refused.message)),
                Err(pg_guard::CatalogRefusal::Database(e)) => Err(self.error(e)),
            }
        };
        tokio::time::timeout(self.query_deadline(), check)
            .await
            .unwrap_or_else(|_| Err(StoreError::Query("the PostgreSQL server did not answer".to_owned())))
    }

    /// Runs a preview query under the guard of `pg_guard`: the text is read by PostgreSQL's
    /// parser and every function it can reach is checked in the server's catalog; it then runs
    /// on a fresh session of its own (read-only, closed afterwards) in a `READ ONLY`
    /// transaction that is always rolled back, with `statement_timeout`, a client-side deadline
    /// and the row cap. The rows arrive as text (so any type can be shown). The session's
    /// server process is recorded in `cancel` so it can be cancelled.
    pub async fn preview(
        &self,
        query: &str,
        limits: PreviewLimits,
        permissions: &PreviewPermissions,
        role: Option<&pg_guard::RolePrivileges>,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        if let Some(role) = role.filter(|r| r.is_privileged())
            && !permissions.privileged_role
        {
            return Err(PreviewError::PrivilegedRole { summary: role.summary() });
        }
        let analysis = analyse_with_room(query).await?;
        let work = self.guarded_preview(query, analysis, limits, permissions, cancel);
        // A cancel stops the preview wherever it is: the server's cancel only reaches a
        // statement that is running, so the session is also dropped (with the future), and a
        // cancel that came before the query began is not lost.
        let outcome = tokio::select! {
            outcome = tokio::time::timeout(limits.timeout + super::CLIENT_GRACE, work) => outcome,
            () = cancel.cancelled() => {
                if let Some(pid) = cancel.backend_pid() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.cancel_backend(pid)).await;
                }
                return Err(PreviewError::Cancelled);
            }
        };
        match outcome {
            Ok(result) => result,
            Err(_) => {
                // The session is dropped with the future; the server is asked to stop too.
                if let Some(pid) = cancel.backend_pid() {
                    let _ = tokio::time::timeout(Duration::from_secs(2), self.cancel_backend(pid)).await;
                }
                Err(if cancel.is_cancelled() {
                    PreviewError::Cancelled
                } else {
                    PreviewError::Database {
                        message: format!(
                            "the server did not answer within {} ms: it may be overloaded or unreachable; \
                             the preview was abandoned, try again",
                            (limits.timeout + super::CLIENT_GRACE).as_millis()
                        ),
                        position: None,
                    }
                })
            }
        }
    }

    async fn guarded_preview(
        &self,
        query: &str,
        analysis: Result<pg_guard::QueryFacts, String>,
        limits: PreviewLimits,
        permissions: &PreviewPermissions,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        let started = Instant::now();
        let fail = |e: sqlx::Error| self.preview_error(e, query, limits, cancel);
        let mut conn = self.options.connect().await.map_err(fail)?;
        watch_for_a_lost_client(&mut conn).await.map_err(fail)?;
        let result = async {
            let mut tx = conn.begin().await.map_err(fail)?;
            let outcome = async {
                sqlx::raw_sql("SET TRANSACTION READ ONLY").execute(&mut *tx).await.map_err(fail)?;
                let timeout = format!("SET LOCAL statement_timeout = {}", limits.timeout.as_millis().max(1));
                sqlx::raw_sql(sqlx::AssertSqlSafe(timeout)).execute(&mut *tx).await.map_err(fail)?;
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *tx).await.map_err(fail)?;
                cancel.set_backend_pid(pid);
                let statement = || sqlx::SqlSafeStr::into_sql_str(sqlx::AssertSqlSafe(query.to_owned()));
                let facts = match analysis {
                    Ok(facts) => facts,
                    Err(message) => {
                        // The server places the syntax error: preparing runs nothing.
                        (&mut *tx).prepare(statement()).await.map_err(fail)?;
                        return Err(PreviewError::Refused(refusal(&format!(
                            "PostgreSQL's parser cannot read it: {message}"
                        ))));
                    }
                };
                match pg_guard::check_catalog(&mut tx, &facts, &permissions.allowed_functions).await {
                    Ok(()) => {}
                    Err(pg_guard::CatalogRefusal::Database(e)) => return Err(fail(e)),
                    Err(pg_guard::CatalogRefusal::Function(refused)) => {
                        let message = refusal(&refused.message);
                        return Err(match refused.allow_name {
                            Some(function) => PreviewError::FunctionNotAllowed { function, message },
                            None => PreviewError::Refused(message),
                        });
                    }
                }
                // The server prepares the one statement (a second would be refused here too).
                let prepared = (&mut *tx).prepare(statement()).await.map_err(fail)?;
                let columns: Vec<ResultColumn> = prepared
                    .columns()
                    .iter()
                    .map(|c| ResultColumn { name: c.name().to_owned(), type_name: c.type_info().name().to_owned() })
                    .collect();
                // The simple protocol: every value comes as text, whatever its type.
                let stream = sqlx::raw_sql(sqlx::AssertSqlSafe(query.to_owned())).fetch(&mut *tx);
                let (rows, truncated) =
                    super::collect_capped(stream, limits.max_rows, row_cells).await.map_err(fail)?;
                Ok((columns, rows, truncated))
            }
            .await;
            let _ = tx.rollback().await;
            outcome
        }
        .await;
        let _ = conn.close().await;
        let (columns, rows, truncated) = result?;
        Ok(ResultSet { columns, rows, truncated, elapsed: started.elapsed() })
    }

    fn preview_error(&self, e: sqlx::Error, query: &str, limits: PreviewLimits, cancel: &CancelToken) -> PreviewError {
        if let sqlx::Error::Database(db) = &e {
            if db.code().as_deref() == Some("57014") {
                return if cancel.is_cancelled() {
                    PreviewError::Cancelled
                } else {
                    PreviewError::Timeout(limits.timeout)
                };
            }
            let position =
                db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().and_then(|pg| match pg.position() {
                    Some(sqlx::postgres::PgErrorPosition::Original(p)) => Some(p),
                    _ => None,
                });
            let message = scrub(&format!("the database refused the query: {}", db.message()), &self.url);
            if let StoreError::ReadOnly(message) = self.error(e) {
                return PreviewError::Refused(message);
            }
            // PostgreSQL counts characters from 1; positions here are byte offsets.
            let position = position.and_then(|p| query.char_indices().nth(p.saturating_sub(1)).map(|(byte, _)| byte));
            return PreviewError::Database { message, position };
        }
        PreviewError::Database { message: self.error(e).to_string(), position: None }
    }

    /// Asks the server to cancel the statement running in process `pid`.
    pub async fn cancel_backend(&self, pid: i32) {
        let _ = sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(&self.pool).await;
    }
}

/// Reads a preview's text with PostgreSQL's parser on a thread with a large stack (a parse tree
/// is as deep as the query nests). A refusal is final; a syntax error is left for the server to
/// place (`Err(message)` inside `Ok`).
async fn analyse_with_room(query: &str) -> Result<Result<pg_guard::QueryFacts, String>, PreviewError> {
    let text = query.to_owned();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new().name("sql-parser".into()).stack_size(64 << 20).spawn(move || {
        let outcome = std::panic::catch_unwind(|| pg_guard::analyse(&text));
        let _ = tx.send(outcome);
    });
    if spawned.is_err() {
        return Err(PreviewError::Refused("the SQL parser could not be started: the preview did not run".to_owned()));
    }
    match rx.await {
        Ok(Ok(Ok(facts))) => Ok(Ok(facts)),
        Ok(Ok(Err(pg_guard::Rejection::Syntax(message)))) => Ok(Err(message)),
        Ok(Ok(Err(pg_guard::Rejection::Refused(reason)))) => Err(PreviewError::Refused(refusal(&reason))),
        _ => Err(PreviewError::Refused("the SQL parser failed on this text: the preview did not run".to_owned())),
    }
}

/// A refusal of the PostgreSQL guard as the one line the user reads.
fn refusal(reason: &str) -> String {
    format!("refused: {reason} — a preview only reads (one SELECT or WITH), and the store is left unchanged")
}

/// Decodes a row by each column's type.
pub fn row_cells(row: &PgRow) -> Vec<Cell> {
    (0..row.len()).map(|i| cell(row, i)).collect()
}

fn cell(row: &PgRow, i: usize) -> Cell {
    let Ok(raw) = row.try_get_raw(i) else {
        return Cell::Null;
    };
    if raw.is_null() {
        return Cell::Null;
    }
    let type_name = raw.type_info().name().to_owned();
    let text_format = raw.format() == PgValueFormat::Text;
    let decoded = match type_name.as_str() {
        _ if text_format => raw.as_str().ok().map(|s| text_cell(&type_name, s)),
        "BOOL" => row.try_get::<bool, _>(i).map(Cell::Bool).ok(),
        "INT2" => row.try_get::<i16, _>(i).map(|v| Cell::Int(v.into())).ok(),
        "INT4" => row.try_get::<i32, _>(i).map(|v| Cell::Int(v.into())).ok(),
        "INT8" => row.try_get::<i64, _>(i).map(Cell::Int).ok(),
        "FLOAT4" => row.try_get::<f32, _>(i).map(|v| Cell::Float(v.into())).ok(),
        "FLOAT8" => row.try_get::<f64, _>(i).map(Cell::Float).ok(),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" | "UNKNOWN" => {
            row.try_get::<String, _>(i).map(Cell::Text).ok()
        }
        "BYTEA" => row.try_get::<Vec<u8>, _>(i).map(Cell::Bytes).ok(),
        // Times are decoded here, not by the driver, whose conversion panics on `infinity` and
        // on times chrono cannot hold: those come out as text (and are marked as not a time).
        "TIMESTAMPTZ" | "TIMESTAMP" => {
            raw.as_bytes().ok().and_then(|b| Some(timestamp_cell(i64::from_be_bytes(b.try_into().ok()?))))
        }
        "DATE" => raw.as_bytes().ok().and_then(|b| Some(date_cell(i32::from_be_bytes(b.try_into().ok()?)))),
        "JSON" => raw.as_bytes().ok().map(|b| Cell::Text(String::from_utf8_lossy(b).into_owned())),
        // Binary JSONB is a version byte (1) followed by the JSON text.
        "JSONB" => raw
            .as_bytes()
            .ok()
            .map(|b| Cell::Text(String::from_utf8_lossy(b.get(1..).unwrap_or_default()).into_owned())),
        "UUID" => raw.as_bytes().ok().map(|b| Cell::Text(format_uuid(b))),
        "NUMERIC" => raw.as_bytes().ok().and_then(numeric_text).map(Cell::Decimal),
        _ => None,
    };
    decoded.unwrap_or_else(|| Cell::Text(format!("<{type_name} value>")))
}

/// Microseconds from 1970 to 2000-01-01, PostgreSQL's epoch for binary times.
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A binary `timestamp[tz]` (microseconds since 2000): a time, or text for `infinity`,
/// `-infinity` and times beyond what chrono holds.
fn timestamp_cell(micros: i64) -> Cell {
    match micros {
        i64::MAX => Cell::Text("infinity".to_owned()),
        i64::MIN => Cell::Text("-infinity".to_owned()),
        _ => micros
            .checked_add(PG_EPOCH_MICROS)
            .and_then(DateTime::from_timestamp_micros)
            .map_or_else(|| Cell::Text(format!("{micros} µs after 2000-01-01")), Cell::Time),
    }
}

/// A binary `date` (days since 2000-01-01), likewise.
fn date_cell(days: i32) -> Cell {
    match days {
        i32::MAX => Cell::Text("infinity".to_owned()),
        i32::MIN => Cell::Text("-infinity".to_owned()),
        _ => NaiveDate::from_ymd_opt(2000, 1, 1)
            .and_then(|epoch| epoch.checked_add_signed(chrono::TimeDelta::try_days(days.into())?))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map_or_else(|| Cell::Text(format!("{days} days after 2000-01-01")), |t| Cell::Time(t.and_utc())),
    }
}

/// A value PostgreSQL sent as text, typed by its column's type.
fn text_cell(type_name: &str, text: &str) -> Cell {
    let parsed = match type_name {
        "INT2" | "INT4" | "INT8" | "OID" => text.parse().ok().map(Cell::Int),
        "FLOAT4" | "FLOAT8" => text.parse().ok().map(Cell::Float),
        "NUMERIC" => Some(Cell::Decimal(text.to_owned())),
        "BOOL" => Some(Cell::Bool(text == "t")),
        "JSON" | "JSONB" => Some(Cell::Json(text.to_owned())),
        "TIMESTAMPTZ" | "TIMESTAMP" => super::cell::parse_time(text).map(Cell::Time),
        "BYTEA" => text.strip_prefix("\\x").and_then(|hex| {
            (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect::<Option<Vec<u8>>>()
                .map(Cell::Bytes)
        }),
        _ => None,
    };
    parsed.unwrap_or_else(|| Cell::Text(text.to_owned()))
}

/// A binary `numeric` as decimal text: digit count, weight, sign, scale, then base-10000 digits.
fn numeric_text(bytes: &[u8]) -> Option<String> {
    let word = |i: usize| bytes.get(2 * i..2 * i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let (count, weight, sign, scale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)? as usize);
    match sign {
        0xC000 => return Some("NaN".to_owned()),
        0xD000 => return Some("Infinity".to_owned()),
        0xF000 => return Some("-Infinity".to_owned()),
        _ => {}
    }
    let digits: Vec<u16> = (0..count).map(|i| word(4 + i)).collect::<Option<_>>()?;
    // Integer part: groups with weight >= 0; fraction: the rest, then cut to the scale.
    let mut integer = String::new();
    for w in 0..=weight.max(-1) {
        let group = digits.get(w as usize).copied().unwrap_or(0);
        if integer.is_empty() { integer = group.to_string() } else { integer.push_str(&format!("{group:04}")) }
    }
    if integer.is_empty() {
        integer.push('0');
    }
    let mut fraction = String::new();
    let first_fraction_group = (weight + 1).max(0) as usize;
    for i in 0..(-(weight + 1)).max(0) as usize {
        let _ = i;
        fraction.push_str("0000");
    }
    for group in digits.iter().skip(first_fraction_group) {
        fraction.push_str(&format!("{group:04}"));
    }
    while fraction.len() < scale {
        fraction.push('0');
    }
    fraction.truncate(scale);
    let sign = if sign == 0x4000 { "-" } else { "" };
    Some(if scale > 0 { format!("{sign}{integer}.{fraction}") } else { format!("{sign}{integer}") })
}

fn format_uuid(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if hex.len() != 32 {
        return hex;
    }
    format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_scrubbed_raw_and_decoded() {
        let url = "postgres://bob:s%40cret@db.example:5432/app";
        assert_eq!(scrub("failed for s@cret and s%40cret", url), "failed for *** and ***");
        assert_eq!(scrub("nothing", "postgres://bob@host/app"), "nothing");
        assert_eq!(passwords("postgres://u:p@h/d?x=a@b"), vec!["p".to_owned()]);
        assert_eq!(scrub("bad: hunter2", "postgres://u@h/d?password=hunter2"), "bad: ***");
    }

    #[test]
    fn binary_numerics_read_as_decimal_text() {
        let numeric = |words: &[u16]| words.iter().flat_map(|w| w.to_be_bytes()).collect::<Vec<u8>>();
        // 1849.5: 2 digits, weight 0, positive, scale 1: [1849, 5000]
        assert_eq!(numeric_text(&numeric(&[2, 0, 0, 1, 1849, 5000])).as_deref(), Some("1849.5"));
        // -12345678.9 : [1234, 5678, 9000], weight 1
        assert_eq!(numeric_text(&numeric(&[3, 1, 0x4000, 1, 1234, 5678, 9000])).as_deref(), Some("-12345678.9"));
        // 0.0042: weight -1, [42], scale 4
        assert_eq!(numeric_text(&numeric(&[1, 0xFFFF, 0, 4, 42])).as_deref(), Some("0.0042"));
        assert_eq!(numeric_text(&numeric(&[0, 0, 0, 0])).as_deref(), Some("0"));
        assert_eq!(numeric_text(&numeric(&[1, 2, 0, 0, 7])).as_deref(), Some("700000000"));
    }

    #[test]
    fn uuids_are_formatted() {
        let bytes: Vec<u8> = (0..16).collect();
        assert_eq!(format_uuid(&bytes), "00010203-0405-0607-0809-0a0b0c0d0e0f");
    }
}
