//! Given/when/then test fixtures cut from a stream's real history. A range of versions `from..=to`
//! of one stream becomes: *given*, the events before the range; *then*, the events of the range
//! (what the unknown command produced); the state folded from *given* and the state expected
//! after *then*. Events are written in the shape folds see (`{type, data, metadata, streamId,
//! version, position, recordedAt, category}`, payloads decoded).
//!
//! Personal data is masked by path before anything is folded, so the expected state is the one
//! the masked history gives and every exported test stays true. A masked string becomes a stable
//! pseudonym (`masked-1a2b3c4d`: equal values stay equal, so a fold that matches on them still
//! does), a number 0, a boolean false.
//!
//! Renderers write the fixture as JSON, as a Jest/Vitest test that inlines the fold, as a pytest
//! module (merge fold, plain Python) and as a cqrs-es `TestFramework` test.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::fold::{Fold, FoldError};
use crate::model::{Event, Payload};
use crate::store::{Store, StoreError};

/// The formats a fixture is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixtureFormat {
    Json,
    Pytest,
    CqrsEs,
    Jest,
}

impl FixtureFormat {
    pub const ALL: [FixtureFormat; 4] =
        [FixtureFormat::Json, FixtureFormat::Jest, FixtureFormat::Pytest, FixtureFormat::CqrsEs];

    /// The name the command line and the window use.
    pub fn name(self) -> &'static str {
        match self {
            FixtureFormat::Json => "json",
            FixtureFormat::Pytest => "pytest",
            FixtureFormat::CqrsEs => "cqrs-es",
            FixtureFormat::Jest => "jest",
        }
    }

    /// The file name a fixture of this format is saved under.
    pub fn file_name(self, fixture: &Fixture) -> String {
        let base = identifier(&format!("{}_v{}_v{}", fixture.stream, fixture.from, fixture.to), '_');
        match self {
            FixtureFormat::Json => format!("{base}.fixture.json"),
            FixtureFormat::Pytest => format!("test_{}.py", base.to_lowercase()),
            FixtureFormat::CqrsEs => format!("{}.rs", base.to_lowercase()),
            FixtureFormat::Jest => format!("{base}.test.js"),
        }
    }

    /// Whether this format can replay with the given fold: pytest carries a Python port of the
    /// merge fold only (a JavaScript fold cannot run there).
    pub fn supports(self, fold: &FoldSource) -> Result<(), String> {
        if self == FixtureFormat::Pytest && fold.source.is_some() {
            return Err(format!(
                "a pytest fixture replays with the merge fold (ported to Python); {} is JavaScript: \
                 export it as jest (or json), or without the fold",
                fold.name
            ));
        }
        Ok(())
    }
}

/// The fold a fixture was cut with: its name, and its source when it is a JavaScript fold
/// (`None`: the merge fold).
#[derive(Clone, Debug, Default)]
pub struct FoldSource {
    pub name: String,
    pub source: Option<String>,
}

impl FoldSource {
    pub fn merge() -> FoldSource {
        FoldSource { name: "merge".to_owned(), source: None }
    }
}

/// Paths whose values are masked, relative to an event as folds see it (`/data/customer/email`,
/// `/metadata/actor`, `/data` for the whole payload, `/streamId` for the stream id); `*` stands
/// for any key or index. Pseudonyms come from a hash keyed at random for each mask (each
/// export): equal values stay equal within an export, and cannot be guessed back by hashing
/// candidates.
#[derive(Clone, Debug, Default)]
pub struct Mask {
    paths: Vec<Vec<String>>,
    texts: Vec<String>,
    /// How many values each path masked.
    matched: Vec<usize>,
    key: std::collections::hash_map::RandomState,
}

