//! The SQL eventscope runs, built from a [`Layout`] for one [`Dialect`]. Every list is paged by
//! keyset (a cursor naming the last row seen), never by `OFFSET`; every user value is a bound
//! parameter, never spliced into the text. Pure: builds text and parameters, runs nothing.
//!
//! The layout's main table is always aliased `e`; joined tables have their own aliases; a
//! stream is one column, or an aggregate type and id shown as `Type-id`.

use super::cell::{Cell, Param};
use super::layout::{ColumnKind, ColumnRef, Layout, MAIN, RowCondition, RowKey, StreamKey, TableName};

/// The SQL flavour of a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Statement text with its bound parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Sql {
    pub text: String,
    pub params: Vec<Param>,
    dialect: Dialect,
}

impl Sql {
    pub(crate) fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub(crate) fn new(dialect: Dialect) -> Sql {
        Sql { text: String::new(), params: Vec::new(), dialect }
    }

    /// Adds a parameter and returns its placeholder (text whose bytes are not UTF-8 is bound
    /// as bytes and cast back to text, so it compares as the text it is).
    pub(crate) fn bind(&mut self, param: Param) -> String {
        let as_text = matches!(param, Param::TextBytes(_));
        self.params.push(param);
        let placeholder = match self.dialect {
            Dialect::Sqlite => format!("?{}", self.params.len()),
            Dialect::Postgres => format!("${}", self.params.len()),
        };
        if as_text { format!("CAST({placeholder} AS TEXT)") } else { placeholder }
    }
}

/// Quotes an identifier for both dialects.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

pub fn table_sql(table: &TableName) -> String {
    match &table.schema {
        Some(schema) => format!("{}.{}", quote_ident(schema), quote_ident(&table.name)),
        None => quote_ident(&table.name),
    }
}

pub(crate) fn col(c: &ColumnRef) -> String {
    let column = format!("{}.{}", quote_ident(c.table.as_deref().unwrap_or(MAIN)), quote_ident(&c.name));
    match &c.fallback {
        Some(other) => format!("COALESCE({column}, {})", col(other)),
        None => column,
    }
}

/// The layout's tables: the main one aliased `e`, joined ones by their aliases.
pub(crate) fn from_sql(layout: &Layout) -> String {
    let mut from = format!("{} AS {}", table_sql(&layout.table), quote_ident(MAIN));
    for join in &layout.joins {
        let on: Vec<String> = join.on.iter().map(|(a, b)| format!("{} = {}", col(a), col(b))).collect();
        from.push_str(&format!(
            " JOIN {} AS {} ON {}",
            table_sql(&join.table),
            quote_ident(&join.alias),
            on.join(" AND ")
        ));
    }
    from
}

/// The conditions every row of the layout meets.
pub(crate) fn layout_conditions(sql: &mut Sql, layout: &Layout) -> Vec<String> {
    layout
        .conditions
        .iter()
        .map(|c| match c {
            RowCondition::ColumnsEqual(a, b) => format!("{} = {}", col(a), col(b)),
            RowCondition::EqualsText(a, value) => {
                let p = sql.bind(Param::Text(value.clone()));
                format!("{} = {p}", text_expr(sql.dialect, a))
            }
            RowCondition::NotEqualText(a, value) => {
                let p = sql.bind(Param::Text(value.clone()));
                format!("{} <> {p}", text_expr(sql.dialect, a))
            }
        })
        .collect()
}

/// A column as text.
pub(crate) fn text_expr(d: Dialect, c: &ColumnRef) -> String {
    let _ = d;
    match c.kind {
        ColumnKind::Text => col(c),
        _ => format!("CAST({} AS TEXT)", col(c)),
    }
}

/// A column as a 64-bit integer. SQLite's CAST never fails (text that is not a number is 0);
/// on PostgreSQL a text that is not a whole number of at most 18 digits is NULL, so that one such
/// row does not fail the query (the event shows the value as stored, marked).
fn int_expr(d: Dialect, c: &ColumnRef) -> String {
    match (d, c.kind) {
        (Dialect::Sqlite, _) => format!("CAST({} AS INTEGER)", col(c)),
        (Dialect::Postgres, ColumnKind::Integer) => format!("CAST({} AS BIGINT)", col(c)),
        (Dialect::Postgres, ColumnKind::Float) => {
            format!("(CASE WHEN abs({0}) < 9e18 THEN CAST({0} AS BIGINT) END)", col(c))
        }
        (Dialect::Postgres, _) => {
            let text = text_expr(d, c);
            format!("(CASE WHEN {text} ~ '^\\s*[+-]?\\d{{1,18}}\\s*$' THEN CAST({text} AS BIGINT) END)")
        }
    }
}

/// An integer column as a whole number, or NULL when it holds something else (on SQLite a CAST
/// would make `'x'` or `2.5` a number): where a wrong number would mislead, as a snapshot's
/// version.
fn whole_number_expr(d: Dialect, c: &ColumnRef) -> String {
    match d {
        Dialect::Sqlite => {
            let v = col(c);
            format!(
                "(CASE typeof({v}) WHEN 'integer' THEN {v} \
                 WHEN 'real' THEN (CASE WHEN {v} = CAST({v} AS INTEGER) THEN CAST({v} AS INTEGER) END) \
                 WHEN 'text' THEN (CASE WHEN trim({v}) GLOB '[0-9]*' AND trim({v}) NOT GLOB '*[^0-9]*' \
                 AND length(trim({v})) <= 18 THEN CAST({v} AS INTEGER) END) END)"
            )
        }
        Dialect::Postgres => int_expr(d, c),
    }
}

/// A payload-like column as bytes (decoded to JSON, with reasons, in Rust).
pub(crate) fn bytes_expr(d: Dialect, c: &ColumnRef) -> String {
    match (d, c.kind) {
        // SQLite hands back TEXT or BLOB as they are stored.
        (Dialect::Sqlite, _) => col(c),
        // JSON as stored: the server converts it for the client as it sends each row (as for a
        // plain `SELECT *`), not for every row before a sort, which would then carry the copies.
        (Dialect::Postgres, ColumnKind::Bytes | ColumnKind::Json) => col(c),
        (Dialect::Postgres, ColumnKind::Text) => format!("convert_to({}, 'UTF8')", col(c)),
        (Dialect::Postgres, _) => format!("convert_to(CAST({} AS TEXT), 'UTF8')", col(c)),
    }
}

/// A time column, as a timestamp where the backend has one (SQLite values are decoded by
/// their runtime type: text or epoch number).
pub(crate) fn time_expr(d: Dialect, c: &ColumnRef) -> String {
    match (d, c.kind) {
        (Dialect::Postgres, ColumnKind::Timestamp) => format!("({} AT TIME ZONE 'UTC')", col(c)),
        _ => col(c),
    }
}

/// A parameter compared with a column of this kind (PostgreSQL needs the cast for uuid).
pub(crate) fn param_as(d: Dialect, c: &ColumnRef, placeholder: String) -> String {
    match (d, c.kind) {
        (Dialect::Postgres, ColumnKind::Uuid) => format!("CAST({placeholder} AS uuid)"),
        (Dialect::Postgres, ColumnKind::Integer) => format!("CAST({placeholder} AS BIGINT)"),
        (Dialect::Postgres, ColumnKind::Text | ColumnKind::Other) => placeholder,
        (Dialect::Postgres, _) => format!("CAST({placeholder} AS TEXT)"),
        (Dialect::Sqlite, _) => placeholder,
    }
}

/// The stream id as text: the column, or `type-id`.
pub(crate) fn stream_text(d: Dialect, layout: &Layout) -> String {
    match &layout.columns.stream {
        StreamKey::Column(c) => text_expr(d, c),
        StreamKey::TypeAndId { type_column, id_column } => {
            format!("({} || '-' || {})", text_expr(d, type_column), text_expr(d, id_column))
        }
    }
}

/// What streams are grouped and ordered by (the column itself where it is one, for its index).
pub(crate) fn stream_order(d: Dialect, layout: &Layout) -> String {
    match &layout.columns.stream {
        StreamKey::Column(c) => col(c),
        StreamKey::TypeAndId { .. } => stream_text(d, layout),
    }
}

