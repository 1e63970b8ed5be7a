//! Bisect: the first version of a stream at which a condition on the folded state holds ("when
//! did the balance go negative?"), found like `git bisect`.
//!
//! The stream is folded once, streamed, keeping the state at checkpoints (every `interval`
//! events; at most [`MAX_CHECKPOINTS`] of them, the interval doubling when they would be more,
//! so memory does not grow with the stream). The condition is then asked of checkpoint states
//! only, by binary search: the first checkpoint where it holds, then, from the checkpoint before
//! it, the events between (read again from the store) one by one. So the condition is evaluated
//! a logarithmic number of times plus one interval, and only that interval is folded again.
//!
//! Like `git bisect`, the search takes the condition to keep holding once it holds; one that
//! holds only for a while between two checkpoints can be missed. [`scan`] asks it after every
//! event instead (the baseline the benchmark compares with).

use std::sync::Arc;

use rquickjs::{Function, Persistent};
use serde::Serialize;
use serde_json::Value;

use crate::fold::Fold;
use crate::model::{Event, Version};
use crate::script::{Limits, Sandbox, ScriptError, eval, to_js};
use crate::store::{Store, StoreError};

/// The first checkpoint interval, in events.
pub const INTERVAL: usize = 128;
/// At most this many checkpoints are kept (the interval doubles past it).
pub const MAX_CHECKPOINTS: usize = 4_096;

/// A condition on the state: a JavaScript expression over `state` (and `version`, the version
/// of the last event folded), such as `state.balance < 0`; what it gives is taken as true or
/// false as JavaScript's `if` would.
pub struct Condition {
    // (The persistent function first: it must be dropped before its sandbox.)
    test: Persistent<Function<'static>>,
    sandbox: Sandbox,
    pub text: String,
}

impl Condition {
    pub fn new(expression: &str) -> Result<Condition, ScriptError> {
        let file = "condition";
        if expression.trim().is_empty() {
            return Err(ScriptError {
                kind: crate::script::ScriptErrorKind::Syntax,
                message: "the condition is empty: write an expression over the state, such as `state.balance < 0`"
                    .to_owned(),
                file: file.to_owned(),
                line: None,
                column: None,
            });
        }
        let sandbox = Sandbox::new(file, Limits::default())?;
        // (On its own lines, so that a `//` comment in the expression ends with it.)
        let source = format!("(function (state, version) {{ return !!(\n{expression}\n); }})");
        let test = sandbox
            .run(|ctx| Ok(Persistent::save(ctx, eval::<Function>(ctx, &source, file)?)), "reading it")
            .map_err(|e| Self::in_expression(e, expression))?;
        Ok(Condition { test, sandbox, text: expression.to_owned() })
    }

    /// Whether the condition holds of this state, after the event of this version.
    pub fn holds(&self, state: &Value, version: Option<Version>) -> Result<bool, ScriptError> {
        self.sandbox
            .run(
                |ctx| {
                    let test = self.test.clone().restore(ctx)?;
                    test.call((to_js(ctx, state)?, version))
                },
                "testing the condition",
            )
            .map_err(|e| Self::in_expression(e, &self.text))
    }

    /// An error's place in the expression as written, not in the function wrapped around it
    /// (the expression starts on the wrapper's second line); a place in the wrapper itself — an
    /// expression that ends too soon — is left out.
    fn in_expression(mut error: ScriptError, expression: &str) -> ScriptError {
        let lines = expression.lines().count().max(1) as u32;
        match error.line.map(|line| line.checked_sub(1).filter(|l| (1..=lines).contains(l))) {
            Some(Some(line)) => error.line = Some(line),
            Some(None) => (error.line, error.column) = (None, None),
            None => {}
        }
        error
    }
}

/// Why a bisection could not answer.
#[derive(Debug, thiserror::Error)]
pub enum BisectError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the condition failed {}: {error}", after_version(*version))]
    Condition { version: Option<Version>, error: ScriptError },
    #[error("the fold stopped at version {version} ({event_type}): {message}")]
    Fold { version: Version, event_type: String, message: String },
}

/// "after vN", or "on the initial state".
fn after_version(version: Option<Version>) -> String {
    version.map_or_else(|| "on the initial state".to_owned(), |v| format!("after v{v}"))
}

