//! Recognising layouts from the catalog: one recogniser per event-sourcing library, each
//! mapping the tables it finds onto a [`Layout`]. The facts (table and column names, which of
//! them are optional) come from each library's own schema; the fixtures in `tests/layouts.rs`
//! build those schemas on every backend the library supports.

use super::layout::{
    Catalog, CatalogTable, Codec, ColumnKind, ColumnRef, Columns, Join, Layout, RowCondition, SnapshotLayout,
    StreamKey, TableName, column_ref, first_column,
};

/// Every layout in the catalog: the libraries' layouts first, the article's table last (several
/// libraries also name a table `events`).
pub fn all(catalog: &Catalog) -> Vec<Layout> {
    let mut layouts = Vec::new();
    for table in &catalog.tables {
        layouts.extend(eventsourcing(catalog, table));
        layouts.extend(cqrs_es(catalog, table));
        layouts.extend(emmett(table));
        layouts.extend(message_db(table));
        layouts.extend(marten(catalog, table));
        layouts.extend(rails_event_store(catalog, table));
        layouts.extend(commanded(catalog, table));
        layouts.extend(axon(catalog, table));
    }
    for table in catalog.tables_named("events") {
        if let Some(mut layout) = article(catalog, table) {
            if let Some(schema) = table.schema.as_deref().filter(|s| *s != "public") {
                layout.name = format!("{schema}.events");
            }
            layouts.push(layout);
        }
    }
    // Two layouts must not share a name: the later ones get their schema in front.
    let mut seen = std::collections::HashSet::new();
    for layout in &mut layouts {
        if !seen.insert(layout.name.clone()) {
            layout.name = format!("{}:{}", layout.table, layout.name);
        }
    }
    layouts
}

fn table_in<'a>(catalog: &'a Catalog, like: &CatalogTable, name: &str) -> Option<&'a CatalogTable> {
    catalog.tables.iter().find(|t| t.name == name && t.schema == like.schema)
}

fn has(table: &CatalogTable, names: &[&str]) -> bool {
    names.iter().all(|n| table.column(n).is_some())
}

fn layout(name: String, description: String, library: &str, table: &CatalogTable, columns: Columns) -> Layout {
    Layout {
        name,
        description,
        library: library.to_owned(),
        table: TableName::of(table),
        joins: Vec::new(),
        columns,
        conditions: Vec::new(),
        codec: Default::default(),
        snapshots: None,
        row_key: Default::default(),
        server: Default::default(),
        stream_versions_unique: false,
    }
}

fn columns(stream: StreamKey, version: ColumnRef, event_type: ColumnRef, payload: ColumnRef) -> Columns {
    Columns {
        stream,
        version,
        event_type,
        payload,
        metadata: None,
        metadata_columns: Vec::new(),
        recorded_at: None,
        position: None,
        aggregate_type: None,
        archived: None,
    }
}

fn c(table: &CatalogTable, name: &str) -> ColumnRef {
    column_ref(table, name).unwrap_or_else(|| ColumnRef::main(name, ColumnKind::Other))
}

fn joined(alias: &str, table: &CatalogTable, name: &str) -> ColumnRef {
    ColumnRef::of(alias, name, c(table, name).kind)
}

/// Python eventsourcing: `stored_events` (SQLite, ordered by rowid) or `<app>_events`
/// (PostgreSQL, ordered by notification_id) with originator_id, originator_version, topic and
/// state; snapshots in `stored_snapshots` / `<app>_snapshots`.
fn eventsourcing(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    if !table.name.ends_with("_events") || !has(table, &["originator_id", "originator_version", "topic", "state"]) {
        return None;
    }
    let prefix = &table.name[..table.name.len() - "_events".len()];
    let sqlite = table.schema.is_none();
    let mut cols = columns(
        StreamKey::Column(c(table, "originator_id")),
        c(table, "originator_version"),
        c(table, "topic"),
        c(table, "state"),
    );
    cols.position = column_ref(table, "notification_id").or_else(|| sqlite.then(ColumnRef::rowid));
    let mut l = layout(
        table.name.clone(),
        format!("Python eventsourcing ({})", table.qualified_name()),
        "eventsourcing",
        table,
        cols,
    );
    l.codec = Codec::Eventsourcing;
    l.snapshots = table_in(catalog, table, &format!("{prefix}_snapshots"))
        .filter(|t| has(t, &["originator_id", "originator_version", "state"]))
        .map(|t| SnapshotLayout {
            table: TableName::of(t),
            stream: StreamKey::Column(c(t, "originator_id")),
            version: c(t, "originator_version"),
            state: c(t, "state"),
            codec: Codec::Eventsourcing,
        });
    Some(l)
}