impl Mask {
    /// Parses paths like `/data/customer/email` or `/data/lines/*/sku` (JSON Pointer, with
    /// `~1` for `/` and `~0` for `~` inside a key).
    pub fn parse(paths: &[String]) -> Result<Mask, String> {
        let mut mask = Mask::default();
        for text in paths {
            let text = text.trim();
            let Some(rest) = text.strip_prefix('/') else {
                return Err(format!(
                    "mask path `{text}` must start with / and name where the value is in the event, \
                     like /data/customer/email or /metadata/actor"
                ));
            };
            let parts: Vec<String> = rest.split('/').map(|p| p.replace("~1", "/").replace("~0", "~")).collect();
            let root_ok = match parts.first().map(String::as_str) {
                Some("data" | "metadata") => true,
                Some("streamId") => parts.len() == 1,
                _ => false,
            };
            if !root_ok || parts.iter().skip(1).any(String::is_empty) {
                return Err(format!(
                    "mask path `{text}` must be /data (the payload), /metadata or /streamId, or a path below \
                     the first two, like /data/customer/email (no empty segment)"
                ));
            }
            mask.paths.push(parts);
            mask.texts.push(text.to_owned());
        }
        mask.matched = vec![0; mask.paths.len()];
        Ok(mask)
    }

    pub fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// The paths as written.
    pub fn paths(&self) -> &[String] {
        &self.texts
    }

    /// The paths that masked nothing so far.
    pub fn unmatched(&self) -> Vec<&str> {
        self.texts.iter().zip(&self.matched).filter(|(_, n)| **n == 0).map(|(t, _)| t.as_str()).collect()
    }

    /// Whether the stream id is masked.
    pub fn masks_stream_id(&self) -> bool {
        self.paths.iter().any(|p| p[0] == "streamId")
    }

    /// A stable stand-in for a text within this mask's export.
    pub fn pseudonym(&self, text: &str) -> String {
        pseudonym(&self.key, text)
    }

    /// Masks an event's stream id, payload and metadata in place; returns how many values were
    /// masked. A payload that is not JSON cannot be masked by path: with any mask, its bytes are
    /// left out (the reason stays).
    pub fn apply(&mut self, event: &mut Event) -> usize {
        let mut total = 0;
        let key = &self.key;
        let pseudonym = |text: &str| pseudonym(key, text);
        for (path, matched) in self.paths.iter().zip(self.matched.iter_mut()) {
            let masked = match path[0].as_str() {
                "streamId" => {
                    event.stream = crate::model::StreamId(pseudonym(&event.stream.0));
                    1
                }
                root => {
                    let target = if root == "data" { Some(&mut *event.payload) } else { event.metadata.as_deref_mut() };
                    match target {
                        Some(Payload::Json(value)) => mask_at(value, &path[1..], &pseudonym),
                        _ => 0,
                    }
                }
            };
            *matched += masked;
            total += masked;
        }
        if !self.paths.is_empty() {
            for payload in std::iter::once(&mut *event.payload).chain(event.metadata.as_deref_mut()) {
                if let Payload::Undecodable { bytes, .. } = payload {
                    bytes.clear();
                }
            }
        }
        total
    }
}

/// A keyed hash of a text, as a pseudonym.
fn pseudonym(key: &std::collections::hash_map::RandomState, text: &str) -> String {
    use std::hash::BuildHasher as _;
    format!("masked-{:016x}", key.hash_one(text))
}

/// Masks every value `path` reaches below `value`.
fn mask_at(value: &mut Value, path: &[String], pseudonym: &dyn Fn(&str) -> String) -> usize {
    let Some((first, rest)) = path.split_first() else {
        return mask_value(value, pseudonym);
    };
    match value {
        Value::Object(map) if first == "*" => map.values_mut().map(|v| mask_at(v, rest, pseudonym)).sum(),
        Value::Object(map) => map.get_mut(first).map_or(0, |v| mask_at(v, rest, pseudonym)),
        Value::Array(items) if first == "*" => items.iter_mut().map(|v| mask_at(v, rest, pseudonym)).sum(),
        Value::Array(items) => {
            first.parse::<usize>().ok().and_then(|i| items.get_mut(i)).map_or(0, |v| mask_at(v, rest, pseudonym))
        }
        _ => 0,
    }
}

/// Replaces a value (every leaf of an object or array) by its mask.
fn mask_value(value: &mut Value, pseudonym: &dyn Fn(&str) -> String) -> usize {
    match value {
        Value::String(text) => {
            *text = pseudonym(text);
            1
        }
        Value::Number(_) => {
            *value = Value::from(0);
            1
        }
        Value::Bool(_) => {
            *value = Value::Bool(false);
            1
        }
        Value::Null => 0,
        Value::Array(items) => items.iter_mut().map(|v| mask_value(v, pseudonym)).sum(),
        Value::Object(map) => map.values_mut().map(|v| mask_value(v, pseudonym)).sum(),
    }
}

