//! The hostile preview corpus: more than a hundred texts that try to change a store or its
//! server through the SQL preview — every statement kind but SELECT, statements smuggled behind
//! each quoting form of each dialect, transaction control, VACUUM INTO, ATTACH, PRAGMA, functions
//! that run SQL text, escaped and schema-qualified names, file readers and listers, signalling
//! other sessions, advisory locks, replication slots, statistics resets, set_config,
//! dblink/postgres_fdw, sequences, transaction ids, user-defined functions, operators, domains
//! and views — run on SQLite (a WAL store with a writer attached) and on PostgreSQL (connected as
//! a superuser, dblink and postgres_fdw installed). After each one the store is unchanged (SQLite:
//! every file byte for byte; PostgreSQL: the events, the relations, replication slots, advisory
//! locks, statistics resets, a sequence, large objects, another session alive; and `pg_dump`
//! before and after the whole corpus), no file was created, and the user got one line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::Connection;

use super::common::{self, Backend, TestDb, block_on};
use eventscope::projection::sql::{PreviewError, PreviewLimits, PreviewPermissions, preview};
use eventscope::store::{CancelToken, Store, Target};

/// Which guard must refuse a text: the one of a dialect it is written for (on the other
/// backend it must fail all the same, for any reason), or none in particular.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Guard {
    Both,
    Sqlite,
    Postgres,
    /// Any error will do (a function that does not exist, say): it must not run.
    Any,
}