/// cqrs-es (postgres-es, sqlite-es): `events(aggregate_type, aggregate_id, sequence, event_type,
/// event_version, payload, metadata)`; a stream is `Type-id`; payloads are tagged enums.
fn cqrs_es(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    if !has(table, &["aggregate_type", "aggregate_id", "sequence", "event_type", "payload"]) {
        return None;
    }
    let stream = StreamKey::TypeAndId { type_column: c(table, "aggregate_type"), id_column: c(table, "aggregate_id") };
    let mut cols = columns(stream, c(table, "sequence"), c(table, "event_type"), c(table, "payload"));
    cols.metadata = column_ref(table, "metadata");
    cols.recorded_at = column_ref(table, "timestamp");
    cols.aggregate_type = column_ref(table, "aggregate_type");
    if let Some(v) = column_ref(table, "event_version") {
        cols.metadata_columns.push(("event_version".to_owned(), v));
    }
    let mut l = layout(table.name.clone(), format!("cqrs-es ({})", table.qualified_name()), "cqrs-es", table, cols);
    l.codec = Codec::TaggedEnum;
    l.snapshots = table_in(catalog, table, "snapshots")
        .filter(|t| has(t, &["aggregate_type", "aggregate_id", "last_sequence", "payload"]))
        .map(|t| SnapshotLayout {
            table: TableName::of(t),
            stream: StreamKey::TypeAndId { type_column: c(t, "aggregate_type"), id_column: c(t, "aggregate_id") },
            version: c(t, "last_sequence"),
            state: c(t, "payload"),
            codec: Codec::Auto,
        });
    Some(l)
}

/// Emmett: `emt_messages` with stream_id, stream_position, global_position, message_type,
/// message_data, message_metadata, created and is_archived (archived messages stay listed).
fn emmett(table: &CatalogTable) -> Option<Layout> {
    if table.name != "emt_messages" || !has(table, &["stream_id", "stream_position", "message_type", "message_data"]) {
        return None;
    }
    let mut cols = columns(
        StreamKey::Column(c(table, "stream_id")),
        c(table, "stream_position"),
        c(table, "message_type"),
        c(table, "message_data"),
    );
    cols.metadata = column_ref(table, "message_metadata");
    cols.recorded_at = column_ref(table, "created");
    cols.position = column_ref(table, "global_position");
    cols.archived = column_ref(table, "is_archived");
    for key in ["message_id", "message_kind"] {
        if let Some(col) = column_ref(table, key) {
            cols.metadata_columns.push((key.to_owned(), col));
        }
    }
    Some(layout("emt_messages".to_owned(), format!("Emmett ({})", table.qualified_name()), "emmett", table, cols))
}

/// Message DB: `message_store.messages` (position counts from 0; the category is the stream
/// name before the first `-`).
fn message_db(table: &CatalogTable) -> Option<Layout> {
    if table.name != "messages" || !has(table, &["global_position", "position", "stream_name", "type", "data"]) {
        return None;
    }
    let mut cols =
        columns(StreamKey::Column(c(table, "stream_name")), c(table, "position"), c(table, "type"), c(table, "data"));
    cols.metadata = column_ref(table, "metadata");
    cols.recorded_at = column_ref(table, "time");
    cols.position = column_ref(table, "global_position");
    if let Some(id) = column_ref(table, "id") {
        cols.metadata_columns.push(("message_id".to_owned(), id));
    }
    Some(layout("messages".to_owned(), format!("Message DB ({})", table.qualified_name()), "message-db", table, cols))
}

