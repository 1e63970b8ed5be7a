//! `eventscope bench --scale N`: what eventscope costs on a big store whose table has only its
//! primary key `(aggregate_id, version)`, as a real user's table often has. It writes (or, with
//! `--keep DIR`, reuses) a store of N events in the article's layout — one long account stream
//! interleaved with short order streams, payloads and metadata of a few hundred bytes — on
//! SQLite and, given `--postgres URL`, on PostgreSQL, then times each thing a user does next to
//! the raw SQL query that reads the same rows, in the same run, and prints the ratio and the
//! process's peak memory.
//!
//! Nothing here is a test: the figures depend on the machine; compare ratios, not seconds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::TryStreamExt;
use sqlx::{Connection, Executor};

use crate::audit::{AuditFilter, ExportFormat};
use crate::fold::MergeFold;
use crate::store::query::LogCursor;
use crate::store::{EventCursor, Store, Target};

/// What to measure on.
#[derive(Clone, Debug)]
pub struct ScaleOptions {
    /// Events in the store.
    pub events: usize,
    /// Events in the long stream (at most `events`).
    pub long_stream: usize,
    /// A PostgreSQL server (a role that may create databases) to measure on too.
    pub postgres: Option<String>,
    /// Where to keep the SQLite store between runs (reused when it holds `events` events); the
    /// PostgreSQL database is kept too. Without it, both are made for the run and removed.
    pub keep: Option<PathBuf>,
    /// How long to run each whole-store export.
    pub export_seconds: f64,
}

/// The long stream's id (text on SQLite; its md5 as a UUID on PostgreSQL).
pub const LONG_STREAM: &str = "acc-long-0001";
const PAGE: usize = 200;
const DATABASE_COMMENT: &str = "made by eventscope bench --scale";

/// The rows of the store, as SQL over `n` (1-based: the event's position). Every `stride`-th
/// event belongs to the long stream; the others make order streams of 10 events each.
fn row_sql(postgres: bool, stride: usize) -> String {
    let k = stride.max(1);
    let other = format!("(n - n / {k} - 1)");
    let id_text = format!("CASE WHEN n % {k} = 0 THEN '{LONG_STREAM}' ELSE 'ord-' || ({other} / 10) END");
    if postgres {
        format!(
            "n, md5({id_text})::uuid,
             CASE WHEN n % {k} = 0 THEN 'Account' ELSE 'Order' END,
             CASE WHEN n % {k} = 0 THEN n / {k} ELSE {other} % 10 + 1 END,
             CASE WHEN n % {k} = 0 THEN (ARRAY['PointsEarned','PointsSpent','TierReviewed'])[n % 3 + 1]
                  ELSE (ARRAY['OrderPlaced','LineAdded','LineAdded','LineAdded','LineAdded','LineAdded','LineAdded',
                              'LineAdded','PaymentConfirmed','OrderShipped'])[{other} % 10 + 1] END,
             jsonb_build_object('customer_id', 'cust-' || lpad((n % 50000)::text, 6, '0'), 'amount', (n % 1000) * 1.25,
                 'currency', 'EUR', 'lines', jsonb_build_array(jsonb_build_object('sku', 'SKU-' || (n % 997), 'qty', n % 5 + 1,
                 'price', (n % 300) * 0.99)), 'balance_' || (n % 7), n % 1234,
                 'note', 'Customer asked for delivery before noon; leave the parcel at the reception desk.'),
             jsonb_build_object('actor', 'user-' || (n % 200), 'correlation_id', 'corr-' || (n / 3),
                 'causation_id', 'evt-' || (n - 1), 'event_id', 'evt-' || n, 'source', 'checkout-service'),
             to_timestamp(1767225600 + n)"
        )
    } else {
        format!(
            "n, {id_text},
             CASE WHEN n % {k} = 0 THEN 'Account' ELSE 'Order' END,
             CASE WHEN n % {k} = 0 THEN n / {k} ELSE {other} % 10 + 1 END,
             CASE WHEN n % {k} = 0 THEN (CASE n % 3 WHEN 0 THEN 'PointsEarned' WHEN 1 THEN 'PointsSpent' ELSE 'TierReviewed' END)
                  ELSE (CASE {other} % 10 WHEN 0 THEN 'OrderPlaced' WHEN 8 THEN 'PaymentConfirmed' WHEN 9 THEN 'OrderShipped'
                        ELSE 'LineAdded' END) END,
             json_object('customer_id', printf('cust-%06d', n % 50000), 'amount', (n % 1000) * 1.25, 'currency', 'EUR',
                 'lines', json_array(json_object('sku', 'SKU-' || (n % 997), 'qty', n % 5 + 1, 'price', (n % 300) * 0.99)),
                 'balance_' || (n % 7), n % 1234,
                 'note', 'Customer asked for delivery before noon; leave the parcel at the reception desk.'),
             json_object('actor', 'user-' || (n % 200), 'correlation_id', 'corr-' || (n / 3),
                 'causation_id', 'evt-' || (n - 1), 'event_id', 'evt-' || n, 'source', 'checkout-service'),
             strftime('%Y-%m-%dT%H:%M:%SZ', 1767225600 + n, 'unixepoch')"
        )
    }
}

