//! The audit's questions asked of the store: the global log filtered by a time range, event
//! types, a stream id substring, metadata `key = value` pairs and free text in payloads, all
//! answered by the database with bound parameters and paged by keyset; event type counts, a
//! histogram over time, a per-actor summary, correlation and causation chains. One unreadable
//! row (metadata that is not JSON, a time that is not a time) is skipped by the filter that
//! needs its value, never fails the query. (`crate::audit` exports the results.)

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::cell::{Cell, Param};
use super::layout::{ColumnKind, ColumnRef, Layout};
use super::query::{self, Dialect, LogCursor, Sql, col, text_expr, where_clause};
use super::{LogPage, Store, StoreError};
use crate::model::Event;

/// Metadata keys that name the actor, the correlation, the causation and the event itself.
pub const ACTOR_KEYS: &[&str] = &["actor", "user_id", "user"];
pub const CORRELATION_KEYS: &[&str] = &["correlation_id", "correlationId", "$correlationId"];
pub const CAUSATION_KEYS: &[&str] = &["causation_id", "causationId", "$causationId"];
pub const EVENT_ID_KEYS: &[&str] = &["event_id", "eventId", "message_id", "id"];

/// A metadata value of an event, by the first of `keys` it has.
pub fn metadata_value(event: &Event, keys: &[&str]) -> Option<String> {
    let Some(crate::model::Payload::Json(Value::Object(map))) = event.metadata.as_deref() else {
        return None;
    };
    keys.iter().find_map(|k| match map.get(*k)? {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    })
}

/// What to look for. Every field narrows; empty fields do not.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Any of these event types (empty: all).
    pub types: Vec<String>,
    /// A case-insensitive substring of the stream id.
    pub stream: String,
    /// Metadata `key = value` pairs, all of which must hold.
    pub meta: Vec<(String, String)>,
    /// A case-insensitive substring of the payload text (a full scan).
    pub text: String,
    /// Only these events, where set: the contract outliers a schema survey found, say.
    pub only: Option<EventSet>,
}

/// A named set of events, by stream and version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventSet {
    /// What the events are, in words ("contract outliers").
    pub name: String,
    /// `(stream, version)`, at most [`EventSet::MAX`].
    pub events: Vec<(String, i64)>,
}

impl EventSet {
    /// The most events a set filters by (each one is a condition of the query).
    pub const MAX: usize = 1_000;

    /// A set of the first [`EventSet::MAX`] events; also says whether some were left out.
    pub fn new(name: &str, events: impl IntoIterator<Item = (String, i64)>) -> (EventSet, bool) {
        let mut events: Vec<(String, i64)> = events.into_iter().collect();
        let cut = events.len() > Self::MAX;
        events.truncate(Self::MAX);
        (EventSet { name: name.to_owned(), events }, cut)
    }
}

impl AuditFilter {
    /// Whether the payload text search is on: it reads every payload in the range.
    pub fn scans_payloads(&self) -> bool {
        !self.text.is_empty()
    }
}

/// Why an audit question cannot be asked of this store.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("this store's layout has no {0} column, so it cannot be filtered or counted by {1}")]
    Missing(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The export could not be written where it goes (a closed pipe, a full disk).
    #[error("cannot write the export: {1}")]
    Output(std::io::ErrorKind, String),
}

/// Epoch seconds from a number that counts seconds, milliseconds or microseconds since 1970, told
/// apart by size as the window shows them (`Cell::as_time`).
fn scaled_epoch(number: &str) -> String {
    // (`* 1.0` first: the absolute value of the smallest 64-bit integer overflows.)
    format!(
        "(CASE WHEN abs({number} * 1.0) < 1e11 THEN {number} * 1.0 WHEN abs({number} * 1.0) < 1e14 THEN {number} / 1e3 \
         ELSE {number} / 1e6 END)"
    )
}

