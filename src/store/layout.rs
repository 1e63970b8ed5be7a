//! Layouts: how a store maps onto streams and events. A layout is data — which table, which
//! column plays which role, of which kind — and is recognised from the database catalog.
//! The SQL built from a layout lives in `query.rs`; nothing here talks to a database.

use serde::{Deserialize, Serialize};

/// The broad type of a column, from its declared (SQLite) or catalog (PostgreSQL) type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnKind {
    Text,
    Integer,
    Float,
    Json,
    Bytes,
    Uuid,
    TimestampTz,
    Timestamp,
    Other,
}

impl ColumnKind {
    /// Classifies a declared or catalog type name (`jsonb`, `timestamp with time zone`,
    /// `INTEGER`, `character varying`, ...).
    pub fn from_type_name(name: &str) -> ColumnKind {
        let t = name.trim().to_ascii_lowercase();
        if t == "uuid" {
            ColumnKind::Uuid
        } else if t.starts_with("json") && !t.contains('[') {
            ColumnKind::Json
        } else if t == "bytea" || t.contains("blob") {
            ColumnKind::Bytes
        } else if t.starts_with("timestamp") && (t.contains("with time zone") || t.ends_with("tz")) {
            ColumnKind::TimestampTz
        } else if t.starts_with("timestamp") || t.starts_with("datetime") || t == "date" {
            ColumnKind::Timestamp
        } else if t.contains("int") || t == "serial" || t == "bigserial" {
            ColumnKind::Integer
        } else if t.contains("real") || t.contains("double") || t.contains("float") || t == "numeric" {
            ColumnKind::Float
        } else if t.contains("char") || t.contains("text") || t.contains("clob") || t == "name" {
            ColumnKind::Text
        } else {
            ColumnKind::Other
        }
    }
}

/// A column as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogColumn {
    pub name: String,
    pub type_name: String,
}

/// A table (or view) as the catalog describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogTable {
    /// The schema on PostgreSQL; `None` on SQLite.
    pub schema: Option<String>,
    pub name: String,
    pub columns: Vec<CatalogColumn>,
}

impl CatalogTable {
    pub fn column(&self, name: &str) -> Option<&CatalogColumn> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn qualified_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// The tables of a database, with their columns.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub tables: Vec<CatalogTable>,
}

impl Catalog {
    /// Tables with this name, the ones in the default schema (`public`, or none) first.
    pub fn tables_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a CatalogTable> + 'a {
        let default_first = |t: &&CatalogTable| !matches!(t.schema.as_deref(), None | Some("public"));
        let mut tables: Vec<&CatalogTable> = self.tables.iter().filter(|t| t.name == name).collect();
        tables.sort_by_key(default_first);
        tables.into_iter()
    }

    /// The table names, qualified, for error messages.
    pub fn table_list(&self) -> String {
        if self.tables.is_empty() {
            return "no tables at all that it may read (on PostgreSQL a role sees only the tables it has a \
                    privilege on: check the URL's user and its GRANTs)"
                .to_owned();
        }
        self.tables.iter().map(CatalogTable::qualified_name).collect::<Vec<_>>().join(", ")
    }
}

/// A table reference: an optional schema and a name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    pub fn of(table: &CatalogTable) -> TableName {
        TableName { schema: table.schema.clone(), name: table.name.clone() }
    }
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The alias of a layout's main table in the SQL eventscope builds.
pub const MAIN: &str = "e";

/// A column playing a role in a layout: of the main table, or of a joined one (by its alias).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    /// The alias of the joined table that holds it; `None` for the main table.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    pub name: String,
    pub kind: ColumnKind,
    /// Where this column is NULL, this other one is used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Box<ColumnRef>>,
}

impl ColumnRef {
    pub fn main(name: &str, kind: ColumnKind) -> ColumnRef {
        ColumnRef { table: None, name: name.to_owned(), kind, fallback: None }
    }

    pub fn of(alias: &str, name: &str, kind: ColumnKind) -> ColumnRef {
        ColumnRef { table: Some(alias.to_owned()), name: name.to_owned(), kind, fallback: None }
    }

    /// This column, or `other` where this one is NULL.
    pub fn or(mut self, other: ColumnRef) -> ColumnRef {
        self.fallback = Some(Box::new(other));
        self
    }

    /// SQLite's row id of the main table (a global order where there is no position column).
    pub fn rowid() -> ColumnRef {
        ColumnRef::main("rowid", ColumnKind::Integer)
    }
}

/// What identifies a stream.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamKey {
    /// One column.
    Column(ColumnRef),
    /// An aggregate type and an id, shown as `Type-id` (so the category is the type).
    TypeAndId { type_column: ColumnRef, id_column: ColumnRef },
}

impl StreamKey {
    /// The column whose kind decides how an id is compared (the id's).
    pub fn id_column(&self) -> &ColumnRef {
        match self {
            StreamKey::Column(c) => c,
            StreamKey::TypeAndId { id_column, .. } => id_column,
        }
    }
}

