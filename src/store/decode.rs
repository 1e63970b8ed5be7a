//! Decoding rows into events: payload bytes become JSON where they can — JSON itself, zlib-
//! compressed or AES-GCM-encrypted JSON (Python eventsourcing), MessagePack, YAML — and
//! otherwise stay raw with the format named (XML, Erlang terms, Protocol Buffers) or the reason.
//! Library conventions are undone here: eventsourcing's topics and wrapped values, cqrs-es's
//! externally tagged enums.
//!
//! Every decoder is bounded, so that a hostile store cannot crash or exhaust the explorer: a
//! payload nesting deeper than [`MAX_DEPTH`] levels (127, serde_json's own bound; see
//! [`crate::model`]) is undecodable with that reason, whatever its format. JSON stops there in
//! serde_json's parser, MessagePack in rmp-serde's depth counter, and YAML in eventscope's own
//! loader over yaml-rust2's event parser, which also bounds what anchors and
//! aliases may copy ([`MAX_YAML_COPIES`]): yaml-rust2's `YamlLoader` copies an alias's node for
//! every use, so a kilobyte of nested aliases would stand for billions of nodes. Nothing is
//! built past a bound, so no deep value is ever dropped either.

use std::collections::HashMap;

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce};
use serde_json::{Map, Value};

use super::cell::{Cell, parse_time};
use super::layout::{Codec, Layout};
use crate::model::{Event, MAX_DEPTH, Payload, RowAnomaly, StoredPayload, StreamId, WALK_DEPTH, parse_json, too_deep};

/// Builds an event from the cells of `query::event_columns`, decoding what the layout encodes.
pub fn event_from_row(layout: &Layout, row: Vec<Cell>, cipher_key: Option<&[u8]>) -> Event {
    let mut cells = row.into_iter();
    let mut take = || cells.next().unwrap_or(Cell::Null);
    let (stream, version, event_type, payload, metadata, time, position, aggregate_type, archived) =
        (take(), take(), take(), take(), take(), take(), take(), take(), take());
    let extra: Vec<(String, Cell)> = layout.columns.metadata_columns.iter().map(|(k, _)| (k.clone(), take())).collect();
    let mut anomalies = Vec::new();
    match &stream {
        Cell::Null => anomalies.push(RowAnomaly::NoStreamId),
        Cell::InvalidText(_) => anomalies.push(RowAnomaly::StreamIdNotText),
        Cell::Bytes(b) if std::str::from_utf8(b).is_err() => anomalies.push(RowAnomaly::StreamIdNotText),
        _ => {}
    }
    let version = match version {
        Cell::Int(v) => v,
        Cell::Null => {
            anomalies.push(RowAnomaly::NoVersion);
            0
        }
        other => {
            let whole = match &other {
                // (At most 18 digits, as PostgreSQL's guarded cast reads them: `query::int_expr`.)
                Cell::Text(t) if t.trim().trim_start_matches(['+', '-']).len() <= 18 => t.trim().parse::<i64>().ok(),
                Cell::Float(f) if f.fract() == 0.0 && f.abs() < 9e18 => Some(*f as i64),
                _ => None,
            };
            whole.unwrap_or_else(|| {
                anomalies.push(RowAnomaly::UnreadableVersion(other.to_id_text()));
                sqlite_integer(&other)
            })
        }
    };
    if matches!(event_type, Cell::InvalidText(_)) {
        anomalies.push(RowAnomaly::EventTypeNotText);
    }
    let recorded_at = time.as_time();
    if recorded_at.is_none() && time != Cell::Null {
        anomalies.push(RowAnomaly::UnreadableTime(time.to_id_text()));
    }
    let mut event = Event {
        stream: StreamId(stream.into_id_text()),
        version,
        position: position.as_i64(),
        event_type: event_type.into_id_text(),
        payload: match payload.into_bytes() {
            Some(bytes) => stored(bytes, layout.codec, cipher_key),
            None => Payload::Undecodable { bytes: Vec::new(), reason: "the payload is NULL".to_owned() }.into(),
        },
        metadata: metadata.into_bytes().map(|b| stored(b, layout.codec, cipher_key)),
        recorded_at,
        aggregate_type: aggregate_type.as_text(),
        archived: archived.as_i64().is_some_and(|a| a != 0),
        anomalies,
    };
    merge_metadata_columns(&mut event, extra);
    match layout.codec {
        Codec::Eventsourcing => undo_eventsourcing(&mut event),
        Codec::TaggedEnum => event.payload = untag(event.payload.into_payload()).into(),
        Codec::Auto => {}
    }
    event
}

/// A payload as an event holds it: where the layout encodes nothing (no library's wrapping,
/// no cipher), the bytes are kept and decoded when first looked at; otherwise decoded now.
fn stored(bytes: Vec<u8>, codec: Codec, cipher_key: Option<&[u8]>) -> StoredPayload {
    match codec {
        Codec::Auto => StoredPayload::undecoded(bytes),
        Codec::Eventsourcing | Codec::TaggedEnum => decode_bytes(bytes, codec, cipher_key).into(),
    }
}

/// The number a value that is not a whole number sorts as (SQLite's `CAST(x AS INTEGER)`: a
/// real truncated, the leading digits of a text, else 0), so that the version shown is the one
/// the event is ordered by.
fn sqlite_integer(value: &Cell) -> i64 {
    match value {
        Cell::Float(f) if f.is_finite() => *f as i64,
        Cell::Text(t) => {
            let t = t.trim_start();
            let sign_len = usize::from(t.starts_with(['+', '-']));
            let digits = t[sign_len..].bytes().take_while(u8::is_ascii_digit).count();
            t[..sign_len + digits].parse().unwrap_or(0)
        }
        _ => 0,
    }
}

/// Adds the layout's metadata columns (correlation id, causation id, ...) to the metadata.
fn merge_metadata_columns(event: &mut Event, extra: Vec<(String, Cell)>) {
    let present: Vec<(String, Value)> = extra
        .into_iter()
        .filter(|(_, c)| *c != Cell::Null)
        .map(|(k, c)| {
            let v = match c.as_text() {
                Some(t) if t.starts_with(['{', '[']) => serde_json::from_str(&t).unwrap_or(Value::String(t)),
                Some(t) => Value::String(t),
                None => Value::Null,
            };
            (k, v)
        })
        .collect();
    if present.is_empty() {
        return;
    }
    let mut map = match event.metadata.take().map(StoredPayload::into_payload) {
        Some(Payload::Json(Value::Object(map))) => map,
        Some(Payload::Json(other)) => Map::from_iter([("metadata".to_owned(), other)]),
        Some(undecodable) => Map::from_iter([("metadata".to_owned(), undecodable.to_output_json())]),
        None => Map::new(),
    };
    for (k, v) in present {
        map.entry(k).or_insert(v);
    }
    event.metadata = Some(Payload::Json(Value::Object(map)).into());
}

