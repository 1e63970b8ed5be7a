//! What-if: a retroactive rule tried before anyone runs it. A what-if script (JavaScript, in the
//! same sandbox as folds) sees each stream's events and says which events it would append — a
//! one-off job's `OrderTaxRecalculated`, say — and, optionally, which it would skip ("what if
//! this duplicate had never happened"). Nothing is written: eventscope folds each touched
//! stream as it is and as it would be, and gives the state before and after, their diff, and a
//! summary (streams touched, events that would be appended or skipped).
//!
//! ```js
//! ({
//!   category: "Order",              // optional: only the streams of this category
//!   stream: (events, info) => {     // events as folds see them; info = { streamId, category }
//!     if (!events.some(e => e.type === "OrderPlaced")) return null;   // nothing changes
//!     return { append: [{ type: "OrderTaxRecalculated", data: { … }, metadata: { … } }],
//!              skip: [4] };         // versions
//!   },
//! })
//! ```
//!
//! Appended events follow the stream's last version (`recordedAt` and `metadata` as the script
//! gives them). A stream is read whole to be shown to the script: at most [`MAX_STREAM_EVENTS`].

use std::path::Path;

use rquickjs::{Function, Persistent};
use serde::Serialize;
use serde_json::Value;

use crate::diff::structural_diff;
use crate::fold::{Fold, Folds};
use crate::model::{Event, Payload, StreamId};
use crate::script::{Limits, Sandbox, ScriptError, eval, to_js, to_json};
use crate::store::{Store, StoreError};

pub mod read_model;

/// The longest stream a script is shown.
pub const MAX_STREAM_EVENTS: usize = 100_000;

/// A what-if script.
pub struct WhatIf {
    // Persistent values first: they must be dropped before the sandbox that made them.
    ask: Persistent<Function<'static>>,
    pub name: String,
    /// The category the script asks for (`None`: every stream).
    pub category: Option<String>,
    sandbox: Sandbox,
}

/// What a script would do to one stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Proposal {
    /// Events to append: `(type, data, metadata, recordedAt)`.
    pub append: Vec<(String, Value, Value, Option<String>)>,
    /// Versions to skip.
    pub skip: Vec<i64>,
}

impl WhatIf {
    pub fn from_source(name: &str, source: &str) -> Result<WhatIf, ScriptError> {
        let sandbox = Sandbox::new(name, Limits::default())?;
        let loaded = sandbox.run(
            |ctx| {
                let value: rquickjs::Value = eval(ctx, source, name)?;
                let Some(object) = value.into_object() else { return Ok(None) };
                let ask = sandbox.own_property(ctx, &object, "stream")?;
                let Some(ask) = ask.into_function() else { return Ok(None) };
                let category = sandbox.own_property(ctx, &object, "category")?;
                let category = match category.as_string() {
                    Some(text) => Ok(Some(text.to_string()?)),
                    None if category.is_undefined() || category.is_null() => Ok(None),
                    None => Err(()),
                };
                Ok(Some((Persistent::save(ctx, ask), category)))
            },
            "loading the what-if script",
        )?;
        let (ask, category) = loaded.ok_or_else(|| {
            sandbox.contract_error(
                "a what-if script must evaluate to an object with a `stream: (events, info) => ({ append: [...], \
                 skip: [...] })` function (and optionally `category`)"
                    .to_owned(),
            )
        })?;
        let category = category.map_err(|()| {
            sandbox
                .contract_error("`category` must be a text (a category name), or left out for every stream".to_owned())
        })?;
        Ok(WhatIf { ask, name: name.to_owned(), category, sandbox })
    }

    pub fn from_file(path: &Path) -> Result<WhatIf, ScriptError> {
        let (name, source) = crate::script::read_script(path)?;
        WhatIf::from_source(&name, &source)
    }

