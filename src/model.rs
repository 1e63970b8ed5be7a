//! The vocabulary of eventscope as plain data: events, streams, versions, payloads and the
//! anomalies a stream's numbering can have. Nothing here knows about egui or sqlx.
//!
//! # How deep a value may nest
//!
//! One bound, [`MAX_DEPTH`] = 127 levels of nested arrays and objects (`1` nests 0 levels, `[]`
//! and `[1]` one, `{"a": [1]}` two), which is exactly what serde_json's own parser accepts (it
//! refuses the 128th level), so that every path agrees. It is enforced where values come in:
//!
//! - every payload decoder (JSON, YAML, MessagePack, and anything added later) gives
//!   [`Payload::Undecodable`] with a reason naming the bound past it ([`parse_json`],
//!   `store::decode`); YAML's aliases are also bounded in the nodes they copy there;
//! - values crossing the JavaScript boundary either way (`script::to_js`, `script::to_json`)
//!   are refused past it with a script error.
//!
//! Recursive walks of values (the structural diff, the merge fold, blame maps, unwrapping
//! eventsourcing's values, the JSON tree) descend at most [`WALK_DEPTH`] levels — the bound plus
//! the few levels eventscope wraps around a payload itself — and handle anything below as one
//! value. Since no deeper value can be built, dropping, cloning, comparing or printing one (all
//! recursive in serde_json) stays shallow too.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

/// The identifier of a stream (one aggregate), always shown and compared as text.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub String);

impl StreamId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The category of a stream id: the part before the first `-`, or the whole id.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(self.0.as_str(), |(c, _)| c)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for StreamId {
    fn from(s: &str) -> Self {
        StreamId(s.to_owned())
    }
}

/// An event's position inside its stream, in the store's own numbering.
pub type Version = i64;

/// An event's place in the store's global order.
pub type Position = i64;

/// A payload (or metadata) as read from the store.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// Decoded JSON.
    Json(Value),
    /// Bytes that could not be decoded, kept as they are, with the reason.
    Undecodable { bytes: Vec<u8>, reason: String },
}

impl Payload {
    /// Decodes bytes read from a store: UTF-8 text holding JSON, or else kept raw with the reason.
    pub fn decode(bytes: Vec<u8>) -> Payload {
        let text = match std::str::from_utf8(&bytes) {
            Ok(text) => text,
            Err(e) => {
                let reason = format!("not UTF-8 text (invalid byte at offset {})", e.valid_up_to());
                return Payload::Undecodable { bytes, reason };
            }
        };
        match parse_json(text) {
            Ok(value) => Payload::Json(value),
            Err(reason) => Payload::Undecodable { reason, bytes },
        }
    }

    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            Payload::Undecodable { .. } => None,
        }
    }

    /// The payload as JSON for output: decoded JSON as is, undecodable bytes as
    /// `{"undecodable": {"reason", "bytes_base64"}}`.
    pub fn to_output_json(&self) -> Value {
        match self {
            Payload::Json(v) => v.clone(),
            Payload::Undecodable { bytes, reason } => {
                use base64::Engine as _;
                json!({"undecodable": {
                    "reason": reason,
                    "bytes_base64": base64::engine::general_purpose::STANDARD.encode(bytes),
                }})
            }
        }
    }
}

/// A payload (or metadata) as an event holds it: decoded the first time it is looked at (it
/// dereferences to its [`Payload`]). Reading a page costs no parsing of what nobody reads — the
/// metadata `state` never shows, the payloads of a page the command line only counts — and a
/// value once decoded is kept. Through `&mut` (or [`StoredPayload::settle`]) the stored bytes
/// are dropped once decoded, so an event held for a long time holds its value only.
pub struct StoredPayload {
    /// The bytes as stored (JSON or another format the layout does not encode), until settled.
    bytes: Option<Box<[u8]>>,
    decoded: std::sync::OnceLock<Payload>,
}

