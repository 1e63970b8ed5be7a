//! Store access through sqlx. The backend (SQLite file or PostgreSQL URL) is chosen once from
//! what the user gives ([`Target`]); the layout is recognised from the catalog; every query is
//! built from the layout (`query.rs`), paged by keyset, and decoded into [`Event`]s here.
//! Nothing in this module writes: SQLite files are opened read-only, PostgreSQL sessions are
//! read-only. A preview's SQL (the only text a user gives) passes the guard of its backend —
//! SQLite's authorizer (`sqlite_guard`), PostgreSQL's parser and catalog (`pg_guard`) — and runs
//! on a session of its own that is closed afterwards.

pub mod audit;
pub mod cell;
pub mod decode;
mod detect;
pub mod layout;
pub mod pg_guard;
pub mod postgres;
pub mod query;
pub mod result;
pub mod sqlite;
pub mod sqlite_guard;

use std::path::PathBuf;

use crate::model::{Event, Payload, StreamId, StreamSummary, Version};
use cell::{Cell, Param};
use layout::{Catalog, Layout};
use query::{Dialect, KeysetCursor, LogCursor, Sql, StreamCursor, StreamQuery, StreamSort};
use result::{PreviewError, PreviewLimits, PreviewPermissions, ResultSet};

/// What went wrong, in words a person can act on. Messages never contain a password.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Open(String),
    #[error("{0}")]
    BadUrl(String),
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    NotAnEventStore(String),
    #[error("{0}")]
    Query(String),
    #[error("{0}")]
    UnknownStream(String),
    #[error("{0}")]
    ReadOnly(String),
}

impl StoreError {
    /// Classifies a query error; a write refused by the read-only session says so.
    pub fn query(e: sqlx::Error) -> StoreError {
        if let sqlx::Error::Database(db) = &e {
            let code = db.code().unwrap_or_default();
            let message = clean_message(db.message());
            // SQLite: 8 = SQLITE_READONLY (and its extended codes end in 8); PostgreSQL: 25006.
            if code == "25006" || code == "8" || db.message().contains("readonly database") {
                return StoreError::ReadOnly(format!("the store is open read-only and is never written to: {message}"));
            }
            // PostgreSQL's "operator intervention": the server is shutting down or restarting,
            // or an administrator ended the session; the query itself was not at fault.
            if matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "57P05") {
                return StoreError::Query(format!(
                    "the PostgreSQL server stopped the query because it is shutting down or restarting, or an \
                     administrator ended the session ({message}); what was read before it stopped is incomplete: \
                     try again when the server is back"
                ));
            }
            return StoreError::Query(format!("the database refused the query: {message}"));
        }
        match e {
            sqlx::Error::PoolTimedOut => StoreError::Query(
                "the database did not give a working connection in time: the server may be down, overloaded, or \
                 answering with something that is not PostgreSQL; try again"
                    .to_owned(),
            ),
            sqlx::Error::Protocol(_) | sqlx::Error::Decode(_) => StoreError::Query(format!(
                "the database answered with something eventscope cannot read ({}): is this a PostgreSQL server?",
                clean_message(&e.to_string())
            )),
            other => StoreError::Query(format!("the query failed: {}", clean_message(&other.to_string()))),
        }
    }
}

/// A driver's message for a person: without the driver's own source locations
/// (`(sqlx_postgres::message:173)`), on one line, and never empty.
pub fn clean_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('(') {
        let (before, from) = rest.split_at(start);
        out.push_str(before);
        let location = from.find(')').map(|end| &from[1..end]).filter(|inner| {
            let (path, line) = inner.rsplit_once(':').unwrap_or(("", ""));
            path.contains("::")
                && path.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
                && !line.is_empty()
                && line.chars().all(|c| c.is_ascii_digit())
        });
        match location {
            Some(inner) => rest = &from[inner.len() + 2..],
            None => {
                out.push('(');
                rest = &from[1..];
            }
        }
    }
    out.push_str(rest);
    let one_line = out.split_whitespace().collect::<Vec<_>>().join(" ");
    let trimmed = one_line.trim_end_matches([':', ' ']).trim();
    if trimmed.is_empty() || trimmed.ends_with("()") && trimmed.len() <= 2 {
        "(the database gave no reason)".to_owned()
    } else {
        trimmed.replace(" ()", "")
    }
}

/// How long past a preview's time-out the client waits before it gives up on the database
/// (a server that stops answering must not hang the window or the command line).
pub const CLIENT_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A store to open: a SQLite file or a PostgreSQL URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Target {
    /// Reads a path, a `sqlite:` URL or a `postgres://` URL.
    pub fn parse(text: &str) -> Result<Target, StoreError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(StoreError::BadUrl("no store given: give a SQLite file path or a postgres:// URL".to_owned()));
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Target::Postgres(text.to_owned()));
        }
        if lower.starts_with("postgres:") || lower.starts_with("postgresql:") {
            // (Not a path either: `postgres:/user:secret@host` would be echoed as a file name.)
            return Err(StoreError::BadUrl(format!(
                "`{}` is not a PostgreSQL URL: one starts with postgres:// (two slashes), e.g. \
                 postgres://user:password@host:5432/dbname",
                mask_url(text)
            )));
        }
        if let Some(rest) = text.strip_prefix("sqlite://").or_else(|| text.strip_prefix("sqlite:")) {
            let path = rest.split('?').next().unwrap_or(rest);
            return Ok(Target::Sqlite(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(StoreError::BadUrl(format!(
                "`{scheme}://` is not a store eventscope can open: give a SQLite file path or a postgres:// URL"
            )));
        }
        // A libpq connection string (`host=… dbname=… password=…`) is not a path: say so, and
        // never echo it (it may hold a password).
        let words: Vec<&str> = text.split_whitespace().collect();
        if words.len() > 1
            && words.iter().all(|w| w.contains('='))
            && words.iter().any(|w| w.starts_with("host=") || w.starts_with("dbname=") || w.starts_with("user="))
        {
            return Err(StoreError::BadUrl(
                "that looks like a libpq connection string (key=value …): give a postgres:// URL instead, e.g. \
                 postgres://user@host/dbname (with the password in PGPASSWORD or ~/.pgpass)"
                    .to_owned(),
            ));
        }
        Ok(Target::Sqlite(PathBuf::from(text)))
    }

    /// The target as shown to people: a path, or the URL with its password masked.
    pub fn display(&self) -> String {
        match self {
            Target::Sqlite(path) => path.display().to_string(),
            Target::Postgres(url) => mask_url(url),
        }
    }
}

/// The URL with every password in it (before the host, or a `password=` parameter) replaced by
/// `***`.
pub fn mask_url(url: &str) -> String {
    url_parts(url).map_or_else(|| mask_malformed(url), |parts| parts.rebuild(Some("***")))
}

/// Text that is not a URL (no `://`) but has `user:password@` in it: what stands between the
/// last `:` before the last `@` and that `@` is masked.
fn mask_malformed(text: &str) -> String {
    match text.rfind('@').and_then(|at| Some((text[..at].rfind(':')?, at))) {
        Some((colon, at)) if colon + 1 < at => format!("{}***{}", &text[..=colon], &text[at..]),
        _ => text.to_owned(),
    }
}

/// The URL with every password in it removed (`postgres://user@host/db`).
pub fn url_without_password(url: &str) -> String {
    url_parts(url).map_or_else(|| url.to_owned(), |parts| parts.rebuild(None))
}

/// The URL as typed, each character of its passwords shown as `•`: as many characters as the
/// text, so that a text field's cursor and selection still line up with what is typed.
pub fn dot_passwords(url: &str) -> String {
    let parts = url_parts(url);
    let mut ranges: Vec<std::ops::Range<usize>> = parts
        .as_ref()
        .map(UrlParts::passwords)
        .unwrap_or_default()
        .into_iter()
        .map(|password| {
            let start = password.as_ptr() as usize - url.as_ptr() as usize;
            start..start + password.len()
        })
        .collect();
    // While it is being typed, `user:pass` has no `@` yet: what follows the `:` is a password
    // unless it is a port.
    if let Some(parts) = parts.filter(|p| p.credentials.is_none())
        && let Some((_, after_colon)) = parts.host.split_once(':')
        && !after_colon.bytes().all(|b| b.is_ascii_digit())
    {
        let start = after_colon.as_ptr() as usize - url.as_ptr() as usize;
        ranges.push(start..start + after_colon.len());
    }
    url.char_indices().map(|(i, c)| if ranges.iter().any(|r| r.contains(&i)) { '•' } else { c }).collect()
}

