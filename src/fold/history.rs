//! A stream's history as it loads: a summary of every event, the events themselves a page at a
//! time (a long stream keeps a window of pages in memory: the least recently used ones are
//! dropped once folded and read again when a state needs them), the fold replayed with a
//! checkpoint every `interval` events (so the state after any count of events costs at most
//! `interval` steps), memoised states, the version anomalies, and blame maps (which event last
//! changed each path).
//!
//! Counts, not versions, index states: `state_after(n)` is the state after the first `n` events
//! (`0` is the initial state), so duplicate or missing versions never confuse the replay.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Fold, FoldError};
use crate::diff::{push_segment, structural_diff};
use crate::model::{
    Event, Payload, Position, RowAnomaly, StreamId, Version, VersionAnomaly, VersionChecker, WALK_DEPTH,
};

/// Where the fold stopped: the event it could not apply, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct FoldFailure {
    /// Index of the event (0-based) that failed; `None` when the initial state failed.
    pub index: Option<usize>,
    pub version: Option<Version>,
    pub event_type: Option<String>,
    pub error: FoldError,
}

impl std::fmt::Display for FoldFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.version, &self.event_type) {
            (Some(v), Some(t)) => write!(f, "the fold failed at version {v} ({t}): {}", self.error),
            _ => write!(f, "the fold's initial state failed: {}", self.error),
        }
    }
}

/// Who last changed a path: the initial state, or the event at an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blame {
    Initial,
    Event(usize),
}

/// Path (JSON Pointer) → who last changed it, for every node of a state.
pub type BlameMap = BTreeMap<String, Blame>;

const STATE_CACHE_LIMIT: usize = 256;
/// Distinct event types and actors shared between summaries; past this many, each summary
/// holds its own copy (a store whose "actor" is a request id must not grow the table forever).
const INTERNED_LIMIT: usize = 4_096;

/// What the timeline shows of an event: kept for every event of the stream, also while the
/// event itself is out of memory. About 100 bytes, where an event with its parsed payload and
/// metadata is several kilobytes.
#[derive(Clone, Debug, PartialEq)]
pub struct EventSummary {
    pub version: Version,
    pub position: Option<Position>,
    pub event_type: Arc<str>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub actor: Option<Arc<str>>,
    pub anomalies: Box<[RowAnomaly]>,
    pub undecodable: bool,
    pub archived: bool,
}

impl EventSummary {
    /// The summary of one event (its type and actor not shared with other summaries).
    pub fn of(event: &Event) -> EventSummary {
        EventSummary::sharing(event, &mut |text| Arc::from(text))
    }

    /// The summary of one event, its type and actor made shared text by `share`.
    fn sharing(event: &Event, share: &mut dyn FnMut(&str) -> Arc<str>) -> EventSummary {
        EventSummary {
            version: event.version,
            position: event.position,
            event_type: share(&event.event_type),
            recorded_at: event.recorded_at,
            actor: event.actor().map(&mut *share),
            anomalies: event.anomalies.clone().into_boxed_slice(),
            undecodable: matches!(*event.payload, Payload::Undecodable { .. }),
            archived: event.archived,
        }
    }
}

/// A run of consecutive events as they were appended (a page of the store's reads): in memory,
/// or dropped and to be read again.
struct Page {
    /// The index of its first event.
    start: usize,
    len: usize,
    events: Option<Vec<Event>>,
    /// When it was last used (a tick of [`History::tick`]), to drop the least recently used.
    used: Cell<u64>,
}

/// A blame map being carried forward from a blame checkpoint, one event at a time.
struct BlameWalk {
    /// The count of events the walk started from (a multiple of the interval).
    base: usize,
    /// The count of events the map and state are after.
    count: usize,
    map: BlameMap,
    state: Arc<Value>,
}

/// The replay of one stream with checkpoints. Feed events with [`History::push_events`].
pub struct History {
    stream: StreamId,
    fold: Box<dyn Fold>,
    /// The category of the first event (the fold is chosen by it).
    category: Option<String>,
    summaries: Vec<EventSummary>,
    pages: Vec<Page>,
    /// How many events may stay in memory once folded (`None`: all of them).
    window: Option<usize>,
    /// How many events are in memory.
    resident: usize,
    tick: Cell<u64>,
    /// The page a state or blame stopped for, because it is out of memory.
    wanted: Option<usize>,
    interned: HashSet<Arc<str>>,
    interval: usize,
    /// `checkpoints[k]` is the state after `k * interval` events.
    checkpoints: Vec<Arc<Value>>,
    /// How many events have been folded, and the state after them.
    folded: usize,
    tail: Value,
    /// How many events the fold's own current state has seen (it moves when states are
    /// recomputed from a checkpoint).
    position: Option<usize>,
    failure: Option<FoldFailure>,
    cache: HashMap<usize, Arc<Value>>,
    /// `blame_checkpoints[k]` is the blame map after `k * interval` events, built on demand.
    blame_checkpoints: Vec<BlameMap>,
    /// A blame walk stopped by its time budget, to go on with at the next call.
    blame_walk: Option<BlameWalk>,
    checker: VersionChecker,
    /// How many events states were recomputed through (from checkpoints), for benchmarks.
    recomputed: usize,
}

