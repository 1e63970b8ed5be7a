//! SQL projections previewed before they are deployed. This module is pure: it reads a
//! definition (a bare query, or `CREATE [MATERIALIZED] VIEW name AS …` / `CREATE TABLE name AS
//! …`, of which only the query runs), holds result sets, compares a result with the deployed
//! relation by a key column, and exports CSV and JSON.
//!
//! Deciding what may run is not done here, from words: the store's guards do it with the
//! database's own machinery (`store::sqlite_guard`: SQLite's authorizer and
//! `sqlite3_stmt_readonly`; `store::pg_guard`: PostgreSQL's parser and the server's catalog), and
//! the store runs the query read-only, with a time-out and a row cap, on a session of its own.

use std::collections::BTreeMap;

use serde_json::{Value, json};

pub use crate::store::result::{PreviewError, PreviewLimits, PreviewPermissions, ResultColumn, ResultSet};
use crate::store::{CancelToken, Store};

/// What a definition asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Definition {
    /// The query that runs.
    pub query: String,
    /// Where the query starts in the text given (bytes), to map database error positions back.
    pub query_offset: usize,
    /// The relation the definition would create (`None` for a bare query).
    pub relation: Option<String>,
    /// `VIEW`, `MATERIALIZED VIEW` or `TABLE`.
    pub kind: Option<String>,
}

/// A token of SQL text, enough to tell statements, keywords and literals apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Word,
    Number,
    String,
    QuotedIdent,
    Comment,
    Punct,
    Space,
}

/// Splits SQL into tokens (byte ranges): quotes, dollar quotes, comments and words.
pub fn tokens(text: &str) -> Vec<(TokenKind, std::ops::Range<usize>)> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let kind = if c.is_ascii_whitespace() {
            while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                i += 1;
            }
            TokenKind::Space
        } else if c == b'-' && bytes.get(i + 1) == Some(&b'-') {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            TokenKind::Comment
        } else if c == b'/' && bytes.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(bytes.len());
            TokenKind::Comment
        } else if (c == b'e' || c == b'E') && bytes.get(i + 1) == Some(&b'\'') {
            // PostgreSQL's escape string: a backslash escapes the next byte.
            i += 2;
            while i < bytes.len() {
                match bytes[i] {
                    b'\\' => i += 2,
                    b'\'' if bytes.get(i + 1) == Some(&b'\'') => i += 2,
                    b'\'' => {
                        i += 1;
                        break;
                    }
                    _ => i += 1,
                }
            }
            i = i.min(bytes.len());
            TokenKind::String
        } else if c == b'\'' || c == b'"' || c == b'`' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => break,
                    Some(&b) if b == c && bytes.get(i + 1) == Some(&c) => i += 2,
                    Some(&b) if b == c => {
                        i += 1;
                        break;
                    }
                    Some(_) => i += 1,
                }
            }
            if c == b'\'' { TokenKind::String } else { TokenKind::QuotedIdent }
        } else if c == b'$'
            && let Some(tag_len) = dollar_tag(&bytes[i..])
        {
            let tag = &text[i..i + tag_len];
            i += tag_len;
            match text[i..].find(tag) {
                Some(end) => i += end + tag_len,
                None => i = bytes.len(),
            }
            TokenKind::String
        } else if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 {
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            TokenKind::Word
        } else if c.is_ascii_digit() {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            TokenKind::Number
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
            TokenKind::Punct
        };
        out.push((kind, start..i));
    }
    out
}

/// The length of a dollar-quote tag (`$$` or `$tag$`) at the start of `bytes`.
fn dollar_tag(bytes: &[u8]) -> Option<usize> {
    let end = bytes.iter().skip(1).position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))? + 1;
    (bytes.get(end) == Some(&b'$')).then_some(end + 1)
}

