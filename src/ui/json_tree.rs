//! A collapsible JSON tree built on egui's own collapsing headers: every node has a context
//! menu to copy its value or its path; changed paths are highlighted; with a blame map, every
//! node shows the version that last changed it, and clicking it asks to go there.
//!
//! The tree nests at most [`WALK_DEPTH`] levels (see [`crate::model`]): a collection below that
//! is shown folded with its size, and its context menu still copies it.

use std::collections::HashSet;

use eframe::egui::{self, Color32, RichText, Ui};
use serde_json::Value;

use crate::diff::push_segment;
use crate::fold::{Blame, BlameMap};
use crate::model::WALK_DEPTH;

/// Colours shared by the tree and the diff views.
pub fn added_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode { Color32::from_rgb(0x6c, 0xcb, 0x5f) } else { Color32::from_rgb(0x1a, 0x7f, 0x37) }
}

pub fn removed_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode { Color32::from_rgb(0xff, 0x7b, 0x72) } else { Color32::from_rgb(0xcf, 0x22, 0x2e) }
}

pub fn changed_color(ui: &Ui) -> Color32 {
    if ui.visuals().dark_mode { Color32::from_rgb(0xe3, 0xb3, 0x41) } else { Color32::from_rgb(0x9a, 0x67, 0x00) }
}

/// What a click in the tree asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TreeAction {
    /// Go to the event at this index (from a blame badge).
    GoToEvent(usize),
    /// Mark on the timeline the events that changed the value at this path.
    MarkChanges(String),
    /// Find the first version where this condition on the state holds (bisect).
    FindFirst(String),
}

/// How to draw a tree.
pub struct JsonTree<'a> {
    id_salt: &'a str,
    changed: Option<&'a HashSet<String>>,
    blame: Option<(&'a BlameMap, &'a dyn Fn(usize) -> String)>,
    /// Each node's menu offers to mark the events that changed it.
    marking: bool,
    open_depth: usize,
    /// The deepest level drawn (for tests).
    #[cfg(test)]
    deepest: std::cell::Cell<usize>,
}

/// Arrays and objects with more children than this start closed.
const LARGE: usize = 50;

impl<'a> JsonTree<'a> {
    pub fn new(id_salt: &'a str) -> Self {
        JsonTree {
            id_salt,
            changed: None,
            blame: None,
            marking: false,
            open_depth: 3,
            #[cfg(test)]
            deepest: std::cell::Cell::new(0),
        }
    }

    /// Highlight these paths: give their ancestors too ([`crate::diff::paths_with_ancestors`]).
    pub fn changed(mut self, paths: &'a HashSet<String>) -> Self {
        self.changed = Some(paths);
        self
    }

    /// Offer, in each node's menu, to mark the events that changed it.
    pub fn offer_marking(mut self) -> Self {
        self.marking = true;
        self
    }

    /// The right-click menu of a node: copy it, and mark the events that changed it.
    fn node_menu(&self, response: &egui::Response, path: &str, value: &Value, action: &mut Option<TreeAction>) {
        response.context_menu(|ui| {
            copy_items(ui, path, value);
            if self.marking && !path.is_empty() {
                ui.separator();
                if ui.button("Mark the versions that changed this").clicked() {
                    *action = Some(TreeAction::MarkChanges(path.to_owned()));
                    ui.close();
                }
                if ui.button("Find when this first had this value").clicked() {
                    *action = Some(TreeAction::FindFirst(crate::bisect::field_condition(path, Some(value))));
                    ui.close();
                }
                if ui.button("Find when this first appeared").clicked() {
                    *action = Some(TreeAction::FindFirst(crate::bisect::field_condition(path, None)));
                    ui.close();
                }
            }
        });
    }

    /// Show who last changed each node; `label` names an event index (for example `v12`).
    pub fn blame(mut self, blame: &'a BlameMap, label: &'a dyn Fn(usize) -> String) -> Self {
        self.blame = Some((blame, label));
        self
    }

    pub fn show(&self, ui: &mut Ui, value: &Value) -> Option<TreeAction> {
        let mut action = None;
        match value {
            Value::Object(map) if !map.is_empty() => {
                for (key, child) in map {
                    self.node_ui(ui, &push_segment("", key), key, child, 0, &mut action);
                }
            }
            Value::Array(items) if !items.is_empty() => {
                for (i, child) in items.iter().enumerate() {
                    self.node_ui(ui, &format!("/{i}"), &format!("[{i}]"), child, 0, &mut action);
                }
            }
            other => {
                ui.horizontal(|ui| {
                    let response = ui.add(egui::Label::new(scalar_text(ui, other)).sense(egui::Sense::click()));
                    copy_menu(&response, "", other);
                });
            }
        }
        action
    }

