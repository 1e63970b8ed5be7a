//! Fuzz properties (proptest, time-bounded by hand) for the parts of eventscope that read what a
//! stranger wrote: SQLite files with any schema opened through `Store::open`, and preview SQL
//! checked by the SQLite guard (authorizer, one statement, `sqlite3_stmt_readonly`) and by the
//! PostgreSQL guard (`pg_guard::analyse`, then the catalog check on a live server).
//!
//! The texts come from a grammar of SQL fragments (every statement kind, functions that write or
//! read files, comments, each quoting form, semicolons, nested subqueries, deep nesting), from
//! mutations of those, and from arbitrary strings. The grammar knows which texts hold, as real
//! syntax, a statement other than one query: those must be refused. Whatever the text, nothing
//! panics and the store is byte for byte (SQLite) or row for row and catalog entry for catalog
//! entry (PostgreSQL, with trap functions that log through another session when called) the same
//! afterwards.
//!
//! Each property runs a few dozen cases under `cargo test`; its `_long` twin (ignored) runs for
//! `EVENTSCOPE_FUZZ_SECONDS` (default 600) and prints how many executions it made:
//! `cargo test --test suite -- --ignored --nocapture fuzz::sqlite_previews_long`.

use crate::common;

use std::cell::{Cell, RefCell};
use std::ffi::{CString, c_int, c_void};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libsqlite3_sys as ffi;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config, TestRunner};
use sqlx::Connection;

use common::{Backend, TestDb, block_on};
use eventscope::projection::sql::{PreviewError, PreviewLimits, PreviewPermissions, preview};
use eventscope::store::{CancelToken, Store, Target, pg_guard, sqlite_guard};

// ---------------------------------------------------------------------------------------------
// Running a property for a number of cases or for a while.

/// How long a property runs: `cargo test` runs a few cases; the `_long` twins run for a while.
#[derive(Clone, Copy, Debug)]
enum Budget {
    Cases(u32),
    Long,
}

/// How the cases of the running property ended (`accepted`, `refused` …), printed at its end.
static OUTCOMES: std::sync::Mutex<std::collections::BTreeMap<&'static str, u64>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn outcome(what: &'static str) {
    *OUTCOMES.lock().unwrap_or_else(|e| e.into_inner()).entry(what).or_default() += 1;
}

fn long_seconds() -> u64 {
    std::env::var("EVENTSCOPE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600)
}

/// Runs `test` on values of `strategy` within `budget`; a failure (a panic included) is shrunk
/// and reported with the number of executions before it. Prints the executions made and the
/// slowest case (measured, never asserted).
fn fuzz<S: Strategy>(name: &str, strategy: S, budget: Budget, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let started = Instant::now();
    let executions = Cell::new(0u64);
    let slowest = Cell::new(Duration::ZERO);
    let counted = |value: S::Value| {
        executions.set(executions.get() + 1);
        let at = Instant::now();
        let outcome = test(value);
        slowest.set(slowest.get().max(at.elapsed()));
        outcome
    };
    let (cases, seconds) = match budget {
        Budget::Cases(n) => (n, 0),
        Budget::Long => (200, long_seconds()),
    };
    let config = Config { cases, failure_persistence: None, ..Config::default() };
    loop {
        // (A runner counts its successes for good: one per batch, each with a seed of its own.)
        if let Err(e) = TestRunner::new(config.clone()).run(&strategy, counted) {
            panic!("{name}: failed after {} executions: {e}", executions.get());
        }
        if started.elapsed().as_secs() >= seconds {
            break;
        }
    }
    let outcomes = std::mem::take(&mut *OUTCOMES.lock().unwrap_or_else(|e| e.into_inner()));
    eprintln!(
        "{name}: {} executions in {:.1?}, slowest case {:.1?}, no failure; outcomes {outcomes:?}",
        executions.get(),
        started.elapsed(),
        slowest.get()
    );
}

// ---------------------------------------------------------------------------------------------
// The grammar.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// What one generated statement is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// One query (it may still be refused: a function, a relation …).
    Query,
    /// `CREATE VIEW / TABLE … AS query`: a preview runs only its query; as given, it writes.
    Defines,
    /// Anything else: writes, schema changes, transaction control, ATTACH, PRAGMA, VACUUM …
    Other,
}

/// A generated text and what the grammar knows of it (nothing, for arbitrary or damaged texts).
#[derive(Clone, Debug)]
struct Text {
    sql: String,
    /// One kind per statement, when the grammar built the text; `None` otherwise.
    kinds: Option<Vec<Kind>>,
}

impl Text {
    fn raw(sql: String) -> Text {
        Text { sql, kinds: None }
    }

    /// Whether running the text as given would do more than run one query.
    fn must_refuse_as_given(&self) -> bool {
        self.kinds.as_ref().is_some_and(|k| k.len() > 1 || k.iter().any(|k| *k != Kind::Query))
    }

    /// Whether a preview (which runs only the query of a `CREATE … AS`) must refuse it.
    fn must_refuse_previewed(&self) -> bool {
        self.kinds.as_ref().is_some_and(|k| k.len() > 1 || k.contains(&Kind::Other))
    }

    fn with_out(&self, out: &Path) -> Text {
        Text { sql: self.sql.replace("{OUT}", &out.display().to_string()), kinds: self.kinds.clone() }
    }
}

fn strs(items: &[&'static str]) -> BoxedStrategy<String> {
    select(items.to_vec()).prop_map(str::to_owned).boxed()
}

const SQLITE_FUNCTIONS: &[&str] = &[
    "abs",
    "upper",
    "lower",
    "length",
    "substr",
    "coalesce",
    "ifnull",
    "printf",
    "format",
    "quote",
    "hex",
    "unhex",
    "random",
    "randomblob",
    "zeroblob",
    "replace",
    "trim",
    "typeof",
    "instr",
    "json",
    "json_extract",
    "json_set",
    "json_object",
    "json_group_array",
    "json_each",
    "count",
    "sum",
    "max",
    "min",
    "avg",
    "group_concat",
    "date",
    "datetime",
    "strftime",
    "julianday",
    "unixepoch",
    "sqlite_version",
    "changes",
    "last_insert_rowid",
    "likelihood",
    "row_number",
    "lag",
    "iif",
    "char",
    "glob",
    "like",
    "soundex",
    "sqlite_compileoption_get",
    "load_extension",
    "writefile",
    "readfile",
    "edit",
    "fts3_tokenizer",
    "sqlite_offset",
    "sqlite_dbpage",
    "fts5",
    "highlight",
    "match",
    "regexp",
    "pg_sleep",
    "eval",
    "zipfile",
    "sha3",
];

const POSTGRES_FUNCTIONS: &[&str] = &[
    "abs",
    "upper",
    "lower",
    "length",
    "substr",
    "coalesce",
    "format",
    "md5",
    "random",
    "now",
    "clock_timestamp",
    "count",
    "sum",
    "max",
    "array_agg",
    "string_agg",
    "jsonb_build_object",
    "jsonb_agg",
    "jsonb_path_query",
    "to_jsonb",
    "generate_series",
    "current_setting",
    "set_config",
    "nextval",
    "setval",
    "currval",
    "pg_sleep",
    "pg_read_file",
    "pg_ls_dir",
    "pg_stat_file",
    "pg_advisory_lock",
    "pg_try_advisory_xact_lock",
    "pg_terminate_backend",
    "pg_cancel_backend",
    "pg_notify",
    "pg_stat_reset",
    "pg_reload_conf",
    "lo_import",
    "lo_unlink",
    "txid_current",
    "pg_current_xact_id",
    "query_to_xml",
    "table_to_xml",
    "ts_stat",
    "dblink",
    "dblink_exec",
    "pg_catalog.pg_read_file",
    "pg_catalog.upper",
    "public.evil",
    "\"pg_read_file\"",
    "U&\"\\0070g_sleep\"",
    "json_scalar",
    "json_object",
    "row_number",
    "evil",
    "evil_immutable",
    "evil_stable",
    "fnote",
    "trap",
    "mood_text",
    "evil_check",
];

const SQLITE_OPERATORS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "=",
    "==",
    "<>",
    "!=",
    "<",
    ">=",
    "AND",
    "OR",
    "LIKE",
    "GLOB",
    "IS",
    "IS NOT",
    "->",
    "->>",
    "<<",
    "&",
    "COLLATE NOCASE ||",
];

