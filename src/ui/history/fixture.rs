//! The test fixture window: a range of the open stream's versions cut into a given/when/then
//! fixture (see [`crate::fixture`]) by the worker, which reads the stream again with the fold in
//! use and the mask paths applied; shown as the chosen format's text, to copy or save. Opened
//! from a timeline row's menu ("Test fixture …").

use super::*;
use crate::fixture::{Fixture, FixtureFormat, FoldSource};

#[derive(Default)]
pub(super) struct FixtureWindow {
    pub(super) open: bool,
    pub(super) from: i64,
    pub(super) to: i64,
    pub(super) format: Option<FixtureFormat>,
    /// Mask paths, one per line.
    pub(super) masks: String,
    /// A cut asked for by a click, sent by [`HistoryPanel::pump`] (which has the worker).
    wanted: bool,
    request: Option<RequestId>,
    /// Cuts replaced by a newer one (their replies are dropped).
    stale: Vec<RequestId>,
    /// The fixture cut (and the fold it was cut with), or why it could not be.
    result: Option<Result<(Fixture, FoldSource), String>>,
    /// The fixture in the chosen format, rendered once per choice (not per frame).
    rendered: Option<(FixtureFormat, Result<Rendered, String>)>,
    dialog: FileDialog,
    saved: Option<Result<String, String>>,
}

/// A fixture's text, and the part of it the window shows.
struct Rendered {
    text: String,
    /// The first [`SHOWN_LINES`] lines.
    shown: String,
    lines: usize,
}

const SHOWN_LINES: usize = 400;

impl Rendered {
    fn new(text: String) -> Rendered {
        let shown = text.lines().take(SHOWN_LINES).collect::<Vec<_>>().join("\n");
        Rendered { lines: text.lines().count(), shown, text }
    }
}

impl FixtureWindow {
    fn format(&self) -> FixtureFormat {
        self.format.unwrap_or(FixtureFormat::Json)
    }
}

impl HistoryPanel {
    /// Opens the fixture window on the range `from..=to`.
    pub fn open_fixture(&mut self, from: i64, to: i64) {
        let window = &mut self.fixture;
        window.open = true;
        (window.from, window.to) = (from.min(to), from.max(to));
        window.result = None;
        window.rendered = None;
        window.saved = None;
    }

    /// Whether a cut runs, and its text in the chosen format (or why there is none).
    pub fn fixture_outcome(&self) -> (bool, Option<Result<&str, &str>>) {
        let rendered =
            self.fixture.rendered.as_ref().map(|(_, r)| r.as_ref().map(|r| r.text.as_str()).map_err(String::as_str));
        let failed = match &self.fixture.result {
            Some(Err(e)) => Some(Err(e.as_str())),
            _ => None,
        };
        (self.fixture.request.is_some() || self.fixture.wanted, failed.or(rendered))
    }

    /// The fold the fixture is cut with: the script in use on this stream, else the merge fold.
    fn fixture_fold(&self) -> Option<crate::worker::ScriptFold> {
        let stream = self.stream.as_deref()?;
        let setting = self.picker.fold.as_ref().filter(|f| f.applies(stream, &self.category()))?;
        let source = setting.script.text().ok()?;
        Some(crate::worker::ScriptFold { name: setting.script.name(), source, scope: FoldScope::AllStreams })
    }

    /// Sends the cut asked for (called by [`HistoryPanel::pump`]).
    pub(super) fn pump_fixture(&mut self, worker: &mut Worker) {
        if !std::mem::take(&mut self.fixture.wanted) {
            return;
        }
        let Some(stream) = self.stream.clone() else {
            return;
        };
        if let Some(request) = self.fixture.request.take() {
            worker.send(Request::Cancel { id: request });
            self.fixture.stale.push(request);
        }
        let script = self.fixture_fold();
        let masks: Vec<String> =
            self.fixture.masks.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
        let (from, to) = (self.fixture.from, self.fixture.to);
        self.fixture.request = Some(worker.send(Request::CutFixture { stream, from, to, script, masks }));
        self.fixture.result = None;
        self.fixture.rendered = None;
        self.fixture.saved = None;
    }