const TABLE_SQLITE: &str = "CREATE TABLE events (position INTEGER NOT NULL, aggregate_id TEXT NOT NULL, \
    aggregate_type TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, \
    metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, PRIMARY KEY (aggregate_id, version))";
const TABLE_POSTGRES: &str = "CREATE TABLE events (position BIGINT NOT NULL, aggregate_id UUID NOT NULL, \
    aggregate_type TEXT NOT NULL, version INTEGER NOT NULL, event_type TEXT NOT NULL, payload JSONB NOT NULL, \
    metadata JSONB NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (aggregate_id, version))";
/// Rows written per statement (so that progress can be shown).
const CHUNK: usize = 250_000;

fn stride(options: &ScaleOptions) -> usize {
    options.events / options.long_stream.clamp(1, options.events.max(1))
}

/// Writes the SQLite store (or keeps the one there when it already holds the events).
pub(crate) async fn sqlite_store(path: &Path, options: &ScaleOptions) -> anyhow::Result<()> {
    if path.exists() {
        let existing = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&existing).await?;
        let max: Option<i64> = sqlx::query_scalar("SELECT max(rowid) FROM events").fetch_one(&mut conn).await.ok();
        conn.close().await?;
        if max == Some(options.events as i64) {
            println!("SQLite store of {} events kept from an earlier run: {}", options.events, path.display());
            return Ok(());
        }
        std::fs::remove_file(path)?;
    }
    let started = Instant::now();
    let connect = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Off);
    let mut conn = sqlx::SqliteConnection::connect_with(&connect).await?;
    conn.execute(TABLE_SQLITE).await?;
    let rows = row_sql(false, stride(options));
    for from in (1..=options.events).step_by(CHUNK) {
        let to = (from + CHUNK - 1).min(options.events);
        let sql = format!(
            "WITH RECURSIVE g(n) AS (SELECT {from} UNION ALL SELECT n + 1 FROM g WHERE n < {to}) \
             INSERT INTO events SELECT {rows} FROM g"
        );
        conn.execute(sqlx::AssertSqlSafe(sql)).await?;
        eprint!("\rwriting the SQLite store: {to} of {} events", options.events);
    }
    conn.close().await?;
    eprintln!();
    println!("SQLite store of {} events written in {:.1} s", options.events, started.elapsed().as_secs_f64());
    Ok(())
}