    fn node_ui(
        &self,
        ui: &mut Ui,
        path: &str,
        key: &str,
        value: &Value,
        depth: usize,
        action: &mut Option<TreeAction>,
    ) {
        #[cfg(test)]
        self.deepest.set(self.deepest.get().max(depth + 1));
        let is_changed = self.changed.is_some_and(|c| c.contains(path));
        let key_text = if is_changed {
            RichText::new(key).monospace().color(changed_color(ui)).strong()
        } else {
            RichText::new(key).monospace()
        };
        match value {
            Value::Object(_) | Value::Array(_) => {
                let (len, summary) = match value {
                    Value::Object(m) => (m.len(), format!("{{…}} {} keys", m.len())),
                    Value::Array(a) => (a.len(), format!("[…] {} items", a.len())),
                    _ => (0, String::new()),
                };
                if depth + 1 >= WALK_DEPTH {
                    ui.horizontal(|ui| {
                        let response = ui.add(egui::Label::new(key_text).sense(egui::Sense::click()));
                        self.node_menu(&response, path, value, action);
                        ui.weak(format!("{summary}, nested too deep to unfold here: right-click to copy it"));
                        self.blame_badge(ui, path, action);
                    });
                    return;
                }
                let open = depth < self.open_depth && len <= LARGE;
                ui.horizontal(|ui| {
                    let header = egui::CollapsingHeader::new(key_text)
                        .id_salt((self.id_salt, path))
                        .default_open(open)
                        .show(ui, |ui| {
                            ui.vertical(|ui| match value {
                                Value::Object(map) => {
                                    for (k, child) in map {
                                        self.node_ui(ui, &push_segment(path, k), k, child, depth + 1, action);
                                    }
                                }
                                Value::Array(items) => {
                                    for (i, child) in items.iter().enumerate() {
                                        self.node_ui(
                                            ui,
                                            &format!("{path}/{i}"),
                                            &format!("[{i}]"),
                                            child,
                                            depth + 1,
                                            action,
                                        );
                                    }
                                }
                                _ => {}
                            });
                        });
                    self.node_menu(&header.header_response, path, value, action);
                    if header.body_response.is_none() {
                        ui.weak(summary);
                        self.blame_badge(ui, path, action);
                    }
                });
            }
            scalar => {
                ui.horizontal(|ui| {
                    let key_response = ui.add(egui::Label::new(key_text).sense(egui::Sense::click()));
                    self.node_menu(&key_response, path, scalar, action);
                    let value_response = ui.add(egui::Label::new(scalar_text(ui, scalar)).sense(egui::Sense::click()));
                    self.node_menu(&value_response, path, scalar, action);
                    self.blame_badge(ui, path, action);
                });
            }
        }
    }

    fn blame_badge(&self, ui: &mut Ui, path: &str, action: &mut Option<TreeAction>) {
        let Some((blame, label)) = &self.blame else {
            return;
        };
        match blame.get(path) {
            Some(Blame::Event(index)) => {
                let text = label(*index);
                let button =
                    egui::Button::new(RichText::new(&text).small().color(ui.visuals().hyperlink_color)).frame(false);
                let response =
                    ui.add(button).on_hover_text(format!("{path} was last changed by {text}: click to go there"));
                if response.clicked() {
                    *action = Some(TreeAction::GoToEvent(*index));
                }
            }
            Some(Blame::Initial) => {
                ui.weak(RichText::new("initial").small());
            }
            None => {}
        }
    }
}

/// A scalar coloured by its JSON type.
pub fn scalar_text(ui: &Ui, value: &Value) -> RichText {
    let visuals = ui.visuals();
    match value {
        Value::String(s) => RichText::new(format!("{s:?}")).monospace().color(if visuals.dark_mode {
            Color32::from_rgb(0xa5, 0xd6, 0xff)
        } else {
            Color32::from_rgb(0x0a, 0x30, 0x69)
        }),
        Value::Number(n) => RichText::new(n.to_string()).monospace().color(if visuals.dark_mode {
            Color32::from_rgb(0x79, 0xc0, 0xff)
        } else {
            Color32::from_rgb(0x05, 0x50, 0xae)
        }),
        Value::Bool(b) => RichText::new(b.to_string()).monospace().color(visuals.warn_fg_color),
        Value::Null => RichText::new("null").monospace().weak(),
        // (Said in words: a bare `[]` or `{}` is easy to miss.)
        Value::Array(items) if items.is_empty() => RichText::new("[] (empty)").monospace().weak(),
        Value::Object(map) if map.is_empty() => RichText::new("{} (empty)").monospace().weak(),
        other => RichText::new(other.to_string()).monospace(),
    }
}

/// The right-click menu of a node: copy its value (JSON) or its path.
pub fn copy_menu(response: &egui::Response, path: &str, value: &Value) {
    response.context_menu(|ui| copy_items(ui, path, value));
}

/// Copy a node's value, its JSON or its path.
fn copy_items(ui: &mut Ui, path: &str, value: &Value) {
    if ui.button("Copy value").clicked() {
        let text = match value {
            Value::String(s) => s.clone(),
            other => crate::diff::pretty(other),
        };
        ui.ctx().copy_text(text);
        ui.close();
    }
    if ui.button("Copy as JSON").clicked() {
        ui.ctx().copy_text(crate::diff::pretty(value));
        ui.close();
    }
    if ui.button("Copy path").clicked() {
        ui.ctx().copy_text(if path.is_empty() { "/".to_owned() } else { path.to_owned() });
        ui.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(levels: usize) -> Value {
        let mut value = Value::from(1);
        for _ in 0..levels {
            value = Value::Array(vec![value]);
        }
        value
    }

    /// Draws `value` with every level open, on a thread with half the stack the UI thread has,
    /// for a few frames; gives the deepest level drawn.
    fn draw_all_open(value: Value) -> usize {
        std::thread::Builder::new()
            .stack_size(4 * 1024 * 1024)
            .spawn(move || {
                let ctx = egui::Context::default();
                let mut tree = JsonTree::new("t");
                tree.open_depth = usize::MAX;
                for _ in 0..3 {
                    let mut output = ctx.run_ui(Default::default(), |ui| {
                        egui::ScrollArea::both().show(ui, |ui| {
                            tree.show(ui, &value);
                        });
                    });
                    output.textures_delta.clear();
                }
                tree.deepest.get()
            })
            .and_then(|handle| handle.join().map_err(|_| std::io::Error::other("the drawing thread panicked")))
            .unwrap()
    }

    #[test]
    fn the_deepest_values_draw_fully_open_on_a_small_stack() {
        assert_eq!(draw_all_open(nested(3)), 3);
        assert_eq!(draw_all_open(nested(WALK_DEPTH * 10)), WALK_DEPTH);
    }
}
