//! A what-if's effect on a read model: the user's SQL projection runs twice, read-only — once on
//! the store as it is, once on the store as the what-if would leave it — and the two results are
//! compared row by row (by a key column, as "Compare with deployed" does).
//!
//! "As it would be" is built inside the query, never in the store: the events table is shadowed
//! by a common table expression of the same name,
//!
//! ```sql
//! WITH "events" AS (
//!     SELECT <every column> FROM main."events"                  -- the table itself,
//!     WHERE NOT (CAST("aggregate_id" AS TEXT) = '…' AND "version" IN (4))   -- less the skipped,
//!     UNION ALL SELECT v.column1, …, (SELECT t."tenant" FROM main."events" AS t
//!         WHERE t."aggregate_id" = v.column1 ORDER BY t."version" DESC LIMIT 1), …
//!     FROM (VALUES (…), (…)) AS v                               -- plus the appended (SQLite)
//!     -- PostgreSQL: UNION ALL SELECT r.…, t.… FROM jsonb_populate_recordset(NULL::"public"."events",
//!     --   E'[…]') AS r LEFT JOIN LATERAL (the stream's last event) AS t ON true
//! ) <the user's query>
//! ```
//!
//! so every unqualified reference to the table in the user's query reads the would-be events,
//! and the whole text still goes through the store's guard and runs on its read-only session.
//! The run "as it is" reads through the same expression, with nothing changed (so a table
//! outside the search path reads the same way both times). A reference qualified with its
//! schema (`public.events`) reads the table as it is: that is said in the result's warnings.
//!
//! Appended rows get, by the layout's roles: the stream id, the version, the type, the data and
//! metadata (as JSON, its text, or its bytes, as the column holds it), the time (the script's
//! `recordedAt`, or now, in the unit and text form of the stream's times), the next positions
//! after the table's last one, the stream's aggregate type, each metadata column's key from the
//! metadata, and `archived = false`. Every other column takes the value of the stream's last
//! event (a tenant, a partition, a default), read by the primary key. Layouts that spread an
//! event over several tables, filter rows, or encode payloads (cqrs-es, Python eventsourcing)
//! are refused with words: their appended rows could not be written faithfully.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Outcome;
use crate::projection::sql::{
    Comparison, PreviewError, PreviewLimits, PreviewPermissions, TokenKind, compare, parse_definition, tokens,
};
use crate::store::CancelToken;
use crate::store::Store;
use crate::store::cell::Cell;
use crate::store::layout::{CatalogColumn, Codec, ColumnKind, ColumnRef, Layout, StreamKey};
use crate::store::query::{Dialect, quote_ident};

/// At most this many appended (or skipped) events are written into one comparison's query.
pub const MAX_SHADOWED_EVENTS: usize = 10_000;

/// How a read model would change if the what-if ran.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ReadModelChange {
    /// The relation the definition names (`None` for a bare query).
    pub relation: Option<String>,
    pub columns: Vec<String>,
    /// Rows now and rows if the script ran.
    pub rows_before: usize,
    pub rows_after: usize,
    #[serde(serialize_with = "comparison_json")]
    pub comparison: Comparison,
    /// What the comparison cannot see (a schema-qualified reference, streams the script failed on).
    pub warnings: Vec<String>,
}

/// The comparison in the what-if's words: each changed row `now` and `if_run`.
fn comparison_json<S: serde::Serializer>(comparison: &Comparison, s: S) -> Result<S::Ok, S::Error> {
    let mut json = comparison.to_json();
    json["changed"] = comparison
        .changed
        .iter()
        .map(|(key, now, if_run)| serde_json::json!({"key": key, "now": now, "if_run": if_run}))
        .collect();
    json.serialize(s)
}

/// One row the shadow adds: column name → value.
type ShadowRow = Vec<(String, Value)>;

/// Why a layout cannot be shadowed, or `None` when it can.
pub fn unsupported(layout: &Layout) -> Option<String> {
    let why = if !layout.joins.is_empty() {
        "spreads each event over several tables"
    } else if !layout.conditions.is_empty() {
        "keeps other rows than events in its table"
    } else if layout.codec != Codec::Auto {
        "encodes its payloads in the library's own form"
    } else if !matches!(&layout.columns.stream, StreamKey::Column(c) if c.table.is_none()) {
        "names a stream by two columns"
    } else {
        return None;
    };
    Some(format!(
        "the read-model comparison shadows one events table, and this layout ({}) {why}: compare the \
         stream states instead",
        layout.name
    ))
}