impl StoredPayload {
    /// Bytes to decode when first looked at, as a layout that encodes nothing reads them
    /// ([`crate::store::decode::decode_bytes`] with `Codec::Auto`: zlib, then the format).
    pub fn undecoded(bytes: Vec<u8>) -> StoredPayload {
        StoredPayload { bytes: Some(bytes.into_boxed_slice()), decoded: std::sync::OnceLock::new() }
    }

    /// Whether the bytes have been decoded yet.
    pub fn is_decoded(&self) -> bool {
        self.decoded.get().is_some()
    }

    /// The stored text, while not decoded, where it is JSON on one line — what decoding would
    /// read as that same JSON value (within the depth bound; a text with a line break, a byte-
    /// order mark or in another format is left to decoding).
    pub fn undecoded_json(&self) -> Option<&serde_json::value::RawValue> {
        let bytes = self.bytes.as_deref().filter(|_| !self.is_decoded())?;
        let text = std::str::from_utf8(bytes).ok()?.trim_matches([' ', '\t']);
        if !reads_as_decoding_would(text) {
            return None;
        }
        serde_json::from_str::<&serde_json::value::RawValue>(text).ok()
    }

    /// Decodes now, if not yet, and drops the stored bytes.
    pub fn settle(&mut self) {
        let bytes = self.bytes.take();
        self.decoded.get_or_init(|| decode_stored(bytes.unwrap_or_default().into_vec()));
    }

    /// The decoded payload, decoding it now if not yet.
    pub fn into_payload(self) -> Payload {
        let bytes = self.bytes;
        self.decoded.into_inner().unwrap_or_else(|| decode_stored(bytes.unwrap_or_default().into_vec()))
    }
}

