//! Event contracts: a JSON Schema inferred per event type — and per schema version where the
//! payloads name one (`_v`, `schema_version`, `schemaVersion`, `schema_url`, `$schema`,
//! `version`) — from every event of that type, with how often each field appears, its types and
//! a few examples. The schema is the one the type *mostly* follows: a field is required when at
//! least [`REQUIRED_SHARE`] of the events have it, and a type is allowed when at least
//! [`MINOR_SHARE`] of its values have it; events that do not fit are the outliers.
//!
//! Schemas are exported one file per type (`OrderPlaced.schema.json`, `OrderPlaced@2.schema.json`)
//! and a store is checked against such a folder with a real JSON Schema validator (the
//! `jsonschema` crate), so hand-edited schemas (`enum`, `pattern`, `format`…) are honoured.
//!
//! Inference keeps a bounded summary per type (at most [`MAX_PROPERTIES`] properties per object,
//! [`MAX_DEPTH`] levels, [`MAX_EXAMPLES`] examples per field, [`MAX_TYPES`] types), never events.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::model::{Event, Payload};

/// A field is required when at least this share of its parent objects have it.
pub const REQUIRED_SHARE: f64 = 0.95;
/// A JSON type is allowed for a field when at least this share of its values have it.
pub const MINOR_SHARE: f64 = 0.05;
pub const MAX_PROPERTIES: usize = 256;
pub const MAX_DEPTH: usize = 12;
pub const MAX_EXAMPLES: usize = 3;
pub const MAX_TYPES: usize = 2_000;
/// How many outliers are kept per type (all are counted).
pub const MAX_OUTLIERS: usize = 200;

/// The payload fields that name a schema version.
const VERSION_FIELDS: [&str; 6] = ["_v", "schema_version", "schemaVersion", "schema_url", "$schema", "version"];

/// An event type, and the schema version its payloads name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct TypeKey {
    pub event_type: String,
    pub schema_version: Option<String>,
}

impl TypeKey {
    /// The key of an event: its type, and the version a payload field names (a scalar only).
    pub fn of(event: &Event) -> TypeKey {
        let schema_version = match &*event.payload {
            Payload::Json(Value::Object(map)) => VERSION_FIELDS.iter().find_map(|f| match map.get(*f) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            }),
            _ => None,
        };
        TypeKey { event_type: event.event_type.clone(), schema_version }
    }

    /// `OrderPlaced`, or `OrderPlaced@2`.
    pub fn label(&self) -> String {
        match &self.schema_version {
            Some(v) => format!("{}@{v}", self.event_type),
            None => self.event_type.clone(),
        }
    }

    /// The file its schema is exported to: the label where it is a plain file name; otherwise
    /// (characters a file name cannot hold, a leading dot, more than 100 characters) a cleaned,
    /// shortened label with a hash of the whole, so that two types never share a file.
    pub fn file_name(&self) -> String {
        let label = self.label();
        let safe: String =
            label.chars().map(|c| if c.is_alphanumeric() || "@.-_".contains(c) { c } else { '_' }).collect();
        let plain = safe == label && !label.starts_with('.') && label.chars().count() <= 100 && !label.is_empty();
        if plain {
            return format!("{label}.schema.json");
        }
        let hash =
            label.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
        let short: String = safe.trim_start_matches('.').chars().take(100).collect();
        format!("{short}-{hash:016x}.schema.json")
    }
}

/// The JSON types, in schema order.
const TYPE_NAMES: [&str; 7] = ["null", "boolean", "integer", "number", "string", "array", "object"];

fn type_index(value: &Value) -> usize {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(n) if n.is_i64() || n.is_u64() || !n.to_string().contains(['.', 'e', 'E']) => 2,
        Value::Number(_) => 3,
        Value::String(_) => 4,
        Value::Array(_) => 5,
        Value::Object(_) => 6,
    }
}

/// What was seen at one place of the payloads of a type.
#[derive(Clone, Debug, Default)]
struct Node {
    /// Values seen here, by JSON type ([`TYPE_NAMES`]).
    types: [u64; 7],
    properties: BTreeMap<String, Node>,
    /// Properties past [`MAX_PROPERTIES`], counted but not described.
    untracked_properties: u64,
    items: Option<Box<Node>>,
    examples: Vec<Value>,
}

impl Node {
    fn count(&self) -> u64 {
        self.types.iter().sum()
    }