/// Reads a definition: which query runs, and which relation it would create. Anything that is
/// not a `CREATE [MATERIALIZED] VIEW` / `CREATE TABLE … AS` runs as given (trailing semicolons
/// aside): whether it may run at all is the store's guard's to decide, not this reader's.
pub fn parse_definition(text: &str) -> Result<Definition, PreviewError> {
    let toks: Vec<(TokenKind, std::ops::Range<usize>)> =
        tokens(text).into_iter().filter(|(k, _)| !matches!(k, TokenKind::Space | TokenKind::Comment)).collect();
    let word = |i: usize| -> Option<String> {
        toks.get(i).filter(|(k, _)| *k == TokenKind::Word).map(|(_, r)| text[r.clone()].to_ascii_uppercase())
    };
    let is_semicolon = |(k, r): &(TokenKind, std::ops::Range<usize>)| *k == TokenKind::Punct && &text[r.clone()] == ";";
    let end = toks.iter().rev().find(|t| !is_semicolon(t)).map_or(0, |(_, r)| r.end);
    let Some(first) = toks.iter().position(|(k, r)| !(*k == TokenKind::Punct && &text[r.clone()] == "(")) else {
        return Err(PreviewError::Refused("the query is empty: write a SELECT".to_owned()));
    };
    let start = toks[0].1.start;
    // Only semicolons (after a comment, say: `/* x */ ;`) leave no query at all.
    if end <= start {
        return Err(PreviewError::Refused("the query is empty: write a SELECT".to_owned()));
    }
    let as_given =
        || Definition { query: text[start..end].to_owned(), query_offset: start, relation: None, kind: None };
    if word(first).as_deref() != Some("CREATE") {
        return Ok(as_given());
    }
    let mut i = first + 1;
    if word(i).as_deref() == Some("OR") && word(i + 1).as_deref() == Some("REPLACE") {
        i += 2;
    }
    while matches!(word(i).as_deref(), Some("TEMP" | "TEMPORARY" | "UNLOGGED" | "RECURSIVE")) {
        i += 1;
    }
    let kind = match (word(i).as_deref(), word(i + 1).as_deref()) {
        (Some("MATERIALIZED"), Some("VIEW")) => {
            i += 2;
            "MATERIALIZED VIEW"
        }
        (Some("VIEW"), _) => {
            i += 1;
            "VIEW"
        }
        (Some("TABLE"), _) => {
            i += 1;
            "TABLE"
        }
        // Any other CREATE goes to the guard as it is, which refuses it.
        _ => return Ok(as_given()),
    };
    if word(i).as_deref() == Some("IF") {
        i += 3;
    }
    // The relation name: identifiers joined by dots.
    let mut relation = String::new();
    while let Some((TokenKind::Word | TokenKind::QuotedIdent, r)) = toks.get(i) {
        relation.push_str(&unquote(&text[r.clone()]));
        i += 1;
        match toks.get(i) {
            Some((TokenKind::Punct, dot)) if &text[dot.clone()] == "." => {
                relation.push('.');
                i += 1;
            }
            _ => break,
        }
    }
    // Skip a column list and options up to AS, within this statement: the AS of a statement
    // after a `;` is not this one's (found by the preview fuzz property in tests/fuzz.rs).
    while toks.get(i).is_some_and(|t| !is_semicolon(t)) && word(i).as_deref() != Some("AS") {
        i += 1;
    }
    // Without AS, it defines no query: the guard refuses it as the CREATE it is.
    let Some((_, as_range)) = toks.get(i).filter(|_| word(i).as_deref() == Some("AS")) else {
        return Ok(as_given());
    };
    // (`AS ;` leaves no query: the start is then the end.)
    let query_start = toks.get(i + 1).map_or(as_range.end, |(_, r)| r.start).min(end);
    // A trailing `WITH [NO] DATA` belongs to the CREATE, not to the query.
    let mut query_end = end;
    let upper = text[query_start..end].to_ascii_uppercase();
    for suffix in
        ["WITH NO DATA", "WITH DATA", "WITH CHECK OPTION", "WITH LOCAL CHECK OPTION", "WITH CASCADED CHECK OPTION"]
    {
        if upper.trim_end().ends_with(suffix) {
            query_end = query_start + upper.trim_end().len() - suffix.len();
        }
    }
    let query = text[query_start..query_end].trim_end().to_owned();
    if relation.is_empty() || query.is_empty() {
        return Err(PreviewError::Refused(format!("CREATE {kind} needs a name and a query")));
    }
    Ok(Definition { query, query_offset: query_start, relation: Some(relation), kind: Some(kind.to_owned()) })
}