/// The condition that a row belongs to stream `id`; `None` when no row can (the id does not
/// fit the columns).
pub(crate) fn stream_matches(sql: &mut Sql, layout: &Layout, id: &str) -> Option<String> {
    let d = sql.dialect;
    if !stream_id_fits(d, layout, id) {
        return None;
    }
    Some(match &layout.columns.stream {
        StreamKey::Column(c) if d == Dialect::Sqlite => {
            // SQLite keeps each value's own type: the id may be stored as text, as a BLOB (or
            // text that is not UTF-8, listed with `\xHH` escapes), as an INTEGER or REAL, or be
            // NULL (listed as ``). The first of those forms the store holds is asked for, as one
            // value, so that the index serves the equality and the order (an IN list would sort).
            let mut candidates = vec![Param::Text(id.to_owned())];
            if let Some(bytes) = crate::model::unescape_bytes(id) {
                candidates.push(Param::TextBytes(bytes.clone()));
                candidates.push(Param::Bytes(bytes));
            }
            candidates.push(Param::Bytes(id.as_bytes().to_vec()));
            if let Ok(int) = id.parse::<i64>() {
                candidates.push(Param::Int(int));
            }
            if let Ok(real) = id.parse::<f64>()
                && real.is_finite()
                && id.contains(['.', 'e', 'E'])
            {
                candidates.push(Param::Float(real));
            }
            let (column, from) = (col(c), from_sql(layout));
            let mut case = String::from("CASE");
            for candidate in candidates {
                let p = sql.bind(candidate);
                case.push_str(&format!(" WHEN EXISTS (SELECT 1 FROM {from} WHERE {column} = {p}) THEN {p}"));
            }
            if id.is_empty() {
                case.push_str(&format!(" WHEN EXISTS (SELECT 1 FROM {from} WHERE {column} IS NULL) THEN NULL END"));
                format!("{column} IS ({case})")
            } else {
                format!("{column} = ({case} END)")
            }
        }
        StreamKey::Column(c) if id.is_empty() => {
            // A NULL id is listed as ``.
            let p = sql.bind(Param::Text(String::new()));
            format!("({} = {} OR {} IS NULL)", col(c), param_as(d, c, p), col(c))
        }
        StreamKey::Column(c) => {
            let p = sql.bind(Param::Text(id.to_owned()));
            format!("{} = {}", col(c), param_as(d, c, p))
        }
        StreamKey::TypeAndId { type_column, id_column } => {
            // The type may hold dashes too (`bank-account-42`): every split whose id fits is asked.
            let alternatives: Vec<String> = type_and_id_splits(id)
                .filter(|(_, rest)| id_fits(d, id_column, rest))
                .map(|(kind, rest)| {
                    let t = sql.bind(Param::Text(kind.to_owned()));
                    let i = sql.bind(Param::Text(rest.to_owned()));
                    let i = param_as(d, id_column, i);
                    format!("({} = {t} AND {} = {i})", text_expr(d, type_column), col(id_column))
                })
                .collect();
            format!("({})", alternatives.join(" OR "))
        }
    })
}

/// The condition that the row is one of `events` (stream id, version), each stream's id matched
/// as [`stream_matches`] does; `1 = 0` when none can be.
pub(crate) fn one_of_events(sql: &mut Sql, layout: &Layout, events: &[(String, i64)]) -> String {
    let d = sql.dialect;
    let c = &layout.columns;
    let mut by_stream: std::collections::BTreeMap<&str, Vec<i64>> = std::collections::BTreeMap::new();
    for (stream, version) in events {
        by_stream.entry(stream.as_str()).or_default().push(*version);
    }
    let mut alternatives = Vec::new();
    for (stream, versions) in by_stream {
        let Some(matches) = stream_matches(sql, layout, stream) else { continue };
        let equal: Vec<String> = versions
            .into_iter()
            .map(|version| {
                let p = sql.bind(Param::Int(version));
                match (d, c.version.kind) {
                    (Dialect::Postgres, kind) if kind != ColumnKind::Integer => {
                        format!("{} = CAST({p} AS BIGINT)", int_expr(d, &c.version))
                    }
                    _ => format!("{} = {}", col(&c.version), param_as(d, &c.version, p)),
                }
            })
            .collect();
        alternatives.push(format!("({matches} AND ({}))", equal.join(" OR ")));
    }
    if alternatives.is_empty() { "1 = 0".to_owned() } else { format!("({})", alternatives.join(" OR ")) }
}

/// The ways a `type-id` stream name splits into a type and an id, at each `-`.
fn type_and_id_splits(stream: &str) -> impl Iterator<Item = (&str, &str)> {
    stream.match_indices('-').map(|(i, _)| (&stream[..i], &stream[i + 1..]))
}

/// Whether `id` can be compared with column `c` at all (a PostgreSQL uuid column cannot hold
/// `order-1`).
fn id_fits(d: Dialect, c: &ColumnRef, id: &str) -> bool {
    match (d, c.kind) {
        (Dialect::Postgres, ColumnKind::Uuid) => looks_like_uuid(id),
        (Dialect::Postgres, ColumnKind::Integer) => id.parse::<i64>().is_ok(),
        _ => true,
    }
}

/// The condition that a stream sorts after (`op` is `>` or `<`) stream `id`, given as the raw
/// value of its column where known (SQLite orders an INTEGER id before any TEXT one).
fn stream_after(sql: &mut Sql, layout: &Layout, id: &str, raw: &Cell, op: &str) -> String {
    let d = sql.dialect;
    if *raw == Cell::Null {
        // A NULL id sorts first on SQLite and last on PostgreSQL (ascending).
        let s = stream_order(d, layout);
        return match (d, op) {
            (Dialect::Sqlite, ">") | (Dialect::Postgres, "<") => format!("{s} IS NOT NULL"),
            _ => "1 = 0".to_owned(),
        };
    }
    let p = match (d, raw) {
        (Dialect::Sqlite, Cell::Int(_) | Cell::Float(_) | Cell::Bytes(_) | Cell::InvalidText(_)) => {
            sql.bind(Param::from(raw))
        }
        _ => sql.bind(Param::Text(id.to_owned())),
    };
    match &layout.columns.stream {
        StreamKey::Column(c) => format!("{} {op} {}", col(c), param_as(d, c, p)),
        StreamKey::TypeAndId { .. } => format!("{} {op} {p}", stream_text(d, layout)),
    }
}

/// Whether a stream id can be compared with the stream column at all (a PostgreSQL uuid
/// column cannot hold `order-1`): when not, the stream does not exist.
pub fn stream_id_fits(d: Dialect, layout: &Layout, stream: &str) -> bool {
    match &layout.columns.stream {
        StreamKey::Column(c) => id_fits(d, c, stream),
        StreamKey::TypeAndId { id_column, .. } => type_and_id_splits(stream).any(|(_, id)| id_fits(d, id_column, id)),
    }
}

fn looks_like_uuid(s: &str) -> bool {
    let hex: String = s.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

/// The columns of an event, in the order `decode::event_from_row` reads them: stream,
/// version, type, payload, metadata, recorded_at, position, aggregate type, archived, then
/// each of the layout's metadata columns.
pub(crate) fn event_columns(d: Dialect, layout: &Layout) -> String {
    let c = &layout.columns;
    let optional = |column: &Option<ColumnRef>, f: &dyn Fn(&ColumnRef) -> String| {
        column.as_ref().map_or_else(|| "NULL".to_owned(), f)
    };
    let mut columns = vec![
        stream_text(d, layout),
        // As stored: the event says so where it is not a whole number (it sorts as `int_expr`).
        match (d, c.version.kind) {
            (Dialect::Sqlite, _) | (Dialect::Postgres, ColumnKind::Integer) => col(&c.version),
            (Dialect::Postgres, _) => text_expr(d, &c.version),
        },
        text_expr(d, &c.event_type),
        bytes_expr(d, &c.payload),
        optional(&c.metadata, &|m| bytes_expr(d, m)),
        optional(&c.recorded_at, &|t| time_expr(d, t)),
        optional(&c.position, &|p| int_expr(d, p)),
        optional(&c.aggregate_type, &|t| text_expr(d, t)),
        optional(&c.archived, &|a| format!("CASE WHEN {} THEN 1 ELSE 0 END", truthy(d, a))),
    ];
    columns.extend(c.metadata_columns.iter().map(|(_, m)| text_expr(d, m)));
    columns.join(", ")
}

/// A flag column as a condition (booleans, or 0/1 numbers on SQLite).
fn truthy(d: Dialect, c: &ColumnRef) -> String {
    match d {
        Dialect::Postgres => format!("COALESCE(CAST({} AS BOOLEAN), FALSE)", col(c)),
        Dialect::Sqlite => format!("COALESCE({}, 0) <> 0", col(c)),
    }
}

/// How the streams list is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamSort {
    /// By stream id, A to Z.
    #[default]
    Id,
    /// By stream id, Z to A.
    IdDescending,
    /// Most events first.
    MostEvents,
    /// Most recently written first (needs a recorded-at column).
    Recent,
}

