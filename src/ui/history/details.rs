//! An event's details, shared by the history and Audit: its type, version and facts (correlation
//! and causation ids as links), its payload and metadata as trees, undecodable bytes as a hex
//! dump.

use super::*;

/// A link in an event's facts the user followed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventLink {
    /// The event whose id is this event's causation id.
    Cause,
    /// The events that share this correlation id (in Audit).
    Correlated(String),
    /// The event in its stream's history (from a projection run).
    OpenInHistory,
}

/// The event at the cursor: type, version, times, actor, payload and metadata; its correlation
/// and causation ids are links.
pub fn event_details_ui(ui: &mut Ui, event: &Event) -> Option<EventLink> {
    let mut link = None;
    ui.horizontal(|ui| {
        ui.heading(format!("v{} · {}", event.version, event.event_type));
        if ui.small_button("Copy event").clicked() {
            ui.ctx().copy_text(crate::diff::pretty(&event.to_output_json()));
        }
    });
    egui::Grid::new("event_facts").num_columns(2).show(ui, |ui| {
        let fact = |ui: &mut Ui, name: &str, value: Option<String>| {
            if let Some(value) = value {
                ui.weak(name);
                ui.add(egui::Label::new(RichText::new(value).monospace()).selectable(true));
                ui.end_row();
            }
        };
        fact(ui, "position", event.position.map(|p| p.to_string()));
        fact(ui, "recorded at", event.recorded_at.map(format_time));
        fact(ui, "actor", event.actor().map(str::to_owned));
        if let Some(id) = event.metadata_str("correlation_id") {
            ui.weak("correlation");
            let shown =
                ui.link(RichText::new(id).monospace()).on_hover_text("The events with this correlation id, in Audit");
            if shown.clicked() {
                link = Some(EventLink::Correlated(id.to_owned()));
            }
            ui.end_row();
        }
        if let Some(id) = event.metadata_str("causation_id") {
            ui.weak("causation");
            let shown = ui.link(RichText::new(id).monospace()).on_hover_text("Open the event that caused this one");
            if shown.clicked() {
                link = Some(EventLink::Cause);
            }
            ui.end_row();
        }
        fact(ui, "archived", event.archived.then(|| "yes: the store keeps it but marks it archived".to_owned()));
    });
    for anomaly in &event.anomalies {
        let text = RichText::new(format!("⚠ odd row: {anomaly}")).color(ui.visuals().warn_fg_color);
        ui.add(egui::Label::new(text).wrap());
    }
    ui.add_space(4.0);
    ui.strong("Payload");
    payload_ui(ui, "payload", &event.payload);
    if let Some(metadata) = &event.metadata {
        ui.add_space(4.0);
        egui::CollapsingHeader::new(RichText::new("Metadata").strong()).id_salt("metadata").default_open(true).show(
            ui,
            |ui| {
                payload_ui(ui, "metadata", metadata);
            },
        );
    }
    link
}

pub(super) fn payload_ui(ui: &mut Ui, id: &str, payload: &Payload) {
    match payload {
        Payload::Json(value) => {
            JsonTree::new(id).show(ui, value);
        }
        Payload::Undecodable { bytes, reason } => {
            ui.colored_label(ui.visuals().error_fg_color, format!("Could not decode: {reason}"));
            ui.weak(format!("{} bytes, shown raw:", bytes.len()));
            // Worked out once per payload shown (egui's frame cache), not every frame.
            let raw = ui.ctx().memory_mut(|m| m.caches.cache::<RawViewCache>().get(bytes.as_slice()).clone());
            ui.add(egui::Label::new(RichText::new(&*raw.hex).monospace()).selectable(true));
            if let Some(text) = raw.text {
                ui.weak("As text (bytes that are not UTF-8 shown as \\xNN):");
                ui.add(egui::Label::new(RichText::new(&*text).monospace()).selectable(true));
            }
        }
    }
}

/// How undecodable bytes are shown: a hex dump of the first KiB, and the first 4 KiB as text
/// when they look like text.
#[derive(Clone)]
pub(super) struct RawView {
    hex: Arc<str>,
    text: Option<Arc<str>>,
}

#[derive(Default)]
pub(super) struct RawViewer;

impl egui::cache::ComputerMut<&[u8], RawView> for RawViewer {
    fn compute(&mut self, bytes: &[u8]) -> RawView {
        let shown = &bytes[..bytes.len().min(4096)];
        RawView {
            hex: hex_dump(bytes, 64).into(),
            text: looks_textual(shown).then(|| escape_invalid_utf8(shown).into()),
        }
    }
}

pub(super) type RawViewCache = egui::cache::FrameCache<RawView, RawViewer>;

/// Whether bytes are mostly text (so a text view helps): nearly all of them valid UTF-8 and
/// few control characters. Ciphertext and other binary data are not.
pub fn looks_textual(bytes: &[u8]) -> bool {
    let valid: usize = bytes.utf8_chunks().map(|c| c.valid().len()).sum();
    let controls = bytes.iter().filter(|b| **b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t')).count();
    !bytes.is_empty() && valid * 10 >= bytes.len() * 9 && controls * 20 <= bytes.len()
}

/// The bytes as text, with every byte that is not part of valid UTF-8 written as `\xNN`.
pub fn escape_invalid_utf8(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Lines of 16 bytes: offset, hex, and printable ASCII; at most `max_lines` lines.
pub fn hex_dump(bytes: &[u8], max_lines: usize) -> String {
    let mut out = String::new();
    for (line, chunk) in bytes.chunks(16).enumerate().take(max_lines) {
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let ascii: String = chunk.iter().map(|&b| if (0x20..0x7f).contains(&b) { b as char } else { '.' }).collect();
        out.push_str(&format!("{:08x}  {:<48} {ascii}\n", line * 16, hex.join(" ")));
    }
    if bytes.len() > max_lines * 16 {
        out.push_str(&format!("… {} more bytes\n", bytes.len() - max_lines * 16));
    }
    out
}