const POSTGRES_OPERATORS: &[&str] = &[
    "+",
    "-",
    "*",
    "/",
    "%",
    "||",
    "=",
    "<>",
    "<",
    ">=",
    "AND",
    "OR",
    "LIKE",
    "ILIKE",
    "~",
    "IS DISTINCT FROM",
    "->",
    "->>",
    "@>",
    "===",
    "<<<",
    "OPERATOR(pg_catalog.+)",
    "OPERATOR(public.===)",
    "#>>",
];

fn leaf(d: Dialect) -> BoxedStrategy<String> {
    let common: &[&str] = &[
        "0",
        "1",
        "-1",
        "42",
        "9223372036854775807",
        "1e308",
        "NULL",
        "TRUE",
        "'x'",
        "'it''s'",
        "';'",
        "'; DELETE FROM events; --'",
        "''",
        "'/*'",
        "'--'",
        "'{OUT}/s.db'",
        "version",
        "payload",
        "event_type",
        "aggregate_id",
        "position",
        "recorded_at",
        "e.payload",
        "\"a;b\"",
        "\"version\"",
        "/* ; */ 1",
        "-- ;\n 2",
    ];
    let dialect: &[&str] = match d {
        Dialect::Sqlite => &[
            "X'00FF'",
            "[version]",
            "`payload`",
            "rowid",
            "CURRENT_TIMESTAMP",
            "?1",
            ":name",
            "$x",
            "'{\"a\":1}'",
            "e.rowid",
        ],
        Dialect::Postgres => &[
            "$$;$$",
            "$a$ $b$ ; $a$",
            "E'\\''",
            "U&'\\0027'",
            "'{}'::jsonb",
            "ARRAY[1, 2]",
            "interval '1 day'",
            "current_user",
            "e.fnote",
            "(e).fnote",
            "(42::int8).pg_advisory_lock",
            "'a'::mood",
            "'x'::evil_domain",
            "$1",
            "B'101'",
            "'/'::text",
        ],
    };
    prop_oneof![
        3 => strs(common),
        2 => strs(dialect),
        1 => any::<i64>().prop_map(|i| i.to_string()),
        1 => "[a-zA-Z0-9 ;'\"_*/-]{0,12}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
    ]
    .boxed()
}

fn tables(d: Dialect) -> BoxedStrategy<String> {
    match d {
        Dialect::Sqlite => strs(&[
            "events",
            "events e",
            "events AS e",
            "snapshots",
            "snapshots s",
            "orders_by_region",
            "sqlite_master",
            "sqlite_schema",
            "sqlite_temp_master",
            "pragma_table_info('events')",
            "pragma_journal_mode",
            "pragma_database_list",
            "json_each('[1,2,3]')",
            "json_tree('{\"a\":[1]}')",
            "(SELECT 1 AS x) s",
            "events e JOIN snapshots s USING (aggregate_id)",
            "events e LEFT JOIN events f ON f.position = e.position + 1",
            "generate_series(1, 3)",
            "dbstat",
            "sqlite_dbpage",
            "main.events",
            "temp.x",
            "missing_table",
            "\"events\"",
        ]),
        Dialect::Postgres => strs(&[
            "events",
            "events e",
            "events AS e",
            "snapshots",
            "orders_by_region",
            "evil_view",
            "evil_view_of_view",
            "rls_t",
            "trap_log",
            "generate_series(1, 3) g",
            "pg_catalog.pg_class",
            "pg_stat_activity",
            "pg_settings",
            "information_schema.tables",
            "events e JOIN snapshots s USING (aggregate_id)",
            "events e, LATERAL (SELECT 1) x",
            "ROWS FROM (generate_series(1, 2)) r",
            "events TABLESAMPLE system (50)",
            "public.events",
            "\"events\"",
            "missing_table",
            "pg_ls_dir('/') d",
            "dblink('dbname=x', 'SELECT 1') AS t(x int)",
        ]),
    }
}

fn types(d: Dialect) -> BoxedStrategy<String> {
    match d {
        Dialect::Sqlite => strs(&["INTEGER", "TEXT", "BLOB", "REAL", "NUMERIC", "int8", "whatever"]),
        Dialect::Postgres => strs(&[
            "int",
            "text",
            "jsonb",
            "int8",
            "uuid",
            "regclass",
            "evil_domain",
            "mood",
            "public.evil_domain",
            "xml",
        ]),
    }
}

/// Expressions: leaves, calls, operators, CASE, casts, subqueries, nested as deep as proptest's
/// recursion allows.
fn expr(d: Dialect) -> BoxedStrategy<String> {
    let functions = match d {
        Dialect::Sqlite => SQLITE_FUNCTIONS,
        Dialect::Postgres => POSTGRES_FUNCTIONS,
    };
    let operators = match d {
        Dialect::Sqlite => SQLITE_OPERATORS,
        Dialect::Postgres => POSTGRES_OPERATORS,
    };
    leaf(d)
        .prop_recursive(4, 24, 3, move |inner| {
            let call =
                (strs(functions), vec(inner.clone(), 0..3)).prop_map(|(f, args)| format!("{f}({})", args.join(", ")));
            let star = strs(functions).prop_map(|f| format!("{f}(*)"));
            let binary = (inner.clone(), strs(operators), inner.clone()).prop_map(|(a, op, b)| format!("{a} {op} {b}"));
            // ("- ", not "-": two minus signs make a comment.)
            let unary = (strs(&["NOT ", "- ", "+", "~", "("]), inner.clone())
                .prop_map(|(op, a)| if op == "(" { format!("({a})") } else { format!("{op}{a}") });
            let case = (inner.clone(), inner.clone(), inner.clone())
                .prop_map(|(a, b, c)| format!("CASE WHEN {a} THEN {b} ELSE {c} END"));
            let cast = (inner.clone(), types(d), any::<bool>()).prop_map(move |(a, t, short)| {
                if short && d == Dialect::Postgres { format!("({a})::{t}") } else { format!("CAST({a} AS {t})") }
            });
            let sub = (inner.clone(), tables(d), inner.clone(), 0..4u8).prop_map(|(a, t, b, form)| match form {
                0 => format!("(SELECT {a} FROM {t} WHERE {b} LIMIT 1)"),
                1 => format!("EXISTS (SELECT {a} FROM {t})"),
                2 => format!("{a} IN (SELECT {b} FROM {t})"),
                _ => format!("{a} NOT IN ({b}, 1)"),
            });
            let other = (inner.clone(), inner.clone(), inner, 0..4u8).prop_map(|(a, b, c, form)| match form {
                0 => format!("{a} BETWEEN {b} AND {c}"),
                1 => format!("{a} IS NULL"),
                2 => format!("count({a}) OVER (ORDER BY {b})"),
                _ => format!("/* {b} */ {a}"),
            });
            prop_oneof![4 => call, 1 => star, 4 => binary, 2 => unary, 1 => case, 1 => cast, 2 => sub, 1 => other]
        })
        .boxed()
}