impl StreamSort {
    pub const ALL: [StreamSort; 4] =
        [StreamSort::Id, StreamSort::IdDescending, StreamSort::MostEvents, StreamSort::Recent];

    pub fn label(self) -> &'static str {
        match self {
            StreamSort::Id => "id A-Z",
            StreamSort::IdDescending => "id Z-A",
            StreamSort::MostEvents => "most events",
            StreamSort::Recent => "most recent",
        }
    }
}

/// Where the next page of streams starts: after this stream, with this sort key.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamCursor {
    /// The sort key of the last stream seen (event count or last time; unused for id sorts).
    pub key: Cell,
    pub stream: String,
    /// The stream column's own value for it (its type kept), or NULL.
    pub raw: Cell,
}

/// A request for one page of the streams list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamQuery {
    /// Case-insensitive substring of the stream id; empty for all.
    pub search: String,
    pub sort: StreamSort,
    pub after: Option<StreamCursor>,
    pub limit: i64,
}

fn search_condition(sql: &mut Sql, layout: &Layout, search: &str) -> Option<String> {
    if search.is_empty() {
        return None;
    }
    let stream = stream_text(sql.dialect, layout);
    Some(contains_folded(sql, &stream, search))
}

/// The condition that text `haystack` contains `needle` whatever the case, by Unicode's rules
/// (`ÉCOLE` finds `école`): SQLite through eventscope's fold function, PostgreSQL through
/// `lower()` (which follows the database's locale).
pub(crate) fn contains_folded(sql: &mut Sql, haystack: &str, needle: &str) -> String {
    let p = sql.bind(Param::Text(needle.to_lowercase()));
    match sql.dialect {
        Dialect::Sqlite => format!("instr({}({haystack}), {p}) > 0", super::sqlite::FOLD_FUNCTION),
        // (Compared byte by byte: PostgreSQL refuses a substring search under a
        // nondeterministic collation, and under a deterministic one bytes are what it compares.)
        Dialect::Postgres => format!("strpos(lower({haystack}) COLLATE \"C\", {p}) > 0"),
    }
}

/// One page of streams: id, event count, first and last version, last time, and the raw sort
/// key (for the cursor).
pub fn list_streams(d: Dialect, layout: &Layout, query: &StreamQuery) -> Sql {
    list_streams_where(d, layout, query, |_| Vec::new())
}

/// [`list_streams`] of the streams whose events meet more conditions (added by `conditions`
/// with their parameters): those of a category, for example.
pub fn list_streams_where(
    d: Dialect,
    layout: &Layout,
    query: &StreamQuery,
    conditions: impl FnOnce(&mut Sql) -> Vec<String>,
) -> Sql {
    let mut sql = Sql::new(d);
    let extra = conditions(&mut sql);
    let c = &layout.columns;
    let s = stream_order(d, layout);
    let v = int_expr(d, &c.version);
    let last_time = c.recorded_at.as_ref().map_or_else(|| "NULL".to_owned(), |t| format!("MAX({})", time_expr(d, t)));
    let sort = match query.sort {
        StreamSort::Recent if c.recorded_at.is_none() => StreamSort::Id,
        other => other,
    };
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.extend(extra);
    conditions.extend(search_condition(&mut sql, layout, &query.search));
    let mut having = None;
    if let Some(after) = &query.after {
        match sort {
            StreamSort::Id => conditions.push(stream_after(&mut sql, layout, &after.stream, &after.raw, ">")),
            StreamSort::IdDescending => conditions.push(stream_after(&mut sql, layout, &after.stream, &after.raw, "<")),
            StreamSort::MostEvents | StreamSort::Recent => {
                // Streams without a time come last.
                let (key_expr, untimed) = match sort {
                    StreamSort::MostEvents => ("COUNT(*)".to_owned(), String::new()),
                    _ => (last_time.clone(), format!(" OR {last_time} IS NULL")),
                };
                let key = (after.key != Cell::Null).then(|| sql.bind(Param::from(&after.key)));
                let later = stream_after(&mut sql, layout, &after.stream, &after.raw, ">");
                having = Some(match key {
                    None => format!("{key_expr} IS NULL AND {later}"),
                    Some(key) => format!("{key_expr} < {key}{untimed} OR ({key_expr} = {key} AND {later})"),
                });
            }
        }
    }
    let order = match sort {
        StreamSort::Id => format!("{s} ASC"),
        StreamSort::IdDescending => format!("{s} DESC"),
        StreamSort::MostEvents => format!("COUNT(*) DESC, {s} ASC"),
        StreamSort::Recent => format!("{last_time} DESC NULLS LAST, {s} ASC"),
    };
    let sort_key = match sort {
        StreamSort::MostEvents => "COUNT(*)".to_owned(),
        StreamSort::Recent => last_time.clone(),
        _ => "NULL".to_owned(),
    };
    let group = stream_group(layout);
    let limit = sql.bind(Param::Int(query.limit.max(1)));
    sql.text = format!(
        "SELECT {stream}, COUNT(*), MIN({v}), MAX({v}), {last_time}, {sort_key}, {s} FROM {from}{where_}\
         GROUP BY {group}{having} ORDER BY {order} LIMIT {limit}",
        stream = stream_text(d, layout),
        from = from_sql(layout),
        where_ = where_clause(&conditions),
        having = having.map(|h| format!(" HAVING {h}")).unwrap_or_default(),
    );
    sql
}

/// Every stream matching a search with its event count, first and last version and last time,
/// in no order (one pass over the store, grouped as the index gives it): for sorting all streams
/// by a key no index holds, in the background (see [`crate::store::Store::top_streams`]).
pub fn stream_aggregates(d: Dialect, layout: &Layout, search: &str) -> Sql {
    let mut sql = Sql::new(d);
    let c = &layout.columns;
    let v = int_expr(d, &c.version);
    let last_time = c.recorded_at.as_ref().map_or_else(|| "NULL".to_owned(), |t| format!("MAX({})", time_expr(d, t)));
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.extend(search_condition(&mut sql, layout, search));
    let group = stream_group(layout);
    sql.text = format!(
        "SELECT {stream}, COUNT(*), MIN({v}), MAX({v}), {last_time} FROM {from}{where_}GROUP BY {group}",
        stream = stream_text(d, layout),
        from = from_sql(layout),
        where_ = where_clause(&conditions),
    );
    sql
}

/// What a `GROUP BY` of one row per stream names: the stream column, or its type and id.
fn stream_group(layout: &Layout) -> String {
    match &layout.columns.stream {
        StreamKey::Column(column) => col(column),
        StreamKey::TypeAndId { type_column, id_column } => format!("{}, {}", col(type_column), col(id_column)),
    }
}

pub(crate) fn where_clause(conditions: &[String]) -> String {
    if conditions.is_empty() { " ".to_owned() } else { format!(" WHERE {} ", conditions.join(" AND ")) }
}

/// The number of distinct streams, the one whose id is NULL included (it is listed too).
fn distinct_streams(d: Dialect, layout: &Layout) -> String {
    let s = stream_order(d, layout);
    format!("COUNT(DISTINCT {s}) + COALESCE(MAX(CASE WHEN {s} IS NULL THEN 1 ELSE 0 END), 0)")
}