/// A URL's pieces around its credentials: `scheme://user:password@host/path?query`.
pub struct UrlParts<'a> {
    pub scheme: &'a str,
    /// What stands before the `@`: the user and, after the first `:`, the password.
    pub credentials: Option<(&'a str, Option<&'a str>)>,
    pub host: &'a str,
    /// The path, from the first `/` after the host up to the query.
    pub path: &'a str,
    /// The query's `name=value` pairs, without the `?`.
    pub query: Vec<&'a str>,
}

impl<'a> UrlParts<'a> {
    /// Every password the URL holds, as written (percent-encoded where it was).
    pub fn passwords(&self) -> Vec<&'a str> {
        let in_credentials = self.credentials.and_then(|(_, password)| password);
        let in_query = self.query.iter().filter_map(|pair| password_value(pair));
        in_credentials.into_iter().chain(in_query).filter(|p| !p.is_empty()).collect()
    }

    /// The URL again, with each password shown as `mask`, or left out where `mask` is `None`.
    fn rebuild(&self, mask: Option<&str>) -> String {
        let mut url = format!("{}://", self.scheme);
        match (self.credentials, mask) {
            (Some((user, Some(_))), Some(mask)) => url += &format!("{user}:{mask}@"),
            (Some((user, _)), _) => url += &format!("{user}@"),
            (None, _) => {}
        }
        url += self.host;
        url += self.path;
        let query: Vec<String> = self
            .query
            .iter()
            .filter_map(|pair| match (password_value(pair), mask) {
                (None, _) => Some((*pair).to_owned()),
                (Some(value), Some(mask)) => Some(format!("{}{mask}", &pair[..pair.len() - value.len()])),
                (Some(_), None) => None,
            })
            .collect();
        if !query.is_empty() {
            url += "?";
            url += &query.join("&");
        }
        url
    }
}

/// The value of a query pair that gives a password: its name, percent-decoded and in any case,
/// says `password` (sqlx decodes `pass%77ord=` as `password=`; a name holding `pass` is masked
/// too, rather than risk showing a secret).
fn password_value(pair: &str) -> Option<&str> {
    let Some((name, value)) = pair.split_once('=') else {
        // A pair whose `=` is percent-encoded (`password%3Dsecret`) is no parameter a driver
        // reads, but it shows what looks like one: masked whole.
        let decoded = percent_encoding::percent_decode_str(pair).decode_utf8_lossy().to_lowercase();
        return decoded.contains("pass").then_some(pair);
    };
    let name = percent_encoding::percent_decode_str(&name.replace('+', " ")).decode_utf8_lossy().to_lowercase();
    name.contains("pass").then_some(value)
}

/// Splits a URL (`None` without `://`). A password may hold an unencoded `/`, `?` or `@`: the
/// credentials end at the last `@` before the query, or failing that at the last `@` of all, so
/// that a badly written URL shows too little rather than its password.
pub fn url_parts(url: &str) -> Option<UrlParts<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let before_query = &rest[..rest.find('?').unwrap_or(rest.len())];
    // (The last `@` of all is only taken when no `password=` comes before it: an `@` may also
    // stand in a query parameter's value.)
    let fallback =
        || rest.rfind('@').filter(|at| !rest[..*at].split(['?', '&']).any(|pair| password_value(pair).is_some()));
    let (credentials, location) = match before_query.rfind('@').or_else(fallback) {
        Some(at) => {
            let (user_info, location) = (&rest[..at], &rest[at + 1..]);
            let credentials = match user_info.split_once(':') {
                Some((user, password)) => (user, Some(password)),
                None => (user_info, None),
            };
            (Some(credentials), location)
        }
        None => (None, rest),
    };
    let host_end = location.find(['/', '?']).unwrap_or(location.len());
    let (host, path_and_query) = location.split_at(host_end);
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    let query = query.split('&').filter(|pair| !pair.is_empty()).collect();
    Some(UrlParts { scheme, credentials, host, path, query })
}

/// Cancels a running preview from another task: sets a flag the query checks (SQLite), and
/// remembers the server process to cancel (PostgreSQL).
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    cancelled: std::sync::Arc<std::sync::atomic::AtomicBool>,
    backend_pid: std::sync::Arc<std::sync::Mutex<Option<i32>>>,
}

impl CancelToken {
    pub fn cancel(&self) {
        self.cancelled.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ends when the token is cancelled (looked at every 50 ms), whenever that happens: before
    /// the query started, between two of its statements, or while it runs.
    pub async fn cancelled(&self) {
        while !self.is_cancelled() {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn flag(&self) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
        self.cancelled.clone()
    }

    pub(crate) fn set_backend_pid(&self, pid: i32) {
        if let Ok(mut slot) = self.backend_pid.lock() {
            *slot = Some(pid);
        }
    }

    /// The server process running the preview (PostgreSQL), once it has started.
    pub fn backend_pid(&self) -> Option<i32> {
        self.backend_pid.lock().ok().and_then(|p| *p)
    }
}

enum Backend {
    Sqlite(sqlite::SqliteBackend),
    Postgres(postgres::PgBackend),
}

/// Counts over the whole store: exact for a store of up to [`EXACT_COUNTS_BELOW`] events;
/// past it, the catalog's estimates (the streams' only where the database keeps statistics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreCounts {
    pub streams: Option<i64>,
    pub events: i64,
    /// Whether the figures are the catalog's estimates rather than counts.
    pub estimated: bool,
}

/// Below this many events (by the catalog's estimate) a store is counted exactly when opened.
pub const EXACT_COUNTS_BELOW: i64 = 200_000;

/// One page of the streams list and where the next one starts.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamPage {
    pub streams: Vec<StreamSummary>,
    pub next: Option<StreamCursor>,
}

/// Where a page of a stream's events starts: from a version on (a first page), or after the
/// last row of the page before (keyset on `query::stream_keys`, so rows that share a version,
/// or have none, are each read once and never re-read).
#[derive(Clone, Debug, PartialEq)]
pub struct EventCursor {
    /// From this version on (`None`: from the start, events without a version too).
    pub from: Option<Version>,
    pub after: Option<KeysetCursor>,
}

impl EventCursor {
    /// From `version` on; `Version::MIN` means from the start, events without a version too.
    pub fn from_version(version: Version) -> EventCursor {
        EventCursor { from: (version != Version::MIN).then_some(version), after: None }
    }
}

/// The first streams in an order worked out from the whole store, and whether more streams
/// come after them.
#[derive(Clone, Debug, PartialEq)]
pub struct TopStreams {
    pub streams: Vec<StreamSummary>,
    pub more: bool,
}

/// One page of a stream's events and where the next one starts (`None` at the end).
#[derive(Clone, Debug, PartialEq)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub next: Option<EventCursor>,
}

/// One page of the global log and the cursor for the page after it (`None` at the end).
#[derive(Clone, Debug, PartialEq)]
pub struct LogPage {
    pub events: Vec<Event>,
    pub next: Option<LogCursor>,
}

/// An open store with its recognised layout.
pub struct Store {
    backend: Backend,
    pub target: Target,
    pub layout: Layout,
    /// Every layout recognised in this database (the chosen one among them).
    pub layouts: Vec<Layout>,
    /// What the connected PostgreSQL role may do (`None` for SQLite, or when it could not be read).
    pub role: Option<pg_guard::RolePrivileges>,
    /// The key that decrypts encrypted payloads; given by the person, never stored.
    cipher_key: std::sync::RwLock<Option<Vec<u8>>>,
    /// Whether an index reads the stream column in order (the planner's answer, asked once).
    stream_index: std::sync::OnceLock<bool>,
}

impl Store {
    /// Opens the store and recognises its layout (`layout_name` picks one when several match).
    pub async fn open(target: Target, layout_name: Option<&str>) -> Result<Store, StoreError> {
        tracing::debug!(store = %target.display(), "opening");
        let backend = match &target {
            Target::Sqlite(path) => Backend::Sqlite(sqlite::open(path).await?),
            Target::Postgres(url) => Backend::Postgres(postgres::connect(url, &mask_url(url)).await?),
        };
        let catalog = match &backend {
            Backend::Sqlite(b) => b.catalog().await?,
            Backend::Postgres(b) => b.catalog().await?,
        };
        // A layout file maps the store by hand; otherwise the catalog says.
        if let Some(path) =
            layout_name.map(std::path::Path::new).filter(|p| p.extension().is_some_and(|e| e == "json") || p.is_file())
        {
            let layout = Layout::from_file(path).map_err(StoreError::NotAnEventStore)?;
            return Store::with_role(backend, target, vec![layout.clone()], layout).await;
        }
        let layouts =
            layout::detect(&catalog).map_err(|e| StoreError::NotAnEventStore(format!("{}: {e}", target.display())))?;
        let layout = layout::choose(layouts.clone(), layout_name).map_err(StoreError::NotAnEventStore)?;
        Store::with_role(backend, target, layouts, layout).await
    }

