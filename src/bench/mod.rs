//! `eventscope bench`: measures the history explorer on a generated store with one long stream
//! (200,000 events by default) and many short ones, and prints each figure next to a baseline
//! measured in the same run:
//! - the first page of the long stream shown (worker request → reply → decoded → folded → one
//!   frame of the history view drawn), next to the raw SQL query for the same rows;
//! - a jump to a random version (state and diff at the cursor), median and 99th percentile, next
//!   to a replay from version 1;
//! - the time one frame of the history view takes on the UI thread (layout and tessellation, run
//!   headlessly through egui's `Context`, measured by the wall clock of that one thread) with the
//!   whole stream loaded, and of the streams panel with 100,000 streams loaded.
//!
//! Nothing here is a test: the figures depend on the machine; compare ratios, not seconds.

pub mod audit;
pub mod bisect;
pub mod duplicates;
pub mod scale;
pub mod schemas;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, Executor};

use crate::fold::{Fold, History, JsFold, MergeFold, replay};
use crate::model::{Event, Payload, StreamId, StreamSummary};
use crate::store::{EventCursor, Store, Target};
use crate::ui::history::{HistoryPanel, LOAD_PAGE};
use crate::ui::streams::StreamsPanel;
use crate::worker::{Reply, Request, Worker};

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct BenchOptions {
    pub long_stream_events: usize,
    pub other_streams: usize,
    pub jumps: usize,
    pub frames: usize,
}

impl Default for BenchOptions {
    /// The sizes `eventscope bench` uses unless told otherwise.
    fn default() -> BenchOptions {
        BenchOptions { long_stream_events: 200_000, other_streams: 1_000, jumps: 1_000, frames: 200 }
    }
}

pub const LONG_STREAM: &str = "acc99999-0000-4000-8000-000000000001";

/// Writes a SQLite store in the article's layout: one long account stream and many one-event
/// order streams. Returns the number of events written.
pub async fn write_bench_store(path: &Path, options: BenchOptions) -> anyhow::Result<usize> {
    let _ = std::fs::remove_file(path);
    let connect = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Memory);
    let mut conn = sqlx::SqliteConnection::connect_with(&connect).await?;
    conn.execute(
        "CREATE TABLE events (position INTEGER NOT NULL UNIQUE, aggregate_id TEXT NOT NULL, version INTEGER NOT NULL, \
         event_type TEXT NOT NULL, payload TEXT NOT NULL, metadata TEXT NOT NULL, recorded_at TEXT NOT NULL, \
         PRIMARY KEY (aggregate_id, version))",
    )
    .await?;
    let start = crate::demo::start_time();
    let mut tx = conn.begin().await?;
    let mut position = 0i64;
    let mut balance = 0i64;
    for v in 1..=options.long_stream_events as i64 {
        position += 1;
        balance += v % 17 - 5;
        let payload = match v % 50 {
            0 => {
                json!({"address": {"street": format!("{} Harbour Road", v % 200), "city": "Rotterdam"}})
            }
            7 => {
                let tier = ["bronze", "silver", "gold"][(v / 7 % 3) as usize];
                json!({"credit_limit": 5000 + v / 10, "tier": tier})
            }
            _ => json!({"points_balance": balance, "last_points_earned": v % 17, "last_event": v}),
        };
        let at = start + chrono::Duration::seconds(v * 7);
        sqlx::query("INSERT INTO events VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")
            .bind(position)
            .bind(LONG_STREAM)
            .bind(v)
            .bind(if v % 50 == 0 { "AddressChanged" } else { "LoyaltyPointsEarned" })
            .bind(payload.to_string())
            .bind(json!({"actor": "user:C-999", "correlation_id": format!("c-{v}")}).to_string())
            .bind(crate::model::format_time(at))
            .execute(&mut *tx)
            .await?;
    }
    for n in 0..options.other_streams {
        position += 1;
        sqlx::query("INSERT INTO events VALUES (?1, ?2, 1, 'OrderPlaced', ?3, '{}', ?4)")
            .bind(position)
            .bind(format!("{n:08}-0000-4000-8000-000000000000"))
            .bind(json!({"order_id": format!("ORD-{n}"), "amount": n % 1000}).to_string())
            .bind(crate::model::format_time(start + chrono::Duration::seconds(n as i64)))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await?;
    Ok(position as usize)
}