    /// Asks the script about one stream.
    pub fn ask(&self, stream: &str, category: &str, events: &[Event]) -> Result<Proposal, ScriptError> {
        let answer = self.sandbox.run(
            |ctx| {
                let list: Vec<Value> = events.iter().map(crate::script::event_json).collect();
                let list = to_js(ctx, &Value::Array(list))?;
                let info = to_js(ctx, &serde_json::json!({"streamId": stream, "category": category}))?;
                let answer: rquickjs::Value = self.ask.clone().restore(ctx)?.call((list, info))?;
                // (A promise would read as `{}`, "no change": an async function is refused.)
                if answer.is_promise() {
                    return Err(rquickjs::Exception::throw_type(
                        ctx,
                        "`stream` returned a Promise: it must answer at once (not an async function)",
                    ));
                }
                to_json(ctx, answer)
            },
            &format!("asking about stream {stream}"),
        )?;
        let contract = |message: String| self.sandbox.contract_error(format!("stream {stream}: {message}"));
        let mut proposal = Proposal::default();
        let answer = match answer {
            Value::Null => return Ok(proposal),
            Value::Object(map) => map,
            other => return Err(contract(format!("`stream` returned {other}, not {{ append, skip }} or null"))),
        };
        for key in answer.keys() {
            if key != "append" && key != "skip" {
                return Err(contract(format!("`stream` returned an unknown member `{key}`: use append and skip")));
            }
        }
        if let Some(append) = answer.get("append").filter(|a| !a.is_null()) {
            let Value::Array(items) = append else {
                return Err(contract("`append` must be an array of { type, data, metadata? }".to_owned()));
            };
            for item in items {
                let Some(event_type) = item.get("type").and_then(Value::as_str).filter(|t| !t.is_empty()) else {
                    return Err(contract(format!("an appended event needs a `type`: {item}")));
                };
                let recorded_at = match item.get("recordedAt") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(at)) if crate::store::cell::parse_time(at).is_some() => Some(at.clone()),
                    Some(other) => {
                        return Err(contract(format!(
                            "an appended event's `recordedAt` must be an ISO time (2026-03-23T08:00:00Z), not {other}"
                        )));
                    }
                };
                let data = item.get("data").cloned().unwrap_or(Value::Null);
                let metadata = item.get("metadata").cloned().unwrap_or(Value::Null);
                if !(metadata.is_object() || metadata.is_null()) {
                    return Err(contract(format!("an appended event's `metadata` must be an object: {item}")));
                }
                proposal.append.push((event_type.to_owned(), data, metadata, recorded_at));
            }
        }
        if let Some(skip) = answer.get("skip").filter(|s| !s.is_null()) {
            let versions = skip.as_array().map(|a| a.iter().map(Value::as_i64).collect::<Option<Vec<i64>>>());
            let Some(Some(versions)) = versions else {
                return Err(contract("`skip` must be an array of versions (whole numbers)".to_owned()));
            };
            if let Some(absent) = versions.iter().find(|v| !events.iter().any(|e| e.version == **v)) {
                return Err(contract(format!("`skip` names version {absent}, which the stream does not have")));
            }
            proposal.skip = versions;
        }
        Ok(proposal)
    }
}

/// One stream the script would change.
#[derive(Clone, Debug, Serialize)]
pub struct StreamOutcome {
    pub stream: String,
    /// What a person calls it (a field of its first event, see [`crate::labels`]).
    pub label: Option<String>,
    pub category: String,
    /// The stream's aggregate type, where the layout has one (appended events get it too).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aggregate_type: Option<String>,
    /// The events it would append, as folds would see them.
    pub appended: Vec<Value>,
    /// The versions it would skip (those the stream has).
    pub skipped: Vec<i64>,
    pub before: Value,
    pub after: Value,
    /// `{path, kind, old, new}` from the state before to the state after.
    pub changes: Vec<Value>,
}

/// A whole run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Outcome {
    pub script: String,
    pub streams_seen: usize,
    pub streams_touched: usize,
    pub events_appended: usize,
    pub events_skipped: usize,
    pub touched: Vec<StreamOutcome>,
    /// How many streams the script or the fold failed on.
    pub failed_streams: usize,
    /// The first of them, with why.
    pub failures: Vec<(String, String)>,
    /// Why the run stopped before the last stream, if it did.
    pub stopped: Option<String>,
}

/// A run stops when the script failed on each of this many first streams.
const GIVE_UP_AFTER: usize = 20;