/// Marten: `mt_events` ordered by seq_id, with the aggregate type and snapshots from
/// `mt_streams`; correlation, causation and headers where they are enabled.
fn marten(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    if table.name != "mt_events" || !has(table, &["seq_id", "stream_id", "version", "data", "type"]) {
        return None;
    }
    let mut cols =
        columns(StreamKey::Column(c(table, "stream_id")), c(table, "version"), c(table, "type"), c(table, "data"));
    cols.metadata = column_ref(table, "headers");
    cols.recorded_at = column_ref(table, "timestamp");
    cols.position = column_ref(table, "seq_id");
    cols.archived = column_ref(table, "is_archived");
    for (key, name) in [
        ("event_id", "id"),
        ("correlation_id", "correlation_id"),
        ("causation_id", "causation_id"),
        ("tenant_id", "tenant_id"),
        ("user_name", "user_name"),
    ] {
        if let Some(col) = column_ref(table, name) {
            cols.metadata_columns.push((key.to_owned(), col));
        }
    }
    let streams = table_in(catalog, table, "mt_streams");
    let mut l = layout("mt_events".to_owned(), format!("Marten ({})", table.qualified_name()), "marten", table, cols);
    if let Some(streams) = streams.filter(|t| has(t, &["id", "type"])) {
        l.joins.push(Join {
            table: TableName::of(streams),
            alias: "s".to_owned(),
            on: vec![(joined("s", streams, "id"), c(table, "stream_id"))],
        });
        l.columns.aggregate_type = Some(joined("s", streams, "type"));
        l.snapshots = has(streams, &["snapshot", "snapshot_version"]).then(|| SnapshotLayout {
            table: TableName::of(streams),
            stream: StreamKey::Column(c(streams, "id")),
            version: c(streams, "snapshot_version"),
            state: c(streams, "snapshot"),
            codec: Codec::Auto,
        });
    }
    Some(l)
}

/// Rails Event Store: `event_store_events_in_streams` joined to `event_store_events`; the
/// position in the stream counts from 0 and is empty for events appended with any version (the
/// link's id orders them then); the global order is the event row's id.
fn rails_event_store(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    if table.name != "event_store_events_in_streams" || !has(table, &["stream", "position", "event_id"]) {
        return None;
    }
    let events =
        table_in(catalog, table, "event_store_events").filter(|t| has(t, &["event_id", "event_type", "data"]))?;
    let ev = |name: &str| joined("ev", events, name);
    // (The link's id orders events appended with any version, where the table has one.)
    let version = match column_ref(table, "id") {
        Some(id) => c(table, "position").or(id),
        None => c(table, "position"),
    };
    let mut cols = columns(StreamKey::Column(c(table, "stream")), version, ev("event_type"), ev("data"));
    cols.metadata = column_ref(events, "metadata").map(|_| ev("metadata"));
    cols.recorded_at = column_ref(events, "created_at").map(|_| ev("created_at"));
    cols.position = column_ref(events, "id").map(|_| ev("id"));
    cols.metadata_columns.push(("event_id".to_owned(), ev("event_id")));
    let mut l = layout(
        "event_store_events".to_owned(),
        format!("Rails Event Store ({})", events.qualified_name()),
        "rails-event-store",
        table,
        cols,
    );
    l.joins.push(Join {
        table: TableName::of(events),
        alias: "ev".to_owned(),
        on: vec![(ev("event_id"), c(table, "event_id"))],
    });
    // RES 0.x also linked every event into a stream named `all`.
    l.conditions.push(RowCondition::NotEqualText(c(table, "stream"), "all".to_owned()));
    Some(l)
}

