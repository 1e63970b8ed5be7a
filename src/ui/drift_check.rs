//! The streams list's snapshot check: "Check snapshots" compares every stored snapshot with the
//! state the chosen fold recomputes (in the background, a stream at a time, with progress and
//! Cancel; see [`crate::drift`]); streams with drift are marked ⚠ in the list, and the filter
//! "streams with drift" lists them, each opening at its first drifting snapshot, followed by the
//! streams whose snapshots could not be compared (and why). Snapshots that could not be compared
//! are counted apart: a fold that fails everywhere is never reported as "no drift".

use eframe::egui::{self, RichText, Ui};

use crate::drift::{StreamCheck, Verdict};
use crate::worker::{Reply, Request, RequestId, ScriptFold, Worker};

/// What the check asks the streams panel to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DriftAction {
    /// The app starts the check with the fold in use (it knows it).
    Start,
    /// Open this stream at this version (a drifting snapshot).
    Open(String, i64),
}

/// What a finished check counted.
#[derive(Clone, Debug, Default)]
struct Totals {
    streams: usize,
    snapshots: usize,
    not_compared: usize,
    stopped: Option<String>,
}

/// The folds in use, in words (`None`: the merge fold everywhere), with when the script was
/// saved: a check made before an edit is then one made with another fold.
pub fn folds_words(script: Option<&crate::ui::history::FoldSetting>) -> String {
    match script {
        Some(setting) => {
            let saved = setting.script.saved_at().map_or_else(String::new, |at| {
                format!(", saved {}", chrono::DateTime::<chrono::Local>::from(at).format("%H:%M:%S"))
            });
            format!("{} ({}{saved}), merge elsewhere", setting.script.name(), scope_words(&setting.scope))
        }
        None => "the merge fold".to_owned(),
    }
}

/// A snapshot's version in words.
fn at(version: Option<crate::model::Version>) -> String {
    version.map_or_else(|| "a snapshot without a version".to_owned(), |v| format!("v{v}"))
}

#[derive(Default)]
pub struct DriftCheck {
    /// The running check and how far it is (streams checked, of how many).
    running: Option<(RequestId, usize, usize)>,
    /// The streams with a snapshot that does not match, by id, as found so far.
    findings: std::collections::BTreeMap<String, StreamCheck>,
    /// The last check's totals.
    done: Option<Totals>,
    /// The folds the check used, in words, and the folds in use now.
    folds: String,
    current_folds: String,
    error: Option<String>,
    /// Only the streams with drift are listed.
    pub only_drifting: bool,
}

impl DriftCheck {
    /// Starts a check with this fold (where it applies; the merge fold elsewhere).
    pub fn start(&mut self, worker: &mut Worker, script: Option<ScriptFold>, folds: String) {
        self.cancel(worker);
        self.current_folds = folds.clone();
        self.folds = folds;
        self.findings.clear();
        self.done = None;
        self.error = None;
        self.running = Some((worker.send(Request::CheckSnapshots { script }), 0, 0));
    }

    /// The check could not start.
    pub fn fail(&mut self, message: String) {
        self.error = Some(message);
    }

    pub fn cancel(&mut self, worker: &mut Worker) {
        if let Some((request, _, _)) = self.running.take() {
            worker.send(Request::Cancel { id: request });
        }
    }