/// Creates (or, when kept from an earlier run, reuses) the PostgreSQL database and gives its URL.
async fn postgres_store(server: &str, options: &ScaleOptions) -> anyhow::Result<String> {
    use std::str::FromStr as _;
    let name = format!("eventscope_bench_scale_{}", options.events);
    let server_options = sqlx::postgres::PgConnectOptions::from_str(server)?;
    let mut admin = sqlx::PgConnection::connect_with(&server_options).await?;
    let comment: Option<Option<String>> =
        sqlx::query_scalar("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1")
            .bind(&name)
            .fetch_optional(&mut admin)
            .await?;
    let url = super::audit::database_url(server, &name)?;
    match comment {
        Some(Some(comment)) if comment == DATABASE_COMMENT && options.keep.is_some() => {
            let mut conn = sqlx::PgConnection::connect_with(&server_options.clone().database(&name)).await?;
            let max: Option<i64> =
                sqlx::query_scalar("SELECT max(position) FROM events").fetch_one(&mut conn).await.unwrap_or(None);
            conn.close().await?;
            if max == Some(options.events as i64) {
                println!("PostgreSQL database {name} of {} events kept from an earlier run", options.events);
                admin.close().await?;
                return Ok(url);
            }
            admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).await?;
        }
        Some(Some(comment)) if comment == DATABASE_COMMENT => {
            admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)"))).await?;
        }
        Some(_) => anyhow::bail!(
            "a database named {name} already exists on that server and was not made by the benchmark: \
             the benchmark only writes to a database it creates; drop it yourself"
        ),
        None => {}
    }
    admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
    admin.execute(sqlx::AssertSqlSafe(format!("COMMENT ON DATABASE {name} IS '{DATABASE_COMMENT}'"))).await?;
    admin.close().await?;
    let started = Instant::now();
    let mut conn = sqlx::PgConnection::connect_with(&server_options.database(&name)).await?;
    conn.execute(TABLE_POSTGRES).await?;
    let rows = row_sql(true, stride(options));
    for from in (1..=options.events).step_by(CHUNK) {
        let to = (from + CHUNK - 1).min(options.events);
        conn.execute(sqlx::AssertSqlSafe(format!(
            "INSERT INTO events SELECT {rows} FROM generate_series({from}, {to}) n"
        )))
        .await?;
        eprint!("\rwriting the PostgreSQL store: {to} of {} events", options.events);
    }
    eprintln!();
    // A store that has been in use has statistics (autovacuum analyses it).
    conn.execute("VACUUM ANALYZE events").await?;
    conn.close().await?;
    println!("PostgreSQL store of {} events written in {:.1} s", options.events, started.elapsed().as_secs_f64());
    Ok(url)
}

async fn drop_postgres_store(server: &str, options: &ScaleOptions) -> anyhow::Result<()> {
    let name = format!("eventscope_bench_scale_{}", options.events);
    let mut admin = sqlx::PgConnection::connect(server).await?;
    admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?;
    admin.close().await?;
    Ok(())
}

/// Runs `f` once; when that was quick, five more times, and gives the median of those five.
async fn time<F, Fut, T>(mut f: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    std::hint::black_box(f().await?);
    let first = started.elapsed();
    if first > Duration::from_millis(300) {
        return Ok(first);
    }
    // (A quick one is timed five times more, the first run left out: it may have read from disk
    // what the others find in the page cache, and the two sides of a figure run in turn.)
    let mut samples = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        std::hint::black_box(f().await?);
        samples.push(started.elapsed());
    }
    samples.sort();
    Ok(samples[samples.len() / 2])
}

fn ms(d: Duration) -> String {
    if d >= Duration::from_secs(1) {
        format!("{:.2} s", d.as_secs_f64())
    } else {
        format!("{:.1} ms", d.as_secs_f64() * 1e3)
    }
}

fn report(what: &str, ours: Duration, raw: Duration) {
    println!(
        "  {what}: eventscope {} — raw SQL {} — ratio {:.2}",
        ms(ours),
        ms(raw),
        ours.as_secs_f64() / raw.as_secs_f64()
    );
}

/// The peak resident memory of this process so far (Linux), in MiB.
pub(crate) fn peak_memory_mib() -> Option<f64> {
    memory_line_mib("VmHWM:")
}