/// A fixture: the history before a range, the range's events and the states around it.
#[derive(Clone, Debug, Serialize)]
pub struct Fixture {
    pub stream: String,
    pub category: String,
    pub fold: String,
    pub from: i64,
    pub to: i64,
    /// The events before `from`, in stream order.
    pub given: Vec<Value>,
    /// The events `from..=to`.
    pub then: Vec<Value>,
    /// The state after `given`.
    pub given_state: Value,
    /// The state after `then`.
    pub expected_state: Value,
    pub masked_paths: Vec<String>,
    /// How many values the mask replaced.
    pub masked_values: usize,
    /// What could not be written as decoded JSON (undecodable payloads).
    pub warnings: Vec<String>,
    #[serde(skip)]
    pub fold_source: Option<String>,
}

/// Why a fixture could not be cut.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Range(String),
    #[error("the fold stopped at version {version} ({event_type}): {error}")]
    Fold { version: i64, event_type: String, error: FoldError },
}

/// Cuts a fixture from events in stream order (those past `to` are ignored): the pure part of
/// [`cut`].
pub struct FixtureBuilder<'a> {
    fixture: Fixture,
    fold: &'a mut dyn Fold,
    mask: Mask,
    given_state: Option<Value>,
    failed: Option<FixtureError>,
}

impl<'a> FixtureBuilder<'a> {
    pub fn new(
        stream: &str,
        from: i64,
        to: i64,
        fold: &'a mut dyn Fold,
        fold_source: &FoldSource,
        mask: &Mask,
    ) -> Result<FixtureBuilder<'a>, FixtureError> {
        fold.reset().map_err(|error| FixtureError::Fold { version: 0, event_type: "$init".to_owned(), error })?;
        let fixture = Fixture {
            stream: stream.to_owned(),
            category: String::new(),
            fold: fold_source.name.clone(),
            from,
            to,
            given: Vec::new(),
            then: Vec::new(),
            given_state: Value::Null,
            expected_state: Value::Null,
            masked_paths: mask.paths().to_vec(),
            masked_values: 0,
            warnings: Vec::new(),
            fold_source: fold_source.source.clone(),
        };
        Ok(FixtureBuilder { fixture, fold, mask: mask.clone(), given_state: None, failed: None })
    }

    /// Takes the next event; false once the range is passed or the fold failed.
    pub fn push(&mut self, mut event: Event) -> bool {
        if event.version > self.fixture.to || self.failed.is_some() {
            return false;
        }
        let in_range = event.version >= self.fixture.from;
        if in_range && self.given_state.is_none() {
            match self.fold.state() {
                Ok(state) => self.given_state = Some(state),
                Err(error) => return self.fail(&event, error),
            }
        }
        let previous = self.fixture.given.last().or(self.fixture.then.last()).and_then(|e| e["version"].as_i64());
        if previous == Some(event.version) {
            self.fixture.warnings.push(format!("version {} appears more than once in the stream", event.version));
        }
        if self.fixture.category.is_empty() {
            // (Before masking: a category read from the stream id is not personal data.)
            self.fixture.category = event.category().to_owned();
        }
        self.fixture.masked_values += self.mask.apply(&mut event);
        if let Payload::Undecodable { reason, .. } = &*event.payload {
            let bytes = if self.mask.is_empty() { "its bytes in base64" } else { "its bytes left out (masking)" };
            self.fixture.warnings.push(format!(
                "version {} ({}): the payload is not JSON ({reason}); it is written as {{\"undecodable\": …}}, {bytes}",
                event.version, event.event_type
            ));
        }
        if let Err(error) = self.fold.apply(&event) {
            return self.fail(&event, error);
        }
        let shaped = crate::script::event_json(&event);
        if in_range {
            self.fixture.then.push(shaped)
        } else {
            self.fixture.given.push(shaped)
        }
        true
    }

    fn fail(&mut self, event: &Event, error: FoldError) -> bool {
        self.failed = Some(FixtureError::Fold { version: event.version, event_type: event.event_type.clone(), error });
        false
    }

    /// The fixture, once every event up to `to` was pushed.
    pub fn finish(mut self) -> Result<Fixture, FixtureError> {
        if let Some(failed) = self.failed {
            return Err(failed);
        }
        if self.fixture.then.is_empty() {
            return Err(FixtureError::Range(format!(
                "stream {} has no event from version {} to {}",
                self.fixture.stream, self.fixture.from, self.fixture.to
            )));
        }
        let state = |fold: &mut dyn Fold| {
            fold.state().map_err(|error| FixtureError::Fold { version: 0, event_type: "(state)".to_owned(), error })
        };
        self.fixture.given_state = match self.given_state {
            Some(state) => state,
            None => state(self.fold)?,
        };
        self.fixture.expected_state = state(self.fold)?;
        // (A range past the end says where the stream ends.)
        if let Some(last) = self.fixture.then.last().and_then(|e| e["version"].as_i64())
            && self.fixture.to > last
        {
            self.fixture.warnings.push(format!(
                "the range was to end at version {} but the stream's last event read is version {last}: it ends there",
                self.fixture.to
            ));
            self.fixture.to = last;
        }
        if self.mask.masks_stream_id() {
            self.fixture.stream = self.mask.pseudonym(&self.fixture.stream);
        }
        for path in self.mask.unmatched() {
            self.fixture.warnings.push(format!("the mask path {path} matched no value: check its spelling"));
        }
        Ok(self.fixture)
    }
}