/// The time column as a timestamp (PostgreSQL) or as epoch seconds (SQLite, whose times are text
/// or numbers whatever the column declares). A PostgreSQL text that is not a time is NULL, so
/// that one such row does not fail the query (the window shows it marked, with its text).
fn time_value(layout: &Layout, d: Dialect, c: &ColumnRef) -> String {
    let column = col(c);
    match (d, c.kind) {
        // (Compared as they are, so that an index on the column serves a time filter; `infinity`
        // sorts after every time.)
        (Dialect::Postgres, ColumnKind::TimestampTz) => column,
        (Dialect::Postgres, ColumnKind::Timestamp) => format!("({column} AT TIME ZONE 'UTC')"),
        // Epochs past the year 8000 are not times.
        (Dialect::Postgres, ColumnKind::Integer) => {
            let seconds = scaled_epoch(&column);
            format!("(CASE WHEN abs({seconds}) < 2e11 THEN to_timestamp({seconds}) END)")
        }
        (Dialect::Postgres, _) => {
            let text = format!("CAST({column} AS TEXT)");
            // PostgreSQL 16 asks the type itself; before it, only ISO 8601 texts are read (a
            // date out of range, such as February 30, still fails there).
            let readable = if layout.server.input_checks {
                format!("pg_input_is_valid({text}, 'timestamptz')")
            } else {
                let date = "\\d{4}-((0[13578]|1[02])-(0[1-9]|[12]\\d|3[01])|(0[469]|11)-(0[1-9]|[12]\\d|30)|02-(0[1-9]|1\\d|2\\d))";
                let time = "([ T]([01]\\d|2[0-3]):[0-5]\\d(:[0-5]\\d(\\.\\d+)?)?)?";
                let zone = "(Z|z|[+-]\\d{2}(:?\\d{2})?)?";
                format!("{text} ~ '^\\s*{date}{time}\\s*{zone}\\s*$'")
            };
            format!("(CASE WHEN {readable} THEN CAST({text} AS timestamptz) END)")
        }
        // SQLite reads `2026-02-30` as March 2: a date that does not come back as written is
        // not a time (as the window shows it).
        (Dialect::Sqlite, _) => format!(
            "(CASE WHEN typeof({column}) IN ('integer', 'real') THEN {} \
             WHEN date({column}) = substr(ltrim({column}), 1, 10) THEN (julianday({column}) - 2440587.5) * 86400.0 END)",
            scaled_epoch(&column)
        ),
    }
}

/// Epoch seconds of the time column.
fn epoch_seconds(layout: &Layout, d: Dialect, c: &ColumnRef) -> String {
    match d {
        // `infinity` has no place on a time axis: NULL, like a text that is not a time.
        Dialect::Postgres => {
            let time = time_value(layout, d, c);
            format!("(CASE WHEN isfinite({time}) THEN CAST(extract(epoch from {time}) AS DOUBLE PRECISION) END)")
        }
        Dialect::Sqlite => time_value(layout, d, c),
    }
}

fn time_param(d: Dialect, t: DateTime<Utc>) -> Param {
    match d {
        Dialect::Postgres => Param::Time(t),
        Dialect::Sqlite => Param::Float(t.timestamp_micros() as f64 / 1e6),
    }
}

/// A PostgreSQL metadata column as `jsonb`; NULL for a row whose value is not a JSON object
/// PostgreSQL can read (XML, binary, text that only starts like JSON, nesting deeper than the
/// server's stack allows), so that one such row does not make the whole query fail; the window
/// shows those rows' metadata as undecodable, with the reason.
fn pg_meta_jsonb(layout: &Layout, column: &ColumnRef) -> String {
    /// At most this many brackets: PostgreSQL's parser recurses per level, and 10,000 levels fit
    /// its default 2 MB stack (100,000 fail the query with "stack depth limit exceeded").
    const MAX_BRACKETS: usize = 10_000;
    let c = col(column);
    let shallow = |text: &str| format!("length({text}) - length(translate({text}, '{{[', '')) <= {MAX_BRACKETS}");
    let valid = |text: &str| {
        if layout.server.input_checks {
            format!(" AND pg_input_is_valid({text}, 'jsonb')")
        } else {
            // Before PostgreSQL 16 nothing reads a text as JSON without failing on a bad one:
            // a text that starts and ends like an object is taken to be one.
            format!(" AND right(rtrim({text}, E' \\t\\r\\n'), 1) = '}}'")
        }
    };
    match column.kind {
        ColumnKind::Json => format!("CAST({c} AS jsonb)"),
        ColumnKind::Bytes => {
            format!(
                "(CASE WHEN substring({c} FROM 1 FOR 1) = '\\x7b'::bytea THEN convert_from({c}, 'UTF8')::jsonb END)"
            )
        }
        _ => {
            let text = format!("CAST({c} AS TEXT)");
            format!(
                "(CASE WHEN left(ltrim({text}, E' \\t\\r\\n'), 1) = '{{' AND {}{} THEN CAST({text} AS jsonb) END)",
                shallow(&text),
                valid(&text)
            )
        }
    }
}