/// The resident memory of this process now (Linux), in MiB.
pub(crate) fn resident_memory_mib() -> Option<f64> {
    memory_line_mib("VmRSS:")
}

fn memory_line_mib(key: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// A raw connection to the same store, for the baselines.
enum Raw {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Raw {
    /// Runs `sql` (with `$1`/`?1` bound to `arg` when given) and gives the row count.
    async fn rows(&self, sql: &str, args: &[&str]) -> anyhow::Result<usize> {
        Ok(match self {
            Raw::Sqlite(pool) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for a in args {
                    q = q.bind(a.to_string());
                }
                q.fetch_all(pool).await?.len()
            }
            Raw::Postgres(pool) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for a in args {
                    q = q.bind(a.to_string());
                }
                q.fetch_all(pool).await?.len()
            }
        })
    }

    /// Streams the rows of `sql`: gives how long the first row took, then the rows read in the
    /// `seconds` after it and the time that took.
    async fn stream_for(&self, sql: &str, seconds: f64) -> anyhow::Result<(Duration, usize, Duration)> {
        let started = Instant::now();
        let limit = Duration::from_secs_f64(seconds);
        let mut first: Option<Instant> = None;
        let mut n = 0usize;
        let mut count = |first: &mut Option<Instant>| {
            let at = *first.get_or_insert_with(Instant::now);
            n += 1;
            at.elapsed() <= limit
        };
        match self {
            Raw::Sqlite(pool) => {
                let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch(pool);
                while rows.try_next().await?.is_some() {
                    if !count(&mut first) {
                        break;
                    }
                }
            }
            Raw::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let (pid,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()").fetch_one(&mut *conn).await?;
                let mut stopped = false;
                {
                    let mut rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch(&mut *conn);
                    while rows.try_next().await?.is_some() {
                        if !count(&mut first) {
                            stopped = true;
                            break;
                        }
                    }
                }
                if stopped {
                    // The server would go on with the query (a sort of the whole table) after
                    // the client stops reading, and slow down what is measured next.
                    sqlx::query("SELECT pg_cancel_backend($1)").bind(pid).execute(pool).await?;
                    conn.detach();
                }
            }
        }
        let first = first.unwrap_or_else(Instant::now);
        Ok((first.duration_since(started), n.saturating_sub(1), first.elapsed()))
    }

    /// The first column of the first row of `sql`, as text.
    async fn text(&self, sql: &str, args: &[&str]) -> anyhow::Result<String> {
        use sqlx::Row;
        Ok(match self {
            Raw::Sqlite(pool) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for a in args {
                    q = q.bind(a.to_string());
                }
                q.fetch_one(pool).await?.try_get::<Option<String>, _>(0)?.unwrap_or_default()
            }
            Raw::Postgres(pool) => {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
                for a in args {
                    q = q.bind(a.to_string());
                }
                q.fetch_one(pool).await?.try_get::<Option<String>, _>(0)?.unwrap_or_default()
            }
        })
    }

    async fn close(self) {
        match self {
            Raw::Sqlite(pool) => pool.close().await,
            Raw::Postgres(pool) => pool.close().await,
        }
    }
}

/// Connects to the store as a plain client would and runs `sql`: the raw side of opening.
async fn raw_open(target: &Target, sql: &str) -> anyhow::Result<usize> {
    Ok(match target {
        Target::Sqlite(path) => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true);
            let pool = sqlx::SqlitePool::connect_with(options).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&pool).await?.len();
            pool.close().await;
            rows
        }
        Target::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&pool).await?.len();
            pool.close().await;
            rows
        }
    })
}

