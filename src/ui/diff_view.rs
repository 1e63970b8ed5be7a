//! Draws diffs: the list of changed paths (added / removed / changed, old → new) and the
//! coloured unified line diff of the pretty-printed states. Both are flat lists; the one
//! recursion is serde_json printing a value, which nests at most the few levels past
//! [`crate::model::MAX_DEPTH`] that any value in eventscope can (see [`crate::model`]).

use eframe::egui::{self, RichText, Ui};
use serde_json::Value;

use super::json_tree::{added_color, changed_color, copy_menu, removed_color};
use crate::diff::{Change, ChangeKind, Hunk, LineTag};

const SHORT: usize = 80;

/// The value as compact JSON cut to [`SHORT`] characters. It is drawn every frame, so a large
/// value is serialised only as far as is shown.
fn short(value: &Value) -> String {
    /// Takes bytes until it holds enough, then refuses more (which stops the serialiser).
    struct Prefix(Vec<u8>);
    impl std::io::Write for Prefix {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            if self.0.len() > SHORT * 4 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.0.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut prefix = Prefix(Vec::new());
    let _ = serde_json::to_writer(&mut prefix, value);
    let text = String::from_utf8_lossy(&prefix.0);
    if text.chars().count() > SHORT {
        format!("{}…", text.chars().take(SHORT).collect::<String>())
    } else {
        text.into_owned()
    }
}

/// The changed paths, one per row, with old → new values (right-click copies), in a grid (for
/// short lists inside another scroll area, such as a snapshot's drift).
pub fn changes_ui(ui: &mut Ui, id_salt: &str, changes: &[Change]) {
    if changes.is_empty() {
        ui.weak("No change: this event left the state as it was.");
        return;
    }
    egui::Grid::new((id_salt, "changes")).num_columns(3).striped(true).show(ui, |ui| {
        for change in changes {
            change_row_ui(ui, change);
            ui.end_row();
        }
    });
}

/// The changed paths in a scroll area of their own that draws only the rows in view, so that
/// an event changing a hundred thousand paths costs a frame what a screenful does.
pub fn changes_list_ui(ui: &mut Ui, id_salt: &str, changes: &[Change]) {
    if changes.is_empty() {
        ui.weak("No change: this event left the state as it was.");
        return;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace).max(ui.spacing().interact_size.y);
    egui::ScrollArea::both().id_salt((id_salt, "changes_scroll")).auto_shrink([false, false]).show_rows(
        ui,
        row_height,
        changes.len(),
        |ui, range| {
            for change in &changes[range] {
                ui.horizontal(|ui| change_row_ui(ui, change));
            }
        },
    );
}

fn change_row_ui(ui: &mut Ui, change: &Change) {
    let (mark, color) = match change.kind {
        ChangeKind::Added => ("+ added", added_color(ui)),
        ChangeKind::Removed => ("− removed", removed_color(ui)),
        ChangeKind::Changed => ("~ changed", changed_color(ui)),
    };
    ui.label(RichText::new(mark).color(color).monospace());
    let path = if change.path.is_empty() { "/" } else { change.path.as_str() };
    let path_response = ui.add(egui::Label::new(RichText::new(path).monospace()).sense(egui::Sense::click()));
    if let Some(value) = change.new.as_ref().or(change.old.as_ref()) {
        copy_menu(&path_response, &change.path, value);
    }
    ui.horizontal(|ui| match (&change.old, &change.new) {
        (Some(old), Some(new)) => {
            ui.label(RichText::new(short(old)).monospace().color(removed_color(ui)));
            ui.label(RichText::new("→").monospace());
            ui.label(RichText::new(short(new)).monospace().color(added_color(ui)));
        }
        (None, Some(new)) => {
            ui.label(RichText::new(short(new)).monospace().color(added_color(ui)));
        }
        (Some(old), None) => {
            ui.label(RichText::new(short(old)).monospace().color(removed_color(ui)).strikethrough());
        }
        (None, None) => {}
    });
}

/// One row of the line diff: a line of a hunk, or the mark between two hunks.
enum LineRow<'a> {
    Line(&'a crate::diff::DiffLine),
    Gap,
}

/// The row each hunk starts at, laid out one after another with a gap mark between two hunks,
/// and the row count (worked out once per frame; each visible row is then found by bisection).
fn row_starts(hunks: &[Hunk]) -> (Vec<usize>, usize) {
    let mut starts = Vec::with_capacity(hunks.len());
    let mut row = 0;
    for (i, hunk) in hunks.iter().enumerate() {
        if i > 0 {
            row += 1;
        }
        starts.push(row);
        row += hunk.lines.len();
    }
    (starts, row)
}

/// Row `index` of the hunks laid out as [`row_starts`] says.
fn line_row<'a>(hunks: &'a [Hunk], starts: &[usize], index: usize) -> Option<LineRow<'a>> {
    let i = starts.partition_point(|&start| start <= index).checked_sub(1)?;
    let offset = index - starts[i];
    match hunks[i].lines.get(offset) {
        Some(line) => Some(LineRow::Line(line)),
        // The row after a hunk's last line is the gap before the next hunk.
        None if i + 1 < hunks.len() && offset == hunks[i].lines.len() => Some(LineRow::Gap),
        None => None,
    }
}