    /// The store, with what its PostgreSQL role may do and how its rows are told apart read
    /// once. Under a privileged role, a store whose relations would run a function a preview
    /// could not (a view, policy or type planted in it) is not read at all.
    async fn with_role(
        backend: Backend,
        target: Target,
        layouts: Vec<Layout>,
        mut layout: Layout,
    ) -> Result<Store, StoreError> {
        let role = match &backend {
            Backend::Postgres(b) => b.read_role(&query::table_sql(&layout.table)).await.ok(),
            Backend::Sqlite(_) => None,
        };
        if let (Backend::Postgres(b), Some(role)) = (&backend, role.as_ref().filter(|r| r.is_privileged())) {
            let mut tables = vec![query::table_sql(&layout.table)];
            tables.extend(layout.joins.iter().map(|j| query::table_sql(&j.table)));
            tables.extend(layout.snapshots.iter().map(|s| query::table_sql(&s.table)));
            if let Err(e) = b.check_layout(&tables).await {
                return Err(StoreError::Open(format!(
                    "eventscope will not read this store as the privileged role {}: {e}; connect as a role that \
                     can only read (see README, Safety)",
                    role.role
                )));
            }
        }
        layout.row_key = row_key(&backend, &layout).await;
        layout.server = server_features(&backend).await;
        layout.stream_versions_unique = stream_versions_unique(&backend, &layout).await;
        tracing::debug!(store = %target.display(), layout = %layout.name, row_key = ?layout.row_key, server = ?layout.server, stream_versions_unique = layout.stream_versions_unique, "opened");
        Ok(Store {
            backend,
            target,
            layout,
            layouts,
            role,
            cipher_key: Default::default(),
            stream_index: Default::default(),
        })
    }

    /// The tables and columns of a database, without recognising a layout (for the mapping form).
    pub async fn catalog_of(target: &Target) -> Result<Catalog, StoreError> {
        match target {
            Target::Sqlite(path) => {
                let backend = sqlite::open(path).await?;
                let catalog = backend.catalog().await;
                backend.pool.close().await;
                catalog
            }
            Target::Postgres(url) => {
                let backend = postgres::connect(url, &mask_url(url)).await?;
                let catalog = backend.catalog().await;
                backend.pool.close().await;
                catalog
            }
        }
    }

    /// Opens the store with a layout given as data (the mapping form's).
    pub async fn open_with_layout(target: Target, layout: Layout) -> Result<Store, StoreError> {
        let backend = match &target {
            Target::Sqlite(path) => Backend::Sqlite(sqlite::open(path).await?),
            Target::Postgres(url) => Backend::Postgres(postgres::connect(url, &mask_url(url)).await?),
        };
        Store::with_role(backend, target, vec![layout.clone()], layout).await
    }

    /// The same store opened again (same target, layout and cipher key): for a follower, when
    /// [`Store::reopen_to_follow`] says the file can now show more than it did.
    pub async fn reopened(&self) -> Result<Store, StoreError> {
        let store = Store::open_with_layout(self.target.clone(), self.layout.clone()).await?;
        if let (Ok(mut slot), Some(key)) = (store.cipher_key.write(), self.key()) {
            *slot = Some(key);
        }
        Ok(store)
    }

    /// Sets the key that decrypts encrypted payloads (base64 of 16 or 32 bytes), or clears it.
    pub fn set_cipher_key(&self, key_base64: Option<&str>) -> Result<(), StoreError> {
        use base64::Engine as _;
        let key = match key_base64.map(str::trim).filter(|k| !k.is_empty()) {
            None => None,
            Some(text) => {
                let key = base64::engine::general_purpose::STANDARD.decode(text).map_err(|_| {
                    StoreError::Open(
                        "the cipher key is not base64 (eventsourcing's CIPHER_KEY is base64 of 16 or 32 bytes)"
                            .to_owned(),
                    )
                })?;
                if !matches!(key.len(), 16 | 32) {
                    return Err(StoreError::Open(format!(
                        "the cipher key is {} bytes: AES keys are 16 or 32 bytes",
                        key.len()
                    )));
                }
                Some(key)
            }
        };
        if let Ok(mut slot) = self.cipher_key.write() {
            *slot = key;
        }
        Ok(())
    }

    fn key(&self) -> Option<Vec<u8>> {
        self.cipher_key.read().ok().and_then(|k| k.clone())
    }

    /// Whether a cipher key has been given.
    pub fn has_cipher_key(&self) -> bool {
        self.key().is_some()
    }

    /// How long one of eventscope's own statements may run before the client stops it (SQLite:
    /// interrupted; PostgreSQL: abandoned, the server's `statement_timeout` ends it there).
    pub fn set_query_deadline(&self, limit: std::time::Duration) {
        match &self.backend {
            Backend::Sqlite(b) => b.set_query_deadline(limit),
            Backend::Postgres(b) => b.set_query_deadline(limit),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The store in words: backend, where, how it was opened, which layout.
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sqlite(b) => {
                format!("SQLite {} ({})", self.target.display(), b.mode.describe())
            }
            Backend::Postgres(_) => match self.role.as_ref().filter(|r| !r.powers().is_empty()) {
                Some(role) => format!("PostgreSQL {} (read-only session; {})", self.target.display(), role.summary()),
                None => format!("PostgreSQL {} (read-only session)", self.target.display()),
            },
        }
    }

    pub(crate) async fn fetch(&self, sql: &Sql) -> Result<Vec<Vec<Cell>>, StoreError> {
        self.fetch_text(&sql.text, &sql.params).await
    }

    /// Streams the rows of one of eventscope's own statements to `each` until it says stop (see
    /// the backends' `fetch_each`); gives how many rows were handed over.
    pub(crate) async fn fetch_each<F: FnMut(Vec<Cell>) -> bool>(
        &self,
        sql: &Sql,
        each: &mut F,
    ) -> Result<usize, StoreError> {
        let started = std::time::Instant::now();
        let mut rows = 0usize;
        let mut counted = |row: Vec<Cell>| {
            rows += 1;
            each(row)
        };
        let result = match &self.backend {
            Backend::Sqlite(b) => b.fetch_each(&sql.text, &sql.params, &mut counted).await,
            Backend::Postgres(b) => b.fetch_each(&sql.text, &sql.params, &mut counted).await,
        };
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match &result {
            Ok(()) => tracing::debug!(ms, rows, params = sql.params.len(), sql = sql.text, "streamed query"),
            Err(e) => {
                tracing::debug!(ms, rows, params = sql.params.len(), sql = sql.text, error = %e, "streamed query failed")
            }
        }
        result.map(|()| rows)
    }

    async fn fetch_text(&self, text: &str, params: &[Param]) -> Result<Vec<Vec<Cell>>, StoreError> {
        let started = std::time::Instant::now();
        let result = match &self.backend {
            Backend::Sqlite(b) => b.fetch(text, params).await,
            Backend::Postgres(b) => b.fetch(text, params).await,
        };
        // The query and its time, never the values bound to it (they may be personal data).
        let ms = started.elapsed().as_secs_f64() * 1e3;
        match &result {
            Ok(rows) => tracing::debug!(ms, rows = rows.len(), params = params.len(), sql = text, "query"),
            Err(e) => tracing::debug!(ms, params = params.len(), sql = text, error = %e, "query failed"),
        }
        result
    }