/// Reads a stream up to `to` and cuts the fixture `from..=to` (one streamed read; the given
/// events are kept, as the fixture holds them).
pub async fn cut(
    store: &Store,
    stream: &str,
    from: i64,
    to: i64,
    fold: &mut dyn Fold,
    fold_source: &FoldSource,
    mask: &Mask,
) -> Result<Fixture, FixtureError> {
    let summary = store.stream_summary(stream).await?;
    if from > to {
        return Err(FixtureError::Range(format!("--from {from} is after --to {to}: the range is from..=to")));
    }
    if to < summary.first_version || from > summary.last_version {
        return Err(FixtureError::Range(format!(
            "stream {stream} has versions {} to {}: the range {from} to {to} is outside it",
            summary.first_version, summary.last_version
        )));
    }
    let mut builder = FixtureBuilder::new(stream, from, to, fold, fold_source, mask)?;
    store.read_stream_each(stream, None, &mut |event| builder.push(event)).await?;
    builder.finish()
}

/// The fixture written in a format.
pub fn render(fixture: &Fixture, format: FixtureFormat) -> String {
    match format {
        FixtureFormat::Json => render_json(fixture),
        FixtureFormat::Jest => render_jest(fixture),
        FixtureFormat::Pytest => render_pytest(fixture),
        FixtureFormat::CqrsEs => render_cqrs_es(fixture),
    }
}

/// Text safe inside a comment or docstring of every format: control characters, quotes and
/// backslashes escaped (`\n`, `\"`, `\\`), so that no stream id can end a comment or a string.
fn commented(text: &str) -> String {
    text.escape_debug().to_string()
}

/// `1 event`, `3 events`.
fn events_word(n: usize) -> String {
    if n == 1 { "1 event".to_owned() } else { format!("{n} events") }
}

fn title(fixture: &Fixture) -> String {
    format!("stream {}, versions {} to {}", commented(&fixture.stream), fixture.from, fixture.to)
}

fn render_json(fixture: &Fixture) -> String {
    let mut value = serde_json::to_value(fixture).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("eventscope_fixture".to_owned(), Value::from(1));
        map.insert("fold_source".to_owned(), fixture.fold_source.clone().map_or(Value::Null, Value::String));
    }
    format!("{}\n", serde_json::to_string_pretty(&value).unwrap_or_default())
}

/// JSON for a script, indented by `indent` after each line break. (A key named `__proto__`
/// would set a prototype in an object literal: such a value is given to `JSON.parse` instead.)
fn json_block(value: &Value, indent: &str) -> String {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    if text.contains("\"__proto__\"") {
        let compact = serde_json::to_string(value).unwrap_or_default();
        return format!("JSON.parse({})", Value::String(compact));
    }
    text.replace('\n', &format!("\n{indent}"))
}