/// Commanded EventStore: `stream_events` joined to `streams` (the stream's uuid) and `events`;
/// link rows and the `$all` stream are left out; the global order is the event's version in `$all`.
fn commanded(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    if table.name != "stream_events" || !has(table, &["event_id", "stream_id", "stream_version", "original_stream_id"])
    {
        return None;
    }
    let streams = table_in(catalog, table, "streams").filter(|t| has(t, &["stream_id", "stream_uuid"]))?;
    let events = table_in(catalog, table, "events").filter(|t| has(t, &["event_id", "event_type", "data"]))?;
    let ev = |name: &str| joined("ev", events, name);
    let mut cols = columns(
        StreamKey::Column(joined("s", streams, "stream_uuid")),
        c(table, "stream_version"),
        ev("event_type"),
        ev("data"),
    );
    cols.metadata = column_ref(events, "metadata").map(|_| ev("metadata"));
    cols.recorded_at = column_ref(events, "created_at").map(|_| ev("created_at"));
    cols.position = Some(ColumnRef::of("g", "stream_version", ColumnKind::Integer));
    for key in ["event_id", "correlation_id", "causation_id"] {
        if column_ref(events, key).is_some() {
            cols.metadata_columns.push((key.to_owned(), ev(key)));
        }
    }
    let mut l = layout(
        "stream_events".to_owned(),
        format!("Commanded EventStore ({})", events.qualified_name()),
        "commanded",
        table,
        cols,
    );
    l.joins = vec![
        Join {
            table: TableName::of(streams),
            alias: "s".to_owned(),
            on: vec![(joined("s", streams, "stream_id"), c(table, "stream_id"))],
        },
        Join { table: TableName::of(events), alias: "ev".to_owned(), on: vec![(ev("event_id"), c(table, "event_id"))] },
        Join {
            table: TableName::of(table),
            alias: "g".to_owned(),
            on: vec![(ColumnRef::of("g", "event_id", c(table, "event_id").kind), c(table, "event_id"))],
        },
    ];
    l.conditions = vec![
        RowCondition::ColumnsEqual(c(table, "stream_id"), c(table, "original_stream_id")),
        RowCondition::EqualsText(ColumnRef::of("g", "stream_id", ColumnKind::Integer), "0".to_owned()),
    ];
    l.snapshots = table_in(catalog, table, "snapshots")
        .filter(|t| has(t, &["source_uuid", "source_version", "data"]))
        .map(|t| SnapshotLayout {
            table: TableName::of(t),
            stream: StreamKey::Column(c(t, "source_uuid")),
            version: c(t, "source_version"),
            state: c(t, "data"),
            codec: Codec::Auto,
        });
    Some(l)
}

/// Axon Framework: `domain_event_entry` (Spring's naming) or `domainevententry` (JDBC), ordered
/// by global_index; the payload type names the event, `type` the aggregate; payloads are XML
/// (XStream) or JSON (Jackson).
fn axon(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    let snake = table.name == "domain_event_entry";
    if !(snake || table.name == "domainevententry") {
        return None;
    }
    let n = |snake_name: &'static str, flat: &'static str| if snake { snake_name } else { flat };
    if !has(
        table,
        &[
            n("aggregate_identifier", "aggregateidentifier"),
            n("sequence_number", "sequencenumber"),
            n("payload_type", "payloadtype"),
            "payload",
        ],
    ) {
        return None;
    }
    let mut cols = columns(
        StreamKey::Column(c(table, n("aggregate_identifier", "aggregateidentifier"))),
        c(table, n("sequence_number", "sequencenumber")),
        c(table, n("payload_type", "payloadtype")),
        c(table, "payload"),
    );
    cols.metadata = column_ref(table, n("meta_data", "metadata"));
    cols.recorded_at = column_ref(table, n("time_stamp", "timestamp"));
    cols.position = column_ref(table, n("global_index", "globalindex"));
    cols.aggregate_type = column_ref(table, "type");
    for (key, name) in [
        ("event_id", n("event_identifier", "eventidentifier")),
        ("payload_revision", n("payload_revision", "payloadrevision")),
    ] {
        if let Some(col) = column_ref(table, name) {
            cols.metadata_columns.push((key.to_owned(), col));
        }
    }
    let mut l = layout(table.name.clone(), format!("Axon Framework ({})", table.qualified_name()), "axon", table, cols);
    let snapshot_name = n("snapshot_event_entry", "snapshotevententry");
    let snapshot_columns =
        [n("aggregate_identifier", "aggregateidentifier"), n("sequence_number", "sequencenumber"), "payload"];
    l.snapshots =
        table_in(catalog, table, snapshot_name).filter(|t| has(t, &snapshot_columns)).map(|t| SnapshotLayout {
            table: TableName::of(t),
            stream: StreamKey::Column(c(t, n("aggregate_identifier", "aggregateidentifier"))),
            version: c(t, n("sequence_number", "sequencenumber")),
            state: c(t, "payload"),
            codec: Codec::Auto,
        });
    Some(l)
}