/// `{OUT}` is a path that must never come to exist; `{VICTIM}` the process id of another
/// session; `{CONNINFO}` a libpq connection string to the store's own database.
const CORPUS: &[(Guard, &str)] = &[
    // Every statement kind but a query.
    (Guard::Both, "INSERT INTO events SELECT * FROM events"),
    (Guard::Both, "DELETE FROM events"),
    (Guard::Both, "DELETE FROM events WHERE 1 = 1 RETURNING *"),
    (Guard::Both, "UPDATE events SET event_type = 'x'"),
    (Guard::Both, "DROP TABLE events"),
    (Guard::Both, "DROP VIEW orders_by_region"),
    (Guard::Both, "CREATE TABLE intruder (x int)"),
    (Guard::Both, "CREATE TEMP VIEW intruder AS SELECT 1; DELETE FROM events"),
    (Guard::Both, "CREATE INDEX hacked ON events (event_type)"),
    (Guard::Both, "CREATE VIEW intruder AS SELECT 1; DROP TABLE events"),
    (Guard::Sqlite, "CREATE TRIGGER t AFTER INSERT ON events BEGIN DELETE FROM events; END"),
    (Guard::Both, "ALTER TABLE events ADD COLUMN hacked int"),
    (Guard::Both, "ALTER TABLE events RENAME TO gone"),
    (Guard::Both, "BEGIN"),
    (Guard::Both, "COMMIT"),
    (Guard::Both, "ROLLBACK"),
    (Guard::Both, "END"),
    (Guard::Both, "SAVEPOINT s"),
    (Guard::Both, "RELEASE SAVEPOINT s"),
    (Guard::Both, "ANALYZE"),
    (Guard::Both, "VACUUM"),
    (Guard::Postgres, "REINDEX TABLE events"),
    (Guard::Sqlite, "REINDEX events"),
    (Guard::Postgres, "TRUNCATE events"),
    (Guard::Sqlite, "REPLACE INTO events SELECT * FROM events"),
    (Guard::Sqlite, "INSERT OR REPLACE INTO events SELECT * FROM events"),
    (Guard::Sqlite, "CREATE VIRTUAL TABLE intruder USING fts5(x)"),
    (Guard::Sqlite, "INSERT INTO sqlite_master VALUES ('table', 'x', 'x', 0, 'CREATE TABLE x (y)')"),
    (Guard::Postgres, "MERGE INTO events e USING events f ON false WHEN NOT MATCHED THEN DO NOTHING"),
    (Guard::Postgres, "LOCK TABLE events IN ACCESS EXCLUSIVE MODE"),
    (Guard::Postgres, "LISTEN hostile"),
    (Guard::Postgres, "NOTIFY hostile"),
    (Guard::Postgres, "CHECKPOINT"),
    (Guard::Postgres, "DISCARD ALL"),
    (Guard::Postgres, "RESET ALL"),
    (Guard::Postgres, "SET ROLE postgres"),
    (Guard::Postgres, "SET default_transaction_read_only = off"),
    (Guard::Postgres, "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE"),
    (Guard::Postgres, "ALTER SYSTEM SET work_mem = '1GB'"),
    (Guard::Postgres, "GRANT ALL ON events TO PUBLIC"),
    (Guard::Postgres, "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'"),
    (Guard::Postgres, "CREATE EXTENSION adminpack"),
    (Guard::Postgres, "DO $$BEGIN DELETE FROM events; END$$"),
    (Guard::Postgres, "CALL intruder()"),
    (Guard::Postgres, "PREPARE p AS DELETE FROM events"),
    (Guard::Postgres, "EXECUTE p"),
    (Guard::Postgres, "EXPLAIN ANALYZE DELETE FROM events"),
    (Guard::Postgres, "COPY events TO '{OUT}/copy.csv'"),
    (Guard::Postgres, "COPY (SELECT 1) TO PROGRAM 'touch {OUT}'"),
    (Guard::Postgres, "REFRESH MATERIALIZED VIEW orders_by_region"),
    (Guard::Postgres, "DECLARE c CURSOR FOR SELECT * FROM events"),
    (Guard::Postgres, "SELECT * INTO intruder FROM events"),
    (Guard::Postgres, "SELECT * FROM events FOR UPDATE"),
    (Guard::Postgres, "SELECT * FROM events FOR SHARE NOWAIT"),
    (Guard::Postgres, "SELECT * FROM (SELECT * FROM events FOR NO KEY UPDATE) x"),
    // Writes inside a query.
    // (SQLite has no data-modifying WITH: a syntax error there.)
    (Guard::Postgres, "WITH gone AS (DELETE FROM events RETURNING 1) SELECT count(*) FROM gone"),
    (Guard::Postgres, "WITH x AS (INSERT INTO events SELECT * FROM events RETURNING 1) SELECT 1"),
    (Guard::Postgres, "WITH x AS (UPDATE events SET version = version RETURNING 1) SELECT 1"),
    // A second statement behind each quoting form.
    (Guard::Both, "SELECT 1; DELETE FROM events"),
    (Guard::Both, "SELECT 1;DELETE FROM events;"),
    (Guard::Both, "SELECT 1 -- a comment\n; DELETE FROM events"),
    (Guard::Both, "SELECT 1 /* ; */ ; DELETE FROM events"),
    (Guard::Both, "SELECT 1 /* /* */ ; DELETE FROM events; */ ; DELETE FROM events"),
    (Guard::Both, "SELECT ';' ; DELETE FROM events"),
    (Guard::Both, "SELECT 'it''s' ; DELETE FROM events"),
    (Guard::Both, "SELECT \"a;b\" FROM (SELECT 1 AS \"a;b\") x; DELETE FROM events"),
    (Guard::Both, "COMMIT; DELETE FROM events"),
    (Guard::Sqlite, "SELECT 1; ATTACH DATABASE '{OUT}' AS a"),
    (Guard::Sqlite, "COMMIT; VACUUM INTO '{OUT}'"),
    (Guard::Sqlite, "SELECT $1$; VACUUM INTO '{OUT}'; SELECT $1$"),
    (Guard::Sqlite, "SELECT $1$ , 1; DELETE FROM events; SELECT $1$"),
    (Guard::Sqlite, "SELECT [a'b] FROM (SELECT 1 AS [a'b]); VACUUM INTO '{OUT}' -- '"),
    (Guard::Sqlite, "SELECT `a'b` FROM (SELECT 1 AS `a'b`); DELETE FROM events -- '"),
    (Guard::Sqlite, "SELECT 1 UNION SELECT 2; PRAGMA foreign_keys = 0"),
    (Guard::Sqlite, "SELECT * FROM events WHERE 0; ATTACH '{OUT}' AS z"),
    (Guard::Postgres, "SELECT $$;$$; DELETE FROM events"),
    (Guard::Postgres, "SELECT $a$ $b$ ; $a$; DELETE FROM events"),
    (Guard::Postgres, "SELECT E'\\''; DELETE FROM events; --'"),
    (Guard::Postgres, "SELECT 'a\\'; DELETE FROM events; --'"),
    (Guard::Postgres, "SELECT U&'\\0027'; DELETE FROM events"),
    (Guard::Postgres, "SELECT 1; DO $$BEGIN DELETE FROM events; END$$"),
    (Guard::Postgres, "SELECT 1 /* nested /* comment */ still */ ; DROP TABLE events"),
    // SQLite: files, attached databases, pragmas, extensions.
    (Guard::Sqlite, "VACUUM INTO '{OUT}'"),
    (Guard::Sqlite, "VACUUM main INTO '{OUT}'"),
    (Guard::Sqlite, "ATTACH DATABASE '{OUT}' AS a"),
    (Guard::Sqlite, "ATTACH ':memory:' AS m"),
    (Guard::Sqlite, "DETACH DATABASE main"),
    (Guard::Sqlite, "PRAGMA journal_mode = DELETE"),
    (Guard::Sqlite, "PRAGMA journal_mode = WAL"),
    (Guard::Sqlite, "PRAGMA user_version = 42"),
    (Guard::Sqlite, "PRAGMA writable_schema = ON"),
    (Guard::Sqlite, "PRAGMA wal_checkpoint(TRUNCATE)"),
    (Guard::Sqlite, "PRAGMA optimize"),
    (Guard::Sqlite, "PRAGMA table_info(events)"),
    (Guard::Sqlite, "ANALYZE sqlite_schema"),
    (Guard::Sqlite, "SELECT * FROM events; PRAGMA journal_mode = DELETE"),
    (Guard::Any, "SELECT load_extension('{OUT}')"),
    (Guard::Any, "SELECT fts3_tokenizer('simple')"),
    (Guard::Any, "SELECT writefile('{OUT}', 'x')"),
    (Guard::Any, "SELECT readfile('/etc/passwd')"),
    // PostgreSQL: functions that run SQL given as text.
    (Guard::Postgres, "SELECT query_to_xml('DELETE FROM events RETURNING 1', true, false, '')"),
    (
        Guard::Postgres,
        "SELECT query_to_xml('SELECT dblink_exec(''{CONNINFO}'', ''DELETE FROM events'')', true, false, '')",
    ),
    (Guard::Postgres, "SELECT pg_catalog.query_to_xml('SELECT 1', true, false, '')"),
    (Guard::Postgres, "SELECT U&\"query\\005Fto_xml\"('SELECT 1', true, false, '')"),
    (Guard::Postgres, "SELECT \"query_to_xml\"('SELECT 1', true, false, '')"),
    (Guard::Postgres, "SELECT query_to_xmlschema('SELECT 1', true, false, '')"),
    (Guard::Postgres, "SELECT table_to_xml('evil_view', true, false, '')"),
    (Guard::Postgres, "SELECT database_to_xml(true, false, '')"),
    (Guard::Postgres, "SELECT ts_stat('SELECT to_tsvector(event_type) FROM events')"),
    (Guard::Postgres, "SELECT ts_rewrite('a'::tsquery, 'SELECT ''a''::tsquery, ''b''::tsquery')"),
    // dblink and postgres_fdw: a second session that is not read-only.
    (Guard::Postgres, "SELECT dblink_exec('{CONNINFO}', 'DELETE FROM events')"),
    (Guard::Postgres, "SELECT public.dblink_exec('{CONNINFO}', 'DELETE FROM events')"),
    (Guard::Postgres, "SELECT \"dblink_exec\"('{CONNINFO}', 'DELETE FROM events')"),
    (Guard::Postgres, "SELECT U&\"\\0064blink_exec\"('{CONNINFO}', 'DELETE FROM events')"),
    (Guard::Postgres, "SELECT * FROM dblink('{CONNINFO}', 'DELETE FROM events RETURNING 1') AS t(x int)"),
    (Guard::Postgres, "SELECT dblink_connect('c', '{CONNINFO}')"),
    (Guard::Postgres, "SELECT dblink_send_query('c', 'DELETE FROM events')"),
    (Guard::Postgres, "SELECT x FROM events, LATERAL dblink_exec('{CONNINFO}', 'DELETE FROM events') x"),
    (Guard::Postgres, "SELECT postgres_fdw_disconnect_all()"),
    // Files on the server.
    (Guard::Postgres, "SELECT pg_read_file('/etc/passwd')"),
    (Guard::Postgres, "SELECT \"pg_read_file\"('/etc/passwd')"),
    (Guard::Postgres, "SELECT pg_catalog.pg_read_file('/etc/passwd')"),
    (Guard::Postgres, "SELECT \"pg_catalog\".\"pg_read_file\"('/etc/passwd')"),
    (Guard::Postgres, "SELECT U&\"\\0070g_read_file\"('/etc/passwd')"),
    (Guard::Postgres, "SELECT (pg_read_file('/etc/passwd'))"),
    (Guard::Postgres, "SELECT * FROM (SELECT pg_read_file('/etc/passwd')) x"),
    (Guard::Postgres, "SELECT x FROM events, LATERAL pg_read_file('/etc/passwd') x LIMIT 1"),
    (Guard::Postgres, "SELECT pg_read_binary_file('/etc/passwd')"),
    (Guard::Postgres, "SELECT pg_stat_file('/etc/passwd')"),
    (Guard::Postgres, "SELECT * FROM pg_ls_dir('/')"),
    (Guard::Postgres, "SELECT * FROM ROWS FROM (pg_ls_dir('/'))"),
    (Guard::Postgres, "SELECT * FROM pg_ls_waldir()"),
    (Guard::Postgres, "SELECT * FROM pg_ls_logdir()"),
    (Guard::Postgres, "SELECT lo_import('/etc/passwd')"),
    (Guard::Postgres, "SELECT lo_export(1, '{OUT}')"),
    (Guard::Postgres, "SELECT lo_unlink(1)"),
    (Guard::Any, "SELECT pg_file_write('{OUT}', 'x', false)"),
    // Other sessions, locks, replication, statistics, settings, the server.
    (Guard::Postgres, "SELECT pg_terminate_backend({VICTIM})"),
    (Guard::Postgres, "SELECT pg_cancel_backend({VICTIM})"),
    (Guard::Postgres, "SELECT CASE WHEN false THEN pg_terminate_backend({VICTIM}) END"),
    (Guard::Postgres, "SELECT count(*) FROM events WHERE pg_terminate_backend({VICTIM})"),
    (Guard::Postgres, "SELECT pg_log_backend_memory_contexts({VICTIM})"),
    (Guard::Postgres, "SELECT pg_advisory_lock(42)"),
    (Guard::Postgres, "SELECT pg_try_advisory_lock(42)"),
    (Guard::Postgres, "SELECT pg_advisory_xact_lock(42)"),
    (Guard::Postgres, "SELECT array_agg(pg_advisory_lock(1)) FROM events"),
    (Guard::Postgres, "WITH x AS (SELECT pg_advisory_lock(7)) SELECT * FROM x"),
    (Guard::Postgres, "VALUES (pg_advisory_lock(8))"),
    (Guard::Postgres, "SELECT pg_create_logical_replication_slot('hostile_slot', 'test_decoding')"),
    (Guard::Postgres, "SELECT pg_create_physical_replication_slot('hostile_phys', true)"),
    (Guard::Postgres, "SELECT pg_stat_reset()"),
    (Guard::Postgres, "SELECT pg_stat_reset_shared('bgwriter')"),
    (Guard::Postgres, "SELECT set_config('default_transaction_read_only', 'off', false)"),
    (Guard::Postgres, "SELECT set_config('search_path', 'evil', false)"),
    (Guard::Postgres, "SELECT pg_reload_conf()"),
    (Guard::Postgres, "SELECT pg_switch_wal()"),
    (Guard::Postgres, "SELECT pg_notify('hostile', 'x')"),
    (Guard::Postgres, "SELECT pg_logical_emit_message(true, 'x', 'y')"),
    (Guard::Postgres, "SELECT pg_create_restore_point('hostile')"),
    (Guard::Postgres, "SELECT pg_import_system_collations('pg_catalog')"),
    (Guard::Postgres, "SELECT pg_promote()"),
    (Guard::Postgres, "SELECT pg_sleep(0)"),
    (Guard::Postgres, "SELECT nextval('hostile_seq')"),
    (Guard::Postgres, "SELECT setval('hostile_seq', 1000)"),
    (Guard::Postgres, "SELECT txid_current()"),
    (Guard::Postgres, "SELECT pg_current_xact_id()"),
    // User-defined functions, operators, domains and views.
    (Guard::Postgres, "SELECT evil()"),
    (Guard::Postgres, "SELECT public.evil()"),
    (Guard::Postgres, "SELECT evil_immutable()"),
    (Guard::Postgres, "SELECT * FROM evil_view"),
    (Guard::Postgres, "SELECT * FROM public.evil_view_of_view"),
    (Guard::Postgres, "SELECT 1 === 1"),
    (Guard::Postgres, "SELECT 1 OPERATOR(public.===) 1"),
    (Guard::Postgres, "SELECT 'x'::evil_domain"),
    (Guard::Postgres, "SELECT CAST('x' AS public.evil_domain)"),
    (Guard::Postgres, "SELECT * FROM events WHERE event_type = evil_text()"),
    (Guard::Postgres, "SELECT * FROM events ORDER BY version USING ==="),
];

