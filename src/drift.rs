//! Snapshot drift across a store: each stored snapshot next to the state a fold recomputes from
//! the stream's events at the snapshot's version. A snapshot that differs is stale (the service
//! that wrote it had a bug or an older rule) or was written by another fold; the two are told
//! apart by shape ([`verdict`]). Values are compared, not spellings (`159` = `159.0`, key order
//! never counts: [`crate::diff::value_diff`]).
//!
//! One stream at a time, each read once, streamed, up to its newest snapshot: memory holds one
//! stream's snapshots and the fold's state. Used by `eventscope drift` and by the streams list's
//! "Check snapshots" (in the background, with progress and cancel).

use serde::Serialize;
use serde_json::Value;

use crate::diff::{shared_fields, value_diff};
use crate::fold::Fold;
pub use crate::fold::Folds;
use crate::model::{Payload, StreamId, Version};
use crate::store::{Store, StoreError};

/// At most this many streams with snapshots are checked in one pass.
pub const MAX_STREAMS: usize = 100_000;
/// A pass stops when the fold has failed on this many streams and compared nothing.
const GIVE_UP_AFTER: usize = 20;
/// At most this many differing paths are kept per snapshot (the count is exact).
const PATHS_KEPT: usize = 20;

/// How a stored snapshot compares with the state recomputed at its version.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The same values.
    Matches,
    /// The values differ: the snapshot is stale, or the fold changed since it was written.
    Drift { differences: usize, paths: Vec<String> },
    /// They share fewer than one top-level field in five: another fold's state, not a stale one.
    OtherShape { shared: usize, fields: usize },
    /// The snapshot could not be decoded as JSON, so there is nothing to compare.
    NotJson { reason: String },
    /// The fold failed at or before the snapshot's version.
    FoldFailed { message: String },
    /// The stream has no event at the snapshot's version (a gap, or a snapshot past its end).
    NoEvent,
    /// The snapshot's version is NULL or not a whole number: it cannot be placed.
    NoVersion,
}

impl Verdict {
    /// Whether the snapshot disagrees with the events (stale), as opposed to matching or not
    /// being comparable.
    pub fn is_drift(&self) -> bool {
        matches!(self, Verdict::Drift { .. })
    }

    /// Whether the snapshot was compared with a recomputed state (it matched, drifted, or has
    /// another fold's shape).
    pub fn compared(&self) -> bool {
        matches!(self, Verdict::Matches | Verdict::Drift { .. } | Verdict::OtherShape { .. })
    }

    /// Why it could not be compared, in words (`None` when it was).
    pub fn not_compared_because(&self) -> Option<String> {
        match self {
            Verdict::NotJson { reason } => Some(format!("not JSON ({reason})")),
            Verdict::FoldFailed { message } => Some(format!("the fold failed: {message}")),
            Verdict::NoEvent => Some("the stream has no event at its version".to_owned()),
            Verdict::NoVersion => Some("its version is NULL or not a whole number".to_owned()),
            Verdict::Matches | Verdict::Drift { .. } | Verdict::OtherShape { .. } => None,
        }
    }
}

/// What a stored snapshot says against the state this fold recomputes.
pub fn verdict(state: &Value, stored: &Value) -> Verdict {
    let changes = value_diff(state, stored);
    if changes.is_empty() {
        return Verdict::Matches;
    }
    if let Some((shared, fields)) = shared_fields(state, stored)
        && shared * 5 < fields
    {
        return Verdict::OtherShape { shared, fields };
    }
    let paths = changes.iter().take(PATHS_KEPT).map(|c| c.path.clone()).collect();
    Verdict::Drift { differences: changes.len(), paths }
}

/// One stored snapshot checked.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SnapshotCheck {
    /// `None`: the stored version is NULL or not a whole number.
    pub version: Option<Version>,
    #[serde(flatten)]
    pub verdict: Verdict,
}

/// One stream's snapshots checked: how many match, and every one that does not.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StreamCheck {
    pub stream: String,
    pub fold: String,
    pub snapshots: usize,
    pub matching: usize,
    /// The snapshots that do not match, oldest first.
    pub others: Vec<SnapshotCheck>,
    /// The stream or its snapshots could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StreamCheck {
    /// Whether a snapshot of the stream drifted.
    pub fn drifts(&self) -> bool {
        self.others.iter().any(|c| c.verdict.is_drift())
    }

    /// The version of its first drifting snapshot.
    pub fn first_drift(&self) -> Option<Version> {
        self.others.iter().find(|c| c.verdict.is_drift()).and_then(|c| c.version)
    }

    /// How many of its snapshots could not be compared.
    pub fn not_compared(&self) -> usize {
        self.others.iter().filter(|c| !c.verdict.compared()).count()
    }

    /// Whether the fold failed on it.
    pub fn fold_failed(&self) -> bool {
        self.others.iter().any(|c| matches!(c.verdict, Verdict::FoldFailed { .. }))
    }
}