/// The rows the what-if would append, by the layout's column roles, positions from `next_position`.
fn appended_rows(layout: &Layout, outcome: &Outcome, next_position: Option<i64>, now: DateTime<Utc>) -> Vec<ShadowRow> {
    let c = &layout.columns;
    let mut position = next_position;
    let mut rows = Vec::new();
    for stream in &outcome.touched {
        for event in &stream.appended {
            let mut row: ShadowRow = Vec::new();
            let mut set = |column: &ColumnRef, value: Value| {
                if column.table.is_none() && column.name != "rowid" && !row.iter().any(|(n, _)| *n == column.name) {
                    row.push((column.name.clone(), value));
                }
            };
            let id = match c.stream.id_column().kind {
                ColumnKind::Integer => {
                    stream.stream.parse::<i64>().map_or(Value::from(stream.stream.clone()), Value::from)
                }
                _ => Value::from(stream.stream.clone()),
            };
            set(c.stream.id_column(), id);
            set(&c.version, event["version"].clone());
            set(&c.event_type, event["type"].clone());
            set(&c.payload, event["data"].clone());
            let metadata = match &event["metadata"] {
                Value::Null => Value::Object(Map::new()),
                other => other.clone(),
            };
            for (key, column) in &c.metadata_columns {
                if let Some(value) = metadata.get(key) {
                    set(column, value.clone());
                }
            }
            if let Some(column) = &c.metadata {
                set(column, metadata);
            }
            if let Some(column) = &c.recorded_at {
                let at = event["recordedAt"].as_str().and_then(crate::store::cell::parse_time).unwrap_or(now);
                let value = match column.kind {
                    ColumnKind::Integer => Value::from(at.timestamp()),
                    ColumnKind::Float => Value::from(at.timestamp_millis() as f64 / 1000.0),
                    _ => Value::from(crate::model::format_time(at)),
                };
                set(column, value);
            }
            if let (Some(column), Some(next)) = (&c.position, position) {
                set(column, Value::from(next));
                position = Some(next + 1);
            }
            if let Some(column) = &c.archived {
                set(column, if column.kind == ColumnKind::Integer { Value::from(0) } else { Value::Bool(false) });
            }
            if let (Some(column), Some(aggregate_type)) = (&c.aggregate_type, &stream.aggregate_type) {
                set(column, Value::from(aggregate_type.clone()));
            }
            rows.push(row);
        }
    }
    rows
}