    fn add(&mut self, value: &Value, depth: usize) {
        self.types[type_index(value)] += 1;
        if depth >= MAX_DEPTH {
            return;
        }
        match value {
            Value::Object(map) => {
                for (key, child) in map {
                    let tracked = self.properties.len() < MAX_PROPERTIES || self.properties.contains_key(key);
                    if tracked {
                        self.properties.entry(key.clone()).or_default().add(child, depth + 1);
                    } else {
                        self.untracked_properties += 1;
                    }
                }
            }
            Value::Array(items) => {
                let node = self.items.get_or_insert_with(Box::default);
                for item in items {
                    node.add(item, depth + 1);
                }
            }
            Value::Null => {}
            scalar => {
                if self.examples.len() < MAX_EXAMPLES && !self.examples.contains(scalar) {
                    let example = match scalar {
                        Value::String(s) if s.chars().count() > 80 => {
                            Value::String(s.chars().take(80).collect::<String>() + "…")
                        }
                        other => other.clone(),
                    };
                    self.examples.push(example);
                }
            }
        }
    }

    /// The schema most values here follow.
    fn schema(&self) -> Value {
        let count = self.count().max(1) as f64;
        let mut allowed: Vec<&str> = TYPE_NAMES
            .iter()
            .zip(self.types)
            .filter(|(_, n)| *n > 0 && *n as f64 >= MINOR_SHARE * count)
            .map(|(name, _)| *name)
            .collect();
        if allowed.contains(&"number") {
            allowed.retain(|t| *t != "integer");
        }
        let mut schema = Map::new();
        match allowed.as_slice() {
            [] => {}
            [one] => {
                schema.insert("type".into(), json!(one));
            }
            many => {
                schema.insert("type".into(), json!(many));
            }
        }
        let objects = self.types[6];
        if objects > 0 && allowed.contains(&"object") {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for (key, child) in &self.properties {
                let mut property = child.schema();
                let present = child.count();
                if let Value::Object(p) = &mut property {
                    p.insert("description".into(), json!(format!("in {present} of {objects}")));
                }
                properties.insert(key.clone(), property);
                if present as f64 >= REQUIRED_SHARE * objects as f64 {
                    required.push(key.clone());
                }
            }
            schema.insert("properties".into(), Value::Object(properties));
            if !required.is_empty() {
                schema.insert("required".into(), json!(required));
            }
        }
        if let Some(items) = self.items.as_ref().filter(|_| allowed.contains(&"array")) {
            schema.insert("items".into(), items.schema());
        }
        if !self.examples.is_empty() {
            schema.insert("examples".into(), Value::Array(self.examples.clone()));
        }
        Value::Object(schema)
    }

    /// Every field below, as `(path, stats)`, depth first.
    fn fields(&self, path: &str, parent_count: u64, out: &mut Vec<FieldStats>) {
        for (key, child) in &self.properties {
            let path = format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"));
            out.push(FieldStats {
                path: path.clone(),
                present: child.count(),
                of: parent_count,
                types: TYPE_NAMES
                    .iter()
                    .zip(child.types)
                    .filter(|(_, n)| *n > 0)
                    .map(|(name, n)| ((*name).to_owned(), n))
                    .collect(),
                examples: child.examples.clone(),
            });
            child.fields(&path, child.types[6], out);
            if let Some(items) = &child.items {
                items.fields(&format!("{path}/*"), items.types[6], out);
            }
        }
    }
}

/// How often one field appears, with which types, and a few examples.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldStats {
    /// A JSON Pointer into the payload; `*` for any array item.
    pub path: String,
    /// How many of the `of` parent objects have it.
    pub present: u64,
    pub of: u64,
    pub types: Vec<(String, u64)>,
    pub examples: Vec<Value>,
}

/// Where an event is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EventRef {
    pub stream: String,
    pub version: i64,
}

impl EventRef {
    fn of(event: &Event) -> EventRef {
        EventRef { stream: event.stream.0.clone(), version: event.version }
    }
}

/// What inference found for one type.
#[derive(Clone, Debug, Serialize)]
pub struct InferredType {
    pub key: TypeKey,
    pub events: u64,
    /// Payloads that are not JSON (not described by the schema).
    pub not_json: u64,
    pub first: EventRef,
    pub schema: Value,
    pub fields: Vec<FieldStats>,
}