/// Measures one store.
async fn measure(target: Target, raw: Raw, options: &ScaleOptions) -> anyhow::Result<()> {
    let postgres = matches!(raw, Raw::Postgres(_));
    let long = if postgres {
        let rows: Vec<(String,)> = match &raw {
            Raw::Postgres(pool) => {
                sqlx::query_as("SELECT md5($1)::uuid::text").bind(LONG_STREAM).fetch_all(pool).await?
            }
            Raw::Sqlite(_) => unreachable!(),
        };
        rows[0].0.clone()
    } else {
        LONG_STREAM.to_owned()
    };
    let p = |i: usize| if postgres { format!("${i}") } else { format!("?{i}") };
    let id_param = if postgres { format!("CAST({} AS uuid)", p(1)) } else { p(1) };

    // Opening: the store and its counts, before the first streams page can show.
    let target_for_open = target.clone();
    let open = time(|| {
        let target = target_for_open.clone();
        async move {
            let store = Store::open(target, None).await?;
            let counts = store.counts().await?;
            store.close().await;
            Ok(counts)
        }
    })
    .await?;
    let estimate_sql = if postgres {
        "SELECT reltuples::bigint FROM pg_class WHERE oid = 'events'::regclass"
    } else {
        "SELECT max(rowid) FROM events"
    };
    // (The raw side connects too: a PostgreSQL connection's authentication alone is a large
    // part of opening.)
    let raw_estimate = time(|| raw_open(&target, estimate_sql)).await?;
    report("open the store with its counts (a new connection and an estimate, raw)", open, raw_estimate);
    let raw_exact = time(|| raw.rows("SELECT COUNT(*) FROM events", &[])).await?;
    println!("    (an exact COUNT(*) of the events takes {})", ms(raw_exact));

    let store_target = target.clone();
    let store = Store::open(target, None).await?;
    store.set_query_deadline(Duration::from_secs(3600));
    // The first page of the streams list, by id.
    let ours = time(|| async {
        Ok(store
            .list_streams(&crate::store::query::StreamQuery { limit: 100, ..Default::default() })
            .await?
            .streams
            .len())
    })
    .await?;
    let theirs = time(|| {
        raw.rows(
            "SELECT aggregate_id, COUNT(*), MIN(version), MAX(version), MAX(recorded_at) FROM events \
             GROUP BY aggregate_id ORDER BY aggregate_id LIMIT 100",
            &[],
        )
    })
    .await?;
    report("streams list, first page by id", ours, theirs);

    // A page deep in the long stream, as `eventscope events --from V --limit 200` reads it.
    let deep = (options.long_stream as f64 * 0.9) as i64;
    // (As the command does: the summary is asked for only when the page comes back empty.)
    let ours =
        time(|| async { Ok(store.read_stream(&long, EventCursor::from_version(deep), PAGE).await?.events.len()) })
            .await?;
    let deep_text = deep.to_string();
    let deep_sql = format!(
        "SELECT * FROM events WHERE aggregate_id = {id_param} AND version >= CAST({} AS INTEGER) \
         ORDER BY version LIMIT {PAGE}",
        p(2)
    );
    let deep_args = [long.as_str(), deep_text.as_str()];
    let theirs = time(|| raw.rows(&deep_sql, &deep_args)).await?;
    report(&format!("events --from {deep} --limit {PAGE} of the {}-event stream", options.long_stream), ours, theirs);

    // The state of the long stream (`eventscope state`).
    let ours = time(|| async {
        crate::cli::state_of(&store, &long, None, Box::new(MergeFold::default())).await.map(|v| v.to_string().len())
    })
    .await?;
    let state_sql = format!("SELECT payload FROM events WHERE aggregate_id = {id_param} ORDER BY version");
    let state_args = [long.as_str()];
    let theirs = time(|| raw.rows(&state_sql, &state_args)).await?;
    report(&format!("state of the {}-event stream (merge fold)", options.long_stream), ours, theirs);

    // The window on the long stream: its newest page shown, then all of it loaded and folded,
    // a window of it in memory; jumps that read a page again.
    let newest_sql = format!(
        "SELECT * FROM events WHERE aggregate_id = {id_param} ORDER BY version DESC LIMIT {}",
        crate::ui::history::LOAD_PAGE
    );
    let raw_newest = time(|| raw.rows(&newest_sql, &state_args)).await?;
    let payload_sql = if postgres {
        format!("SELECT CAST(sum(octet_length(payload::text)) AS TEXT) FROM events WHERE aggregate_id = {id_param}")
    } else {
        format!("SELECT CAST(sum(length(payload)) AS TEXT) FROM events WHERE aggregate_id = {id_param}")
    };
    let payload_mib = raw.text(&payload_sql, &state_args).await?.parse::<f64>().unwrap_or(0.0) / 1024.0 / 1024.0;
    let window_target = store_target.clone();
    tokio::task::block_in_place(|| window_figures(window_target, &long, raw_newest, payload_mib))?;

    // The newest page of the global log (Audit's first page).
    let all = AuditFilter::default();
    let ours = time(|| async { Ok(store.audit_page(&all, &LogCursor::Edge, false, PAGE).await?.events.len()) }).await?;
    let newest_sql = format!("SELECT * FROM events ORDER BY position DESC LIMIT {PAGE}");
    let theirs = time(|| raw.rows(&newest_sql, &[])).await?;
    report("audit, newest page", ours, theirs);
    if let Some(advice) = store.log_order_advice().await {
        println!("    (no index gives the log its order; eventscope advises: {advice})");
    }

    // The whole log in order: an export (and a projection run) read it. Where no index gives
    // the order, the first rows wait for a sort of the whole table: that wait is said apart from
    // the rate after it.
    let seconds = options.export_seconds;
    let started = Instant::now();
    let mut first = None;
    let mut last = (started.elapsed(), 0);
    let mut sink = std::io::sink();
    crate::audit::export(&store, &all, ExportFormat::JsonLines, &mut sink, |written| {
        let first = *first.get_or_insert((started.elapsed(), written));
        last = (started.elapsed(), written);
        last.0.saturating_sub(first.0).as_secs_f64() < seconds
    })
    .await?;
    let stopped = started.elapsed();
    let (ours_first, ours_at_first) = first.unwrap_or((stopped, 0));
    // (Up to the last progress report: the time the export takes to stop is said apart.)
    let ours_rate =
        (last.1.max(ours_at_first) - ours_at_first) as f64 / last.0.saturating_sub(ours_first).as_secs_f64();
    let (raw_first, raw_rows, raw_took) = raw.stream_for("SELECT * FROM events ORDER BY position", seconds).await?;
    let raw_rate = raw_rows as f64 / raw_took.as_secs_f64();
    println!(
        "  export of the whole log (JSON Lines): first rows after {} (raw SQL {}); then, for {seconds} s, \
         eventscope {:.0} events/s — raw SQL {:.0} rows/s — {:.0} % of raw",
        ms(ours_first),
        ms(raw_first),
        ours_rate,
        raw_rate,
        100.0 * ours_rate / raw_rate
    );
    println!("    (the export stopped {} after it was told to)", ms(stopped.saturating_sub(last.0)));
    store.close().await;
    raw.close().await;
    if let Some(peak) = peak_memory_mib() {
        println!("  peak memory of this process so far: {peak:.0} MiB");
    }
    Ok(())
}