/// Expressions that mostly compile against the store (its columns, functions with the right
/// arguments), with the traps of the live server among them: many of these queries run.
fn simple_expr(d: Dialect) -> BoxedStrategy<String> {
    let leaves: &[&str] = match d {
        Dialect::Sqlite => &[
            "version",
            "e.version",
            "event_type",
            "aggregate_id",
            "position",
            "recorded_at",
            "1",
            "'x'",
            "NULL",
            "upper(event_type)",
            "length(payload)",
            "json_extract(payload, '$.total')",
            "payload ->> '$.total'",
            "abs(version - 3)",
            "coalesce(metadata, 'none')",
            "substr(aggregate_id, 1, 4)",
            "random()",
            "typeof(payload)",
            "(SELECT count(*) FROM snapshots)",
            "(SELECT max(version) FROM events)",
            "rowid",
            "printf('%d', version)",
            "zeroblob(10)",
            "hex(randomblob(4))",
            "json_array_length(json_extract(payload, '$.lines'))",
            "load_extension('x')",
            "readfile('/etc/passwd')",
            "fts3_tokenizer('simple')",
            "sqlite_version()",
        ],
        Dialect::Postgres => &[
            "version",
            "e.version",
            "event_type",
            "aggregate_id::text",
            "position",
            "recorded_at",
            "1",
            "'x'",
            "NULL",
            "lower(event_type)",
            "length(event_type)",
            "payload ->> 'total'",
            "payload -> 'lines'",
            "jsonb_typeof(payload)",
            "coalesce(metadata ->> 'actor', 'none')",
            "abs(version - 3)",
            "upper(event_type)",
            "upper(version)",
            "abs('x')",
            "evil()",
            "evil_immutable()",
            "evil_stable(version)",
            "e.fnote",
            "(e).fnote",
            "fnote(e)",
            "version === 1",
            "version >>> 1",
            "NOT (version <<< 2)",
            "'a'::mood",
            "upper('a'::mood)",
            "CAST('x' AS evil_domain)",
            "json_scalar(1)",
            "(SELECT x FROM evil_view)",
            "(SELECT count(*) FROM rls_t)",
            "(SELECT count(*) FROM trap_log)",
            "nextval('fuzz_seq')",
            "pg_advisory_lock(1)",
            "random()",
            "now()",
            "txid_current()",
            "current_setting('search_path')",
            "set_config('search_path', 'public', true)",
            "(SELECT max(version) FROM events)",
            "pg_catalog.lower(event_type)",
            "query_to_xml('SELECT evil()', true, false, '')",
            "dblink_exec('dbname=x', 'DELETE FROM events')",
            "lo_import('/etc/passwd')",
            "pg_read_file('/etc/hostname')",
        ],
    };
    let ops: &[&str] = &["+", "-", "*", "||", "=", "<", "<>", "AND", "OR", ">="];
    strs(leaves)
        .prop_recursive(2, 6, 2, move |inner| {
            (inner.clone(), strs(ops), inner).prop_map(|(a, op, b)| format!("({a} {op} {b})"))
        })
        .boxed()
}

fn simple_query(d: Dialect) -> BoxedStrategy<String> {
    (vec(simple_expr(d), 1..3), proptest::option::of(simple_expr(d)), 0..5u8, 0..30u32)
        .prop_map(|(columns, filter, form, limit)| {
            let filter = filter.map(|f| format!(" WHERE {f}")).unwrap_or_default();
            let columns = columns.join(", ");
            match form {
                0 => format!("SELECT {columns} FROM events e{filter} LIMIT {limit}"),
                1 => format!("WITH c AS (SELECT * FROM events e{filter}) SELECT count(*), max(version) FROM c"),
                2 => format!("SELECT {columns} FROM events e{filter} ORDER BY position DESC LIMIT {limit}"),
                3 => format!("SELECT {columns}"),
                _ => format!(
                    "SELECT event_type, count(*) FROM events e{filter} GROUP BY event_type ORDER BY 2 DESC LIMIT {limit}"
                ),
            }
        })
        .boxed()
}

fn select_stmt(d: Dialect) -> BoxedStrategy<String> {
    (
        vec(expr(d), 1..4),
        prop_oneof![3 => Just(Some("events e".to_owned())), 1 => proptest::option::of(tables(d))],
        proptest::option::of(expr(d)),
        proptest::option::of(expr(d)),
        proptest::option::of(0..5u32),
        any::<bool>(),
    )
        .prop_map(|(columns, from, filter, order, limit, distinct)| {
            let mut s = format!("SELECT {}{}", if distinct { "DISTINCT " } else { "" }, columns.join(", "));
            if let Some(from) = from {
                s.push_str(&format!(" FROM {from}"));
            }
            if let Some(filter) = filter {
                s.push_str(&format!(" WHERE {filter}"));
            }
            if let Some(order) = order {
                s.push_str(&format!(" ORDER BY {order}"));
            }
            if let Some(limit) = limit {
                s.push_str(&format!(" LIMIT {limit}"));
            }
            s
        })
        .boxed()
}

/// One query.
fn query(d: Dialect) -> BoxedStrategy<String> {
    let explain = match d {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN ",
        Dialect::Postgres => "",
    };
    (prop_oneof![select_stmt(d), simple_query(d)], simple_query(d), expr(d), 0..9u8)
        .prop_map(move |(a, b, e, form)| match form {
            0 => a,
            1 | 8 => b,
            2 => format!("WITH c AS ({a}) SELECT * FROM c"),
            3 => format!("WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT {e} FROM r LIMIT 3"),
            4 => format!("{a} UNION ALL {b}"),
            5 => format!("VALUES ({e})"),
            6 => format!("SELECT * FROM ({a}) AS sub WHERE {e}"),
            _ => format!("{explain}{a}"),
        })
        .boxed()
}