    pub async fn catalog(&self) -> Result<Catalog, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.catalog().await,
            Backend::Postgres(b) => b.catalog().await,
        }
    }

    /// Runs one statement as given on the store's own sessions, without the preview guard: it
    /// shows that those sessions cannot write by themselves (SQLite opened read-only,
    /// PostgreSQL read-only and rolled back); a write fails with [`StoreError::ReadOnly`]. For
    /// tests of that layer only: user text goes through [`Store::preview`].
    #[doc(hidden)]
    pub async fn run_read_only(&self, text: &str) -> Result<Vec<Vec<Cell>>, StoreError> {
        match &self.backend {
            Backend::Sqlite(b) => b.fetch(text, &[]).await,
            Backend::Postgres(b) => b.fetch_rolled_back(text).await,
        }
    }

    /// Reads one of eventscope's own tables that a store may hold (a lesson file's steps and
    /// scripts): eventscope's fixed query, on the store's own read-only sessions.
    pub async fn read_own_table(&self, query: &str) -> Result<Vec<Vec<Cell>>, StoreError> {
        self.run_read_only(query).await
    }

    /// Runs one query a user wrote (a preview's), after the backend's guard has accepted it:
    /// read-only, on a session of its own, with the time-out and row cap of `limits`. Error
    /// positions are byte offsets into `query`. (`projection::sql::preview` reads a definition
    /// and runs its query here.)
    pub async fn run_query(
        &self,
        query: &str,
        limits: PreviewLimits,
        permissions: &PreviewPermissions,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        match &self.backend {
            Backend::Sqlite(b) => b.preview(query, limits, cancel).await,
            Backend::Postgres(b) => b.preview(query, limits, permissions, self.role.as_ref(), cancel).await,
        }
    }

    /// Stops a running preview (on PostgreSQL, asks the server to cancel its statement).
    pub async fn cancel_preview(&self, cancel: &CancelToken) {
        cancel.cancel();
        if let (Backend::Postgres(b), Some(pid)) = (&self.backend, cancel.backend_pid()) {
            b.cancel_backend(pid).await;
        }
    }

    /// Whether a table or view (or materialized view) of this name exists.
    pub async fn relation_exists(&self, name: &str) -> Result<bool, StoreError> {
        let rows = match &self.backend {
            Backend::Sqlite(b) => {
                b.fetch(
                    "SELECT COUNT(*) FROM sqlite_master WHERE type IN ('table', 'view') AND name = ?1 COLLATE NOCASE",
                    &[Param::Text(name.rsplit('.').next().unwrap_or(name).to_owned())],
                )
                .await?
            }
            Backend::Postgres(b) => {
                b.fetch(
                    "SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END",
                    &[Param::Text(quote_relation(name))],
                )
                .await?
            }
        };
        Ok(rows.first().and_then(|r| r.first()).and_then(Cell::as_i64).unwrap_or(0) > 0)
    }

    /// The rows of a deployed relation, with the same limits as a preview.
    pub async fn preview_relation(
        &self,
        name: &str,
        limits: PreviewLimits,
        permissions: &PreviewPermissions,
        cancel: &CancelToken,
    ) -> Result<ResultSet, PreviewError> {
        self.run_query(&format!("SELECT * FROM {}", quote_relation(name)), limits, permissions, cancel).await
    }

    /// The snapshots the store keeps of a stream: (version, state), oldest first.
    pub async fn snapshots(&self, stream: &str) -> Result<Vec<(Version, Payload)>, StoreError> {
        let rows = self.snapshot_rows(stream, false).await?;
        Ok(rows.into_iter().filter_map(|(version, state)| Some((version?, state))).collect())
    }

    /// Every snapshot row of a stream as read: a version that is NULL or not a whole number is
    /// `None`, a NULL state (kept with `with_null`) is undecodable with that reason.
    pub async fn snapshot_rows(
        &self,
        stream: &str,
        with_null: bool,
    ) -> Result<Vec<(Option<Version>, Payload)>, StoreError> {
        let Some(sql) = query::snapshots(self.dialect(), &self.layout, stream, 10_000, with_null) else {
            return Ok(Vec::new());
        };
        let codec = self.layout.snapshots.as_ref().map(|s| s.codec).unwrap_or_default();
        let key = self.key();
        let rows = self.fetch(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut cells = row.into_iter();
                let version = cells.next().and_then(|c| c.as_i64());
                let state = match cells.next().and_then(Cell::into_bytes) {
                    Some(bytes) => decode::decode_snapshot(bytes, codec, key.as_deref()),
                    None => Payload::Undecodable { bytes: Vec::new(), reason: "the snapshot is NULL".to_owned() },
                };
                (version, state)
            })
            .collect())
    }

    /// The streams the store keeps snapshots of, with how many of them each has, in stream
    /// order (at most `limit`; none where the layout has no snapshots).
    pub async fn snapshot_streams(&self, limit: usize) -> Result<Vec<(String, i64)>, StoreError> {
        let Some(sql) = query::snapshot_streams(self.dialect(), &self.layout, limit as i64) else {
            return Ok(Vec::new());
        };
        let rows = self.fetch(&sql).await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let mut cells = row.into_iter();
                let stream = cells.next().unwrap_or(Cell::Null).to_id_text();
                (stream, cells.next().and_then(|c| c.as_i64()).unwrap_or(0))
            })
            .collect())
    }

    /// The number of streams and events: the catalog's estimates for a big store (a count
    /// would read the whole table when it is opened), exact counts for a small one.
    pub async fn counts(&self) -> Result<StoreCounts, StoreError> {
        match self.estimated_events().await {
            Some(events) if events >= EXACT_COUNTS_BELOW => {
                let streams = self.estimated_streams(events).await;
                Ok(StoreCounts { streams, events, estimated: true })
            }
            _ => self.exact_counts().await,
        }
    }

    /// When no index gives the global log its order (so each page of Audit sorts the whole
    /// table), the index that would, as a statement for the user to run: eventscope never runs
    /// it. Asked of the planner itself (its plan for the log's first row sorts), not guessed
    /// from the catalog.
    pub async fn log_order_advice(&self) -> Option<String> {
        let (probe, create) = query::log_order_probe(self.dialect(), &self.layout)?;
        let plan = self.fetch_text(&probe, &[]).await.ok()?;
        let sorts = plan.iter().flatten().filter_map(Cell::as_text).any(|line| plan_line_sorts(&line));
        sorts.then_some(create)
    }

    /// The exact number of streams and events (reads the whole store).
    pub async fn exact_counts(&self) -> Result<StoreCounts, StoreError> {
        let rows = self.fetch(&query::store_counts(self.dialect(), &self.layout)).await?;
        let row = rows.first();
        let get = |i: usize| row.and_then(|r| r.get(i)).and_then(Cell::as_i64).unwrap_or(0);
        Ok(StoreCounts { streams: Some(get(0)), events: get(1), estimated: false })
    }

    /// The catalog's estimate of the event count, where the events are one table (no join, no
    /// row condition): SQLite's largest rowid, PostgreSQL's `reltuples` (once analysed).
    async fn estimated_events(&self) -> Option<i64> {
        if !self.layout.joins.is_empty() || !self.layout.conditions.is_empty() {
            return None;
        }
        let table = query::table_sql(&self.layout.table);
        let rows = match self.layout.row_key {
            layout::RowKey::SqliteRowid => self.fetch_text(&format!("SELECT max(rowid) FROM {table}"), &[]).await,
            layout::RowKey::PostgresCtid => {
                self.fetch_text(
                    "SELECT CAST(reltuples AS BIGINT) FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1)",
                    &[Param::Text(table)],
                )
                .await
            }
            layout::RowKey::None => return None,
        };
        rows.ok()?.first()?.first()?.as_i64().filter(|n| *n >= 0)
    }

    /// The statistics' estimate of the number of streams, where the database keeps them
    /// (PostgreSQL's `pg_stats` once analysed; SQLite's `sqlite_stat1` after `ANALYZE`).
    async fn estimated_streams(&self, events: i64) -> Option<i64> {
        let layout::StreamKey::Column(column) = &self.layout.columns.stream else {
            return None;
        };
        if column.table.is_some() || column.fallback.is_some() {
            return None;
        }
        let table = &self.layout.table;
        match self.dialect() {
            Dialect::Postgres => {
                let rows = self
                    .fetch_text(
                        "SELECT CAST(n_distinct AS DOUBLE PRECISION) FROM pg_catalog.pg_stats \
                         WHERE schemaname = COALESCE($1, current_schema()) AND tablename = $2 AND attname = $3",
                        &[
                            table.schema.clone().map_or(Param::Null, Param::Text),
                            Param::Text(table.name.clone()),
                            Param::Text(column.name.clone()),
                        ],
                    )
                    .await
                    .ok()?;
                let distinct = rows.first()?.first()?.as_f64()?;
                // A negative figure is a fraction of the rows.
                Some(if distinct < 0.0 { (-distinct * events as f64).round() as i64 } else { distinct as i64 })
            }
            Dialect::Sqlite => {
                // `stat` of an index led by the stream column: "rows rows-per-stream …".
                let rows = self
                    .fetch_text(
                        "SELECT s.stat FROM sqlite_stat1 AS s \
                         WHERE s.tbl = ?1 AND (SELECT name FROM pragma_index_info(s.idx) WHERE seqno = 0) = ?2",
                        &[Param::Text(table.name.clone()), Param::Text(column.name.clone())],
                    )
                    .await
                    .ok()?;
                let stat = rows.first()?.first()?.as_text()?;
                let mut numbers = stat.split_whitespace().map(|n| n.parse::<f64>().ok());
                let (total, per_stream) = (numbers.next()??, numbers.next()??);
                (per_stream > 0.0).then(|| (total / per_stream).round() as i64)
            }
        }
    }

    /// How many streams match a search (case-insensitive substring of the id).
    pub async fn count_streams(&self, search: &str) -> Result<i64, StoreError> {
        let rows = self.fetch(&query::count_streams(self.dialect(), &self.layout, search)).await?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Cell::as_i64).unwrap_or(0))
    }

    /// One page of the streams list.
    pub async fn list_streams(&self, q: &StreamQuery) -> Result<StreamPage, StoreError> {
        self.streams_page(q, &|_| Vec::new()).await
    }

    /// A page of the streams of a category (the aggregate type, or the id's prefix), chosen by
    /// the database; none for a category no stream of this layout can have.
    pub async fn list_category_streams(&self, category: &str, q: &StreamQuery) -> Result<StreamPage, StoreError> {
        if query::category_matches(&mut query::Sql::new(self.dialect()), &self.layout, category).is_none() {
            return Ok(StreamPage { streams: Vec::new(), next: None });
        }
        self.streams_page(q, &|sql| query::category_matches(sql, &self.layout, category).into_iter().collect()).await
    }

    /// A page of the streams whose events meet `conditions`: by id from the index on the
    /// stream column where one serves it (each stream's bounds from its own index range, so a
    /// stream of a million events costs what one of ten does), otherwise grouped by the
    /// database.
    async fn streams_page(
        &self,
        q: &StreamQuery,
        conditions: &(dyn Fn(&mut query::Sql) -> Vec<String> + Sync),
    ) -> Result<StreamPage, StoreError> {
        let (d, layout) = (self.dialect(), &self.layout);
        if let Some(sql) = query::streams_by_index_where(d, layout, q, conditions)
            && self.stream_index_serves_pages().await
        {
            return self.page_of_indexed_streams(&sql, q).await;
        }
        self.page_of_streams(&query::list_streams_where(d, layout, q, conditions), q).await
    }

    /// Whether [`query::streams_by_index_where`] may read the streams list: the planner reads
    /// the stream column in order from an index, and no event lacks a stream id (that stream is
    /// listed by the grouped query, in the place each database gives NULL).
    async fn stream_index_serves_pages(&self) -> bool {
        let indexed = match self.stream_index.get() {
            Some(known) => *known,
            None => {
                let Some(probe) = query::stream_index_probe(self.dialect(), &self.layout) else {
                    return false;
                };
                let Ok(plan) = self.fetch(&probe).await else {
                    return false;
                };
                *self
                    .stream_index
                    .get_or_init(|| !plan.iter().flatten().filter_map(Cell::as_text).any(|line| plan_line_sorts(&line)))
            }
        };
        // (Rows without a stream id may be written at any time: asked each time, from the index.)
        indexed
            && matches!(self.fetch(&query::null_stream_probe(self.dialect(), &self.layout)).await, Ok(rows) if rows.is_empty())
    }

    /// The rows of [`query::streams_by_index_where`] as a page; a stream without a numeric
    /// version gets its summary from the grouped query.
    async fn page_of_indexed_streams(&self, sql: &query::Sql, q: &StreamQuery) -> Result<StreamPage, StoreError> {
        let rows = self.fetch(sql).await?;
        let full = rows.len() as i64 >= q.limit.max(1);
        let mut next = None;
        let mut streams = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = row.into_iter();
            let mut take = || cells.next().unwrap_or(Cell::Null);
            let (id, first, last, time, counted, raw) = (take(), take(), take(), take(), take(), take());
            let stream = id.to_id_text();
            next = Some(StreamCursor { key: Cell::Null, stream: stream.clone(), raw });
            let summary = match (first.as_i64(), last.as_i64()) {
                (Some(first), Some(last)) => {
                    let (events, events_at_least) = events_of_capped(counted.as_i64().unwrap_or(0));
                    StreamSummary {
                        stream: StreamId(stream),
                        events,
                        events_at_least,
                        first_version: first,
                        last_version: last,
                        last_recorded_at: time.as_time(),
                    }
                }
                _ => self.stream_summary(&stream).await?,
            };
            streams.push(summary);
        }
        Ok(StreamPage { streams, next: if full { next } else { None } })
    }

    async fn page_of_streams(&self, sql: &query::Sql, q: &StreamQuery) -> Result<StreamPage, StoreError> {
        let rows = self.fetch(sql).await?;
        let full = rows.len() as i64 >= q.limit.max(1);
        let mut next = None;
        let mut streams = Vec::with_capacity(rows.len());
        for row in rows {
            let mut cells = row.into_iter();
            let mut take = || cells.next().unwrap_or(Cell::Null);
            let (id, events, first, last, time, key, raw) = (take(), take(), take(), take(), take(), take(), take());
            let stream = StreamId(id.to_id_text());
            next = Some(StreamCursor { key, stream: stream.0.clone(), raw });
            streams.push(StreamSummary {
                stream,
                events: events.as_i64().unwrap_or(0),
                events_at_least: false,
                first_version: first.as_i64().unwrap_or(0),
                last_version: last.as_i64().unwrap_or(0),
                last_recorded_at: time.as_time(),
            });
        }
        Ok(StreamPage { streams, next: if full { next } else { None } })
    }

    /// The first `top` streams matching `search` in `sort` order, from one streamed pass over
    /// the store (for an order no index gives: the most events, the most recent), keeping only
    /// the best `top` as it goes; `progress` hears how many streams were read so far (every
    /// 1,000) and stops the pass by answering false (then `None`). The most recent streams come
    /// from an index on the time where one exists (read newest first, as far as needed).
    pub async fn top_streams(
        &self,
        search: &str,
        sort: StreamSort,
        top: usize,
        progress: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<Option<TopStreams>, StoreError> {
        if sort == StreamSort::Recent && self.time_order_indexed().await {
            return self.recent_streams_by_index(search, top.min(RECENT_BY_INDEX), progress).await;
        }
        let sql = query::stream_aggregates(self.dialect(), &self.layout, search);
        let top = top.max(1);
        let mut best: Vec<StreamSummary> = Vec::new();
        let mut read = 0usize;
        let mut stopped = false;
        let order = |a: &StreamSummary, b: &StreamSummary| stream_order(sort, a, b);
        let mut each = |row: Vec<Cell>| {
            let mut cells = row.into_iter();
            let mut take = || cells.next().unwrap_or(Cell::Null);
            let (id, events, first, last, time) = (take(), take(), take(), take(), take());
            best.push(StreamSummary {
                stream: StreamId(id.to_id_text()),
                events: events.as_i64().unwrap_or(0),
                events_at_least: false,
                first_version: first.as_i64().unwrap_or(0),
                last_version: last.as_i64().unwrap_or(0),
                last_recorded_at: time.as_time(),
            });
            if best.len() >= 2 * top {
                best.sort_unstable_by(order);
                best.truncate(top);
            }
            read += 1;
            if read.is_multiple_of(1_000) && !progress(read) {
                stopped = true;
                return false;
            }
            true
        };
        self.fetch_each(&sql, &mut each).await?;
        if stopped {
            return Ok(None);
        }
        best.sort_unstable_by(order);
        best.truncate(top);
        Ok(Some(TopStreams { streams: best, more: read > top }))
    }

    /// Whether an index reads the events newest first by their time (the planner is asked).
    pub async fn time_order_indexed(&self) -> bool {
        let Some(probe) = query::time_order_probe(self.dialect(), &self.layout) else {
            return false;
        };
        let Ok(plan) = self.fetch_text(&probe, &[]).await else {
            return false;
        };
        !plan.iter().flatten().filter_map(Cell::as_text).any(|line| plan_line_sorts(&line))
    }

    /// The `top` most recent streams from the time index: the events read newest first until
    /// that many streams are seen, then each stream's summary from its own index.
    async fn recent_streams_by_index(
        &self,
        search: &str,
        top: usize,
        progress: &mut (dyn FnMut(usize) -> bool + Send),
    ) -> Result<Option<TopStreams>, StoreError> {
        let Some(sql) = query::streams_by_time(self.dialect(), &self.layout, search) else {
            return Ok(Some(TopStreams { streams: Vec::new(), more: false }));
        };
        let mut seen = std::collections::HashSet::new();
        let mut newest_first = Vec::new();
        let (mut read, mut stopped) = (0usize, false);
        let mut each = |row: Vec<Cell>| {
            let id = row.into_iter().next().unwrap_or(Cell::Null).to_id_text();
            if seen.insert(id.clone()) {
                newest_first.push(id);
            }
            read += 1;
            if read.is_multiple_of(1_000) && !progress(newest_first.len()) {
                stopped = true;
                return false;
            }
            newest_first.len() < top
        };
        self.fetch_each(&sql, &mut each).await?;
        if stopped {
            return Ok(None);
        }
        let mut streams = Vec::with_capacity(newest_first.len());
        for (i, id) in newest_first.iter().enumerate() {
            if (i + 1).is_multiple_of(100) && !progress(i + 1) {
                return Ok(None);
            }
            match self.stream_summary(id).await {
                Ok(summary) => streams.push(summary),
                Err(StoreError::UnknownStream(_)) => {}
                Err(e) => return Err(e),
            }
        }
        streams.sort_by(|a, b| stream_order(StreamSort::Recent, a, b));
        // (Stopped at `top` streams: there may be more.)
        let more = newest_first.len() >= top;
        Ok(Some(TopStreams { streams, more }))
    }

    /// The summary of one stream, or [`StoreError::UnknownStream`]. Its event count is exact up
    /// to [`query::STREAM_COUNT_CAP`] events, a lower bound past it.
    pub async fn stream_summary(&self, stream: &str) -> Result<StreamSummary, StoreError> {
        let unknown = || {
            StoreError::UnknownStream(format!(
                "there is no stream `{stream}` in this store: list the streams with `eventscope streams STORE --search TEXT`"
            ))
        };
        if !query::stream_id_fits(self.dialect(), &self.layout, stream) {
            return Err(unknown());
        }
        // From the index where one can serve it: a summary costs the same for any stream length.
        if let Some(bounds) = query::stream_bounds(self.dialect(), &self.layout, stream) {
            let row = self.fetch(&bounds).await?.into_iter().next().ok_or_else(unknown)?;
            let get = |i: usize| row.get(i).and_then(Cell::as_i64);
            match (get(0), get(1), get(3).unwrap_or(0)) {
                (_, _, 0) => return Err(unknown()),
                (Some(first), Some(last), counted) => {
                    let (events, events_at_least) = events_of_capped(counted);
                    return Ok(StreamSummary {
                        stream: StreamId(stream.to_owned()),
                        events,
                        events_at_least,
                        first_version: first,
                        last_version: last,
                        last_recorded_at: row.get(2).and_then(Cell::as_time),
                    });
                }
                // No readable version at all: the full summary says what there is.
                _ => {}
            }
        }
        let rows = self.fetch(&query::stream_summary(self.dialect(), &self.layout, stream)).await?;
        let row = rows.into_iter().next().ok_or_else(unknown)?;
        let events = row.first().and_then(Cell::as_i64).unwrap_or(0);
        if events == 0 {
            return Err(unknown());
        }
        Ok(StreamSummary {
            stream: StreamId(stream.to_owned()),
            events,
            events_at_least: false,
            first_version: row.get(1).and_then(Cell::as_i64).unwrap_or(0),
            last_version: row.get(2).and_then(Cell::as_i64).unwrap_or(0),
            last_recorded_at: row.get(3).and_then(Cell::as_time),
        })
    }

    /// Up to `limit` events of a stream from the cursor on.
    pub async fn read_stream(&self, stream: &str, cursor: EventCursor, limit: usize) -> Result<EventPage, StoreError> {
        if !query::stream_id_fits(self.dialect(), &self.layout, stream) {
            return Ok(EventPage { events: Vec::new(), next: None });
        }
        let limit = limit.max(1);
        let keys = query::stream_keys(self.dialect(), &self.layout).len();
        let rows = match cursor.after.as_ref().filter(|after| query::pages_by_group(&self.layout, after)) {
            // Group by group (each an index range), until the page is full.
            Some(after) => {
                let mut rows = Vec::new();
                'groups: for group in (0..keys).rev() {
                    for &nulls in query::group_parts(self.dialect()) {
                        let sql = query::stream_events_in_group(
                            self.dialect(),
                            &self.layout,
                            stream,
                            cursor.from,
                            Some(after),
                            Some((group, nulls)),
                            (limit - rows.len()) as i64,
                        );
                        rows.extend(self.fetch(&sql).await?);
                        if rows.len() >= limit {
                            break 'groups;
                        }
                    }
                }
                rows
            }
            None => {
                let sql = query::stream_events(
                    self.dialect(),
                    &self.layout,
                    stream,
                    cursor.from,
                    cursor.after.as_ref(),
                    limit as i64,
                );
                self.fetch(&sql).await?
            }
        };
        let unique = query::stream_keys_unique(&self.layout);
        let (events, next) = self.keyset_page(rows, limit, keys, cursor.after.as_ref(), unique);
        Ok(EventPage { events, next: next.map(|after| EventCursor { from: cursor.from, after: Some(after) }) })
    }

    /// Up to `limit` events of the whole store after (`forward`) or before the cursor.
    pub async fn read_log(&self, cursor: &LogCursor, forward: bool, limit: usize) -> Result<LogPage, StoreError> {
        let limit = limit.max(1);
        self.log_page(query::log_page(self.dialect(), &self.layout, cursor, forward, limit as i64), limit, cursor).await
    }

    /// Every event of a stream in stream order, from version `from` on (`None`: from the start,
    /// events without a version too), handed to `each` as it is read until it says stop: one
    /// streamed query (a replay reads the stream once, not page by page). Gives how many were
    /// handed over; an id no stream of this layout can have gives none.
    pub async fn read_stream_each<F: FnMut(Event) -> bool>(
        &self,
        stream: &str,
        from: Option<Version>,
        each: &mut F,
    ) -> Result<usize, StoreError> {
        if !query::stream_id_fits(self.dialect(), &self.layout, stream) {
            return Ok(0);
        }
        let sql = query::stream_events(self.dialect(), &self.layout, stream, from, None, i64::MAX);
        self.fetch_events_each(&sql, query::stream_keys(self.dialect(), &self.layout).len(), each).await
    }

    /// Every event of the selection, in log order, handed to `each` as it is read until it
    /// says stop: one streamed query, filtered by the database. Gives how many were handed over.
    pub async fn read_log_each<F: FnMut(Event) -> bool>(
        &self,
        selection: &query::LogSelection,
        each: &mut F,
    ) -> Result<usize, StoreError> {
        let sql = query::log_all_where(self.dialect(), &self.layout, |sql| selection.conditions(sql, &self.layout));
        self.fetch_events_each(&sql, query::log_keys(self.dialect(), &self.layout).len(), each).await
    }

    /// Streams the events a query of event columns followed by `keys` key columns gives (see
    /// [`Store::fetch_each`]), each decoded as it comes.
    pub(crate) async fn fetch_events_each<F: FnMut(Event) -> bool>(
        &self,
        sql: &Sql,
        keys: usize,
        each: &mut F,
    ) -> Result<usize, StoreError> {
        let cipher_key = self.key();
        let layout = &self.layout;
        let mut decode = |mut row: Vec<Cell>| {
            row.truncate(row.len().saturating_sub(keys));
            each(decode::event_from_row(layout, row, cipher_key.as_deref()))
        };
        self.fetch_each(sql, &mut decode).await
    }

    /// Runs a log page query (see [`query::log_page_where`]) and gives the next cursor.
    pub(crate) async fn log_page(&self, sql: Sql, limit: usize, cursor: &LogCursor) -> Result<LogPage, StoreError> {
        let rows = self.fetch(&sql).await?;
        let keys = query::log_keys(self.dialect(), &self.layout).len();
        let before = match cursor {
            LogCursor::After(after) => Some(after),
            LogCursor::Edge => None,
        };
        let (events, next) = self.keyset_page(rows, limit, keys, before, query::keys_unique(&self.layout));
        Ok(LogPage { events, next: next.map(LogCursor::After) })
    }

    /// Whether a follower should open the store again to see new events: a SQLite file opened as
    /// it was (immutable, or a private copy, because no writer had it open) that a writer has
    /// opened since, or whose file changed.
    pub fn reopen_to_follow(&self) -> bool {
        let (Backend::Sqlite(backend), Target::Sqlite(path)) = (&self.backend, &self.target) else {
            return false;
        };
        if matches!(backend.mode, sqlite::OpenMode::ReadOnly | sqlite::OpenMode::ReadOnlyWal) {
            return false;
        }
        let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        sqlite::file_facts(&real).map(sqlite::open_mode).is_ok_and(|now| now != backend.mode)
            || std::fs::metadata(&real).and_then(|m| m.modified()).ok() != backend.modified
    }

    /// Runs a log page query and gives each event with the cursor just after it (the keys of
    /// its row), for a reader that must tell rows apart across reads (see `crate::follow`).
    pub(crate) async fn keyed_log_page(&self, sql: Sql) -> Result<Vec<(Event, KeysetCursor)>, StoreError> {
        let rows = self.fetch(&sql).await?;
        let key_count = query::log_keys(self.dialect(), &self.layout).len();
        let cipher_key = self.key();
        Ok(rows
            .into_iter()
            .map(|mut row| {
                let keys = row.split_off(row.len().saturating_sub(key_count));
                (decode::event_from_row(&self.layout, row, cipher_key.as_deref()), KeysetCursor { keys, skip: 0 })
            })
            .collect())
    }

    /// Decodes the rows of a keyset page: leaves out the rows the cursor says were seen,
    /// splits off each row's trailing `key_count` key values, and gives the cursor after the
    /// last row (`None` when the page was not full: the listing is done).
    fn keyset_page(
        &self,
        rows: Vec<Vec<Cell>>,
        limit: usize,
        key_count: usize,
        before: Option<&KeysetCursor>,
        unique: bool,
    ) -> (Vec<Event>, Option<KeysetCursor>) {
        let skip = before.map_or(0, |b| b.skip);
        let full = rows.len() >= limit + skip;
        let cipher_key = self.key();
        let mut last_keys: Option<Vec<Cell>> = None;
        let mut run = 0;
        let events = rows
            .into_iter()
            .skip(skip)
            .map(|mut row| {
                let keys = row.split_off(row.len().saturating_sub(key_count));
                if last_keys.as_ref() == Some(&keys) {
                    run += 1;
                } else {
                    run = 1;
                    last_keys = Some(keys);
                }
                decode::event_from_row(&self.layout, row, cipher_key.as_deref())
            })
            .collect();
        let next = last_keys.filter(|_| full).map(|keys| {
            if unique {
                return KeysetCursor { keys, skip: 0 };
            }
            // Keys that repeat: the next page starts at them and skips the rows seen.
            let seen_before = before.filter(|b| b.keys == keys).map_or(0, |b| b.skip);
            KeysetCursor { keys, skip: run + seen_before }
        });
        (events, next)
    }

    /// Closes the pool.
    pub async fn close(self) {
        match self.backend {
            Backend::Sqlite(b) => b.pool.close().await,
            Backend::Postgres(b) => b.pool.close().await,
        }
    }
}

