//! `eventscope bench --bisect N`: the first version where a condition holds in a stream of N
//! events (it first holds near 90 % of the way), found by bisection and by a linear scan in the
//! same run: the time, how many times the condition was asked and how many fold steps the
//! search took once checkpoints exist, from the command line's streamed pass and from a history
//! loaded as the window holds it.

use std::time::Instant;

use crate::bisect::{Condition, Search, Step, bisect, scan};
use crate::fold::{History, MergeFold};
use crate::model::StreamId;
use crate::store::{EventCursor, Store, Target};

use super::{BenchOptions, LONG_STREAM, write_bench_store};

pub fn run(events: usize) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("eventscope-bench-bisect-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(&dir.join("bisect.sqlite"), events.max(10));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_in(path: &std::path::Path, events: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let options = BenchOptions { long_stream_events: events, other_streams: 0, ..BenchOptions::default() };
    let written = Instant::now();
    rt.block_on(write_bench_store(path, options))?;
    println!("store: one stream of {events} events, written in {:.1} s", written.elapsed().as_secs_f64());
    let store = rt.block_on(Store::open(Target::Sqlite(path.to_owned()), None))?;
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