/// Whether text that checks as JSON would decode to that same JSON, on one line: checking text
/// as JSON neither bounds its nesting, nor looks at what an escape stands for, nor minds a key
/// given twice, while decoding refuses nesting past [`MAX_DEPTH`] and a lone surrogate
/// (`\uD800`–`\uDFFF`; pairs are left to decoding too) and keeps a repeated key's last value.
/// One pass over the bytes; an object with many keys, or a key with an escape, is left to
/// decoding rather than compared at length.
fn reads_as_decoding_would(text: &str) -> bool {
    /// Keys compared within one object, at most.
    const MAX_KEYS: usize = 64;
    let bytes = text.as_bytes();
    // The open arrays and objects, innermost last; for an object, the keys seen in it.
    let mut open: Vec<Option<Vec<&[u8]>>> = Vec::new();
    let (mut string_start, mut i) = (None::<usize>, 0usize);
    while let Some(&b) = bytes.get(i) {
        match (string_start, b) {
            (_, b'\n' | b'\r') => return false,
            (Some(_), b'\\') => {
                let escape = bytes.get(i + 1..i + 4);
                if matches!(escape, Some([b'u', b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F'])) {
                    return false;
                }
                i += 1;
            }
            (None, b'"') => string_start = Some(i + 1),
            (Some(start), b'"') => {
                string_start = None;
                let rest = bytes[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
                if let (Some(b':'), Some(Some(keys))) = (rest, open.last_mut()) {
                    let key = &bytes[start..i];
                    if key.contains(&b'\\') || keys.len() >= MAX_KEYS || keys.contains(&key) {
                        return false;
                    }
                    keys.push(key);
                }
            }
            (None, b'{' | b'[') => {
                open.push((b == b'{').then(Vec::new));
                if open.len() > MAX_DEPTH {
                    return false;
                }
            }
            (None, b'}' | b']') => {
                open.pop();
            }
            _ => {}
        }
        i += 1;
    }
    true
}

fn decode_stored(bytes: Vec<u8>) -> Payload {
    crate::store::decode::decode_bytes(bytes, crate::store::layout::Codec::Auto, None)
}

impl From<Payload> for StoredPayload {
    fn from(payload: Payload) -> StoredPayload {
        StoredPayload { bytes: None, decoded: std::sync::OnceLock::from(payload) }
    }
}

impl std::ops::Deref for StoredPayload {
    type Target = Payload;
    fn deref(&self) -> &Payload {
        self.decoded.get_or_init(|| decode_stored(self.bytes.as_deref().unwrap_or_default().to_vec()))
    }
}

impl std::ops::DerefMut for StoredPayload {
    fn deref_mut(&mut self) -> &mut Payload {
        self.settle();
        self.decoded.get_mut().expect("settle decodes")
    }
}

impl Clone for StoredPayload {
    /// A decoded payload is copied as its value; one not yet decoded, as its bytes.
    fn clone(&self) -> StoredPayload {
        match self.decoded.get() {
            Some(payload) => payload.clone().into(),
            None => StoredPayload { bytes: self.bytes.clone(), decoded: std::sync::OnceLock::new() },
        }
    }
}

impl std::fmt::Debug for StoredPayload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl PartialEq for StoredPayload {
    fn eq(&self, other: &StoredPayload) -> bool {
        **self == **other
    }
}

/// The deepest nesting of arrays and objects eventscope reads (see the module docs).
pub const MAX_DEPTH: usize = 127;

/// How deep the recursive walks of values go: [`MAX_DEPTH`] and the levels eventscope adds
/// around a payload itself (an event's `data`, a projection's `state` or `partitions` and key,
/// `would_emit.last[i].emit.data`, the merge fold's event type).
pub const WALK_DEPTH: usize = MAX_DEPTH + 8;

/// The reason given for a value nested past [`MAX_DEPTH`]; `what` names it ("JSON", "a YAML
/// document", "the state").
pub fn too_deep(what: &str) -> String {
    format!("{what} nests deeper than {MAX_DEPTH} levels of arrays and objects, eventscope's limit")
}

/// Parses JSON text, or says why not in words: where the syntax breaks, or that it nests
/// deeper than [`MAX_DEPTH`] (serde_json stops there itself, without recursing further).
pub fn parse_json(text: &str) -> Result<Value, String> {
    serde_json::from_str::<Value>(text).map_err(|e| {
        let kind = json_error_kind(&e);
        if kind == "recursion limit exceeded" {
            too_deep("the JSON")
        } else {
            format!("not valid JSON: {kind} (line {}, column {})", e.line(), e.column())
        }
    })
}

/// Whether a value nests more than `limit` levels of arrays and objects. Iterative, and it
/// stops at the first path past the limit.
pub fn nests_deeper_than(value: &Value, limit: usize) -> bool {
    enum Children<'a> {
        Array(std::slice::Iter<'a, Value>),
        Object(serde_json::map::Values<'a>),
    }
    fn children(value: &Value) -> Option<Children<'_>> {
        match value {
            Value::Array(items) => Some(Children::Array(items.iter())),
            Value::Object(map) => Some(Children::Object(map.values())),
            _ => None,
        }
    }
    let mut stack: Vec<Children<'_>> = Vec::new();
    if let Some(root) = children(value) {
        stack.push(root);
    }
    loop {
        if stack.len() > limit {
            return true;
        }
        let Some(top) = stack.last_mut() else {
            return false;
        };
        let next = match top {
            Children::Array(items) => items.next(),
            Children::Object(values) => values.next(),
        };
        match next {
            Some(child) => {
                if let Some(grandchildren) = children(child) {
                    stack.push(grandchildren);
                }
            }
            None => {
                stack.pop();
            }
        }
    }
}

fn json_error_kind(e: &serde_json::Error) -> String {
    // serde_json's Display appends " at line L column C"; keep only the description.
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// One event of one stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub stream: StreamId,
    pub version: Version,
    pub position: Option<Position>,
    pub event_type: String,
    pub payload: StoredPayload,
    pub metadata: Option<StoredPayload>,
    pub recorded_at: Option<DateTime<Utc>>,
    /// The aggregate type, where the layout has one.
    pub aggregate_type: Option<String>,
    /// The store marks the event archived (it stays listed, marked as such).
    pub archived: bool,
    /// What is odd about how the store holds this event (it is listed all the same).
    pub anomalies: Vec<RowAnomaly>,
}

/// Something odd about how the store holds one event. The event is still listed and shown, with
/// this said next to it, so that no row of a store is ever silently dropped or misread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RowAnomaly {
    /// The version column is NULL (the event is shown as version 0).
    NoVersion,
    /// The version column holds something that is not a whole number: the value as stored.
    UnreadableVersion(String),
    /// The stream id is NULL (the stream is listed as ``).
    NoStreamId,
    /// The stream id is bytes that are not UTF-8 text (shown with `\xHH` escapes).
    StreamIdNotText,
    /// The event type is bytes that are not UTF-8 text (shown with `\xHH` escapes).
    EventTypeNotText,
    /// The time column holds something that is not a time: the value as stored.
    UnreadableTime(String),
}

impl Event {
    /// Whether the store holds a readable version for this event (a NULL or unreadable one is
    /// shown as a number but takes no part in the gap and duplicate checks).
    pub fn has_version(&self) -> bool {
        !self.anomalies.iter().any(|a| matches!(a, RowAnomaly::NoVersion | RowAnomaly::UnreadableVersion(_)))
    }

    /// Decodes the payload and metadata now, if not yet, keeping only the values (see
    /// [`StoredPayload`]): for events that are kept and looked at, such as those the window holds.
    pub fn settle(&mut self) {
        self.payload.settle();
        if let Some(metadata) = &mut self.metadata {
            metadata.settle();
        }
    }
}

impl fmt::Display for RowAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowAnomaly::NoVersion => f.write_str("the version is NULL in the store (shown as 0)"),
            RowAnomaly::UnreadableVersion(v) => {
                write!(f, "the version `{v}` is not a whole number (shown as the number it sorts as)")
            }
            RowAnomaly::NoStreamId => f.write_str("the stream id is NULL in the store"),
            RowAnomaly::StreamIdNotText => {
                f.write_str("the stream id is not UTF-8 text (its bytes that are not are shown as \\xHH)")
            }
            RowAnomaly::EventTypeNotText => {
                f.write_str("the event type is not UTF-8 text (its bytes that are not are shown as \\xHH)")
            }
            RowAnomaly::UnreadableTime(t) => write!(f, "the recorded time `{t}` is not a time"),
        }
    }
}

