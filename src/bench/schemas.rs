//! `eventscope bench --schemas N [--keep DIR]`: schema inference and the contract check over a
//! store of N events (the `--scale` store: payloads and metadata of a few hundred bytes, only a
//! primary key), against the raw read of the same rows in the same run: the time of each pass,
//! events per second, the ratio to the raw read, and the process's memory before and after (the
//! inference keeps a bounded summary per type, never the events).

use std::path::Path;
use std::time::Instant;

use futures_util::TryStreamExt;

use super::scale::{ScaleOptions, peak_memory_mib, resident_memory_mib, sqlite_store};
use crate::schema::{Contracts, check_store, infer_store};
use crate::store::{Store, Target};

pub fn run(events: usize, keep: Option<&Path>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let dir = match keep {
        Some(dir) => dir.to_owned(),
        None => std::env::temp_dir().join(format!("eventscope-bench-schemas-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("scale-{events}.sqlite"));
    let options = ScaleOptions {
        events,
        long_stream: (events / 2).clamp(1, 1_000_000),
        postgres: None,
        keep: keep.map(Path::to_owned),
        export_seconds: 0.0,
    };
    let result = rt.block_on(measure(&path, &options));
    if keep.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

async fn measure(path: &Path, options: &ScaleOptions) -> anyhow::Result<()> {
    sqlite_store(path, options).await?;
    let mib = |m: Option<f64>| m.map_or("?".to_owned(), |m| format!("{m:.0} MiB"));
    let before = resident_memory_mib();

    // The raw read: every row's stream, version, type, payload and metadata, streamed.
    let pool = sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true))
        .await?;
    let t = Instant::now();
    let mut rows = sqlx::query_as::<_, (String, i64, String, String, String)>(
        "SELECT aggregate_id, version, event_type, payload, metadata FROM events",
    )
    .fetch(&pool);
    let mut raw_rows = 0usize;
    while let Some(row) = rows.try_next().await? {
        raw_rows += usize::from(!row.3.is_empty());
    }
    drop(rows);
    let raw = t.elapsed();
    pool.close().await;

    let store = Store::open(Target::Sqlite(path.to_owned()), None).await?;
    let t = Instant::now();
    let inference = infer_store(&store, &mut |_| true).await?.ok_or_else(|| anyhow::anyhow!("stopped"))?;
    let infer = t.elapsed();
    let types = inference.types();
    let contracts = Contracts::from_inferred(&types)?;
    let t = Instant::now();
    let check = check_store(&store, &contracts, &mut |_, _| true).await?.ok_or_else(|| anyhow::anyhow!("stopped"))?;
    let checked = t.elapsed();
    anyhow::ensure!(check.events as usize == raw_rows, "read {} events, the raw query {raw_rows}", check.events);
    let rate = |d: std::time::Duration| raw_rows as f64 / d.as_secs_f64();
    println!("raw read of every row: {:.2} s ({:.0} rows/s)", raw.as_secs_f64(), rate(raw));
    println!(
        "inference: {:.2} s ({:.0} events/s), {:.2}x the raw read; {} types, {} fields",
        infer.as_secs_f64(),
        rate(infer),
        infer.as_secs_f64() / raw.as_secs_f64(),
        types.len(),
        types.iter().map(|t| t.fields.len()).sum::<usize>()
    );
    println!(
        "check against the inferred schemas: {:.2} s ({:.0} events/s), {:.2}x the raw read; {} events do not fit",
        checked.as_secs_f64(),
        rate(checked),
        checked.as_secs_f64() / raw.as_secs_f64(),
        check.breaking
    );
    println!(
        "memory: {} resident before, {} after, peak {} (the store's payloads: {:.0} MiB)",
        mib(before),
        mib(resident_memory_mib()),
        mib(peak_memory_mib()),
        std::fs::metadata(path).map(|m| m.len() as f64 / 1048576.0).unwrap_or(0.0)
    );
    Ok(())
}