/// The metadata value under `key` (bound as a parameter), as text; NULL where the metadata is
/// not a JSON object or lacks the key.
fn meta_expr(sql: &mut Sql, layout: &Layout, key: &str) -> Result<String, AuditError> {
    if let Some((_, column)) = layout.columns.metadata_columns.iter().find(|(k, _)| k == key) {
        return Ok(text_expr(sql.dialect(), column));
    }
    let m = layout.columns.metadata.as_ref().ok_or(AuditError::Missing("metadata", "metadata"))?;
    let column = col(m);
    Ok(match sql.dialect() {
        Dialect::Postgres => {
            let k = sql.bind(Param::Text(key.to_owned()));
            match m.kind {
                ColumnKind::Json => format!("({column} ->> CAST({k} AS TEXT))"),
                _ => format!("({} ->> CAST({k} AS TEXT))", pg_meta_jsonb(layout, m)),
            }
        }
        // A quoted JSON path for ordinary keys (fast); a key with quotes or backslashes, which a
        // path cannot hold, is looked up among the object's members instead.
        Dialect::Sqlite if !key.contains(['"', '\\']) => {
            let path = sql.bind(Param::Text(format!("$.\"{key}\"")));
            format!("(CASE WHEN json_valid({column}) THEN CAST(json_extract({column}, {path}) AS TEXT) END)")
        }
        Dialect::Sqlite => {
            let k = sql.bind(Param::Text(key.to_owned()));
            format!(
                "(CASE WHEN json_valid({column}) THEN (SELECT CAST(j.value AS TEXT) FROM json_each({column}) j WHERE j.key = {k}) END)"
            )
        }
    })
}

/// The first of several metadata keys that is present.
fn meta_any_expr(sql: &mut Sql, layout: &Layout, keys: &[&str]) -> Result<String, AuditError> {
    let parts = keys.iter().map(|k| meta_expr(sql, layout, k)).collect::<Result<Vec<_>, _>>()?;
    Ok(if parts.len() == 1 { parts.concat() } else { format!("COALESCE({})", parts.join(", ")) })
}

/// The filter's conditions, every value bound. `with_types: false` leaves the types out (to
/// count every type under the other filters).
fn conditions(
    sql: &mut Sql,
    layout: &Layout,
    filter: &AuditFilter,
    with_types: bool,
) -> Result<Vec<String>, AuditError> {
    let d = sql.dialect();
    let c = &layout.columns;
    let mut out = Vec::new();
    if filter.since.is_some() || filter.until.is_some() {
        let t = c.recorded_at.as_ref().ok_or(AuditError::Missing("recorded-at", "time"))?;
        let value = match d {
            Dialect::Postgres => time_value(layout, d, t),
            Dialect::Sqlite => epoch_seconds(layout, d, t),
        };
        if let Some(since) = filter.since {
            let p = sql.bind(time_param(d, since));
            out.push(format!("{value} >= {p}"));
        }
        if let Some(until) = filter.until {
            let p = sql.bind(time_param(d, until));
            out.push(format!("{value} < {p}"));
        }
    }
    if with_types && !filter.types.is_empty() {
        let placeholders: Vec<String> = filter.types.iter().map(|t| sql.bind(Param::Text(t.clone()))).collect();
        out.push(format!("{} IN ({})", text_expr(d, &c.event_type), placeholders.join(", ")));
    }
    if !filter.stream.is_empty() {
        let stream = query::stream_text(d, layout);
        out.push(query::contains_folded(sql, &stream, &filter.stream));
    }
    if let Some(set) = &filter.only {
        out.push(query::one_of_events(sql, layout, &set.events));
    }
    for (key, value) in &filter.meta {
        let expr = meta_expr(sql, layout, key)?;
        let p = sql.bind(Param::Text(value.clone()));
        out.push(format!("{expr} = {p}"));
    }
    if !filter.text.is_empty() {
        out.push(match d {
            Dialect::Sqlite => {
                let payload = format!("CAST({} AS TEXT)", col(&c.payload));
                query::contains_folded(sql, &payload, &filter.text)
            }
            Dialect::Postgres => {
                let mut p = sql.bind(Param::Text(filter.text.clone()));
                let payload = match c.payload.kind {
                    // Bytes that are not UTF-8 (compressed, encrypted) cannot be converted to
                    // text, and one such row would fail the query: both sides are compared in
                    // the escaped form, which never fails.
                    ColumnKind::Bytes => {
                        p = format!("encode(convert_to(CAST({p} AS TEXT), 'UTF8'), 'escape')");
                        format!("encode({}, 'escape')", col(&c.payload))
                    }
                    _ => format!("CAST({} AS TEXT)", col(&c.payload)),
                };
                format!("strpos(lower({payload}), lower({p})) > 0")
            }
        });
    }
    Ok(out)
}