/// Found by a hostile review: ways PostgreSQL calls a function that is not written as a call
/// (a name after a dot, operators it adds itself, implicit casts, SQL/JSON syntax that older
/// servers read as calls, foreign tables, domains and policies behind views). Run after
/// [`TRAPS`] is installed.
/// Each text with the function its refusal must name.
const CORPUS_IMPLICIT: &[(&str, &str)] = &[
    ("SELECT (42::int8).pg_advisory_lock", "pg_advisory_lock"),
    ("SELECT (lower('/etc/passwd')).pg_read_file", "pg_read_file"),
    ("SELECT (lower('/')).pg_ls_dir", "pg_ls_dir"),
    ("SELECT ({VICTIM}).pg_terminate_backend", "pg_terminate_backend"),
    ("SELECT (lower('hostile_slot')::name).pg_create_physical_replication_slot", "pg_create_physical_replication_slot"),
    ("SELECT (lower('bgwriter')).pg_stat_reset_shared", "pg_stat_reset_shared"),
    ("SELECT e.fnote FROM events e", "fnote"),
    ("SELECT NOT (x <<< 2) FROM generate_series(1, 1) x", "evil_bool"),
    ("SELECT upper('a'::mood)", "mood_text"),
    ("SELECT json_scalar(1)", "json_scalar"),
    ("SELECT * FROM ft_trap", "foreign table"),
    ("SELECT * FROM v_dom", "evil_check"),
    ("SELECT * FROM rls_t", "evil"),
    ("TABLE rls_t", "evil"),
];

