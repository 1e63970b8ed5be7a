//! `eventscope bench --audit`: the audit view on a generated store of a million events (SQLite, and
//! PostgreSQL when a database is given), each figure next to the raw SQL query that answers the
//! same question, timed in the same run: the newest page, a filtered newest page, and the
//! histogram of the whole store.

use std::time::{Duration, Instant};

use sqlx::{Connection, Executor};

use crate::audit::AuditFilter;
use crate::store::query::LogCursor;
use crate::store::{Store, Target};

const PAGE: usize = 200;
const RUNS: usize = 15;

/// SQL that fills `events` with `n` events of 50,000 streams, in the article's layout.
fn fill_sql(postgres: bool, n: usize) -> String {
    if postgres {
        format!(
            "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at)
             SELECT i, ('00000000-0000-4000-8000-' || lpad((i % 50000)::text, 12, '0'))::uuid, 'Order', i / 50000 + 1,
                    (ARRAY['OrderPlaced','PaymentConfirmed','PaymentDeclined','RefundRequested','RefundDenied','OrderTaxRecalculated','OrderRejected'])[i % 7 + 1],
                    jsonb_build_object('amount', (i % 1000) + 0.5, 'note', 'generated event ' || i),
                    jsonb_build_object('actor', 'user:' || (i % 300), 'correlation_id', 'c-' || (i / 3), 'causation_id', 'e-' || (i - 1), 'event_id', 'e-' || i),
                    timestamptz '2026-01-01 00:00:00+00' + make_interval(secs => i * 30)
             FROM generate_series(1, {n}) AS s(i)"
        )
    } else {
        format!(
            "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
             INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, recorded_at)
             SELECT i, printf('00000000-0000-4000-8000-%012d', i % 50000), 'Order', i / 50000 + 1,
                    CASE i % 7 WHEN 0 THEN 'OrderPlaced' WHEN 1 THEN 'PaymentConfirmed' WHEN 2 THEN 'PaymentDeclined'
                        WHEN 3 THEN 'RefundRequested' WHEN 4 THEN 'RefundDenied' WHEN 5 THEN 'OrderTaxRecalculated' ELSE 'OrderRejected' END,
                    json_object('amount', (i % 1000) + 0.5, 'note', 'generated event ' || i),
                    json_object('actor', 'user:' || (i % 300), 'correlation_id', 'c-' || (i / 3), 'causation_id', 'e-' || (i - 1), 'event_id', 'e-' || i),
                    strftime('%Y-%m-%dT%H:%M:%fZ', 1767225600 + i * 30, 'unixepoch')
             FROM s"
        )
    }
}

const TABLE_SQLITE: &str = "CREATE TABLE events (position INTEGER NOT NULL UNIQUE, aggregate_id TEXT NOT NULL, aggregate_type TEXT NOT NULL,
    version INTEGER NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at TEXT NOT NULL,
    PRIMARY KEY (aggregate_id, version))";
const TABLE_POSTGRES: &str = "CREATE TABLE events (position BIGINT NOT NULL UNIQUE, aggregate_id UUID NOT NULL, aggregate_type TEXT NOT NULL,
    version INTEGER NOT NULL, event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB NOT NULL, recorded_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (aggregate_id, version))";

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Times `f` `RUNS` times (after one warm-up) and gives the median.
async fn time<F, Fut, T>(mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    f().await?;
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        std::hint::black_box(f().await?);
        samples.push(t.elapsed());
    }
    Ok(median(samples))
}

/// The raw queries that answer the same questions, per backend.
struct Raw {
    newest: &'static str,
    filtered: &'static str,
    histogram: &'static str,
}

const RAW_SQLITE: Raw = Raw {
    newest: "SELECT aggregate_id, version, event_type, payload, metadata, recorded_at, position FROM events ORDER BY position DESC LIMIT 200",
    filtered: "SELECT aggregate_id, version, event_type, payload, metadata, recorded_at, position FROM events \
               WHERE event_type = 'RefundRequested' AND json_extract(metadata, '$.actor') = 'user:42' ORDER BY position DESC LIMIT 200",
    histogram: "SELECT CAST(((julianday(recorded_at) - 2440587.5) * 86400.0) / 43200 AS INTEGER), COUNT(*) FROM events GROUP BY 1",
};