/// How many streams match a search.
pub fn count_streams(d: Dialect, layout: &Layout, search: &str) -> Sql {
    let mut sql = Sql::new(d);
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.extend(search_condition(&mut sql, layout, search));
    sql.text = format!(
        "SELECT {} FROM {}{}",
        distinct_streams(d, layout),
        from_sql(layout),
        where_clause(&conditions).trim_end()
    );
    sql
}

/// The number of streams and of events in the store.
pub fn store_counts(d: Dialect, layout: &Layout) -> Sql {
    let mut sql = Sql::new(d);
    let conditions = layout_conditions(&mut sql, layout);
    sql.text = format!(
        "SELECT {}, COUNT(*) FROM {}{}",
        distinct_streams(d, layout),
        from_sql(layout),
        where_clause(&conditions).trim_end()
    );
    sql
}

/// Count, first and last version and last time of one stream (no row when the id cannot be
/// a stream of this layout).
pub fn stream_summary(d: Dialect, layout: &Layout, stream: &str) -> Sql {
    let mut sql = Sql::new(d);
    let c = &layout.columns;
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.push(stream_matches(&mut sql, layout, stream).unwrap_or_else(|| "1 = 0".to_owned()));
    let v = int_expr(d, &c.version);
    let last_time = c.recorded_at.as_ref().map_or_else(|| "NULL".to_owned(), |t| format!("MAX({})", time_expr(d, t)));
    sql.text = format!(
        "SELECT COUNT(*), MIN({v}), MAX({v}), {last_time} FROM {from}{where_}",
        from = from_sql(layout),
        where_ = where_clause(&conditions).trim_end(),
    );
    sql
}

/// Streams with at most this many events are counted exactly by [`stream_bounds`]; longer ones
/// are counted to one past it, and said to have at least that many.
pub const STREAM_COUNT_CAP: i64 = 10_000;

/// First and last version (of the numbers), the last version's time, and the event count up to
/// [`STREAM_COUNT_CAP`] (0: no such stream) — each read from the index on
/// (stream, version), so the cost does not grow with the stream. `None` where no index can
/// serve it (a PostgreSQL version column that is not an integer): use [`stream_summary`].
pub fn stream_bounds(d: Dialect, layout: &Layout, stream: &str) -> Option<Sql> {
    if !bounds_from_index(d, layout) {
        return None;
    }
    let mut sql = Sql::new(d);
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.push(stream_matches(&mut sql, layout, stream).unwrap_or_else(|| "1 = 0".to_owned()));
    let bounds = bounds_of_stream(&mut sql, layout, &conditions);
    sql.text = format!("SELECT {bounds}");
    Some(sql)
}

/// Whether [`bounds_of_stream`] can read a stream's bounds from the index on (stream, version):
/// not where a PostgreSQL version column is not an integer.
fn bounds_from_index(d: Dialect, layout: &Layout) -> bool {
    d == Dialect::Sqlite || layout.columns.version.kind == ColumnKind::Integer
}

/// The select list of [`stream_bounds`] for the stream whose rows meet `in_stream`: first and
/// last version (of the numbers), the last version's time, and the event count up to
/// [`STREAM_COUNT_CAP`] + 1, each a subquery the index serves.
fn bounds_of_stream(sql: &mut Sql, layout: &Layout, in_stream: &[String]) -> String {
    let d = sql.dialect;
    let c = &layout.columns;
    let v = col(&c.version);
    // Rows whose version is a number (SQLite: stored as an INTEGER or a REAL, which its index
    // orders together; text sorts after every number there, so it is left out).
    let readable = match d {
        Dialect::Sqlite => format!("typeof({v}) IN ('integer', 'real')"),
        Dialect::Postgres => format!("{v} IS NOT NULL"),
    };
    let from = from_sql(layout);
    let in_stream = where_clause(in_stream);
    let version = int_expr(d, &c.version);
    let first = format!("(SELECT {version} FROM {from}{in_stream}AND {readable} ORDER BY {v} ASC LIMIT 1)");
    let last = format!("(SELECT {version} FROM {from}{in_stream}AND {readable} ORDER BY {v} DESC LIMIT 1)");
    let last_time = match &c.recorded_at {
        Some(t) => {
            format!("(SELECT {} FROM {from}{in_stream}AND {readable} ORDER BY {v} DESC LIMIT 1)", time_expr(d, t))
        }
        None => "NULL".to_owned(),
    };
    let cap = sql.bind(Param::Int(STREAM_COUNT_CAP + 1));
    let count = format!("(SELECT COUNT(*) FROM (SELECT 1 FROM {from}{in_stream}LIMIT {cap}) AS capped)");
    format!("{first}, {last}, {last_time}, {count}")
}

/// Name of the recursive query of [`streams_by_index_where`].
const STREAM_IDS: &str = "eventscope_stream_ids";

/// One page of the streams list by id, read the way the index on the stream column gives it:
/// a loose index scan (each next id is one seek past the one before, however many events the
/// stream between them has), each stream with its bounds from [`bounds_of_stream`]. The page
/// costs the same whatever the length of its streams; a stream of over
/// [`STREAM_COUNT_CAP`] events is not counted to its end. Columns: id, first version, last
/// version, last time, capped count, raw id (for the cursor). Streams with a NULL id are not
/// seen (see [`null_stream_probe`]). `None` where this cannot answer the query: another
/// order, a stream of two columns, a PostgreSQL version that is not an integer. Whether an
/// index really serves it is [`stream_index_probe`]'s question.
pub fn streams_by_index_where(
    d: Dialect,
    layout: &Layout,
    query: &StreamQuery,
    conditions: impl FnOnce(&mut Sql) -> Vec<String>,
) -> Option<Sql> {
    let StreamKey::Column(stream) = &layout.columns.stream else {
        return None;
    };
    let (op, direction) = match query.sort {
        StreamSort::Id => (">", "ASC"),
        StreamSort::IdDescending => ("<", "DESC"),
        StreamSort::MostEvents | StreamSort::Recent => return None,
    };
    if !bounds_from_index(d, layout) {
        return None;
    }
    let mut sql = Sql::new(d);
    let s = col(stream);
    let ids = quote_ident(STREAM_IDS);
    // (Placeholders are numbered: the conditions' text is used in each subquery.)
    let layout_only = layout_conditions(&mut sql, layout);
    let mut candidate = layout_only.clone();
    candidate.extend(conditions(&mut sql));
    candidate.extend(search_condition(&mut sql, layout, &query.search));
    candidate.push(format!("{s} IS NOT NULL"));
    let mut first = candidate.clone();
    if let Some(after) = &query.after {
        first.push(stream_after(&mut sql, layout, &after.stream, &after.raw, op));
    }
    let mut next = candidate;
    next.push(format!("{s} {op} {ids}.sid"));
    let from = from_sql(layout);
    let seek = |conditions: &[String]| {
        format!("(SELECT {s} FROM {from}{}ORDER BY {s} {direction} LIMIT 1)", where_clause(conditions))
    };
    let mut in_stream = layout_only;
    in_stream.push(format!("{s} = {ids}.sid"));
    let bounds = bounds_of_stream(&mut sql, layout, &in_stream);
    let limit = sql.bind(Param::Int(query.limit.max(1)));
    let id_text = match stream.kind {
        ColumnKind::Text => format!("{ids}.sid"),
        _ => format!("CAST({ids}.sid AS TEXT)"),
    };
    sql.text = format!(
        "WITH RECURSIVE {ids}(sid, n) AS (SELECT {first}, 1 UNION ALL \
         SELECT {next}, n + 1 FROM {ids} WHERE sid IS NOT NULL AND n < {limit}) \
         SELECT {id_text}, {bounds}, {ids}.sid FROM {ids} WHERE sid IS NOT NULL ORDER BY n",
        first = seek(&first),
        next = seek(&next),
    );
    Some(sql)
}

/// Whether the planner reads the stream column in order from an index (the question behind
/// [`streams_by_index_where`]: without one, each seek would read the table).
pub fn stream_index_probe(d: Dialect, layout: &Layout) -> Option<Sql> {
    let StreamKey::Column(stream) = &layout.columns.stream else {
        return None;
    };
    let explain = match d {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN",
        Dialect::Postgres => "EXPLAIN",
    };
    let mut sql = Sql::new(d);
    let conditions = layout_conditions(&mut sql, layout);
    let s = col(stream);
    sql.text =
        format!("{explain} SELECT {s} FROM {}{}ORDER BY {s} ASC LIMIT 1", from_sql(layout), where_clause(&conditions));
    Some(sql)
}