/// Operators PostgreSQL adds itself (`IN`, `NOT IN`, `CASE x WHEN`, `BETWEEN`), sprung once
/// [`OPERATOR_TRAPS`] is installed (last: they make every comparison suspect).
const CORPUS_IMPLICIT_OPERATORS: &[(&str, &str)] = &[
    ("SELECT lower('a') IN (SELECT 1)", "eq_ti"),
    ("SELECT lower('a') NOT IN (SELECT 1)", "eq_ti"),
    ("SELECT CASE lower('a') WHEN 1 THEN 'x' END", "eq_ti"),
    ("SELECT lower('a') BETWEEN 1 AND 2", "_ti"),
];

/// The traps [`CORPUS_IMPLICIT`] springs (each function would delete the events).
const TRAPS: &str = "
CREATE FUNCTION fnote(events) RETURNS text LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN 'x'; END$$;
CREATE OPERATOR public.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = int4lt);
CREATE OPERATOR public.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_bool, NEGATOR = <<<);
CREATE TYPE mood AS ENUM ('a');
CREATE FUNCTION mood_text(mood) RETURNS text LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN 'a'; END$$;
CREATE CAST (mood AS text) WITH FUNCTION mood_text(mood) AS IMPLICIT;
CREATE FUNCTION public.json_scalar(int) RETURNS text LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN 'x'; END$$;
CREATE SERVER loopback FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'localhost', dbname '{DATABASE}');
CREATE USER MAPPING FOR CURRENT_USER SERVER loopback OPTIONS (user 'eventscope_super', password 'eventscope');
CREATE FOREIGN TABLE ft_trap (x int) SERVER loopback OPTIONS (table_name 'evil_view');
CREATE VIEW v_dom AS SELECT CAST(lower('x') AS evil_domain) AS d;
CREATE TABLE rls_t (x int);
INSERT INTO rls_t VALUES (1);
ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;
ALTER TABLE rls_t FORCE ROW LEVEL SECURITY;
CREATE POLICY rls_p ON rls_t USING ((SELECT count(*) FROM evil_view) > 0);
";