/// The state after a number of events, kept while folding.
struct Checkpoint {
    /// How many events were folded.
    count: usize,
    state: Arc<Value>,
    /// The last event folded: its version (`None`: it has none) and how many events of that
    /// version were folded in a row up to it, to read on from right after it.
    last_version: Option<Version>,
    same_version: usize,
}

/// The checkpoints of one fold over a stream.
struct Checkpoints {
    interval: usize,
    kept: Vec<Checkpoint>,
    /// The state after the last event, and how many there were; `None` when the fold failed
    /// part-way (then `failure` says where, and only the events before it can be searched).
    end: Option<Checkpoint>,
    failure: Option<(usize, BisectError)>,
}

/// What a bisection found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Bisection {
    pub stream: String,
    pub condition: String,
    pub fold: String,
    /// The first event after which the condition holds: its index (0-based), version and type.
    pub index: Option<usize>,
    pub version: Option<Version>,
    pub event_type: Option<String>,
    /// It already holds of the initial state, before any event.
    pub holds_initially: bool,
    /// The stream's event count.
    pub events: usize,
    /// How many times the condition was asked, and how many fold steps the search took after
    /// the one pass that made the checkpoints.
    pub evaluations: usize,
    pub search_fold_steps: usize,
    pub checkpoint_interval: usize,
    /// The event found, with the states before and after it.
    #[serde(skip)]
    pub found: Option<Found>,
}

/// The event after which the condition first holds, and what it changed.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    pub event: Event,
    pub before: Value,
    pub after: Value,
}

/// Folds the stream once, streamed, keeping checkpoints (every `interval` events, at most `max`).
async fn fold_with_checkpoints(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    interval: usize,
    max: usize,
) -> Result<Checkpoints, BisectError> {
    fold.reset().map_err(|e| BisectError::Fold { version: 0, event_type: "$init".to_owned(), message: e.message })?;
    let initial = Arc::new(fold.state().map_err(|e| BisectError::Fold {
        version: 0,
        event_type: "$init".to_owned(),
        message: e.message,
    })?);
    let start = Checkpoint { count: 0, state: initial, last_version: None, same_version: 0 };
    let mut points = Checkpoints { interval: interval.max(1), kept: vec![start], end: None, failure: None };
    let (mut count, mut last_version, mut same_version) = (0usize, None, 0usize);
    let mut failure = None;
    let mut each = |event: Event| {
        if let Err(e) = fold.apply(&event) {
            failure = Some(fold_failure(&event, e.message));
            return false;
        }
        count += 1;
        let version = event.has_version().then_some(event.version);
        same_version = if version.is_some() && version == last_version { same_version + 1 } else { 1 };
        last_version = version;
        if count.is_multiple_of(points.interval) {
            match fold.state() {
                Ok(state) => points.kept.push(Checkpoint { count, state: Arc::new(state), last_version, same_version }),
                Err(e) => {
                    failure = Some(fold_failure(&event, e.message));
                    return false;
                }
            }
            if points.kept.len() > max.max(2) {
                // Every other one goes: the interval doubles.
                points.interval *= 2;
                let interval = points.interval;
                points.kept.retain(|c| c.count.is_multiple_of(interval));
            }
        }
        true
    };
    store.read_stream_each(stream, None, &mut each).await?;
    if let Some(failure) = failure {
        // (The events before it can still be searched.)
        points.failure = Some((count, failure));
        return Ok(points);
    }
    let state = match points.kept.last().filter(|c| c.count == count) {
        Some(last) => last.state.clone(),
        None => Arc::new(fold.state().map_err(|e| BisectError::Fold {
            version: last_version.unwrap_or(0),
            event_type: String::new(),
            message: e.message,
        })?),
    };
    points.end = Some(Checkpoint { count, state, last_version, same_version });
    Ok(points)
}

fn fold_failure(event: &Event, message: String) -> BisectError {
    BisectError::Fold { version: event.version, event_type: event.event_type.clone(), message }
}

/// The first version of `stream` after which `condition` holds (see the module docs).
pub async fn bisect(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    condition: &Condition,
) -> Result<Bisection, BisectError> {
    bisect_with(store, stream, fold, condition, INTERVAL, MAX_CHECKPOINTS).await
}