/// Bytes as text that keeps them all: UTF-8 runs as they are, every other byte as `\xHH`. Ids
/// and names read this way can be asked for again ([`unescape_bytes`]).
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        for b in chunk.invalid() {
            text.push_str(&format!("\\x{b:02x}"));
        }
    }
    text
}

/// The bytes behind [`escape_bytes`]'s text, when it holds an escape that stands for a byte
/// that is not UTF-8 (`None` for plain text).
pub fn unescape_bytes(text: &str) -> Option<Vec<u8>> {
    if !text.contains("\\x") {
        return None;
    }
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    let mut escaped = false;
    while !rest.is_empty() {
        let hex = rest.strip_prefix(b"\\x").and_then(|h| h.get(..2)).and_then(|h| std::str::from_utf8(h).ok());
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(b) if b >= 0x80 => {
                bytes.push(b);
                rest = &rest[4..];
                escaped = true;
            }
            _ => {
                bytes.push(rest[0]);
                rest = &rest[1..];
            }
        }
    }
    escaped.then_some(bytes)
}

impl Event {
    /// The stream's category: the layout's aggregate type, or the stream id before the first `-`.
    pub fn category(&self) -> &str {
        self.aggregate_type.as_deref().unwrap_or_else(|| self.stream.category())
    }