/// The operator traps of [`CORPUS_IMPLICIT_OPERATORS`].
const OPERATOR_TRAPS: &str = "
CREATE FUNCTION eq_ti(text, int) RETURNS bool LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN true; END$$;
CREATE FUNCTION ge_ti(text, int) RETURNS bool LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN true; END$$;
CREATE FUNCTION le_ti(text, int) RETURNS bool LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN true; END$$;
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = int, FUNCTION = eq_ti);
CREATE OPERATOR public.>= (LEFTARG = text, RIGHTARG = int, FUNCTION = ge_ti);
CREATE OPERATOR public.<= (LEFTARG = text, RIGHTARG = int, FUNCTION = le_ti);
";

/// The texts with their placeholders filled in.
fn texts(out: &Path, victim: i32, conninfo: &str) -> Vec<(Guard, String)> {
    CORPUS
        .iter()
        .map(|(guard, text)| {
            let text = text
                .replace("{OUT}", &out.display().to_string())
                .replace("{VICTIM}", &victim.to_string())
                .replace("{CONNINFO}", conninfo);
            (*guard, text)
        })
        .collect()
}

/// (A time-out long enough that the guard's catalog questions finish on a loaded machine: a
/// refusal must come from the guard, not from the clock.)
fn limits() -> PreviewLimits {
    PreviewLimits { timeout: Duration::from_secs(30), max_rows: 10 }
}

