//! Decoding rows into events: payload bytes become JSON where they can — JSON itself, zlib-
//! compressed or AES-GCM-encrypted JSON (Python eventsourcing), MessagePack, YAML — and
//! otherwise stay raw with the format named (XML, Erlang terms, Protocol Buffers) or the reason.
//! Library conventions are undone here: eventsourcing's topics and wrapped values, cqrs-es's
//! externally tagged enums.

use aes_gcm::aead::Aead;
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce};
use serde_json::{Map, Value};

use super::cell::{Cell, parse_time};
use super::layout::{Codec, Layout};
use crate::model::{Event, Payload, StreamId};

/// Builds an event from the cells of `query::event_columns`, decoding what the layout encodes.
pub fn event_from_row(layout: &Layout, row: Vec<Cell>, cipher_key: Option<&[u8]>) -> Event {
    let mut cells = row.into_iter();
    let mut take = || cells.next().unwrap_or(Cell::Null);
    let (stream, version, event_type, payload, metadata, time, position, aggregate_type, archived) =
        (take(), take(), take(), take(), take(), take(), take(), take(), take());
    let extra: Vec<(String, Cell)> = layout.columns.metadata_columns.iter().map(|(k, _)| (k.clone(), take())).collect();
    let mut event = Event {
        stream: StreamId(stream.as_text().unwrap_or_default()),
        version: version.as_i64().unwrap_or(0),
        position: position.as_i64(),
        event_type: event_type.as_text().unwrap_or_default(),
        payload: match payload.into_bytes() {
            Some(bytes) => decode_bytes(bytes, layout.codec, cipher_key),
            None => Payload::Undecodable { bytes: Vec::new(), reason: "the payload is NULL".to_owned() },
        },
        metadata: metadata.into_bytes().map(|b| decode_bytes(b, layout.codec, cipher_key)),
        recorded_at: time.as_time(),
        aggregate_type: aggregate_type.as_text(),
        archived: archived.as_i64().is_some_and(|a| a != 0),
    };
    merge_metadata_columns(&mut event, extra);
    match layout.codec {
        Codec::Eventsourcing => undo_eventsourcing(&mut event),
        Codec::TaggedEnum => event.payload = untag(event.payload),
        Codec::Auto => {}
    }
    event
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
    let mut map = match event.metadata.take() {
        Some(Payload::Json(Value::Object(map))) => map,
        Some(Payload::Json(other)) => Map::from_iter([("metadata".to_owned(), other)]),
        Some(undecodable) => Map::from_iter([("metadata".to_owned(), undecodable.to_output_json())]),
        None => Map::new(),
    };
    for (k, v) in present {
        map.entry(k).or_insert(v);
    }
    event.metadata = Some(Payload::Json(Value::Object(map)));
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
/// Protocol Buffers are named and kept raw; anything else is kept raw with the reason.
pub fn decode_format(bytes: Vec<u8>) -> Payload {
    match std::str::from_utf8(&bytes) {
        Ok(text) => {
            let trimmed = text.trim_start_matches('\u{feff}').trim_start();
            let json_error = match serde_json::from_str::<Value>(trimmed) {
                Ok(value) => return Payload::Json(value),
                Err(e) => e,
            };
            if trimmed.starts_with('<') {
                return Payload::Undecodable {
                    reason: "an XML document (eventscope shows XML as it is)".to_owned(),
                    bytes,
                };
            }
            if let Some(value) = yaml_to_json(trimmed) {
                return Payload::Json(value);
            }
            match Payload::decode(bytes) {
                Payload::Undecodable { bytes, .. } => {
                    let reason = format!(
                        "not valid JSON: {} (line {}, column {})",
                        json_error.to_string().split(" at line ").next().unwrap_or_default(),
                        json_error.line(),
                        json_error.column()
                    );
                    Payload::Undecodable { bytes, reason }
                }
                decoded => decoded,
            }
        }
        Err(_) => {
            if bytes.first() == Some(&131) {
                return Payload::Undecodable { reason: "Erlang external term format (shown raw)".to_owned(), bytes };
            }
            if let Some(value) = msgpack_to_json(&bytes) {
                return Payload::Json(value);
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

/// MessagePack holding a map or an array, every byte used.
fn msgpack_to_json(bytes: &[u8]) -> Option<Value> {
    let mut cursor = std::io::Cursor::new(bytes);
    let value: Value = serde::Deserialize::deserialize(&mut rmp_serde::Deserializer::new(&mut cursor)).ok()?;
    (cursor.position() as usize == bytes.len() && (value.is_object() || value.is_array())).then_some(value)
}

/// A YAML document holding a mapping or a sequence. Only text that announces itself as YAML (the
/// `---` that YAML serialisers such as Ruby's write first) is read: a line like `Order shipped: 1`
/// is YAML too, and reading it as such would hide why it is not JSON.
fn yaml_to_json(text: &str) -> Option<Value> {
    if !text.starts_with("---") {
        return None;
    }
    let docs = yaml_rust2::YamlLoader::load_from_str(text).ok()?;
    let doc = docs.into_iter().next()?;
    matches!(doc, yaml_rust2::Yaml::Hash(_) | yaml_rust2::Yaml::Array(_)).then(|| yaml_value(doc))
}

fn yaml_value(y: yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(r) => {
            r.parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::String(r), Value::Number)
        }
        Yaml::Integer(i) => Value::from(i),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(items) => Value::Array(items.into_iter().map(yaml_value).collect()),
        Yaml::Hash(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) => s,
                        other => yaml_value(other).to_string(),
                    };
                    (key, yaml_value(v))
                })
                .collect(),
        ),
        Yaml::Alias(_) | Yaml::Null | Yaml::BadValue => Value::Null,
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
    let mut meta = match event.metadata.take() {
        Some(Payload::Json(Value::Object(map))) => map,
        _ => Map::new(),
    };
    meta.insert("topic".to_owned(), Value::String(topic));
    if let Payload::Json(state) = &mut event.payload {
        unwrap_values(state);
        if event.recorded_at.is_none() {
            event.recorded_at = state.get("timestamp").and_then(Value::as_str).and_then(parse_time);
        }
        if let Value::Object(fields) = state {
            for key in EVENTSOURCING_EVENT_BOOKKEEPING {
                if let Some(value) = fields.remove(*key) {
                    meta.insert((*key).to_owned(), value);
                }
            }
        }
    }
    event.metadata = Some(Payload::Json(Value::Object(meta)));
}

/// `module.sub:Class.Event` → `Class.Event`.
pub fn short_topic(topic: &str) -> &str {
    topic.rsplit_once(':').map_or(topic, |(_, name)| name)
}

/// Replaces eventsourcing's `{"_type_": t, "_data_": d}` by a plain value, everywhere.
pub fn unwrap_values(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.len() == 2 && map.contains_key("_type_") && map.contains_key("_data_") {
                let kind = map.get("_type_").and_then(Value::as_str).unwrap_or_default().to_owned();
                let mut data = map.remove("_data_").unwrap_or(Value::Null);
                unwrap_values(&mut data);
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
                map.values_mut().for_each(unwrap_values);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_values),
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
}