    /// Takes a reply to the check; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let Some((_, done, total)) = self.running.as_mut().filter(|(request, _, _)| *request == id) else {
            return Some(reply);
        };
        match reply {
            Reply::SnapshotsChecked { done: now, total: of, finding } => {
                (*done, *total) = (now, of);
                if let Some(finding) = finding {
                    self.findings.insert(finding.stream.clone(), *finding);
                }
            }
            Reply::SnapshotCheck(check) => {
                self.running = None;
                self.done = Some(Totals {
                    streams: check.streams,
                    snapshots: check.snapshots,
                    not_compared: check.not_compared,
                    stopped: check.stopped.clone(),
                });
                self.findings = check.streams_with_findings.into_iter().map(|c| (c.stream.clone(), c)).collect();
            }
            Reply::Failed(failure) => {
                self.running = None;
                if !matches!(failure, crate::worker::Failure::Cancelled(_)) {
                    self.error = Some(failure.to_string());
                }
            }
            _ => {}
        }
        None
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// The finding of a stream whose snapshots drift.
    pub fn drift_of(&self, stream: &str) -> Option<&StreamCheck> {
        self.findings.get(stream).filter(|c| c.drifts())
    }

    /// The streams with drift found so far.
    pub fn drifting(&self) -> impl Iterator<Item = &StreamCheck> {
        self.findings.values().filter(|c| c.drifts())
    }

    /// The streams without drift whose snapshots could not all be compared (or read).
    pub fn not_compared(&self) -> impl Iterator<Item = &StreamCheck> {
        self.findings.values().filter(|c| !c.drifts() && (c.not_compared() > 0 || c.error.is_some()))
    }

    /// Whether a check has finished (its results may go out of date).
    pub fn has_results(&self) -> bool {
        self.done.is_some()
    }

    /// The folds in use now (a check made with others is said to be out of date).
    pub fn set_current_folds(&mut self, words: String) {
        self.current_folds = words;
    }

    /// The check's bar: the button, its progress and Cancel, its totals and the filter.
    pub fn ui(&mut self, ui: &mut Ui, worker: &mut Worker) -> Option<DriftAction> {
        let mut action = None;
        ui.horizontal_wrapped(|ui| {
            if let Some((_, done, total)) = self.running {
                ui.spinner();
                ui.label(format!("Checking snapshots: {done} of {total} streams…"));
                if ui.button("Cancel").clicked() {
                    self.cancel(worker);
                }
                return;
            }
            let button = ui.button("📷 Check snapshots").on_hover_text(
                "Compare every stored snapshot with the state recomputed from the events, with the fold in use \
                 (a stream at a time, in the background)",
            );
            if button.clicked() {
                action = Some(DriftAction::Start);
            }
            if let Some(totals) = &self.done {
                let drifting = self.drifting().count();
                let text = format!("{drifting} of {} drift", totals.streams);
                let about = format!(
                    "Of the {} with snapshots, {drifting} {} a stored snapshot that differs from the events \
                     ({} checked, {} of them not compared; with {})",
                    super::counted(totals.streams as i64, "stream", "streams"),
                    if drifting == 1 { "has" } else { "have" },
                    super::counted(totals.snapshots as i64, "snapshot", "snapshots"),
                    totals.not_compared,
                    self.folds
                );
                if drifting > 0 {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {text}")).on_hover_text(about);
                } else if totals.not_compared < totals.snapshots || totals.snapshots == 0 {
                    ui.weak(format!("✔ {text}")).on_hover_text(about);
                }
                if totals.not_compared > 0 {
                    let text = format!("{} not compared", totals.not_compared);
                    ui.colored_label(ui.visuals().warn_fg_color, text).on_hover_text(
                        "Snapshots without a version, of a version the stream lacks, not JSON, or that the fold \
                         failed before: listed under the streams with drift",
                    );
                }
            }
        });
        if let Some(stopped) = self.done.as_ref().and_then(|t| t.stopped.as_ref()) {
            ui.colored_label(ui.visuals().error_fg_color, format!("Stopped: {stopped}"));
        }
        if self.done.is_some() && self.current_folds != self.folds {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                format!("Checked with {}; the fold has changed since: check again", self.folds),
            );
        }
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let drifting = self.drifting().count();
        if drifting > 0 || self.not_compared().next().is_some() || self.only_drifting {
            ui.checkbox(&mut self.only_drifting, format!("only streams with drift ({drifting})")).on_hover_text(
                "List the streams whose stored snapshots differ from their events, then those whose \
                                snapshots could not be compared",
            );
        }
        action
    }

    /// The streams with drift, each with what differs; a click opens it at its first drifting
    /// snapshot.
    pub fn list_ui(
        &self,
        ui: &mut Ui,
        selected: Option<&str>,
        label_of: impl Fn(&str) -> Option<String>,
    ) -> Option<DriftAction> {
        let mut action = None;
        if self.drifting().next().is_none() {
            ui.weak(match (self.running, self.not_compared().next()) {
                (Some(_), _) => "No drift found yet.",
                (None, Some(_)) => "No snapshot compared differs from its events; these could not be compared:",
                (None, None) => "No stored snapshot differs from the state recomputed from its events.",
            });
        }
        // The drifting streams, then those not compared: two lines a row, only the rows in view
        // drawn (a store may have thousands of snapshots that cannot be compared).
        let rows: Vec<&StreamCheck> = self.drifting().chain(self.not_compared()).collect();
        let first_not_compared = self.drifting().count();
        let row_height = ui.spacing().interact_size.y
            + ui.text_style_height(&egui::TextStyle::Body)
            + 2.0 * ui.spacing().item_spacing.y;
        let area = egui::ScrollArea::vertical().id_salt("drifting_streams").auto_shrink([false, false]);
        area.show_rows(ui, row_height, rows.len(), |ui, range| {
            ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
            for row in range {
                let check = rows[row];
                let drifting = row < first_not_compared;
                let (title, mut line, version) = if drifting {
                    let drifts: Vec<String> =
                        check.others.iter().filter(|c| c.verdict.is_drift()).map(|c| at(c.version)).collect();
                    let mut line = format!(
                        "{} of {} drift ({})",
                        drifts.len(),
                        super::counted(check.snapshots as i64, "snapshot", "snapshots"),
                        drifts.join(", ")
                    );
                    if check.not_compared() > 0 {
                        line += &format!(" · {} not compared", check.not_compared());
                    }
                    (format!("⚠ {}", check.stream), line, check.first_drift())
                } else {
                    let reason = match &check.error {
                        Some(error) => error.clone(),
                        None => check
                            .others
                            .iter()
                            .find_map(|c| {
                                c.verdict.not_compared_because().map(|why| format!("{}: {why}", at(c.version)))
                            })
                            .unwrap_or_default(),
                    };
                    (
                        check.stream.clone(),
                        format!("not compared · {reason}"),
                        check.others.iter().find_map(|c| c.version),
                    )
                };
                if let Some(label) = label_of(&check.stream) {
                    line = format!("{label} · {line}");
                }
                let response = ui
                    .selectable_label(selected == Some(check.stream.as_str()), RichText::new(title).monospace())
                    .on_hover_text(hover_text(check));
                ui.add(egui::Label::new(RichText::new(line).weak()).truncate());
                if response.clicked() {
                    action = Some(DriftAction::Open(check.stream.clone(), version.unwrap_or(1)));
                }
            }
        });
        action
    }
}

/// Where a fold applies, in words.
fn scope_words(scope: &crate::fold::FoldScope) -> String {
    match scope {
        crate::fold::FoldScope::Stream(s) => format!("stream {s}"),
        crate::fold::FoldScope::Category(c) => format!("category {c}"),
        crate::fold::FoldScope::AllStreams => "all streams".to_owned(),
    }
}

/// What differs in each snapshot of a stream that does not match.
fn hover_text(check: &StreamCheck) -> String {
    let mut lines = vec![format!("{}, folded with {}: {} match", check.stream, check.fold, check.matching)];
    for snapshot in check.others.iter().take(10) {
        let v = at(snapshot.version);
        lines.push(match &snapshot.verdict {
            Verdict::Drift { differences, paths } => format!(
                "{v}: {} ({})",
                super::counted(*differences as i64, "difference", "differences"),
                paths.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ),
            Verdict::OtherShape { shared, fields } => {
                format!("{v}: another fold's shape ({shared} of {fields} fields shared)")
            }
            Verdict::Matches => format!("{v}: matches"),
            other => format!("{v}: {}", other.not_compared_because().unwrap_or_default()),
        });
    }
    if let Some(error) = &check.error {
        lines.push(error.clone());
    }
    lines.join("\n")
}