/// A table joined to the main one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Join {
    pub table: TableName,
    pub alias: String,
    /// Pairs of columns that must be equal.
    pub on: Vec<(ColumnRef, ColumnRef)>,
}

/// A condition every row of the layout meets (to leave out link rows, say).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowCondition {
    ColumnsEqual(ColumnRef, ColumnRef),
    EqualsText(ColumnRef, String),
    NotEqualText(ColumnRef, String),
}

/// How payloads (and metadata) are encoded beyond plain JSON.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// JSON, or another format recognised from its bytes (MessagePack, YAML; XML and others named).
    #[default]
    Auto,
    /// Python eventsourcing: zlib-compressed and/or AES-GCM-encrypted JSON with wrapped values;
    /// the event type is a topic (`module:Class.Event`); the time is inside the state.
    Eventsourcing,
    /// cqrs-es: the payload is an externally tagged enum (`{"Variant": {...}}`).
    TaggedEnum,
}

/// Which column holds what.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    pub stream: StreamKey,
    pub version: ColumnRef,
    pub event_type: ColumnRef,
    pub payload: ColumnRef,
    #[serde(default)]
    pub metadata: Option<ColumnRef>,
    /// More columns shown (and filtered) as metadata keys: correlation_id, causation_id, ...
    #[serde(default)]
    pub metadata_columns: Vec<(String, ColumnRef)>,
    #[serde(default)]
    pub recorded_at: Option<ColumnRef>,
    #[serde(default)]
    pub position: Option<ColumnRef>,
    /// The aggregate type, used as a stream's category where present.
    #[serde(default)]
    pub aggregate_type: Option<ColumnRef>,
    /// A flag that marks archived events.
    #[serde(default)]
    pub archived: Option<ColumnRef>,
}

/// Snapshots a store keeps: a table keyed by stream and version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotLayout {
    pub table: TableName,
    pub stream: StreamKey,
    pub version: ColumnRef,
    pub state: ColumnRef,
    #[serde(default)]
    pub codec: Codec,
}

/// How one store maps onto streams and events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// A short name to choose it by (`--layout NAME`).
    pub name: String,
    /// What it is, in words, for the status bar.
    pub description: String,
    /// The library that writes this layout (`article`, `eventsourcing`, `custom`, ...).
    #[serde(default = "custom")]
    pub library: String,
    pub table: TableName,
    #[serde(default)]
    pub joins: Vec<Join>,
    pub columns: Columns,
    #[serde(default)]
    pub conditions: Vec<RowCondition>,
    #[serde(default)]
    pub codec: Codec,
    #[serde(default)]
    pub snapshots: Option<SnapshotLayout>,
    /// How the store tells this layout's rows apart where its columns may not (found out on
    /// opening, never saved in a layout file).
    #[serde(skip)]
    pub row_key: RowKey,
    /// What the server can do that queries may use (found out on opening, never saved).
    #[serde(skip)]
    pub server: ServerFeatures,
    /// The table has a unique index on exactly its stream and version columns, both NOT NULL
    /// (found out on opening, never saved): a stream's events are then told apart, and
    /// ordered, by their version alone.
    #[serde(skip)]
    pub stream_versions_unique: bool,
}

/// What the database server behind a store can do that eventscope's queries may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerFeatures {
    /// PostgreSQL 16 or later: `pg_input_is_valid` says whether a text reads as a type without
    /// failing the query, so that one unreadable row is skipped rather than failing them all.
    pub input_checks: bool,
}

/// The storage's own identity of a row of the layout's main table, used as the last key of
/// every keyset-paged listing, so that rows sharing a version (or without a position) are each
/// listed exactly once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RowKey {
    /// None known (a view, a `WITHOUT ROWID` table): pages fall back to skipping rows seen.
    #[default]
    None,
    /// SQLite's `rowid`.
    SqliteRowid,
    /// PostgreSQL's `(tableoid, ctid)` (unique across the partitions of a table too).
    PostgresCtid,
}

fn custom() -> String {
    "custom".to_owned()
}

impl Layout {
    /// Reads a layout file (the JSON the mapping form saves).
    pub fn from_file(path: &std::path::Path) -> Result<Layout, String> {
        let text = crate::model::read_user_file(path).map_err(|e| format!("cannot read the layout file: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("{} is not a layout file: {e}", path.display()))
    }
}

/// Why no layout could be recognised.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "this database is not an event store eventscope recognises: found {tables}; map its tables with \
     the mapping form in the window, or give a layout file with --layout FILE"
)]
pub struct NoLayout {
    pub tables: String,
}

pub(crate) fn column_ref(table: &CatalogTable, name: &str) -> Option<ColumnRef> {
    table.column(name).map(|c| ColumnRef::main(&c.name, ColumnKind::from_type_name(&c.type_name)))
}

pub(crate) fn first_column(table: &CatalogTable, names: &[&str]) -> Option<ColumnRef> {
    names.iter().find_map(|name| column_ref(table, name))
}