pub(crate) fn median_and_p99(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99))
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A deterministic pseudo-random index sequence.
pub(crate) fn indices(count: usize, below: usize) -> Vec<usize> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % below as u64) as usize
        })
        .collect()
}

/// Runs every measurement and prints the figures.
pub fn run(options: BenchOptions) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("eventscope-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("bench.sqlite");
    let result = run_in(&path, options);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(path: &Path, options: BenchOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let written = Instant::now();
    let total = rt.block_on(write_bench_store(path, options))?;
    println!(
        "store: {total} events ({} in one stream, {} other streams), written in {:.1} s",
        options.long_stream_events,
        options.other_streams,
        written.elapsed().as_secs_f64()
    );

    // 1. First page: raw query vs. the whole path through the worker.
    let store = rt.block_on(Store::open(Target::Sqlite(path.to_owned()), None))?;
    let mut raw_samples = Vec::new();
    let mut page_samples = Vec::new();
    for _ in 0..9 {
        let t = Instant::now();
        let rows = rt.block_on(async {
            let pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true),
            )
            .await?;
            let rows = sqlx::query(
                "SELECT aggregate_id, version, event_type, payload, metadata, recorded_at, position FROM events \
                 WHERE aggregate_id = ?1 AND version >= 1 ORDER BY version LIMIT ?2",
            )
            .bind(LONG_STREAM)
            .bind(LOAD_PAGE as i64)
            .fetch_all(&pool)
            .await?;
            pool.close().await;
            Ok::<_, sqlx::Error>(rows.len())
        })?;
        raw_samples.push(t.elapsed());
        anyhow::ensure!(rows == LOAD_PAGE, "the raw query returned {rows} rows, not {LOAD_PAGE}");

        let t = Instant::now();
        let page = rt.block_on(store.read_stream(LONG_STREAM, EventCursor::from_version(1), LOAD_PAGE))?;
        let mut history = History::new(StreamId::from(LONG_STREAM), Box::new(MergeFold::default()));
        history.push_events(page.events);
        let _ = history.state_after(1);
        page_samples.push(t.elapsed());
    }
    let (raw, _) = median_and_p99(raw_samples);
    let (page, _) = median_and_p99(page_samples);
    println!(
        "first page ({LOAD_PAGE} events), store read + decode + fold: median {} — raw SQL query (new pool, fetch rows): {} — ratio {:.2}",
        ms(page),
        ms(raw),
        page.as_secs_f64() / raw.as_secs_f64()
    );
    rt.block_on(store.close());

    // 1b. Through the worker thread, as the window does: a freshly opened store, the load
    // request, the first page in hand and folded. Repeated; the last run loads the whole stream.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let mut worker = Worker::spawn(move || {
        let _ = tx.send(());
    });
    let mut first_page_samples = Vec::new();
    // A window's context has its fonts ready: warm this one up before measuring.
    let window = egui::Context::default();
    let draw = |panel: &mut HistoryPanel, time: f64| draw_panel(&window, panel, time);
    draw(&mut HistoryPanel::default(), 0.0);
    let mut whole = Duration::ZERO;
    let mut panel = HistoryPanel::default();
    let started = Instant::now();
    let rss_before = crate::bench::scale::resident_memory_mib().unwrap_or(0.0);
    for run in 0..5 {
        let open = worker.send(Request::Open { target: Target::Sqlite(path.to_owned()), layout: None });
        wait_for(&worker, &rx, |id, reply| id == open && matches!(reply, Reply::Opened { .. } | Reply::Failed { .. }))?;
        // As a person would: the store is open, the previous load has wound down, then a click.
        std::thread::sleep(Duration::from_millis(300));
        let t = Instant::now();
        panel = HistoryPanel::default();
        panel.open_stream(LONG_STREAM, &mut worker);
        let mut shown = false;
        // The window's loop: replies routed, a frame drawn (it folds for part of the frame), the
        // next read asked for; waiting only when there is nothing to fold.
        loop {
            drive_panel(&mut panel, &mut worker, &rx)?;
            draw(&mut panel, started.elapsed().as_secs_f64());
            if !shown && panel.history().is_some_and(|h| !h.is_empty()) {
                first_page_samples.push(t.elapsed());
                shown = true;
                if run < 4 {
                    panel.cancel_load(&mut worker);
                    break;
                }
            }
            if !panel.is_loading() && panel.history().is_some_and(|h| !h.is_folding()) {
                break;
            }
        }
        whole = t.elapsed();
    }
    if let Some(error) = panel.load_error() {
        anyhow::bail!("the stream did not load: {error}");
    }
    let loaded = panel.history().map_or(0, |h| h.len());
    let resident = panel.history().map_or(0, |h| h.resident());
    let rss_after = crate::bench::scale::resident_memory_mib().unwrap_or(0.0);
    let (first_page, _) = median_and_p99(first_page_samples);
    println!(
        "through the worker (store just opened): first page shown after {} (median of 5), {:.2}x the raw query; \
         all {loaded} events loaded and folded after {:.2} s ({:.0} events/s), {resident} of them in memory at the end; \
         resident memory grew {:.0} MiB",
        ms(first_page),
        first_page.as_secs_f64() / raw.as_secs_f64(),
        whole.as_secs_f64(),
        loaded as f64 / whole.as_secs_f64(),
        rss_after - rss_before
    );

    // 1c. Jumps in the window, where most pages are out of memory: the state at a random
    // version, read again and replayed from the nearest checkpoint.
    let mut window_jumps = Vec::new();
    let mut reads = 0;
    for i in indices(options.jumps.min(50), loaded) {
        let t = Instant::now();
        let was_resident = panel
            .history()
            .and_then(|h| h.page_of(i))
            .is_some_and(|p| panel.history().is_some_and(|h| h.is_page_resident(p)));
        reads += usize::from(!was_resident);
        panel.set_cursor(i);
        while panel.cursor_state().is_none() {
            drive_panel(&mut panel, &mut worker, &rx)?;
            draw(&mut panel, started.elapsed().as_secs_f64());
            if let Some(error) = panel.load_error() {
                anyhow::bail!("a jump failed: {error}");
            }
        }
        window_jumps.push(t.elapsed());
    }
    let (window_median, window_p99) = median_and_p99(window_jumps);
    println!(
        "jump to a random version in the window ({} jumps, {reads} of them to a page out of memory): \
         state and view shown after median {}, p99 {} — {:.2}x the raw query for one page",
        options.jumps.min(50),
        ms(window_median),
        ms(window_p99),
        window_median.as_secs_f64() / raw.as_secs_f64()
    );
    drop(panel);

    // The measurements below work on the whole stream in memory.
    let store = rt.block_on(Store::open(Target::Sqlite(path.to_owned()), None))?;
    let mut events = Vec::new();
    rt.block_on(store.read_stream_each(LONG_STREAM, None, &mut |event| {
        events.push(event);
        true
    }))?;
    rt.block_on(store.close());
    let all_events = events.clone();
    let mut history = History::new(StreamId::from(LONG_STREAM), Box::new(MergeFold::default()));
    history.push_events(events);

    // 2. Jump to a random version: state and diff at the cursor, as the history view computes them.
    let len = history.len();
    let mut jump_samples = Vec::new();
    for i in indices(options.jumps, len) {
        let t = Instant::now();
        let state = history.state_after(i + 1);
        let previous = history.state_after(i);
        if let (Ok(state), Ok(previous)) = (state, previous) {
            std::hint::black_box(crate::diff::structural_diff(&previous, &state));
            std::hint::black_box(crate::diff::line_diff(&previous, &state, 3));
        }
        jump_samples.push(t.elapsed());
    }
    let (jump_median, jump_p99) = median_and_p99(jump_samples);
    let mut replay_samples = Vec::new();
    for i in indices(5, len) {
        let t = Instant::now();
        std::hint::black_box(replay(&mut MergeFold::default(), &all_events[..=i]).ok());
        replay_samples.push(t.elapsed());
    }
    let (replay_median, _) = median_and_p99(replay_samples);
    println!(
        "jump to a random version ({} jumps; state + structural diff + line diff): median {}, p99 {} — replay from v1 (no checkpoints): median {} — {:.0}x faster",
        options.jumps,
        ms(jump_median),
        ms(jump_p99),
        ms(replay_median),
        replay_median.as_secs_f64() / jump_median.as_secs_f64()
    );

    // 2b. Blame at the last version, the first time it is asked (built from the start).
    let t = Instant::now();
    let blame = history.blame_after(len).map(|m| m.len()).unwrap_or(0);
    let first_blame = t.elapsed();
    let t = Instant::now();
    let _ = history.blame_after(len.saturating_sub(1));
    let next_blame = t.elapsed();
    println!(
        "blame at the last version ({blame} paths): first time {} (diffs every event once; the window builds it 12 ms per frame with a progress bar), then {} for a neighbouring version",
        ms(first_blame),
        ms(next_blame)
    );

    // 2c. Fold throughput: the JavaScript Order fold and the merge fold over the same
    // 200,000-event Order stream, through the history (with its checkpoints).
    let orders = synthetic_order_stream(options.long_stream_events);
    let fold_rate = |fold: Box<dyn Fold>| -> anyhow::Result<(f64, Duration)> {
        let mut history = History::new(StreamId::from("order-bench"), fold);
        let t = Instant::now();
        history.push_events(orders.clone());
        let elapsed = t.elapsed();
        if let Some(failure) = history.failure() {
            anyhow::bail!("the fold failed in the benchmark: {failure}");
        }
        Ok((orders.len() as f64 / elapsed.as_secs_f64(), elapsed))
    };
    let order_js = include_str!("../../assets/folds/order.js");
    let (js_rate, js_time) = fold_rate(Box::new(JsFold::from_source("order.js", order_js)?))?;
    let (merge_rate, merge_time) = fold_rate(Box::<MergeFold>::default())?;
    println!(
        "fold throughput over a {}-event Order stream (checkpoint every 128): JS order.js {:.0} events/s ({:.2} s) — merge fold {:.0} events/s ({:.2} s) — JS at {:.2}x the merge fold's speed",
        orders.len(),
        js_rate,
        js_time.as_secs_f64(),
        merge_rate,
        merge_time.as_secs_f64(),
        js_rate / merge_rate
    );

    // 3. One frame of the history view with the whole stream loaded.
    let mut panel = HistoryPanel::with_history(LONG_STREAM, history);
    let ctx = egui::Context::default();
    let frame = |panel: &mut HistoryPanel, events: Vec<egui::Event>, time: f64| {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1400.0, 860.0))),
            events,
            time: Some(time),
            ..Default::default()
        };
        let t = Instant::now();
        let output = ctx.run_ui(input, |ui| panel.ui(ui));
        let clipped = ctx.tessellate(output.shapes, output.pixels_per_point);
        std::hint::black_box(clipped);
        t.elapsed()
    };
    for i in 0..5 {
        frame(&mut panel, Vec::new(), i as f64 * 0.016);
    }
    let steady: Vec<Duration> =
        (0..options.frames).map(|i| frame(&mut panel, Vec::new(), 1.0 + i as f64 * 0.016)).collect();
    let key = |key| egui::Event::Key {
        key,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers: egui::Modifiers::NONE,
    };
    let stepping: Vec<Duration> = (0..options.frames)
        .map(|i| {
            let k = if i % 2 == 0 { egui::Key::PageDown } else { egui::Key::ArrowRight };
            frame(&mut panel, vec![key(k)], 10.0 + i as f64 * 0.016)
        })
        .collect();
    let (steady_median, steady_p99) = median_and_p99(steady);
    let (step_median, step_p99) = median_and_p99(stepping);
    println!(
        "history view frame (UI thread wall time), {len} events loaded: idle median {}, p99 {}; stepping with the keyboard (recompute state and diff) median {}, p99 {} — budget at 60 Hz: 16.667 ms",
        ms(steady_median),
        ms(steady_p99),
        ms(step_median),
        ms(step_p99)
    );

    // 4. One frame of the streams panel with 100,000 streams loaded.
    let rows: Vec<StreamSummary> = (0..100_000)
        .map(|n| StreamSummary {
            stream: StreamId(format!("{n:08}-0000-4000-8000-000000000000")),
            events: 1 + n % 9,
            events_at_least: false,
            first_version: 1,
            last_version: 1 + n % 9,
            last_recorded_at: Some(crate::demo::start_time()),
        })
        .collect();
    let mut streams = StreamsPanel::with_rows(rows);
    let ctx = egui::Context::default();
    let mut samples = Vec::new();
    for i in 0..options.frames + 5 {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(400.0, 860.0))),
            time: Some(i as f64 * 0.016),
            events: vec![
                egui::Event::PointerMoved(egui::pos2(200.0, 400.0)),
                egui::Event::MouseWheel {
                    unit: egui::MouseWheelUnit::Page,
                    delta: egui::vec2(0.0, -1.0),
                    phase: egui::TouchPhase::Move,
                    modifiers: egui::Modifiers::NONE,
                    source: egui::MouseWheelSource::Wheel,
                },
            ],
            ..Default::default()
        };
        let t = Instant::now();
        let output = ctx.run_ui(input, |ui| {
            streams.ui(ui, &mut worker);
        });
        std::hint::black_box(ctx.tessellate(output.shapes, output.pixels_per_point));
        if i >= 5 {
            samples.push(t.elapsed());
        }
    }
    let (median, p99) = median_and_p99(samples);
    println!(
        "streams panel frame (UI thread wall time), 100000 streams loaded, scrolling a page per frame: median {}, p99 {}",
        ms(median),
        ms(p99)
    );
    Ok(())
}