impl InferredType {
    /// Leaves out the examples (values of the store, perhaps personal data) from the schema
    /// and the fields.
    pub fn drop_examples(&mut self) {
        fn strip(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    map.remove("examples");
                    map.values_mut().for_each(strip);
                }
                Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        strip(&mut self.schema);
        self.fields.iter_mut().for_each(|f| f.examples.clear());
    }
}

/// Schema inference over a stream of events, in bounded memory.
#[derive(Default)]
pub struct Inference {
    types: BTreeMap<TypeKey, (Node, u64, u64, EventRef)>,
    /// Events of types past [`MAX_TYPES`].
    pub untracked_events: u64,
    pub events: u64,
}

impl Inference {
    pub fn add(&mut self, event: &Event) {
        self.events += 1;
        let key = TypeKey::of(event);
        if self.types.len() >= MAX_TYPES && !self.types.contains_key(&key) {
            self.untracked_events += 1;
            return;
        }
        let (node, events, not_json, _) =
            self.types.entry(key).or_insert_with(|| (Node::default(), 0, 0, EventRef::of(event)));
        *events += 1;
        match &*event.payload {
            Payload::Json(value) => node.add(value, 0),
            Payload::Undecodable { .. } => *not_json += 1,
        }
    }

    /// The schema of every type seen, by type.
    pub fn types(&self) -> Vec<InferredType> {
        self.types
            .iter()
            .map(|(key, (node, events, not_json, first))| {
                let mut schema = node.schema();
                if let Value::Object(map) = &mut schema {
                    let mut head = Map::new();
                    head.insert("$schema".into(), json!("https://json-schema.org/draft/2020-12/schema"));
                    head.insert("title".into(), json!(key.label()));
                    head.insert(
                        "description".into(),
                        json!(if *events == 1 {
                            format!("The payload of {} as its one event has it (inferred by eventscope)", key.label())
                        } else {
                            format!(
                                "The payload of {} as most of its {events} events have it (inferred by eventscope)",
                                key.label()
                            )
                        }),
                    );
                    head.insert(
                        "x-eventscope".into(),
                        json!({"event_type": key.event_type, "schema_version": key.schema_version, "events": events}),
                    );
                    head.extend(std::mem::take(map));
                    *map = head;
                }
                let mut fields = Vec::new();
                node.fields("", node.types[6], &mut fields);
                InferredType {
                    key: key.clone(),
                    events: *events,
                    not_json: *not_json,
                    first: first.clone(),
                    schema,
                    fields,
                }
            })
            .collect()
    }
}

/// Why schemas could not be loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {path}: {message}")]
    Read { path: String, message: String },
    #[error("{path} is not a usable JSON Schema: {message}")]
    Invalid { path: String, message: String },
    #[error("{0}")]
    Empty(String),
}

/// A schema to check events of one type against.
pub struct Contract {
    pub key: TypeKey,
    pub file: String,
    validator: jsonschema::Validator,
}

/// Schemas by type, for checking.
pub struct Contracts {
    by_key: BTreeMap<TypeKey, Contract>,
}

/// One event that breaks its type's contract.
#[derive(Clone, Debug, Serialize)]
pub struct Breach {
    pub stream: String,
    pub version: i64,
    pub event_type: String,
    pub schema: String,
    /// `(path in the payload, what is wrong)`, the first few.
    pub errors: Vec<(String, String)>,
}

impl Breach {
    /// One line: `stream vN Type (schema file): /path: message; …`.
    pub fn line(&self) -> String {
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(path, message)| if path.is_empty() { message.clone() } else { format!("{path}: {message}") })
            .collect();
        format!("{} v{} {} ({}): {}", self.stream, self.version, self.event_type, self.schema, errors.join("; "))
    }
}