/// One row when some event of the layout has no stream id (NULL), none otherwise.
pub fn null_stream_probe(d: Dialect, layout: &Layout) -> Sql {
    let mut sql = Sql::new(d);
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.push(format!("{} IS NULL", stream_order(d, layout)));
    sql.text = format!("SELECT 1 FROM {}{}LIMIT 1", from_sql(layout), where_clause(&conditions));
    sql
}

/// One key of a keyset order: how rows are ordered by it, how its value is read for the
/// cursor, and the type a cursor value is cast to when compared with it (PostgreSQL).
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    order: String,
    select: String,
    cast: Option<&'static str>,
}

impl SortKey {
    fn plain(expr: String) -> SortKey {
        SortKey { select: expr.clone(), order: expr, cast: None }
    }

    /// An integer column (version, position): ordered as stored; on PostgreSQL read as a 64-bit
    /// integer (a column that is not an integer is ordered by its value read as one: text
    /// orders `10` before `2`, and cannot be compared with a number).
    fn integer(d: Dialect, c: &ColumnRef) -> SortKey {
        let order = match (d, c.kind) {
            (Dialect::Postgres, kind) if kind != ColumnKind::Integer => int_expr(d, c),
            _ => col(c),
        };
        // (SQLite's cursor keeps the stored value: a version stored as text, which its index
        // orders after every number, must be compared as that text, not as the 0 it casts to,
        // or the next page would start over.)
        let select = match d {
            Dialect::Sqlite => col(c),
            Dialect::Postgres => int_expr(d, c),
        };
        SortKey { order, select, cast: (d == Dialect::Postgres).then_some("BIGINT") }
    }

    /// A time column: a PostgreSQL timestamp is compared with the cursor's value cast to one
    /// (that value may be `infinity`, read as text).
    fn time(d: Dialect, t: &ColumnRef) -> SortKey {
        let cast = match (d, t.kind) {
            (Dialect::Postgres, ColumnKind::TimestampTz | ColumnKind::Timestamp) => Some("timestamptz"),
            _ => None,
        };
        SortKey { cast, ..SortKey::plain(time_expr(d, t)) }
    }

    /// A column compared with a cursor value of the column's own kind.
    fn column(d: Dialect, c: &ColumnRef) -> SortKey {
        let cast = match (d, c.kind) {
            (Dialect::Postgres, ColumnKind::Uuid) => Some("uuid"),
            (Dialect::Postgres, ColumnKind::Integer) => Some("BIGINT"),
            _ => None,
        };
        SortKey { order: col(c), select: col(c), cast }
    }
}

/// Binds a cursor value compared with `key`, cast to the key's type where it needs one.
fn bind_key(sql: &mut Sql, key: &SortKey, value: &Cell) -> String {
    let p = sql.bind(Param::from(value));
    match key.cast {
        Some(cast) => format!("CAST({p} AS {cast})"),
        None => p,
    }
}

/// Where NULLs sort: first on SQLite, last on PostgreSQL (ascending), as their indexes do.
fn nulls_high(d: Dialect) -> bool {
    d == Dialect::Postgres
}

/// The storage's row identity as sort keys (see [`RowKey`]).
fn row_keys(layout: &Layout) -> Vec<SortKey> {
    let main = quote_ident(MAIN);
    match layout.row_key {
        RowKey::None => Vec::new(),
        RowKey::SqliteRowid => vec![SortKey::plain(format!("{main}.rowid"))],
        RowKey::PostgresCtid => vec![
            SortKey {
                order: format!("{main}.tableoid"),
                select: format!("CAST({main}.tableoid AS BIGINT)"),
                cast: Some("oid"),
            },
            SortKey { order: format!("{main}.ctid"), select: format!("CAST({main}.ctid AS TEXT)"), cast: Some("tid") },
        ],
    }
}

/// The keys a stream's events are listed by: version, position where there is one, then the
/// row's identity.
pub fn stream_keys(d: Dialect, layout: &Layout) -> Vec<SortKey> {
    let c = &layout.columns;
    let mut keys = vec![SortKey::integer(d, &c.version)];
    if layout.stream_versions_unique {
        return keys;
    }
    keys.extend(c.position.as_ref().map(|p| SortKey::integer(d, p)));
    keys.extend(row_keys(layout));
    keys
}

/// The keys the global log is listed by: the position where there is one, otherwise time,
/// stream and version; then the row's identity.
pub fn log_keys(d: Dialect, layout: &Layout) -> Vec<SortKey> {
    let c = &layout.columns;
    let mut keys = match &c.position {
        Some(p) => vec![SortKey::integer(d, p)],
        None => {
            let mut keys: Vec<SortKey> = c.recorded_at.iter().map(|t| SortKey::time(d, t)).collect();
            keys.push(match &c.stream {
                StreamKey::Column(column) => SortKey::column(d, column),
                StreamKey::TypeAndId { .. } => SortKey::plain(stream_text(d, layout)),
            });
            keys.push(SortKey::integer(d, &c.version));
            keys
        }
    };
    keys.extend(row_keys(layout));
    keys
}

/// Whether the keys tell every row apart (they end with the row's identity): pages then
/// continue strictly after the last row; otherwise at it, skipping the rows already seen.
pub fn keys_unique(layout: &Layout) -> bool {
    layout.row_key != RowKey::None
}

/// Whether the stream keys tell a stream's rows apart (see [`keys_unique`]).
pub fn stream_keys_unique(layout: &Layout) -> bool {
    layout.stream_versions_unique || keys_unique(layout)
}

/// `ORDER BY` for the keys, ascending (`forward`) or descending, NULLs where the dialect's
/// indexes keep them.
fn keyset_order(d: Dialect, keys: &[SortKey], forward: bool) -> String {
    let (dir, nulls) = match (forward, nulls_high(d)) {
        (true, true) => ("ASC", "NULLS LAST"),
        (true, false) => ("ASC", "NULLS FIRST"),
        (false, true) => ("DESC", "NULLS FIRST"),
        (false, false) => ("DESC", "NULLS LAST"),
    };
    keys.iter().map(|k| format!("{} {dir} {nulls}", k.order)).collect::<Vec<_>>().join(", ")
}

/// The condition that a row comes after the `cursor` values of `keys` in [`keyset_order`]
/// (or at them too, with `inclusive`). NULL values are keys like any other.
fn keyset_after(sql: &mut Sql, keys: &[SortKey], cursor: &[Cell], forward: bool, inclusive: bool) -> String {
    let nulls_first = forward != nulls_high(sql.dialect);
    let op = if forward { ">" } else { "<" };
    // The usual case, no NULL in the cursor: one row-value comparison, which an index on the
    // leading keys serves as a range (the page costs the same wherever it starts), plus, where
    // NULLs come after the cursor, the rows whose first differing key is NULL.
    if !cursor.is_empty() && cursor.iter().all(|c| *c != Cell::Null) && keys.len() == cursor.len() {
        let values: Vec<String> = keys.iter().zip(cursor).map(|(key, value)| bind_key(sql, key, value)).collect();
        let columns: Vec<&str> = keys.iter().map(|k| k.order.as_str()).collect();
        let op = match (forward, inclusive) {
            (true, false) => ">",
            (true, true) => ">=",
            (false, false) => "<",
            (false, true) => "<=",
        };
        let mut alternatives = vec![format!("({}) {op} ({})", columns.join(", "), values.join(", "))];
        if !nulls_first {
            for i in 0..keys.len() {
                let mut parts: Vec<String> = (0..i).map(|j| format!("{} = {}", columns[j], values[j])).collect();
                parts.push(format!("{} IS NULL", columns[i]));
                alternatives.push(parts.join(" AND "));
            }
        }
        return format!("(({}))", alternatives.join(") OR ("));
    }
    let mut alternatives = Vec::new();
    let mut equal_so_far: Vec<String> = Vec::new();
    for (key, value) in keys.iter().zip(cursor) {
        let k = &key.order;
        let (after, equal) = match value {
            Cell::Null => ((nulls_first).then(|| format!("{k} IS NOT NULL")), format!("{k} IS NULL")),
            value => {
                let p = bind_key(sql, key, value);
                let or_null = if nulls_first { String::new() } else { format!(" OR {k} IS NULL") };
                (Some(format!("{k} {op} {p}{or_null}")), format!("{k} = {p}"))
            }
        };
        if let Some(after) = after {
            let mut parts = equal_so_far.clone();
            parts.push(format!("({after})"));
            alternatives.push(parts.join(" AND "));
        }
        equal_so_far.push(equal);
    }
    if inclusive {
        alternatives.push(if equal_so_far.is_empty() { "1 = 1".to_owned() } else { equal_so_far.join(" AND ") });
    }
    if alternatives.is_empty() { "1 = 0".to_owned() } else { format!("(({}))", alternatives.join(") OR (")) }
}

