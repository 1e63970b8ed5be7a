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
    diff_into(String::new(), old, new, &mut changes, WALK_DEPTH);
    changes
}

/// Diffs `old` and `new` at `path`, descending at most `levels` more levels.
fn diff_into(path: String, old: &Value, new: &Value, out: &mut Vec<Change>, levels: usize) {
    let below = levels.saturating_sub(1);
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if levels > 0 => {
            for (key, a_value) in a {
                let child = push_segment(&path, key);
                match b.get(key) {
                    Some(b_value) => diff_into(child, a_value, b_value, out, below),
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
                    (Some(x), Some(y)) => diff_into(child, x, y, out, below),
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
        (a, b) if a == b => {}
        (a, b) => out.push(Change { path, kind: ChangeKind::Changed, old: Some(a.clone()), new: Some(b.clone()) }),
    }
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