/// Runs the benchmark (see the module's header).
pub fn run(options: ScaleOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (dir, made_dir) = match &options.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)?;
            (dir.clone(), false)
        }
        None => {
            let dir = std::env::temp_dir().join(format!(
                "eventscope-scale-bench-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
            ));
            std::fs::create_dir(&dir).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", dir.display()))?;
            (dir, true)
        }
    };
    let path = dir.join(format!("scale-{}.sqlite", options.events));
    println!(
        "{} events, one stream of {} events, only the primary key (aggregate_id, version)",
        options.events, options.long_stream
    );
    let result = rt.block_on(async {
        sqlite_store(&path, &options).await?;
        println!("SQLite:");
        let raw = Raw::Sqlite(
            sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path).read_only(true))
                .await?,
        );
        measure(Target::Sqlite(path.clone()), raw, &options).await?;
        if let Some(server) = &options.postgres {
            let url = postgres_store(server, &options).await?;
            println!("PostgreSQL:");
            let measured = async {
                let raw = Raw::Postgres(sqlx::PgPool::connect(&url).await?);
                measure(Target::Postgres(url.clone()), raw, &options).await
            }
            .await;
            if options.keep.is_none() {
                drop_postgres_store(server, &options).await?;
            }
            measured?;
        }
        Ok::<(), anyhow::Error>(())
    });
    if made_dir {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

/// The history view on the long stream, driven as the window drives it (replies routed, frames
/// drawn, reads asked for): when its newest event is shown, when all of it is loaded and folded,
/// how much memory it holds against its payload bytes, and jumps to versions out of memory.
fn window_figures(target: Target, stream: &str, raw_newest: Duration, payload_mib: f64) -> anyhow::Result<()> {
    use crate::bench::{draw_panel, drive_panel, indices, median_and_p99, wait_for};
    use crate::ui::history::HistoryPanel;
    use crate::worker::{Reply, Request, Worker};

    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut worker = Worker::spawn(move || {
        let _ = tx.send(());
    });
    let open = worker.send(Request::Open { target, layout: None });
    wait_for(&worker, &rx, |id, reply| id == open && matches!(reply, Reply::Opened { .. } | Reply::Failed(_)))?;
    let window = egui::Context::default();
    let started = Instant::now();
    draw_panel(&window, &mut HistoryPanel::default(), 0.0);
    let memory_before = resident_memory_mib().unwrap_or(0.0);
    let mut panel = HistoryPanel::default();
    let t = Instant::now();
    panel.open_stream(stream, &mut worker);
    let mut newest_shown = None;
    loop {
        drive_panel(&mut panel, &mut worker, &rx)?;
        draw_panel(&window, &mut panel, started.elapsed().as_secs_f64());
        if let Some(error) = panel.load_error() {
            anyhow::bail!("the stream did not load: {error}");
        }
        // The newest page is placed (the cursor on the last event, its details drawn).
        if newest_shown.is_none() && panel.showing_newest_page() {
            newest_shown = Some(t.elapsed());
        }
        if !panel.is_loading() && panel.history().is_some_and(|h| !h.is_folding()) {
            break;
        }
    }
    let loaded = t.elapsed();
    let events = panel.history().map_or(0, |h| h.len());
    let resident = panel.history().map_or(0, |h| h.resident());
    let memory = resident_memory_mib().unwrap_or(0.0) - memory_before;
    let newest = newest_shown.unwrap_or(loaded);
    report("window: the long stream's newest event shown (newest page read first)", newest, raw_newest);
    println!(
        "  window: all {events} events loaded and folded after {:.1} s ({:.0} events/s); {resident} in memory; \
         resident memory grew {memory:.0} MiB for {payload_mib:.0} MiB of payload ({:.2}x)",
        loaded.as_secs_f64(),
        events as f64 / loaded.as_secs_f64(),
        memory / payload_mib.max(f64::MIN_POSITIVE)
    );
    let mut jumps = Vec::new();
    for index in indices(20, events) {
        let t = Instant::now();
        panel.set_cursor(index);
        while panel.cursor_state().is_none() {
            drive_panel(&mut panel, &mut worker, &rx)?;
            draw_panel(&window, &mut panel, started.elapsed().as_secs_f64());
            if let Some(error) = panel.load_error() {
                anyhow::bail!("a jump failed: {error}");
            }
        }
        jumps.push(t.elapsed());
    }
    let (median, p99) = median_and_p99(jumps);
    println!(
        "  window: jump to a random version (20, most to a page out of memory): state shown after median {}, \
         worst {} — {:.1}x the raw newest-page query",
        ms(median),
        ms(p99),
        median.as_secs_f64() / raw_newest.as_secs_f64()
    );
    Ok(())
}