/// The event at `index`, when its page is in memory (a free function, so that the fold can be
/// borrowed mutably at the same time).
fn resident_event<'a>(pages: &'a [Page], tick: &Cell<u64>, index: usize) -> Option<&'a Event> {
    let page = &pages[pages.partition_point(|p| p.start + p.len <= index).min(pages.len().checked_sub(1)?)];
    let event = page.events.as_ref()?.get(index.checked_sub(page.start)?)?;
    tick.set(tick.get() + 1);
    page.used.set(tick.get());
    Some(event)
}

impl History {
    /// A history with the default checkpoint interval.
    pub fn new(stream: StreamId, fold: Box<dyn Fold>) -> History {
        History::with_interval(stream, fold, 128)
    }

    pub fn with_interval(stream: StreamId, mut fold: Box<dyn Fold>, interval: usize) -> History {
        let interval = interval.max(1);
        let (checkpoints, tail, failure) = History::initial(&mut *fold);
        History {
            stream,
            fold,
            category: None,
            summaries: Vec::new(),
            pages: Vec::new(),
            window: None,
            resident: 0,
            tick: Cell::new(0),
            wanted: None,
            interned: HashSet::new(),
            interval,
            checkpoints,
            folded: 0,
            tail,
            position: Some(0),
            failure,
            cache: HashMap::new(),
            blame_checkpoints: Vec::new(),
            blame_walk: None,
            checker: VersionChecker::default(),
            recomputed: 0,
        }
    }

    /// The fold's initial state as the first checkpoint, or why there is none.
    fn initial(fold: &mut dyn Fold) -> (Vec<Arc<Value>>, Value, Option<FoldFailure>) {
        match fold.reset().and_then(|()| fold.state()) {
            Ok(state) => (vec![Arc::new(state.clone())], state, None),
            Err(error) => {
                (Vec::new(), Value::Null, Some(FoldFailure { index: None, version: None, event_type: None, error }))
            }
        }
    }

    /// Keeps at most about `events` folded events in memory (whole pages, the least recently
    /// used dropped first); the rest are read again through [`History::wanted_page`] and
    /// [`History::restore_page`] when a state needs them. `None` keeps every event.
    pub fn set_window(&mut self, events: Option<usize>) {
        self.window = events;
        self.evict();
    }

    /// Starts the replay over with another fold, keeping the events (those out of memory are
    /// asked for again as the new fold gets to them).
    pub fn refold(&mut self, mut fold: Box<dyn Fold>) {
        let (checkpoints, tail, failure) = History::initial(&mut *fold);
        self.fold = fold;
        self.checkpoints = checkpoints;
        self.tail = tail;
        self.failure = failure;
        self.folded = 0;
        self.position = Some(0);
        self.cache.clear();
        self.blame_checkpoints.clear();
        self.blame_walk = None;
        self.wanted = None;
    }

    pub fn stream(&self) -> &StreamId {
        &self.stream
    }

    pub fn fold_name(&self) -> &str {
        self.fold.name()
    }

    /// The category of the stream's first event.
    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    /// The event at `index`, when it is in memory.
    pub fn event(&self, index: usize) -> Option<&Event> {
        resident_event(&self.pages, &self.tick, index)
    }

    /// What the timeline shows of the event at `index` (kept for every event).
    pub fn summary(&self, index: usize) -> Option<&EventSummary> {
        self.summaries.get(index)
    }

    pub fn len(&self) -> usize {
        self.summaries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.summaries.is_empty()
    }

    /// How many events are in memory.
    pub fn resident(&self) -> usize {
        self.resident
    }

    /// The page holding the event at `index`.
    pub fn page_of(&self, index: usize) -> Option<usize> {
        let page = self.pages.partition_point(|p| p.start + p.len <= index);
        (page < self.pages.len()).then_some(page)
    }

    /// How many events a page holds.
    pub fn page_len(&self, page: usize) -> usize {
        self.pages.get(page).map_or(0, |p| p.len)
    }

    pub fn is_page_resident(&self, page: usize) -> bool {
        self.pages.get(page).is_some_and(|p| p.events.is_some())
    }

    /// The page out of memory that the last state, fold or blame stopped for.
    pub fn wanted_page(&self) -> Option<usize> {
        self.wanted
    }