/// At most this many streams' failures are kept.
const MAX_FAILURES: usize = 50;

/// The events of a stream as they would be: the skipped versions left out, the appended ones
/// after the last version.
pub fn apply(stream: &str, events: &[Event], proposal: &Proposal) -> (Vec<Event>, Vec<Event>) {
    let last = events.iter().map(|e| e.version).max().unwrap_or(0);
    let aggregate_type = events.first().and_then(|e| e.aggregate_type.clone());
    let appended: Vec<Event> = proposal
        .append
        .iter()
        .enumerate()
        .map(|(i, (event_type, data, metadata, recorded_at))| Event {
            stream: StreamId(stream.to_owned()),
            version: last.saturating_add(1 + i as i64),
            position: None,
            event_type: event_type.clone(),
            payload: Payload::Json(data.clone()).into(),
            metadata: (!metadata.is_null()).then(|| Payload::Json(metadata.clone()).into()),
            recorded_at: recorded_at.as_deref().and_then(crate::store::cell::parse_time),
            aggregate_type: aggregate_type.clone(),
            archived: false,
            anomalies: Vec::new(),
        })
        .collect();
    let kept = events.iter().filter(|e| !proposal.skip.contains(&e.version)).cloned().chain(appended.iter().cloned());
    (kept.collect(), appended)
}

fn fold_all(fold: &mut dyn Fold, events: &[Event]) -> Result<Value, String> {
    crate::fold::replay(fold, events).map_err(|e| e.message)
}

/// Asks the script about one stream and folds it both ways; `None` when nothing would change.
pub fn outcome_of(
    script: &WhatIf,
    fold: &mut dyn Fold,
    stream: &str,
    category: &str,
    events: &[Event],
) -> Result<Option<StreamOutcome>, String> {
    let proposal = script.ask(stream, category, events).map_err(|e| e.to_string())?;
    let skipped: Vec<i64> = events.iter().map(|e| e.version).filter(|v| proposal.skip.contains(v)).collect();
    if proposal.append.is_empty() && skipped.is_empty() {
        return Ok(None);
    }
    let before = fold_all(fold, events)?;
    let (would_be, appended) = apply(stream, events, &proposal);
    let after = fold_all(fold, &would_be)?;
    let changes = structural_diff(&before, &after)
        .into_iter()
        .map(|c| {
            serde_json::json!({"path": c.path, "kind": format!("{:?}", c.kind).to_lowercase(), "old": c.old, "new": c.new})
        })
        .collect();
    let label = match events.first().map(|e| &*e.payload) {
        Some(Payload::Json(first)) => {
            crate::labels::label_field(category, first).and_then(|field| crate::labels::label_of(first, &field))
        }
        _ => None,
    };
    Ok(Some(StreamOutcome {
        stream: stream.to_owned(),
        label,
        category: category.to_owned(),
        aggregate_type: events.first().and_then(|e| e.aggregate_type.clone()),
        appended: appended.iter().map(crate::script::event_json).collect(),
        skipped,
        before,
        after,
        changes,
    }))
}

