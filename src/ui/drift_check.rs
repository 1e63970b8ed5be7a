//! The streams list's snapshot check: "Check snapshots" compares every stored snapshot with the
//! state the chosen fold recomputes (in the background, a stream at a time, with progress and
//! Cancel; see [`crate::drift`]); streams with drift are marked ⚠ in the list, and the filter
//! "streams with drift" lists them, each opening at its first drifting snapshot.

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

#[derive(Default)]
pub struct DriftCheck {
    /// The running check and how far it is (streams checked, of how many).
    running: Option<(RequestId, usize, usize)>,
    /// The streams with a snapshot that does not match, by id, as found so far.
    findings: std::collections::BTreeMap<String, StreamCheck>,
    /// The last check's totals: streams and snapshots checked.
    done: Option<(usize, usize)>,
    /// The folds the check used, in words.
    folds: String,
    error: Option<String>,
    /// Only the streams with drift are listed.
    pub only_drifting: bool,
}

impl DriftCheck {
    /// Starts a check with this fold (where it applies; the merge fold elsewhere).
    pub fn start(&mut self, worker: &mut Worker, script: Option<ScriptFold>) {
        self.cancel(worker);
        self.folds = match &script {
            Some(s) => format!("{} ({}), merge elsewhere", s.name, scope_words(&s.scope)),
            None => "the merge fold".to_owned(),
        };
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
                self.done = Some((check.streams, check.snapshots));
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
            if let Some((streams, snapshots)) = self.done {
                let drifting = self.drifting().count();
                let text = format!("{drifting} of {streams} drift");
                let about = format!(
                    "Of the {} with snapshots, {drifting} {} a stored snapshot that differs from the events \
                     ({} checked, with {})",
                    super::counted(streams as i64, "stream", "streams"),
                    if drifting == 1 { "has" } else { "have" },
                    super::counted(snapshots as i64, "snapshot", "snapshots"),
                    self.folds
                );
                if drifting > 0 {
                    ui.colored_label(ui.visuals().warn_fg_color, format!("⚠ {text}")).on_hover_text(about);
                } else {
                    ui.weak(format!("✔ {text}")).on_hover_text(about);
                }
            }
        });
        if let Some(error) = &self.error {
            ui.colored_label(ui.visuals().error_fg_color, error);
        }
        let drifting = self.drifting().count();
        if drifting > 0 || self.only_drifting {
            ui.checkbox(&mut self.only_drifting, format!("only streams with drift ({drifting})"))
                .on_hover_text("List the streams whose stored snapshots differ from their events");
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
            ui.weak(match self.running {
                Some(_) => "No drift found yet.",
                None => "No stored snapshot differs from the state recomputed from its events.",
            });
            return None;
        }
        egui::ScrollArea::vertical().id_salt("drifting_streams").auto_shrink([false, false]).show(ui, |ui| {
            for check in self.drifting() {
                ui.style_mut().wrap_mode = Some(egui::TextWrapMode::Truncate);
                let Some(version) = check.first_drift() else { continue };
                let drifts: Vec<String> =
                    check.others.iter().filter(|c| c.verdict.is_drift()).map(|c| format!("v{}", c.version)).collect();
                let response = ui
                    .selectable_label(
                        selected == Some(check.stream.as_str()),
                        RichText::new(format!("⚠ {}", check.stream)).monospace(),
                    )
                    .on_hover_text(hover_text(check));
                let mut line = format!(
                    "{} of {} drift ({})",
                    drifts.len(),
                    super::counted(check.snapshots as i64, "snapshot", "snapshots"),
                    drifts.join(", ")
                );
                if let Some(label) = label_of(&check.stream) {
                    line = format!("{label} · {line}");
                }
                ui.add(egui::Label::new(RichText::new(line).weak()).truncate());
                if response.clicked() {
                    action = Some(DriftAction::Open(check.stream.clone(), version));
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
        lines.push(match &snapshot.verdict {
            Verdict::Drift { differences, paths } => format!(
                "v{}: {} ({})",
                snapshot.version,
                super::counted(*differences as i64, "difference", "differences"),
                paths.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
            ),
            Verdict::OtherShape { shared, fields } => {
                format!("v{}: another fold's shape ({shared} of {fields} fields shared)", snapshot.version)
            }
            Verdict::NotJson { reason } => format!("v{}: not JSON ({reason})", snapshot.version),
            Verdict::FoldFailed { message } => format!("v{}: the fold failed: {message}", snapshot.version),
            Verdict::NoEvent => format!("v{}: the stream has no event at this version", snapshot.version),
            Verdict::Matches => format!("v{}: matches", snapshot.version),
        });
    }
    lines.join("\n")
}