    /// Puts a page read again back in memory. The events must be the ones first appended
    /// there (same count, same versions and types): a stream whose history was rewritten
    /// while it was open is an error, not a silently different replay.
    pub fn restore_page(&mut self, page: usize, mut events: Vec<Event>) -> Result<(), String> {
        let Some(slot) = self.pages.get(page) else {
            return Err(format!("there is no page {page}"));
        };
        if slot.events.is_some() {
            return Ok(());
        }
        events.truncate(slot.len);
        let same = events.len() == slot.len
            && events
                .iter()
                .zip(&self.summaries[slot.start..])
                .all(|(event, summary)| event.version == summary.version && *event.event_type == *summary.event_type);
        if !same {
            return Err(format!(
                "the events from version {} on are not the ones read before: the stream was changed \
                 while it was open; open it again",
                self.summaries[slot.start].version
            ));
        }
        self.resident += slot.len;
        let slot = &mut self.pages[page];
        slot.events = Some(events);
        self.tick.set(self.tick.get() + 1);
        slot.used.set(self.tick.get());
        if self.wanted == Some(page) {
            self.wanted = None;
        }
        self.evict();
        Ok(())
    }

    /// Drops the least recently used folded pages while more events than the window are in
    /// memory (pages not folded yet stay: the fold needs them next).
    fn evict(&mut self) {
        let Some(window) = self.window else {
            return;
        };
        while self.resident > window {
            let oldest = self
                .pages
                .iter()
                .enumerate()
                .filter(|(_, p)| p.events.is_some() && p.start + p.len <= self.folded)
                .min_by_key(|(_, p)| p.used.get())
                .map(|(i, _)| i);
            let Some(oldest) = oldest else {
                return;
            };
            if self.pages[oldest].used.get() == self.tick.get() {
                // The page just used stays, even over the window.
                return;
            }
            self.pages[oldest].events = None;
            self.resident -= self.pages[oldest].len;
        }
    }

    /// Gaps and duplicate versions seen so far.
    pub fn anomalies(&self) -> &[VersionAnomaly] {
        &self.checker.anomalies
    }

    /// Where the fold stopped, if it did.
    pub fn failure(&self) -> Option<&FoldFailure> {
        self.failure.as_ref()
    }

    /// The index of the first event with this version (or the first one after it).
    pub fn index_of_version(&self, version: Version) -> Option<usize> {
        let i = self.summaries.partition_point(|e| e.version < version);
        (i < self.summaries.len()).then_some(i)
    }

    /// Appends the next page of events (in stream order) and folds them.
    pub fn push_events(&mut self, events: Vec<Event>) {
        self.append_events(events);
        self.fold_forward(None);
    }

    fn intern(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.interned.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        if self.interned.len() < INTERNED_LIMIT {
            self.interned.insert(shared.clone());
        }
        shared
    }

    /// Appends the next page of events without folding them yet: [`History::fold_within`] folds
    /// them a slice at a time (so that a window stays responsive under a slow fold).
    pub fn append_events(&mut self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        if self.category.is_none() {
            self.category = events.first().map(|e| e.category().to_owned());
        }
        for event in &events {
            if event.has_version() {
                self.checker.push(event.version);
            }
            let summary = EventSummary::sharing(event, &mut |text| self.intern(text));
            self.summaries.push(summary);
        }
        self.tick.set(self.tick.get() + 1);
        self.resident += events.len();
        self.pages.push(Page {
            start: self.summaries.len() - events.len(),
            len: events.len(),
            events: Some(events),
            used: Cell::new(self.tick.get()),
        });
    }

    /// Folds appended events for about `budget`; true when nothing is left to fold (every event
    /// folded, or the fold failed).
    pub fn fold_within(&mut self, budget: std::time::Duration) -> bool {
        self.fold_forward(Some(std::time::Instant::now() + budget));
        !self.is_folding()
    }

    /// Whether appended events are still waiting to be folded.
    pub fn is_folding(&self) -> bool {
        self.failure.is_none() && self.folded < self.len()
    }

    fn failure_at(&self, index: usize, error: FoldError) -> FoldFailure {
        let event = self.summaries.get(index);
        FoldFailure {
            index: Some(index),
            version: event.map(|e| e.version),
            event_type: event.map(|e| e.event_type.to_string()),
            error,
        }
    }

    /// Marks the page of `index` as wanted (it is out of memory).
    fn want(&mut self, index: usize) {
        self.wanted = self.page_of(index);
    }