/// Statements other than one query (each must be refused), with their SQL.
fn other(d: Dialect) -> BoxedStrategy<String> {
    let fixed = strs(&[
        "INSERT INTO events SELECT * FROM events",
        "INSERT OR REPLACE INTO orders_by_region VALUES ('x', '{}')",
        "REPLACE INTO orders_by_region VALUES ('x', '{}')",
        "INSERT INTO orders_by_region VALUES ('x', '{}') ON CONFLICT DO NOTHING",
        "DELETE FROM events",
        "DELETE FROM events WHERE 1 = 1 RETURNING *",
        "UPDATE events SET event_type = 'x'",
        "UPDATE orders_by_region SET orders = orders RETURNING 1",
        "MERGE INTO events e USING events f ON false WHEN NOT MATCHED THEN DO NOTHING",
        "SELECT * INTO intruder FROM events",
        "SELECT * FROM events FOR UPDATE",
        "SELECT * FROM (SELECT * FROM events FOR SHARE) x",
        "SELECT 1 FROM events FOR NO KEY UPDATE SKIP LOCKED",
        "WITH gone AS (DELETE FROM events RETURNING 1) SELECT count(*) FROM gone",
        "WITH x AS (UPDATE events SET version = version RETURNING 1) SELECT 1",
        "WITH x AS (INSERT INTO orders_by_region VALUES ('y', '{}') RETURNING 1) SELECT * FROM x",
        "ATTACH DATABASE '{OUT}/a.db' AS a",
        "ATTACH ':memory:' AS m",
        "ATTACH 'file:{OUT}/b.db?mode=rwc' AS b",
        "DETACH DATABASE main",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA journal_mode = WAL",
        "PRAGMA user_version = 7",
        "PRAGMA writable_schema = ON",
        "PRAGMA wal_checkpoint(TRUNCATE)",
        "PRAGMA table_info(events)",
        "PRAGMA optimize",
        "PRAGMA integrity_check",
        "VACUUM",
        "VACUUM INTO '{OUT}/v.db'",
        "VACUUM main INTO '{OUT}/w.db'",
        "ANALYZE",
        "ANALYZE events",
        "REINDEX",
        "REINDEX events",
        "BEGIN",
        "BEGIN IMMEDIATE",
        "COMMIT",
        "ROLLBACK",
        "END",
        "SAVEPOINT s",
        "RELEASE SAVEPOINT s",
        "CREATE TABLE intruder (x)",
        "CREATE TEMP TABLE intruder (x)",
        "CREATE INDEX hacked ON events (event_type)",
        "CREATE TRIGGER t AFTER INSERT ON events BEGIN DELETE FROM events; END",
        "CREATE VIRTUAL TABLE f USING fts5(x)",
        "DROP TABLE events",
        "DROP TABLE IF EXISTS orders_by_region",
        "DROP INDEX events_recorded_at",
        "ALTER TABLE events ADD COLUMN hacked INT",
        "ALTER TABLE orders_by_region RENAME TO gone",
        "TRUNCATE events",
        "COPY events TO '{OUT}/copy.csv'",
        "COPY (SELECT 1) TO PROGRAM 'touch {OUT}/p'",
        "DO $$BEGIN DELETE FROM events; END$$",
        "CALL intruder()",
        "SET default_transaction_read_only = off",
        "SET ROLE postgres",
        "RESET ALL",
        "LOCK TABLE events IN ACCESS EXCLUSIVE MODE",
        "LISTEN x",
        "NOTIFY x",
        "CHECKPOINT",
        "DISCARD ALL",
        "EXPLAIN ANALYZE DELETE FROM events",
        "PREPARE p AS DELETE FROM events",
        "EXECUTE p",
        "DECLARE c CURSOR FOR SELECT 1",
        "REFRESH MATERIALIZED VIEW orders_by_region",
        "GRANT ALL ON events TO PUBLIC",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
        "CREATE EXTENSION adminpack",
        "SELECT 1 AS x INTO TEMP t",
        "INSERT INTO events DEFAULT VALUES",
    ]);
    let explain = match d {
        // EXPLAIN is a query on SQLite, a statement of its own on PostgreSQL.
        Dialect::Sqlite => "EXPLAIN DELETE FROM events WHERE ",
        Dialect::Postgres => "EXPLAIN SELECT 1 WHERE ",
    };
    let built = (expr(d), expr(d), select_stmt(d), 0..6u8).prop_map(move |(a, b, s, form)| match form {
        0 => format!("DELETE FROM events WHERE {a}"),
        1 => format!("UPDATE events SET payload = {a} WHERE {b}"),
        2 => format!("INSERT INTO orders_by_region (region_id, orders) {s}"),
        3 => format!("WITH x AS (DELETE FROM events WHERE {a} RETURNING 1) {s}"),
        4 => format!("{s} FOR UPDATE"),
        _ => format!("{explain}{a}"),
    });
    prop_oneof![2 => fixed, 1 => built].boxed()
}

fn defines(d: Dialect) -> BoxedStrategy<String> {
    (strs(&["VIEW v", "TEMP VIEW v", "TABLE t", "TABLE IF NOT EXISTS t", "MATERIALIZED VIEW m"]), query(d))
        .prop_map(|(what, q)| format!("CREATE {what} AS {q}"))
        .boxed()
}

fn statement(d: Dialect) -> BoxedStrategy<(String, Kind)> {
    // (EXPLAIN on SQLite only reads; on PostgreSQL `other` covers it.)
    let sqlite_explain_kind = |s: &str| s.starts_with("EXPLAIN DELETE");
    prop_oneof![
        5 => query(d).prop_map(|q| (q, Kind::Query)),
        3 => other(d).prop_map(move |s| {
            let kind = if d == Dialect::Sqlite && sqlite_explain_kind(&s) { Kind::Query } else { Kind::Other };
            (s, kind)
        }),
        1 => defines(d).prop_map(|s| (s, Kind::Defines)),
    ]
    .boxed()
}

/// Texts of one to three statements the grammar understands: each separator holds a real `;`.
fn grammar_text(d: Dialect) -> BoxedStrategy<Text> {
    (
        prop_oneof![3 => vec(statement(d), 1..2), 1 => vec(statement(d), 2..4)],
        vec(strs(&[";", " ; ", ";\n", "; -- a comment\n", " /* ; */ ;", ";;", "; /* x */"]), 3),
        strs(&["", " ", "\n", "/* hi */ ", "-- c\n", "\u{feff}", "\t"]),
        strs(&["", ";", " ;", "; ", " -- end", " /* end */", ";;", "\n", "; /* x */ ;"]),
    )
        .prop_map(|(statements, separators, prefix, suffix)| {
            let mut sql = prefix;
            for (i, (s, _)) in statements.iter().enumerate() {
                if i > 0 {
                    sql.push_str(&separators[i - 1]);
                }
                sql.push_str(s);
            }
            sql.push_str(&suffix);
            Text { sql, kinds: Some(statements.into_iter().map(|(_, k)| k).collect()) }
        })
        .boxed()
}

const TOKENS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "WITH",
    "RECURSIVE",
    "AS",
    "INSERT",
    "INTO",
    "VALUES",
    "UPDATE",
    "SET",
    "DELETE",
    "ATTACH",
    "DETACH",
    "PRAGMA",
    "VACUUM",
    "CREATE",
    "DROP",
    "TABLE",
    "VIEW",
    "TRIGGER",
    "BEGIN",
    "END",
    "COMMIT",
    "RETURNING",
    "UNION",
    "ALL",
    "ORDER",
    "BY",
    "LIMIT",
    "FOR",
    "UPDATE",
    "OVER",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "events",
    "e",
    "payload",
    "version",
    "(",
    ")",
    ",",
    ";",
    ".",
    "*",
    "+",
    "-",
    "/",
    "=",
    "'",
    "''",
    "\"",
    "`",
    "[",
    "]",
    "$$",
    "$a$",
    "/*",
    "*/",
    "--",
    "\n",
    "?",
    ":a",
    "@",
    "1",
    "0x",
    "1e",
    "E'\\'",
    "U&'",
    "writefile",
    "load_extension",
    "pg_read_file",
    "pg_sleep",
    "upper(",
    "json_extract(",
    "->>",
    "::",
    "::text",
    "COPY",
    "DO",
    "EXPLAIN",
    "ANALYZE",
    "INTO '{OUT}/t.db'",
    "\\",
    "\u{0}",
    "é",
    "\u{1F600}",
    "ROWS",
    "LATERAL",
    "NOT",
    "NULL",
];