/// How the layout's main table tells its rows apart: SQLite's rowid for a table that has one,
/// What the server can do (nothing special for SQLite, or when the server does not say).
async fn server_features(backend: &Backend) -> layout::ServerFeatures {
    match backend {
        Backend::Sqlite(_) => layout::ServerFeatures::default(),
        Backend::Postgres(b) => {
            let rows = b.fetch("SELECT CAST(current_setting('server_version_num') AS integer)", &[]).await;
            let version = rows.ok().and_then(|r| r.first().and_then(|r| r.first()).and_then(Cell::as_i64)).unwrap_or(0);
            layout::ServerFeatures { input_checks: version >= 160_000 }
        }
    }
}

/// PostgreSQL's `(tableoid, ctid)` for a table, partitioned table or materialized view; none
/// for a view (or when the catalog cannot say).
async fn row_key(backend: &Backend, layout: &Layout) -> layout::RowKey {
    let table = &layout.table;
    match backend {
        Backend::Sqlite(b) => {
            let rows = b
                .fetch(
                    "SELECT type, sql FROM sqlite_master WHERE name = ?1 AND type IN ('table', 'view')",
                    &[Param::Text(table.name.clone())],
                )
                .await
                .unwrap_or_default();
            let is_rowid_table = rows.first().is_some_and(|row| {
                row.first().and_then(Cell::as_text).as_deref() == Some("table")
                    && !row.get(1).and_then(Cell::as_text).is_some_and(|sql| {
                        sql.to_ascii_uppercase()
                            .split_whitespace()
                            .collect::<Vec<_>>()
                            .join(" ")
                            .contains("WITHOUT ROWID")
                    })
            });
            if is_rowid_table { layout::RowKey::SqliteRowid } else { layout::RowKey::None }
        }
        Backend::Postgres(b) => {
            let rows = b
                .fetch(
                    "SELECT c.relkind::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)",
                    &[Param::Text(query::table_sql(table))],
                )
                .await
                .unwrap_or_default();
            match rows.first().and_then(|r| r.first()).and_then(Cell::as_text).as_deref() {
                Some("r" | "p" | "m") => layout::RowKey::PostgresCtid,
                _ => layout::RowKey::None,
            }
        }
    }
}