/// [`bisect`] with a checkpoint every `interval` events, at most `max` of them.
pub async fn bisect_with(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    condition: &Condition,
    interval: usize,
    max: usize,
) -> Result<Bisection, BisectError> {
    let mut points = fold_with_checkpoints(store, stream, fold, interval, max).await?;
    let folded = match (&points.end, &points.failure) {
        (Some(end), _) => end.count,
        (None, Some((count, _))) => *count,
        (None, None) => 0,
    };
    let mut found = Bisection {
        stream: stream.to_owned(),
        condition: condition.text.clone(),
        fold: fold.name().to_owned(),
        events: folded,
        checkpoint_interval: points.interval,
        ..Bisection::default()
    };
    let ask = |point: &Checkpoint, found: &mut Bisection| {
        found.evaluations += 1;
        condition
            .holds(&point.state, point.last_version)
            .map_err(|error| BisectError::Condition { version: point.last_version, error })
    };
    if ask(&points.kept[0], &mut found)? {
        found.holds_initially = true;
        return Ok(found);
    }
    // The checkpoints after the initial state, and the end; the first where it holds.
    let mut candidates: Vec<&Checkpoint> = points.kept.iter().skip(1).collect();
    if let Some(end) = &points.end
        && candidates.last().is_none_or(|c| c.count < end.count)
    {
        candidates.push(end);
    }
    let (mut low, mut high) = (0usize, candidates.len());
    while low < high {
        let middle = (low + high) / 2;
        if ask(candidates[middle], &mut found)? {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    // Where the fold failed, the events after the last checkpoint are asked one by one, up to
    // the failure (which is then the answer: the condition cannot be asked past it).
    let (before, limit) = match candidates.get(low) {
        Some(holding) => (if low == 0 { &points.kept[0] } else { candidates[low - 1] }, holding.count),
        None if points.failure.is_some() => (candidates.last().copied().unwrap_or(&points.kept[0]), usize::MAX),
        None => return Ok(found),
    };
    // The events between the checkpoint before and the one where it holds, one by one.
    fold.restore(&before.state).map_err(|e| BisectError::Fold {
        version: before.last_version.unwrap_or(0),
        event_type: String::new(),
        message: e.message,
    })?;
    let (from, skip) = match before.last_version {
        Some(version) if before.count > 0 => (Some(version), before.same_version),
        // (No version to read on from: from the start, skipping what was folded.)
        _ => (None, before.count),
    };
    let previous = (*before.state).clone();
    ask_each(store, stream, fold, condition, (from, skip), (before.count, limit), previous, &mut found).await?;
    if found.index.is_none()
        && let Some((_, failure)) = points.failure.take()
    {
        return Err(failure);
    }
    Ok(found)
}

/// The same answer by asking the condition after every event (the linear baseline).
pub async fn scan(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    condition: &Condition,
) -> Result<Bisection, BisectError> {
    fold.reset().map_err(|e| BisectError::Fold { version: 0, event_type: "$init".to_owned(), message: e.message })?;
    let mut found = Bisection {
        stream: stream.to_owned(),
        condition: condition.text.clone(),
        fold: fold.name().to_owned(),
        ..Bisection::default()
    };
    let initial =
        fold.state().map_err(|e| BisectError::Fold { version: 0, event_type: String::new(), message: e.message })?;
    found.evaluations += 1;
    if condition.holds(&initial, None).map_err(|error| BisectError::Condition { version: None, error })? {
        found.holds_initially = true;
        return Ok(found);
    }
    // (`events` counts the events folded: up to the one found, or all of them.)
    let folded = ask_each(store, stream, fold, condition, (None, 0), (0, usize::MAX), initial, &mut found).await?;
    found.events = found.index.map_or(folded, |index| index + 1);
    Ok(found)
}

/// Folds the stream's events one by one from the fold's current state (read from version `from`
/// on, the first `skip` of them passed over: they were folded already), asking the condition
/// after each, until it holds or the event index reaches `limit` (counting from `index`). The
/// event found, and the states before and after it, go into `found`. Gives the index reached.
#[allow(clippy::too_many_arguments)]
async fn ask_each(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    condition: &Condition,
    (from, mut skip): (Option<Version>, usize),
    (mut index, limit): (usize, usize),
    mut previous: Value,
    found: &mut Bisection,
) -> Result<usize, BisectError> {
    let mut outcome: Result<(), BisectError> = Ok(());
    let mut each = |event: Event| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        if index >= limit {
            return false;
        }
        found.search_fold_steps += 1;
        let version = event.has_version().then_some(event.version);
        let state = match fold.apply(&event).and_then(|()| fold.state()) {
            Ok(state) => state,
            Err(e) => {
                outcome = Err(fold_failure(&event, e.message));
                return false;
            }
        };
        found.evaluations += 1;
        match condition.holds(&state, version).map_err(|error| BisectError::Condition { version, error }) {
            Ok(true) => {
                found.index = Some(index);
                found.version = version;
                found.event_type = Some(event.event_type.clone());
                let before = std::mem::take(&mut previous);
                found.found = Some(Found { event, before, after: state });
                false
            }
            Ok(false) => {
                index += 1;
                previous = state;
                true
            }
            Err(e) => {
                outcome = Err(e);
                false
            }
        }
    };
    store.read_stream_each(stream, from, &mut each).await?;
    outcome.map(|()| index)
}

/// At most this many streams where a condition holds are listed by a category's bisection.
pub const MAX_LISTED: usize = 10_000;

/// A bisection in every stream of a category.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CategoryBisection {
    pub category: String,
    pub condition: String,
    pub streams_checked: usize,
    /// The streams where the condition holds at some version (at most [`MAX_LISTED`]), in
    /// stream order, each with the first version.
    pub holding: Vec<Bisection>,
    /// The streams it could not be asked of, and why.
    pub failures: Vec<StreamFailure>,
    /// More streams hold than are listed.
    pub more: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StreamFailure {
    pub stream: String,
    pub error: String,
}

/// Bisects every stream of `category` (chosen by the database, a page of streams at a time, in
/// id order); `progress` hears each stream checked (with its bisection when it holds) and stops
/// the pass by answering false (then `None`).
pub async fn bisect_category(
    store: &Store,
    category: &str,
    folds: &mut crate::fold::Folds<'_>,
    condition: &Condition,
    progress: &mut dyn FnMut(usize, Option<&Bisection>) -> bool,
) -> Result<Option<CategoryBisection>, StoreError> {
    let mut result = CategoryBisection {
        category: category.to_owned(),
        condition: condition.text.clone(),
        ..CategoryBisection::default()
    };
    let mut query = crate::store::query::StreamQuery { limit: 500, ..Default::default() };
    loop {
        let page = store.list_category_streams(category, &query).await?;
        for summary in &page.streams {
            let stream = summary.stream.0.as_str();
            result.streams_checked += 1;
            let holding = match bisect(store, stream, folds.for_stream(stream, category), condition).await {
                Ok(found) if found.index.is_some() || found.holds_initially => Some(Bisection { found: None, ..found }),
                Ok(_) => None,
                Err(e) => {
                    result.failures.push(StreamFailure { stream: stream.to_owned(), error: e.to_string() });
                    None
                }
            };
            if !progress(result.streams_checked, holding.as_ref()) {
                return Ok(None);
            }
            if let Some(found) = holding {
                if result.holding.len() < MAX_LISTED {
                    result.holding.push(found);
                } else {
                    result.more = true;
                }
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(Some(result)),
        }
    }
}

/// A bisection over states given by count (the state after the first `count` events), one
/// question at a time, so that the window can answer each within a frame's budget from a loaded
/// history: the initial state, then checkpoints by binary search, then the counts of one
/// interval one by one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// The counts the binary search chooses among: every `interval`-th, and the last.
    candidates: Vec<usize>,
    phase: Phase,
    pub evaluations: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Phase {
    Initial,
    Binary {
        low: usize,
        high: usize,
    },
    Scan {
        next: usize,
        end: usize,
    },
    /// Every count in turn up to `end`, not knowing whether it holds there.
    Linear {
        next: usize,
        end: usize,
    },
    Done(Option<usize>),
}

/// What a [`Search`] needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Whether the condition holds of the state after this many events.
    Ask(usize),
    /// The first count whose state it holds of (`Some(0)`: the initial state), or never.
    Done(Option<usize>),
}

impl Search {
    /// A search over `len` events with a checkpoint every `interval`.
    pub fn new(len: usize, interval: usize) -> Search {
        let interval = interval.max(1);
        let mut candidates: Vec<usize> = (1..=len / interval).map(|k| k * interval).collect();
        if candidates.last().is_none_or(|&c| c < len) && len > 0 {
            candidates.push(len);
        }
        Search { candidates, phase: Phase::Initial, evaluations: 0 }
    }

    /// A search that asks every state in turn (for a condition that may stop holding again).
    pub fn linear(len: usize) -> Search {
        Search { candidates: Vec::new(), phase: Phase::Linear { next: 0, end: len }, evaluations: 0 }
    }

    pub fn step(&self) -> Step {
        match &self.phase {
            Phase::Initial => Step::Ask(0),
            Phase::Binary { low, high } => Step::Ask(self.candidates[(low + high) / 2]),
            Phase::Scan { next, .. } | Phase::Linear { next, .. } => Step::Ask(*next),
            Phase::Done(found) => Step::Done(*found),
        }
    }

    /// The answer to the last [`Step::Ask`].
    pub fn answer(&mut self, holds: bool) {
        self.evaluations += 1;
        self.phase = match self.phase.clone() {
            Phase::Initial if holds => Phase::Done(Some(0)),
            Phase::Initial => self.settle(0, self.candidates.len()),
            Phase::Binary { low, high } => {
                let middle = (low + high) / 2;
                if holds { self.settle(low, middle) } else { self.settle(middle + 1, high) }
            }
            Phase::Scan { next, .. } if holds => Phase::Done(Some(next)),
            Phase::Scan { next, end } if next + 1 < end => Phase::Scan { next: next + 1, end },
            // (The end is a checkpoint where it holds.)
            Phase::Scan { end, .. } => Phase::Done(Some(end)),
            Phase::Linear { next, .. } if holds => Phase::Done(Some(next)),
            Phase::Linear { next, end } if next < end => Phase::Linear { next: next + 1, end },
            Phase::Linear { .. } => Phase::Done(None),
            done @ Phase::Done(_) => done,
        };
    }

    /// The binary search narrowed to `low..high`: on, or to the interval before the first
    /// checkpoint where it holds.
    fn settle(&self, low: usize, high: usize) -> Phase {
        if low < high {
            return Phase::Binary { low, high };
        }
        let Some(&end) = self.candidates.get(low) else {
            return Phase::Done(None);
        };
        let start = if low == 0 { 0 } else { self.candidates[low - 1] };
        if start + 1 < end { Phase::Scan { next: start + 1, end } } else { Phase::Done(Some(end)) }
    }
}

/// A JavaScript function comparing two JSON values by value.
const DEEP_EQUAL: &str = "(function eq(a, b) { if (a === b) return true; \
    if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false; \
    if (Array.isArray(a) !== Array.isArray(b)) return false; \
    const ka = Object.keys(a), kb = Object.keys(b); \
    return ka.length === kb.length && ka.every(k => Object.prototype.hasOwnProperty.call(b, k) && eq(a[k], b[k])); })";

/// A condition on one field of the state, from its JSON Pointer: that it has this value, or
/// (without one) that it exists.
pub fn field_condition(pointer: &str, value: Option<&Value>) -> String {
    let mut accessor = String::from("state");
    for segment in pointer.split('/').skip(1) {
        let segment = segment.replace("~1", "/").replace("~0", "~");
        if !segment.is_empty() && segment.len() < 10 && segment.bytes().all(|b| b.is_ascii_digit()) {
            accessor += &format!("?.[{segment}]");
        } else {
            accessor += &format!("?.[{}]", Value::String(segment));
        }
    }
    match value {
        None => format!("{accessor} !== undefined"),
        // (Compared by value: key order never counts, nor how a number is written.)
        Some(v @ (Value::Object(_) | Value::Array(_))) => format!("{DEEP_EQUAL}({accessor}, {v})"),
        Some(scalar) => format!("{accessor} === {scalar}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_condition_is_a_javascript_expression_over_the_state() {
        let negative = Condition::new("state.balance < 0").unwrap();
        assert!(negative.holds(&json!({"balance": -1}), Some(3)).unwrap());
        assert!(!negative.holds(&json!({"balance": 5}), Some(3)).unwrap());
        // Truthiness, as JavaScript has it; the version is there too.
        assert!(Condition::new("state.refunds").unwrap().holds(&json!({"refunds": [1]}), None).unwrap());
        assert!(Condition::new("version >= 4 // a comment").unwrap().holds(&json!({}), Some(4)).unwrap());
        // A mistake is said, not taken for false.
        assert!(Condition::new("state.").is_err());
        // Places are the expression's own: an expression that ends too soon has none, an empty
        // one is said to be empty.
        let cut_short = Condition::new("state.refunded > ").err().unwrap();
        assert_eq!((cut_short.line, cut_short.column), (None, None), "{cut_short}");
        assert!(!cut_short.to_string().contains("condition:3"), "{cut_short}");
        assert!(Condition::new("  ").err().unwrap().to_string().contains("the condition is empty"));
        let thrown = Condition::new("true &&\nstate.a.b").unwrap().holds(&json!({}), None).unwrap_err();
        assert_eq!(thrown.line, Some(2), "{thrown}");
        assert!(Condition::new("state.a.b").unwrap().holds(&json!({}), None).is_err());
        let endless = Condition::new("(() => { while (true) {} })()").unwrap();
        assert!(endless.holds(&json!({}), None).is_err(), "the time budget stops it");
    }

    /// Runs a search over the answers of a condition at each count.
    fn search(holds: &[bool], interval: usize) -> (Option<usize>, usize) {
        let mut search = Search::new(holds.len() - 1, interval);
        loop {
            match search.step() {
                Step::Ask(count) => search.answer(holds[count]),
                Step::Done(found) => return (found, search.evaluations),
            }
        }
    }

    #[test]
    fn the_search_finds_the_first_count_asking_few_questions() {
        for len in [0, 1, 2, 7, 8, 9, 100, 1_000] {
            for first in 0..=len + 1 {
                // Holds from `first` on (never when past the end).
                let holds: Vec<bool> = (0..=len).map(|count| count >= first).collect();
                let (found, asked) = search(&holds, 8);
                assert_eq!(found, (first <= len).then_some(first), "len {len}, first {first}");
                let log = (len / 8 + 2).ilog2() as usize + 1;
                assert!(asked <= 1 + log + 8, "len {len}, first {first}: {asked} questions");
            }
        }
    }

    #[test]
    fn a_linear_search_finds_a_condition_that_stops_holding() {
        let holds: Vec<bool> = (0..=300).map(|count| (130..=140).contains(&count)).collect();
        assert_eq!(search(&holds, 128).0, None, "bisection asks the checkpoints only");
        let mut linear = Search::linear(300);
        let found = loop {
            match linear.step() {
                Step::Ask(count) => linear.answer(holds[count]),
                Step::Done(found) => break found,
            }
        };
        assert_eq!((found, linear.evaluations), (Some(130), 131));
    }

    #[test]
    fn a_field_condition_finds_a_value_or_a_field() {
        let when = field_condition("/refunds/1/by", Some(&json!("staff:grace")));
        assert_eq!(when, r#"state?.["refunds"]?.[1]?.["by"] === "staff:grace""#);
        let odd = field_condition("/a~1b/~0x", None);
        assert_eq!(odd, r#"state?.["a/b"]?.["~x"] !== undefined"#);
        let c = Condition::new(&field_condition("/total", Some(&json!(159.0)))).unwrap();
        assert!(c.holds(&json!({"total": 159}), None).unwrap(), "values, not spellings");
        let c = Condition::new(&field_condition("/lines", Some(&json!([{"qty": 2}])))).unwrap();
        assert!(c.holds(&json!({"lines": [{"qty": 2}]}), None).unwrap());
        assert!(!c.holds(&json!({"lines": []}), None).unwrap());
        let c = Condition::new(&field_condition("/o", Some(&json!({"b": 1, "a": 2.0})))).unwrap();
        assert!(c.holds(&json!({"o": {"a": 2, "b": 1}}), None).unwrap(), "key order and spelling do not count");
        assert!(!c.holds(&json!({"o": {"a": 2}}), None).unwrap());
        let c = Condition::new(&field_condition("/payment/id", None)).unwrap();
        assert!(!c.holds(&json!({}), None).unwrap(), "a missing parent is not an error");
        assert!(c.holds(&json!({"payment": {"id": "P"}}), None).unwrap());
    }
}