/// An identifier as the database names it: quoted ones as written, bare ones in lower case. An
/// unterminated quote (the tokenizer ran to the end of the text) keeps what follows it.
pub fn unquote(piece: &str) -> String {
    for quote in ['"', '`'] {
        if let Some(inner) = piece.strip_prefix(quote) {
            let inner = inner.strip_suffix(quote).unwrap_or(inner);
            return inner.replace(&format!("{quote}{quote}"), &quote.to_string());
        }
    }
    piece.to_ascii_lowercase()
}

/// Previews a projection definition on a store: the definition is read here, and only its query
/// runs, through [`Store::run_query`] (guarded, read-only, limited). Error positions are byte
/// offsets into `text`.
pub async fn preview(
    store: &Store,
    text: &str,
    limits: PreviewLimits,
    permissions: &PreviewPermissions,
    cancel: &CancelToken,
) -> Result<(Definition, ResultSet), PreviewError> {
    let definition = parse_definition(text)?;
    let result = store.run_query(&definition.query, limits, permissions, cancel).await.map_err(|e| match e {
        PreviewError::Database { message, position } => {
            PreviewError::Database { message, position: position.map(|p| p + definition.query_offset) }
        }
        other => other,
    })?;
    Ok((definition, result))
}

/// 1-based line and column of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rfind('\n').map_or(before.chars().count(), |i| before[i + 1..].chars().count()) + 1;
    (line, column)
}

use crate::csv_text::record as csv_record;

/// How a proposed result differs from the deployed relation, row by row, keyed by a column.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparison {
    pub key: String,
    pub added: Vec<Value>,
    pub removed: Vec<Value>,
    /// (key, deployed row, proposed row)
    pub changed: Vec<(String, Value, Value)>,
    pub unchanged: usize,
    /// Either side hit the row cap: rows beyond it were not compared.
    pub incomplete: bool,
}

impl Comparison {
    pub fn to_json(&self) -> Value {
        json!({
            "key": self.key,
            "added": self.added,
            "removed": self.removed,
            "changed": self.changed.iter().map(|(k, old, new)| json!({"key": k, "deployed": old, "proposed": new})).collect::<Vec<_>>(),
            "counts": {"added": self.added.len(), "removed": self.removed.len(), "changed": self.changed.len(), "unchanged": self.unchanged},
            "incomplete": self.incomplete,
        })
    }

    /// The differences as CSV: a `change` column (added, removed, or a changed row's `deployed`
    /// and `proposed` lines), then the given columns.
    pub fn to_csv(&self, columns: &[String]) -> String {
        let record = |change: &str, row: &Value| {
            let cell = |name: &String| match row.get(name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
            };
            csv_record(std::iter::once(change.to_owned()).chain(columns.iter().map(cell)))
        };
        let mut out = csv_record(std::iter::once("change".to_owned()).chain(columns.iter().cloned()));
        for row in &self.added {
            out += &record("added", row);
        }
        for row in &self.removed {
            out += &record("removed", row);
        }
        for (_, deployed, proposed) in &self.changed {
            out += &record("changed: deployed", deployed);
            out += &record("changed: proposed", proposed);
        }
        out
    }
}

