//! Differences between two JSON states: a structural diff (which paths were added, removed or
//! changed, old → new) and a line diff of the pretty-printed states, made with `similar`.
//! Paths are JSON Pointers (RFC 6901): `/lines/0/qty`; the root is the empty path.
//! The structural diff descends at most [`WALK_DEPTH`] levels (see [`crate::model`]); below,
//! a differing subtree is one change.

use std::time::Duration;

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use crate::model::WALK_DEPTH;

/// What happened at a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Removed => "removed",
            ChangeKind::Changed => "changed",
        }
    }
}

/// One structural change: the deepest path at which old and new differ.
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    pub path: String,
    pub kind: ChangeKind,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Appends one JSON Pointer segment, escaping `~` and `/`.
pub fn push_segment(path: &str, segment: &str) -> String {
    let escaped = segment.replace('~', "~0").replace('/', "~1");
    format!("{path}/{escaped}")
}

/// The changed paths and every ancestor of each (`/a/b` gives `/a/b` and `/a`): the nodes a
/// tree highlights, worked out once rather than per node drawn.
pub fn paths_with_ancestors(changes: &[Change]) -> std::collections::HashSet<String> {
    let mut paths = std::collections::HashSet::new();
    for change in changes {
        let mut path = change.path.as_str();
        while paths.insert(path.to_owned()) {
            match path.rfind('/') {
                Some(parent) if parent > 0 => path = &path[..parent],
                _ => break,
            }
        }
    }
    paths
}

/// The structural diff of two values, in document order. Objects are compared key by key,
/// arrays index by index; where the two sides are of different kinds the whole value changed.
pub fn structural_diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_into(String::new(), old, new, &mut changes, WALK_DEPTH, Numbers::AsWritten);
    changes
}

/// The structural diff of two values that compares numbers by value (`159` and `159.0` are
/// equal): for a stored snapshot against a recomputed state, which may spell numbers
/// differently. (Object key order never counts, in either diff.)
pub fn value_diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut changes = Vec::new();
    diff_into(String::new(), old, new, &mut changes, WALK_DEPTH, Numbers::ByValue);
    changes
}

/// How two numbers are compared.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// As written: `159` and `159.0` differ (an event that rewrites one as the other changed it).
    AsWritten,
    ByValue,
}

/// A decimal number's value in a canonical form: sign, significant digits (no leading or
/// trailing zeros) and the exponent of the first digit, so that `159`, `159.0`, `1.59e2` and
/// `0.159E3` give the same. `None` for what is not a decimal number.
fn canonical_number(text: &str) -> Option<(bool, String, i64)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if whole.is_empty() && fraction.is_empty() || !(whole.bytes().chain(fraction.bytes()).all(|b| b.is_ascii_digit())) {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let leading = digits.bytes().take_while(|&b| b == b'0').count();
    let significant = digits[leading..].trim_end_matches('0');
    if significant.is_empty() {
        return Some((false, String::new(), 0));
    }
    let first_digit_exponent = whole.len() as i64 - leading as i64 + exponent;
    Some((negative, significant.to_owned(), first_digit_exponent))
}

/// Whether two numbers are equal in value.
fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    let (a, b) = (a.to_string(), b.to_string());
    a == b || canonical_number(&a).is_some_and(|a| Some(a) == canonical_number(&b))
}

/// Diffs `old` and `new` at `path`, descending at most `levels` more levels.
fn diff_into(path: String, old: &Value, new: &Value, out: &mut Vec<Change>, levels: usize, numbers: Numbers) {
    let below = levels.saturating_sub(1);
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if levels > 0 => {
            for (key, a_value) in a {
                let child = push_segment(&path, key);
                match b.get(key) {
                    Some(b_value) => diff_into(child, a_value, b_value, out, below, numbers),
                    None => out.push(Change {
                        path: child,
                        kind: ChangeKind::Removed,
                        old: Some(a_value.clone()),
                        new: None,
                    }),
                }
            }
            for (key, b_value) in b {
                if !a.contains_key(key) {
                    out.push(Change {
                        path: push_segment(&path, key),
                        kind: ChangeKind::Added,
                        old: None,
                        new: Some(b_value.clone()),
                    });
                }
            }
        }
        (Value::Array(a), Value::Array(b)) if levels > 0 => {
            for i in 0..a.len().max(b.len()) {
                let child = format!("{path}/{i}");
                match (a.get(i), b.get(i)) {
                    (Some(x), Some(y)) => diff_into(child, x, y, out, below, numbers),
                    (Some(x), None) => {
                        out.push(Change { path: child, kind: ChangeKind::Removed, old: Some(x.clone()), new: None })
                    }
                    (None, Some(y)) => {
                        out.push(Change { path: child, kind: ChangeKind::Added, old: None, new: Some(y.clone()) })
                    }
                    (None, None) => {}
                }
            }
        }
        (Value::Number(a), Value::Number(b)) if numbers == Numbers::ByValue && same_number(a, b) => {}
        (a, b) if numbers == Numbers::ByValue && levels == 0 && same_values(a, b) => {}
        (a, b) if a == b => {}
        (a, b) => out.push(Change { path, kind: ChangeKind::Changed, old: Some(a.clone()), new: Some(b.clone()) }),
    }
}

