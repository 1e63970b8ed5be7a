//! `eventscope bench --duplicates N`: paging a stream whose events all share one version costs
//! what paging a stream of distinct versions costs, whatever N (keyset on the row's identity,
//! never re-reading earlier rows). Prints, for streams of N/10 and N events of each kind, the
//! time of a page at the start, the middle and the end, and the whole read, next to the raw
//! indexed query for one page measured in the same run.

use std::time::{Duration, Instant};

use sqlx::{Connection as _, Executor as _};

use crate::store::{EventCursor, Store, Target};

const PAGE: usize = 1_000;

/// Reads a whole stream page by page; gives the time of each page.
async fn page_times(store: &Store, stream: &str) -> anyhow::Result<Vec<Duration>> {
    let mut times = Vec::new();
    let mut cursor = Some(EventCursor::from_version(i64::MIN));
    while let Some(at) = cursor {
        let t = Instant::now();
        let page = store.read_stream(stream, at, PAGE).await?;
        times.push(t.elapsed());
        cursor = page.next;
    }
    Ok(times)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs the benchmark on SQLite stores of `events` events (and a tenth of that).
pub fn run(events: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = std::env::temp_dir().join(format!(
        "eventscope-dup-bench-{}-{}",
        std::process::id(),
        chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default()
    ));
    std::fs::create_dir(&dir)?;
    let result = rt.block_on(async {
        println!("paging by {PAGE} events; times in ms (page at start / middle / end; whole stream)");
        for size in [(events / 10).max(PAGE), events] {
            let path = dir.join(format!("dup-{size}.sqlite"));
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
            let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
            conn.execute(
                "CREATE TABLE events (aggregate_id TEXT NOT NULL, version INTEGER, event_type TEXT NOT NULL, \
                 payload TEXT NOT NULL); CREATE INDEX events_stream ON events (aggregate_id, version)",
            )
            .await?;
            for (stream, version) in [("dup", "1"), ("plain", "n")] {
                conn.execute(sqlx::AssertSqlSafe(format!(
                    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {size}) \
                     INSERT INTO events SELECT '{stream}', {version}, 'Counted', json_object('n', n) FROM s"
                )))
                .await?;
            }
            conn.close().await?;
            let store = Store::open(Target::Sqlite(path.clone()), None).await?;
            let raw = sqlx::SqlitePool::connect_with(options.read_only(true)).await?;
            let t = Instant::now();
            let rows = sqlx::query(
                "SELECT aggregate_id, version, event_type, payload FROM events WHERE aggregate_id = 'dup' \
                 ORDER BY version, rowid LIMIT 1000",
            )
            .fetch_all(&raw)
            .await?;
            let raw_page = t.elapsed();
            anyhow::ensure!(rows.len() == PAGE.min(size), "raw page");
            for stream in ["dup", "plain"] {
                let t = Instant::now();
                let times = page_times(&store, stream).await?;
                let whole = t.elapsed();
                let (first, middle, last) = (times[0], times[times.len() / 2], times[times.len() - 1]);
                println!(
                    "  {size:>8} events, {stream:<5}: {:.2} / {:.2} / {:.2}; whole {:.0} ms ({} pages) — raw page {:.2} \
                     — last page / first page {:.2}",
                    ms(first),
                    ms(middle),
                    ms(last),
                    ms(whole),
                    times.len(),
                    ms(raw_page),
                    last.as_secs_f64() / first.as_secs_f64()
                );
            }
            store.close().await;
            raw.close().await;
        }
        Ok::<(), anyhow::Error>(())
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}