/// Runs one text and checks what the user was told; gives the message.
fn run_one(store: &Store, backend: Backend, guard: Guard, text: &str, permissions: &PreviewPermissions) -> String {
    let outcome = block_on(preview(store, text, limits(), permissions, &CancelToken::default()));
    let error = match outcome {
        Ok((_, rows)) => panic!("{backend:?}: `{text}` ran and gave {} rows", rows.rows.len()),
        Err(error) => error,
    };
    let message = error.to_string();
    assert!(!message.trim().is_empty() && !message.contains('\n'), "{backend:?}: `{text}`: not one line: {message:?}");
    let must_be_refused = match guard {
        Guard::Both => true,
        Guard::Sqlite => backend == Backend::Sqlite,
        Guard::Postgres => backend == Backend::Postgres,
        Guard::Any => false,
    };
    if must_be_refused {
        assert!(
            matches!(error, PreviewError::Refused(_) | PreviewError::FunctionNotAllowed { .. }),
            "{backend:?}: `{text}` was not refused by the guard: {error:?}"
        );
        assert!(message.starts_with("refused: "), "{backend:?}: `{text}`: {message}");
    }
    message
}

fn unique_out() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    std::env::temp_dir().join(format!("eventscope-hostile-{}-{n}", std::process::id()))
}

#[test]
fn the_corpus_is_large_enough() {
    assert!(CORPUS.len() >= 100, "{} texts", CORPUS.len());
}

#[test]
fn hostile_previews_leave_a_sqlite_store_unchanged() {
    let db = TestDb::new(Backend::Sqlite, "hostile");
    db.write_workshop();
    let dir = db.path().parent().unwrap().to_owned();
    // A writer keeps the store open in WAL mode: `-wal` and `-shm` exist, and are read.
    let writer = block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(db.path())
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("writer");
        sqlx::query("SELECT count(*) FROM events").fetch_one(&mut conn).await.expect("writer reads");
        conn
    });
    assert!(dir.join("hostile.sqlite-wal").exists() && dir.join("hostile.sqlite-shm").exists());
    let before = common::fingerprints(&dir);
    let store = db.open();
    assert!(store.describe().contains("WAL"), "{}", store.describe());
    let out = unique_out();
    let mut refused = 0;
    for (guard, text) in texts(&out, 1, "") {
        let message = run_one(&store, Backend::Sqlite, guard, &text, &PreviewPermissions::default());
        refused += usize::from(message.starts_with("refused: "));
        assert_eq!(common::fingerprints(&dir), before, "SQLite: `{text}` changed the store's files ({message})");
        assert!(!out.exists(), "SQLite: `{text}` created {}", out.display());
    }
    // The store still answers, and the legitimate queries still run.
    let (_, rows) = block_on(preview(
        &store,
        "SELECT count(*) FROM events",
        limits(),
        &PreviewPermissions::default(),
        &CancelToken::default(),
    ))
    .unwrap();
    assert_eq!(rows.rows[0][0].as_i64(), Some(2679));
    block_on(store.close());
    block_on(writer.close()).expect("close writer");
    eprintln!("SQLite: {refused} of {} hostile previews refused by the guard, the rest failed", CORPUS.len());
}

/// The database name at the end of a URL.
fn database_of(url: &str) -> String {
    url.split('?').next().unwrap_or(url).rsplit('/').next().unwrap_or_default().to_owned()
}