/// Decodes stored bytes: decrypts and decompresses where the codec says, then reads the format.
pub fn decode_bytes(bytes: Vec<u8>, codec: Codec, cipher_key: Option<&[u8]>) -> Payload {
    let mut bytes = bytes;
    // With a key, decryption is tried first: the nonce that starts a ciphertext is random and may
    // look like plain text, while GCM's tag makes a false success impossible.
    if codec == Codec::Eventsourcing {
        match cipher_key.map(|key| decrypt(&bytes, key)) {
            Some(Ok(plain)) => bytes = plain,
            Some(Err(reason)) if !looks_plain(&bytes) => return Payload::Undecodable { bytes, reason },
            None if !looks_plain(&bytes) => {
                return Payload::Undecodable {
                    bytes,
                    reason: "encrypted (AES-GCM, as eventsourcing's cipher writes it): give the cipher key to read it"
                        .to_owned(),
                };
            }
            _ => {}
        }
    }
    if is_zlib(&bytes) {
        match inflate(&bytes) {
            Ok(plain) => bytes = plain,
            Err(reason) => return Payload::Undecodable { bytes, reason },
        }
    }
    decode_format(bytes)
}

/// Decodes a stored snapshot: eventsourcing keeps the aggregate's state under `state`, with
/// wrapped values; others store the state itself.
pub fn decode_snapshot(bytes: Vec<u8>, codec: Codec, cipher_key: Option<&[u8]>) -> Payload {
    match decode_bytes(bytes, codec, cipher_key) {
        Payload::Json(mut value) if codec == Codec::Eventsourcing => {
            unwrap_values(&mut value);
            let mut state = match value.get_mut("state") {
                Some(state) => state.take(),
                None => value,
            };
            if let Value::Object(fields) = &mut state {
                fields.retain(|key, _| !EVENTSOURCING_SNAPSHOT_BOOKKEEPING.contains(&key.as_str()));
            }
            Payload::Json(state)
        }
        other => other,
    }
}

/// Whether bytes are plainly readable already (JSON text or zlib), not ciphertext.
fn looks_plain(bytes: &[u8]) -> bool {
    is_zlib(bytes) || bytes.first().is_some_and(|b| matches!(b, b'{' | b'[' | b'"' | b' ' | b'\n'))
}

/// A zlib stream starts with CMF 0x78 and a header whose 16-bit value is a multiple of 31.
fn is_zlib(bytes: &[u8]) -> bool {
    bytes.len() > 2 && bytes[0] == 0x78 && (u16::from(bytes[0]) << 8 | u16::from(bytes[1])) % 31 == 0
}

fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| format!("looks zlib-compressed but does not inflate: {e}"))?;
    Ok(out)
}

/// eventsourcing's AES-GCM: a 12-byte nonce, the 16-byte tag, then the ciphertext.
pub fn decrypt(bytes: &[u8], key: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.len() < 28 {
        return Err("too short to be AES-GCM ciphertext (nonce and tag alone are 28 bytes)".to_owned());
    }
    let (nonce, rest) = bytes.split_at(12);
    let (tag, ciphertext) = rest.split_at(16);
    // The aead crates want ciphertext followed by the tag.
    let mut sealed = ciphertext.to_vec();
    sealed.extend_from_slice(tag);
    #[allow(deprecated)]
    let nonce = Nonce::from_slice(nonce);
    let result = match key.len() {
        16 => Aes128Gcm::new_from_slice(key).map_err(|e| e.to_string())?.decrypt(nonce, sealed.as_slice()),
        32 => Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?.decrypt(nonce, sealed.as_slice()),
        n => return Err(format!("the cipher key is {n} bytes; AES keys are 16 or 32 bytes")),
    };
    result.map_err(|_| "could not decrypt with the key given: the key is wrong, or the bytes were changed".to_owned())
}

/// Encrypts as eventsourcing does (for fixtures): nonce, tag, ciphertext.
pub fn encrypt(plain: &[u8], key: &[u8], nonce: [u8; 12]) -> Result<Vec<u8>, String> {
    #[allow(deprecated)]
    let n = Nonce::from_slice(&nonce);
    let sealed = match key.len() {
        16 => Aes128Gcm::new_from_slice(key).map_err(|e| e.to_string())?.encrypt(n, plain),
        32 => Aes256Gcm::new_from_slice(key).map_err(|e| e.to_string())?.encrypt(n, plain),
        k => return Err(format!("AES keys are 16 or 32 bytes, not {k}")),
    }
    .map_err(|e| e.to_string())?;
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    Ok([nonce.as_slice(), tag, ciphertext].concat())
}

/// Reads the bytes' format: JSON, YAML or MessagePack become JSON; XML, Erlang terms and
/// Protocol Buffers are named and kept raw; anything else is kept raw with the reason. Nesting
/// past [`MAX_DEPTH`], in any format, is kept raw with that reason.
pub fn decode_format(bytes: Vec<u8>) -> Payload {
    match std::str::from_utf8(&bytes) {
        Ok(text) => {
            let trimmed = text.trim_start_matches('\u{feff}').trim_start();
            let json_reason = match parse_json(trimmed) {
                Ok(value) => return Payload::Json(value),
                Err(reason) => reason,
            };
            if trimmed.starts_with('<') {
                return Payload::Undecodable {
                    reason: "an XML document (eventscope shows XML as it is)".to_owned(),
                    bytes,
                };
            }
            match yaml_to_json(trimmed) {
                Some(Ok(value)) => Payload::Json(value),
                Some(Err(reason)) => Payload::Undecodable { reason, bytes },
                None => Payload::Undecodable { reason: json_reason, bytes },
            }
        }
        Err(_) => {
            // MessagePack first: a map of three entries starts with the byte that marks Erlang's
            // terms, while an Erlang term never reads as MessagePack with text keys.
            match msgpack_to_json(&bytes) {
                Some(Ok(value)) => return Payload::Json(value),
                Some(Err(reason)) => return Payload::Undecodable { reason, bytes },
                None => {}
            }
            if bytes.first() == Some(&131) {
                return Payload::Undecodable { reason: "Erlang external term format (shown raw)".to_owned(), bytes };
            }
            if looks_like_protobuf(&bytes) {
                return Payload::Undecodable {
                    reason: "looks like Protocol Buffers: without its schema it is shown raw".to_owned(),
                    bytes,
                };
            }
            Payload::decode(bytes)
        }
    }
}

/// MessagePack holding a map or an array, every byte used: `None` when the bytes are not
/// that, an error when they nest past [`MAX_DEPTH`].
fn msgpack_to_json(bytes: &[u8]) -> Option<Result<Value, String>> {
    let mut cursor = std::io::Cursor::new(bytes);
    let mut deserializer = rmp_serde::Deserializer::new(&mut cursor);
    // rmp-serde counts containers down from this and fails when the count reaches zero.
    deserializer.set_max_depth(MAX_DEPTH + 1);
    match <Value as serde::Deserialize>::deserialize(&mut deserializer) {
        Ok(value) => {
            (cursor.position() == bytes.len() as u64 && (value.is_object() || value.is_array())).then_some(Ok(value))
        }
        Err(rmp_serde::decode::Error::DepthLimitExceeded) => Some(Err(too_deep("the MessagePack"))),
        Err(_) => None,
    }
}