/// The merge fold in JavaScript, as a fold object (RFC 7386 merge of object payloads; any other
/// payload kept under its event type).
const JS_MERGE_FOLD: &str = r#"(() => {
  const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  // (Keys are set as own properties: a key named __proto__ is data, not a prototype.)
  const set = (o, key, value) =>
    Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
  const merge = (target, patch) => {
    if (!isObject(patch)) return patch;
    if (!isObject(target)) target = {};
    for (const [key, value] of Object.entries(patch)) {
      if (value === null) delete target[key];
      else set(target, key, merge(Object.prototype.hasOwnProperty.call(target, key) ? target[key] : undefined, value));
    }
    return target;
  };
  // A payload that is not JSON comes as { undecodable: { reason, bytes_base64 } }.
  const undecodable = (d) => isObject(d) && Object.keys(d).length === 1 && isObject(d.undecodable);
  return {
    $init: () => ({}),
    $any: (s, e) => {
      if (isObject(e.data) && !undecodable(e.data)) return merge(s, e.data);
      set(s, e.type, e.data);
      return s;
    },
  };
})()"#;

fn render_jest(fixture: &Fixture) -> String {
    let fold = match &fixture.fold_source {
        Some(source) => format!("// The fold {}, as eventscope ran it:\n({})", commented(&fixture.fold), source.trim()),
        None => format!("// eventscope's merge fold:\n{JS_MERGE_FOLD}"),
    };
    format!(
        r#"// A given/when/then test cut by eventscope from {title}.
// Runs with Jest, or Vitest with `globals: true`. Given: the {given_events} before version {from};
// then: the {then_events} the command produced; the state after them is the one eventscope folded.
// Events have the shape eventscope's folds see: {{ type, data, metadata, streamId, version, position, recordedAt, category }}.

const fold = {fold};

const given = {given_json};

const then = {then_json};

const givenState = {given_state};

const expectedState = {expected_state};

const own = (object, key) => Object.prototype.hasOwnProperty.call(object, key);

function replay(events, state) {{
  for (const event of events) {{
    const handler = event.type !== "$init" && own(fold, event.type) ? fold[event.type] : own(fold, "$any") ? fold.$any : null;
    if (typeof handler !== "function") continue;
    state = handler(state, structuredClone(event));
    if (state === undefined) throw new Error(`the ${{event.type}} handler returned undefined at version ${{event.version}}`);
  }}
  return state;
}}

const initial = () => (own(fold, "$init") ? fold.$init() : {{}});

describe({describe}, () => {{
  test("given the history before version {from}, the state is the recorded one", () => {{
    expect(replay(structuredClone(given), initial())).toEqual(givenState);
  }});

  test("then the recorded events lead to the expected state", () => {{
    const state = replay(then, replay(given, initial()));
    expect(state).toEqual(expectedState);
  }});
}});
"#,
        title = title(fixture),
        given_events = events_word(fixture.given.len()),
        then_events = events_word(fixture.then.len()),
        from = fixture.from,
        given_json = json_block(&Value::Array(fixture.given.clone()), ""),
        then_json = json_block(&Value::Array(fixture.then.clone()), ""),
        given_state = json_block(&fixture.given_state, ""),
        expected_state = json_block(&fixture.expected_state, ""),
        describe = Value::String(title(fixture)),
    )
}

/// A JSON value as a Python literal (JSON string escapes are Python's too).
fn python_literal(value: &Value, indent: usize) -> String {
    let pad = "    ".repeat(indent + 1);
    let close = "    ".repeat(indent);
    match value {
        Value::Null => "None".to_owned(),
        Value::Bool(true) => "True".to_owned(),
        Value::Bool(false) => "False".to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(_) => value.to_string(),
        Value::Array(items) if items.is_empty() => "[]".to_owned(),
        Value::Array(items) => {
            let inner: Vec<String> = items.iter().map(|v| format!("{pad}{},", python_literal(v, indent + 1))).collect();
            format!("[\n{}\n{close}]", inner.join("\n"))
        }
        Value::Object(map) if map.is_empty() => "{}".to_owned(),
        Value::Object(map) => {
            let inner: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{pad}{}: {},", Value::String(k.clone()), python_literal(v, indent + 1)))
                .collect();
            format!("{{\n{}\n{close}}}", inner.join("\n"))
        }
    }
}