/// Whether the layout's table has a unique index (no condition, no expression) on exactly its
/// stream and version columns, both NOT NULL and the version a whole number: then no two of a
/// stream's events share a version, and a stream page needs no other key to be ordered or
/// continued (an index on the primary key serves it with no sort). Any doubt says no.
async fn stream_versions_unique(backend: &Backend, layout: &Layout) -> bool {
    let c = &layout.columns;
    let layout::StreamKey::Column(stream) = &c.stream else {
        return false;
    };
    let plain = |col: &layout::ColumnRef| col.table.is_none() && col.fallback.is_none();
    if !layout.joins.is_empty()
        || !plain(stream)
        || !plain(&c.version)
        || c.version.kind != layout::ColumnKind::Integer
        || stream.name == c.version.name
    {
        return false;
    }
    let wanted = [stream.name.as_str(), c.version.name.as_str()];
    let table = &layout.table;
    match backend {
        Backend::Sqlite(b) => {
            // (A rowid table lets its primary key's columns hold NULLs: NOT NULL is asked too.)
            let not_null = b
                .fetch(
                    "SELECT name FROM pragma_table_info(?1) WHERE \"notnull\" = 1",
                    &[Param::Text(table.name.clone())],
                )
                .await
                .unwrap_or_default();
            let not_null: Vec<String> = not_null.iter().filter_map(|r| r.first().and_then(Cell::as_text)).collect();
            if !wanted.iter().all(|w| not_null.iter().any(|n| n == w)) {
                return false;
            }
            let indexes = b
                .fetch(
                    "SELECT name FROM pragma_index_list(?1) WHERE \"unique\" = 1 AND partial = 0",
                    &[Param::Text(table.name.clone())],
                )
                .await
                .unwrap_or_default();
            for index in indexes.iter().filter_map(|r| r.first().and_then(Cell::as_text)) {
                let columns =
                    b.fetch("SELECT name FROM pragma_index_info(?1)", &[Param::Text(index)]).await.unwrap_or_default();
                let mut names: Vec<Option<String>> =
                    columns.iter().map(|r| r.first().and_then(Cell::as_text)).collect();
                names.sort();
                let mut expected: Vec<Option<String>> = wanted.iter().map(|w| Some((*w).to_owned())).collect();
                expected.sort();
                if names == expected {
                    return true;
                }
            }
            false
        }
        Backend::Postgres(b) => {
            let rows = b
                .fetch(
                    "SELECT COUNT(*) FROM pg_catalog.pg_index i \
                     WHERE i.indrelid = pg_catalog.to_regclass($1) AND i.indisunique AND i.indpred IS NULL \
                       AND i.indexprs IS NULL AND i.indnkeyatts = 2 \
                       AND (SELECT COUNT(*) FROM pg_catalog.pg_attribute a \
                            WHERE a.attrelid = i.indrelid AND a.attnum IN (i.indkey[0], i.indkey[1]) \
                              AND a.attnotnull AND a.attname::text IN ($2, $3)) = 2",
                    &[
                        Param::Text(query::table_sql(table)),
                        Param::Text(wanted[0].to_owned()),
                        Param::Text(wanted[1].to_owned()),
                    ],
                )
                .await
                .unwrap_or_default();
            rows.first().and_then(|r| r.first()).and_then(Cell::as_i64).unwrap_or(0) > 0
        }
    }
}