/// Checks every snapshot of one stream with the fold for its category (that of its first
/// event: the aggregate type, or the id's prefix); `None` when `only_category` is given and the
/// stream is of another.
pub async fn check_stream(
    store: &Store,
    stream: &str,
    folds: &mut Folds<'_>,
    only_category: Option<&str>,
) -> Option<StreamCheck> {
    let mut first = None;
    // (A stream that cannot be read is reported by the check itself, which reads it again.)
    let _ = store
        .read_stream_each(stream, None, &mut |event| {
            first = Some(event);
            false
        })
        .await;
    let category = match &first {
        Some(event) => event.category().to_owned(),
        None => StreamId(stream.to_owned()).category().to_owned(),
    };
    if only_category.is_some_and(|wanted| wanted != category) {
        return None;
    }
    Some(check_snapshots_of(store, stream, folds.for_stream(stream, &category)).await)
}

/// Checks every snapshot of one stream: the stream is read once, up to its newest snapshot,
/// and folded as it comes; each snapshot is compared when the events of its version are in.
async fn check_snapshots_of(store: &Store, stream: &str, fold: &mut dyn Fold) -> StreamCheck {
    let mut check = StreamCheck { stream: stream.to_owned(), fold: fold.name().to_owned(), ..Default::default() };
    let rows = match store.snapshot_rows(stream, true).await {
        Ok(rows) => rows,
        Err(e) => {
            check.error = Some(format!("its snapshots could not be read: {e}"));
            return check;
        }
    };
    check.snapshots = rows.len();
    let mut results = Vec::new();
    let mut snapshots = Vec::with_capacity(rows.len());
    for (version, state) in rows {
        match version {
            Some(version) => snapshots.push((version, state)),
            None => results.push(SnapshotCheck { version: None, verdict: Verdict::NoVersion }),
        }
    }
    snapshots.sort_by_key(|(version, _)| *version);
    let Some(newest) = snapshots.last().map(|(v, _)| *v) else {
        check.others = results;
        return check;
    };
    let mut pending = snapshots.into_iter().peekable();
    let mut failure = fold.reset().err().map(|e| e.message);
    // The version of the last event folded: a snapshot is compared once no more events of its
    // version can come (the next event's version is higher, or the stream ends).
    let mut folded: Option<Version> = None;
    let mut settle = |upto: Option<Version>, folded: Option<Version>, fold: &mut dyn Fold, failure: &Option<String>| {
        while let Some((version, _)) = pending.peek() {
            if upto.is_some_and(|upto| *version >= upto) {
                break;
            }
            let Some((version, stored)) = pending.next() else { break };
            let verdict = match (failure, &stored) {
                (Some(message), _) => Verdict::FoldFailed { message: message.clone() },
                (None, _) if folded != Some(version) => Verdict::NoEvent,
                (None, Payload::Json(stored)) => match fold.state() {
                    Ok(state) => verdict(&state, stored),
                    Err(e) => Verdict::FoldFailed { message: e.message },
                },
                (None, other) => Verdict::NotJson { reason: not_json_reason(other) },
            };
            results.push(SnapshotCheck { version: Some(version), verdict });
        }
    };
    let read = if failure.is_some() {
        Ok(0)
    } else {
        let mut each = |event: crate::model::Event| {
            // (An event without a readable version is folded where the stream lists it, and
            // places no snapshot.)
            let version = event.has_version().then_some(event.version);
            if let Some(version) = version {
                settle(Some(version), folded, &mut *fold, &failure);
                if version > newest {
                    return false;
                }
            }
            if let Err(e) = fold.apply(&event) {
                failure = Some(format!("at version {} ({}): {}", event.version, event.event_type, e.message));
                return false;
            }
            if version.is_some() {
                folded = version;
            }
            true
        };
        store.read_stream_each(stream, None, &mut each).await
    };
    if let Err(e) = read {
        check.error = Some(format!("its events could not be read: {e}"));
    }
    settle(None, folded, &mut *fold, &failure);
    check.matching = results.iter().filter(|c| c.verdict == Verdict::Matches).count();
    check.others = results.into_iter().filter(|c| c.verdict != Verdict::Matches).collect();
    check.others.sort_by_key(|c| c.version.unwrap_or(Version::MAX));
    check
}

