//! Audit: questions that cross streams — who did what, when, and what it set off — and their
//! export to CSV, JSON Lines or a JSON array, one page at a time. The questions themselves are
//! asked of the store by `store::audit` (re-exported here); this module writes their answers.

use std::io::Write;

use serde_json::{Value, json};

use crate::model::{Event, format_time};
use crate::store::Store;
pub use crate::store::audit::*;

/// The columns of an export.
pub const EXPORT_COLUMNS: [&str; 9] =
    ["position", "recorded_at", "stream", "version", "event_type", "actor", "payload", "metadata", "anomalies"];

/// One event as a CSV line (with the newline).
pub fn csv_line(event: &Event) -> String {
    let fields = [
        event.position.map(|p| p.to_string()).unwrap_or_default(),
        event.recorded_at.map(format_time).unwrap_or_default(),
        event.stream.0.clone(),
        event.version.to_string(),
        event.event_type.clone(),
        event.actor().unwrap_or_default().to_owned(),
        event.payload.to_output_json().to_string(),
        event.metadata.as_ref().map(|m| m.to_output_json().to_string()).unwrap_or_default(),
        // (As `events --format csv` writes it: the JSON array, empty when nothing is odd.)
        match event.anomalies.as_slice() {
            [] => String::new(),
            odd => Value::from(odd.iter().map(ToString::to_string).collect::<Vec<_>>()).to_string(),
        },
    ];
    crate::csv_text::record(fields)
}

/// The export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    JsonLines,
    /// One JSON array (the command line's `--format json`).
    JsonArray,
}

/// Writes every event matching the filter, in store order, as one streamed read (never the
/// whole result in memory); `progress` is told how many were written every 2,000 events and at
/// the end, and stops the export by answering false. Returns the count written.
pub async fn export(
    store: &Store,
    filter: &AuditFilter,
    format: ExportFormat,
    out: &mut (dyn Write + Send),
    mut progress: impl FnMut(usize) -> bool + Send,
) -> Result<usize, AuditError> {
    let io = |e: std::io::Error| AuditError::Output(e.kind(), e.to_string());
    if format == ExportFormat::Csv {
        out.write_all(crate::csv_text::record(EXPORT_COLUMNS).as_bytes()).map_err(io)?;
    }
    let mut written = 0usize;
    let mut failed = None;
    let mut write_one = |event: Event| {
        let wrote = match format {
            ExportFormat::Csv => out.write_all(csv_line(&event).as_bytes()),
            ExportFormat::JsonLines => write_json(&mut *out, &event).and_then(|()| out.write_all(b"\n")),
            ExportFormat::JsonArray => out
                .write_all(if written == 0 { b"[\n  " } else { b",\n  " })
                .and_then(|()| write_json(&mut *out, &event)),
        };
        if let Err(e) = wrote {
            failed = Some(io(e));
            return false;
        }
        written += 1;
        !written.is_multiple_of(PROGRESS_EVERY) || progress(written)
    };
    store.audit_each(filter, &mut write_one).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    if format == ExportFormat::JsonArray {
        out.write_all(if written == 0 { b"[]\n" } else { b"\n]\n" }).map_err(io)?;
    }
    out.flush().map_err(io)?;
    progress(written);
    Ok(written)
}

/// Writes an event as one line of JSON, straight from its payloads (nothing copied).
fn write_json(out: &mut (dyn Write + Send), event: &Event) -> std::io::Result<()> {
    serde_json::to_writer(out, &event.output()).map_err(std::io::Error::from)
}

/// How often an export reports how far it got.
const PROGRESS_EVERY: usize = 2_000;

/// The audit of a store as one JSON value (for the command line's summaries).
pub fn actors_json(actors: &[ActorSummary]) -> Value {
    Value::Array(
        actors
            .iter()
            .map(|a| json!({"actor": a.actor, "total": a.total, "by_type": a.by_type.iter().map(|(t, n)| json!({"type": t, "count": n})).collect::<Vec<_>>()}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_quote_json() {
        let event = Event {
            stream: "s".into(),
            version: 1,
            position: Some(7),
            event_type: "T".into(),
            payload: crate::model::Payload::Json(json!({"a": "x,y"})).into(),
            metadata: Some(crate::model::Payload::Json(json!({"actor": "u"})).into()),
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        };
        assert_eq!(csv_line(&event), "7,,s,1,T,u,\"{\"\"a\"\":\"\"x,y\"\"}\",\"{\"\"actor\"\":\"\"u\"\"}\",\n");
    }
}