fn select(sql: &mut Sql, layout: &Layout, what: &str, conditions: &[String], tail: &str) {
    let mut all = query::layout_conditions(sql, layout);
    all.extend(conditions.iter().cloned());
    sql.text = format!("SELECT {what} FROM {}{}{tail}", query::from_sql(layout), where_clause(&all));
}

/// A bar of the histogram: the bucket's start and how many events fell in it.
#[derive(Clone, Debug, PartialEq)]
pub struct Histogram {
    pub bucket_seconds: i64,
    pub buckets: Vec<(DateTime<Utc>, i64)>,
    /// The times of the first and the last event under the filter.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// A bucket size that gives about `target` bars over `span_seconds`: a minute, 5, 15, 30
/// minutes, an hour, 3, 6, 12 hours, a day, a week, 30 days.
pub fn bucket_seconds(span_seconds: f64, target: f64) -> i64 {
    const SIZES: [i64; 12] =
        [60, 300, 900, 1_800, 3_600, 10_800, 21_600, 43_200, 86_400, 604_800, 2_592_000, 31_536_000];
    let wanted = span_seconds / target.max(1.0);
    SIZES.iter().copied().find(|s| *s as f64 >= wanted).unwrap_or(SIZES[SIZES.len() - 1])
}

/// One actor's events by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActorSummary {
    pub actor: String,
    pub total: i64,
    pub by_type: Vec<(String, i64)>,
}

/// Audit's counts beside its page (see [`Store::audit_overview`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditOverview {
    /// Events under the filter.
    pub count: i64,
    /// Every type with its count under the filter's other conditions, most frequent first.
    pub types: Vec<(String, i64)>,
    /// The actors under the filter, busiest first; `None` where the layout has no metadata.
    pub actors: Option<Vec<ActorSummary>>,
    /// The first and last time under the filter.
    pub range: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Actors with their events by type, each busiest type first, the busiest actor first.
fn actor_summaries(by_actor: BTreeMap<String, Vec<(String, i64)>>) -> Vec<ActorSummary> {
    let mut out: Vec<ActorSummary> = by_actor
        .into_iter()
        .map(|(actor, mut by_type)| {
            by_type.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            ActorSummary { actor, total: by_type.iter().map(|t| t.1).sum(), by_type }
        })
        .collect();
    out.sort_by(|a, b| b.total.cmp(&a.total).then(a.actor.cmp(&b.actor)));
    out
}

/// An event and the events it caused, recursively.
#[derive(Clone, Debug, PartialEq)]
pub struct CauseNode {
    pub event: Event,
    pub children: Vec<CauseNode>,
}

impl CauseNode {
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(CauseNode::count).sum::<usize>()
    }
}

impl Store {
    fn sql(&self) -> Sql {
        Sql::new(self.dialect())
    }

    /// Up to `limit` events matching the filter after (`forward`) or before the cursor.
    pub async fn audit_page(
        &self,
        filter: &AuditFilter,
        cursor: &LogCursor,
        forward: bool,
        limit: usize,
    ) -> Result<LogPage, AuditError> {
        let sql = self.audit_page_sql(filter, cursor, forward, limit)?;
        Ok(self.log_page(sql, limit.max(1), cursor).await?)
    }