/// Arbitrary texts: any string, token soup, and grammar texts with a few bytes changed.
fn raw_text(d: Dialect) -> BoxedStrategy<Text> {
    let damaged = (grammar_text(d), vec((any::<prop::sample::Index>(), 0..3u8, any::<char>()), 1..4)).prop_map(
        |(text, edits)| {
            let mut chars: Vec<char> = text.sql.chars().collect();
            for (at, op, c) in edits {
                if chars.is_empty() {
                    chars.push(c);
                    continue;
                }
                let i = at.index(chars.len());
                match op {
                    0 => chars.insert(i, c),
                    1 => {
                        chars.remove(i);
                    }
                    _ => chars.truncate(i),
                }
            }
            Text::raw(chars.into_iter().collect())
        },
    );
    prop_oneof![
        1 => any::<String>().prop_map(Text::raw),
        1 => "\\PC{0,80}".prop_map(Text::raw),
        3 => (vec(strs(TOKENS), 0..40), any::<bool>())
            .prop_map(|(tokens, tight)| Text::raw(tokens.join(if tight { "" } else { " " }))),
        3 => damaged,
    ]
    .boxed()
}

/// Deep nesting: one opener many times, closed or not, maybe with a second statement after.
fn deep_text(max: usize) -> BoxedStrategy<Text> {
    let openers: &[(&str, &str)] = &[
        ("(", ")"),
        ("(SELECT ", ")"),
        ("- ", ""),
        ("NOT ", ""),
        ("1 + ", ""),
        ("ARRAY[", "]"),
        ("CASE WHEN true THEN ", " END"),
        ("abs(", ")"),
        ("(VALUES (", "))"),
        ("coalesce(1, ", ")"),
        ("x || ", ""),
        ("EXISTS (SELECT ", ")"),
        ("(SELECT 1 FROM (SELECT ", ") s)"),
    ];
    (select(openers.to_vec()), 0..max, 0..3u8)
        .prop_map(|((open, close), n, form)| {
            let body = format!("SELECT {}1{}", open.repeat(n), close.repeat(n));
            match form {
                0 => Text { sql: body, kinds: Some(vec![Kind::Query]) },
                1 => Text { sql: format!("{body}; DELETE FROM events"), kinds: Some(vec![Kind::Query, Kind::Other]) },
                // Unclosed.
                _ => Text::raw(format!("SELECT {}1", open.repeat(n))),
            }
        })
        .boxed()
}

fn texts(d: Dialect, deep: usize) -> BoxedStrategy<Text> {
    prop_oneof![6 => grammar_text(d), 3 => raw_text(d), 1 => deep_text(deep)].boxed()
}

// ---------------------------------------------------------------------------------------------
// SQLite: files with random schemas, opened through `Store::open`.

/// A quoted SQLite identifier (NUL is left out: SQLite text cannot hold it).
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\0', "").replace('"', "\"\""))
}

const SCHEMA_COLUMNS: &[&str] = &[
    "aggregate_id",
    "version",
    "event_type",
    "payload",
    "metadata",
    "recorded_at",
    "position",
    "aggregate_type",
    "originator_id",
    "originator_version",
    "topic",
    "state",
    "sequence",
    "stream_id",
    "stream_position",
    "message_type",
    "message_data",
    "global_position",
    "type",
    "data",
    "id",
    "event_id",
    "stream",
    "AGGREGATE_ID",
    "Version",
    "rowid",
    "oid",
    "_rowid_",
    "select",
    "a\"b",
    "",
    " ",
    "é",
];

const SCHEMA_TABLES: &[&str] = &[
    "events",
    "snapshots",
    "stored_events",
    "stored_snapshots",
    "EVENTS",
    "emt_messages",
    "messages",
    "mt_events",
    "event_store_events_in_streams",
    "event_store_events",
    "domain_event_entry",
    "stream_events",
    "streams",
    "select",
    "a.b",
    "",
    " ",
    "é_events",
];

const SCHEMA_TYPES: &[&str] = &[
    "TEXT",
    "INTEGER",
    "BLOB",
    "REAL",
    "",
    "jsonb",
    "json",
    "uuid",
    "timestamp with time zone",
    "DATETIME",
    "VARCHAR(20)",
    "TEXT NOT NULL DEFAULT 'x'",
    "ANY",
    "int8",
    "\"quoted type\"",
];

/// Tables of the layouts eventscope knows, by name and columns (most schemas are near one).
const SCHEMA_TEMPLATES: &[(&str, &[&str])] = &[
    ("events", &["aggregate_id", "version", "event_type", "payload", "metadata", "recorded_at", "position"]),
    ("snapshots", &["aggregate_id", "version", "state"]),
    ("stored_events", &["originator_id", "originator_version", "topic", "state"]),
    ("stored_snapshots", &["originator_id", "originator_version", "topic", "state"]),
    (
        "events",
        &[
            "aggregate_type",
            "aggregate_id",
            "sequence",
            "event_type",
            "event_version",
            "payload",
            "metadata",
            "timestamp",
        ],
    ),
    (
        "emt_messages",
        &[
            "stream_id",
            "stream_position",
            "global_position",
            "message_type",
            "message_data",
            "message_metadata",
            "created",
            "is_archived",
        ],
    ),
    ("messages", &["global_position", "position", "stream_name", "type", "data", "metadata", "time", "id"]),
    ("mt_events", &["seq_id", "stream_id", "version", "data", "type", "headers", "timestamp"]),
    ("mt_streams", &["id", "type", "snapshot", "snapshot_version"]),
    ("event_store_events_in_streams", &["id", "stream", "position", "event_id"]),
    ("event_store_events", &["id", "event_id", "event_type", "data", "metadata", "created_at"]),
    ("stream_events", &["event_id", "stream_id", "stream_version", "original_stream_id"]),
    ("streams", &["stream_id", "stream_uuid"]),
    ("events", &["event_id", "event_type", "data", "metadata", "created_at"]),
    (
        "domain_event_entry",
        &[
            "aggregate_identifier",
            "sequence_number",
            "payload_type",
            "payload",
            "meta_data",
            "time_stamp",
            "global_index",
            "type",
        ],
    ),
    (
        "domainevententry",
        &["aggregateidentifier", "sequencenumber", "payloadtype", "payload", "metadata", "globalindex"],
    ),
];