fn render_pytest(fixture: &Fixture) -> String {
    format!(
        r#""""A given/when/then test cut by eventscope from {title}.

Given: the {given_events} before version {from}; then: the {then_events} the command produced; the
state after them is the one eventscope folded with its merge fold (ported below), so the test runs
with plain pytest. To check your own aggregate instead, replay GIVEN and THEN through it and compare
with EXPECTED_STATE.
"""

import copy

GIVEN = {given_py}

THEN = {then_py}

GIVEN_STATE = {given_state}

EXPECTED_STATE = {expected_state}


def merge_patch(target, patch):
    """RFC 7386: objects merge, a None member removes the key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {{}}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = merge_patch(target.get(key), value)
    return target


def apply(state, event):
    """eventscope's merge fold: an object payload is merged, any other is kept under its type
    (a payload that is not JSON comes as {{"undecodable": {{...}}}})."""
    data = event["data"]
    if isinstance(data, dict) and not (len(data) == 1 and isinstance(data.get("undecodable"), dict)):
        return merge_patch(state, data)
    state[event["type"]] = copy.deepcopy(event["data"])
    return state


def replay(events, state=None):
    state = {{}} if state is None else state
    for event in events:
        state = apply(state, event)
    return state


def test_given_history_gives_the_recorded_state():
    assert replay(GIVEN) == GIVEN_STATE


def test_then_events_lead_to_the_expected_state():
    assert replay(THEN, replay(GIVEN)) == EXPECTED_STATE
"#,
        title = title(fixture),
        given_events = events_word(fixture.given.len()),
        then_events = events_word(fixture.then.len()),
        from = fixture.from,
        given_py = python_literal(&Value::Array(fixture.given.clone()), 0),
        then_py = python_literal(&Value::Array(fixture.then.clone()), 0),
        given_state = python_literal(&fixture.given_state, 0),
        expected_state = python_literal(&fixture.expected_state, 0),
    )
}

/// An event as a cqrs-es event enum serializes (externally tagged: `{"OrderPlaced": {…}}`); a
/// payload already in that shape is kept.
fn tagged(event: &Value) -> Value {
    let event_type = event["type"].as_str().unwrap_or_default();
    match &event["data"] {
        Value::Object(map) if map.len() == 1 && map.contains_key(event_type) => event["data"].clone(),
        data => Value::Object(Map::from_iter([(event_type.to_owned(), data.clone())])),
    }
}

/// A name made of letters, digits and `separator` (for file and function names).
fn identifier(text: &str, separator: char) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with(separator) {
            out.push(separator);
        }
    }
    let out = out.trim_matches(separator).to_owned();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) { format!("s{separator}{out}") } else { out }
}