/// Everything a hostile preview could change on the server, as one string.
fn server_state(conn: &mut sqlx::PgConnection) -> String {
    block_on(
        sqlx::query_scalar::<_, String>(
            "SELECT concat_ws(' / ', \
               (SELECT count(*) FROM events), \
               (SELECT md5(string_agg(e::text, '|' ORDER BY position)) FROM events e), \
               (SELECT string_agg(relname::text, ',' ORDER BY relname) FROM pg_class \
                  WHERE relnamespace = 'public'::regnamespace), \
               (SELECT count(*) FROM pg_replication_slots), \
               (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), \
               (SELECT coalesce(stats_reset::text, 'never') FROM pg_stat_database WHERE datname = current_database()), \
               (SELECT stats_reset::text FROM pg_stat_bgwriter), \
               (SELECT last_value FROM hostile_seq), \
               (SELECT count(*) FROM pg_largeobject_metadata), \
               (SELECT count(*) FROM pg_proc WHERE pronamespace = 'public'::regnamespace))",
        )
        .fetch_one(conn),
    )
    .expect("read the server's state")
}

fn open_refusal(url: &str) -> String {
    match block_on(Store::open(Target::parse(url).unwrap(), None)) {
        Ok(_) => panic!("{url} opened"),
        Err(e) => e.to_string(),
    }
}

fn pg_dump(url: &str) -> String {
    let output = std::process::Command::new("pg_dump")
        .args(["--no-owner", "--no-privileges", "-d", url])
        .output()
        .expect("pg_dump must be installed (it comes with PostgreSQL's client)");
    assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
    // (`\restrict KEY` lines carry a key pg_dump draws anew each run.)
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with("\\restrict") && !line.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

const FIXTURE: &str = "
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE EXTENSION IF NOT EXISTS postgres_fdw;
CREATE SEQUENCE hostile_seq;
CREATE FUNCTION evil() RETURNS int LANGUAGE plpgsql AS $$BEGIN DELETE FROM events; RETURN 1; END$$;
CREATE FUNCTION evil_immutable() RETURNS text LANGUAGE sql IMMUTABLE
    AS $$SELECT dblink_exec('{CONNINFO}', 'DELETE FROM events')$$;
CREATE FUNCTION evil_bool(int, int) RETURNS bool LANGUAGE plpgsql
    AS $$BEGIN DELETE FROM events; RETURN true; END$$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_bool);
CREATE FUNCTION evil_check(text) RETURNS bool LANGUAGE plpgsql
    AS $$BEGIN DELETE FROM events; RETURN true; END$$;
CREATE DOMAIN evil_domain AS text CHECK (evil_check(VALUE));
CREATE FUNCTION evil_text() RETURNS text LANGUAGE plpgsql STABLE AS $$BEGIN RETURN 'x'; END$$;
CREATE VIEW evil_view AS SELECT evil() AS x;
CREATE VIEW evil_view_of_view AS SELECT * FROM evil_view;
";