    /// Folds the events not folded yet, until `deadline` if there is one (checked after every
    /// event, so a slow JavaScript handler overruns a frame by one call at most). Stops at a
    /// page out of memory, marking it wanted.
    fn fold_forward(&mut self, deadline: Option<std::time::Instant>) {
        if self.failure.is_some() || self.folded == self.len() {
            return;
        }
        if self.position != Some(self.folded) {
            self.position = None;
            if let Err(error) = self.fold.restore(&self.tail) {
                self.failure = Some(self.failure_at(self.folded, error));
                return;
            }
            self.position = Some(self.folded);
        }
        let first = self.folded;
        let folded_before = self.folded;
        while self.folded < self.len() {
            let out_of_time = || deadline.is_some_and(|d| std::time::Instant::now() >= d);
            if self.folded > first && out_of_time() {
                break;
            }
            let Some(event) = resident_event(&self.pages, &self.tick, self.folded) else {
                self.want(self.folded);
                break;
            };
            if let Err(error) = self.fold.apply(event) {
                self.failure = Some(self.failure_at(self.folded, error));
                self.position = None;
                return;
            }
            self.folded += 1;
            self.position = Some(self.folded);
            if self.folded.is_multiple_of(self.interval) {
                match self.fold.state() {
                    Ok(state) => self.checkpoints.push(Arc::new(state)),
                    Err(error) => {
                        self.failure = Some(self.failure_at(self.folded - 1, error));
                        self.folded -= 1;
                        self.position = None;
                        return;
                    }
                }
            }
        }
        if self.folded == folded_before {
            return;
        }
        match self.fold.state() {
            Ok(state) => self.tail = state,
            Err(error) => {
                self.failure.get_or_insert(FoldFailure { index: None, version: None, event_type: None, error });
            }
        }
        self.evict();
    }

    /// The number of events whose states are available (all of them unless the fold failed).
    /// How many fold steps recomputing states (from checkpoints) has taken so far.
    pub fn recomputed_steps(&self) -> usize {
        self.recomputed
    }

    /// How many events apart the checkpoints are.
    pub fn interval(&self) -> usize {
        self.interval
    }

    pub fn folded(&self) -> usize {
        self.folded
    }

    /// The state after the first `count` events (0 = the initial state), memoised. Fails when
    /// the events it needs are out of memory (then [`History::wanted_page`] says which).
    pub fn state_after(&mut self, count: usize) -> Result<Arc<Value>, FoldFailure> {
        match self.compute_state(count, true, None)? {
            Some(state) => Ok(state),
            None => Err(self.out_of_memory(count)),
        }
    }

    fn out_of_memory(&self, count: usize) -> FoldFailure {
        FoldFailure {
            index: None,
            version: None,
            event_type: None,
            error: FoldError { message: format!("the events before #{count} are being read again") },
        }
    }

    /// Like [`History::state_after`], but stops after about `budget` (returning `None`) and goes
    /// on from where it stopped at the next call: a slow fold steps over several frames instead
    /// of freezing one. Also `None` while a page it needs is out of memory
    /// ([`History::wanted_page`]).
    pub fn state_after_within(
        &mut self,
        count: usize,
        budget: std::time::Duration,
    ) -> Result<Option<Arc<Value>>, FoldFailure> {
        self.compute_state(count, true, Some(std::time::Instant::now() + budget))
    }