    /// A metadata field as text (actor, correlation_id, ...), when the metadata is a JSON object.
    pub fn metadata_str(&self, key: &str) -> Option<&str> {
        match self.metadata.as_deref() {
            Some(Payload::Json(Value::Object(map))) => map.get(key).and_then(Value::as_str),
            _ => None,
        }
    }

    /// The actor named in the metadata (`actor`, `user_id` or `user`), if any.
    pub fn actor(&self) -> Option<&str> {
        ["actor", "user_id", "user"].iter().find_map(|key| self.metadata_str(key))
    }

    /// The event as the JSON object the command line prints.
    pub fn to_output_json(&self) -> Value {
        serde_json::to_value(self.output()).unwrap_or(Value::Null)
    }

    /// The event as the command line prints it, borrowing the payloads: serialized straight
    /// to a writer (an export), nothing is copied.
    pub fn output(&self) -> OutputEvent<'_> {
        OutputEvent {
            stream: &self.stream.0,
            version: self.version,
            position: self.position,
            event_type: &self.event_type,
            payload: OutputPayload(&self.payload),
            metadata: self.metadata.as_ref().map(OutputPayload),
            recorded_at: self.recorded_at.map(format_time),
            archived: self.archived,
            anomalies: self.anomalies.iter().map(ToString::to_string).collect(),
        }
    }
}

/// An event as the command line prints it (see [`Event::output`]).
#[derive(serde::Serialize)]
pub struct OutputEvent<'a> {
    stream: &'a str,
    version: Version,
    position: Option<Position>,
    event_type: &'a str,
    payload: OutputPayload<'a>,
    metadata: Option<OutputPayload<'a>>,
    recorded_at: Option<String>,
    archived: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    anomalies: Vec<String>,
}

/// A payload as the command line prints it: the JSON itself, or why it could not be decoded
/// with its bytes. JSON text not yet decoded is written as it is stored, once checked to be
/// JSON on one line (an export writes a log's payloads without building a value of any).
pub struct OutputPayload<'a>(&'a StoredPayload);

impl serde::Serialize for OutputPayload<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Some(raw) = self.0.undecoded_json() {
            return raw.serialize(serializer);
        }
        match &**self.0 {
            Payload::Json(value) => value.serialize(serializer),
            undecodable => undecodable.to_output_json().serialize(serializer),
        }
    }
}

/// RFC 3339 with milliseconds and a `Z`, the one time format eventscope prints.
pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// One line of the streams list.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    pub stream: StreamId,
    pub events: i64,
    /// `events` is a lower bound: a long stream, read from its index, was counted only to
    /// [`crate::store::query::STREAM_COUNT_CAP`] + 1 (its versions say how far it goes).
    pub events_at_least: bool,
    pub first_version: Version,
    pub last_version: Version,
    pub last_recorded_at: Option<DateTime<Utc>>,
}

impl StreamSummary {
    /// How many events the stream is taken to hold where a number is needed (a progress bar):
    /// its count, or past a count stopped at the cap, its version span when that is larger.
    pub fn events_expected(&self) -> i64 {
        if self.events_at_least {
            self.events.max(self.last_version.saturating_sub(self.first_version).saturating_add(1))
        } else {
            self.events
        }
    }

    pub fn to_output_json(&self) -> Value {
        json!({
            "stream": self.stream.0,
            "events": self.events,
            "events_at_least": self.events_at_least,
            "first_version": self.first_version,
            "last_version": self.last_version,
            "last_recorded_at": self.last_recorded_at.map(format_time),
        })
    }
}

/// Something wrong with a stream's numbering, reported rather than hidden.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VersionAnomaly {
    /// Versions strictly between `after` and `before` are missing.
    Gap { after: Version, before: Version },
    /// `version` occurs `count` times.
    Duplicate { version: Version, count: usize },
}