/// The article's table: `events(aggregate_id, version, event_type, payload)` with optional
/// `metadata`, `recorded_at`, `position` and `aggregate_type`; snapshots in a `snapshots`
/// table of the same schema when it has `aggregate_id`, `version` and `state`.
fn article(catalog: &Catalog, table: &CatalogTable) -> Option<Layout> {
    let columns = Columns {
        stream: StreamKey::Column(column_ref(table, "aggregate_id")?),
        version: column_ref(table, "version")?,
        event_type: column_ref(table, "event_type")?,
        payload: column_ref(table, "payload")?,
        metadata: column_ref(table, "metadata"),
        metadata_columns: Vec::new(),
        recorded_at: first_column(table, &["recorded_at", "created_at", "timestamp"]),
        position: first_column(table, &["position", "global_position", "sequence_number"]),
        aggregate_type: column_ref(table, "aggregate_type"),
        archived: None,
    };
    let snapshots = catalog.tables.iter().find(|t| t.name == "snapshots" && t.schema == table.schema).and_then(|t| {
        Some(SnapshotLayout {
            table: TableName::of(t),
            stream: StreamKey::Column(column_ref(t, "aggregate_id")?),
            version: column_ref(t, "version")?,
            state: first_column(t, &["state", "payload", "data"])?,
            codec: Default::default(),
        })
    });
    Some(Layout {
        name: "events".to_owned(),
        description: format!("events table ({})", table.qualified_name()),
        library: "article".to_owned(),
        table: TableName::of(table),
        joins: Vec::new(),
        columns,
        conditions: Vec::new(),
        codec: Default::default(),
        snapshots,
        row_key: Default::default(),
        server: Default::default(),
        stream_versions_unique: false,
    })
}

/// Properties of detection over arbitrary catalogs: it never panics, and every layout it
/// returns names only tables and columns the catalog holds, under names no other layout has.
/// `detection_fuzz_long` (ignored) runs the same for a while:
/// `EVENTSCOPE_FUZZ_SECONDS=600 cargo test --lib -- --ignored detection_fuzz_long --nocapture`.
#[cfg(test)]
mod tests {
    use proptest::collection::vec;
    use proptest::prelude::*;
    use proptest::sample::{select, subsequence};
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::store::layout::{CatalogColumn, MAIN, RowCondition};

    /// The tables detection looks for, and names close to them.
    const TABLES: &[&str] = &[
        "events",
        "EVENTS",
        "Events",
        "stored_events",
        "stored_snapshots",
        "app_events",
        "app_snapshots",
        "_events",
        "_snapshots",
        "é_events",
        "é_snapshots",
        "snapshots",
        "emt_messages",
        "messages",
        "mt_events",
        "mt_streams",
        "event_store_events_in_streams",
        "event_store_events",
        "stream_events",
        "streams",
        "domain_event_entry",
        "domainevententry",
        "snapshot_event_entry",
        "snapshotevententry",
        "a.events",
        "a.events:events",
        "events:events",
        "public.events",
        "select",
        "\"events\"",
        "",
    ];

    /// Every column name a recogniser asks for.
    const COLUMNS: &[&str] = &[
        "originator_id",
        "originator_version",
        "topic",
        "state",
        "notification_id",
        "aggregate_type",
        "aggregate_id",
        "sequence",
        "event_type",
        "event_version",
        "payload",
        "metadata",
        "timestamp",
        "last_sequence",
        "stream_id",
        "stream_position",
        "message_type",
        "message_data",
        "message_metadata",
        "created",
        "global_position",
        "is_archived",
        "message_id",
        "message_kind",
        "position",
        "stream_name",
        "type",
        "data",
        "time",
        "id",
        "seq_id",
        "version",
        "headers",
        "correlation_id",
        "causation_id",
        "tenant_id",
        "user_name",
        "snapshot",
        "snapshot_version",
        "stream",
        "event_id",
        "created_at",
        "stream_version",
        "original_stream_id",
        "stream_uuid",
        "source_uuid",
        "source_version",
        "aggregate_identifier",
        "aggregateidentifier",
        "sequence_number",
        "sequencenumber",
        "payload_type",
        "payloadtype",
        "meta_data",
        "metadata",
        "time_stamp",
        "global_index",
        "globalindex",
        "event_identifier",
        "eventidentifier",
        "payload_revision",
        "payloadrevision",
        "recorded_at",
        "rowid",
        "",
        "\"",
        "a\"b",
        "ÉVENT_TYPE",
        "select",
    ];

