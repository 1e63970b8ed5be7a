//! Following a store: the events appended since the last look, under an audit filter, each one
//! exactly once. A [`Follower`] polls the global log in store order (one indexed keyset query
//! per poll, never a write) from just after the newest event it has handed over.
//!
//! A reader that only asks "after the newest I saw" can miss an event: on PostgreSQL, a
//! transaction that took position 41 may commit after one that took 42 was already read. So each
//! poll reads again from where the log stood [`Follower::lookback`] ago and leaves out the events
//! already handed over (remembered for that long by their keys): an event that commits late,
//! within the lookback, is handed over then — once, after the ones that committed before it.

use std::collections::{HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::audit::{AuditError, AuditFilter};
use crate::model::Event;
use crate::store::Store;
use crate::store::query::{KeysetCursor, LogCursor};

/// How many events one read of a poll asks for (a poll reads until it has them all).
const PAGE: usize = 1_000;

/// Following from now on PostgreSQL, the first polls also read again this many events from
/// before the start.
const START_REREAD: usize = 1_000;

/// A poll reads again at most about this many events handed over before (the lookback is for
/// events that commit late near the head of the log, not for a reader catching up).
const MAX_REREAD: u64 = 10_000;

pub struct Follower {
    filter: AuditFilter,
    /// After the newest event handed over (or where following started).
    cursor: LogCursor,
    /// Where the log stood at each recent poll (and how many events had been handed over then),
    /// oldest first: a poll reads from the newest one that is at least `lookback` old.
    marks: VecDeque<(Instant, LogCursor, u64)>,
    /// How many events were handed over in all.
    total: u64,
    /// The events handed over since the oldest mark, by their keys, with when.
    handed: VecDeque<(Instant, String)>,
    handed_keys: HashSet<String>,
    pub lookback: Duration,
}

/// How an event is told apart from every other across reads: its row's keys in the log order
/// (with its stream and version, where those keys may repeat).
fn identity(event: &Event, cursor: &KeysetCursor) -> String {
    format!("{:?}\u{0}{}\u{0}{}", cursor.keys, event.stream.0, event.version)
}

impl Follower {
    /// Starts following the events under `filter`: from now (after the newest event that
    /// matches it), or from the start of the log (`from_start`).
    pub async fn start(store: &Store, filter: AuditFilter, from_start: bool) -> Result<Follower, AuditError> {
        // SQLite has one writer at a time: its rows become visible in their order.
        let lookback = match store.dialect() {
            crate::store::query::Dialect::Postgres => Duration::from_secs(5),
            crate::store::query::Dialect::Sqlite => Duration::ZERO,
        };
        let mut follower = Follower {
            filter,
            marks: VecDeque::new(),
            total: 0,
            cursor: LogCursor::Edge,
            handed: VecDeque::new(),
            handed_keys: HashSet::new(),
            lookback,
        };
        let now = Instant::now();
        if from_start {
            follower.marks.push_back((now, LogCursor::Edge, 0));
            return Ok(follower);
        }
        // From now: after the newest event. Where late commits can happen, the first polls also
        // read again the last events before it (a transaction open before the start may have
        // taken a position among them), leaving out those already there.
        let before = if lookback.is_zero() { 1 } else { START_REREAD + 1 };
        let newest = store.audit_keyed_page(&follower.filter, &LogCursor::Edge, false, before).await?;
        follower.cursor = newest.first().map_or(LogCursor::Edge, |(_, keys)| LogCursor::After(keys.clone()));
        let mark = match newest.get(START_REREAD) {
            Some((_, keys)) if !lookback.is_zero() => LogCursor::After(keys.clone()),
            _ if lookback.is_zero() => follower.cursor.clone(),
            _ => LogCursor::Edge,
        };
        for (event, keys) in newest.iter().take(if lookback.is_zero() { 0 } else { START_REREAD }) {
            let id = identity(event, keys);
            if follower.handed_keys.insert(id.clone()) {
                follower.handed.push_back((now, id));
            }
        }
        follower.marks.push_back((now, mark, 0));
        Ok(follower)
    }

    /// Sets how long an event may commit after a later one and still be handed over.
    pub fn set_lookback(&mut self, lookback: Duration) {
        self.lookback = lookback;
    }

    /// The events appended (and committed) since the last poll, in store order; those that
    /// committed late come after the others of their poll. Reads at most `max` events.
    pub async fn poll(&mut self, store: &Store, max: usize) -> Result<Vec<Event>, AuditError> {
        let now = Instant::now();
        // Read from the newest mark at least `lookback` old (the oldest, early on); older
        // marks, and what was handed over before the one chosen, are no longer needed.
        let mut chosen =
            self.marks.iter().rposition(|(at, _, _)| now.duration_since(*at) >= self.lookback).unwrap_or(0);
        // (A reader catching up hands over many events a second: it reads again a bounded few.)
        while chosen + 1 < self.marks.len() && self.total - self.marks[chosen].2 > MAX_REREAD {
            chosen += 1;
        }
        self.marks.drain(..chosen);
        let (since, mut cursor) =
            self.marks.front().map_or((now, self.cursor.clone()), |(at, cursor, _)| (*at, cursor.clone()));
        while self.handed.front().is_some_and(|(at, _)| *at < since) {
            if let Some((_, key)) = self.handed.pop_front() {
                self.handed_keys.remove(&key);
            }
        }
        let mut out = Vec::new();
        let mut read_any = false;
        loop {
            let page = store.audit_keyed_page(&self.filter, &cursor, true, PAGE).await?;
            let full = page.len() >= PAGE;
            for (event, keys) in page {
                let id = identity(&event, &keys);
                cursor = LogCursor::After(keys);
                read_any = true;
                if self.handed_keys.insert(id.clone()) {
                    self.handed.push_back((now, id));
                    self.total += 1;
                    out.push(event);
                }
                if out.len() >= max {
                    break;
                }
            }
            if !full || out.len() >= max {
                break;
            }
        }
        // The log is read in its order: the row read last is the newest handed over (or, when
        // `max` cut the poll short, where the next poll goes on from).
        if read_any {
            self.cursor = cursor;
        }
        self.marks.push_back((now, self.cursor.clone(), self.total));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::cell::Cell;

    #[test]
    fn an_event_is_told_apart_by_its_keys_and_its_place() {
        let a = Event::with_json("s", 1, "T", serde_json::json!({}));
        let keys = KeysetCursor { keys: vec![Cell::Int(7)], skip: 0 };
        assert_eq!(identity(&a, &keys), identity(&a.clone(), &keys.clone()));
        let b = Event::with_json("s", 2, "T", serde_json::json!({}));
        assert_ne!(identity(&a, &keys), identity(&b, &keys), "keys that repeat: the version tells");
    }
}