    /// The state after `count` events, from the nearest checkpoint (or from where the fold is,
    /// when that is on the way); `None` when `deadline` passed first or an event on the way is
    /// out of memory.
    fn compute_state(
        &mut self,
        count: usize,
        memoise: bool,
        deadline: Option<std::time::Instant>,
    ) -> Result<Option<Arc<Value>>, FoldFailure> {
        if let Some(state) = self.cache.get(&count) {
            return Ok(Some(state.clone()));
        }
        if count > self.folded || self.checkpoints.is_empty() {
            return Err(self.failure.clone().unwrap_or_else(|| FoldFailure {
                index: None,
                version: None,
                event_type: None,
                error: FoldError { message: format!("only {} events are loaded", self.folded) },
            }));
        }
        let k = (count / self.interval).min(self.checkpoints.len() - 1);
        let start = k * self.interval;
        let state = if start == count {
            self.checkpoints[k].clone()
        } else {
            let from = match self.position {
                Some(p) if p >= start && p <= count => p,
                _ => {
                    let checkpoint = self.checkpoints[k].clone();
                    self.position = None;
                    self.fold.restore(&checkpoint).map_err(|error| self.failure_at(start, error))?;
                    self.position = Some(start);
                    start
                }
            };
            for index in from..count {
                if index > from && deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return Ok(None);
                }
                let Some(event) = resident_event(&self.pages, &self.tick, index) else {
                    self.want(index);
                    return Ok(None);
                };
                self.position = None;
                // These events were folded once already; a deterministic fold cannot fail on
                // them now, but a fold with hidden state might: report it.
                self.fold.apply(event).map_err(|error| self.failure_at(index, error))?;
                self.recomputed += 1;
                self.position = Some(index + 1);
            }
            let state = self.fold.state().map_err(|error| self.failure_at(count - 1, error))?;
            Arc::new(state)
        };
        if memoise {
            if self.cache.len() >= STATE_CACHE_LIMIT {
                self.cache.clear();
            }
            self.cache.insert(count, state.clone());
        }
        Ok(Some(state))
    }

    /// Who last changed each path of the state after `count` events.
    pub fn blame_after(&mut self, count: usize) -> Result<BlameMap, FoldFailure> {
        loop {
            if let Some(map) = self.blame_after_within(count, std::time::Duration::from_secs(3600))? {
                return Ok(map);
            }
            if self.wanted.is_some() {
                return Err(self.out_of_memory(count));
            }
        }
    }

    /// Like [`History::blame_after`], but gives up after about `budget` (returning `None`) and
    /// goes on from where it stopped at the next call: a long stream's blame, or a slow fold's,
    /// is built over several frames instead of freezing one. Each call makes some progress
    /// (unless a page it needs is out of memory: see [`History::wanted_page`]).
    pub fn blame_after_within(
        &mut self,
        count: usize,
        budget: std::time::Duration,
    ) -> Result<Option<BlameMap>, FoldFailure> {
        let deadline = std::time::Instant::now() + budget;
        let k = count / self.interval;
        while self.blame_checkpoints.len() <= k {
            let next = self.blame_checkpoints.len();
            if next == 0 {
                let initial = self.state_after(0)?;
                let mut map = BlameMap::new();
                insert_subtree(&mut map, "", &initial, Blame::Initial);
                self.blame_checkpoints.push(map);
                continue;
            }
            match self.walk_blame((next - 1) * self.interval, next * self.interval, deadline)? {
                Some(map) => self.blame_checkpoints.push(map),
                None => return Ok(None),
            }
        }
        self.walk_blame(k * self.interval, count, deadline)
    }

    /// Carries the blame map from the checkpoint at `base` events to `target` events, going on
    /// with a walk stopped earlier when it is on the same way; `None` when `deadline` passed or
    /// an event on the way is out of memory.
    fn walk_blame(
        &mut self,
        base: usize,
        target: usize,
        deadline: std::time::Instant,
    ) -> Result<Option<BlameMap>, FoldFailure> {
        let mut walk = match self.blame_walk.take() {
            Some(walk) if walk.base == base && walk.count <= target => walk,
            _ => BlameWalk {
                base,
                count: base,
                map: self.blame_checkpoints[base / self.interval].clone(),
                // A checkpoint: no event needed.
                state: self.state_after(base)?,
            },
        };
        let started = walk.count;
        while walk.count < target {
            if walk.count > started && std::time::Instant::now() >= deadline {
                self.blame_walk = Some(walk);
                return Ok(None);
            }
            let Some(state) = self.step_from(walk.count, &walk.state)? else {
                self.blame_walk = Some(walk);
                return Ok(None);
            };
            apply_blame(&mut walk.map, &walk.state, &state, Blame::Event(walk.count));
            walk.count += 1;
            walk.state = state;
        }
        Ok(Some(walk.map))
    }

    /// The state after `count + 1` events, given the state after `count` (the fold is put
    /// there first when it is elsewhere): one fold step, whatever else moved the fold. `None`
    /// when the event is out of memory.
    fn step_from(&mut self, count: usize, state: &Value) -> Result<Option<Arc<Value>>, FoldFailure> {
        if resident_event(&self.pages, &self.tick, count).is_none() {
            self.want(count);
            return Ok(None);
        }
        if self.position != Some(count) {
            self.position = None;
            self.fold.restore(state).map_err(|error| self.failure_at(count, error))?;
            self.position = Some(count);
        }
        self.position = None;
        let event = resident_event(&self.pages, &self.tick, count).expect("checked above");
        self.fold.apply(event).map_err(|error| self.failure_at(count, error))?;
        self.position = Some(count + 1);
        let state = self.fold.state().map_err(|error| self.failure_at(count, error))?;
        Ok(Some(Arc::new(state)))
    }

    /// How much of the blame up to `count` events is built (0 to 1).
    pub fn blame_progress(&self, count: usize) -> f32 {
        let needed = count / self.interval + 1;
        (self.blame_checkpoints.len().min(needed) as f32) / needed as f32
    }
}

/// Records in `map` that `who` changed everything that differs between `old` and `new`.
pub fn apply_blame(map: &mut BlameMap, old: &Value, new: &Value, who: Blame) {
    for change in structural_diff(old, new) {
        remove_subtree(map, &change.path);
        if let Some(value) = &change.new {
            insert_subtree(map, &change.path, value, who);
        }
        let mut path = change.path.as_str();
        while let Some(cut) = path.rfind('/') {
            path = &path[..cut];
            map.insert(path.to_owned(), who);
        }
    }
}

