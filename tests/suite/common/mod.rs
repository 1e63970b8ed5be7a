//! Shared test support: one test story runs on both backends. A [`TestDb`] is a fresh SQLite
//! file or a fresh PostgreSQL database; fixtures are written through a separate, writable
//! connection (eventscope itself never writes).
//!
//! PostgreSQL comes from `EVENTSCOPE_TEST_POSTGRES` (a URL whose role may create databases),
//! defaulting to `postgres://eventscope:eventscope@localhost:5432/eventscope`, the role `.ci/run`
//! creates. When it cannot be reached the PostgreSQL half of a test fails under `CI=true`, and
//! outside CI it is skipped with a loud message.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::Connection;

pub const DEFAULT_PG: &str = "postgres://eventscope:eventscope@localhost:5432/eventscope";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

thread_local! {
    /// One runtime per test thread: a pool's connections live on the runtime that opened them.
    static RUNTIME: tokio::runtime::Runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    RUNTIME.with(|rt| rt.block_on(f))
}

pub fn admin_url() -> String {
    std::env::var("EVENTSCOPE_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_PG.to_owned())
}

pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Whether PostgreSQL tests can run; fails the test under CI when the server is missing.
pub fn postgres_available() -> bool {
    let url = admin_url();
    let reachable = block_on(async {
        match tokio::time::timeout(std::time::Duration::from_secs(5), sqlx::PgConnection::connect(&url)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
                Ok(())
            }
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    });
    match reachable {
        Ok(()) => true,
        Err(e) if in_ci() => {
            panic!("CI=true but PostgreSQL is not reachable at EVENTSCOPE_TEST_POSTGRES: {e}")
        }
        Err(e) => {
            eprintln!(
                "\n!!! SKIPPING the PostgreSQL half of this test: no server ({e}).\n\
                 !!! Run `bash .ci/run` (as root) or set EVENTSCOPE_TEST_POSTGRES to run it.\n"
            );
            false
        }
    }
}

/// One `#[test]` per backend for each story written as `fn story(backend: Backend)`: `story::sqlite`
/// and `story::postgres` (a module and a function may share a name). Without a server the
/// PostgreSQL one returns at once outside CI (`postgres_tests_ran` fails instead) and fails in CI.
#[macro_export]
macro_rules! on_each_backend {
    ($($story:ident),* $(,)?) => {
        $(
            mod $story {
                #[test]
                fn sqlite() {
                    super::$story($crate::common::Backend::Sqlite);
                }

                #[test]
                fn postgres() {
                    if $crate::common::postgres_available() {
                        super::$story($crate::common::Backend::Postgres);
                    }
                }
            }
        )*
    };
}

/// The backends to run a story on: SQLite always, PostgreSQL when available (always in CI).
pub fn backends() -> Vec<Backend> {
    let mut backends = vec![Backend::Sqlite];
    if postgres_available() {
        backends.push(Backend::Postgres);
    }
    backends
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    /// What eventscope is given: a path or a URL.
    pub target: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

/// The workshop store, written once per backend per run and shared by every test that only
/// reads it (eventscope never writes, so they cannot disturb each other).
pub struct Workshop {
    pub db: TestDb,
    pub demo: eventscope::demo::DemoStore,
}

pub fn workshop(backend: Backend) -> &'static Workshop {
    static SQLITE: std::sync::OnceLock<Workshop> = std::sync::OnceLock::new();
    static POSTGRES: std::sync::OnceLock<Workshop> = std::sync::OnceLock::new();
    let cell = match backend {
        Backend::Sqlite => &SQLITE,
        Backend::Postgres => &POSTGRES,
    };
    cell.get_or_init(|| {
        let db = TestDb::new(backend, "shared_workshop");
        let demo = db.write_workshop();
        Workshop { db, demo }
    })
}

/// Whether process `pid` still runs (a test run that left databases or files behind).
fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes what earlier test runs left (a shared database is never dropped; a run may be
/// killed): the `es_test_PID_…` databases and `eventscope-tests-PID` directories of processes
/// that have ended. Once per run.
fn sweep_leftovers(backend: Backend) {
    static SQLITE: std::sync::Once = std::sync::Once::new();
    static POSTGRES: std::sync::Once = std::sync::Once::new();
    let pid_of = |name: &str, prefix: &str| name.strip_prefix(prefix)?.split('_').next()?.parse::<u32>().ok();
    match backend {
        Backend::Sqlite => SQLITE.call_once(|| {
            for entry in std::fs::read_dir(std::env::temp_dir()).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if pid_of(&name, "eventscope-tests-").is_some_and(|pid| !alive(pid)) {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }),
        Backend::Postgres => POSTGRES.call_once(|| {
            block_on(async {
                let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url()).await else { return };
                let names: Vec<String> =
                    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'es\\_test\\_%'")
                        .fetch_all(&mut conn)
                        .await
                        .unwrap_or_default();
                for name in names.iter().filter(|n| pid_of(n, "es_test_").is_some_and(|pid| !alive(pid))) {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await;
                }
                let _ = conn.close().await;
            })
        }),
    }
}

impl TestDb {
    pub fn new(backend: Backend, name: &str) -> TestDb {
        sweep_leftovers(backend);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        match backend {
            Backend::Sqlite => {
                // (Under a directory named by the process, so that a run's leftovers are known.)
                let parent = std::env::temp_dir().join(format!("eventscope-tests-{}", std::process::id()));
                std::fs::create_dir_all(&parent).expect("test directory");
                let dir = tempfile::tempdir_in(&parent).expect("tempdir");
                let path = dir.path().join(format!("{name}.sqlite"));
                TestDb { backend, target: path.display().to_string(), _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let db = format!("es_test_{}_{}_{}", std::process::id(), n, name.to_ascii_lowercase());
                let admin = admin_url();
                block_on(async {
                    let mut conn = sqlx::PgConnection::connect(&admin).await.expect("connect admin");
                    for statement in [format!("DROP DATABASE IF EXISTS {db}"), format!("CREATE DATABASE {db}")] {
                        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                            .execute(&mut conn)
                            .await
                            .expect("create test database");
                    }
                    let _ = conn.close().await;
                });
                let target = replace_database(&admin, &db);
                TestDb { backend, target, _dir: None, pg_name: Some(db) }
            }
        }
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.target)
    }

    /// Runs fixture SQL through a writable connection (statements separated by `;`).
    pub fn exec(&self, sql: &str) {
        let sql = sql.to_owned();
        block_on(async {
            match self.backend {
                Backend::Sqlite => {
                    let options =
                        sqlx::sqlite::SqliteConnectOptions::new().filename(&self.target).create_if_missing(true);
                    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("open fixture");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("fixture sql");
                    conn.close().await.expect("close");
                }
                Backend::Postgres => {
                    let mut conn = sqlx::PgConnection::connect(&self.target).await.expect("connect fixture");
                    sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await.expect("fixture sql");
                    let _ = conn.close().await;
                }
            }
        })
    }

    /// Writes the workshop store into this database.
    pub fn write_workshop(&self) -> eventscope::demo::DemoStore {
        let store = eventscope::demo::generate(eventscope::demo::DemoOptions::default());
        block_on(async {
            match self.backend {
                Backend::Sqlite => eventscope::demo::write_sqlite(&self.path(), &store, false).await,
                Backend::Postgres => eventscope::demo::write_postgres(&self.target, &store, false).await,
            }
        })
        .expect("write workshop store");
        store
    }

    pub fn open(&self) -> eventscope::store::Store {
        block_on(eventscope::store::Store::open(eventscope::store::Target::parse(&self.target).expect("target"), None))
            .expect("open store")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(db) = &self.pg_name {
            let admin = admin_url();
            let db = db.clone();
            let _ = std::thread::spawn(move || {
                block_on(async {
                    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                        let _ =
                            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")))
                                .execute(&mut conn)
                                .await;
                        let _ = conn.close().await;
                    }
                })
            })
            .join();
        }
    }
}

/// The superuser the hostile-preview tests connect as (`EVENTSCOPE_TEST_POSTGRES_SUPERUSER`,
/// default the one `.ci/run` creates).
pub fn superuser_url() -> String {
    std::env::var("EVENTSCOPE_TEST_POSTGRES_SUPERUSER")
        .unwrap_or_else(|_| "postgres://eventscope_super:eventscope@localhost:5432/eventscope".to_owned())
}

impl TestDb {
    /// The URL of this (PostgreSQL) database as the superuser; fails loudly without one.
    pub fn as_superuser(&self) -> String {
        let name = self.pg_name.clone().expect("a PostgreSQL test database");
        let url = replace_database(&superuser_url(), &name);
        let reachable = block_on(async {
            match sqlx::PgConnection::connect(&url).await {
                Ok(conn) => conn.close().await.map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        });
        if let Err(e) = reachable {
            panic!(
                "these tests connect as a PostgreSQL superuser ({e}): create one as `.ci/run` does \
                 (CREATE ROLE eventscope_super LOGIN SUPERUSER PASSWORD 'eventscope'), or set \
                 EVENTSCOPE_TEST_POSTGRES_SUPERUSER"
            );
        }
        url
    }
}

/// The same URL pointing at another database.
pub fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..].find('/').map(|i| i + scheme_end).unwrap_or(base.len());
    format!("{}/{db}{query}", &base[..host_end])
}

/// Runs the eventscope binary; returns (exit success, stdout, stderr).
pub fn eventscope(args: &[&str]) -> (bool, String, String) {
    let (code, out, err) = eventscope_status(args);
    (code == 0, out, err)
}

/// Runs the eventscope binary; returns (exit code, stdout, stderr).
pub fn eventscope_status(args: &[&str]) -> (i32, String, String) {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_eventscope")).args(args).output().expect("run eventscope");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// SHA-like fingerprint of every file in a directory (name → FNV-1a of the bytes).
pub fn fingerprints(dir: &std::path::Path) -> Vec<(String, usize, u64)> {
    let mut out: Vec<(String, usize, u64)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let bytes = std::fs::read(entry.path()).expect("read file");
            let hash =
                bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3));
            (entry.file_name().to_string_lossy().into_owned(), bytes.len(), hash)
        })
        .collect();
    out.sort();
    out
}

/// CSV read back with the csv crate: every record, the header included.
pub fn read_csv(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|record| record.expect("a CSV record").iter().map(str::to_owned).collect())
        .collect()
}