/// The statements that make a random schema, with a few rows.
fn schema_sql() -> BoxedStrategy<String> {
    let template = select(SCHEMA_TEMPLATES.to_vec())
        .prop_flat_map(|(name, columns)| {
            (Just(name.to_owned()), proptest::sample::subsequence(columns.to_vec(), 0..=columns.len()))
        })
        .prop_map(|(name, columns)| (name, columns.into_iter().map(str::to_owned).collect::<Vec<_>>()));
    let random = (prop_oneof![4 => strs(SCHEMA_TABLES), 1 => "\\PC{0,10}"], Just(Vec::new()));
    let name_and_base = prop_oneof![3 => template, 1 => random];
    let column = (
        prop_oneof![4 => strs(SCHEMA_COLUMNS), 1 => "\\PC{0,8}"],
        prop_oneof![4 => strs(SCHEMA_TYPES), 1 => "[a-zA-Z][a-zA-Z ]{0,10}"],
    );
    let table = (name_and_base, vec(strs(SCHEMA_TYPES), 12), vec(column, 0..4), 0..4u8, 0..3u8, any::<bool>());
    (vec(table, 0..6), any::<bool>(), any::<bool>())
        .prop_map(|(tables, wal, views)| {
            let mut sql = String::new();
            if wal {
                sql.push_str("PRAGMA journal_mode = WAL;\n");
            }
            sql.push_str("BEGIN;\n");
            let mut names = std::collections::HashSet::new();
            for ((name, base), base_types, extra, options, rows, upper) in &tables {
                // (SQLite refuses a table or a column name twice: most schemas should be made.)
                let name = if *upper { name.to_uppercase() } else { name.clone() };
                if !names.insert(name.replace('\0', "").to_lowercase()) {
                    continue;
                }
                let mut seen = std::collections::HashSet::new();
                let columns: Vec<(String, String)> = base
                    .iter()
                    .cloned()
                    .zip(base_types.iter().cloned())
                    .chain(extra.iter().cloned())
                    .filter(|(c, _)| seen.insert(c.replace('\0', "").to_lowercase()))
                    .collect();
                let mut defs: Vec<String> =
                    columns.iter().map(|(c, t)| format!("{} {t}", quoted(c)).trim_end().to_owned()).collect();
                if defs.is_empty() {
                    defs.push("x".to_owned());
                }
                let suffix = match options {
                    1 => {
                        let key = columns.first().map(|c| c.0.clone()).unwrap_or_else(|| "x".to_owned());
                        defs.push(format!("PRIMARY KEY ({})", quoted(&key)));
                        " WITHOUT ROWID"
                    }
                    2 => {
                        if let Some((c, _)) = columns.first() {
                            defs[0] = format!("{} INTEGER PRIMARY KEY", quoted(c));
                        }
                        ""
                    }
                    _ => "",
                };
                sql.push_str(&format!("CREATE TABLE {} ({}){suffix};\n", quoted(&name), defs.join(", ")));
                for _ in 0..if *options == 1 { 0 } else { *rows } {
                    sql.push_str(&format!("INSERT INTO {} DEFAULT VALUES;\n", quoted(&name)));
                }
                if views && names.insert(format!("{name}_v").to_lowercase()) {
                    sql.push_str(&format!(
                        "CREATE VIEW {} AS SELECT * FROM {};\n",
                        quoted(&format!("{name}_v")),
                        quoted(&name)
                    ));
                }
            }
            if views && names.insert("broken_view".to_owned()) {
                // A view that no longer compiles.
                sql.push_str(
                    "CREATE TABLE gone (x);\nCREATE VIEW broken_view AS SELECT x FROM gone;\nDROP TABLE gone;\n",
                );
            }
            sql.push_str("COMMIT;\n");
            sql
        })
        .boxed()
}

/// Every file of a directory, with its bytes.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path()).unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}

fn sqlite_files_case(sql: String) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.sqlite");
    let written = block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        let outcome = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.clone())).execute(&mut conn).await;
        conn.close().await?;
        outcome.map(|_| ())
    });
    if let (Err(e), true) = (&written, std::env::var_os("FUZZ_DEBUG").is_some()) {
        eprintln!("schema refused: {e}\n{sql}");
    }
    if written.is_err() {
        // SQLite itself refused the schema: nothing to open (the file is still tried below).
        outcome("schema SQLite would not make");
        return Ok(());
    }
    let before = files(dir.path());
    let target = Target::parse(&path.display().to_string()).expect("a path is a target");
    let opened = block_on(Store::open(target, None));
    outcome(if opened.is_ok() { "opened as a store" } else { "not opened (an error)" });
    if let Ok(store) = opened {
        // What the layout's SQL makes of the file: errors are fine, panics are not.
        let _ = block_on(store.counts());
        let _ = block_on(store.count_streams(""));
        let _ = block_on(store.catalog());
        block_on(store.close());
    }
    prop_assert!(files(dir.path()) == before, "opening changed the files of the store:\n{sql}");
    Ok(())
}

#[test]
fn sqlite_files_with_random_schemas() {
    fuzz("sqlite_files_with_random_schemas", schema_sql(), Budget::Cases(24), sqlite_files_case);
}

#[test]
#[ignore = "long-running fuzz (EVENTSCOPE_FUZZ_SECONDS, default 600)"]
fn sqlite_files_with_random_schemas_long() {
    fuzz("sqlite_files_with_random_schemas_long", schema_sql(), Budget::Long, sqlite_files_case);
}

// ---------------------------------------------------------------------------------------------
// SQLite previews: through the store (WAL store with a writer attached) and the guard alone on
// a writable connection.

fn limits(ms: u64) -> PreviewLimits {
    PreviewLimits { timeout: Duration::from_millis(ms), max_rows: 20 }
}

/// What every SQLite preview case works against.
struct SqliteBench {
    _dir: tempfile::TempDir,
    store_dir: PathBuf,
    store: Store,
    _writer: sqlx::SqliteConnection,
    before: Vec<(String, Vec<u8>)>,
    out: PathBuf,
    /// A small writable database, as bytes, for the guard alone.
    scratch: PathBuf,
    scratch_bytes: Vec<u8>,
    cwd_before: Vec<String>,
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

const SCRATCH_SCHEMA: &str = "
CREATE TABLE events (position INTEGER PRIMARY KEY, aggregate_id TEXT, version INTEGER, event_type TEXT,
    payload TEXT, metadata TEXT, recorded_at TEXT, aggregate_type TEXT);
INSERT INTO events VALUES (1, 'a', 1, 'Placed', '{\"a\":1}', '{}', '2024-01-01', 'Order'),
    (2, 'a', 2, 'Paid', '{\"b\":[1,2]}', '{}', '2024-01-02', 'Order');
CREATE INDEX events_recorded_at ON events (recorded_at);
CREATE TABLE snapshots (aggregate_id TEXT, version INTEGER, state TEXT, taken_at TEXT);
CREATE TABLE orders_by_region (region_id TEXT PRIMARY KEY, orders TEXT);
CREATE VIEW v_events AS SELECT * FROM events;
CREATE TRIGGER t_log AFTER DELETE ON events BEGIN INSERT INTO snapshots VALUES ('t', 0, 'x', 'x'); END;
CREATE VIRTUAL TABLE fts USING fts5(x);
INSERT INTO fts VALUES ('hello');
";

fn sqlite_bench() -> SqliteBench {
    let dir = tempfile::tempdir().expect("tempdir");
    let store_dir = dir.path().join("store");
    std::fs::create_dir_all(&store_dir).unwrap();
    let path = store_dir.join("fuzz.sqlite");
    let demo = eventscope::demo::generate(eventscope::demo::DemoOptions { orders: 40, busy_account_events: 20 });
    block_on(eventscope::demo::write_sqlite(&path, &demo, false)).expect("write the store");
    let writer = block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(&path)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("writer");
        sqlx::query("SELECT count(*) FROM events").fetch_one(&mut conn).await.expect("writer reads");
        conn
    });
    let before = files(&store_dir);
    assert!(before.iter().any(|(n, _)| n.ends_with("-wal")), "{:?}", before.iter().map(|f| &f.0).collect::<Vec<_>>());
    let store = block_on(Store::open(Target::parse(&path.display().to_string()).unwrap(), None)).expect("open");
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let scratch = dir.path().join("scratch.sqlite");
    block_on(async {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&scratch).create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await.expect("scratch");
        sqlx::raw_sql(SCRATCH_SCHEMA).execute(&mut conn).await.expect("scratch schema");
        conn.close().await.expect("close scratch");
    });
    let scratch_bytes = std::fs::read(&scratch).unwrap();
    let cwd_before = listing(&std::env::current_dir().unwrap());
    SqliteBench { _dir: dir, store_dir, store, _writer: writer, before, out, scratch, scratch_bytes, cwd_before }
}