/// Runs the script over every stream (of its category), one stream read at a time;
/// `progress(streams seen)` stops the run when it says false (`None`: stopped).
pub async fn run(
    store: &Store,
    script: &WhatIf,
    folds: &mut Folds<'_>,
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Option<Outcome>, StoreError> {
    let mut outcome = Outcome { script: script.name.clone(), ..Outcome::default() };
    let mut query = crate::store::query::StreamQuery { limit: 500, ..Default::default() };
    loop {
        let page = match &script.category {
            Some(category) => store.list_category_streams(category, &query).await?,
            None => store.list_streams(&query).await?,
        };
        for summary in &page.streams {
            let stream = summary.stream.0.as_str();
            let mut events = Vec::new();
            let mut too_long = false;
            store
                .read_stream_each(stream, None, &mut |event| {
                    too_long = events.len() >= MAX_STREAM_EVENTS;
                    if !too_long {
                        events.push(event);
                    }
                    !too_long
                })
                .await?;
            let Some(first) = events.first() else { continue };
            let category = first.category().to_owned();
            outcome.streams_seen += 1;
            let result = if too_long {
                Err(format!("longer than {MAX_STREAM_EVENTS} events: not shown to the script"))
            } else {
                outcome_of(script, folds.for_stream(stream, &category), stream, &category, &events)
            };
            match result {
                Ok(Some(changed)) => {
                    outcome.streams_touched += 1;
                    outcome.events_appended += changed.appended.len();
                    outcome.events_skipped += changed.skipped.len();
                    outcome.touched.push(changed);
                }
                Ok(None) => {}
                Err(e) => {
                    outcome.failed_streams += 1;
                    if outcome.failures.len() < MAX_FAILURES {
                        outcome.failures.push((stream.to_owned(), e));
                    }
                }
            }
            if !progress(outcome.streams_seen) {
                return Ok(None);
            }
            // (A script that fails everywhere would fail on every stream of a big store, a time
            // budget each: it stops once the first streams all failed.)
            if outcome.failed_streams >= GIVE_UP_AFTER && outcome.failed_streams == outcome.streams_seen {
                outcome.stopped =
                    Some(format!("stopped: the script failed on each of the first {GIVE_UP_AFTER} streams"));
                return Ok(Some(outcome));
            }
        }
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    Ok(Some(outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::MergeFold;
    use serde_json::json;

    fn event(version: i64, event_type: &str, data: Value) -> Event {
        Event {
            position: Some(version),
            aggregate_type: Some("Order".into()),
            ..Event::with_json("order-1", version, event_type, data)
        }
    }

    #[test]
    fn appended_events_follow_the_last_version_and_skipped_ones_are_left_out() {
        let events = vec![event(1, "Placed", json!({"total": 10})), event(2, "Refunded", json!({"refunded": 10}))];
        let script = WhatIf::from_source(
            "w.js",
            "({ stream: (events, info) => ({ skip: [2], append: [{ type: 'Taxed', data: { tax: 1, of: info.streamId } }] }) })",
        )
        .unwrap();
        let outcome = outcome_of(&script, &mut MergeFold::default(), "order-1", "Order", &events).unwrap().unwrap();
        assert_eq!(outcome.skipped, vec![2]);
        assert_eq!(outcome.appended[0]["version"], json!(3));
        assert_eq!(outcome.appended[0]["data"]["of"], json!("order-1"));
        assert_eq!(outcome.after, json!({"total": 10, "tax": 1, "of": "order-1"}));
        let paths: Vec<&str> = outcome.changes.iter().map(|c| c["path"].as_str().unwrap()).collect();
        assert_eq!(paths, vec!["/refunded", "/tax", "/of"]);
    }

    #[test]
    fn nothing_to_change_and_the_scripts_mistakes() {
        let events = vec![event(1, "Placed", json!({}))];
        let null = WhatIf::from_source("w.js", "({ category: 'Order', stream: () => null })").unwrap();
        assert_eq!(null.category.as_deref(), Some("Order"));
        assert!(outcome_of(&null, &mut MergeFold::default(), "o", "Order", &events).unwrap().is_none());
        assert!(WhatIf::from_source("w.js", "({ category: 5, stream: () => null })").is_err());
        for (source, said) in [
            ("({ stream: () => 3 })", "not { append, skip }"),
            ("({ stream: () => ({ appnd: [] }) })", "unknown member `appnd`"),
            ("({ stream: () => ({ skip: ['x'] }) })", "whole numbers"),
            ("({ stream: () => { throw new Error('boom') } })", "boom"),
            ("({ stream: async () => null })", "Promise"),
            ("({ stream: () => ({ skip: [99] }) })", "version 99"),
            ("({ stream: () => ({ append: [{ type: 'T', metadata: 5 }] }) })", "`metadata` must be an object"),
            ("({ stream: () => ({ append: [{ type: 'T', recordedAt: 'yesterday' }] }) })", "an ISO time"),
        ] {
            let script = WhatIf::from_source("w.js", source).unwrap();
            let error = outcome_of(&script, &mut MergeFold::default(), "o", "Order", &events).unwrap_err();
            assert!(error.contains(said), "{source}: {error}");
        }
        assert!(WhatIf::from_source("w.js", "({ stream: 1 })").is_err());
    }
}