const RAW_POSTGRES: Raw = Raw {
    newest: "SELECT aggregate_id, version, event_type, payload, metadata, recorded_at, position FROM events ORDER BY position DESC LIMIT 200",
    filtered: "SELECT aggregate_id, version, event_type, payload, metadata, recorded_at, position FROM events \
               WHERE event_type = 'RefundRequested' AND metadata->>'actor' = 'user:42' ORDER BY position DESC LIMIT 200",
    histogram: "SELECT floor(extract(epoch from recorded_at) / 43200)::bigint, COUNT(*) FROM events GROUP BY 1",
};

async fn measure(
    store: &Store,
    raw: &Raw,
    run_raw: &(dyn Fn(&'static str) -> futures_util::future::BoxFuture<'_, anyhow::Result<usize>> + Sync),
) -> anyhow::Result<()> {
    let all = AuditFilter::default();
    let filtered = AuditFilter {
        types: vec!["RefundRequested".to_owned()],
        meta: vec![("actor".to_owned(), "user:42".to_owned())],
        ..Default::default()
    };
    let ours = time(|| async { Ok(store.audit_page(&all, &LogCursor::Edge, false, PAGE).await?.events.len()) }).await?;
    let theirs = time(|| run_raw(raw.newest)).await?;
    println!(
        "  newest page ({PAGE} events): {} — raw SQL {} — ratio {:.2}",
        ms(ours),
        ms(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let ours =
        time(|| async { Ok(store.audit_page(&filtered, &LogCursor::Edge, false, PAGE).await?.events.len()) }).await?;
    let theirs = time(|| run_raw(raw.filtered)).await?;
    println!(
        "  newest page, type + metadata filter: {} — raw SQL {} — ratio {:.2}",
        ms(ours),
        ms(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    let ours = time(|| async { Ok(store.audit_histogram(&all, 60).await?.buckets.len()) }).await?;
    let theirs = time(|| run_raw(raw.histogram)).await?;
    println!(
        "  histogram of the whole store (time range + grouping, 2 queries): {} — raw SQL grouping {} — ratio {:.2}",
        ms(ours),
        ms(theirs),
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    Ok(())
}

/// The database the PostgreSQL half creates on the server it is given, and drops afterwards.
pub const BENCH_DATABASE: &str = "eventscope_bench_audit";

/// The comment the benchmark leaves on its database, so that `--force` replaces only its own.
const BENCH_COMMENT: &str = "made by eventscope bench --audit; dropped when it ends";

/// Creates [`BENCH_DATABASE`] on the server of `url` (see [`create_named_database`]).
async fn create_bench_database(url: &str, force: bool) -> anyhow::Result<sqlx::postgres::PgConnectOptions> {
    create_named_database(url, BENCH_DATABASE, BENCH_COMMENT, force).await
}

/// Creates database `name` on the server of `url` (whose role may create databases), marked
/// with `comment`, and gives its connection options. A benchmark never writes to a database it
/// did not create: an existing one of that name is refused, unless `force` says it is a leftover
/// of an earlier run (it has `comment`) to replace.
pub(super) async fn create_named_database(
    url: &str,
    name: &str,
    comment: &str,
    force: bool,
) -> anyhow::Result<sqlx::postgres::PgConnectOptions> {
    use std::str::FromStr as _;
    let server = sqlx::postgres::PgConnectOptions::from_str(url)?;
    let mut admin = sqlx::PgConnection::connect_with(&server).await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await?;
    if exists {
        // Only a database an earlier benchmark made (it says so in its comment) is replaced.
        let found: Option<String> =
            sqlx::query_scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1")
                .bind(name)
                .fetch_one(&mut admin)
                .await?;
        let ours = found.as_deref() == Some(comment);
        if !force || !ours {
            anyhow::bail!(
                "a database named {name} already exists on that server{}: the benchmark only writes to a \
                 database it creates; drop it yourself{}",
                if ours { " (left by an earlier benchmark)" } else { " and was not made by the benchmark" },
                if ours { ", or pass --force" } else { "" }
            );
        }
        admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).await?;
    }
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    admin.execute(sqlx::AssertSqlSafe(format!("COMMENT ON DATABASE {name} IS '{comment}'"))).await?;
    admin.close().await?;
    Ok(server.database(name))
}

/// Drops database `name` (one [`create_named_database`] made).
pub(super) async fn drop_named_database(url: &str, name: &str) -> anyhow::Result<()> {
    let mut admin = sqlx::PgConnection::connect(url).await?;
    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?;
    admin.close().await?;
    Ok(())
}

/// The server URL pointing at another database (credentials and parameters kept).
pub(super) fn database_url(url: &str, database: &str) -> anyhow::Result<String> {
    let parts =
        crate::store::url_parts(url).ok_or_else(|| anyhow::anyhow!("not a URL: {}", crate::store::mask_url(url)))?;
    let credentials = match parts.credentials {
        Some((user, Some(password))) => format!("{user}:{password}@"),
        Some((user, None)) => format!("{user}@"),
        None => String::new(),
    };
    let query = if parts.query.is_empty() { String::new() } else { format!("?{}", parts.query.join("&")) };
    Ok(format!("{}://{credentials}{}/{database}{query}", parts.scheme, parts.host))
}

/// Drops the database [`create_bench_database`] made.
async fn drop_bench_database(url: &str) -> anyhow::Result<()> {
    drop_named_database(url, BENCH_DATABASE).await
}

/// Runs the audit benchmark on a store of `events` events: a SQLite file it creates, and with
/// `postgres` (a server URL) a database it creates there (see [`create_bench_database`]).
pub fn run(events: usize, postgres: Option<String>, force: bool) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // A directory of its own, made new (never one already there, which another user could have
    // planted with a link to a file of theirs).
    let dir = std::env::temp_dir().join(format!(
        "eventscope-audit-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
    let path = dir.join("audit.sqlite");
    let result = rt.block_on(async {
        // The PostgreSQL database first: a name that is taken stops the run before anything.
        let pg_options = match &postgres {
            Some(server_url) => Some(create_bench_database(server_url, force).await?),
            None => None,
        };
        let sqlite_half = async {
            let t = Instant::now();
            {
                let options = sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(&path)
                    .create_if_missing(true)
                    .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Memory);
                let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
                conn.execute(TABLE_SQLITE).await?;
                conn.execute(sqlx::AssertSqlSafe(fill_sql(false, events))).await?;
                conn.execute("CREATE INDEX events_recorded_at ON events (recorded_at)").await?;
                conn.close().await?;
            }
            println!("SQLite store of {events} events written in {:.1} s", t.elapsed().as_secs_f64());
            let store = Store::open(Target::Sqlite(path.clone()), None).await?;
            let raw_pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true),
            )
            .await?;
            let run_raw = |sql: &'static str| -> futures_util::future::BoxFuture<'_, anyhow::Result<usize>> {
                let pool = raw_pool.clone();
                Box::pin(async move { Ok(sqlx::query(sql).fetch_all(&pool).await?.len()) })
            };
            println!("SQLite:");
            measure(&store, &RAW_SQLITE, &run_raw).await?;
            store.close().await;
            raw_pool.close().await;
            Ok::<(), anyhow::Error>(())
        }
        .await;
        if let (Err(e), Some(server_url)) = (&sqlite_half, &postgres) {
            let _ = drop_bench_database(server_url).await;
            return Err(anyhow::anyhow!("{e}"));
        }

        if let (Some(server_url), Some(options)) = (postgres, pg_options) {
            let t = Instant::now();
            let url = database_url(&server_url, BENCH_DATABASE)?;
            let measured = async {
                let mut conn = sqlx::PgConnection::connect_with(&options).await?;
                conn.execute(TABLE_POSTGRES).await?;
                conn.execute(sqlx::AssertSqlSafe(fill_sql(true, events))).await?;
                conn.execute("CREATE INDEX events_recorded_at ON events (recorded_at)").await?;
                conn.execute("ANALYZE events").await?;
                conn.close().await?;
                println!("PostgreSQL store of {events} events written in {:.1} s", t.elapsed().as_secs_f64());
                let store = Store::open(Target::Postgres(url.clone()), None).await?;
                let raw_pool = sqlx::PgPool::connect(&url).await?;
                let run_raw = |sql: &'static str| -> futures_util::future::BoxFuture<'_, anyhow::Result<usize>> {
                    let pool = raw_pool.clone();
                    Box::pin(async move { Ok(sqlx::query(sql).fetch_all(&pool).await?.len()) })
                };
                println!("PostgreSQL:");
                measure(&store, &RAW_POSTGRES, &run_raw).await?;
                store.close().await;
                raw_pool.close().await;
                Ok::<(), anyhow::Error>(())
            }
            .await;
            let dropped = drop_bench_database(&server_url).await;
            measured?;
            dropped?;
        }
        Ok::<(), anyhow::Error>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