/// Every layout recognised in the catalog, the most specific first.
pub fn detect(catalog: &Catalog) -> Result<Vec<Layout>, NoLayout> {
    let layouts = super::detect::all(catalog);
    if layouts.is_empty() {
        return Err(NoLayout { tables: catalog.table_list() });
    }
    Ok(layouts)
}

/// Picks a layout by name among the detected ones (or the first when no name is given).
pub fn choose(layouts: Vec<Layout>, name: Option<&str>) -> Result<Layout, String> {
    let names = || layouts.iter().map(|l| l.name.as_str()).collect::<Vec<_>>().join(", ");
    match name {
        None => layouts.first().cloned().ok_or_else(|| "no layout".to_owned()),
        Some(name) => layouts
            .iter()
            .find(|l| l.name == name)
            .cloned()
            .ok_or_else(|| format!("no layout named `{name}` in this store; the layouts found are: {}", names())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(schema: Option<&str>, name: &str, columns: &[(&str, &str)]) -> CatalogTable {
        CatalogTable {
            schema: schema.map(str::to_owned),
            name: name.to_owned(),
            columns: columns.iter().map(|(n, t)| CatalogColumn { name: (*n).into(), type_name: (*t).into() }).collect(),
        }
    }

    #[test]
    fn type_names_classify() {
        use ColumnKind::*;
        for (name, kind) in [
            ("uuid", Uuid),
            ("jsonb", Json),
            ("JSON", Json),
            ("bytea", Bytes),
            ("BLOB", Bytes),
            ("timestamp with time zone", TimestampTz),
            ("TIMESTAMPTZ", TimestampTz),
            ("timestamp without time zone", Timestamp),
            ("DATETIME", Timestamp),
            ("INTEGER", Integer),
            ("bigint", Integer),
            ("character varying", Text),
            ("TEXT", Text),
            ("", Other),
        ] {
            assert_eq!(ColumnKind::from_type_name(name), kind, "{name}");
        }
    }

    #[test]
    fn the_article_table_is_recognised_with_its_optional_columns() {
        let catalog = Catalog {
            tables: vec![
                table(
                    Some("public"),
                    "events",
                    &[
                        ("aggregate_id", "uuid"),
                        ("version", "integer"),
                        ("event_type", "text"),
                        ("payload", "jsonb"),
                        ("recorded_at", "timestamp with time zone"),
                    ],
                ),
                table(
                    Some("public"),
                    "snapshots",
                    &[("aggregate_id", "uuid"), ("version", "integer"), ("state", "jsonb")],
                ),
            ],
        };
        let layouts = detect(&catalog).unwrap();
        assert_eq!(layouts.len(), 1);
        let layout = &layouts[0];
        assert_eq!(layout.name, "events");
        assert_eq!(layout.columns.stream.id_column().kind, ColumnKind::Uuid);
        assert_eq!(layout.columns.payload.kind, ColumnKind::Json);
        assert_eq!(layout.columns.recorded_at.as_ref().unwrap().kind, ColumnKind::TimestampTz);
        assert!(layout.columns.metadata.is_none());
        assert!(layout.columns.position.is_none());
        assert_eq!(layout.snapshots.as_ref().unwrap().state.name, "state");
    }

    #[test]
    fn an_unrecognised_database_lists_its_tables() {
        let catalog = Catalog {
            tables: vec![
                table(None, "users", &[("id", "INTEGER")]),
                table(None, "events", &[("id", "INTEGER"), ("body", "TEXT")]),
            ],
        };
        let err = detect(&catalog).unwrap_err();
        assert_eq!(err.tables, "users, events");
        assert!(err.to_string().contains("found users, events"));
    }

    #[test]
    fn choosing_a_layout_by_name() {
        let catalog = Catalog {
            tables: vec![
                table(
                    Some("app2"),
                    "events",
                    &[("aggregate_id", "text"), ("version", "int"), ("event_type", "text"), ("payload", "json")],
                ),
                table(
                    Some("public"),
                    "events",
                    &[("aggregate_id", "text"), ("version", "int"), ("event_type", "text"), ("payload", "json")],
                ),
            ],
        };
        let layouts = detect(&catalog).unwrap();
        assert_eq!(layouts.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["events", "app2.events"]);
        assert_eq!(choose(layouts.clone(), Some("app2.events")).unwrap().table.schema.as_deref(), Some("app2"));
        let err = choose(layouts, Some("nope")).unwrap_err();
        assert!(err.contains("events, app2.events"), "{err}");
    }

    #[test]
    fn layouts_round_trip_as_json() {
        let catalog = Catalog {
            tables: vec![table(
                None,
                "events",
                &[("aggregate_id", "TEXT"), ("version", "INTEGER"), ("event_type", "TEXT"), ("payload", "TEXT")],
            )],
        };
        let layout = detect(&catalog).unwrap().remove(0);
        let text = serde_json::to_string(&layout).unwrap();
        assert_eq!(serde_json::from_str::<Layout>(&text).unwrap(), layout);
    }
}