/// An Order stream as long as asked: placed, a thousand declined payments, paid, then
/// retroactive tax recalculations (a state that stays the same size, as a real order's does).
fn synthetic_order_stream(events: usize) -> Vec<Event> {
    let start = crate::demo::start_time();
    (1..=events as i64)
        .map(|v| {
            let (event_type, payload) = match v {
                1 => (
                    "OrderPlaced",
                    json!({"order_id": "ORD-9", "customer_id": "C-109", "region_id": "eu-west", "at": "2026-03-02T08:00:00.000Z",
                           "lines": [{"sku": "SKU-KB-01", "qty": 2, "unit_price": 49.9}, {"sku": "SKU-MS-02", "qty": 1, "unit_price": 24.5}],
                           "amount": 124.3, "currency": "EUR", "status": "placed"}),
                ),
                2..=1000 => ("PaymentDeclined", json!({"status": "payment_declined", "decline_reason": "card expired"})),
                1001 => ("PaymentConfirmed", json!({"status": "paid", "payment_id": "PAY-1", "amount_paid": 124.3, "method": "card", "paid_at": "2026-03-02T09:00:00.000Z"})),
                _ => {
                    let tax = (v % 700) as f64 / 100.0;
                    ("OrderTaxRecalculated", json!({"tax_rate": 0.05, "tax": tax, "amount_with_tax": 124.3 + tax, "reason": "retroactive VAT change"}))
                }
            };
            Event {
                stream: StreamId::from("order-bench"),
                version: v,
                position: Some(v),
                event_type: event_type.to_owned(),
                payload: Payload::Json(payload).into(),
                metadata: Some(Payload::Json(json!({"actor": "system:bench", "correlation_id": "c-1"})).into()),
                recorded_at: Some(start + chrono::Duration::seconds(v)),
                aggregate_type: Some("Order".to_owned()),
                archived: false,
                anomalies: Vec::new(),
            }
        })
        .collect()
}