/// A YAML document holding a mapping or a sequence: `None` when the text is not that, an error
/// when it passes a bound. Only text that announces itself as YAML (the `---` that YAML
/// serialisers such as Ruby's write first) is read: a line like `Order shipped: 1` is YAML too,
/// and reading it as such would hide why it is not JSON. Documents after the first are parsed
/// (a syntax error anywhere means the text is not YAML) but not built.
fn yaml_to_json(text: &str) -> Option<Result<Value, String>> {
    use yaml_rust2::parser::{Event, Parser};
    if !text.starts_with("---") {
        return None;
    }
    let mut parser = Parser::new_from_str(text);
    let mut builder = YamlBuilder::default();
    let mut root = None;
    loop {
        let event = match parser.next_token() {
            Ok((event, _)) => event,
            // yaml-rust2's scanner stops flow collections ([[[...) at 255 levels itself.
            Err(e) if e.info().contains("recursion limit") => return Some(Err(too_deep("the YAML document"))),
            Err(_) => return None,
        };
        match event {
            Event::StreamEnd => break,
            _ if root.is_some() => {}
            event => match builder.event(event) {
                Ok(Some(value)) => root = Some(value),
                Ok(None) => {}
                Err(reason) => return Some(Err(reason)),
            },
        }
    }
    root.filter(|root| root.is_object() || root.is_array()).map(Ok)
}

/// How much copying YAML's anchors and aliases may do in one document, in nodes (a string
/// counts one node more for every 64 bytes): an anchored node is copied once where it is
/// defined and once for every alias to it.
pub const MAX_YAML_COPIES: usize = 100_000;

/// Builds JSON from yaml-rust2's parser events, iteratively: at most [`MAX_DEPTH`] levels, and
/// at most [`MAX_YAML_COPIES`] copied for anchors and aliases.
#[derive(Default)]
struct YamlBuilder {
    /// The collections being read, outermost first.
    open: Vec<YamlFrame>,
    /// Anchor id → the finished node.
    anchors: HashMap<usize, YamlNode>,
    copied: usize,
}

/// One finished node: its value, its weight (nodes, and strings by the 64 bytes) and how many
/// levels of collections it nests.
#[derive(Clone)]
struct YamlNode {
    value: Value,
    weight: usize,
    levels: usize,
}

struct YamlFrame {
    collection: YamlCollection,
    anchor: usize,
    weight: usize,
    levels: usize,
}

enum YamlCollection {
    Sequence(Vec<Value>),
    /// The members so far, and a key waiting for its value.
    Mapping(Map<String, Value>, Option<String>),
}

impl YamlBuilder {
    /// Takes the next event; gives the document's root once it is complete.
    fn event(&mut self, event: yaml_rust2::parser::Event) -> Result<Option<Value>, String> {
        use yaml_rust2::parser::Event;
        let (node, anchor) = match event {
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if self.open.len() >= MAX_DEPTH {
                    return Err(too_deep("the YAML document"));
                }
                let collection = match event {
                    Event::SequenceStart(..) => YamlCollection::Sequence(Vec::new()),
                    _ => YamlCollection::Mapping(Map::new(), None),
                };
                self.open.push(YamlFrame { collection, anchor, weight: 1, levels: 1 });
                return Ok(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.open.pop() else {
                    return Ok(None);
                };
                let value = match frame.collection {
                    YamlCollection::Sequence(items) => Value::Array(items),
                    YamlCollection::Mapping(members, _) => Value::Object(members),
                };
                (YamlNode { value, weight: frame.weight, levels: frame.levels }, frame.anchor)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let weight = 1 + text.len() / 64;
                (YamlNode { value: yaml_scalar(text, style, tag), weight, levels: 0 }, anchor)
            }
            Event::Alias(id) => {
                let Some(node) = self.anchors.get(&id) else {
                    return Err("a YAML alias refers to the node that contains it (a cycle)".to_owned());
                };
                if self.open.len() + node.levels > MAX_DEPTH {
                    return Err(too_deep("the YAML document (with its aliases)"));
                }
                let node = node.clone();
                self.copy(node.weight)?;
                (node, 0)
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart | Event::DocumentEnd => {
                return Ok(None);
            }
        };
        if anchor > 0 {
            self.copy(node.weight)?;
            self.anchors.insert(anchor, node.clone());
        }
        let Some(parent) = self.open.last_mut() else {
            return Ok(Some(node.value));
        };
        parent.weight += node.weight;
        parent.levels = parent.levels.max(node.levels + 1);
        match &mut parent.collection {
            YamlCollection::Sequence(items) => items.push(node.value),
            YamlCollection::Mapping(members, waiting) => match waiting.take() {
                Some(key) => {
                    members.insert(key, node.value);
                }
                None => {
                    *waiting = Some(match node.value {
                        Value::String(key) => key,
                        other => other.to_string(),
                    })
                }
            },
        }
        Ok(None)
    }

    /// Counts a copy against [`MAX_YAML_COPIES`] (before it is made).
    fn copy(&mut self, weight: usize) -> Result<(), String> {
        self.copied = self.copied.saturating_add(weight);
        if self.copied > MAX_YAML_COPIES {
            return Err(format!(
                "the YAML document's anchors and aliases copy more than {MAX_YAML_COPIES} nodes, eventscope's limit (an alias bomb?)"
            ));
        }
        Ok(())
    }
}

/// A YAML scalar as JSON, resolved as YAML 1.2's core schema does (yaml-rust2's rules): quoted
/// text is a string, plain text may be a number, a boolean or null, and the core tags (`!!int`,
/// ...) are honoured where the text fits them (otherwise the text is kept as a string).
fn yaml_scalar(text: String, style: yaml_rust2::scanner::TScalarStyle, tag: Option<yaml_rust2::parser::Tag>) -> Value {
    use yaml_rust2::Yaml;
    if style != yaml_rust2::scanner::TScalarStyle::Plain {
        return Value::String(text);
    }
    let resolved = Yaml::from_str(&text);
    let fits = match &tag {
        None => true,
        Some(tag) if tag.handle == "tag:yaml.org,2002:" => match tag.suffix.as_str() {
            "int" => matches!(resolved, Yaml::Integer(_)),
            "float" => matches!(resolved, Yaml::Integer(_) | Yaml::Real(_)),
            "bool" => matches!(resolved, Yaml::Boolean(_)),
            "null" => matches!(resolved, Yaml::Null),
            _ => false,
        },
        Some(_) => false,
    };
    if !fits {
        return Value::String(text);
    }
    match resolved {
        Yaml::Integer(i) if tag.as_ref().is_some_and(|t| t.suffix == "float") => {
            serde_json::Number::from_f64(i as f64).map_or(Value::String(text), Value::Number)
        }
        Yaml::Integer(i) => Value::from(i),
        // A real that is also a JSON number keeps its digits (`1e400`, 20-digit integers); YAML's
        // own spellings (`.inf`, `+1.5`, `1.`) go through f64.
        Yaml::Real(r) => match serde_json::from_str::<serde_json::Number>(&r) {
            Ok(exact) => Value::Number(exact),
            Err(_) => {
                r.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::String(r), Value::Number)
            }
        },
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Null => Value::Null,
        _ => Value::String(text),
    }
}