/// `order` → `Order`, `bank_account` → `BankAccount`.
fn pascal_case(text: &str) -> String {
    identifier(text, '_')
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// A Rust raw string literal holding `text` (with enough `#`s).
fn raw_string(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let fence = "#".repeat(hashes);
    format!("r{fence}\"{text}\"{fence}")
}

fn render_cqrs_es(fixture: &Fixture) -> String {
    let aggregate = pascal_case(&fixture.category);
    let commands: std::collections::BTreeSet<&str> =
        fixture.then.iter().filter_map(|e| e["metadata"]["command"].as_str()).collect();
    let command_hint = if commands.is_empty() {
        "the command that produced these events".to_owned()
    } else {
        format!("the metadata names {}", commands.into_iter().collect::<Vec<_>>().join(", "))
    };
    let tag = |events: &[Value]| Value::Array(events.iter().map(tagged).collect());
    let test_name = identifier(&fixture.stream, '_').to_lowercase();
    format!(
        r#"//! A given/when/then test cut by eventscope from {title}, in cqrs-es's `TestFramework`.
//! Given: the {given_events} before version {from}; then: the {then_events} the command produced,
//! each as the aggregate's event enum serializes (externally tagged). Put this file next to the
//! aggregate, adjust the `use` line, and write the command once in `when_command`.

use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;

use super::{aggregate}; // the aggregate of category `{category}`

type Event = <{aggregate} as Aggregate>::Event;
type Command = <{aggregate} as Aggregate>::Command;

const GIVEN: &str = {given_json};

const THEN: &str = {then_json};

/// The state eventscope folded after THEN (fold: {fold}), for reference.
#[allow(dead_code)]
const EXPECTED_STATE: &str = {expected_state};

fn events(json: &str) -> Vec<Event> {{
    serde_json::from_str(json).expect("the recorded events deserialize into the aggregate's event enum")
}}

/// The command that produced THEN ({command_hint}).
fn when_command() -> Command {{
    todo!("{{}}", {todo_text:?})
}}

#[test]
fn {test_name}_recorded_events_deserialize() {{
    assert_eq!(events(GIVEN).len(), {given});
    assert_eq!(events(THEN).len(), {then});
}}

#[test]
fn {test_name}_v{from}_to_v{to}() {{
    TestFramework::<{aggregate}>::with(Default::default())
        .given(events(GIVEN))
        .when(when_command())
        .then_expect_events(events(THEN));
}}
"#,
        title = title(fixture),
        given_events = events_word(fixture.given.len()),
        then_events = events_word(fixture.then.len()),
        given = fixture.given.len(),
        then = fixture.then.len(),
        from = fixture.from,
        to = fixture.to,
        todo_text = format!("{command_hint}: build that command here"),
        command_hint = commented(&command_hint),
        category = commented(&fixture.category),
        fold = commented(&fixture.fold),
        given_json = raw_string(&serde_json::to_string_pretty(&tag(&fixture.given)).unwrap_or_default()),
        then_json = raw_string(&serde_json::to_string_pretty(&tag(&fixture.then)).unwrap_or_default()),
        expected_state = raw_string(&serde_json::to_string_pretty(&fixture.expected_state).unwrap_or_default()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::{JsFold, MergeFold};
    use serde_json::json;

    fn event(version: i64, event_type: &str, data: Value) -> Event {
        Event {
            position: Some(version),
            metadata: Some(Payload::Json(json!({"actor": "user:ada@example.com", "command": "Place"})).into()),
            aggregate_type: Some("order".into()),
            ..Event::with_json("order-7", version, event_type, data)
        }
    }

    fn history() -> Vec<Event> {
        vec![
            event(1, "OrderPlaced", json!({"status": "placed", "customer": {"email": "ada@example.com"}, "total": 10})),
            event(2, "PaymentConfirmed", json!({"status": "paid", "paid": 10})),
            event(3, "RefundRequested", json!({"status": "refunding", "refund": 10})),
            event(4, "Note", json!("a bare text")),
        ]
    }

    fn cut_pure(fold: &mut dyn Fold, source: &FoldSource, mask: &Mask, from: i64, to: i64) -> Fixture {
        let mut builder = FixtureBuilder::new("order-7", from, to, fold, source, mask).unwrap();
        for e in history() {
            if !builder.push(e) {
                break;
            }
        }
        builder.finish().unwrap()
    }

    #[test]
    fn given_then_and_states_split_at_the_range() {
        let fixture = cut_pure(&mut MergeFold::default(), &FoldSource::merge(), &Mask::default(), 2, 3);
        assert_eq!(fixture.given.len(), 1);
        assert_eq!(fixture.then.iter().map(|e| e["version"].as_i64().unwrap()).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(fixture.given_state["status"], "placed");
        assert_eq!(fixture.expected_state["status"], "refunding");
        assert_eq!(fixture.expected_state["refund"], 10);
        assert_eq!(fixture.category, "order");
        assert_eq!(fixture.then[0]["streamId"], "order-7");
    }

    #[test]
    fn masking_is_stable_and_happens_before_the_fold() {
        let mask = Mask::parse(&["/data/customer/email".into(), "/metadata/actor".into()]).unwrap();
        let fixture = cut_pure(&mut MergeFold::default(), &FoldSource::merge(), &mask, 1, 4);
        let masked = fixture.expected_state["customer"]["email"].as_str().unwrap();
        assert!(masked.starts_with("masked-"), "{masked}");
        assert_eq!(masked, mask.pseudonym("ada@example.com"));
        assert!(!render_json(&fixture).contains("ada@example.com"));
        assert_eq!(fixture.then[1]["metadata"]["actor"], json!(mask.pseudonym("user:ada@example.com")));
        // Another export keys its pseudonyms anew: they cannot be matched across exports, nor
        // guessed back by hashing candidates.
        let other = Mask::parse(&["/data/customer/email".into()]).unwrap();
        assert_ne!(other.pseudonym("ada@example.com"), mask.pseudonym("ada@example.com"));
        assert_eq!(fixture.masked_values, 1 + 4);
    }

    #[test]
    fn mask_paths_take_wildcards_and_refuse_what_names_nothing() {
        let mut mask = Mask::parse(&["/data/lines/*/sku".into()]).unwrap();
        let mut e = event(1, "X", json!({"lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 2}]}));
        assert_eq!(mask.apply(&mut e), 2);
        let Payload::Json(data) = &*e.payload else { panic!() };
        assert_eq!(data["lines"][1]["qty"], 2);
        assert!(Mask::parse(&["data/x".into()]).unwrap_err().contains("must start with /"));
        assert!(Mask::parse(&["/payload/x".into()]).unwrap_err().contains("/data"));
        assert!(Mask::parse(&["/data/".into()]).is_err(), "an empty segment names nothing");
        let mut whole = Mask::parse(&["/data".into(), "/streamId".into(), "/data/nothing".into()]).unwrap();
        let mut e = event(1, "X", json!("alice@example.com"));
        assert_eq!(whole.apply(&mut e), 2);
        assert!(!format!("{:?}", e.payload).contains("alice") && e.stream.0.starts_with("masked-"));
        assert_eq!(whole.unmatched(), vec!["/data/nothing"]);
        let mut bytes = event(1, "X", json!(null));
        bytes.payload = Payload::Undecodable { bytes: b"alice".to_vec(), reason: "not JSON".into() }.into();
        whole.apply(&mut bytes);
        assert!(matches!(&*bytes.payload, Payload::Undecodable { bytes, .. } if bytes.is_empty()));
        let mut numbers = event(1, "X", json!({"card": {"number": 4111, "ok": true}}));
        Mask::parse(&["/data/card".into()]).unwrap().apply(&mut numbers);
        let Payload::Json(data) = &*numbers.payload else { panic!() };
        assert_eq!(data["card"], json!({"number": 0, "ok": false}));
    }

    #[test]
    fn a_range_with_no_event_and_a_failing_fold_are_errors() {
        let mut fold = MergeFold::default();
        let (merge, no_mask) = (FoldSource::merge(), Mask::default());
        let mut builder = FixtureBuilder::new("order-7", 9, 12, &mut fold, &merge, &no_mask).unwrap();
        for e in history() {
            builder.push(e);
        }
        assert!(matches!(builder.finish(), Err(FixtureError::Range(_))));
        let mut broken =
            JsFold::from_source("bad.js", "({ PaymentConfirmed: (s, e) => { throw new Error('nope') } })").unwrap();
        let source = FoldSource { name: "bad.js".into(), source: Some(String::new()) };
        let mut builder = FixtureBuilder::new("order-7", 1, 4, &mut broken, &source, &no_mask).unwrap();
        for e in history() {
            if !builder.push(e) {
                break;
            }
        }
        let error = builder.finish().unwrap_err().to_string();
        assert!(error.contains("version 2") && error.contains("nope"), "{error}");
    }

    #[test]
    fn pytest_refuses_a_javascript_fold_and_renders_python_literals() {
        let js = FoldSource { name: "order.js".into(), source: Some("({})".into()) };
        assert!(FixtureFormat::Pytest.supports(&js).unwrap_err().contains("jest"));
        assert!(FixtureFormat::Jest.supports(&js).is_ok());
        assert_eq!(
            python_literal(&json!({"a": [null, true, 1.5, "x\"y"]}), 0),
            "{\n    \"a\": [\n        None,\n        True,\n        1.5,\n        \"x\\\"y\",\n    ],\n}"
        );
    }

    #[test]
    fn cqrs_es_events_are_externally_tagged_and_names_are_rust() {
        let fixture = cut_pure(&mut MergeFold::default(), &FoldSource::merge(), &Mask::default(), 3, 4);
        let text = render_cqrs_es(&fixture);
        assert!(text.contains(r#""RefundRequested": {"#), "{text}");
        assert!(text.contains("use super::Order;"));
        assert!(text.contains("fn order_7_v3_to_v4()"));
        assert!(text.contains("the metadata names Place"));
        assert_eq!(tagged(&json!({"type": "A", "data": {"A": {"x": 1}}})), json!({"A": {"x": 1}}));
        assert_eq!(raw_string("a\"#b"), "r##\"a\"#b\"##");
        assert_eq!(pascal_case("bank_account"), "BankAccount");
        assert_eq!(FixtureFormat::Pytest.file_name(&fixture), "test_order_7_v3_v4.py");
    }
}