unsafe extern "C" fn stop_after(counter: *mut c_void) -> c_int {
    // SAFETY: the counter outlives the statement it watches (see `guard_alone`).
    let calls = unsafe { &*(counter as *const Cell<u32>) };
    calls.set(calls.get() + 1);
    c_int::from(calls.get() > 400)
}

/// The guard alone on a writable connection: what `check_statement` accepts runs (a bounded
/// number of steps) and must change nothing. Gives whether it was accepted.
fn guard_alone(bench: &SqliteBench, text: &str) -> Result<bool, TestCaseError> {
    std::fs::write(&bench.scratch, &bench.scratch_bytes).expect("reset scratch");
    let name = CString::new(bench.scratch.display().to_string()).unwrap();
    let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
    // SAFETY: plain FFI on a connection this function owns and closes.
    unsafe {
        let rc = ffi::sqlite3_open_v2(name.as_ptr(), &mut db, ffi::SQLITE_OPEN_READWRITE, std::ptr::null());
        prop_assert_eq!(rc, ffi::SQLITE_OK);
        sqlite_guard::harden(db).map_err(TestCaseError::fail)?;
    }
    // SAFETY: hardened just now; this thread alone uses it.
    let checked = unsafe { sqlite_guard::check_statement(db, text) };
    let mut problem = None;
    if let Ok(len) = checked {
        if len > text.len() || !text.is_char_boundary(len) {
            problem = Some(format!("statement length {len} is not inside the text"));
        } else {
            let counter = Cell::new(0u32);
            let statement = &text.as_bytes()[..len];
            let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
            // SAFETY: as above; the counter lives until the handler is removed.
            unsafe {
                ffi::sqlite3_progress_handler(db, 1000, Some(stop_after), &counter as *const _ as *mut c_void);
                let rc = ffi::sqlite3_prepare_v2(
                    db,
                    statement.as_ptr() as *const _,
                    statement.len() as c_int,
                    &mut stmt,
                    std::ptr::null_mut(),
                );
                if rc == ffi::SQLITE_OK && !stmt.is_null() {
                    for _ in 0..50 {
                        if ffi::sqlite3_step(stmt) != ffi::SQLITE_ROW {
                            break;
                        }
                    }
                }
                ffi::sqlite3_finalize(stmt);
                ffi::sqlite3_progress_handler(db, 0, None, std::ptr::null_mut());
                if ffi::sqlite3_total_changes(db) != 0 {
                    problem = Some(format!("{} rows changed", ffi::sqlite3_total_changes(db)));
                }
                if ffi::sqlite3_get_autocommit(db) == 0 {
                    problem = Some("a transaction was left open".to_owned());
                }
            }
        }
    }
    // SAFETY: every statement was finalized.
    unsafe { ffi::sqlite3_close(db) };
    if let Some(problem) = problem {
        return Err(TestCaseError::fail(format!("accepted `{text}`: {problem}")));
    }
    prop_assert!(std::fs::read(&bench.scratch).unwrap() == bench.scratch_bytes, "`{text}` changed the scratch file");
    Ok(checked.is_ok())
}

fn preview_outcome<T>(result: &Result<T, PreviewError>) -> &'static str {
    match result {
        Ok(_) => "preview: ran",
        Err(PreviewError::Refused(_)) => "preview: refused",
        Err(PreviewError::FunctionNotAllowed { .. }) => "preview: function not allowed",
        Err(PreviewError::Database { .. }) => "preview: database error",
        Err(PreviewError::Timeout(_)) => "preview: timed out",
        Err(_) => "preview: other",
    }
}

fn sqlite_preview_case(bench: &SqliteBench, text: Text) -> Result<(), TestCaseError> {
    let text = text.with_out(&bench.out);
    // The guard alone, on a writable connection.
    let accepted = guard_alone(bench, &text.sql)?;
    outcome(if accepted { "guard alone: accepted" } else { "guard alone: refused" });
    prop_assert!(!(accepted && text.must_refuse_as_given()), "the guard accepted `{}`", text.sql);
    // The store's guarded preview.
    let result = block_on(preview(
        &bench.store,
        &text.sql,
        limits(250),
        &PreviewPermissions::default(),
        &CancelToken::default(),
    ));
    outcome(preview_outcome(&result));
    if std::env::var_os("FUZZ_DEBUG").is_some() {
        let shown: String = text.sql.chars().take(300).collect();
        eprintln!("{shown:?} -> {:?}", result.as_ref().map(|(_, rows)| rows.rows.len()));
    }
    if let Err(e) = &result {
        let message = e.to_string();
        prop_assert!(!message.trim().is_empty(), "an empty message for `{}`", text.sql);
    }
    prop_assert!(
        !(result.is_ok() && text.must_refuse_previewed()),
        "the preview ran `{}`: {:?}",
        text.sql,
        result.map(|(_, rows)| rows.rows.len())
    );
    prop_assert!(files(&bench.store_dir) == bench.before, "`{}` changed the store's files", text.sql);
    prop_assert!(listing(&bench.out).is_empty(), "`{}` created {:?}", text.sql, listing(&bench.out));
    prop_assert!(
        listing(&std::env::current_dir().unwrap()) == bench.cwd_before,
        "`{}` created a file in the working directory",
        text.sql
    );
    Ok(())
}

#[test]
fn sqlite_previews() {
    let bench = sqlite_bench();
    fuzz("sqlite_previews", texts(Dialect::Sqlite, 3_000), Budget::Cases(48), |t| sqlite_preview_case(&bench, t));
}

#[test]
#[ignore = "long-running fuzz (EVENTSCOPE_FUZZ_SECONDS, default 600)"]
fn sqlite_previews_long() {
    let bench = sqlite_bench();
    fuzz("sqlite_previews_long", texts(Dialect::Sqlite, 20_000), Budget::Long, |t| sqlite_preview_case(&bench, t));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the parser's analysis alone.

fn analyse_case(text: Text) -> Result<(), TestCaseError> {
    let outcome = pg_guard::analyse(&text.sql);
    self::outcome(match &outcome {
        Ok(_) => "accepted",
        Err(pg_guard::Rejection::Refused(_)) => "refused",
        Err(pg_guard::Rejection::Syntax(_)) => "syntax error",
    });
    if text.must_refuse_as_given() {
        prop_assert!(outcome.is_err(), "analyse accepted `{}`: {:?}", text.sql, outcome);
    }
    match &outcome {
        Err(pg_guard::Rejection::Refused(m)) | Err(pg_guard::Rejection::Syntax(m)) => {
            prop_assert!(!m.trim().is_empty(), "an empty message for `{}`", text.sql)
        }
        Ok(_) => {}
    }
    Ok(())
}

/// On a thread with the stack the backend gives the parser (`analyse_with_room`).
fn with_parser_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new().stack_size(64 << 20).spawn(f).expect("thread").join().expect("the property failed");
}

#[test]
fn postgres_analysis() {
    with_parser_stack(|| fuzz("postgres_analysis", texts(Dialect::Postgres, 30_000), Budget::Cases(256), analyse_case));
}