fn not_json_reason(payload: &Payload) -> String {
    match payload {
        Payload::Undecodable { reason, .. } => reason.clone(),
        Payload::Json(_) => String::new(),
    }
}

/// A pass over every stream the store keeps snapshots of.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StoreCheck {
    /// How many streams have snapshots (of the first [`MAX_STREAMS`]).
    pub streams: usize,
    pub snapshots: usize,
    /// How many snapshots were compared with a recomputed state, and how many could not be.
    pub compared: usize,
    pub not_compared: usize,
    pub drifting_streams: usize,
    /// How many streams the fold failed on.
    pub fold_failed_streams: usize,
    /// The pass stopped early: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Every stream with a snapshot that does not match (or could not be checked).
    pub streams_with_findings: Vec<StreamCheck>,
    /// More streams have snapshots than were checked.
    pub more: bool,
}

/// Checks the snapshots of every stream that has some (those of `category` only, when given),
/// one stream at a time; `progress` hears each stream listed (with its check, unless it is of
/// another category) and how many there are, and stops the pass by answering false (then
/// `None`).
pub async fn check_store(
    store: &Store,
    category: Option<&str>,
    folds: &mut Folds<'_>,
    progress: &mut dyn FnMut(Option<&StreamCheck>, usize, usize) -> bool,
) -> Result<Option<StoreCheck>, StoreError> {
    let mut streams = store.snapshot_streams(MAX_STREAMS + 1).await?;
    let more = streams.len() > MAX_STREAMS;
    streams.truncate(MAX_STREAMS);
    let mut result = StoreCheck { more, ..Default::default() };
    for (done, (stream, _)) in streams.iter().enumerate() {
        let check = check_stream(store, stream, folds, category).await;
        if !progress(check.as_ref(), done + 1, streams.len()) {
            return Ok(None);
        }
        let Some(check) = check else { continue };
        result.streams += 1;
        result.snapshots += check.snapshots;
        let not_compared = check.not_compared() + usize::from(check.error.is_some() && check.others.is_empty());
        result.not_compared += not_compared.min(check.snapshots);
        result.compared += check.snapshots - not_compared.min(check.snapshots);
        if check.fold_failed() {
            result.fold_failed_streams += 1;
            // A fold that fails on stream after stream compares nothing: no use going on.
            if result.compared == 0 && result.fold_failed_streams >= GIVE_UP_AFTER {
                result.stopped = Some(format!(
                    "the fold failed on each of the first {GIVE_UP_AFTER} streams, so nothing was compared: {}",
                    check.others.iter().find_map(|c| c.verdict.not_compared_because()).unwrap_or_default()
                ));
                result.streams_with_findings.push(check);
                return Ok(Some(result));
            }
        }
        if check.drifts() {
            result.drifting_streams += 1;
        }
        if !check.others.is_empty() || check.error.is_some() {
            result.streams_with_findings.push(check);
        }
    }
    Ok(Some(result))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_and_key_order_do_not_count() {
        let state = json!({"total": 159, "status": "paid", "lines": [1, 2]});
        let stored = json!({"lines": [1, 2], "status": "paid", "total": 159.0});
        assert_eq!(verdict(&state, &stored), Verdict::Matches);
    }

    #[test]
    fn a_stale_value_is_drift_with_its_path() {
        let state = json!({"total": 159, "status": "paid", "payment_id": "P-1"});
        let stored = json!({"total": 159, "status": "placed"});
        let Verdict::Drift { differences, paths } = verdict(&state, &stored) else { panic!("not drift") };
        assert_eq!(differences, 2);
        assert!(paths.iter().any(|p| p.contains("status")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("payment_id")), "{paths:?}");
    }

    #[test]
    fn another_folds_shape_is_said_to_be_one() {
        let state = json!({"a": 1, "b": 2, "c": 3, "d": 4, "e": 5});
        let stored = json!({"x": 1, "y": 2, "z": 3, "w": 4, "a": 1});
        assert_eq!(verdict(&state, &stored), Verdict::OtherShape { shared: 1, fields: 9 });
    }
}