/// Whether two values are equal with numbers compared by value (below the diff's depth).
fn same_values(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => same_number(a, b),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_values(x, y)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, x)| b.get(k).is_some_and(|y| same_values(x, y)))
        }
        (a, b) => a == b,
    }
}

/// How many top-level fields two objects share, of how many there are in either: a snapshot
/// that shares almost none with the state was not written by this fold.
pub fn shared_fields(a: &Value, b: &Value) -> Option<(usize, usize)> {
    let (Value::Object(a), Value::Object(b)) = (a, b) else {
        return None;
    };
    let shared = a.keys().filter(|k| b.contains_key(*k)).count();
    Some((shared, a.len() + b.len() - shared))
}

/// Counts of a structural diff, for summaries.
pub fn change_counts(changes: &[Change]) -> (usize, usize, usize) {
    let count = |k| changes.iter().filter(|c| c.kind == k).count();
    (count(ChangeKind::Added), count(ChangeKind::Removed), count(ChangeKind::Changed))
}

/// How a line of the line diff relates the two texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineTag {
    Same,
    Removed,
    Added,
}

/// One line of a unified line diff, with its 1-based line numbers on each side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffLine {
    pub tag: LineTag,
    pub old_line: Option<usize>,
    pub new_line: Option<usize>,
    pub text: String,
}

/// A group of nearby changed lines with their context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hunk {
    pub lines: Vec<DiffLine>,
}

/// Pretty-prints a value the way both diffs and the views show it.
pub fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<cannot print: {e}>"))
}

/// Whether `value` has at most `nodes` nodes (objects, arrays and scalars), counted without
/// walking further than that: a cheap way to tell a state whose line diff fits in a frame.
pub fn has_at_most_nodes(value: &Value, nodes: usize) -> bool {
    let mut seen = 0usize;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        seen += 1;
        if seen > nodes {
            return false;
        }
        match value {
            Value::Object(members) => pending.extend(members.values()),
            Value::Array(items) => pending.extend(items),
            _ => {}
        }
    }
    true
}

/// A unified line diff of the pretty-printed values, `context` unchanged lines around each
/// change. Bounded in time so that a huge state never freezes the caller.
pub fn line_diff(old: &Value, new: &Value, context: usize) -> Vec<Hunk> {
    line_diff_text(&pretty(old), &pretty(new), context)
}

/// The line diff of two texts (see [`line_diff`]).
pub fn line_diff_text(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    let diff = TextDiff::configure().timeout(Duration::from_millis(500)).diff_lines(old, new);
    diff.grouped_ops(context)
        .iter()
        .map(|group| Hunk {
            lines: group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| DiffLine {
                    tag: match change.tag() {
                        ChangeTag::Equal => LineTag::Same,
                        ChangeTag::Delete => LineTag::Removed,
                        ChangeTag::Insert => LineTag::Added,
                    },
                    old_line: change.old_index().map(|i| i + 1),
                    new_line: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches('\n').to_owned(),
                })
                .collect(),
        })
        .collect()
}