/// The conditions of one group of a forward page (see [`stream_events_in_group`]): equal to the
/// cursor on the first `group` keys, and on key `group` either after it or, with `nulls`, NULL
/// (where NULLs sort last, they follow the group's values; asking for them apart keeps each part
/// an index range — `k > p OR k IS NULL` made PostgreSQL read the whole stream for every page).
/// The cursor holds no NULL.
fn keyset_group(sql: &mut Sql, keys: &[SortKey], cursor: &[Cell], group: usize, nulls: bool) -> Vec<String> {
    let mut conditions = Vec::new();
    for (i, (key, value)) in keys.iter().zip(cursor).enumerate().take(group + 1) {
        let k = &key.order;
        if i == group && nulls {
            conditions.push(format!("{k} IS NULL"));
            continue;
        }
        let p = bind_key(sql, key, value);
        conditions.push(if i < group { format!("{k} = {p}") } else { format!("{k} > {p}") });
    }
    conditions
}

/// The parts of a group of a forward page, in stream order: the values after the cursor, then,
/// where NULLs sort after values (PostgreSQL), the NULLs.
pub fn group_parts(d: Dialect) -> &'static [bool] {
    if nulls_high(d) { &[false, true] } else { &[false] }
}

/// Where a keyset page starts: after (or at, skipping `skip` rows) these key values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KeysetCursor {
    pub keys: Vec<Cell>,
    /// Rows at exactly these keys already seen (only where the keys may repeat).
    pub skip: usize,
}

/// Up to `limit` (+ the cursor's skip) events of one stream, in stream order: from version
/// `from` on (`None`: from the start, events without a version included), after the cursor.
/// The key values of each row follow its event columns (see [`stream_keys`]).
pub fn stream_events(
    d: Dialect,
    layout: &Layout,
    stream: &str,
    from: Option<i64>,
    after: Option<&KeysetCursor>,
    limit: i64,
) -> Sql {
    stream_events_in_group(d, layout, stream, from, after, None, limit)
}

/// Whether a page after `after` can be read group by group (see [`stream_events_in_group`]):
/// the keys are unique and the cursor holds no NULL.
pub fn pages_by_group(layout: &Layout, after: &KeysetCursor) -> bool {
    stream_keys_unique(layout) && after.skip == 0 && after.keys.iter().all(|k| *k != Cell::Null)
}

/// Like [`stream_events`], but only the rows equal to the cursor on its first `group` keys and
/// after it (or NULL, see [`keyset_group`]) on the next one (`group` = `None`: all rows after
/// it). Asked for `group` = the number of keys − 1 down to 0, each with its [`group_parts`],
/// the groups follow each other in stream order, and each is an index range: a page deep inside
/// a run of rows that share a version costs what the first page does.
pub fn stream_events_in_group(
    d: Dialect,
    layout: &Layout,
    stream: &str,
    from: Option<i64>,
    after: Option<&KeysetCursor>,
    group: Option<(usize, bool)>,
    limit: i64,
) -> Sql {
    let mut sql = Sql::new(d);
    let c = &layout.columns;
    let keys = stream_keys(d, layout);
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.push(stream_matches(&mut sql, layout, stream).unwrap_or_else(|| "1 = 0".to_owned()));
    if let Some(from) = from {
        let from = sql.bind(Param::Int(from));
        conditions.push(match (d, c.version.kind) {
            // (A version kept as text or a number of another kind is compared as the whole
            // number it holds: `text >= bigint` is no operator PostgreSQL has.)
            (Dialect::Postgres, kind) if kind != ColumnKind::Integer => {
                format!("{} >= CAST({from} AS BIGINT)", int_expr(d, &c.version))
            }
            _ => format!("{} >= {}", col(&c.version), param_as(d, &c.version, from)),
        });
    }
    let mut skip = 0;
    match (after, group) {
        (Some(after), Some((group, nulls))) => {
            conditions.extend(keyset_group(&mut sql, &keys, &after.keys, group, nulls));
        }
        (Some(after), None) => {
            skip = after.skip;
            conditions.push(keyset_after(&mut sql, &keys, &after.keys, true, !stream_keys_unique(layout)));
        }
        (None, _) => {}
    }
    let limit = sql.bind(Param::Int(limit.max(1) + skip as i64));
    sql.text = format!(
        "SELECT {columns}, {key_columns} FROM {from_}{where_}ORDER BY {order} LIMIT {limit}",
        columns = event_columns(d, layout),
        key_columns = keys.iter().map(|k| k.select.as_str()).collect::<Vec<_>>().join(", "),
        from_ = from_sql(layout),
        where_ = where_clause(&conditions),
        order = keyset_order(d, &keys, true),
    );
    sql
}

/// The layout the snapshots table is read with (its own stream key, version and state).
pub(crate) fn snapshot_layout(layout: &Layout) -> Option<Layout> {
    let snap = layout.snapshots.as_ref()?;
    let mut columns = layout.columns.clone();
    columns.stream = snap.stream.clone();
    columns.version = snap.version.clone();
    columns.payload = snap.state.clone();
    Some(Layout {
        name: format!("{} snapshots", layout.name),
        description: String::new(),
        library: layout.library.clone(),
        table: snap.table.clone(),
        joins: Vec::new(),
        columns,
        conditions: Vec::new(),
        codec: snap.codec,
        snapshots: None,
        row_key: RowKey::None,
        server: Default::default(),
        stream_versions_unique: false,
    })
}

/// The stored snapshots of one stream: version and state, oldest first (at most `limit`; those
/// whose state is NULL too, with `with_null`).
pub fn snapshots(d: Dialect, layout: &Layout, stream: &str, limit: i64, with_null: bool) -> Option<Sql> {
    let snap = snapshot_layout(layout)?;
    let mut sql = Sql::new(d);
    let matches = stream_matches(&mut sql, &snap, stream)?;
    let limit = sql.bind(Param::Int(limit.max(1)));
    sql.text = format!(
        "SELECT {v}, {state} FROM {from} WHERE {matches}{not_null} ORDER BY {v} LIMIT {limit}",
        not_null = if with_null { String::new() } else { format!(" AND {} IS NOT NULL", col(&snap.columns.payload)) },
        v = whole_number_expr(d, &snap.columns.version),
        state = bytes_expr(d, &snap.columns.payload),
        from = from_sql(&snap),
    );
    Some(sql)
}

/// Each stream the snapshots table keeps a snapshot of, with how many it keeps, in stream
/// order (at most `limit`): the streams a drift check goes through.
pub fn snapshot_streams(d: Dialect, layout: &Layout, limit: i64) -> Option<Sql> {
    let snap = snapshot_layout(layout)?;
    let mut sql = Sql::new(d);
    let limit = sql.bind(Param::Int(limit.max(1)));
    sql.text = format!(
        "SELECT {id}, COUNT(*) FROM {from} GROUP BY {group} ORDER BY {order} LIMIT {limit}",
        id = stream_text(d, &snap),
        from = from_sql(&snap),
        group = stream_group(&snap),
        order = stream_order(d, &snap),
    );
    Some(sql)
}

/// Where the next page of the global log starts.
#[derive(Clone, Debug, PartialEq)]
pub enum LogCursor {
    /// The start (or, going backwards, the end) of the log.
    Edge,
    /// After (or before) the row with these [`log_keys`] values.
    After(KeysetCursor),
}