impl fmt::Display for VersionAnomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionAnomaly::Gap { after, before } if before - after == 2 => {
                write!(f, "version {} is missing", after + 1)
            }
            VersionAnomaly::Gap { after, before } => {
                write!(f, "versions {} to {} are missing", after + 1, before - 1)
            }
            VersionAnomaly::Duplicate { version, count } => {
                write!(f, "version {version} occurs {count} times")
            }
        }
    }
}

/// Scans versions in stream order and reports gaps and duplicates. Feed it the versions of one
/// stream page by page; it remembers the last version seen.
#[derive(Clone, Debug, Default)]
pub struct VersionChecker {
    last: Option<Version>,
    run: usize,
    pub anomalies: Vec<VersionAnomaly>,
}

impl VersionChecker {
    pub fn push(&mut self, version: Version) {
        match self.last {
            Some(last) if version == last => {
                self.run += 1;
                if self.run == 2 {
                    self.anomalies.push(VersionAnomaly::Duplicate { version, count: 2 });
                } else if let Some(VersionAnomaly::Duplicate { count, .. }) = self.anomalies.last_mut() {
                    *count = self.run;
                }
            }
            Some(last) => {
                if last.checked_add(1).is_some_and(|next| version > next) {
                    self.anomalies.push(VersionAnomaly::Gap { after: last, before: version });
                }
                self.run = 1;
            }
            None => self.run = 1,
        }
        self.last = Some(version);
    }
}

/// The gaps and duplicates of a stream's versions (given in stream order).
pub fn version_anomalies(versions: impl IntoIterator<Item = Version>) -> Vec<VersionAnomaly> {
    let mut checker = VersionChecker::default();
    versions.into_iter().for_each(|v| checker.push(v));
    checker.anomalies
}

/// The largest script, SQL or layout file eventscope reads.
pub const MAX_USER_FILE: u64 = 16 << 20;