impl Contracts {
    /// Compiles one schema; its type comes from `x-eventscope` (or its title).
    pub fn compile(file: &str, schema: &Value) -> Result<Contract, SchemaError> {
        let invalid = |message: String| SchemaError::Invalid { path: file.to_owned(), message };
        let named = &schema["x-eventscope"];
        let event_type = named["event_type"].as_str().or_else(|| schema["title"].as_str()).ok_or_else(|| {
            invalid(
                "it names no event type: give it a \"title\" (the event type) or \"x-eventscope\": {\"event_type\": …}"
                    .into(),
            )
        })?;
        let schema_version = match &named["schema_version"] {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        let validator = jsonschema::validator_for(schema).map_err(|e| {
            let message = e.to_string();
            // (Nothing is fetched or read: a reference elsewhere is refused, in words.)
            let elsewhere = ["resolve-http", "resolver", "Unresolvable", "not present in a registry", "base URI"];
            if elsewhere.iter().any(|m| message.contains(m)) {
                invalid(format!(
                    "it refers to another document ($ref to a URL or a file), which eventscope does not fetch \
                     or read: put the referenced schema inline ({message})"
                ))
            } else {
                // (Where in the schema: a wrong keyword's value alone does not say which.)
                let at = e.instance_path().to_string();
                invalid(if at.is_empty() { message } else { format!("at {at} in the schema: {message}") })
            }
        })?;
        Ok(Contract {
            key: TypeKey { event_type: event_type.to_owned(), schema_version },
            file: file.to_owned(),
            validator,
        })
    }

    /// Every `*.json` file of a folder.
    pub fn load(dir: &Path) -> Result<Contracts, SchemaError> {
        let read = |path: &Path, e: &dyn std::fmt::Display| SchemaError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        };
        let mut by_key = BTreeMap::new();
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| read(dir, &e))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        entries.sort();
        for path in entries {
            let text = crate::model::read_user_file(&path).map_err(|e| read(&path, &e))?;
            let name = path.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            let schema: Value = serde_json::from_str(&text)
                .map_err(|e| SchemaError::Invalid { path: name.clone(), message: format!("not JSON: {e}") })?;
            let contract = Contracts::compile(&name, &schema)?;
            if let Some(earlier) = by_key.get(&contract.key) {
                let earlier: &Contract = earlier;
                return Err(SchemaError::Invalid {
                    path: name,
                    message: format!("{} already has a schema, in {}", contract.key.label(), earlier.file),
                });
            }
            by_key.insert(contract.key.clone(), contract);
        }
        if by_key.is_empty() {
            return Err(SchemaError::Empty(format!(
                "{} holds no schema (*.json): export some with `eventscope schemas STORE --export {}`",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Contracts { by_key })
    }

    /// From inferred types (the schemas their types mostly follow).
    pub fn from_inferred(types: &[InferredType]) -> Result<Contracts, SchemaError> {
        let mut by_key = BTreeMap::new();
        for t in types {
            let contract = Contracts::compile(&t.key.file_name(), &t.schema)?;
            by_key.insert(t.key.clone(), contract);
        }
        Ok(Contracts { by_key })
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The contract an event is held to: its type and version's, else its type's unversioned
    /// one; `None` when it has none.
    pub fn for_event(&self, event: &Event) -> Option<&Contract> {
        let key = TypeKey::of(event);
        self.by_key.get(&key).or_else(|| {
            key.schema_version.as_ref()?;
            self.by_key.get(&TypeKey { event_type: key.event_type, schema_version: None })
        })
    }

    /// Checks one event; `None` when it fits (or has no contract).
    pub fn check(&self, event: &Event) -> Option<Breach> {
        self.for_event(event)?.check(event)
    }
}

impl Contract {
    /// Checks one event against this contract; `None` when it fits.
    pub fn check(&self, event: &Event) -> Option<Breach> {
        let errors = match &*event.payload {
            // (Most events fit: the validator's quick answer first, the errors only for those
            // that do not.)
            Payload::Json(value) if self.validator.is_valid(value) => return None,
            Payload::Json(value) => self
                .validator
                .iter_errors(value)
                .take(5)
                .map(|e| (e.instance_path().to_string(), e.to_string()))
                .collect(),
            Payload::Undecodable { reason, .. } => vec![(String::new(), format!("the payload is not JSON ({reason})"))],
        };
        Some(Breach {
            stream: event.stream.0.clone(),
            version: event.version,
            event_type: event.event_type.clone(),
            schema: self.file.clone(),
            errors,
        })
    }
}

/// A check of every event against contracts.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Check {
    pub events: u64,
    /// Events checked against a contract.
    pub checked: u64,
    /// Events whose type has no contract, by type.
    pub without_contract: BTreeMap<String, u64>,
    pub breaking: u64,
    /// The first [`MAX_OUTLIERS`] breaches per type.
    pub breaches: Vec<Breach>,
    #[serde(skip)]
    kept_per_type: BTreeMap<String, usize>,
}

impl Check {
    /// Checks one event; gives its breach, if any (every one is counted; the first few kept).
    pub fn add(&mut self, contracts: &Contracts, event: &Event) -> Option<Breach> {
        self.events += 1;
        let Some(contract) = contracts.for_event(event) else {
            match self.without_contract.get_mut(&event.event_type) {
                Some(n) => *n += 1,
                None => {
                    self.without_contract.insert(event.event_type.clone(), 1);
                }
            }
            return None;
        };
        self.checked += 1;
        let breach = contract.check(event)?;
        self.breaking += 1;
        let kept = self.kept_per_type.entry(event.event_type.clone()).or_default();
        if *kept < MAX_OUTLIERS {
            *kept += 1;
            self.breaches.push(breach.clone());
        }
        Some(breach)
    }
}

/// Infers every type's schema from the whole log (one streamed read); `progress(events read)`
/// is called as it goes and stops the read when it says false (`None`: stopped).
pub async fn infer_store(
    store: &crate::store::Store,
    progress: &mut dyn FnMut(u64) -> bool,
) -> Result<Option<Inference>, crate::store::StoreError> {
    let mut inference = Inference::default();
    let mut stopped = false;
    let selection = crate::store::query::LogSelection::default();
    store
        .read_log_each(&selection, &mut |event| {
            inference.add(&event);
            if inference.events % 1024 == 0 && !progress(inference.events) {
                stopped = true;
                return false;
            }
            true
        })
        .await?;
    Ok((!stopped).then_some(inference))
}

/// Checks every event of the log against contracts (one streamed read); `each` gets every
/// breach as found, and the count of events read every 1,024 events, and stops the read when it
/// says false (`None`: stopped).
pub async fn check_store(
    store: &crate::store::Store,
    contracts: &Contracts,
    each: &mut dyn FnMut(u64, Option<&Breach>) -> bool,
) -> Result<Option<Check>, crate::store::StoreError> {
    let mut check = Check::default();
    let mut stopped = false;
    let selection = crate::store::query::LogSelection::default();
    store
        .read_log_each(&selection, &mut |event| {
            let breach = check.add(contracts, &event);
            let go_on = match &breach {
                Some(breach) => each(check.events, Some(breach)),
                None if check.events % 1024 == 0 => each(check.events, None),
                None => true,
            };
            stopped |= !go_on;
            go_on
        })
        .await?;
    Ok((!stopped).then_some(check))
}

/// Inference, then a check of every event against the inferred schemas: each type with the
/// events that do not fit the schema it mostly follows.
pub async fn survey_store(
    store: &crate::store::Store,
    progress: &mut dyn FnMut(&str, u64) -> bool,
) -> Result<Option<(Vec<InferredType>, Check)>, SurveyError> {
    let Some(inference) = infer_store(store, &mut |n| progress("inferring", n)).await? else {
        return Ok(None);
    };
    let types = inference.types();
    let contracts = Contracts::from_inferred(&types)?;
    let Some(check) = check_store(store, &contracts, &mut |n, _| progress("checking", n)).await? else {
        return Ok(None);
    };
    Ok(Some((types, check)))
}

/// Why a survey failed.
#[derive(Debug, thiserror::Error)]
pub enum SurveyError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(version: i64, event_type: &str, data: Value) -> Event {
        Event::with_json("order-1", version, event_type, data)
    }

    fn placed(i: i64) -> Event {
        event(
            i,
            "OrderPlaced",
            json!({"order_id": format!("ORD-{i}"), "total": i as f64 + 0.5, "lines": [{"sku": "a", "qty": i}], "note": if i % 2 == 0 { json!("gift") } else { Value::Null }}),
        )
    }

    #[test]
    fn the_schema_is_the_one_most_events_follow() {
        let mut inference = Inference::default();
        for i in 1..=40 {
            inference.add(&placed(i));
        }
        // One event without its order id, with a total as text.
        inference.add(&event(41, "OrderPlaced", json!({"total": "12.5", "lines": []})));
        let types = inference.types();
        assert_eq!(types.len(), 1);
        let t = &types[0];
        assert_eq!(t.events, 41);
        assert_eq!(t.schema["title"], "OrderPlaced");
        assert_eq!(t.schema["required"], json!(["lines", "note", "order_id", "total"]));
        assert_eq!(t.schema["properties"]["total"]["type"], "number", "a text in 1 of 41 is not allowed");
        assert_eq!(t.schema["properties"]["note"]["type"], json!(["null", "string"]));
        assert_eq!(t.schema["properties"]["lines"]["items"]["properties"]["qty"]["type"], "integer");
        let order_id = t.fields.iter().find(|f| f.path == "/order_id").unwrap();
        assert_eq!((order_id.present, order_id.of), (40, 41));
        assert_eq!(order_id.examples.len(), MAX_EXAMPLES);
        assert!(t.fields.iter().any(|f| f.path == "/lines/*/sku"));
        let mut bare = t.clone();
        bare.drop_examples();
        assert!(!bare.schema.to_string().contains("ORD-1") && bare.fields.iter().all(|f| f.examples.is_empty()));
        // The outlier breaks the schema; the others fit.
        let contracts = Contracts::from_inferred(&types).unwrap();
        let mut check = Check::default();
        for i in 1..=40 {
            assert!(check.add(&contracts, &placed(i)).is_none(), "v{i} fits");
        }
        let breach = check.add(&contracts, &event(41, "OrderPlaced", json!({"total": "12.5", "lines": []}))).unwrap();
        assert!(breach.line().contains("order_id"), "{}", breach.line());
        assert!(breach.errors.iter().any(|(path, _)| path == "/total"), "{:?}", breach.errors);
        assert_eq!((check.checked, check.breaking), (41, 1));
    }

    #[test]
    fn versions_named_by_the_payload_get_schemas_of_their_own() {
        let mut inference = Inference::default();
        inference.add(&event(1, "Moved", json!({"_v": 1, "to": "a"})));
        inference.add(&event(2, "Moved", json!({"_v": 2, "to": {"city": "b"}})));
        let labels: Vec<String> = inference.types().iter().map(|t| t.key.label()).collect();
        assert_eq!(labels, vec!["Moved@1", "Moved@2"]);
        assert_eq!(inference.types()[1].key.file_name(), "Moved@2.schema.json");
        let name = |t: &str| TypeKey { event_type: t.into(), schema_version: None }.file_name();
        assert_ne!(name("a/b"), name("a:b"), "cleaned names stay apart");
        assert!(!name("../x").starts_with('.') && !name("../x").contains('/'));
        assert!(name(&"x".repeat(300)).len() < 130);
        let contracts = Contracts::from_inferred(&inference.types()).unwrap();
        assert!(contracts.check(&event(3, "Moved", json!({"_v": 2, "to": "c"}))).is_some());
        assert!(contracts.check(&event(3, "Other", json!({}))).is_none(), "no contract: not a breach");
    }

    #[test]
    fn memory_is_bounded_however_wide_the_payloads() {
        let mut inference = Inference::default();
        let wide: Map<String, Value> = (0..1_000).map(|i| (format!("f{i}"), json!(i))).collect();
        inference.add(&event(1, "Wide", Value::Object(wide)));
        let deep = (0..100).fold(json!(1), |v, _| json!({"d": v}));
        inference.add(&event(2, "Deep", deep));
        let types = inference.types();
        assert_eq!(types.iter().find(|t| t.key.event_type == "Wide").unwrap().fields.len(), MAX_PROPERTIES);
        assert!(types.iter().find(|t| t.key.event_type == "Deep").unwrap().fields.len() <= MAX_DEPTH);
    }

    #[test]
    fn a_schema_without_a_type_name_or_invalid_is_refused() {
        assert!(Contracts::compile("x.json", &json!({"type": "object"})).is_err());
        let error = Contracts::compile("x.json", &json!({"title": "A", "type": 12})).err().unwrap().to_string();
        assert!(error.contains("x.json"), "{error}");
        let hand_written = json!({"title": "A", "type": "object", "properties": {"sku": {"pattern": "^[A-Z]+$"}}});
        let contracts = Contracts {
            by_key: BTreeMap::from([(
                TypeKey { event_type: "A".into(), schema_version: None },
                Contracts::compile("A.json", &hand_written).unwrap(),
            )]),
        };
        assert!(contracts.check(&event(1, "A", json!({"sku": "abc"}))).is_some(), "pattern honoured");
        assert!(contracts.check(&event(1, "A", json!({"sku": "ABC"}))).is_none());
    }
}