#[test]
fn hostile_previews_leave_a_postgres_store_and_its_server_unchanged() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "hostile");
    db.write_workshop();
    let url = db.as_superuser();
    let mut admin = block_on(sqlx::PgConnection::connect(&url)).expect("connect as the superuser");
    let conninfo = format!("host=localhost dbname={} user=eventscope_super password=eventscope", database_of(&url));
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(FIXTURE.replace("{CONNINFO}", &conninfo))).execute(&mut admin))
        .expect("fixture");
    let mut victim = block_on(sqlx::PgConnection::connect(&db.target)).expect("victim session");
    let victim_pid: i32 = block_on(sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut victim)).unwrap();

    let store = block_on(Store::open(Target::parse(&url).unwrap(), None)).expect("open as superuser");
    let role = store.role.clone().expect("the role is read on connecting");
    assert!(role.superuser && role.is_privileged(), "{role:?}");
    assert!(store.describe().contains("privileged role"), "{}", store.describe());
    // Under a privileged role, nothing runs until the user says they understand.
    match block_on(preview(&store, "SELECT 1", limits(), &PreviewPermissions::default(), &CancelToken::default())) {
        Err(PreviewError::PrivilegedRole { summary }) => assert!(summary.contains("superuser"), "{summary}"),
        other => panic!("{other:?}"),
    }
    let understood = PreviewPermissions { privileged_role: true, ..Default::default() };

    let dump = pg_dump(&url);
    let before = server_state(&mut admin);
    let out = unique_out();
    for (guard, text) in texts(&out, victim_pid, &conninfo) {
        let message = run_one(&store, Backend::Postgres, guard, &text, &understood);
        assert_eq!(server_state(&mut admin), before, "PostgreSQL: `{text}` changed the server ({message})");
        assert!(!out.exists(), "PostgreSQL: `{text}` created {}", out.display());
        block_on(sqlx::query("SELECT 1").execute(&mut victim))
            .unwrap_or_else(|e| panic!("PostgreSQL: `{text}` ended another session: {e}"));
    }
    assert_eq!(pg_dump(&url), dump, "pg_dump differs after the corpus");

    // A user-defined function the user allows by name runs; the others stay refused.
    let mut allowed = understood.clone();
    allowed.allowed_functions.insert("evil_text".to_owned());
    let (_, rows) =
        block_on(preview(&store, "SELECT evil_text() AS x", limits(), &allowed, &CancelToken::default())).unwrap();
    assert_eq!(rows.rows[0][0].as_text().as_deref(), Some("x"));
    match block_on(preview(&store, "SELECT evil_text() AS x", limits(), &understood, &CancelToken::default())) {
        Err(PreviewError::FunctionNotAllowed { function, message }) => {
            assert_eq!(function, "evil_text");
            assert!(message.contains("--allow-function evil_text"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    // The command line says the same in one line, and takes the user's word by flag.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evil_text.sql");
    std::fs::write(&file, "SELECT evil_text() AS x").unwrap();
    let file = file.display().to_string();
    let (ok, _, err) = common::eventscope(&["preview", &url, "--sql", &file]);
    assert!(!ok && err.lines().count() == 1 && err.contains("privileged role"), "{err}");
    assert!(err.contains("--allow-privileged-role"), "{err}");
    let (ok, _, err) = common::eventscope(&["preview", &url, "--sql", &file, "--allow-privileged-role"]);
    assert!(!ok && err.lines().count() == 1 && err.contains("--allow-function evil_text"), "{err}");
    let (ok, out, err) = common::eventscope(&[
        "preview",
        &url,
        "--sql",
        &file,
        "--allow-privileged-role",
        "--allow-function",
        "evil_text",
    ]);
    assert!(ok, "{err}");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&out).unwrap(), serde_json::json!([{"x": "x"}]));
    assert_eq!(server_state(&mut admin), before);

    // Functions PostgreSQL calls without their being written as calls.
    let traps = TRAPS.replace("{DATABASE}", &database_of(&url));
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(traps)).execute(&mut admin)).expect("traps");
    // (The store stays open from before.)
    let spring = |corpus: &[(&str, &str)], admin: &mut sqlx::PgConnection, victim: &mut sqlx::PgConnection| {
        let before = server_state(admin);
        for (text, names) in corpus {
            let text = text.replace("{VICTIM}", &victim_pid.to_string());
            let message = run_one(&store, Backend::Postgres, Guard::Postgres, &text, &understood);
            assert!(message.contains(names), "PostgreSQL: `{text}` refused for another reason: {message}");
            assert_eq!(server_state(admin), before, "PostgreSQL: `{text}` changed the server ({message})");
            block_on(sqlx::query("SELECT 1").execute(&mut *victim))
                .unwrap_or_else(|e| panic!("PostgreSQL: `{text}` ended another session: {e}"));
        }
    };
    spring(CORPUS_IMPLICIT, &mut admin, &mut victim);
    block_on(sqlx::raw_sql(OPERATOR_TRAPS).execute(&mut admin)).expect("operator traps");
    spring(CORPUS_IMPLICIT_OPERATORS, &mut admin, &mut victim);
    // A privileged role no longer opens this store: reading its events may call a planted
    // operator.
    let refused = open_refusal(&url);
    assert!(refused.contains("will not read this store") && refused.contains("_ti"), "{refused}");
    block_on(store.close());
    let _ = block_on(victim.close());
    let _ = block_on(admin.close());
}

/// A role that only owns its store is not privileged: previews run without a tick box, and the
/// status line says the role could write the events table (were the session not read-only).
#[test]
fn a_plain_role_is_named_but_not_refused() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres, "plainrole");
    db.write_workshop();
    let store = db.open();
    let role = store.role.clone().expect("role read");
    assert!(!role.is_privileged() && role.can_write_events, "{role:?}");
    assert!(store.describe().contains("could write the events table"), "{}", store.describe());
    let (_, rows) = block_on(preview(
        &store,
        "SELECT count(*) AS n FROM events",
        limits(),
        &PreviewPermissions::default(),
        &CancelToken::default(),
    ))
    .unwrap();
    assert_eq!(rows.rows[0][0].as_i64(), Some(2679));
    block_on(store.close());
}