/// Up to `limit` events of the whole store after (`forward`) or before the cursor, in store
/// order: by global position, or by time, stream and version where the layout has no
/// position; the row's identity last, so every row is listed once. The key values of each row
/// follow its event columns (see [`log_keys`]).
pub fn log_page(d: Dialect, layout: &Layout, cursor: &LogCursor, forward: bool, limit: i64) -> Sql {
    log_page_where(d, layout, cursor, forward, limit, |_| Vec::new())
}

/// [`log_page`] with more conditions (filters), added by `conditions` with their parameters.
pub fn log_page_where(
    d: Dialect,
    layout: &Layout,
    cursor: &LogCursor,
    forward: bool,
    limit: i64,
    conditions: impl FnOnce(&mut Sql) -> Vec<String>,
) -> Sql {
    let mut sql = Sql::new(d);
    let keys = log_keys(d, layout);
    let mut all_conditions = layout_conditions(&mut sql, layout);
    all_conditions.extend(conditions(&mut sql));
    let mut skip = 0;
    if let LogCursor::After(after) = cursor {
        skip = after.skip;
        all_conditions.push(keyset_after(&mut sql, &keys, &after.keys, forward, !keys_unique(layout)));
    }
    let limit = sql.bind(Param::Int(limit.max(1) + skip as i64));
    let columns = event_columns(d, layout);
    let key_columns = keys.iter().map(|k| k.select.as_str()).collect::<Vec<_>>().join(", ");
    let (from, where_, order) = (from_sql(layout), where_clause(&all_conditions), keyset_order(d, &keys, forward));
    sql.text = if d == Dialect::Postgres && layout.row_key == RowKey::PostgresCtid && layout.joins.is_empty() {
        // The page's rows are chosen by their keys alone, then read by their row ids: sorting
        // the whole log with every payload and metadata turned into text (when no index gives
        // the order) took eight times the raw query.
        let main = quote_ident(MAIN);
        format!(
            "WITH page AS MATERIALIZED (SELECT {main}.tableoid AS page_table, {main}.ctid AS page_row \
             FROM {from}{where_}ORDER BY {order} LIMIT {limit}) \
             SELECT {columns}, {key_columns} FROM {from} \
             WHERE {main}.ctid = ANY(ARRAY(SELECT page_row FROM page)) \
             AND ({main}.tableoid, {main}.ctid) IN (SELECT page_table, page_row FROM page) ORDER BY {order}"
        )
    } else {
        format!("SELECT {columns}, {key_columns} FROM {from}{where_}ORDER BY {order} LIMIT {limit}")
    };
    sql
}

/// How to ask the planner whether an index gives the global log its order, and the index that
/// would: `(EXPLAIN of reading the log's first row in order, CREATE INDEX statement)`. `None`
/// where the order's leading column is not a plain column of the main table.
pub fn log_order_probe(d: Dialect, layout: &Layout) -> Option<(String, String)> {
    let c = &layout.columns;
    let column = c.position.as_ref().or(c.recorded_at.as_ref())?;
    if column.table.is_some() || column.fallback.is_some() || !layout.joins.is_empty() {
        return None;
    }
    let table = table_sql(&layout.table);
    let explain = match d {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN",
        Dialect::Postgres => "EXPLAIN",
    };
    let probe = format!("{explain} SELECT 1 FROM {table} AS {} ORDER BY {} LIMIT 1", quote_ident(MAIN), col(column));
    let name = quote_ident(&format!("{}_{}_idx", layout.table.name, column.name));
    Some((probe, format!("CREATE INDEX {name} ON {table} ({})", quote_ident(&column.name))))
}

/// How to ask the planner whether an index reads the events newest first by their time (for the
/// "most recent" streams order): an EXPLAIN of reading the newest event. `None` where the time
/// is not a plain column of the main table.
pub fn time_order_probe(d: Dialect, layout: &Layout) -> Option<String> {
    let column = layout.columns.recorded_at.as_ref()?;
    if column.table.is_some() || column.fallback.is_some() || !layout.joins.is_empty() {
        return None;
    }
    let explain = match d {
        Dialect::Sqlite => "EXPLAIN QUERY PLAN",
        Dialect::Postgres => "EXPLAIN",
    };
    let table = table_sql(&layout.table);
    Some(format!("{explain} SELECT 1 FROM {table} AS {} ORDER BY {} DESC LIMIT 1", quote_ident(MAIN), col(column)))
}

/// The stream of every event matching a search, newest first by the time column as stored (the
/// order an index on it gives, read as far as needed): the streams in the order of their last
/// event.
pub fn streams_by_time(d: Dialect, layout: &Layout, search: &str) -> Option<Sql> {
    let column = layout.columns.recorded_at.as_ref()?;
    let mut sql = Sql::new(d);
    let mut conditions = layout_conditions(&mut sql, layout);
    conditions.extend(search_condition(&mut sql, layout, search));
    sql.text = format!(
        "SELECT {} FROM {}{}ORDER BY {} DESC",
        stream_text(d, layout),
        from_sql(layout),
        where_clause(&conditions),
        col(column)
    );
    Some(sql)
}

/// A condition that keeps at least the events of a category (see `Event::category`: the
/// aggregate type where the layout has one, else the stream id before its first `-`), for the
/// database to leave out the rest; the reader still checks each event. `None` (no filter) for
/// a category holding a `-`, which only an aggregate type can have.
pub fn category_matches(sql: &mut Sql, layout: &Layout, category: &str) -> Option<String> {
    if category.contains('-') {
        return None;
    }
    let d = sql.dialect;
    let s = stream_text(d, layout);
    let whole = sql.bind(Param::Text(category.to_owned()));
    let prefix = sql.bind(Param::Text(format!("{category}-")));
    let by_id = format!("({s} = {whole} OR substr({s}, 1, {}) = {prefix})", category.chars().count() + 1);
    Some(match &layout.columns.aggregate_type {
        Some(t) => {
            let p = sql.bind(Param::Text(category.to_owned()));
            format!(
                "(({c} IS NOT NULL AND {text} = {p}) OR ({c} IS NULL AND {by_id}))",
                c = col(t),
                text = text_expr(d, t)
            )
        }
        None => by_id,
    })
}

/// Which events of the log a reader wants (a projection's source and end), for the database
/// to filter: every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LogSelection {
    /// Only these streams.
    pub streams: Option<Vec<String>>,
    /// Only this category (see [`category_matches`]).
    pub category: Option<String>,
    /// Only up to this global position (events without one are kept).
    pub until_position: Option<i64>,
}

impl LogSelection {
    /// The conditions, with their parameters bound in `sql`.
    pub fn conditions(&self, sql: &mut Sql, layout: &Layout) -> Vec<String> {
        let mut conditions = Vec::new();
        if let Some(streams) = &self.streams {
            let any: Vec<String> = streams.iter().filter_map(|id| stream_matches(sql, layout, id)).collect();
            conditions.push(if any.is_empty() { "1 = 0".to_owned() } else { format!("({})", any.join(" OR ")) });
        }
        if let Some(category) = &self.category {
            conditions.extend(category_matches(sql, layout, category));
        }
        if let (Some(until), Some(position)) = (self.until_position, &layout.columns.position) {
            let p = sql.bind(Param::Int(until));
            let position = int_expr(sql.dialect, position);
            conditions.push(format!("({position} <= {p} OR {position} IS NULL)"));
        }
        conditions
    }
}