    /// Takes the reply to the cut; any other is handed back.
    pub(super) fn fixture_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if let Some(at) = self.fixture.stale.iter().position(|r| *r == id) {
            // (A cut replaced by another: its reply, if it still comes, is dropped.)
            self.fixture.stale.swap_remove(at);
            return None;
        }
        if self.fixture.request != Some(id) {
            return Some(reply);
        }
        self.fixture.request = None;
        self.fixture.result = Some(match reply {
            Reply::Fixture(fixture) => {
                let source = FoldSource { name: fixture.fold.clone(), source: fixture.fold_source.clone() };
                Ok((*fixture, source))
            }
            Reply::Failed(failure) => Err(failure.to_string()),
            other => Err(format!("unexpected reply {other:?}")),
        });
        None
    }

    /// The window, while open.
    pub(super) fn fixture_ui(&mut self, ctx: &egui::Context) {
        if !self.fixture.open {
            return;
        }
        if let Some(path) = self.fixture.dialog.poll()
            && let Some((_, Ok(rendered))) = &self.fixture.rendered
        {
            self.fixture.saved =
                Some(match crate::model::write_user_file(&path, &rendered.text, crate::model::Existing::Replace) {
                    Ok(()) => Ok(format!("Saved to {}", path.display())),
                    Err(e) => Err(e),
                });
        }
        let (first, last) = self.version_range();
        let mut open = true;
        let name = self.layout.label.as_ref().and_then(|l| l.label.clone()).or_else(|| self.stream.clone());
        egui::Window::new(format!("Test fixture — {}", name.unwrap_or_default()))
            .id(egui::Id::unique("test_fixture_window"))
            .open(&mut open)
            .pivot(egui::Align2::CENTER_TOP)
            .default_pos(ctx.content_rect().center_top() + egui::vec2(0.0, 60.0))
            .default_width(560.0)
            .max_height(ctx.content_rect().height() * 0.8)
            .show(ctx, |ui| self.fixture_window_ui(ui, first, last));
        self.fixture.open &= open;
    }

    /// The first and last version of the loaded stream.
    fn version_range(&self) -> (i64, i64) {
        let history = self.history.as_ref();
        let first = history.and_then(|h| h.summary(0)).map_or(1, |e| e.version);
        let last = history.and_then(|h| h.len().checked_sub(1).and_then(|i| h.summary(i))).map_or(first, |e| e.version);
        (first, last.max(first))
    }

    fn fixture_window_ui(&mut self, ui: &mut Ui, first: i64, last: i64) {
        let window = &mut self.fixture;
        ui.label(
            "Given the events before the range, then the range's events (what the command produced), and the \
             state after them, folded with the fold in use.",
        );
        ui.horizontal_wrapped(|ui| {
            ui.label("Then: versions");
            ui.add(egui::DragValue::new(&mut window.from).range(first..=last));
            ui.label("to");
            ui.add(egui::DragValue::new(&mut window.to).range(first..=last));
            window.to = window.to.max(window.from);
            ui.label("Format");
            let mut format = window.format();
            egui::ComboBox::from_id_salt("fixture_format").selected_text(format.name()).show_ui(ui, |ui| {
                for choice in FixtureFormat::ALL {
                    ui.selectable_value(&mut format, choice, choice.name());
                }
            });
            if Some(format) != window.format {
                window.format = Some(format);
                window.rendered = None;
                window.saved = None;
            }
        });
        ui.label("Mask personal data (one path per line, before anything is folded):");
        ui.add(
            egui::TextEdit::multiline(&mut window.masks)
                .hint_text("(none: values as stored) e.g. /data/customer/email")
                .code_editor()
                .desired_rows(2)
                .desired_width(f32::INFINITY),
        );
        ui.horizontal(|ui| {
            if ui.button("✂ Cut").on_hover_text("Read the stream up to the range's end and cut the fixture").clicked()
            {
                window.wanted = true;
            }
            if window.request.is_some() {
                ui.spinner();
                ui.label("Reading and folding…");
            }
        });
        let format = window.format();
        let result = match &window.result {
            None => return,
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
            Some(Ok(result)) => result,
        };
        let (fixture, source) = result;
        if window.rendered.as_ref().is_none_or(|(f, _)| *f != format) {
            let text = format.supports(source).map(|()| Rendered::new(crate::fixture::render(fixture, format)));
            window.rendered = Some((format, text));
        }
        let mut summary = format!(
            "{} given, {} then; the state after them has {} top-level fields",
            crate::ui::counted(fixture.given.len() as i64, "event", "events"),
            crate::ui::counted(fixture.then.len() as i64, "event", "events"),
            fixture.expected_state.as_object().map_or(0, |m| m.len())
        );
        if fixture.masked_paths.is_empty() {
            summary += "; nothing masked: values as stored";
        } else {
            summary += &format!("; {} masked", crate::ui::counted(fixture.masked_values as i64, "value", "values"));
        }
        let file_name = format.file_name(fixture);
        let Some((_, rendered)) = &window.rendered else {
            return;
        };
        // (A format this fold cannot be written in says only that: no summary of a text not made.)
        let rendered = match rendered {
            Ok(rendered) => rendered,
            Err(e) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
                return;
            }
        };
        ui.label(summary);
        for warning in &fixture.warnings {
            ui.colored_label(ui.visuals().warn_fg_color, warning);
        }
        ui.horizontal(|ui| {
            if ui.button("📋 Copy").clicked() {
                ui.ctx().copy_text(rendered.text.clone());
                window.saved = Some(Ok("Copied".to_owned()));
            }
            if ui.button("💾 Save…").clicked() {
                let extension = file_name.rsplit('.').next().unwrap_or("txt").to_owned();
                window.dialog.save(ui.ctx(), "Save the test fixture", format.name(), &[&extension], &file_name);
            }
            match &window.saved {
                Some(Ok(said)) => {
                    ui.label(said);
                }
                Some(Err(e)) => {
                    ui.colored_label(ui.visuals().error_fg_color, e);
                }
                None => {}
            }
        });
        window.dialog.fallback_ui(ui);
        // (A long history is a long text: its first lines are shown, the whole is copied or saved.)
        egui::ScrollArea::both().id_salt("fixture_text").max_height(320.0).show(ui, |ui| {
            ui.add(egui::Label::new(RichText::new(&rendered.shown).monospace()).extend());
        });
        if rendered.lines > SHOWN_LINES {
            ui.weak(format!("(the first {SHOWN_LINES} of {} lines)", rendered.lines));
        }
    }
}