/// A possibly schema-qualified relation name, each part quoted.
fn quote_relation(name: &str) -> String {
    name.split('.').map(query::quote_ident).collect::<Vec<_>>().join(".")
}

/// The most bytes of values a preview keeps in memory: past it, the rows read so far are shown
/// as a truncated result.
pub const PREVIEW_MAX_BYTES: usize = 256 << 20;

/// Collects at most `max_rows` rows (and [`PREVIEW_MAX_BYTES`] of values) of a preview's result
/// stream as cells; the flag says whether the query had more rows than were kept.
async fn collect_capped<R, E>(
    mut stream: impl futures_util::Stream<Item = Result<R, E>> + Unpin,
    max_rows: usize,
    cells: impl Fn(&R) -> Vec<Cell>,
) -> Result<(Vec<Vec<Cell>>, bool), E> {
    use futures_util::StreamExt as _;
    let mut rows = Vec::new();
    let mut bytes = 0usize;
    while let Some(row) = stream.next().await {
        if rows.len() >= max_rows || bytes > PREVIEW_MAX_BYTES {
            return Ok((rows, true));
        }
        let row = cells(&row?);
        bytes += row.iter().map(Cell::size_hint).sum::<usize>();
        rows.push(row);
    }
    Ok((rows, false))
}