    /// The query of a page of the log under the filter.
    fn audit_page_sql(
        &self,
        filter: &AuditFilter,
        cursor: &LogCursor,
        forward: bool,
        limit: usize,
    ) -> Result<Sql, AuditError> {
        let mut failed = None;
        let sql = query::log_page_where(self.dialect(), &self.layout, cursor, forward, limit.max(1) as i64, |sql| {
            conditions(sql, &self.layout, filter, true).unwrap_or_else(|e| {
                failed = Some(e);
                Vec::new()
            })
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(sql),
        }
    }

    /// Up to `limit` events matching the filter after (`forward`) or before the cursor, each with
    /// the cursor just after it.
    pub async fn audit_keyed_page(
        &self,
        filter: &AuditFilter,
        cursor: &LogCursor,
        forward: bool,
        limit: usize,
    ) -> Result<Vec<(Event, query::KeysetCursor)>, AuditError> {
        let sql = self.audit_page_sql(filter, cursor, forward, limit)?;
        Ok(self.keyed_log_page(sql).await?)
    }

    /// Every event matching the filter, in store order, handed to `each` as it is read until it
    /// says stop: one streamed query (an order no index serves is sorted once, not once a page),
    /// one event in memory at a time. Gives how many were handed over.
    pub async fn audit_each<F: FnMut(Event) -> bool>(
        &self,
        filter: &AuditFilter,
        each: &mut F,
    ) -> Result<usize, AuditError> {
        let mut failed = None;
        let sql = query::log_all_where(self.dialect(), &self.layout, |sql| {
            conditions(sql, &self.layout, filter, true).unwrap_or_else(|e| {
                failed = Some(e);
                Vec::new()
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(self.fetch_events_each(&sql, query::log_keys(self.dialect(), &self.layout).len(), each).await?)
    }

    /// How many events match the filter.
    pub async fn audit_count(&self, filter: &AuditFilter) -> Result<i64, AuditError> {
        let mut sql = self.sql();
        let conditions = conditions(&mut sql, &self.layout, filter, true)?;
        select(&mut sql, &self.layout, "COUNT(*)", &conditions, "");
        let rows = self.fetch(&sql).await?;
        Ok(rows.first().and_then(|r| r.first()).and_then(Cell::as_i64).unwrap_or(0))
    }

    /// Every event type with its count under the filter's other conditions, most frequent first.
    pub async fn audit_types(&self, filter: &AuditFilter) -> Result<Vec<(String, i64)>, AuditError> {
        let mut sql = self.sql();
        let conditions = conditions(&mut sql, &self.layout, filter, false)?;
        let t = text_expr(self.dialect(), &self.layout.columns.event_type);
        select(
            &mut sql,
            &self.layout,
            &format!("{t}, COUNT(*)"),
            &conditions,
            &format!(" GROUP BY {t} ORDER BY 2 DESC, 1"),
        );
        let rows = self.fetch(&sql).await?;
        Ok(rows.into_iter().map(|r| (r[0].as_text().unwrap_or_default(), r[1].as_i64().unwrap_or(0))).collect())
    }

    /// The first and last time under the filter.
    pub async fn audit_time_range(
        &self,
        filter: &AuditFilter,
    ) -> Result<Option<(DateTime<Utc>, DateTime<Utc>)>, AuditError> {
        let t = self.layout.columns.recorded_at.as_ref().ok_or(AuditError::Missing("recorded-at", "time"))?;
        let mut sql = self.sql();
        let conditions = conditions(&mut sql, &self.layout, filter, true)?;
        let e = epoch_seconds(&self.layout, self.dialect(), t);
        select(&mut sql, &self.layout, &format!("MIN({e}), MAX({e})"), &conditions, "");
        let rows = self.fetch(&sql).await?;
        let at = |cell: Option<&Cell>| {
            cell.and_then(Cell::as_f64).and_then(|s| DateTime::from_timestamp_micros((s * 1e6) as i64))
        };
        Ok(rows.first().and_then(|r| Some((at(r.first())?, at(r.get(1))?))))
    }

    /// What Audit shows beside its page, from one pass over the events under the filter: their
    /// count, actors and first and last time, and every type with its count under the filter's
    /// other conditions (for the type picker). The same answers as [`Store::audit_count`],
    /// [`Store::audit_types`], [`Store::audit_actors`] and [`Store::audit_time_range`], which
    /// would read the store four times.
    pub async fn audit_overview(&self, filter: &AuditFilter) -> Result<AuditOverview, AuditError> {
        // (Tried on a scratch statement first: a failed try must not leave parameters bound.)
        let has_actors = meta_any_expr(&mut self.sql(), &self.layout, ACTOR_KEYS).is_ok();
        match self.audit_overview_of(filter, has_actors).await {
            // Metadata the database cannot read as JSON fails the actors, not the counts.
            Err(_) if has_actors => self.audit_overview_of(filter, false).await,
            answer => answer,
        }
    }

    async fn audit_overview_of(&self, filter: &AuditFilter, with_actors: bool) -> Result<AuditOverview, AuditError> {
        let d = self.dialect();
        let mut sql = self.sql();
        let actor = with_actors.then(|| meta_any_expr(&mut sql, &self.layout, ACTOR_KEYS)).transpose()?;
        let conditions = conditions(&mut sql, &self.layout, filter, false)?;
        let t = text_expr(d, &self.layout.columns.event_type);
        // The filter's types, as the database compares them: the rows the count and the actors
        // are made of.
        let chosen = if filter.types.is_empty() {
            "1 = 1".to_owned()
        } else {
            let placeholders: Vec<String> = filter.types.iter().map(|t| sql.bind(Param::Text(t.clone()))).collect();
            format!("{t} IN ({})", placeholders.join(", "))
        };
        let time = match &self.layout.columns.recorded_at {
            Some(column) => epoch_seconds(&self.layout, d, column),
            None => "NULL".to_owned(),
        };
        let (keys, group) = match &actor {
            Some(actor) => (format!("{actor}, {t}"), " GROUP BY 1, 2"),
            None => (t.clone(), " GROUP BY 1"),
        };
        let what = format!(
            "{keys}, COUNT(*), SUM(CASE WHEN {chosen} THEN 1 ELSE 0 END), \
             MIN(CASE WHEN {chosen} THEN {time} END), MAX(CASE WHEN {chosen} THEN {time} END)"
        );
        select(&mut sql, &self.layout, &what, &conditions, group);
        let rows = self.fetch(&sql).await?;
        let mut overview = AuditOverview::default();
        let mut types: BTreeMap<String, i64> = BTreeMap::new();
        let mut by_actor: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        let (mut first, mut last) = (None::<f64>, None::<f64>);
        for row in rows {
            let mut cells = row.into_iter();
            let who = actor.is_some().then(|| cells.next().and_then(|c| c.as_text()));
            let mut take = || cells.next().unwrap_or(Cell::Null);
            let (event_type, all, chosen, earliest, latest) = (take(), take(), take(), take(), take());
            let event_type = event_type.as_text().unwrap_or_default();
            *types.entry(event_type.clone()).or_default() += all.as_i64().unwrap_or(0);
            let chosen = chosen.as_i64().unwrap_or(0);
            if chosen == 0 {
                continue;
            }
            overview.count += chosen;
            if let Some(who) = who {
                by_actor.entry(who.unwrap_or_else(|| "(no actor)".to_owned())).or_default().push((event_type, chosen));
            }
            if let Some(at) = earliest.as_f64() {
                first = Some(first.map_or(at, |f| f.min(at)));
            }
            if let Some(at) = latest.as_f64() {
                last = Some(last.map_or(at, |l| l.max(at)));
            }
        }
        let mut types: Vec<(String, i64)> = types.into_iter().collect();
        types.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        overview.types = types;
        overview.actors = actor.is_some().then(|| actor_summaries(by_actor));
        let at = |seconds: Option<f64>| seconds.and_then(|s| DateTime::from_timestamp_micros((s * 1e6) as i64));
        overview.range = at(first).zip(at(last));
        Ok(overview)
    }

    /// Event counts over time under the filter, about `bars` bars from the first to the last event.
    pub async fn audit_histogram(&self, filter: &AuditFilter, bars: usize) -> Result<Histogram, AuditError> {
        self.layout.columns.recorded_at.as_ref().ok_or(AuditError::Missing("recorded-at", "time"))?;
        let range = self.audit_time_range(filter).await?;
        self.audit_histogram_over(filter, bars, range).await
    }

    /// [`Store::audit_histogram`] where the first and last time under the filter are known.
    pub async fn audit_histogram_over(
        &self,
        filter: &AuditFilter,
        bars: usize,
        range: Option<(DateTime<Utc>, DateTime<Utc>)>,
    ) -> Result<Histogram, AuditError> {
        let t = self.layout.columns.recorded_at.as_ref().ok_or(AuditError::Missing("recorded-at", "time"))?;
        let Some((first, last)) = range else {
            return Ok(Histogram { bucket_seconds: 3_600, buckets: Vec::new(), range: None });
        };
        let from = filter.since.unwrap_or(first);
        let to = filter.until.unwrap_or(last);
        let size = bucket_seconds((to - from).num_seconds().max(1) as f64, bars as f64);
        let mut sql = self.sql();
        let conditions = conditions(&mut sql, &self.layout, filter, true)?;
        let p = sql.bind(Param::Int(size));
        let e = epoch_seconds(&self.layout, self.dialect(), t);
        let bucket = match self.dialect() {
            Dialect::Postgres => format!("CAST(floor({e} / {p}) AS BIGINT)"),
            Dialect::Sqlite => format!("CAST({e} / {p} AS INTEGER)"),
        };
        select(&mut sql, &self.layout, &format!("{bucket}, COUNT(*)"), &conditions, " GROUP BY 1 ORDER BY 1");
        let rows = self.fetch(&sql).await?;
        let buckets = rows
            .into_iter()
            .filter_map(|r| Some((DateTime::from_timestamp(r[0].as_i64()? * size, 0)?, r[1].as_i64()?)))
            .collect();
        Ok(Histogram { bucket_seconds: size, buckets, range: Some((first, last)) })
    }

    /// Each actor (the metadata `actor`, `user_id` or `user`) with its events by type.
    pub async fn audit_actors(&self, filter: &AuditFilter) -> Result<Vec<ActorSummary>, AuditError> {
        let mut sql = self.sql();
        let actor = meta_any_expr(&mut sql, &self.layout, ACTOR_KEYS)?;
        let conditions = conditions(&mut sql, &self.layout, filter, true)?;
        let t = text_expr(self.dialect(), &self.layout.columns.event_type);
        select(&mut sql, &self.layout, &format!("{actor}, {t}, COUNT(*)"), &conditions, " GROUP BY 1, 2");
        let rows = self.fetch(&sql).await?;
        let mut by_actor: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for r in rows {
            let actor = r[0].as_text().unwrap_or_else(|| "(no actor)".to_owned());
            by_actor.entry(actor).or_default().push((r[1].as_text().unwrap_or_default(), r[2].as_i64().unwrap_or(0)));
        }
        Ok(actor_summaries(by_actor))
    }

    /// The metadata keys seen in the newest `sample` events (to offer as filters).
    pub async fn audit_metadata_keys(&self, sample: usize) -> Result<Vec<String>, AuditError> {
        let m = self.layout.columns.metadata.as_ref().ok_or(AuditError::Missing("metadata", "metadata"))?;
        let c = &self.layout.columns;
        let order = match (&c.position, &c.recorded_at) {
            (Some(p), _) => format!("{} DESC", col(p)),
            (None, Some(t)) => format!("{} DESC", col(t)),
            _ => format!("{} DESC", query::stream_order(self.dialect(), &self.layout)),
        };
        let mut sql = self.sql();
        let limit = sql.bind(Param::Int(sample.max(1) as i64));
        let column = col(m);
        let table = query::from_sql(&self.layout);
        sql.text = match self.dialect() {
            Dialect::Postgres => {
                let as_json = pg_meta_jsonb(&self.layout, m);
                format!(
                    "SELECT DISTINCT k FROM (SELECT {as_json} AS m FROM {table} ORDER BY {order} LIMIT {limit}) s, \
                     LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(s.m) = 'object' THEN s.m ELSE '{{}}'::jsonb END) k ORDER BY 1"
                )
            }
            Dialect::Sqlite => format!(
                "SELECT DISTINCT j.key FROM (SELECT {column} AS m FROM {table} ORDER BY {order} LIMIT {limit}) s, \
                 json_each(CASE WHEN json_valid(s.m) AND json_type(s.m) = 'object' THEN s.m ELSE '{{}}' END) j ORDER BY 1"
            ),
        };
        let rows = self.fetch(&sql).await?;
        Ok(rows.into_iter().filter_map(|r| r.first().and_then(Cell::as_text)).collect())
    }

    /// Events whose metadata has any of `keys` equal to any of `values`, in store order.
    pub async fn events_with_metadata(
        &self,
        keys: &[&str],
        values: &[String],
        limit: usize,
    ) -> Result<Vec<Event>, AuditError> {
        if values.is_empty() {
            return Ok(Vec::new());
        }
        let mut failed = None;
        let layout = &self.layout;
        let sql = query::log_page_where(self.dialect(), layout, &LogCursor::Edge, true, limit.max(1) as i64, |sql| {
            match meta_any_expr(sql, layout, keys) {
                Ok(expr) => {
                    let placeholders: Vec<String> = values.iter().map(|v| sql.bind(Param::Text(v.clone()))).collect();
                    vec![format!("{expr} IN ({})", placeholders.join(", "))]
                }
                Err(e) => {
                    failed = Some(e);
                    Vec::new()
                }
            }
        });
        if let Some(e) = failed {
            return Err(e);
        }
        Ok(self.log_page(sql, limit.max(1), &LogCursor::Edge).await?.events)
    }

    /// Every event with the same correlation id as `event`, across streams, in store order.
    pub async fn correlated(&self, event: &Event, limit: usize) -> Result<Vec<Event>, AuditError> {
        match metadata_value(event, CORRELATION_KEYS) {
            Some(id) => self.events_with_metadata(CORRELATION_KEYS, &[id], limit).await,
            None => Ok(Vec::new()),
        }
    }

    /// The event that caused `event` (its causation id is that event's id), if it is in the store.
    pub async fn caused_by(&self, event: &Event) -> Result<Option<Event>, AuditError> {
        match metadata_value(event, CAUSATION_KEYS) {
            Some(id) => Ok(self.events_with_metadata(EVENT_ID_KEYS, &[id], 1).await?.into_iter().next()),
            None => Ok(None),
        }
    }

    /// `event` and the events it caused, level by level, at most `limit` events in all.
    pub async fn causation_tree(&self, event: &Event, limit: usize) -> Result<CauseNode, AuditError> {
        let mut children_of: HashMap<String, Vec<Event>> = HashMap::new();
        let mut frontier: Vec<String> = metadata_value(event, EVENT_ID_KEYS).into_iter().collect();
        let mut seen = 1usize;
        let mut depth = 0;
        while !frontier.is_empty() && seen < limit && depth < 32 {
            let found = self.events_with_metadata(CAUSATION_KEYS, &frontier, limit - seen).await?;
            frontier.clear();
            for child in found {
                let Some(parent) = metadata_value(&child, CAUSATION_KEYS) else { continue };
                if let Some(id) = metadata_value(&child, EVENT_ID_KEYS)
                    && !children_of.contains_key(&id)
                {
                    frontier.push(id);
                }
                seen += 1;
                children_of.entry(parent).or_default().push(child);
            }
            depth += 1;
        }
        fn build(event: Event, children_of: &mut HashMap<String, Vec<Event>>, depth: usize) -> CauseNode {
            let children = match metadata_value(&event, EVENT_ID_KEYS) {
                Some(id) if depth < 32 => children_of.remove(&id).unwrap_or_default(),
                _ => Vec::new(),
            };
            CauseNode { event, children: children.into_iter().map(|c| build(c, children_of, depth + 1)).collect() }
        }
        Ok(build(event.clone(), &mut children_of, 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_sizes_follow_the_range() {
        assert_eq!(bucket_seconds(3_600.0, 60.0), 60);
        assert_eq!(bucket_seconds(86_400.0, 60.0), 1_800);
        assert_eq!(bucket_seconds(28.0 * 86_400.0, 60.0), 43_200);
        assert_eq!(bucket_seconds(1e12, 60.0), 31_536_000);
    }
}