/// Blames `who` for `value` at `path` and everything in it, down to [`WALK_DEPTH`] levels below
/// the root (a structural diff reports no change deeper than that either).
fn insert_subtree(map: &mut BlameMap, path: &str, value: &Value, who: Blame) {
    let levels = WALK_DEPTH.saturating_sub(path.matches('/').count());
    insert_subtree_within(map, path, value, who, levels);
}

fn insert_subtree_within(map: &mut BlameMap, path: &str, value: &Value, who: Blame, levels: usize) {
    map.insert(path.to_owned(), who);
    let Some(below) = levels.checked_sub(1) else {
        return;
    };
    match value {
        Value::Object(members) => {
            for (key, child) in members {
                insert_subtree_within(map, &push_segment(path, key), child, who, below);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                insert_subtree_within(map, &format!("{path}/{i}"), child, who, below);
            }
        }
        _ => {}
    }
}

fn remove_subtree(map: &mut BlameMap, path: &str) {
    let doomed: Vec<String> = map
        .range(path.to_owned()..)
        .take_while(|(key, _)| key.starts_with(path))
        .filter(|(key, _)| key.len() == path.len() || key.as_bytes()[path.len()] == b'/')
        .map(|(key, _)| key.clone())
        .collect();
    for key in doomed {
        map.remove(&key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::{MergeFold, replay};
    use crate::model::Payload;
    use serde_json::json;

    fn event(version: i64, payload: Value) -> Event {
        Event {
            stream: StreamId::from("s"),
            version,
            position: None,
            event_type: "E".into(),
            payload: Payload::Json(payload).into(),
            metadata: None,
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        }
    }

    fn sample_events(n: i64) -> Vec<Event> {
        (1..=n)
            .map(|v| {
                let mut payload = json!({"n": v, "bucket": {format!("k{}", v % 7): v}});
                if v % 5 == 0 {
                    payload["bucket"] = json!(null);
                }
                event(v, payload)
            })
            .collect()
    }

    #[test]
    fn every_state_equals_a_replay_from_scratch() {
        let events = sample_events(300);
        for interval in [1, 7, 64, 1000] {
            let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), interval);
            // Feed in uneven pages, as the store does.
            for page in events.chunks(37) {
                history.push_events(page.to_vec());
            }
            // Forwards (the fold continues where it is), backwards and jumping (from checkpoints).
            let forwards = 0..=events.len();
            let jumping = (0..=events.len()).map(|i| (i * 7919) % (events.len() + 1));
            for count in forwards.chain((0..=events.len()).rev()).chain(jumping) {
                let expected = replay(&mut MergeFold::default(), &events[..count]).unwrap();
                assert_eq!(*history.state_after(count).unwrap(), expected, "count {count}, interval {interval}");
            }
        }
    }

    #[test]
    fn folding_in_slices_with_steps_in_between_gives_the_same_states() {
        let events = sample_events(300);
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 64);
        for page in events.chunks(100) {
            history.append_events(page.to_vec());
            assert!(history.is_folding());
            // No time at all still folds a few events per call, and stepping back in between
            // (which moves the fold away from the tail) does not disturb it.
            let mut calls = 0;
            while !history.fold_within(std::time::Duration::ZERO) {
                calls += 1;
                assert!(history.folded() > 0);
                history.state_after(history.folded() / 2).unwrap();
            }
            assert!(calls > 1, "the page was folded in slices");
        }
        assert_eq!(history.folded(), events.len());
        for count in (0..=events.len()).rev() {
            let expected = replay(&mut MergeFold::default(), &events[..count]).unwrap();
            assert_eq!(*history.state_after(count).unwrap(), expected, "count {count}");
        }
    }

    #[test]
    fn stepping_within_a_budget_resumes_where_it_stopped() {
        let events = sample_events(300);
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 128);
        history.push_events(events.clone());
        for count in [127, 5, 255, 300, 200, 129] {
            // No time at all applies one event per call: the jump takes several calls, each
            // going on from the last, and ends with the same state as a replay.
            let mut calls = 0;
            let state = loop {
                calls += 1;
                if let Some(state) = history.state_after_within(count, std::time::Duration::ZERO).unwrap() {
                    break state;
                }
            };
            let expected = replay(&mut MergeFold::default(), &events[..count]).unwrap();
            assert_eq!(*state, expected, "count {count}");
            assert!(calls <= count % 128 + 1, "count {count}: {calls} calls");
            if count % 128 > 1 {
                assert!(calls > 1, "count {count} was stepped over several calls");
            }
        }
        // A jump elsewhere while one is half done starts over from its own checkpoint.
        assert!(history.state_after_within(100, std::time::Duration::ZERO).unwrap().is_none());
        let expected = replay(&mut MergeFold::default(), &events[..250]).unwrap();
        assert_eq!(*history.state_after(250).unwrap(), expected);
    }

    /// Serves the pages a windowed history asks for, from the events it was fed.
    fn serve(history: &mut History, pages: &[Vec<Event>]) -> usize {
        let mut reads = 0;
        while let Some(page) = history.wanted_page() {
            history.restore_page(page, pages[page].clone()).unwrap();
            reads += 1;
        }
        reads
    }

    #[test]
    fn a_windowed_history_drops_folded_pages_and_reads_them_again_for_states() {
        let events = sample_events(1_000);
        let pages: Vec<Vec<Event>> = events.chunks(50).map(<[Event]>::to_vec).collect();
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 16);
        history.set_window(Some(120));
        for page in &pages {
            history.push_events(page.clone());
            assert!(history.resident() <= 120 + 50, "{} events in memory", history.resident());
        }
        assert_eq!(history.folded(), 1_000);
        assert_eq!(history.len(), 1_000);
        assert!(history.event(0).is_none(), "the first page was dropped");
        assert_eq!(history.summary(0).unwrap().version, 1);
        assert_eq!(&*history.summary(999).unwrap().event_type, "E");
        assert_eq!(history.index_of_version(500), Some(499));
        // Any state: from its checkpoint, with the page it needs read again (at most one page
        // per state: the checkpoint interval is shorter than a page).
        for count in [999, 3, 500, 17, 1_000, 0, 250, 251] {
            let state = loop {
                match history.state_after_within(count, std::time::Duration::from_secs(5)).unwrap() {
                    Some(state) => break state,
                    None => assert!(serve(&mut history, &pages) <= 1),
                }
            };
            let expected = replay(&mut MergeFold::default(), &events[..count]).unwrap();
            assert_eq!(*state, expected, "count {count}");
            assert!(history.resident() <= 120 + 50);
        }
        // Blame walks the whole stream, a page at a time.
        let blame = loop {
            match history.blame_after_within(1_000, std::time::Duration::from_secs(5)).unwrap() {
                Some(map) => break map,
                None => {
                    serve(&mut history, &pages);
                }
            }
        };
        let mut full = History::with_interval("s".into(), Box::new(MergeFold::default()), 16);
        full.push_events(events.clone());
        assert_eq!(blame, full.blame_after(1_000).unwrap());
        assert!(history.resident() <= 120 + 50);
        // Another fold: the events out of memory are asked for again as it gets to them.
        history.refold(Box::new(FailsOn(700, MergeFold::default())));
        while !history.fold_within(std::time::Duration::from_secs(5)) {
            assert!(serve(&mut history, &pages) >= 1, "a refold that stops waits for a page");
        }
        assert_eq!(history.folded(), 699);
        assert_eq!(history.failure().unwrap().version, Some(700));
    }

    #[test]
    fn a_page_read_again_must_hold_the_events_read_before() {
        let events = sample_events(100);
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 16);
        history.set_window(Some(10));
        history.push_events(events[..50].to_vec());
        history.push_events(events[50..].to_vec());
        assert!(!history.is_page_resident(0));
        let mut changed = events[..50].to_vec();
        changed[10].version = 99;
        let error = history.restore_page(0, changed).unwrap_err();
        assert!(error.contains("was changed while it was open"), "{error}");
        assert!(history.restore_page(0, events[..20].to_vec()).is_err(), "a shorter page");
        // Events appended to the stream since are left out of the page read again.
        let mut longer = events[..50].to_vec();
        longer.push(event(51, json!({})));
        history.restore_page(0, longer).unwrap();
        assert_eq!(history.event(49).unwrap().version, 50);
        assert_eq!(history.page_len(0), 50);
    }

    struct FailsOn(i64, MergeFold);
    impl Fold for FailsOn {
        fn name(&self) -> &str {
            "fails"
        }
        fn reset(&mut self) -> Result<(), FoldError> {
            self.1.reset()
        }
        fn restore(&mut self, state: &Value) -> Result<(), FoldError> {
            self.1.restore(state)
        }
        fn apply(&mut self, event: &Event) -> Result<(), FoldError> {
            if event.version == self.0 {
                return Err(FoldError { message: "boom".into() });
            }
            self.1.apply(event)
        }
        fn state(&mut self) -> Result<Value, FoldError> {
            self.1.state()
        }
    }

    #[test]
    fn a_failing_fold_keeps_the_versions_before_it() {
        let mut history = History::with_interval("s".into(), Box::new(FailsOn(5, MergeFold::default())), 2);
        history.push_events(sample_events(10));
        assert_eq!(history.folded(), 4);
        assert_eq!(history.len(), 10);
        assert_eq!(history.state_after(4).unwrap()["n"], json!(4));
        let failure = history.state_after(5).unwrap_err();
        assert_eq!(failure.version, Some(5));
        assert_eq!(failure.index, Some(4));
        assert_eq!(failure.to_string(), "the fold failed at version 5 (E): boom");
    }

    #[test]
    fn blame_names_the_event_that_last_changed_each_path() {
        let events = vec![
            event(1, json!({"status": "placed", "lines": [{"sku": "a", "qty": 1}]})),
            event(2, json!({"status": "paid"})),
            event(3, json!({"lines": [{"sku": "a", "qty": 2}], "note": "x"})),
            event(4, json!({"note": null})),
        ];
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 2);
        history.push_events(events);
        let blame = history.blame_after(4).unwrap();
        assert_eq!(blame.get("/status"), Some(&Blame::Event(1)));
        assert_eq!(blame.get("/lines/0/qty"), Some(&Blame::Event(2)));
        assert_eq!(blame.get("/lines/0/sku"), Some(&Blame::Event(0)));
        assert_eq!(blame.get("/lines"), Some(&Blame::Event(2)));
        assert_eq!(blame.get("/note"), None);
        assert_eq!(blame.get(""), Some(&Blame::Event(3)));
        let earlier = history.blame_after(3).unwrap();
        assert_eq!(earlier.get("/note"), Some(&Blame::Event(2)));
        assert_eq!(history.blame_after(0).unwrap().get(""), Some(&Blame::Initial));
    }

    #[test]
    fn blame_at_every_count_matches_a_naive_computation() {
        let events = sample_events(40);
        let mut history = History::with_interval("s".into(), Box::new(MergeFold::default()), 8);
        history.push_events(events.clone());
        let mut naive = BlameMap::new();
        insert_subtree(&mut naive, "", &json!({}), Blame::Initial);
        let mut previous = json!({});
        for count in 1..=events.len() {
            let state = replay(&mut MergeFold::default(), &events[..count]).unwrap();
            apply_blame(&mut naive, &previous, &state, Blame::Event(count - 1));
            previous = state;
            assert_eq!(history.blame_after(count).unwrap(), naive, "count {count}");
        }
        // Built with no time at all (a step or so per call, resumed each time, while stepping
        // elsewhere in between moves the fold): the same maps.
        let mut sliced = History::with_interval("s".into(), Box::new(MergeFold::default()), 8);
        sliced.push_events(events.clone());
        for count in [37, 3, 40, 17, 16] {
            let mut calls = 0;
            let map = loop {
                calls += 1;
                if let Some(map) = sliced.blame_after_within(count, std::time::Duration::ZERO).unwrap() {
                    break map;
                }
                sliced.state_after(calls % (events.len() + 1)).unwrap();
            };
            assert_eq!(map, history.blame_after(count).unwrap(), "count {count}");
            if count == 37 {
                assert!(calls > 30, "the first blame is built over many calls: {calls}");
            }
        }
    }

    #[test]
    fn remove_subtree_keeps_siblings_sharing_a_prefix() {
        let mut map = BlameMap::new();
        for key in ["/a", "/a/b", "/a!", "/ab", "/a/c/d"] {
            map.insert(key.into(), Blame::Initial);
        }
        remove_subtree(&mut map, "/a");
        assert_eq!(map.keys().cloned().collect::<Vec<_>>(), vec!["/a!", "/ab"]);
    }

    #[test]
    fn versions_and_anomalies() {
        let mut history = History::new("s".into(), Box::new(MergeFold::default()));
        history.push_events(vec![event(1, json!({})), event(3, json!({})), event(3, json!({}))]);
        assert_eq!(history.anomalies().len(), 2);
        assert_eq!(history.index_of_version(3), Some(1));
        assert_eq!(history.index_of_version(2), Some(1));
        assert_eq!(history.index_of_version(4), None);
    }

    #[test]
    fn blame_stops_descending_at_the_walk_bound() {
        let nested = |levels: usize, inner: Value| (0..levels).fold(inner, |value, _| json!({"a": value}));
        let mut map = BlameMap::new();
        insert_subtree(&mut map, "", &nested(WALK_DEPTH + 20, json!(1)), Blame::Initial);
        assert_eq!(map.len(), WALK_DEPTH + 1);
        apply_blame(&mut map, &nested(WALK_DEPTH + 20, json!(1)), &nested(WALK_DEPTH + 20, json!(2)), Blame::Event(0));
        let deepest = map.keys().map(|path| path.matches('/').count()).max();
        assert_eq!(deepest, Some(WALK_DEPTH));
        assert_eq!(map.get(&"/a".repeat(WALK_DEPTH)), Some(&Blame::Event(0)));
    }
}