/// A stream's event count from a count stopped past [`query::STREAM_COUNT_CAP`], and whether
/// it is only a lower bound. (Its version span would overstate a stream with gaps, and
/// understate one whose events share versions.)
fn events_of_capped(counted: i64) -> (i64, bool) {
    (counted, counted > query::STREAM_COUNT_CAP)
}

/// Whether a line of a query plan sorts the rows: SQLite's "USE TEMP B-TREE FOR ORDER BY",
/// PostgreSQL's "Sort" node (an incremental sort uses an index for the leading key, and is fine).
fn plan_line_sorts(line: &str) -> bool {
    let line = line.to_ascii_uppercase();
    let node = line.trim_start().trim_start_matches("->").trim_start();
    line.contains("TEMP B-TREE FOR ORDER BY") || node.starts_with("SORT ")
}

/// How many streams the "most recent" order lists when an index on the time gives it (each
/// one's summary is then a query of its own).
const RECENT_BY_INDEX: usize = 500;

/// The order of the streams list: by the sort's key (streams without a time last), then by id.
pub fn stream_order(sort: StreamSort, a: &StreamSummary, b: &StreamSummary) -> std::cmp::Ordering {
    let by_key = match sort {
        StreamSort::MostEvents => b.events.cmp(&a.events),
        // (`None` sorts first in `Option`'s order: reversed, it comes last.)
        StreamSort::Recent => b.last_recorded_at.cmp(&a.last_recorded_at),
        StreamSort::IdDescending => b.stream.0.cmp(&a.stream.0),
        StreamSort::Id => std::cmp::Ordering::Equal,
    };
    by_key.then_with(|| a.stream.0.cmp(&b.stream.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_messages_read_as_words() {
        assert_eq!(
            clean_message("unknown message type: '!' (sqlx_postgres::message:173)"),
            "unknown message type: '!'"
        );
        assert_eq!(clean_message("bad (it happens) twice\nreally"), "bad (it happens) twice really");
        assert_eq!(clean_message(""), "(the database gave no reason)");
        assert_eq!(clean_message("could not connect ()"), "could not connect");
    }

    #[test]
    fn targets() {
        assert_eq!(Target::parse("store.db").unwrap(), Target::Sqlite("store.db".into()));
        assert_eq!(Target::parse("sqlite:///tmp/x.db?mode=ro").unwrap(), Target::Sqlite("/tmp/x.db".into()));
        assert_eq!(Target::parse("sqlite:x.db").unwrap(), Target::Sqlite("x.db".into()));
        assert!(matches!(Target::parse("postgresql://h/db").unwrap(), Target::Postgres(_)));
        let err = Target::parse("mysql://h/db").unwrap_err().to_string();
        assert!(err.contains("`mysql://` is not a store"), "{err}");
        assert!(Target::parse("  ").is_err());
        let conninfo = Target::parse("host=db user=me password=SECRET dbname=shop").unwrap_err().to_string();
        assert!(conninfo.contains("libpq connection string") && !conninfo.contains("SECRET"), "{conninfo}");
    }

    #[test]
    fn urls_are_masked() {
        assert_eq!(
            mask_url("postgres://bob:secret@host:5432/db?sslmode=require"),
            "postgres://bob:***@host:5432/db?sslmode=require"
        );
        assert_eq!(mask_url("postgres://bob@host/db"), "postgres://bob@host/db");
        assert_eq!(mask_url("postgres://host/db"), "postgres://host/db");
        assert_eq!(mask_url("postgres://u:p@ss@host/db"), "postgres://u:***@host/db");
        assert_eq!(
            mask_url("postgres://u@h/db?application_name=x&password%3DSECRET12"),
            "postgres://u@h/db?application_name=x&***"
        );
        // Without `://`: a slash forgotten.
        assert_eq!(mask_url("postgres:/u:secret@host/db"), "postgres:/u:***@host/db");
        assert_eq!(mask_url("postgres:u:secret@host"), "postgres:u:***@host");
        for forgot_a_slash in ["postgres:/u:secret@host/db", "postgresql:u:secret@host", "POSTGRES:/u:secret@h"] {
            let error = Target::parse(forgot_a_slash).unwrap_err().to_string();
            assert!(error.contains("postgres://") && !error.contains("secret"), "{error}");
        }
        assert_eq!(mask_url("postgres://u:pa/ss@host/db"), "postgres://u:***@host/db");
        assert_eq!(mask_url("postgres://u:pa?ss@host/db"), "postgres://u:***@host/db");
        assert_eq!(
            mask_url("postgres://u:p@host/db?x=a@b&sslmode=require"),
            "postgres://u:***@host/db?x=a@b&sslmode=require"
        );
        assert_eq!(
            mask_url("postgres://bob@host/db?password=secret&sslmode=disable"),
            "postgres://bob@host/db?password=***&sslmode=disable"
        );
        assert_eq!(
            url_without_password("postgres://bob:pw@host/db?sslmode=disable&password=secret"),
            "postgres://bob@host/db?sslmode=disable"
        );
        assert_eq!(dot_passwords("postgres://bob:pé@h/db?password=xy&a=1"), "postgres://bob:••@h/db?password=••&a=1");
        assert_eq!(dot_passwords("postgres://h/db"), "postgres://h/db");
        assert_eq!(dot_passwords("postgres://bob:hun"), "postgres://bob:•••", "while typing");
        assert_eq!(dot_passwords("postgres://db:5432/x"), "postgres://db:5432/x");
        assert_eq!(
            mask_url("postgres://localhost/db?user=bob&password=p@ss"),
            "postgres://localhost/db?user=bob&password=***"
        );
        let parts = url_parts("postgres://bob:a%40b@host/db?password=c").unwrap();
        assert_eq!(parts.passwords(), vec!["a%40b", "c"]);
        // The name spelled in percent-encoding, or in capitals, is the same name to sqlx.
        assert_eq!(
            mask_url("postgres://u@localhost/db?pass%77ord=Zq9Secret%23x&sslmode=bogus"),
            "postgres://u@localhost/db?pass%77ord=***&sslmode=bogus"
        );
        assert_eq!(url_without_password("postgres://h/db?PASSWORD=x&a=1"), "postgres://h/db?a=1");
        assert_eq!(dot_passwords("postgres://h/db?%70assword=xy"), "postgres://h/db?%70assword=••");
    }

    #[test]
    fn events_decode_from_cells() {
        use crate::model::Payload;
        let catalog = layout::Catalog {
            tables: vec![layout::CatalogTable {
                schema: None,
                name: "events".into(),
                columns: ["aggregate_id", "version", "event_type", "payload"]
                    .iter()
                    .map(|n| layout::CatalogColumn { name: (*n).into(), type_name: "TEXT".into() })
                    .collect(),
            }],
        };
        let layout = layout::detect(&catalog).unwrap().remove(0);
        let event_from_cells = |cells| decode::event_from_row(&layout, cells, None);
        let event = event_from_cells(vec![
            Cell::Text("s-1".into()),
            Cell::Int(3),
            Cell::Text("Placed".into()),
            Cell::Bytes(br#"{"a":1}"#.to_vec()),
            Cell::Null,
            Cell::Text("2026-03-02 08:00:00".into()),
            Cell::Int(17),
        ]);
        assert_eq!(event.stream.0, "s-1");
        assert_eq!(event.version, 3);
        assert_eq!(event.position, Some(17));
        assert_eq!(*event.payload, Payload::Json(serde_json::json!({"a": 1})));
        assert_eq!(event.metadata, None);
        assert!(event.recorded_at.is_some());
        let null_payload =
            event_from_cells(vec![Cell::Text("s".into()), Cell::Int(1), Cell::Text("T".into()), Cell::Null]);
        assert!(matches!(*null_payload.payload, Payload::Undecodable { .. }));
    }
}