/// The value at a JSON Pointer, if present.
pub fn value_at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    value.pointer(path)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_value_diff_compares_numbers_by_value_and_ignores_key_order() {
        let stored =
            serde_json::from_str::<Value>(r#"{"total": 159.0, "lines": [{"qty": 2, "price": 1.50}], "n": 1e2}"#)
                .unwrap();
        let state = serde_json::from_str::<Value>(r#"{"lines": [{"price": 1.5, "qty": 2.0}], "n": 100, "total": 159}"#)
            .unwrap();
        assert_eq!(value_diff(&state, &stored), vec![]);
        // As written, the spellings differ.
        assert_eq!(structural_diff(&state, &stored).len(), 4);
        let other =
            serde_json::from_str::<Value>(r#"{"lines": [{"price": 1.5, "qty": 2}], "n": 100, "total": 159.01}"#)
                .unwrap();
        assert_eq!(value_diff(&other, &stored).iter().map(|c| c.path.as_str()).collect::<Vec<_>>(), ["/total"]);
        for (a, b) in [
            ("0.159E3", "159"),
            ("-0.0", "0"),
            ("1000", "1e3"),
            ("12345678901234567890.5", "1.23456789012345678905e19"),
        ] {
            assert_eq!(canonical_number(a), canonical_number(b), "{a} {b}");
        }
        for (a, b) in [("159", "-159"), ("1.5", "15"), ("12345678901234567890.5", "12345678901234567890.6")] {
            assert_ne!(canonical_number(a), canonical_number(b), "{a} {b}");
        }
        // Below the walk's depth too.
        let deep =
            |n: &str| serde_json::from_str::<Value>(&format!("{}{n}{}", "[".repeat(100), "]".repeat(100))).unwrap();
        assert_eq!(value_diff(&deep("1"), &deep("1.0")), vec![]);
    }

    use super::*;
    use serde_json::json;

    fn change(path: &str, kind: ChangeKind, old: Option<Value>, new: Option<Value>) -> Change {
        Change { path: path.into(), kind, old, new }
    }

    #[test]
    fn structural_diff_table() {
        use ChangeKind::*;
        let cases = vec![
            (json!({"a": 1}), json!({"a": 1}), vec![]),
            (json!({"a": 1}), json!({"a": 2}), vec![change("/a", Changed, Some(json!(1)), Some(json!(2)))]),
            (json!({}), json!({"a": {"b": 1}}), vec![change("/a", Added, None, Some(json!({"b": 1})))]),
            (json!({"a": 1, "b": 2}), json!({"b": 2}), vec![change("/a", Removed, Some(json!(1)), None)]),
            (
                json!({"lines": [{"qty": 1}]}),
                json!({"lines": [{"qty": 2}, {"qty": 5}]}),
                vec![
                    change("/lines/0/qty", Changed, Some(json!(1)), Some(json!(2))),
                    change("/lines/1", Added, None, Some(json!({"qty": 5}))),
                ],
            ),
            (
                json!({"a": [1]}),
                json!({"a": {"0": 1}}),
                vec![change("/a", Changed, Some(json!([1])), Some(json!({"0": 1})))],
            ),
            (json!({"a/b": 1}), json!({"a/b": 2}), vec![change("/a~1b", Changed, Some(json!(1)), Some(json!(2)))]),
            (json!(1), json!("x"), vec![change("", Changed, Some(json!(1)), Some(json!("x")))]),
        ];
        for (old, new, expected) in cases {
            assert_eq!(structural_diff(&old, &new), expected, "{old} -> {new}");
        }
    }

    #[test]
    fn node_counts_stop_at_the_limit() {
        let value = json!({"a": [1, 2, {"b": null}], "c": "x"});
        assert!(has_at_most_nodes(&value, 7));
        assert!(!has_at_most_nodes(&value, 6));
        assert!(has_at_most_nodes(&json!(1), 1));
    }

    #[test]
    fn diff_paths_resolve_as_json_pointers() {
        let old = json!({"a/b": {"c~d": [1, 2]}});
        let new = json!({"a/b": {"c~d": [1, 3]}});
        let changes = structural_diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(value_at(&new, &changes[0].path), Some(&json!(3)));
    }

    #[test]
    fn line_diff_marks_removed_and_added_lines_with_numbers() {
        let hunks = line_diff(&json!({"a": 1, "b": 2}), &json!({"a": 1, "b": 3}), 1);
        assert_eq!(hunks.len(), 1);
        let lines = &hunks[0].lines;
        let removed: Vec<_> = lines.iter().filter(|l| l.tag == LineTag::Removed).collect();
        let added: Vec<_> = lines.iter().filter(|l| l.tag == LineTag::Added).collect();
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0].text, r#"  "b": 2"#);
        assert_eq!(removed[0].old_line, Some(3));
        assert_eq!(added[0].text, r#"  "b": 3"#);
        assert_eq!(added[0].new_line, Some(3));
        assert!(line_diff(&json!({"a": 1}), &json!({"a": 1}), 3).is_empty());
    }

    #[test]
    fn counts() {
        let changes = structural_diff(&json!({"a": 1, "b": 1}), &json!({"a": 2, "c": 1}));
        assert_eq!(change_counts(&changes), (1, 1, 1));
    }

    #[test]
    fn changed_paths_come_with_their_ancestors() {
        let changes = structural_diff(&json!({"a": {"b": 1}, "c": 1}), &json!({"a": {"b": 2}, "c": 1, "d": [1]}));
        let paths = paths_with_ancestors(&changes);
        let mut sorted: Vec<&str> = paths.iter().map(String::as_str).collect();
        sorted.sort();
        assert_eq!(sorted, ["/a", "/a/b", "/d"]);
    }

    /// `levels` objects `{"a": ...}` around `inner`.
    fn nested(levels: usize, inner: Value) -> Value {
        (0..levels).fold(inner, |value, _| json!({"a": value}))
    }

    #[test]
    fn the_diff_stops_descending_at_the_walk_bound() {
        let old = nested(WALK_DEPTH + 20, json!(1));
        let new = nested(WALK_DEPTH + 20, json!(2));
        let changes = structural_diff(&old, &new);
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "/a".repeat(WALK_DEPTH));
        assert_eq!(changes[0].kind, ChangeKind::Changed);
        assert_eq!(changes[0].new.as_ref(), value_at(&new, &changes[0].path));
        // Shallower than the bound, the deepest path is found.
        let changes = structural_diff(&nested(WALK_DEPTH - 1, json!(1)), &nested(WALK_DEPTH - 1, json!(2)));
        assert_eq!(changes[0].path, "/a".repeat(WALK_DEPTH - 1));
    }
}