/// Compares the deployed relation's rows with the proposed ones, matching rows by `key`.
/// Values are compared as JSON (a JSON text column compares by meaning, not by spelling).
pub fn compare(deployed: &ResultSet, proposed: &ResultSet, key: &str) -> Result<Comparison, String> {
    let no_column = |what: &str, rows: &ResultSet| {
        let names: Vec<&str> = rows.columns.iter().map(|c| c.name.as_str()).collect();
        format!("{what} has no column `{key}` (its columns: {})", names.join(", "))
    };
    let old_key = deployed.column_index(key).ok_or_else(|| no_column("the deployed relation", deployed))?;
    let new_key = proposed.column_index(key).ok_or_else(|| no_column("the query", proposed))?;
    // Rows are matched by the key's value: a value held by two rows would match neither
    // faithfully, so the comparison is refused rather than miscounted.
    let index = |rs: &ResultSet, k: usize, side: &str| -> Result<BTreeMap<String, Value>, String> {
        let mut rows = BTreeMap::new();
        for row in &rs.rows {
            let value = row[k].to_display();
            if rows.insert(value.clone(), normalise(rs.row_json(row))).is_some() {
                return Err(format!(
                    "`{key}` does not tell the rows of {side} apart: more than one has `{value}`; \
                     match rows by a column that is unique in both"
                ));
            }
        }
        Ok(rows)
    };
    let old = index(deployed, old_key, "the deployed relation")?;
    let new = index(proposed, new_key, "the query")?;
    let mut comparison = Comparison {
        key: key.to_owned(),
        added: Vec::new(),
        removed: Vec::new(),
        changed: Vec::new(),
        unchanged: 0,
        incomplete: deployed.truncated || proposed.truncated,
    };
    for (k, row) in &new {
        match old.get(k) {
            None => comparison.added.push(row.clone()),
            Some(before) if before != row => comparison.changed.push((k.clone(), before.clone(), row.clone())),
            Some(_) => comparison.unchanged += 1,
        }
    }
    for (k, row) in &old {
        if !new.contains_key(k) {
            comparison.removed.push(row.clone());
        }
    }
    Ok(comparison)
}