#[test]
#[ignore = "long-running fuzz (EVENTSCOPE_FUZZ_SECONDS, default 600)"]
fn postgres_analysis_long() {
    with_parser_stack(|| fuzz("postgres_analysis_long", texts(Dialect::Postgres, 30_000), Budget::Long, analyse_case));
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: previews on a live server, as a superuser, with traps that log when called.

const TRAPS: &str = "
CREATE EXTENSION IF NOT EXISTS dblink;
CREATE TABLE trap_log (what text);
CREATE SEQUENCE fuzz_seq;
CREATE FUNCTION trap(what text) RETURNS int LANGUAGE plpgsql AS $$BEGIN
    PERFORM dblink_exec('{CONNINFO}', format('INSERT INTO trap_log VALUES (%L)', what)); RETURN 1; END$$;
CREATE FUNCTION evil() RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN trap('evil'); END$$;
CREATE FUNCTION evil_immutable() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN RETURN trap('evil_immutable'); END$$;
CREATE FUNCTION evil_stable(x int) RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN RETURN trap('evil_stable'); END$$;
CREATE FUNCTION public.upper(int) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM trap('upper(int)'); RETURN 'x'; END$$;
CREATE FUNCTION public.abs(text) RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN trap('abs(text)'); END$$;
CREATE FUNCTION fnote(events) RETURNS int LANGUAGE plpgsql AS $$BEGIN RETURN trap('fnote'); END$$;
CREATE FUNCTION evil_bool(int, int) RETURNS bool LANGUAGE plpgsql AS $$BEGIN RETURN trap('===') = 1; END$$;
CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_bool);
CREATE OPERATOR public.<<< (LEFTARG = int, RIGHTARG = int, FUNCTION = int4lt);
CREATE OPERATOR public.>>> (LEFTARG = int, RIGHTARG = int, FUNCTION = evil_bool, NEGATOR = <<<);
CREATE FUNCTION evil_check(text) RETURNS bool LANGUAGE plpgsql AS $$BEGIN RETURN trap('domain') = 1; END$$;
CREATE DOMAIN evil_domain AS text CHECK (evil_check(VALUE));
CREATE TYPE mood AS ENUM ('a', 'b');
CREATE FUNCTION mood_text(mood) RETURNS text LANGUAGE plpgsql AS $$BEGIN PERFORM trap('mood'); RETURN 'a'; END$$;
CREATE CAST (mood AS text) WITH FUNCTION mood_text(mood) AS IMPLICIT;
CREATE FUNCTION public.json_scalar(int) RETURNS text LANGUAGE plpgsql AS $$BEGIN PERFORM trap('json_scalar'); RETURN 'x'; END$$;
CREATE VIEW evil_view AS SELECT evil() AS x;
CREATE VIEW evil_view_of_view AS SELECT * FROM evil_view;
CREATE TABLE rls_t (x int);
INSERT INTO rls_t VALUES (1);
ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;
ALTER TABLE rls_t FORCE ROW LEVEL SECURITY;
CREATE POLICY rls_p ON rls_t USING (evil() = 1);
";

/// Everything a preview could change, as one string.
fn server_state(conn: &mut sqlx::PgConnection) -> String {
    block_on(
        sqlx::query_scalar::<_, String>(
            "SELECT concat_ws(' / ', \
               (SELECT count(*) FROM events), \
               (SELECT md5(string_agg(e::text, '|' ORDER BY position)) FROM events e), \
               (SELECT md5(string_agg(o::text, '|' ORDER BY region_id)) FROM orders_by_region o), \
               (SELECT count(*) FROM trap_log), \
               (SELECT md5(string_agg(relname || ':' || relkind::text, ',' ORDER BY relname)) FROM pg_class \
                  WHERE relnamespace = 'public'::regnamespace), \
               (SELECT md5(string_agg(proname || '(' || oidvectortypes(proargtypes) || ')', ',' ORDER BY proname, oid)) \
                  FROM pg_proc WHERE pronamespace = 'public'::regnamespace), \
               (SELECT count(*) FROM pg_replication_slots), \
               (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'), \
               (SELECT last_value FROM fuzz_seq), \
               (SELECT count(*) FROM pg_largeobject_metadata), \
               (SELECT count(*) FROM pg_prepared_xacts), \
               (SELECT coalesce(stats_reset::text, 'never') FROM pg_stat_database WHERE datname = current_database()))",
        )
        .fetch_one(conn),
    )
    .expect("read the server's state")
}

struct PgBench {
    _db: TestDb,
    store: Store,
    admin: sqlx::PgConnection,
    before: String,
    out: PathBuf,
}

fn pg_bench() -> Option<PgBench> {
    if !common::postgres_available() {
        return None;
    }
    let db = TestDb::new(Backend::Postgres, "fuzzlive");
    let demo = eventscope::demo::generate(eventscope::demo::DemoOptions { orders: 40, busy_account_events: 20 });
    block_on(eventscope::demo::write_postgres(&db.target, &demo, false)).expect("write the store");
    let url = db.as_superuser();
    let database = url.split('?').next().unwrap_or(&url).rsplit('/').next().unwrap_or_default().to_owned();
    let conninfo = format!("host=localhost dbname={database} user=eventscope_super password=eventscope");
    let mut admin = block_on(sqlx::PgConnection::connect(&url)).expect("connect as the superuser");
    block_on(sqlx::raw_sql(sqlx::AssertSqlSafe(TRAPS.replace("{CONNINFO}", &conninfo))).execute(&mut admin))
        .expect("traps");
    // The traps spring: calling one logs through another session.
    block_on(sqlx::query("SELECT evil()").execute(&mut admin)).expect("a trap runs");
    block_on(sqlx::query("DELETE FROM trap_log").execute(&mut admin)).expect("clear the log");
    let store = block_on(Store::open(Target::parse(&url).unwrap(), None)).expect("open as superuser");
    let before = server_state(&mut admin);
    let out = std::env::temp_dir().join(format!("eventscope-fuzz-{}", std::process::id()));
    Some(PgBench { _db: db, store, admin, before, out })
}

fn pg_live_case(bench: &RefCell<PgBench>, text: Text) -> Result<(), TestCaseError> {
    let mut bench = bench.borrow_mut();
    let text = text.with_out(&bench.out);
    let understood = PreviewPermissions { privileged_role: true, ..Default::default() };
    let outcome = block_on(preview(&bench.store, &text.sql, limits(500), &understood, &CancelToken::default()));
    self::outcome(preview_outcome(&outcome));
    if let Err(PreviewError::PrivilegedRole { .. }) = &outcome {
        return Err(TestCaseError::fail("the tick box was given"));
    }
    prop_assert!(
        !(outcome.is_ok() && text.must_refuse_previewed()),
        "the preview ran `{}`: {:?}",
        text.sql,
        outcome.map(|(_, rows)| rows.rows.len())
    );
    let before = bench.before.clone();
    let after = server_state(&mut bench.admin);
    prop_assert_eq!(after, before, "`{}` changed the server ({:?})", text.sql, outcome.err());
    prop_assert!(!bench.out.exists(), "`{}` created {}", text.sql, bench.out.display());
    Ok(())
}

#[test]
fn postgres_live_previews() {
    let Some(bench) = pg_bench() else { return };
    let bench = RefCell::new(bench);
    fuzz("postgres_live_previews", texts(Dialect::Postgres, 2_000), Budget::Cases(24), |t| pg_live_case(&bench, t));
}

#[test]
#[ignore = "long-running fuzz (EVENTSCOPE_FUZZ_SECONDS, default 600)"]
fn postgres_live_previews_long() {
    let Some(bench) = pg_bench() else { return };
    let bench = RefCell::new(bench);
    fuzz("postgres_live_previews_long", texts(Dialect::Postgres, 20_000), Budget::Long, |t| pg_live_case(&bench, t));
}