/// The unified line diff, with line numbers on both sides (for short diffs inside another
/// scroll area, such as a changed row of a SQL comparison).
pub fn line_diff_ui(ui: &mut Ui, hunks: &[Hunk]) {
    if hunks.is_empty() {
        ui.weak("The pretty-printed states are identical.");
        return;
    }
    let (starts, rows) = row_starts(hunks);
    for index in 0..rows {
        line_row_ui(ui, hunks, &starts, index);
    }
}

/// The unified line diff in a scroll area of its own that draws only the lines in view.
pub fn line_diff_list_ui(ui: &mut Ui, id_salt: &str, hunks: &[Hunk]) {
    if hunks.is_empty() {
        ui.weak("The pretty-printed states are identical.");
        return;
    }
    let row_height = ui.text_style_height(&egui::TextStyle::Monospace);
    let (starts, rows) = row_starts(hunks);
    egui::ScrollArea::both().id_salt((id_salt, "lines_scroll")).auto_shrink([false, false]).show_rows(
        ui,
        row_height,
        rows,
        |ui, range| {
            for index in range {
                line_row_ui(ui, hunks, &starts, index);
            }
        },
    );
}

fn line_row_ui(ui: &mut Ui, hunks: &[Hunk], starts: &[usize], index: usize) {
    let line = match line_row(hunks, starts, index) {
        Some(LineRow::Line(line)) => line,
        Some(LineRow::Gap) => {
            ui.weak(RichText::new("⋯").monospace());
            return;
        }
        None => return,
    };
    let number = |n: Option<usize>| n.map_or_else(|| "    ".to_owned(), |n| format!("{n:>4}"));
    let (sign, color, background) = match line.tag {
        LineTag::Same => (' ', ui.visuals().text_color(), None),
        LineTag::Removed => ('-', removed_color(ui), Some(removed_color(ui).gamma_multiply(0.18))),
        LineTag::Added => ('+', added_color(ui), Some(added_color(ui).gamma_multiply(0.18))),
    };
    let mut text = RichText::new(format!("{} {} {sign} {}", number(line.old_line), number(line.new_line), line.text))
        .monospace()
        .color(color);
    if let Some(bg) = background {
        text = text.background_color(bg);
    }
    ui.add(egui::Label::new(text).extend());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_rows_walk_the_hunks_with_a_gap_between() {
        let line = |text: &str| crate::diff::DiffLine {
            tag: LineTag::Same,
            old_line: None,
            new_line: None,
            text: text.to_owned(),
        };
        let hunks = vec![Hunk { lines: vec![line("a"), line("b")] }, Hunk { lines: vec![line("c")] }];
        let (starts, rows) = row_starts(&hunks);
        assert_eq!(rows, 4);
        let texts: Vec<String> = (0..5)
            .map(|i| match line_row(&hunks, &starts, i) {
                Some(LineRow::Line(l)) => l.text.clone(),
                Some(LineRow::Gap) => "⋯".to_owned(),
                None => "end".to_owned(),
            })
            .collect();
        assert_eq!(texts, ["a", "b", "⋯", "c", "end"]);
    }

    #[test]
    fn short_values_are_cut_to_what_is_shown() {
        assert_eq!(short(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
        let large = Value::Array((0..100_000).map(|i| Value::from(format!("item {i}"))).collect());
        let text = short(&large);
        assert!(text.ends_with('…') && text.chars().count() == SHORT + 1, "{text}");
        assert!(text.starts_with(r#"["item 0","item 1""#));
        let wide = Value::String("é".repeat(500));
        assert_eq!(short(&wide).chars().count(), SHORT + 1);
    }
}