/// JSON-looking text values become JSON, so `{"a":1}` and `{"a": 1}` compare equal.
fn normalise(row: Value) -> Value {
    match row {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match &v {
                        Value::String(s) if s.starts_with(['{', '[']) => serde_json::from_str(s).unwrap_or(v),
                        _ => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::cell::Cell;

    #[test]
    fn bare_queries_and_create_definitions() {
        let d = parse_definition("  SELECT 1;  ").unwrap();
        assert_eq!(d.query, "SELECT 1");
        assert_eq!(d.relation, None);
        let text =
            "-- the article's read model\nCREATE MATERIALIZED VIEW orders_by_region AS\nSELECT region_id FROM events;";
        let d = parse_definition(text).unwrap();
        assert_eq!(d.relation.as_deref(), Some("orders_by_region"));
        assert_eq!(d.kind.as_deref(), Some("MATERIALIZED VIEW"));
        assert_eq!(d.query, "SELECT region_id FROM events");
        assert_eq!(&text[d.query_offset..d.query_offset + 6], "SELECT");
        let d = parse_definition(
            "create or replace view \"Read\".\"Model\" (a, b) as with x as (select 1) select * from x",
        )
        .unwrap();
        assert_eq!(d.relation.as_deref(), Some("Read.Model"));
        assert_eq!(d.query, "with x as (select 1) select * from x");
        let d = parse_definition("CREATE TABLE t AS SELECT 1 WITH NO DATA").unwrap();
        assert_eq!(d.query, "SELECT 1");
        let d = parse_definition("CREATE VIEW v AS SELECT 1 WITH LOCAL CHECK OPTION;").unwrap();
        assert_eq!(d.query, "SELECT 1");
        let d = parse_definition("(SELECT 1) UNION (SELECT 2)").unwrap();
        assert_eq!(d.query, "(SELECT 1) UNION (SELECT 2)");
    }

    #[test]
    fn anything_else_goes_to_the_guard_as_written() {
        // The reader decides nothing: a write or a second statement reaches the store's guard
        // unchanged (trailing semicolons aside), and the guard refuses it.
        for text in ["DELETE FROM events", "SELECT 1; DELETE FROM events", "CREATE INDEX i ON events (x)"] {
            let d = parse_definition(&format!("{text};")).unwrap();
            assert_eq!((d.query.as_str(), d.relation), (text, None));
        }
        let d = parse_definition("CREATE VIEW v AS DELETE FROM events").unwrap();
        assert_eq!(d.query, "DELETE FROM events");
        assert_eq!(parse_definition("CREATE TABLE t (x int)").unwrap().query, "CREATE TABLE t (x int)");
        // Found by the preview fuzz property: only comments and semicolons sliced backwards.
        for empty in ["/* x */ ;", "-- c\n;;", " ; ", ";"] {
            assert!(matches!(parse_definition(empty), Err(PreviewError::Refused(r)) if r.contains("empty")), "{empty}");
        }
        // The AS of a second statement is not the first one's: the text goes to the guard whole.
        let two = "CREATE TABLE intruder (x); CREATE VIEW v AS SELECT 1";
        let d = parse_definition(two).unwrap();
        assert_eq!((d.query.as_str(), d.relation), (two, None));
        assert_eq!(parse_definition("CREATE TABLE t (x int);").unwrap().query, "CREATE TABLE t (x int)");
        for (text, expected) in [("CREATE VIEW v AS ;", "needs a name and a query"), ("", "empty")] {
            match parse_definition(text) {
                Err(PreviewError::Refused(reason)) => assert!(reason.contains(expected), "{text}: {reason}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn positions_map_to_lines_and_columns() {
        assert_eq!(line_column("ab\ncdé\nf", 0), (1, 1));
        assert_eq!(line_column("ab\ncdé\nf", 5), (2, 3));
        assert_eq!(line_column("ab\ncdé\nf", 8), (3, 1));
    }

    fn result(columns: &[&str], rows: Vec<Vec<Cell>>) -> ResultSet {
        ResultSet {
            columns: columns.iter().map(|c| ResultColumn { name: (*c).into(), type_name: "TEXT".into() }).collect(),
            rows,
            truncated: false,
            elapsed: Duration::ZERO,
        }
    }

    #[test]
    fn comparison_by_key() {
        let t = |s: &str| Cell::Text(s.into());
        let deployed = result(
            &["region", "orders"],
            vec![vec![t("eu"), t(r#"{"n":1}"#)], vec![t("us"), t(r#"{"n":2}"#)], vec![t("apac"), t(r#"{"n": 3}"#)]],
        );
        let proposed = result(
            &["region", "orders"],
            vec![vec![t("us"), t(r#"{"n":5}"#)], vec![t("apac"), t(r#"{"n":3}"#)], vec![t("eu-west"), t(r#"{"n":1}"#)]],
        );
        let c = compare(&deployed, &proposed, "region").unwrap();
        assert_eq!((c.added.len(), c.removed.len(), c.changed.len(), c.unchanged), (1, 1, 1, 1));
        assert_eq!(c.changed[0].0, "us");
        assert_eq!(c.removed[0]["region"], "eu");
        assert!(compare(&deployed, &proposed, "nope").is_err());
        // A key that two rows share is refused, with the value.
        let twice = result(&["region", "orders"], vec![vec![t("eu"), t("1")], vec![t("eu"), t("2")]]);
        let error = compare(&deployed, &twice, "region").unwrap_err();
        assert!(error.contains("the rows of the query") && error.contains("`eu`"), "{error}");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rs = result(
            &["a", "b"],
            vec![vec![Cell::Text("x,y".into()), Cell::Text("say \"hi\"".into())], vec![Cell::Int(1), Cell::Null]],
        );
        assert_eq!(rs.to_csv(), "a,b\n\"x,y\",\"say \"\"hi\"\"\"\n1,\n");
    }
}
