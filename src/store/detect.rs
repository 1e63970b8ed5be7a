//! Recognising layouts from the catalog: one recogniser per event-sourcing library, each
//! mapping the tables it finds onto a [`Layout`]. The facts (table and column names, which of
//! them are optional) come from each library's own schema; the fixtures in `tests/layouts.rs`
//! build those schemas on every backend the library supports.

use super::layout::{
    Catalog, CatalogTable, ColumnKind, ColumnRef, Columns, Layout, SnapshotLayout, StreamKey, TableName, column_ref,
    first_column,
};

/// Every layout in the catalog: the libraries' layouts first, the article's table last (several
/// libraries also name a table `events`).
pub fn all(catalog: &Catalog) -> Vec<Layout> {
    let mut layouts = Vec::new();
    for table in catalog.tables_named("events") {
        if let Some(mut layout) = article(catalog, table) {
            if let Some(schema) = table.schema.as_deref().filter(|s| *s != "public") {
                layout.name = format!("{schema}.events");
            }
            layouts.push(layout);
        }
    }
    layouts
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
    let snapshots = catalog
        .tables
        .iter()
        .find(|t| t.name == "snapshots" && t.schema == table.schema)
        .and_then(|t| {
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
    })
}

#[allow(dead_code)]
fn kind(table: &CatalogTable, name: &str) -> ColumnKind {
    column_ref(table, name).map_or(ColumnKind::Other, |c: ColumnRef| c.kind)
}
