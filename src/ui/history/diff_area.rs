//! The diff area: what the event at the cursor changed, or the difference between the states at
//! two versions; the changed paths and a line diff (worked out on a thread for large states).

use super::*;

/// A line diff on its way or done.
pub(super) type LineDiff = Background<Vec<Hunk>>;

/// The line diff of two states: at once when they are small, on a thread when they are not.
pub(super) fn line_diff_of(ctx: &egui::Context, old: &Arc<Value>, new: &Arc<Value>) -> LineDiff {
    let small = has_at_most_nodes(old, INLINE_DIFF_NODES) && has_at_most_nodes(new, INLINE_DIFF_NODES);
    let (old, new) = (old.clone(), new.clone());
    Background::run(small, ctx, move || line_diff(&old, &new, CONTEXT_LINES))
}

/// The snapshot the store keeps at the cursor, next to the state recomputed here: where they
/// differ, the snapshot has drifted (it is stale, or the fold changed).
pub(super) fn snapshot_ui(ui: &mut Ui, at: String, stored: &Payload, state: Option<&Value>, drift: Option<&[Change]>) {
    ui.add_space(8.0);
    ui.separator();
    ui.strong(format!("📷 Stored snapshot at {at}"));
    match drift {
        Some([]) => {
            ui.colored_label(crate::ui::json_tree::added_color(ui), "✔ matches the state recomputed from the events");
        }
        Some(changes) => {
            let verdict = match (stored, state) {
                (Payload::Json(stored), Some(state)) => Some(crate::drift::verdict(state, stored)),
                _ => None,
            };
            match verdict {
                Some(crate::drift::Verdict::OtherShape { shared, fields }) => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!(
                            "⚠ this snapshot does not have the shape of the state this fold computes: they share {shared} of \
                             {fields} top-level fields. The snapshot was most likely written by another fold: choose it \
                             above to compare."
                        ),
                    );
                }
                _ => {
                    ui.colored_label(
                        ui.visuals().warn_fg_color,
                        format!(
                            "⚠ snapshot drift: {} from the state recomputed from the events (recomputed, then stored)",
                            crate::ui::counted(changes.len() as i64, "difference", "differences")
                        ),
                    );
                    changes_ui(ui, "snapshot_drift", changes);
                }
            }
        }
        None => {}
    }
    egui::CollapsingHeader::new("the stored snapshot").id_salt("stored_snapshot").default_open(drift.is_none()).show(
        ui,
        |ui| {
            payload_ui(ui, "stored_snapshot_tree", stored);
        },
    );
}

/// The diff area's own state: which tab shows, and the versions compared with their result.
#[derive(Default)]
pub(super) struct DiffArea {
    pub(super) tab: DiffTab,
    pub(super) compare_a: i64,
    pub(super) compare_b: i64,
    pub(super) comparison: Option<Comparison>,
}

impl HistoryPanel {
    pub(super) fn diff_ui(&mut self, ui: &mut Ui) {
        ui.add_space(4.0);
        ui.horizontal_wrapped(|ui| {
            let at = self.label_of(self.cursor);
            ui.selectable_value(&mut self.diff.tab, DiffTab::Changes, format!("Changes at {at}"));
            let compare = format!("Compare two {}s", self.unit());
            ui.selectable_value(&mut self.diff.tab, DiffTab::Compare, compare);
            if self.diff.tab == DiffTab::Compare {
                ui.separator();
                let ordinal_at = |i: usize| self.ordinal_at(i).unwrap_or(0);
                let (first, last) = (ordinal_at(0), ordinal_at(self.len().saturating_sub(1)));
                let prefix = if self.mode == Mode::Stream { "v" } else { "#" };
                // (The states after the events at A and B; rows can be picked on the timeline too.)
                let hint = "Drag, type, or right-click a row of the timeline";
                let a = egui::DragValue::new(&mut self.diff.compare_a).range(first..=last);
                ui.add(a.prefix(format!("A: state after {prefix}"))).on_hover_text(hint);
                let b = egui::DragValue::new(&mut self.diff.compare_b).range(first..=last);
                ui.add(b.prefix(format!("B: state after {prefix}"))).on_hover_text(hint);
                if ui.small_button("A = cursor").clicked() {
                    self.diff.compare_a = self.cursor_version().unwrap_or(first);
                }
                if ui.small_button("B = cursor").clicked() {
                    self.diff.compare_b = self.cursor_version().unwrap_or(last);
                }
            }
        });
        ui.separator();
        if self.diff.tab == DiffTab::Changes && self.current_view().is_none() {
            ui.weak(if self.view_pending {
                "Replaying: the changes appear in a moment."
            } else {
                "Folding: the changes appear when the fold gets to this event."
            });
            return;
        }
        if let Some(CursorView { hunks, .. }) = &mut self.view {
            hunks.poll();
        }
        if let Some(Comparison { result: Ok((_, hunks)), .. }) = &mut self.diff.comparison {
            hunks.poll();
        }
        let (changes, hunks, error): (&[Change], Option<&LineDiff>, Option<&str>) = match self.diff.tab {
            DiffTab::Changes => match self.current_view() {
                Some(view) => match &view.state {
                    Ok(_) => (&view.changes, Some(&view.hunks), None),
                    Err(e) => (&[], None, Some(e.as_str())),
                },
                None => (&[], None, None),
            },
            DiffTab::Compare => match &self.diff.comparison {
                Some(Comparison { result: Ok((c, h)), .. }) => (c, Some(h), None),
                Some(Comparison { result: Err(e), .. }) => (&[], None, Some(e.as_str())),
                None => (&[], None, None),
            },
        };
        if let Some(error) = error {
            ui.colored_label(ui.visuals().error_fg_color, error);
            return;
        }
        let (added, removed, changed) = crate::diff::change_counts(changes);
        ui.weak(format!("{added} added · {removed} removed · {changed} changed"));
        // (Both lists draw only the rows in view.)
        ui.columns(2, |columns| {
            changes_list_ui(&mut columns[0], "diff", changes);
            match hunks {
                Some(hunks) if hunks.is_lost() => {
                    columns[1].colored_label(columns[1].visuals().error_fg_color, "the line diff failed");
                }
                Some(hunks) => match hunks.value() {
                    Some(hunks) => line_diff_list_ui(&mut columns[1], "diff", hunks),
                    None => {
                        columns[1].horizontal(|ui| {
                            ui.spinner();
                            ui.weak("working out the line diff of these large states…");
                        });
                    }
                },
                None => line_diff_list_ui(&mut columns[1], "diff", &[]),
            }
        });
    }
}