/// Reads a text file the user names (a fold, a projection, SQL, a layout): only a regular file
/// (a named pipe or a device would block or never end), at most [`MAX_USER_FILE`] bytes, UTF-8
/// (a leading byte-order mark dropped).
/// The error says, in words, what is wrong with `path`.
pub fn read_user_file(path: &std::path::Path) -> Result<String, String> {
    let shown = path.display();
    let metadata = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("there is no file at {shown}"),
        _ => format!("cannot read {shown}: {e}"),
    })?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a regular file (a directory, named pipe, socket or device)"));
    }
    if metadata.len() > MAX_USER_FILE {
        return Err(format!(
            "{shown} is {} MB: eventscope reads files of at most {} MB here",
            metadata.len() >> 20,
            MAX_USER_FILE >> 20
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| format!("{shown} is not UTF-8 text (byte {})", e.utf8_error().valid_up_to()))?;
    // (A byte-order mark some editors write first is not part of the text: PostgreSQL would
    // read it as part of the first word, and show it as nothing.)
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

#[cfg(test)]
impl Event {
    /// An event of `stream` with a JSON payload and nothing else (tests set other fields with
    /// `..`).
    pub fn with_json(stream: &str, version: i64, event_type: &str, data: serde_json::Value) -> Event {
        Event {
            stream: StreamId::from(stream),
            version,
            position: None,
            event_type: event_type.into(),
            payload: Payload::Json(data).into(),
            metadata: None,
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        }
    }
}

/// What [`write_user_file`] does with a file that already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it (a command line without `--force`).
    Keep,
    /// Write over it: the user said so (`--force`, or a save dialog that asked).
    Replace,
}

/// Writes a text file the user names (an export: a fixture, a schema). Never over a SQLite
/// database — a store, perhaps the one being explored — nor over anything that is not a regular
/// file, nor over any existing file unless told; the error says so in words.
pub fn write_user_file(path: &std::path::Path, text: &str, existing: Existing) -> Result<(), String> {
    use std::io::Read as _;
    let shown = path.display();
    if let Ok(metadata) = std::fs::metadata(path) {
        if existing == Existing::Keep {
            return Err(refusal_to_replace(path));
        }
        if !metadata.is_file() {
            return Err(format!("{shown} is not a regular file (a directory, named pipe or device): choose a file"));
        }
        let mut head = [0u8; 16];
        let is_sqlite = std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok_and(|()| &head == b"SQLite format 3\0");
        if is_sqlite {
            return Err(format!(
                "{shown} is a SQLite database (a store?): eventscope never writes over one; choose another file"
            ));
        }
    }
    std::fs::write(path, text).map_err(|e| format!("cannot write {shown}: {e}"))
}

/// Why an existing file is not written over (see [`Existing::Keep`]).
pub fn refusal_to_replace(path: &std::path::Path) -> String {
    format!("{} exists: eventscope does not replace a file unless told (--force); choose another name", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_never_writes_over_a_sqlite_database_nor_unasked_over_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("store.db");
        std::fs::write(&store, b"SQLite format 3\0rest of the file").unwrap();
        for existing in [Existing::Keep, Existing::Replace] {
            assert!(
                write_user_file(&store, "{}", existing).unwrap_err().contains("never writes over")
                    || existing == Existing::Keep
            );
        }
        assert_eq!(std::fs::read(&store).unwrap(), b"SQLite format 3\0rest of the file");
        assert!(write_user_file(dir.path(), "{}", Existing::Replace).unwrap_err().contains("not a regular file"));
        let text = dir.path().join("fixture.json");
        write_user_file(&text, "1", Existing::Keep).unwrap();
        assert!(
            write_user_file(&text, "2", Existing::Keep).unwrap_err().contains("--force"),
            "an existing file is kept"
        );
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "1");
        write_user_file(&text, "2", Existing::Replace).unwrap();
        assert_eq!(std::fs::read_to_string(&text).unwrap(), "2");
    }

    #[test]
    fn a_stored_payload_is_decoded_when_first_looked_at_and_settles_to_its_value() {
        let mut stored = StoredPayload::undecoded(br#"{"b": 1, "a": [2]}"#.to_vec());
        assert!(!stored.is_decoded());
        let copy = stored.clone();
        assert_eq!(stored.as_json(), Some(&json!({"b": 1, "a": [2]})));
        assert!(stored.is_decoded() && !copy.is_decoded(), "a copy made before keeps its bytes");
        assert_eq!(stored, copy, "compared by value");
        stored.settle();
        assert!(stored.bytes.is_none(), "settled: the value only");
        let bad = StoredPayload::undecoded(b"{\"a\":".to_vec());
        assert!(matches!(&*bad, Payload::Undecodable { bytes, .. } if bytes == b"{\"a\":"));
        assert!(matches!(bad.into_payload(), Payload::Undecodable { reason, .. } if reason.contains("not valid JSON")));
        // Written as stored while not decoded: JSON on one line, and nothing else.
        let written = |bytes: &[u8]| {
            let stored = StoredPayload::undecoded(bytes.to_vec());
            let text = serde_json::to_string(&OutputPayload(&stored)).unwrap();
            let decoded = serde_json::to_value(stored.into_payload().to_output_json()).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), decoded, "{text}");
            text
        };
        assert_eq!(written(br#" {"b": 1e400, "a": "\u00e9"} "#), r#"{"b": 1e400, "a": "\u00e9"}"#);
        assert!(written(b"{\n\"a\": 1}").starts_with(r#"{"a":1"#), "a line break: decoded");
        assert!(written(br#"{"a": "\ud800"}"#).contains("undecodable"), "a lone surrogate: decoded, refused");
        assert!(written(br#"{"a": "\uD83D\uDE00"}"#).contains('\u{1F600}'), "a pair: decoded");
        assert!(written(b"{\"a\":").contains("undecodable"));
        let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels)).into_bytes();
        assert_eq!(written(&nested(MAX_DEPTH)).len(), 2 * MAX_DEPTH, "as deep as decoding reads: as stored");
        assert!(written(&nested(MAX_DEPTH + 1)).contains("nests deeper"), "deeper: decoded, refused");
        assert!(written(br#"["[[", "\\", "\"{"]"#).starts_with(r#"["[[""#), "brackets in strings are text");
        // A key given twice: decoded, its last value kept (as before), in any object.
        assert_eq!(written(br#"{"a": 1, "b": 0, "a": 2}"#), r#"{"a":2,"b":0}"#);
        assert_eq!(written(br#"[{"x": {"a": 1, "a" : 2}}]"#), r#"[{"x":{"a":2}}]"#);
        assert!(written(br#"{"a": 1, "\u0061": 2}"#).starts_with(r#"{"a":2"#), "an escaped key: decoded");
        assert_eq!(written(br#"{"a": {"a": 1}, "b": ["a", "a"]}"#), r#"{"a": {"a": 1}, "b": ["a", "a"]}"#);
        assert!(written(b"\xef\xbb\xbf{\"a\": 1}").starts_with(r#"{"a":1"#), "a byte-order mark: decoded");
        let mut edited = StoredPayload::undecoded(br#"{"a": 1}"#.to_vec());
        if let Payload::Json(value) = &mut *edited {
            value["a"] = json!(2);
        }
        assert_eq!(edited.into_payload(), Payload::Json(json!({"a": 2})));
    }

    #[test]
    fn payload_decoding_keeps_bad_bytes_with_a_reason() {
        assert_eq!(Payload::decode(br#"{"a":1}"#.to_vec()), Payload::Json(json!({"a": 1})));
        match Payload::decode(b"{\"a\":".to_vec()) {
            Payload::Undecodable { bytes, reason } => {
                assert_eq!(bytes, b"{\"a\":");
                assert!(reason.starts_with("not valid JSON"), "{reason}");
                assert!(reason.contains("line 1"), "{reason}");
            }
            other => panic!("expected undecodable, got {other:?}"),
        }
        match Payload::decode(vec![0x7b, 0xff, 0xfe]) {
            Payload::Undecodable { reason, .. } => {
                assert_eq!(reason, "not UTF-8 text (invalid byte at offset 1)")
            }
            other => panic!("expected undecodable, got {other:?}"),
        }
    }

    #[test]
    fn undecodable_payload_prints_as_base64_with_reason() {
        let p = Payload::Undecodable { bytes: vec![0xff, 0x00], reason: "r".into() };
        assert_eq!(p.to_output_json(), json!({"undecodable": {"reason": "r", "bytes_base64": "/wA="}}));
    }

    #[test]
    fn anomalies_table() {
        let cases: Vec<(Vec<Version>, Vec<VersionAnomaly>)> = vec![
            (vec![1, 2, 3], vec![]),
            (vec![], vec![]),
            (vec![1, 3], vec![VersionAnomaly::Gap { after: 1, before: 3 }]),
            (vec![1, 2, 2, 2, 3], vec![VersionAnomaly::Duplicate { version: 2, count: 3 }]),
            (
                vec![0, 1, 5, 5, 6],
                vec![VersionAnomaly::Gap { after: 1, before: 5 }, VersionAnomaly::Duplicate { version: 5, count: 2 }],
            ),
        ];
        for (versions, expected) in cases {
            assert_eq!(version_anomalies(versions.clone()), expected, "{versions:?}");
        }
        assert_eq!(VersionAnomaly::Gap { after: 1, before: 3 }.to_string(), "version 2 is missing");
        assert_eq!(VersionAnomaly::Gap { after: 1, before: 5 }.to_string(), "versions 2 to 4 are missing");
    }

    #[test]
    fn category_is_the_part_before_the_first_dash() {
        assert_eq!(StreamId::from("order-42-x").category(), "order");
        assert_eq!(StreamId::from("plain").category(), "plain");
    }
}