/// A SQL text literal that reads the same whatever the server's settings (PostgreSQL's `E''`
/// form, with backslashes doubled, does not depend on `standard_conforming_strings`).
fn text_literal(dialect: Dialect, text: &str) -> String {
    match dialect {
        Dialect::Sqlite => format!("'{}'", text.replace('\'', "''")),
        Dialect::Postgres => format!("E'{}'", text.replace('\\', "\\\\").replace('\'', "''")),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An appended row's value as a SQLite literal: a document (data, metadata) as its JSON text, or
/// its bytes for a binary column; other values as themselves.
fn sqlite_literal(value: &Value, document: Option<ColumnKind>) -> String {
    match (document, value) {
        (Some(ColumnKind::Bytes), v) => format!("X'{}'", hex(v.to_string().as_bytes())),
        (Some(_), v) => text_literal(Dialect::Sqlite, &v.to_string()),
        (None, Value::Null) => "NULL".to_owned(),
        (None, Value::Bool(b)) => if *b { "1" } else { "0" }.to_owned(),
        (None, Value::Number(n)) => n.to_string(),
        (None, Value::String(text)) => text_literal(Dialect::Sqlite, text),
        (None, other) => text_literal(Dialect::Sqlite, &other.to_string()),
    }
}

/// An appended row's value as PostgreSQL's `jsonb_populate_recordset` converts it to the
/// column's type: a document as JSON (jsonb/json), its JSON text (text) or its bytes (bytea).
fn postgres_value(value: &Value, document: Option<ColumnKind>) -> Value {
    match document {
        Some(ColumnKind::Json) | None => value.clone(),
        Some(ColumnKind::Bytes) => Value::from(format!("\\x{}", hex(value.to_string().as_bytes()))),
        Some(_) => Value::from(value.to_string()),
    }
}

/// Whether a value holds a NUL character anywhere (no database keeps one in text).
fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// The common table expression `"events" AS (…)` that stands for the events table as the
/// what-if would leave it (`outcome`: none for the table as it is). `columns` are the table's,
/// in the catalog's order. Columns the layout gives no role take the value of the stream's last
/// event (a tenant, a partition, a default), read by the primary key.
pub fn shadow_cte(
    layout: &Layout,
    columns: &[CatalogColumn],
    dialect: Dialect,
    outcome: &Outcome,
    next_position: Option<i64>,
    now: DateTime<Utc>,
) -> Result<String, String> {
    if let Some(why) = unsupported(layout) {
        return Err(why);
    }
    for t in &outcome.touched {
        if let Some(event) = t.appended.iter().find(|e| holds_nul(e)) {
            return Err(format!(
                "stream {}: the appended v{} holds a NUL character (\\u0000), which no database keeps in text: \
                 leave it out of the script's events",
                t.stream, event["version"]
            ));
        }
    }
    let appended = appended_rows(layout, outcome, next_position, now);
    let skipped: usize = outcome.touched.iter().map(|t| t.skipped.len()).sum();
    if appended.len() > MAX_SHADOWED_EVENTS || skipped > MAX_SHADOWED_EVENTS {
        return Err(format!(
            "the script would append {} and skip {skipped} events: the read-model comparison takes at most \
             {MAX_SHADOWED_EVENTS} of each; narrow the script (its `category`, or fewer streams)",
            appended.len()
        ));
    }
    let c = &layout.columns;
    let document = |name: &str| -> Option<ColumnKind> {
        [Some(&c.payload), c.metadata.as_ref()].into_iter().flatten().find(|d| d.name == name).map(|d| d.kind)
    };
    let list = columns.iter().map(|column| quote_ident(&column.name)).collect::<Vec<_>>().join(", ");
    // (On SQLite with its schema: a bare name inside the CTE of that name would be the CTE.)
    let table = match (&layout.table.schema, dialect) {
        (None, Dialect::Sqlite) => format!("main.{}", quote_ident(&layout.table.name)),
        _ => crate::store::query::table_sql(&layout.table),
    };
    let mut body = format!("SELECT {list} FROM {table}");
    let id_column = quote_ident(&c.stream.id_column().name);
    let version = quote_ident(&c.version.name);
    let exclusions: Vec<String> = outcome
        .touched
        .iter()
        .filter(|t| !t.skipped.is_empty())
        .map(|t| {
            let versions: Vec<String> = t.skipped.iter().map(i64::to_string).collect();
            format!(
                "(CAST({id_column} AS TEXT) = {} AND {version} IN ({}))",
                text_literal(dialect, &t.stream),
                versions.join(", ")
            )
        })
        .collect();
    if !exclusions.is_empty() {
        body.push_str(&format!(" WHERE NOT ({})", exclusions.join(" OR ")));
    }
    // The columns the appended rows set, in one order for every row.
    let mut set: Vec<&str> = Vec::new();
    for row in &appended {
        for (name, _) in row {
            if !set.contains(&name.as_str()) && columns.iter().any(|column| column.name == *name) {
                set.push(name);
            }
        }
    }
    let value_of = |row: &ShadowRow, name: &str| row.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
    let stream_name = c.stream.id_column().name.as_str();
    // The appended rows' own values (`v` on SQLite, `r` on PostgreSQL) and the stream's last
    // event (`t`), for the columns they do not set.
    let own = |name: &str| match dialect {
        Dialect::Sqlite => format!("v.column{}", set.iter().position(|n| *n == name).unwrap_or(0) + 1),
        Dialect::Postgres => format!("r.{}", quote_ident(name)),
    };
    let stream_at = set.iter().position(|n| *n == stream_name).map_or(0, |i| i + 1);
    let last_event = |name: &str| match dialect {
        Dialect::Sqlite => format!(
            "(SELECT t.{} FROM {table} AS t WHERE t.{id_column} = v.column{stream_at} ORDER BY t.{version} DESC LIMIT 1)",
            quote_ident(name)
        ),
        Dialect::Postgres => format!("t.{}", quote_ident(name)),
    };
    let epoch_time = c.recorded_at.as_ref().filter(|t| matches!(t.kind, ColumnKind::Integer | ColumnKind::Float));
    // (SQLite keeps any time as it was written; PostgreSQL only in a text column.)
    let text_time = c
        .recorded_at
        .as_ref()
        .filter(|t| match dialect {
            Dialect::Sqlite => !matches!(t.kind, ColumnKind::Integer | ColumnKind::Float),
            Dialect::Postgres => t.kind == ColumnKind::Text,
        })
        .map(|t| t.name.as_str());
    let select: Vec<String> = columns
        .iter()
        .map(|column| {
            let name = column.name.as_str();
            if !set.contains(&name) {
                return last_event(name);
            }
            match epoch_time {
                // Seconds, scaled to the unit the stream's times are kept in (ms, µs), as read.
                Some(time) if time.name == name => {
                    let (seconds, last) = (own(name), last_event(name));
                    format!(
                        "(CASE WHEN abs({last}) >= 1e14 THEN {seconds} * 1000000 \
                         WHEN abs({last}) >= 1e11 THEN {seconds} * 1000 ELSE {seconds} END)"
                    )
                }
                _ if text_time == Some(name) => {
                    // In the form the stream's times are written in: `2026-03-23 08:00:00` where
                    // they have a space, as long as theirs.
                    let (at, last) = (own(name), last_event(name));
                    format!(
                        "(CASE WHEN substr({last}, 11, 1) = ' ' THEN replace(substr({at}, 1, length({last})), 'T', ' ') \
                         ELSE {at} END)"
                    )
                }
                _ => own(name),
            }
        })
        .collect();
    if !appended.is_empty() {
        match dialect {
            Dialect::Sqlite => {
                let rows: Vec<String> = appended
                    .iter()
                    .map(|row| {
                        let cells: Vec<String> = set
                            .iter()
                            .map(|name| match value_of(row, name) {
                                None => "NULL".to_owned(),
                                Some(value) => sqlite_literal(&value, document(name)),
                            })
                            .collect();
                        format!("({})", cells.join(", "))
                    })
                    .collect();
                body.push_str(&format!(
                    " UNION ALL SELECT {} FROM (VALUES {}) AS v",
                    select.join(", "),
                    rows.join(", ")
                ));
            }
            Dialect::Postgres => {
                // The table's own row type converts each JSON value to its column's type (uuid,
                // timestamptz, jsonb…), so no type has to be named here.
                let rows: Vec<Value> = appended
                    .iter()
                    .map(|row| {
                        Value::Object(
                            row.iter()
                                .map(|(name, value)| (name.clone(), postgres_value(value, document(name))))
                                .collect(),
                        )
                    })
                    .collect();
                body.push_str(&format!(
                    " UNION ALL SELECT {} FROM jsonb_populate_recordset(NULL::{table}, {}::jsonb) AS r \
                     LEFT JOIN LATERAL (SELECT * FROM {table} AS t WHERE t.{id_column} = r.{id_column} \
                     ORDER BY t.{version} DESC LIMIT 1) AS t ON true",
                    select.join(", "),
                    text_literal(dialect, &Value::Array(rows).to_string())
                ));
            }
        }
    }
    // (PostgreSQL would read a CTE named twice into memory whole: inlined, its indexes serve.)
    let materialized = if dialect == Dialect::Postgres { "NOT MATERIALIZED " } else { "" };
    Ok(format!("{} AS {materialized}({body})", quote_ident(&layout.table.name)))
}

/// Whether a query gives one of its common table expressions — at its top or in any subquery,
/// where it would hide the shadowed table from what reads it there — the name `name`, as the
/// dialect compares names (PostgreSQL: a quoted name exactly, an unquoted one in any case).
pub fn defines_cte(query: &str, name: &str, dialect: Dialect) -> bool {
    let significant: Vec<(TokenKind, &str)> = tokens(query)
        .into_iter()
        .filter(|(k, _)| !matches!(k, TokenKind::Space | TokenKind::Comment))
        .map(|(k, r)| (k, &query[r]))
        .collect();
    let is_word = |i: usize, w: &str| significant.get(i).is_some_and(|(_, t)| t.eq_ignore_ascii_case(w));
    let names_it = |kind: &TokenKind, text: &str| match kind {
        TokenKind::QuotedIdent if dialect == Dialect::Postgres => crate::projection::sql::unquote(text) == name,
        TokenKind::Word | TokenKind::QuotedIdent => crate::projection::sql::unquote(text).eq_ignore_ascii_case(name),
        _ => false,
    };
    // Each WITH list: name [(columns)] AS [NOT] [MATERIALIZED] ( … ) [, …]
    let lists = (0..significant.len()).filter(|&i| is_word(i, "WITH"));
    lists.into_iter().any(|with| {
        let mut i = if is_word(with + 1, "RECURSIVE") { with + 2 } else { with + 1 };
        while let Some((kind, text)) = significant.get(i) {
            if names_it(kind, text) {
                return true;
            }
            // To the body's opening parenthesis (past a column list), then to its close.
            let mut depth = 0usize;
            let mut seen_as = false;
            i += 1;
            while let Some((_, text)) = significant.get(i) {
                match *text {
                    "(" => depth += 1,
                    ")" => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 && seen_as {
                            break;
                        }
                    }
                    t if depth == 0 && t.eq_ignore_ascii_case("AS") => seen_as = true,
                    _ => {}
                }
                i += 1;
            }
            if significant.get(i + 1).map(|(_, t)| *t) != Some(",") {
                return false;
            }
            i += 2;
        }
        false
    })
}

/// The user's query with `cte` in front: joined to its own `WITH` (after `RECURSIVE`), or as a
/// `WITH` of its own. Returns the text, where the inserted text starts, and its length (to map
/// the database's error positions back to the user's text).
pub fn splice(cte: &str, query: &str) -> (String, usize, usize) {
    let significant: Vec<(TokenKind, std::ops::Range<usize>)> =
        tokens(query).into_iter().filter(|(k, _)| !matches!(k, TokenKind::Space | TokenKind::Comment)).collect();
    let word = |i: usize| {
        significant.get(i).filter(|(k, _)| *k == TokenKind::Word).map(|(_, r)| query[r.clone()].to_ascii_uppercase())
    };
    match significant.first() {
        Some((TokenKind::Word, _)) if word(0).as_deref() == Some("WITH") => {
            let after = if word(1).as_deref() == Some("RECURSIVE") { 1 } else { 0 };
            let at = significant[after].1.end;
            let inserted = format!(" {cte},");
            let text = format!("{}{inserted}{}", &query[..at], &query[at..]);
            (text, at, inserted.len())
        }
        Some((TokenKind::Punct, r)) if &query[r.clone()] == "(" => {
            let prefix = format!("WITH {cte} SELECT * FROM (");
            (format!("{prefix}{query}) AS whatif_query"), 0, prefix.len())
        }
        _ => {
            let prefix = format!("WITH {cte} ");
            (format!("{prefix}{query}"), 0, prefix.len())
        }
    }
}

/// What the comparison cannot see in this query: references to the table with its schema (they
/// read the store as it is), or no reference to the table at all.
pub fn reference_warnings(layout: &Layout, query: &str) -> Vec<String> {
    let significant: Vec<(TokenKind, &str)> = tokens(query)
        .into_iter()
        .filter(|(k, _)| !matches!(k, TokenKind::Space | TokenKind::Comment))
        .map(|(k, r)| (k, &query[r]))
        .collect();
    let names_table = |(kind, text): &(TokenKind, &str)| {
        matches!(kind, TokenKind::Word | TokenKind::QuotedIdent)
            && crate::projection::sql::unquote(text).eq_ignore_ascii_case(&layout.table.name)
    };
    let mut warnings = Vec::new();
    let qualified = significant
        .windows(3)
        .any(|w| matches!(w[0].0, TokenKind::Word | TokenKind::QuotedIdent) && w[1].1 == "." && names_table(&w[2]));
    if qualified {
        warnings.push(format!(
            "the query names `{}` with its schema: those references read the store as it is; write `{}` alone \
             to read it as the what-if would leave it",
            layout.table.name, layout.table.name
        ));
    }
    if !significant.iter().any(names_table) {
        warnings.push(format!(
            "the query does not read `{}`, the events table: the what-if cannot change its result",
            layout.table.name
        ));
    }
    warnings
}

/// Runs the SQL definition `text` on the store as it is and as `outcome` would leave it, and
/// compares the rows by `key` (default: the first column). Both runs are previews: guarded,
/// read-only, with `limits`.
pub async fn compare_read_model(
    store: &Store,
    outcome: &Outcome,
    text: &str,
    key: Option<&str>,
    limits: PreviewLimits,
    permissions: &PreviewPermissions,
    cancel: &CancelToken,
) -> Result<ReadModelChange, PreviewError> {
    let layout = &store.layout;
    if let Some(why) = unsupported(layout) {
        return Err(PreviewError::Refused(why));
    }
    let definition = parse_definition(text)?;
    if defines_cte(&definition.query, &layout.table.name, store.dialect()) {
        return Err(PreviewError::Refused(format!(
            "the query defines its own `{}`: the comparison stands the events table in under that name; give \
             yours another",
            layout.table.name
        )));
    }
    let store_error = |e: crate::store::StoreError| PreviewError::Database { message: e.to_string(), position: None };
    let catalog = store.catalog().await.map_err(store_error)?;
    let table = catalog
        .tables
        .iter()
        .find(|t| t.name == layout.table.name && t.schema == layout.table.schema)
        .ok_or_else(|| PreviewError::Refused(format!("the catalog does not list the table {}", layout.table)))?;
    let next_position = match &layout.columns.position {
        Some(position)
            if position.table.is_none()
                && position.name != "rowid"
                && outcome.touched.iter().any(|t| !t.appended.is_empty()) =>
        {
            let mut sql = crate::store::query::Sql::new(store.dialect());
            sql.text = format!(
                "SELECT MAX({}) FROM {}",
                quote_ident(&position.name),
                crate::store::query::table_sql(&layout.table)
            );
            let rows = store.fetch(&sql).await.map_err(store_error)?;
            match rows.first().and_then(|r| r.first()) {
                Some(Cell::Int(last)) => Some(last.saturating_add(1)),
                _ => Some(1),
            }
        }
        _ => None,
    };
    // Both runs read the table through a common table expression of its name: as it is, and as
    // the what-if would leave it (so that a table outside the search path reads the same way).
    let as_it_is = shadow_cte(layout, &table.columns, store.dialect(), &Outcome::default(), None, Utc::now())
        .map_err(PreviewError::Refused)?;
    let cte = shadow_cte(layout, &table.columns, store.dialect(), outcome, next_position, Utc::now())
        .map_err(PreviewError::Refused)?;
    let offset = definition.query_offset;
    // A position in the user's text maps back; one in the inserted text has no place there.
    let run = |text: String, inserted_at: usize, inserted_len: usize, said: &'static str| async move {
        store.run_query(&text, limits, permissions, cancel).await.map_err(|e| match e {
            PreviewError::Database { message, position } => PreviewError::Database {
                message: format!("{said}{message}"),
                position: position.and_then(|p| match p {
                    p if p < inserted_at => Some(p + offset),
                    p if p >= inserted_at + inserted_len => Some(p - inserted_len + offset),
                    _ => None,
                }),
            },
            other => other,
        })
    };
    let (text, at, len) = splice(&as_it_is, &definition.query);
    let before = run(text, at, len, "").await?;
    let (text, at, len) = splice(&cte, &definition.query);
    let after = run(text, at, len, "with the what-if's events: ").await?;
    let key = match key {
        Some(key) => key.to_owned(),
        None => before
            .columns
            .first()
            .map(|c| c.name.clone())
            .ok_or_else(|| PreviewError::Refused("the query gives no column to match rows by".to_owned()))?,
    };
    let comparison = compare(&before, &after, &key).map_err(|e| {
        PreviewError::Refused(
            e.replace("the deployed relation", "the read model now")
                .replace("the query", "the read model if the script ran"),
        )
    })?;
    let mut warnings = reference_warnings(layout, &definition.query);
    if outcome.failed_streams > 0 {
        warnings.push(format!(
            "the script failed on {}: what it would do there is not in the comparison",
            crate::ui::counted(outcome.failed_streams as i64, "stream", "streams")
        ));
    }
    Ok(ReadModelChange {
        relation: definition.relation,
        columns: before.columns.iter().map(|c| c.name.clone()).collect(),
        rows_before: before.rows.len(),
        rows_after: after.rows.len(),
        comparison,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::{Catalog, CatalogTable};
    use crate::whatif::StreamOutcome;
    use serde_json::json;

    fn article(kind_payload: &str) -> (Layout, Vec<CatalogColumn>) {
        let columns: Vec<CatalogColumn> = [
            ("position", "INTEGER"),
            ("aggregate_id", "TEXT"),
            ("aggregate_type", "TEXT"),
            ("version", "INTEGER"),
            ("event_type", "TEXT"),
            ("payload", kind_payload),
            ("metadata", "TEXT"),
            ("recorded_at", "TEXT"),
            ("event_id", "TEXT"),
        ]
        .iter()
        .map(|(n, t)| CatalogColumn { name: (*n).into(), type_name: (*t).into() })
        .collect();
        let catalog =
            Catalog { tables: vec![CatalogTable { schema: None, name: "events".into(), columns: columns.clone() }] };
        (crate::store::layout::detect(&catalog).unwrap().remove(0), columns)
    }

    fn outcome() -> Outcome {
        Outcome {
            touched: vec![StreamOutcome {
                stream: "order-1".into(),
                label: None,
                category: "Order".into(),
                aggregate_type: Some("Order".into()),
                appended: vec![json!({"type": "Taxed", "version": 3, "data": {"tax": 1.5, "note": "it's"},
                                      "metadata": {"actor": "job"}, "recordedAt": null})],
                skipped: vec![2],
                before: json!({}),
                after: json!({}),
                changes: Vec::new(),
            }],
            ..Outcome::default()
        }
    }

    #[test]
    fn the_shadow_keeps_the_table_less_the_skipped_plus_the_appended() {
        let (layout, columns) = article("TEXT");
        let now = crate::store::cell::parse_time("2026-04-01T00:00:00Z").unwrap();
        let cte = shadow_cte(&layout, &columns, Dialect::Sqlite, &outcome(), Some(501), now).unwrap();
        assert!(cte.starts_with("\"events\" AS (SELECT \"position\", \"aggregate_id\""), "{cte}");
        assert!(
            cte.contains(
                "FROM main.\"events\" WHERE NOT ((CAST(\"aggregate_id\" AS TEXT) = 'order-1' AND \"version\" IN (2)))"
            ),
            "{cte}"
        );
        // The appended row's own values, and the stream's last event's for the columns without a role.
        assert!(
            cte.contains(
                "FROM (VALUES ('order-1', 3, 'Taxed', '{\"tax\":1.5,\"note\":\"it''s\"}', '{\"actor\":\"job\"}', \
                 '2026-04-01T00:00:00.000Z', 501, 'Order')) AS v)"
            ),
            "{cte}"
        );
        assert!(
            cte.contains(
                "(SELECT t.\"event_id\" FROM main.\"events\" AS t WHERE t.\"aggregate_id\" = v.column1 ORDER BY \
                 t.\"version\" DESC LIMIT 1)"
            ),
            "{cte}"
        );
        // PostgreSQL: one JSON document, converted by the table's row type.
        let cte = shadow_cte(&layout, &columns, Dialect::Postgres, &outcome(), None, now).unwrap();
        assert!(cte.starts_with("\"events\" AS NOT MATERIALIZED ("), "{cte}");
        assert!(cte.contains("jsonb_populate_recordset(NULL::\"events\", E'[{"), "{cte}");
        assert!(
            cte.contains(
                "LEFT JOIN LATERAL (SELECT * FROM \"events\" AS t WHERE t.\"aggregate_id\" = r.\"aggregate_id\""
            ),
            "{cte}"
        );
        assert!(cte.contains("\"payload\":\"{\\\\\"tax\\\\\":1.5,\\\\\"note\\\\\":\\\\\"it''s\\\\\"}"), "{cte}");
        // A binary payload column gets the JSON's bytes.
        let (layout, columns) = article("BLOB");
        let cte = shadow_cte(&layout, &columns, Dialect::Sqlite, &outcome(), None, now).unwrap();
        assert!(cte.contains(&format!("X'{}'", hex(br#"{"tax":1.5,"note":"it's"}"#))), "{cte}");
    }

    #[test]
    fn the_cte_joins_the_query_where_it_belongs() {
        let cte = "\"events\" AS (SELECT 1)";
        assert_eq!(splice(cte, "SELECT * FROM events").0, "WITH \"events\" AS (SELECT 1) SELECT * FROM events");
        let (text, at, len) = splice(cte, "with recursive x(n) AS (SELECT 1) SELECT * FROM x, events");
        assert_eq!(text, "with recursive \"events\" AS (SELECT 1), x(n) AS (SELECT 1) SELECT * FROM x, events");
        assert_eq!((at, len), ("with recursive".len(), cte.len() + 2));
        let (text, _, _) = splice(cte, "-- c\nWITH x AS (SELECT 1) TABLE x");
        assert_eq!(text, "-- c\nWITH \"events\" AS (SELECT 1), x AS (SELECT 1) TABLE x");
        assert_eq!(
            splice(cte, "(SELECT 1) UNION (SELECT 2)").0,
            "WITH \"events\" AS (SELECT 1) SELECT * FROM ((SELECT 1) UNION (SELECT 2)) AS whatif_query"
        );
    }

    #[test]
    fn a_query_that_names_its_own_events_is_told() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            assert!(defines_cte("WITH events AS (SELECT 1) SELECT * FROM events", "events", dialect));
            assert!(defines_cte(
                "with recursive x(n) as (select 1), Events as materialized (select 2) table x",
                "events",
                dialect
            ));
            assert!(!defines_cte("WITH x AS (SELECT * FROM events) SELECT * FROM x, events", "events", dialect));
            assert!(!defines_cte("SELECT 1 AS events", "events", dialect));
            // In a subquery too: it would hide the shadowed table from what reads it there.
            let nested =
                "SELECT * FROM (WITH events AS (SELECT 'fake' AS aggregate_id) SELECT aggregate_id FROM events) s";
            assert!(defines_cte(nested, "events", dialect));
        }
        // A quoted name is another name on PostgreSQL when its case differs; not on SQLite.
        let quoted = "WITH x AS (SELECT 1 AS a), \"EVENTS\" AS (SELECT 2 AS a) SELECT * FROM x";
        assert!(defines_cte(quoted, "events", Dialect::Sqlite));
        assert!(!defines_cte(quoted, "events", Dialect::Postgres));
        // A NUL in an appended event is the script's, and said so.
        let (layout, columns) = article("TEXT");
        let mut nul = outcome();
        nul.touched[0].appended[0]["data"]["note"] = json!("a\u{0}b");
        let error = shadow_cte(&layout, &columns, Dialect::Sqlite, &nul, None, Utc::now()).unwrap_err();
        assert!(error.contains("order-1") && error.contains("NUL"), "{error}");
    }

    #[test]
    fn what_the_comparison_cannot_see_is_said() {
        let (layout, _) = article("TEXT");
        assert!(reference_warnings(&layout, "SELECT * FROM events e").is_empty());
        let warnings = reference_warnings(&layout, "SELECT * FROM main.events UNION ALL SELECT * FROM \"EVENTS\"");
        assert!(warnings.len() == 1 && warnings[0].contains("with its schema"), "{warnings:?}");
        let warnings = reference_warnings(&layout, "SELECT 'events' FROM snapshots");
        assert!(warnings.len() == 1 && warnings[0].contains("does not read"), "{warnings:?}");
    }

    #[test]
    fn too_many_events_and_other_layouts_are_refused_with_words() {
        let (mut layout, columns) = article("TEXT");
        let mut many = outcome();
        many.touched[0].appended = vec![json!({"type": "T", "version": 1, "data": {}}); MAX_SHADOWED_EVENTS + 1];
        let error = shadow_cte(&layout, &columns, Dialect::Sqlite, &many, None, Utc::now()).unwrap_err();
        assert!(error.contains("at most 10000"), "{error}");
        layout.codec = Codec::TaggedEnum;
        let error = shadow_cte(&layout, &columns, Dialect::Sqlite, &outcome(), None, Utc::now()).unwrap_err();
        assert!(error.contains("encodes its payloads"), "{error}");
    }
}