/// Every event meeting the conditions, in log order, with its key values after its columns
/// (as [`log_page_where`] gives them): one query for a reader that streams the whole log
/// instead of paging through it (each page of an order no index serves sorts the table again).
pub fn log_all_where(d: Dialect, layout: &Layout, conditions: impl FnOnce(&mut Sql) -> Vec<String>) -> Sql {
    let mut sql = Sql::new(d);
    let keys = log_keys(d, layout);
    let mut all_conditions = layout_conditions(&mut sql, layout);
    all_conditions.extend(conditions(&mut sql));
    sql.text = format!(
        "SELECT {columns}, {key_columns} FROM {from}{where_}ORDER BY {order}",
        columns = event_columns(d, layout),
        key_columns = keys.iter().map(|k| k.select.as_str()).collect::<Vec<_>>().join(", "),
        from = from_sql(layout),
        where_ = where_clause(&all_conditions),
        order = keyset_order(d, &keys, true),
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::layout::{Catalog, CatalogColumn, CatalogTable, detect};

    fn layout(kinds: &[(&str, &str)], schema: Option<&str>) -> Layout {
        let catalog = Catalog {
            tables: vec![CatalogTable {
                schema: schema.map(str::to_owned),
                name: "events".into(),
                columns: kinds
                    .iter()
                    .map(|(n, t)| CatalogColumn { name: (*n).into(), type_name: (*t).into() })
                    .collect(),
            }],
        };
        detect(&catalog).unwrap().remove(0)
    }

    fn pg_layout() -> Layout {
        layout(
            &[
                ("aggregate_id", "uuid"),
                ("version", "integer"),
                ("event_type", "text"),
                ("payload", "jsonb"),
                ("recorded_at", "timestamp with time zone"),
                ("position", "bigint"),
            ],
            Some("public"),
        )
    }

    #[test]
    fn stream_page_binds_every_value() {
        let stream = "00001042-0000-4000-8000-0000007de8ce";
        let sql = stream_events(Dialect::Postgres, &pg_layout(), stream, Some(5), None, 100);
        let hostile = stream_events(Dialect::Postgres, &pg_layout(), "x'; DROP TABLE events; --", Some(5), None, 100);
        assert!(!hostile.text.contains("DROP") && hostile.text.contains("1 = 0"), "{}", hostile.text);
        assert_eq!(sql.params.len(), 3);
        assert!(sql.text.contains(r#""e"."aggregate_id" = CAST($1 AS uuid)"#), "{}", sql.text);
        assert!(
            sql.text.contains(r#"ORDER BY "e"."version" ASC NULLS LAST, "e"."position" ASC NULLS LAST LIMIT $3"#),
            "{}",
            sql.text
        );
        // JSON goes out as stored (converted as each row is sent, not before a sort).
        assert!(sql.text.contains(r#"", "e"."payload", "#), "{}", sql.text);
        // From the start: no version condition, so events without one are listed too.
        let all = stream_events(Dialect::Postgres, &pg_layout(), stream, None, None, 100);
        assert!(!all.text.contains(">="), "{}", all.text);
    }

    #[test]
    fn keyset_pages_continue_after_the_row_identity() {
        let mut l = layout(
            &[("aggregate_id", "TEXT"), ("version", "INTEGER"), ("event_type", "TEXT"), ("payload", "TEXT")],
            None,
        );
        l.row_key = RowKey::SqliteRowid;
        let after = KeysetCursor { keys: vec![Cell::Int(7), Cell::Int(1234)], skip: 0 };
        let sql = stream_events(Dialect::Sqlite, &l, "s", None, Some(&after), 10);
        assert!(sql.text.contains(r#"((("e"."version", "e".rowid) > (?3, ?4)))"#), "{}", sql.text);
        assert!(sql.text.contains(r#"ORDER BY "e"."version" ASC NULLS FIRST, "e".rowid ASC NULLS FIRST"#));
        // A NULL version is a key like any other: after it come the rows with a version.
        let after = KeysetCursor { keys: vec![Cell::Null, Cell::Int(5)], skip: 0 };
        let sql = stream_events(Dialect::Sqlite, &l, "s", None, Some(&after), 10);
        assert!(
            sql.text.contains(r#"("e"."version" IS NOT NULL)) OR ("e"."version" IS NULL AND ("e".rowid > ?3))"#),
            "{}",
            sql.text
        );
        // Without a row identity, the page starts at the cursor and skips the rows seen.
        l.row_key = RowKey::None;
        let after = KeysetCursor { keys: vec![Cell::Int(7)], skip: 3 };
        let sql = stream_events(Dialect::Sqlite, &l, "s", None, Some(&after), 10);
        assert!(sql.text.contains(r#"((("e"."version") >= (?3)))"#), "{}", sql.text);
        assert_eq!(sql.params.last(), Some(&Param::Int(13)));
    }

    #[test]
    fn stream_list_keyset_by_sort() {
        let l = pg_layout();
        let mut q = StreamQuery { search: "ab".into(), limit: 50, ..Default::default() };
        let first = list_streams(Dialect::Postgres, &l, &q);
        assert!(!first.text.contains("OFFSET"));
        let search = "strpos(lower(CAST(\"e\".\"aggregate_id\" AS TEXT)) COLLATE \"C\", $1) > 0";
        assert!(first.text.contains(search), "{}", first.text);
        q.after = Some(StreamCursor { key: Cell::Int(7), stream: "s".into(), raw: Cell::Text("s".into()) });
        let next = list_streams(Dialect::Postgres, &l, &q);
        assert!(next.text.contains(r#""e"."aggregate_id" > CAST($2 AS uuid)"#), "{}", next.text);
        q.sort = StreamSort::MostEvents;
        let by_count = list_streams(Dialect::Postgres, &l, &q);
        assert!(by_count.text.contains("HAVING COUNT(*) < $2 OR (COUNT(*) = $2"), "{}", by_count.text);
        assert_eq!(by_count.params[1], Param::Int(7));
    }

    #[test]
    fn recent_sort_without_a_time_column_falls_back_to_id() {
        let l = layout(
            &[("aggregate_id", "TEXT"), ("version", "INTEGER"), ("event_type", "TEXT"), ("payload", "TEXT")],
            None,
        );
        let q = StreamQuery { sort: StreamSort::Recent, limit: 10, ..Default::default() };
        let sql = list_streams(Dialect::Sqlite, &l, &q);
        assert!(sql.text.contains(r#"ORDER BY "e"."aggregate_id" ASC LIMIT ?1"#), "{}", sql.text);
    }

    #[test]
    fn log_pages_by_position_or_by_time_stream_version() {
        let mut l = pg_layout();
        l.row_key = RowKey::PostgresCtid;
        let cursor = LogCursor::After(KeysetCursor {
            keys: vec![Cell::Int(10), Cell::Int(16_400), Cell::Text("(0,7)".into())],
            skip: 0,
        });
        let sql = log_page(Dialect::Postgres, &l, &cursor, false, 20);
        assert!(
            sql.text.contains(
                r#"ORDER BY "e"."position" DESC NULLS FIRST, "e".tableoid DESC NULLS FIRST, "e".ctid DESC NULLS FIRST"#
            ),
            "{}",
            sql.text
        );
        assert!(
            sql.text.contains(r#"((("e"."position", "e".tableoid, "e".ctid) < (CAST($1 AS BIGINT), CAST($2 AS oid), CAST($3 AS tid))))"#),
            "{}",
            sql.text
        );
        // Forwards on PostgreSQL, NULLs come after every value: rows whose first differing key
        // is NULL follow the cursor too.
        let sql = log_page(Dialect::Postgres, &l, &cursor, true, 20);
        assert!(
            sql.text.contains(r#"OR ("e"."position" = CAST($1 AS BIGINT) AND "e".tableoid IS NULL)"#),
            "{}",
            sql.text
        );
        assert!(!sql.text.contains("IS NOT NULL AND"), "rows without a position are listed too: {}", sql.text);
        let l = layout(
            &[
                ("aggregate_id", "TEXT"),
                ("version", "INTEGER"),
                ("event_type", "TEXT"),
                ("payload", "TEXT"),
                ("recorded_at", "TEXT"),
            ],
            None,
        );
        let cursor = LogCursor::After(KeysetCursor {
            keys: vec![Cell::Text("t".into()), Cell::Text("s".into()), Cell::Int(3)],
            skip: 1,
        });
        let sql = log_page(Dialect::Sqlite, &l, &cursor, true, 20);
        assert!(
            sql.text.contains(
                r#"ORDER BY "e"."recorded_at" ASC NULLS FIRST, "e"."aggregate_id" ASC NULLS FIRST, "e"."version" ASC NULLS FIRST"#
            ),
            "{}",
            sql.text
        );
        // 3 keys bound once each in the alternatives, and the limit (20 + 1 skipped).
        assert_eq!(sql.params.last(), Some(&Param::Int(21)));
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident(r#"we"ird"#), r#""we""ird""#);
        assert_eq!(table_sql(&TableName { schema: Some("s".into()), name: "t".into() }), r#""s"."t""#);
    }
}