/// A protobuf-looking byte string: a run of well-formed fields (field number, wire type 0, 1, 2
/// or 5, lengths inside the bytes) that ends exactly at the end.
fn looks_like_protobuf(bytes: &[u8]) -> bool {
    fn varint(bytes: &[u8], i: &mut usize) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *bytes.get(*i)?;
            *i += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
    let mut i = 0;
    let mut fields = 0;
    while i < bytes.len() {
        let Some(key) = varint(bytes, &mut i) else { return false };
        if key >> 3 == 0 {
            return false;
        }
        match key & 7 {
            0 => {
                if varint(bytes, &mut i).is_none() {
                    return false;
                }
            }
            1 => i = i.saturating_add(8),
            2 => match varint(bytes, &mut i) {
                Some(len) => i = i.saturating_add(usize::try_from(len).unwrap_or(usize::MAX)),
                None => return false,
            },
            5 => i = i.saturating_add(4),
            _ => return false,
        }
        if i > bytes.len() {
            return false;
        }
        fields += 1;
    }
    fields > 0 && i == bytes.len()
}

/// What eventsourcing keeps inside an event's state about the event rather than the aggregate:
/// moved to the metadata, so that the payload (and the merge fold) holds the domain's fields.
const EVENTSOURCING_EVENT_BOOKKEEPING: &[&str] = &["timestamp", "originator_topic"];

/// What eventsourcing keeps inside a snapshot's aggregate state about the aggregate object: left
/// out, so that a snapshot compares with the state folded from the events.
const EVENTSOURCING_SNAPSHOT_BOOKKEEPING: &[&str] = &["_id", "_version", "_created_on", "_modified_on"];

/// eventsourcing: the short event name from the topic (kept whole in the metadata), plain
/// values for wrapped ones, the time from inside the state, and the state's bookkeeping fields
/// in the metadata.
fn undo_eventsourcing(event: &mut Event) {
    let topic = event.event_type.clone();
    event.event_type = short_topic(&topic).to_owned();
    let mut meta = match event.metadata.take().map(StoredPayload::into_payload) {
        Some(Payload::Json(Value::Object(map))) => map,
        _ => Map::new(),
    };
    meta.insert("topic".to_owned(), Value::String(topic));
    if let Payload::Json(state) = &mut *event.payload {
        unwrap_values(state);
        if event.recorded_at.is_none() {
            event.recorded_at = state.get("timestamp").and_then(Value::as_str).and_then(parse_time);
        }
        if let Value::Object(fields) = state {
            for key in EVENTSOURCING_EVENT_BOOKKEEPING {
                // (Looked for along the few fields before the key is hashed, and taken out
                // keeping the other fields in their order.)
                if fields.keys().any(|k| k == key)
                    && let Some(value) = fields.shift_remove(*key)
                {
                    meta.insert((*key).to_owned(), value);
                }
            }
        }
    }
    event.metadata = Some(Payload::Json(Value::Object(meta)).into());
}

/// `module.sub:Class.Event` → `Class.Event`.
pub fn short_topic(topic: &str) -> &str {
    topic.rsplit_once(':').map_or(topic, |(_, name)| name)
}

/// Replaces eventsourcing's `{"_type_": t, "_data_": d}` by a plain value, everywhere (down to
/// [`WALK_DEPTH`] levels).
pub fn unwrap_values(value: &mut Value) {
    unwrap_values_within(value, WALK_DEPTH);
}

fn unwrap_values_within(value: &mut Value, levels: usize) {
    let Some(below) = levels.checked_sub(1) else {
        return;
    };
    match value {
        Value::Object(map) => {
            // (The two keys are compared as they are, not hashed: this runs for every value.)
            let wrapped = map.len() == 2 && {
                let mut keys = map.keys();
                matches!(
                    (keys.next().map(String::as_str), keys.next().map(String::as_str)),
                    (Some("_type_"), Some("_data_")) | (Some("_data_"), Some("_type_"))
                )
            };
            if wrapped {
                let (mut kind, mut data) = (String::new(), Value::Null);
                for (key, value) in std::mem::take(map) {
                    match (key.as_str(), value) {
                        ("_type_", Value::String(text)) => kind = text,
                        ("_data_", value) => data = value,
                        _ => {}
                    }
                }
                unwrap_values_within(&mut data, below);
                *value = match (kind.as_str(), data) {
                    ("decimal_str", Value::String(s)) => {
                        serde_json::from_str::<serde_json::Number>(&s).map_or(Value::String(s), Value::Number)
                    }
                    ("uuid_hex", Value::String(s)) if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                        Value::String(format!(
                            "{}-{}-{}-{}-{}",
                            &s[0..8],
                            &s[8..12],
                            &s[12..16],
                            &s[16..20],
                            &s[20..32]
                        ))
                    }
                    (_, data) => data,
                };
            } else {
                map.values_mut().for_each(|child| unwrap_values_within(child, below));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|child| unwrap_values_within(child, below)),
        _ => {}
    }
}