    /// The column sets of the libraries, so that whole layouts come up often.
    const TEMPLATES: &[&[&str]] = &[
        &["aggregate_id", "version", "event_type", "payload", "metadata", "recorded_at", "position", "aggregate_type"],
        &["aggregate_id", "version", "state"],
        &["originator_id", "originator_version", "topic", "state", "notification_id"],
        &[
            "aggregate_type",
            "aggregate_id",
            "sequence",
            "event_type",
            "event_version",
            "payload",
            "metadata",
            "timestamp",
        ],
        &["aggregate_type", "aggregate_id", "last_sequence", "payload"],
        &[
            "stream_id",
            "stream_position",
            "global_position",
            "message_type",
            "message_data",
            "message_metadata",
            "created",
            "is_archived",
            "message_id",
            "message_kind",
        ],
        &["global_position", "position", "stream_name", "type", "data", "metadata", "time", "id"],
        &[
            "seq_id",
            "stream_id",
            "version",
            "data",
            "type",
            "headers",
            "timestamp",
            "is_archived",
            "id",
            "correlation_id",
            "causation_id",
            "tenant_id",
            "user_name",
        ],
        &["id", "type", "snapshot", "snapshot_version"],
        &["id", "stream", "position", "event_id"],
        &["id", "event_id", "event_type", "data", "metadata", "created_at"],
        &["event_id", "stream_id", "stream_version", "original_stream_id"],
        &["stream_id", "stream_uuid"],
        &["event_id", "event_type", "data", "metadata", "created_at", "correlation_id", "causation_id"],
        &["source_uuid", "source_version", "data"],
        &[
            "aggregate_identifier",
            "sequence_number",
            "payload_type",
            "payload",
            "meta_data",
            "time_stamp",
            "global_index",
            "type",
            "event_identifier",
            "payload_revision",
        ],
        &["aggregateidentifier", "sequencenumber", "payloadtype", "payload", "metadata", "globalindex"],
    ];

    const TYPES: &[&str] = &[
        "TEXT",
        "INTEGER",
        "int",
        "jsonb",
        "json",
        "uuid",
        "bytea",
        "BLOB",
        "timestamp with time zone",
        "timestamptz",
        "DATETIME",
        "real",
        "numeric",
        "character varying(255)",
        "name",
        "",
        " ",
        "VARCHAR(",
        "\u{0}",
    ];

    const SCHEMAS: &[&str] = &["public", "public", "app", "App", "a", "a.events", "", "\"", "é", "pg_catalog"];

    fn cased(name: &str, case: u8) -> String {
        match case % 4 {
            1 => name.to_ascii_uppercase(),
            2 => {
                let mut chars = name.chars();
                chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
            }
            _ => name.to_owned(),
        }
    }

    fn column_names() -> impl Strategy<Value = Vec<String>> {
        let template = select(TEMPLATES).prop_flat_map(|t| subsequence(t.to_vec(), 0..=t.len()));
        let some = subsequence(COLUMNS.to_vec(), 0..8);
        let odd = vec("\\PC{0,6}", 0..3);
        (template, some, odd, vec(any::<u8>(), 32)).prop_map(|(template, some, odd, cases)| {
            let mut names: Vec<String> = template.iter().chain(some.iter()).map(|n| (*n).to_owned()).collect();
            names.extend(odd);
            for (name, case) in names.iter_mut().zip(cases) {
                // Mostly as written: the recognisers must meet whole layouts often.
                if case < 32 {
                    *name = cased(name, case);
                }
            }
            names
        })
    }

    fn table(sqlite: bool) -> impl Strategy<Value = CatalogTable> {
        let schema = if sqlite { Just(None).boxed() } else { select(SCHEMAS).prop_map(|s| Some(s.to_owned())).boxed() };
        let name = prop_oneof![4 => select(TABLES).prop_map(str::to_owned), 1 => "\\PC{0,12}"];
        let types = vec(prop_oneof![4 => select(TYPES).prop_map(str::to_owned), 1 => "\\PC{0,10}"], 32);
        (schema, name, column_names(), types).prop_map(|(schema, name, names, types)| CatalogTable {
            schema,
            name,
            columns: names.into_iter().zip(types).map(|(name, type_name)| CatalogColumn { name, type_name }).collect(),
        })
    }