/// Draws one frame of the history view, as the window does (tessellated, not rendered).
pub(crate) fn draw_panel(window: &egui::Context, panel: &mut HistoryPanel, time: f64) {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1400.0, 860.0))),
        time: Some(time),
        ..Default::default()
    };
    let output = window.run_ui(input, |ui| panel.ui(ui));
    std::hint::black_box(window.tessellate(output.shapes, output.pixels_per_point));
}

/// Routes the replies that have come to the panel and asks for its next read; waits for the
/// worker only when the panel has nothing to fold and waits for a read.
pub(crate) fn drive_panel(
    panel: &mut HistoryPanel,
    worker: &mut Worker,
    wake: &std::sync::mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    panel.pump(worker);
    let idle = panel.history().is_none_or(|h| !h.is_folding()) && panel.is_waiting_for_a_read();
    if idle {
        wake.recv_timeout(Duration::from_secs(60))
            .map_err(|_| anyhow::anyhow!("the worker did not answer within 60 s"))?;
    }
    while let Some((id, reply)) = worker.try_recv() {
        if let Some(Reply::Failed(message)) = panel.on_reply(id, reply) {
            anyhow::bail!(message);
        }
    }
    Ok(())
}

fn next_reply(worker: &Worker, wake: &std::sync::mpsc::Receiver<()>) -> anyhow::Result<(u64, Reply)> {
    loop {
        if let Some(reply) = worker.try_recv() {
            return Ok(reply);
        }
        wake.recv_timeout(Duration::from_secs(60))
            .map_err(|_| anyhow::anyhow!("the worker did not answer within 60 s"))?;
    }
}

pub(crate) fn wait_for(
    worker: &Worker,
    wake: &std::sync::mpsc::Receiver<()>,
    done: impl Fn(u64, &Reply) -> bool,
) -> anyhow::Result<()> {
    loop {
        let (id, reply) = next_reply(worker, wake)?;
        if done(id, &reply) {
            if let Reply::Failed(message) = reply {
                anyhow::bail!(message);
            }
            return Ok(());
        }
    }
}