/// cqrs-es stores `{"Variant": {...}}`: the inner object is the payload.
fn untag(payload: Payload) -> Payload {
    match payload {
        Payload::Json(Value::Object(map)) if map.len() == 1 => match map.into_iter().next() {
            Some((_, inner)) => Payload::Json(inner),
            None => Payload::Json(Value::Object(Map::new())),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn compressed_and_encrypted_json() {
        let state = br#"{"a": 1}"#;
        assert_eq!(decode_bytes(zlib(state), Codec::Eventsourcing, None), Payload::Json(json!({"a": 1})));
        let key = [7u8; 32];
        let sealed = encrypt(&zlib(state), &key, [1; 12]).unwrap();
        assert_eq!(decode_bytes(sealed.clone(), Codec::Eventsourcing, Some(&key)), Payload::Json(json!({"a": 1})));
        match decode_bytes(sealed.clone(), Codec::Eventsourcing, Some(&[8u8; 32])) {
            Payload::Undecodable { reason, bytes } => {
                assert!(reason.contains("could not decrypt"), "{reason}");
                assert_eq!(bytes, sealed);
            }
            other => panic!("{other:?}"),
        }
        match decode_bytes(sealed, Codec::Eventsourcing, None) {
            Payload::Undecodable { reason, .. } => assert!(reason.contains("give the cipher key"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn formats_are_recognised() {
        let msgpack = rmp_serde::to_vec_named(&json!({"sku": "a", "qty": 2})).unwrap();
        assert_eq!(decode_format(msgpack), Payload::Json(json!({"sku": "a", "qty": 2})));
        // A map of three entries starts with 131, the byte Erlang's terms start with.
        let three = rmp_serde::to_vec_named(&json!({"sku": "a", "qty": 2, "at": null})).unwrap();
        assert_eq!(three[0], 131);
        assert_eq!(decode_format(three), Payload::Json(json!({"sku": "a", "qty": 2, "at": null})));
        assert_eq!(
            decode_format(b"---\nsku: a\nqty: 2\nprice: 2.5\n".to_vec()),
            Payload::Json(json!({"sku": "a", "qty": 2, "price": 2.5}))
        );
        let named = |bytes: &[u8]| match decode_format(bytes.to_vec()) {
            Payload::Undecodable { reason, .. } => reason,
            other => panic!("{other:?}"),
        };
        assert!(named(b"<?xml version=\"1.0\"?><order/>").starts_with("an XML document"));
        assert!(named(&[131, 104, 2, 97, 1, 97, 2]).starts_with("Erlang"));
        // field 1 varint 150, field 2 string "hi"
        assert!(named(&[0x08, 0x96, 0x01, 0x12, 0x02, b'h', b'i']).contains("Protocol Buffers"));
        assert!(named(b"{\"amount\": 12,").starts_with("not valid JSON"));
        assert!(named(b"just words").starts_with("not valid JSON"));
    }

    #[test]
    fn wrapped_values_topics_and_tags() {
        let mut v = json!({"at": {"_type_": "datetime_iso", "_data_": "2026-03-02T08:00:00+00:00"},
            "price": {"_type_": "decimal_str", "_data_": "19.99"},
            "id": {"_type_": "uuid_hex", "_data_": "00112233445566778899aabbccddeeff"},
            "items": [{"_type_": "tuple_as_list", "_data_": [1, 2]}]});
        unwrap_values(&mut v);
        assert_eq!(
            v,
            json!({"at": "2026-03-02T08:00:00+00:00", "price": 19.99, "id": "00112233-4455-6677-8899-aabbccddeeff", "items": [[1, 2]]})
        );
        assert_eq!(short_topic("shop.domain:Order.Placed"), "Order.Placed");
        assert_eq!(untag(Payload::Json(json!({"LineAdded": {"sku": "a"}}))), Payload::Json(json!({"sku": "a"})));
    }

    #[test]
    fn ciphertext_whose_nonce_looks_like_text_is_still_decrypted() {
        let key = [7u8; 16];
        for first in [b'{', b'[', b'"', b' ', b'\n', 0x78] {
            let mut nonce = [3u8; 12];
            nonce[0] = first;
            nonce[1] = 0x9c;
            let sealed = encrypt(br#"{"a": 1}"#, &key, nonce).unwrap();
            assert_eq!(decode_bytes(sealed, Codec::Eventsourcing, Some(&key)), Payload::Json(json!({"a": 1})));
        }
        // Plain JSON stays readable when a key is given.
        let plain = br#"{"b": 2}"#.to_vec();
        assert_eq!(decode_bytes(plain, Codec::Eventsourcing, Some(&key)), Payload::Json(json!({"b": 2})));
    }

    #[test]
    fn hostile_bytes_are_kept_not_looped_on() {
        // A length-delimited field whose length would wrap the offset around to the start.
        let wrapping = vec![0x0a, 0xf5, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert!(matches!(decode_format(wrapping), Payload::Undecodable { .. }));
        assert!(matches!(decode_format(vec![0x09, 1, 2]), Payload::Undecodable { .. }));
        // 32 bytes, but not 32 hex digits.
        let mut v = json!({"_type_": "uuid_hex", "_data_": "éééééééééééééééé"});
        unwrap_values(&mut v);
        assert_eq!(v, json!("éééééééééééééééé"));
    }

    #[test]
    fn text_that_is_not_json_keeps_its_reason() {
        for text in ["Order shipped: tracking 1", "{'a': True}"] {
            match decode_format(text.as_bytes().to_vec()) {
                Payload::Undecodable { reason, .. } => assert!(reason.starts_with("not valid JSON"), "{reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    fn reason_fn(payload: Payload) -> String {
        reason(payload)
    }

    fn reason(payload: Payload) -> String {
        match payload {
            Payload::Undecodable { reason, .. } => reason,
            Payload::Json(value) => panic!("decoded: {}", value.to_string().chars().take(200).collect::<String>()),
        }
    }

    /// `levels` nested arrays around `1`, as JSON, YAML (flow and block) and MessagePack.
    fn nested(levels: usize) -> [Vec<u8>; 5] {
        let json = format!("{}1{}", "[".repeat(levels), "]".repeat(levels)).into_bytes();
        let json_objects = format!("{}1{}", r#"{"a":"#.repeat(levels), "}".repeat(levels)).into_bytes();
        let yaml_flow = format!("---\n{}1{}\n", "[".repeat(levels), "]".repeat(levels)).into_bytes();
        let yaml_block = format!("---\n{}1\n", "- ".repeat(levels)).into_bytes();
        let mut msgpack = [0x81, 0xa1, b'a'].repeat(levels);
        msgpack.push(0x01);
        [json, json_objects, yaml_flow, yaml_block, msgpack]
    }

    #[test]
    fn payloads_nested_100_000_deep_are_undecodable_with_the_reason() {
        let started = std::time::Instant::now();
        for bytes in nested(100_000) {
            let head = String::from_utf8_lossy(&bytes[..8]).into_owned();
            let reason = reason(decode_format(bytes.clone()));
            assert!(reason.contains("deeper than 127 levels"), "{head}: {reason}");
            // The same through the codecs' path, compressed, and as a snapshot.
            assert_eq!(reason_fn(decode_bytes(zlib(&bytes), Codec::Auto, None)), reason, "{head}");
            assert_eq!(reason_fn(decode_snapshot(bytes, Codec::Auto, None)), reason, "{head}");
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    }

    #[test]
    fn the_depth_bound_is_the_same_in_every_format() {
        for (levels, readable) in [(MAX_DEPTH, true), (MAX_DEPTH + 1, false)] {
            for bytes in nested(levels) {
                let head = String::from_utf8_lossy(&bytes[..8]).into_owned();
                match decode_format(bytes) {
                    Payload::Json(value) => {
                        assert!(readable, "{levels} levels of {head} were read");
                        assert!(!crate::model::nests_deeper_than(&value, MAX_DEPTH));
                        assert!(crate::model::nests_deeper_than(&value, MAX_DEPTH - 1));
                    }
                    Payload::Undecodable { reason, .. } => {
                        assert!(!readable, "{levels} levels of {head}: {reason}");
                        assert!(reason.contains("deeper than 127 levels"), "{head}: {reason}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_yaml_alias_bomb_is_refused_quickly() {
        let mut bomb =
            String::from("---\na: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
        for (name, previous) in
            ["b", "c", "d", "e", "f", "g", "h", "i"].iter().zip(["a", "b", "c", "d", "e", "f", "g", "h"])
        {
            let aliases = vec![format!("*{previous}"); 9].join(",");
            bomb.push_str(&format!("{name}: &{name} [{aliases}]\n"));
        }
        assert!(bomb.len() < 1024, "{}", bomb.len());
        let started = std::time::Instant::now();
        let reason = reason(decode_format(bomb.into_bytes()));
        assert!(reason.contains("anchors and aliases copy more than 100000 nodes"), "{reason}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        // A long string copied by many aliases counts by its length.
        let long = format!("---\ns: &s \"{}\"\nl: [{}]\n", "x".repeat(6400), vec!["*s"; 1000].join(","));
        assert!(reason_of(&long).contains("copy more than"), "{}", reason_of(&long));
        // An alias inside the node it names.
        assert!(reason_of("---\n&a [1, *a]\n").contains("a cycle"), "{}", reason_of("---\n&a [1, *a]\n"));
    }

    fn reason_of(text: &str) -> String {
        reason(decode_format(text.as_bytes().to_vec()))
    }

    #[test]
    fn yaml_reads_as_before() {
        let yaml = "---\nbase: &b {x: 1, y: [a, 'b']}\ncopy: *b\nn: ~\nf: 2.5\nhex: 0x10\nt: true\nq: '12'\n\
                    i: !!int 7\nbad: !!int seven\nfl: !!float 3\ns: !!str 5\nother: !ruby/sym done\ninf: .inf\n\
                    ? [1, 2]\n: complex\n5: number key\n";
        assert_eq!(
            decode_format(yaml.as_bytes().to_vec()),
            Payload::Json(json!({
                "base": {"x": 1, "y": ["a", "b"]}, "copy": {"x": 1, "y": ["a", "b"]}, "n": null, "f": 2.5,
                "hex": 16, "t": true, "q": "12", "i": 7, "bad": "seven", "fl": 3.0, "s": "5", "other": "done",
                "inf": ".inf", "[1,2]": "complex", "5": "number key",
            }))
        );
        // Only the first document is read, but all of them must parse.
        assert_eq!(decode_format(b"---\n[1]\n---\n[2]\n".to_vec()), Payload::Json(json!([1])));
        assert!(reason_of("---\n[1]\n--- [2\n").starts_with("not valid JSON"));
        assert!(reason_of("---\nplain text\n").starts_with("not valid JSON"));
    }

    #[test]
    fn unwrapping_stops_at_the_walk_bound() {
        let nested = |levels: usize, inner: Value| (0..levels).fold(inner, |value, _| json!({"a": value}));
        let wrapped = json!({"_type_": "decimal_str", "_data_": "1.5"});
        let mut shallow = nested(WALK_DEPTH - 1, wrapped.clone());
        unwrap_values(&mut shallow);
        assert_eq!(shallow, nested(WALK_DEPTH - 1, json!(1.5)));
        let mut deep = nested(WALK_DEPTH + 20, wrapped.clone());
        unwrap_values(&mut deep);
        assert_eq!(deep, nested(WALK_DEPTH + 20, wrapped));
    }

    #[test]
    fn deep_metadata_columns_stay_text() {
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let mut event = Event {
            stream: StreamId::from("s"),
            version: 1,
            position: None,
            event_type: "E".to_owned(),
            payload: Payload::Json(json!({})).into(),
            metadata: None,
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        };
        merge_metadata_columns(&mut event, vec![("correlation".to_owned(), Cell::Text(deep.clone()))]);
        assert_eq!(event.metadata, Some(Payload::Json(json!({"correlation": deep})).into()));
    }
}

/// Property tests of every decoder: whatever the bytes, decoding ends, quickly, with a value
/// within [`MAX_DEPTH`] or an undecodable payload with a reason; and where the input is a
/// well-formed document, with the outcome its depth and aliases call for. `PROPTEST_CASES` sets
/// how many cases each property tries (256 by default); a long run:
/// `PROPTEST_CASES=1000000 cargo test --release --lib store::decode::properties`.
#[cfg(test)]
mod properties {
    use std::time::{Duration, Instant};

    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{Index, select};

    use super::*;
    use crate::model::nests_deeper_than;

    /// How long one decode may take (a debug build, on a busy machine): a hang fails.
    const SLOW: Duration = Duration::from_secs(3);

    /// Decodes with `decode`, checking the time and the outcome's bounds.
    fn decoded(decode: impl FnOnce() -> Payload) -> Result<Payload, TestCaseError> {
        let started = Instant::now();
        let payload = decode();
        prop_assert!(started.elapsed() < SLOW, "took {:?}", started.elapsed());
        match &payload {
            Payload::Json(value) => prop_assert!(!nests_deeper_than(value, MAX_DEPTH)),
            Payload::Undecodable { reason, .. } => prop_assert!(!reason.trim().is_empty()),
        }
        Ok(payload)
    }

    /// A small value hanging off a document's spine.
    #[derive(Clone, Debug)]
    enum Small {
        Null,
        Bool(bool),
        Int(i64),
        Float(f64),
        Text(String),
        List(Vec<Small>),
        Dict(Vec<Small>),
    }

    impl Small {
        fn levels(&self) -> usize {
            match self {
                Small::List(items) | Small::Dict(items) => 1 + items.iter().map(Small::levels).max().unwrap_or(0),
                _ => 0,
            }
        }

        fn is_collection(&self) -> bool {
            matches!(self, Small::List(_) | Small::Dict(_))
        }

        /// As JSON text, which is YAML flow text too.
        fn json(&self) -> String {
            match self {
                Small::Null => "null".to_owned(),
                Small::Bool(b) => b.to_string(),
                Small::Int(i) => i.to_string(),
                Small::Float(f) => serde_json::Number::from_f64(*f).map_or("0.5".to_owned(), |n| n.to_string()),
                Small::Text(t) => Value::String(t.clone()).to_string(),
                Small::List(items) => format!("[{}]", items.iter().map(Small::json).collect::<Vec<_>>().join(", ")),
                Small::Dict(items) => format!(
                    "{{{}}}",
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| format!("\"k{i}\": {}", v.json()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        }

        fn msgpack(&self, out: &mut Vec<u8>) {
            match self {
                Small::Null => out.push(0xc0),
                Small::Bool(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
                Small::Int(i) => {
                    out.push(0xd3);
                    out.extend_from_slice(&i.to_be_bytes());
                }
                Small::Float(f) => {
                    out.push(0xcb);
                    out.extend_from_slice(&f.to_be_bytes());
                }
                Small::Text(t) => msgpack_str(t, out),
                Small::List(items) => {
                    out.push(0x90 | items.len() as u8);
                    items.iter().for_each(|item| item.msgpack(out));
                }
                Small::Dict(items) => {
                    out.push(0x80 | items.len() as u8);
                    for (i, item) in items.iter().enumerate() {
                        msgpack_str(&format!("k{i}"), out);
                        item.msgpack(out);
                    }
                }
            }
        }
    }

    fn msgpack_str(text: &str, out: &mut Vec<u8>) {
        out.push(0xd9);
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
    }

    fn small() -> impl Strategy<Value = Small> {
        let leaf = prop_oneof![
            Just(Small::Null),
            any::<bool>().prop_map(Small::Bool),
            any::<i64>().prop_map(Small::Int),
            (-1e12f64..1e12).prop_map(Small::Float),
            "[a-z é漢0-9_.:#&*!-]{0,20}".prop_map(Small::Text),
        ];
        leaf.prop_recursive(3, 12, 3, |inner| {
            prop_oneof![vec(inner.clone(), 0..4).prop_map(Small::List), vec(inner, 0..4).prop_map(Small::Dict)]
        })
    }

    /// One collection of a document's spine: a sequence or a mapping, with small values before
    /// and after the next level.
    #[derive(Clone, Debug)]
    struct Level {
        mapping: bool,
        before: Vec<Small>,
        after: Vec<Small>,
    }

    /// A document: collections nested `levels.len()` deep around `bottom`.
    #[derive(Clone, Debug)]
    struct Doc {
        levels: Vec<Level>,
        bottom: Small,
    }

    fn doc() -> impl Strategy<Value = Doc> {
        let level = (any::<bool>(), vec(small(), 0..3), vec(small(), 0..3))
            .prop_map(|(mapping, before, after)| Level { mapping, before, after })
            .boxed();
        // Mostly around the bound, where mistakes would be.
        let count = prop_oneof![0..8usize, (MAX_DEPTH - 4)..(MAX_DEPTH + 4), 0..(2 * MAX_DEPTH + 50)];
        (count, small()).prop_flat_map(move |(count, bottom)| {
            (vec(level.clone(), count), Just(bottom)).prop_map(|(levels, bottom)| Doc { levels, bottom })
        })
    }

    impl Doc {
        /// How many levels of collections the document nests.
        fn nesting(&self) -> usize {
            let mut deepest = self.levels.len() + self.bottom.levels();
            for (i, level) in self.levels.iter().enumerate() {
                for small in level.before.iter().chain(&level.after) {
                    deepest = deepest.max(i + 1 + small.levels());
                }
            }
            deepest
        }

        fn root_is_collection(&self) -> bool {
            !self.levels.is_empty() || self.bottom.is_collection()
        }

        fn json(&self) -> String {
            let mut text = String::new();
            for level in &self.levels {
                if level.mapping {
                    text.push('{');
                    for (i, small) in level.before.iter().enumerate() {
                        text.push_str(&format!("\"b{i}\": {}, ", small.json()));
                    }
                    text.push_str("\"s\": ");
                } else {
                    text.push('[');
                    for small in &level.before {
                        text.push_str(&format!("{}, ", small.json()));
                    }
                }
            }
            text.push_str(&self.bottom.json());
            for level in self.levels.iter().rev() {
                for (i, small) in level.after.iter().enumerate() {
                    match level.mapping {
                        true => text.push_str(&format!(", \"a{i}\": {}", small.json())),
                        false => text.push_str(&format!(", {}", small.json())),
                    }
                }
                text.push(if level.mapping { '}' } else { ']' });
            }
            text
        }

        /// YAML's block style: one collection per indentation level, small values in flow style.
        fn yaml_block(&self) -> String {
            let mut text = String::from("---\n");
            let mut after = Vec::new();
            for (depth, level) in self.levels.iter().enumerate() {
                let indent = "  ".repeat(depth);
                let mut closing = String::new();
                if level.mapping {
                    for (i, small) in level.before.iter().enumerate() {
                        text.push_str(&format!("{indent}b{i}: {}\n", small.json()));
                    }
                    text.push_str(&format!("{indent}s:\n"));
                    for (i, small) in level.after.iter().enumerate() {
                        closing.push_str(&format!("{indent}a{i}: {}\n", small.json()));
                    }
                } else {
                    for small in &level.before {
                        text.push_str(&format!("{indent}- {}\n", small.json()));
                    }
                    text.push_str(&format!("{indent}-\n"));
                    for small in &level.after {
                        closing.push_str(&format!("{indent}- {}\n", small.json()));
                    }
                }
                after.push(closing);
            }
            text.push_str(&format!("{}{}\n", "  ".repeat(self.levels.len()), self.bottom.json()));
            for closing in after.iter().rev() {
                text.push_str(closing);
            }
            text
        }

        fn msgpack(&self) -> Vec<u8> {
            let mut out = Vec::new();
            for level in &self.levels {
                let entries = level.before.len() + 1 + level.after.len();
                if level.mapping {
                    out.push(0x80 | entries as u8);
                    for (i, small) in level.before.iter().enumerate() {
                        msgpack_str(&format!("b{i}"), &mut out);
                        small.msgpack(&mut out);
                    }
                    msgpack_str("s", &mut out);
                } else {
                    out.push(0x90 | entries as u8);
                    level.before.iter().for_each(|small| small.msgpack(&mut out));
                }
            }
            self.bottom.msgpack(&mut out);
            // The small values after each level come once its inner levels are complete.
            for level in self.levels.iter().rev() {
                for (i, small) in level.after.iter().enumerate() {
                    if level.mapping {
                        msgpack_str(&format!("a{i}"), &mut out);
                    }
                    small.msgpack(&mut out);
                }
            }
            out
        }
    }

    /// Damage: cut, overwrite, insert or delete bytes at random places.
    fn mutations() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
        vec((any::<Index>(), any::<u8>(), 0u8..4), 1..5)
    }

    fn mutate(mut bytes: Vec<u8>, mutations: &[(Index, u8, u8)]) -> Vec<u8> {
        for (at, byte, kind) in mutations {
            let i = at.index(bytes.len() + 1);
            match kind {
                0 => bytes.truncate(i),
                1 if i < bytes.len() => bytes[i] = *byte,
                2 => bytes.insert(i, *byte),
                _ => {
                    let end = (i + usize::from(*byte % 16)).min(bytes.len());
                    bytes.drain(i.min(end)..end);
                }
            }
        }
        bytes
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    fn too_deep_reason(payload: &Payload) -> bool {
        matches!(payload, Payload::Undecodable { reason, .. } if reason.contains("deeper than 127 levels"))
    }

    proptest! {
        #[test]
        fn arbitrary_bytes(
            bytes in vec(any::<u8>(), 0..2048),
            prefix in select(vec!["", "---\n", "[", "{\"a\":", "\u{feff}", "<"]),
            codec in select(vec![Codec::Auto, Codec::Eventsourcing, Codec::TaggedEnum]),
            key in proptest::option::of(select(vec![[7u8; 16].to_vec(), [7u8; 32].to_vec()])),
        ) {
            let bytes = [prefix.as_bytes(), &bytes].concat();
            decoded(|| decode_format(bytes.clone()))?;
            decoded(|| decode_bytes(bytes.clone(), codec, key.as_deref()))?;
            decoded(|| decode_snapshot(bytes.clone(), codec, key.as_deref()))?;
            decoded(|| Payload::decode(bytes.clone()))?;
        }

        #[test]
        fn deep_runs_of_openers(
            opener in select(vec![
                b"[".to_vec(), b"{\"a\":".to_vec(), b"- ".to_vec(), b"[{\"a\": ".to_vec(), b"a:\n ".to_vec(),
                b"&a [".to_vec(), b"{".to_vec(), vec![0x91], vec![0x81, 0xa1, b'a'], vec![0xdc, 0x00, 0x01],
                vec![0xc7, 0x01, 0x05], b"\"".to_vec(),
            ]),
            count in 0..20_000usize,
            prefix in select(vec!["", "---\n", "--- ", "---\n- "]),
            tail in vec(any::<u8>(), 0..16),
        ) {
            let bytes = [prefix.as_bytes(), &opener.repeat(count), &tail].concat();
            decoded(|| decode_format(bytes.clone()))?;
            decoded(|| decode_bytes(zlib(&bytes), Codec::Eventsourcing, None))?;
        }

        #[test]
        fn json_documents(doc in doc(), damage in proptest::option::of(mutations())) {
            let text = doc.json().into_bytes();
            match damage {
                None => {
                    let payload = decoded(|| decode_format(text.clone()))?;
                    if doc.nesting() <= MAX_DEPTH {
                        prop_assert!(matches!(payload, Payload::Json(_)), "{payload:?}");
                    } else {
                        prop_assert!(too_deep_reason(&payload), "{payload:?}");
                    }
                    // The same through the codecs.
                    prop_assert_eq!(&decoded(|| decode_bytes(zlib(&text), Codec::Auto, None))?, &payload);
                    let key = [9u8; 32];
                    let sealed = encrypt(&text, &key, [5; 12]).unwrap_or_default();
                    prop_assert_eq!(&decoded(|| decode_bytes(sealed, Codec::Eventsourcing, Some(&key)))?, &payload);
                    decoded(|| decode_snapshot(text.clone(), Codec::Eventsourcing, None))?;
                }
                Some(damage) => {
                    decoded(|| decode_format(mutate(text, &damage)))?;
                }
            }
        }

        #[test]
        fn yaml_documents(doc in doc(), flow in any::<bool>(), damage in proptest::option::of(mutations())) {
            let text = if flow { format!("---\n{}\n", doc.json()) } else { doc.yaml_block() }.into_bytes();
            match damage {
                None => {
                    let payload = decoded(|| decode_format(text.clone()))?;
                    let text = String::from_utf8_lossy(&text).into_owned();
                    if doc.nesting() > MAX_DEPTH {
                        prop_assert!(too_deep_reason(&payload), "{payload:?}\n{text}");
                    } else if doc.root_is_collection() {
                        prop_assert!(matches!(payload, Payload::Json(_)), "{payload:?}\n{text}");
                    } else {
                        prop_assert!(matches!(payload, Payload::Undecodable { .. }), "{payload:?}\n{text}");
                    }
                }
                Some(damage) => {
                    decoded(|| decode_format(mutate(text, &damage)))?;
                }
            }
        }

        #[test]
        fn yaml_anchors_and_aliases(
            doc in doc(),
            anchors in vec((any::<Index>(), any::<Index>()), 0..6),
            damage in proptest::option::of(mutations()),
        ) {
            // Anchor some spine levels (flow style) and refer to them from the levels around.
            let mut text = doc.json();
            let opens: Vec<usize> =
                text.char_indices().filter(|(_, c)| *c == '[' || *c == '{').map(|(i, _)| i).collect();
            let mut anchored: Vec<(usize, String)> = Vec::new();
            for (n, (at, _)) in anchors.iter().enumerate() {
                if let Some(&position) = opens.get(at.index(opens.len().max(1))) {
                    anchored.push((position, format!("&x{n} ")));
                }
            }
            let closes: Vec<usize> = text.char_indices().filter(|(_, c)| *c == ']').map(|(i, _)| i).collect();
            for (n, (_, to)) in anchors.iter().enumerate() {
                if let Some(&position) = closes.get(to.index(closes.len().max(1))) {
                    anchored.push((position, format!(", *x{n}")));
                }
            }
            anchored.sort_by_key(|(position, _)| std::cmp::Reverse(*position));
            for (position, insert) in anchored {
                text.insert_str(position, &insert);
            }
            let text = format!("---\n{text}\n").into_bytes();
            let text = match damage {
                None => text,
                Some(damage) => mutate(text, &damage),
            };
            decoded(|| decode_format(text))?;
        }

        #[test]
        fn yaml_alias_bombs(width in 1usize..12, levels in 1usize..14, length in 0usize..300) {
            let mut text = format!("---\nl0: &l0 [{}]\n", vec![format!("\"{}\"", "x".repeat(length)); width].join(", "));
            for level in 1..levels {
                let aliases = vec![format!("*l{}", level - 1); width].join(", ");
                text.push_str(&format!("l{level}: &l{level} [{aliases}]\n"));
            }
            // What the loader copies: each anchored list once, and the list an alias names for
            // every alias.
            let mut weight = 1 + width * (1 + length / 64);
            let mut copied = weight;
            for _ in 1..levels {
                copied = copied.saturating_add(width.saturating_mul(weight));
                weight = 1usize.saturating_add(width.saturating_mul(weight));
                copied = copied.saturating_add(weight);
            }
            let payload = decoded(|| decode_format(text.into_bytes()))?;
            if copied > MAX_YAML_COPIES {
                prop_assert!(
                    matches!(&payload, Payload::Undecodable { reason, .. } if reason.contains("aliases copy more than")),
                    "{payload:?}"
                );
            } else {
                prop_assert!(matches!(&payload, Payload::Json(Value::Object(map)) if map.len() == levels), "{payload:?}");
            }
        }

        #[test]
        fn msgpack_documents(doc in doc(), damage in proptest::option::of(mutations())) {
            let bytes = doc.msgpack();
            match damage {
                None => {
                    let payload = decoded(|| decode_format(bytes.clone()))?;
                    if doc.nesting() > MAX_DEPTH {
                        prop_assert!(too_deep_reason(&payload), "{payload:?}");
                    } else if doc.root_is_collection() {
                        prop_assert!(matches!(payload, Payload::Json(_)), "{payload:?}");
                    }
                }
                Some(damage) => {
                    decoded(|| decode_format(mutate(bytes, &damage)))?;
                }
            }
        }
    }
}
