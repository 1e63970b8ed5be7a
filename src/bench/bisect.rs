//! `eventscope bench --bisect N [--postgres URL]`: the first version where a condition holds in
//! a stream of N events (it first holds near 90 % of the way), found by bisection and by a linear
//! scan in the same run: the time, how many times the condition was asked and how many fold
//! steps the search took once checkpoints exist, from the command line's streamed pass and from
//! a history loaded as the window holds it. On a SQLite file, and with `--postgres` also in a
//! database `eventscope_bench_bisect` the benchmark creates on that server (and drops).

use std::time::Instant;

use crate::bisect::{Condition, Search, Step, bisect, scan};
use crate::fold::{History, MergeFold};
use crate::model::StreamId;
use crate::store::{EventCursor, Store, Target};

use sqlx::{Connection as _, Executor as _};

use super::{BenchOptions, LONG_STREAM, write_bench_store};

/// The PostgreSQL database the benchmark creates (and drops).
const BENCH_DATABASE: &str = "eventscope_bench_bisect";
const BENCH_COMMENT: &str = "made by eventscope bench --bisect; dropped when it ends";

pub fn run(events: usize, postgres: Option<String>, force: bool) -> anyhow::Result<()> {
    let events = events.max(10);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = std::env::temp_dir().join(format!("eventscope-bench-bisect-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bisect.sqlite");
    let options = BenchOptions { long_stream_events: events, other_streams: 0, ..BenchOptions::default() };
    let written = Instant::now();
    let result = rt.block_on(write_bench_store(&path, options)).and_then(|_| {
        println!("SQLite: one stream of {events} events, written in {:.1} s", written.elapsed().as_secs_f64());
        measure(&rt, Target::Sqlite(path.clone()), events)
    });
    let _ = std::fs::remove_dir_all(&dir);
    result?;
    let Some(server) = postgres else { return Ok(()) };
    let written = Instant::now();
    let url = rt.block_on(async {
        let options = super::audit::create_named_database(&server, BENCH_DATABASE, BENCH_COMMENT, force).await?;
        let mut conn = sqlx::PgConnection::connect_with(&options).await?;
        conn.execute(sqlx::AssertSqlSafe(postgres_fill(events))).await?;
        conn.execute("VACUUM ANALYZE events").await?;
        conn.close().await?;
        super::audit::database_url(&server, BENCH_DATABASE)
    })?;
    println!("PostgreSQL: one stream of {events} events, written in {:.1} s", written.elapsed().as_secs_f64());
    let result = measure(&rt, Target::Postgres(url), events);
    rt.block_on(super::audit::drop_named_database(&server, BENCH_DATABASE))?;
    result
}

/// The SQLite bench store's long stream (see [`write_bench_store`]) in PostgreSQL's terms,
/// written by the server itself: the article's layout, only the primary key.
fn postgres_fill(events: usize) -> String {
    format!(
        "CREATE TABLE events (position BIGINT NOT NULL UNIQUE, aggregate_id UUID NOT NULL, version INTEGER NOT NULL, \
         event_type TEXT NOT NULL, payload JSONB NOT NULL, metadata JSONB NOT NULL, recorded_at TIMESTAMPTZ NOT NULL, \
         PRIMARY KEY (aggregate_id, version)); \
         INSERT INTO events \
         SELECT n, '{LONG_STREAM}', n, CASE WHEN n % 50 = 0 THEN 'AddressChanged' ELSE 'LoyaltyPointsEarned' END, \
           CASE WHEN n % 50 = 0 THEN jsonb_build_object('address', jsonb_build_object('street', (n % 200) || ' Harbour Road', 'city', 'Rotterdam')) \
                WHEN n % 50 = 7 THEN jsonb_build_object('credit_limit', 5000 + n / 10, 'tier', (ARRAY['bronze', 'silver', 'gold'])[n / 7 % 3 + 1]) \
                ELSE jsonb_build_object('points_balance', balance, 'last_points_earned', n % 17, 'last_event', n) END, \
           jsonb_build_object('actor', 'user:C-999', 'correlation_id', 'c-' || n), \
           timestamptz '2026-02-23 08:00:00+00' + n * interval '7 seconds' \
         FROM (SELECT n, sum(n % 17 - 5) OVER (ORDER BY n) AS balance FROM generate_series(1, {events}) n) s"
    )
}

/// Bisect and scan on the store at `target`, which holds the long stream of `events` events.
fn measure(rt: &tokio::runtime::Runtime, target: Target, events: usize) -> anyhow::Result<()> {
    let store = rt.block_on(Store::open(target, None))?;
    // (`last_event` is the version, on all but two events in fifty.)
    let target = events * 9 / 10;
    let condition = Condition::new(&format!("state.last_event >= {target}"))?;
    println!("condition: `{}`", condition.text);

    let mut fold = MergeFold::default();
    let t = Instant::now();
    let found = rt.block_on(bisect(&store, LONG_STREAM, &mut fold, &condition))?;
    let ours = t.elapsed();
    let t = Instant::now();
    let linear = rt.block_on(scan(&store, LONG_STREAM, &mut fold, &condition))?;
    let theirs = t.elapsed();
    anyhow::ensure!(
        found.version == linear.version,
        "bisect {:?} and scan {:?} disagree",
        found.version,
        linear.version
    );
    println!(
        "command line (one streamed fold pass, then the search): found v{} in {:.2} s, the condition asked {} times, \
         {} fold steps after the pass (checkpoint every {}) — linear scan: {:.2} s, asked {} times — {:.2}x the time",
        found.version.unwrap_or(-1),
        ours.as_secs_f64(),
        found.evaluations,
        found.search_fold_steps,
        found.checkpoint_interval,
        theirs.as_secs_f64(),
        linear.evaluations,
        ours.as_secs_f64() / theirs.as_secs_f64()
    );
    // As the window holds it: the whole stream loaded and folded, checkpoints every 128 events.
    let t = Instant::now();
    let mut history = History::new(StreamId::from(LONG_STREAM), Box::new(MergeFold::default()));
    let mut cursor = Some(EventCursor::from_version(i64::MIN));
    while let Some(at) = cursor {
        let page = rt.block_on(store.read_stream(LONG_STREAM, at, 10_000))?;
        history.push_events(page.events);
        while !history.fold_within(std::time::Duration::from_secs(1)) {}
        cursor = page.next;
    }
    let loaded = t.elapsed();
    let t = Instant::now();
    let steps_before = history.recomputed_steps();
    let mut search = Search::new(history.folded(), history.interval());
    let first = loop {
        match search.step() {
            Step::Done(found) => break found,
            Step::Ask(count) => {
                let state = history.state_after(count).map_err(|e| anyhow::anyhow!(e.to_string()))?;
                let version = count.checked_sub(1).and_then(|i| history.summary(i)).map(|e| e.version);
                search.answer(condition.holds(&state, version)?);
            }
        }
    };
    let window = t.elapsed();
    let window_steps = history.recomputed_steps() - steps_before;
    let t = Instant::now();
    let mut asked = 0usize;
    for count in 0..=history.folded() {
        let state = history.state_after(count).map_err(|e| anyhow::anyhow!(e.to_string()))?;
        asked += 1;
        if condition.holds(&state, None)? {
            break;
        }
    }
    let window_linear = t.elapsed();
    let at = first.and_then(|c| c.checked_sub(1)).and_then(|i| history.summary(i)).map_or(-1, |e| e.version);
    anyhow::ensure!(Some(at) == found.version, "the window's search found v{at}");
    println!(
        "window (stream loaded and folded in {:.2} s): found v{at} in {:.1} ms, the condition asked {} times, {} fold \
         steps (checkpoint every {}) — asking every state: {:.2} s, {asked} times — {:.0}x faster",
        loaded.as_secs_f64(),
        window.as_secs_f64() * 1e3,
        search.evaluations,
        window_steps,
        history.interval(),
        window_linear.as_secs_f64(),
        window_linear.as_secs_f64() / window.as_secs_f64().max(1e-9)
    );
    rt.block_on(store.close());
    Ok(())
}