    /// A catalog of one backend: SQLite (no schemas, names unique without regard to ASCII case)
    /// or PostgreSQL (schemas, names unique within one).
    fn catalogs() -> impl Strategy<Value = Catalog> {
        any::<bool>().prop_flat_map(|sqlite| {
            vec(table(sqlite), 0..12).prop_map(move |tables| {
                let mut seen = std::collections::HashSet::new();
                let key = |t: &CatalogTable| {
                    (t.schema.clone(), if sqlite { t.name.to_ascii_lowercase() } else { t.name.clone() })
                };
                Catalog { tables: tables.into_iter().filter(|t| seen.insert(key(t))).collect() }
            })
        })
    }

    fn find<'a>(catalog: &'a Catalog, name: &TableName) -> Option<&'a CatalogTable> {
        catalog.tables.iter().find(|t| t.schema == name.schema && t.name == name.name)
    }

    /// Whether `name` is a column of `table` as the database would resolve it: SQLite compares
    /// without regard to ASCII case and knows `rowid`; PostgreSQL (identifiers are quoted)
    /// compares exactly.
    fn exists(table: &CatalogTable, name: &str) -> bool {
        if table.schema.is_none() {
            name.eq_ignore_ascii_case("rowid") || table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name))
        } else {
            table.columns.iter().any(|c| c.name == name)
        }
    }

    fn check_ref(
        what: &str,
        column: &ColumnRef,
        main: &CatalogTable,
        joins: &[(&str, &CatalogTable)],
    ) -> Result<(), TestCaseError> {
        let table = match column.table.as_deref() {
            None => main,
            Some(alias) => match joins.iter().find(|(a, _)| *a == alias) {
                Some((_, t)) => t,
                None => return Err(TestCaseError::fail(format!("{what}: no join with the alias {alias:?}"))),
            },
        };
        prop_assert!(
            exists(table, &column.name),
            "{what}: {:?} is not a column of {}",
            column.name,
            table.qualified_name()
        );
        match &column.fallback {
            Some(other) => check_ref(what, other, main, joins),
            None => Ok(()),
        }
    }

    fn stream_refs(key: &StreamKey) -> Vec<&ColumnRef> {
        match key {
            StreamKey::Column(c) => vec![c],
            StreamKey::TypeAndId { type_column, id_column } => vec![type_column, id_column],
        }
    }

    /// What every layout must be true to: see the module's properties.
    fn check(catalog: &Catalog, layouts: &[Layout]) -> Result<(), TestCaseError> {
        let mut names = std::collections::HashSet::new();
        for layout in layouts {
            prop_assert!(names.insert(layout.name.as_str()), "two layouts are named {:?}", layout.name);
            let Some(main) = find(catalog, &layout.table) else {
                return Err(TestCaseError::fail(format!("{}: no table {}", layout.name, layout.table)));
            };
            let mut joins: Vec<(&str, &CatalogTable)> = Vec::new();
            for join in &layout.joins {
                let Some(table) = find(catalog, &join.table) else {
                    return Err(TestCaseError::fail(format!("{}: joins a missing {}", layout.name, join.table)));
                };
                prop_assert!(join.alias != MAIN && joins.iter().all(|(a, _)| *a != join.alias), "alias {}", join.alias);
                joins.push((join.alias.as_str(), table));
            }
            let c = &layout.columns;
            let mut refs: Vec<&ColumnRef> = stream_refs(&c.stream);
            refs.extend([&c.version, &c.event_type, &c.payload]);
            refs.extend(c.metadata_columns.iter().map(|(_, r)| r));
            refs.extend(
                [&c.metadata, &c.recorded_at, &c.position, &c.aggregate_type, &c.archived].into_iter().flatten(),
            );
            for join in &layout.joins {
                refs.extend(join.on.iter().flat_map(|(a, b)| [a, b]));
            }
            for condition in &layout.conditions {
                match condition {
                    RowCondition::ColumnsEqual(a, b) => refs.extend([a, b]),
                    RowCondition::EqualsText(a, _) | RowCondition::NotEqualText(a, _) => refs.push(a),
                }
            }
            for column in refs {
                check_ref(&layout.name, column, main, &joins)?;
            }
            if let Some(snapshots) = &layout.snapshots {
                let Some(table) = find(catalog, &snapshots.table) else {
                    return Err(TestCaseError::fail(format!("{}: no snapshot table {}", layout.name, snapshots.table)));
                };
                let mut refs = stream_refs(&snapshots.stream);
                refs.extend([&snapshots.version, &snapshots.state]);
                for column in refs {
                    check_ref(&format!("{} snapshots", layout.name), column, table, &[])?;
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(Config { cases: 256, failure_persistence: None, ..Config::default() })]

        #[test]
        fn detection_names_only_what_the_catalog_holds(catalog in catalogs()) {
            check(&catalog, &all(&catalog))?;
        }
    }

    fn t(schema: Option<&str>, name: &str, columns: &[&str]) -> CatalogTable {
        CatalogTable {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
            columns: columns
                .iter()
                .map(|c| CatalogColumn { name: (*c).to_owned(), type_name: "text".into() })
                .collect(),
        }
    }

    /// Found by the property: Axon's layout named `payload_type` without its being there, and
    /// read snapshots from a `snapshot_event_entry` whatever its columns.
    #[test]
    fn axon_names_only_columns_it_found() {
        let without_type = Catalog {
            tables: vec![t(None, "domainevententry", &["aggregateidentifier", "sequencenumber", "payload"])],
        };
        assert!(all(&without_type).is_empty());
        check(&without_type, &all(&without_type)).unwrap();
        let odd_snapshots = Catalog {
            tables: vec![
                t(None, "domain_event_entry", &["aggregate_identifier", "sequence_number", "payload_type", "payload"]),
                t(None, "snapshot_event_entry", &["aggregate_identifier", "state"]),
            ],
        };
        let layouts = all(&odd_snapshots);
        assert_eq!(layouts.len(), 1);
        assert!(layouts[0].snapshots.is_none());
        check(&odd_snapshots, &layouts).unwrap();
    }

    /// Found by the property: Rails Event Store's layout fell back to the link's `id` without
    /// its being there.
    #[test]
    fn rails_event_store_falls_back_to_an_id_only_where_there_is_one() {
        let mut catalog = Catalog {
            tables: vec![
                t(None, "event_store_events_in_streams", &["stream", "position", "event_id"]),
                t(None, "event_store_events", &["event_id", "event_type", "data"]),
            ],
        };
        let layouts = all(&catalog);
        assert!(layouts[0].columns.version.fallback.is_none());
        check(&catalog, &layouts).unwrap();
        catalog.tables[0].columns.push(CatalogColumn { name: "id".into(), type_name: "INTEGER".into() });
        let layouts = all(&catalog);
        assert_eq!(layouts[0].columns.version.fallback.as_deref().map(|c| c.name.as_str()), Some("id"));
        check(&catalog, &layouts).unwrap();
    }

    #[test]
    #[ignore = "long-running fuzz; see the module docs"]
    fn detection_fuzz_long() {
        let seconds: u64 = std::env::var("EVENTSCOPE_FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(600);
        let started = std::time::Instant::now();
        let executions = std::cell::Cell::new(0u64);
        let layouts_seen = std::cell::Cell::new(0u64);
        let config = Config { cases: 500, failure_persistence: None, ..Config::default() };
        while started.elapsed().as_secs() < seconds {
            // (A runner counts its successes for good: one per batch, each with a seed of its own.)
            let outcome = TestRunner::new(config.clone()).run(&catalogs(), |catalog| {
                executions.set(executions.get() + 1);
                let layouts = all(&catalog);
                layouts_seen.set(layouts_seen.get() + layouts.len() as u64);
                check(&catalog, &layouts)
            });
            if let Err(e) = outcome {
                panic!("after {} executions: {e}", executions.get());
            }
        }
        eprintln!(
            "detection_fuzz_long: {} executions ({} layouts recognised) in {:.0?}, no failure",
            executions.get(),
            layouts_seen.get(),
            started.elapsed()
        );
    }
}
