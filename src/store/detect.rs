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
    let mut cols = columns(
        StreamKey::Column(c(table, "stream")),
        c(table, "position").or(c(table, "id")),
        ev("event_type"),
        ev("data"),
    );
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
        &[n("aggregate_identifier", "aggregateidentifier"), n("sequence_number", "sequencenumber"), "payload"],
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
    l.snapshots = table_in(catalog, table, snapshot_name).map(|t| SnapshotLayout {
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
    })
}
