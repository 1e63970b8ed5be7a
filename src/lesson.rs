//! Lessons: a slice of a store, with the scripts, bookmarks and ordered steps a teacher prepared,
//! in one SQLite file. The file is a store in the article's `events` layout (any tool can read
//! it, and eventscope opens it like any store, with no database or network) plus eventscope's
//! own tables: `eventscope_lesson` (title and facts), `eventscope_steps` (view, stream, version,
//! fold, script, audit filter and a note per step), `eventscope_scripts` (folds, projections and
//! SQL by name) and `eventscope_bookmarks`. Personal data can be masked by path on the way out.
//!
//! Exporting reads the store and writes only the new file. The bundled guided tour of the
//! workshop store ([`tour`]) is a lesson too, played on the workshop store itself.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use crate::model::{Event, Payload, format_time};
use crate::store::Store;
use crate::store::audit::AuditFilter;
use crate::store::cell::Cell;
use crate::ui::View;
use crate::ui::settings::Bookmark;

/// The most events a lesson holds: it is a slice to teach with, read whole into memory.
pub const MAX_EVENTS: usize = 100_000;

/// What a script of a lesson is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScriptKind {
    Fold,
    Projection,
    Sql,
}

impl ScriptKind {
    fn word(self) -> &'static str {
        match self {
            ScriptKind::Fold => "fold",
            ScriptKind::Projection => "projection",
            ScriptKind::Sql => "sql",
        }
    }

    fn from_word(word: &str) -> Option<ScriptKind> {
        [ScriptKind::Fold, ScriptKind::Projection, ScriptKind::Sql].into_iter().find(|k| k.word() == word)
    }

    /// The bundled examples of this kind (for a SQL script, both dialects').
    fn bundled(self) -> Vec<(&'static str, &'static str)> {
        use crate::ui::scripts::*;
        match self {
            ScriptKind::Fold => FOLD_EXAMPLES.to_vec(),
            ScriptKind::Projection => PROJECTION_EXAMPLES.to_vec(),
            ScriptKind::Sql => SQL_EXAMPLES_SQLITE.iter().chain(SQL_EXAMPLES_POSTGRES).copied().collect(),
        }
    }
}

/// A script a lesson carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonScript {
    pub name: String,
    pub kind: ScriptKind,
    pub source: String,
}

/// The audit question a step asks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StepFilter {
    pub types: Vec<String>,
    pub stream: String,
    pub meta: BTreeMap<String, String>,
    pub text: String,
    /// Choose the first event listed, to show what it caused.
    pub select_first: bool,
}

impl StepFilter {
    pub fn audit_filter(&self) -> AuditFilter {
        AuditFilter {
            types: self.types.clone(),
            stream: self.stream.clone(),
            meta: self.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            text: self.text.clone(),
            ..AuditFilter::default()
        }
    }
}

/// One step of a lesson: where to go, and what to look at there.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub title: String,
    #[serde(default)]
    pub note: String,
    /// The view, as `--view` names it (history, audit, sql, projections, types, whatif).
    #[serde(with = "view_word")]
    pub view: View,
    /// A stream id (or a part of one, or a label like ORD-1042, as `--stream` takes).
    #[serde(default)]
    pub stream: Option<String>,
    #[serde(default)]
    pub version: Option<i64>,
    /// A fold, by name: one of the lesson's scripts or a bundled one.
    #[serde(default)]
    pub fold: Option<String>,
    /// The SQL (sql view) or projection (projections view) to run, by name.
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub audit: Option<StepFilter>,
}

impl Step {
    /// A step that only shows a view, with its title and note (the places are set after).
    pub fn new(title: impl Into<String>, note: impl Into<String>, view: View) -> Step {
        Step {
            title: title.into(),
            note: note.into(),
            view,
            stream: None,
            version: None,
            fold: None,
            script: None,
            audit: None,
        }
    }
}

/// A view named as the command line names it.
mod view_word {
    use clap::ValueEnum as _;

    use crate::ui::View;

    pub fn serialize<S: serde::Serializer>(view: &View, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::deep_link::view_name(*view))
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<View, D::Error> {
        let word = <String as serde::Deserialize>::deserialize(d)?;
        View::from_str(&word, true).map_err(|_| {
            serde::de::Error::custom(format!("`{word}` is no view (history, projections, sql, audit, types or whatif)"))
        })
    }
}

/// A lesson: its steps and what they need.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lesson {
    pub title: String,
    pub steps: Vec<Step>,
    pub scripts: Vec<LessonScript>,
    pub bookmarks: Vec<Bookmark>,
    /// Facts about the export (source store, time, masked paths), shown with the title.
    pub facts: Vec<(String, String)>,
}

impl Lesson {
    /// A script by name and kind: the lesson's own, else a bundled example.
    pub fn script(&self, name: &str, kind: ScriptKind) -> Option<String> {
        self.scripts
            .iter()
            .find(|s| s.kind == kind && s.name == name)
            .map(|s| s.source.clone())
            .or_else(|| kind.bundled().into_iter().find(|(n, _)| *n == name).map(|(_, s)| s.to_owned()))
    }

    /// Why a step cannot be played, if it cannot: a fold or script it names that the lesson
    /// does not carry, or a view that needs what the step does not give.
    pub fn check_step(&self, step: &Step) -> Result<(), String> {
        if let Some(fold) = &step.fold
            && self.script(fold, ScriptKind::Fold).is_none()
        {
            return Err(format!("the fold `{fold}` is neither in the lesson nor bundled"));
        }
        let kind = match step.view {
            View::Sql => Some(ScriptKind::Sql),
            View::Projections => Some(ScriptKind::Projection),
            _ => None,
        };
        match (&step.script, kind) {
            (Some(name), Some(kind)) if self.script(name, kind).is_none() => {
                Err(format!("the {} `{name}` is neither in the lesson nor bundled", kind.word()))
            }
            (Some(_), None) => Err("a script is only run in the sql or projections view".into()),
            _ if step.version.is_some() && step.stream.is_none() => Err("a version needs a stream".into()),
            _ => Ok(()),
        }
    }
}

/// Why a lesson could not be exported or read.
#[derive(Debug, thiserror::Error)]
pub enum LessonError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Audit(#[from] crate::store::audit::AuditError),
    #[error("cannot write the lesson file: {0}")]
    Write(String),
    #[error("the lesson tables of this store cannot be read: {0}")]
    Read(String),
}

/// What to put in a lesson.
#[derive(Default)]
pub struct ExportRequest {
    pub title: String,
    /// Whole streams, by id.
    pub streams: Vec<String>,
    /// The events under an audit filter (beside the streams).
    pub filter: Option<AuditFilter>,
    pub scripts: Vec<LessonScript>,
    /// The steps; none: one per bookmark of the chosen streams, else one per stream, plus one
    /// for the filter and one per SQL or projection script.
    pub steps: Vec<Step>,
    /// Bookmarks kept beside the store (only those in the exported streams are written).
    pub bookmarks: Vec<Bookmark>,
    pub mask: crate::fixture::Mask,
    /// Where the events come from, as said in the file (no password).
    pub source: String,
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct ExportSummary {
    pub file: String,
    pub events: usize,
    pub streams: usize,
    pub steps: usize,
    pub scripts: usize,
    pub bookmarks: usize,
    pub masked_values: usize,
    pub masked_paths: Vec<String>,
    /// Events whose payload or metadata could not be decoded: a masked lesson keeps no bytes
    /// it cannot mask, so they hold a note instead.
    pub undecodable_left_out: usize,
}

/// Reads the slice from the store and writes the lesson file (a new file, replaced only with
/// `force`; written beside its name and renamed into place).
pub async fn export(
    store: &Store,
    mut request: ExportRequest,
    out: &Path,
    force: bool,
) -> Result<ExportSummary, LessonError> {
    if request.streams.is_empty() && request.filter.is_none() {
        return Err(LessonError::Usage("give the streams (--streams) or an audit filter to put in the lesson".into()));
    }
    check_out(store, out, force).await?;
    check_scripts(&request.scripts)?;
    let mut events: Vec<Event> = Vec::new();
    let mut seen: HashSet<(String, i64)> = HashSet::new();
    let mut keep = |event: Event, events: &mut Vec<Event>| {
        if seen.insert((event.stream.0.clone(), event.version)) {
            events.push(event);
        }
        events.len() <= MAX_EVENTS
    };
    let mut named = HashSet::new();
    request.streams.retain(|s| named.insert(s.clone()));
    for stream in &request.streams {
        if events.len() > MAX_EVENTS {
            break;
        }
        // (Counted as read, not as kept: the same stream spelled twice, say a UUID in capitals,
        // is read again and kept once.)
        let mut read = 0;
        store
            .read_stream_each(stream, None, &mut |e| {
                read += 1;
                keep(e, &mut events)
            })
            .await?;
        if read == 0 {
            return Err(LessonError::Usage(format!(
                "the store has no stream `{stream}` (give stream ids as `eventscope streams` lists them)"
            )));
        }
    }
    let mut filtered = 0;
    if let Some(filter) = &request.filter {
        let mut count = |e: Event| {
            filtered += 1;
            keep(e, &mut events)
        };
        store.audit_each(filter, &mut count).await?;
    }
    if events.len() > MAX_EVENTS {
        return Err(LessonError::Usage(format!(
            "a lesson holds at most {MAX_EVENTS} events: choose fewer streams or a narrower filter"
        )));
    }
    if events.is_empty() {
        return Err(LessonError::Usage("no event matches the filter: the lesson would be empty".into()));
    }
    // Steps name streams as the store does: default steps are made before the ids are masked.
    let mut streams: Vec<String> = Vec::new();
    for e in &events {
        if !streams.contains(&e.stream.0) {
            streams.push(e.stream.0.clone());
        }
    }
    if request.steps.is_empty() {
        request.steps = default_steps(&request, &events, &streams, filtered);
    } else {
        for (i, step) in request.steps.iter_mut().enumerate() {
            resolve_step(step, &events)
                .map_err(|e| LessonError::Usage(format!("step {} ({}): {e}", i + 1, step.title)))?;
        }
    }
    request.bookmarks.retain(|b| b.projection.is_none() && streams.contains(&b.stream));
    let mut masked_values = 0;
    let mut left_out = 0;
    if !request.mask.is_empty() {
        for e in &mut events {
            let undecodable = |p: &Payload| matches!(p, Payload::Undecodable { .. });
            left_out += usize::from(undecodable(&e.payload) || e.metadata.as_deref().is_some_and(undecodable));
            masked_values += request.mask.apply(e);
        }
        mask_steps(&mut request, &streams)?;
    }
    // The log's order: the store's positions where it has them, else time, then stream order.
    events.sort_by(|a, b| {
        (a.position, a.recorded_at, &a.stream.0, a.version).cmp(&(b.position, b.recorded_at, &b.stream.0, b.version))
    });
    let lesson = Lesson {
        title: request.title.clone(),
        steps: request.steps,
        scripts: request.scripts,
        bookmarks: request.bookmarks,
        facts: vec![
            ("source".into(), request.source.clone()),
            ("exported_at".into(), format_time(chrono::Utc::now())),
            ("masked_paths".into(), request.mask.paths().join(" ")),
        ],
    };
    for (i, step) in lesson.steps.iter().enumerate() {
        lesson.check_step(step).map_err(|e| LessonError::Usage(format!("step {} ({}): {e}", i + 1, step.title)))?;
    }
    write_file(out, &lesson, &events).await.map_err(|e| LessonError::Write(e.to_string()))?;
    Ok(ExportSummary {
        file: out.display().to_string(),
        events: events.len(),
        streams: streams.len(),
        steps: lesson.steps.len(),
        scripts: lesson.scripts.len(),
        bookmarks: lesson.bookmarks.len(),
        masked_values,
        masked_paths: request.mask.paths().to_vec(),
        undecodable_left_out: left_out,
    })
}

/// Refuses an `--out` that is the store itself (or one of its journal files), a directory, or
/// a file that is not a lesson (only a lesson is replaced, and only with `force`).
async fn check_out(store: &Store, out: &Path, force: bool) -> Result<(), LessonError> {
    let usage = |m: String| Err(LessonError::Usage(m));
    if out.is_dir() {
        return usage(format!("--out {} is a directory: give the lesson file's name", out.display()));
    }
    if let crate::store::Target::Sqlite(store_path) = &store.target {
        let journal = |suffix: &str| std::path::PathBuf::from(format!("{}{suffix}", store_path.display()));
        for file in [store_path.clone(), journal("-wal"), journal("-shm"), journal("-journal")] {
            if same_file(&file, out) {
                return usage(format!(
                    "--out {} is the store (or its journal): a lesson is written to a new file, never over a store",
                    out.display()
                ));
            }
        }
    }
    if out.exists() {
        if !force {
            return usage(format!("{} exists: give --force to replace it", out.display()));
        }
        if !is_lesson_file(out).await {
            return usage(format!(
                "{} is not a lesson file eventscope wrote: it is not replaced, even with --force",
                out.display()
            ));
        }
    }
    Ok(())
}

/// Whether two paths name one file: the same path once symbolic links are followed, or (on
/// Unix) the same device and inode, which a hard link shares.
fn same_file(a: &Path, b: &Path) -> bool {
    let absolute = |p: &Path| {
        let p = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        // (A file not there yet: its directory's real path and its name.)
        match (p.parent().and_then(|d| d.canonicalize().ok()), p.file_name()) {
            (Some(dir), Some(name)) => p.canonicalize().unwrap_or_else(|_| dir.join(name)),
            _ => p,
        }
    };
    if absolute(a) == absolute(b) {
        return true;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    false
}

/// Whether a file is a SQLite database holding a lesson (read without changing it).
async fn is_lesson_file(path: &Path) -> bool {
    let options = sqlx::sqlite::SqliteConnectOptions::new().filename(path).read_only(true).immutable(true);
    let Ok(mut conn) = sqlx::sqlite::SqliteConnection::connect_with(&options).await else {
        return false;
    };
    let found: Result<i64, _> =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'eventscope_lesson'")
            .fetch_one(&mut conn)
            .await;
    let _ = conn.close().await;
    found.is_ok_and(|n| n > 0)
}

/// Refuses two scripts of one kind with one name, and folds or projections that do not load.
fn check_scripts(scripts: &[LessonScript]) -> Result<(), LessonError> {
    for (i, script) in scripts.iter().enumerate() {
        if scripts[..i].iter().any(|s| s.kind == script.kind && s.name == script.name) {
            return Err(LessonError::Usage(format!(
                "two {} scripts are named {}: a lesson names its scripts by file name, so give files of \
                 different names",
                script.kind.word(),
                script.name
            )));
        }
        let loaded = match script.kind {
            ScriptKind::Fold => crate::fold::JsFold::from_source(&script.name, &script.source).map(drop),
            ScriptKind::Projection => {
                crate::projection::JsProjection::from_source(&script.name, &script.source).map(drop)
            }
            ScriptKind::Sql => Ok(()),
        };
        loaded.map_err(|e| LessonError::Usage(format!("{}: {e}", script.name)))?;
    }
    Ok(())
}

/// Says which exported stream a step names (its id, a part of one id, or a label, as the
/// window resolves them), puts that id in the step, and checks its version is in the lesson.
fn resolve_step(step: &mut Step, events: &[Event]) -> Result<(), String> {
    let Some(named) = step.stream.clone() else {
        return Ok(());
    };
    let mut ids: Vec<&str> = Vec::new();
    for e in events {
        if !ids.contains(&e.stream.0.as_str()) {
            ids.push(&e.stream.0);
        }
    }
    let lower = named.to_lowercase();
    let exact = ids.iter().find(|id| id.to_lowercase() == lower);
    let containing: Vec<&&str> = ids.iter().filter(|id| id.to_lowercase().contains(&lower)).collect();
    let labelled = || {
        ids.iter().find(|id| {
            events.iter().find(|e| e.stream.0 == **id).is_some_and(|first| {
                let Payload::Json(payload) = &*first.payload else { return false };
                crate::labels::label_field(first.category(), payload)
                    .and_then(|field| crate::labels::label_of(payload, &field))
                    .is_some_and(|label| label.to_lowercase() == lower)
            })
        })
    };
    let id = match (exact, containing.as_slice()) {
        (Some(id), _) => id.to_string(),
        (None, [only]) => only.to_string(),
        (None, []) => match labelled() {
            Some(id) => id.to_string(),
            None => return Err(format!("it names the stream `{named}`, which is not in the lesson")),
        },
        (None, _) => return Err(format!("`{named}` is part of several of the lesson's stream ids: give more of it")),
    };
    if let Some(version) = step.version {
        let versions = events.iter().filter(|e| e.stream.0 == id).map(|e| e.version);
        let (first, last) = (versions.clone().min().unwrap_or(0), versions.max().unwrap_or(0));
        if version < first || version > last {
            return Err(format!("version {version} is not in the lesson: {id} holds v{first} to v{last}"));
        }
    }
    step.stream = Some(id);
    Ok(())
}

/// What the steps and bookmarks say that the mask hides: masked stream ids (in places, titles
/// and notes) and masked metadata values in audit filters become their pseudonyms. A filter on
/// a part of a masked stream id cannot be kept: it is refused.
fn mask_steps(request: &mut ExportRequest, streams: &[String]) -> Result<(), LessonError> {
    let mask = &request.mask;
    let masked_keys: Vec<String> = mask
        .paths()
        .iter()
        .filter_map(|p| p.strip_prefix("/metadata/").filter(|k| !k.contains('/')).map(str::to_owned))
        .collect();
    for (i, step) in request.steps.iter_mut().enumerate() {
        if let Some(audit) = &mut step.audit {
            for (key, value) in &mut audit.meta {
                if masked_keys.contains(key) {
                    *value = mask.pseudonym(value);
                }
            }
            if mask.masks_stream_id() && !audit.stream.is_empty() {
                return Err(LessonError::Usage(format!(
                    "step {} ({}): its audit filter looks for `{}` in stream ids, which /streamId masks",
                    i + 1,
                    step.title,
                    audit.stream
                )));
            }
        }
        if mask.masks_stream_id() {
            if let Some(stream) = &mut step.stream {
                *stream = mask.pseudonym(stream);
            }
            for id in streams {
                step.title = step.title.replace(id.as_str(), &mask.pseudonym(id));
                step.note = step.note.replace(id.as_str(), &mask.pseudonym(id));
            }
        }
    }
    if mask.masks_stream_id() {
        for b in &mut request.bookmarks {
            b.stream = mask.pseudonym(&b.stream);
            for id in streams {
                b.note = b.note.replace(id.as_str(), &mask.pseudonym(id));
            }
        }
    }
    Ok(())
}

/// Steps when none are given: the bookmarks of the chosen streams (else each stream at its last
/// version), then the audit filter, then each SQL and projection script.
fn default_steps(request: &ExportRequest, events: &[Event], streams: &[String], filtered: usize) -> Vec<Step> {
    let fold = request.scripts.iter().find(|s| s.kind == ScriptKind::Fold).map(|s| s.name.clone());
    let history = |stream: &str, version: i64, title: String, note: String| Step {
        stream: Some(stream.to_owned()),
        version: Some(version),
        fold: fold.clone(),
        ..Step::new(title, note, View::History)
    };
    let mut steps: Vec<Step> = request
        .bookmarks
        .iter()
        .filter(|b| b.projection.is_none() && streams.contains(&b.stream))
        .map(|b| {
            let title = if b.note.is_empty() { format!("{} at v{}", b.stream, b.version) } else { b.note.clone() };
            history(&b.stream, b.version, title, b.note.clone())
        })
        .collect();
    if steps.is_empty() {
        // (The ids as the store gives them: a UUID asked for in capitals is stored in lower case.)
        for stream in streams.iter().filter(|id| request.streams.iter().any(|s| s.eq_ignore_ascii_case(id))) {
            let of_stream: Vec<&Event> = events.iter().filter(|e| &e.stream.0 == stream).collect();
            let (Some(first), Some(last)) = (of_stream.first(), of_stream.last()) else { continue };
            let note = format!(
                "{} events, from {} (v{}) to {} (v{}).",
                of_stream.len(),
                first.event_type,
                first.version,
                last.event_type,
                last.version
            );
            steps.push(history(stream, last.version, stream.clone(), note));
        }
    }
    if let Some(filter) = &request.filter {
        steps.push(Step {
            audit: Some(StepFilter {
                types: filter.types.clone(),
                stream: filter.stream.clone(),
                meta: filter.meta.iter().cloned().collect(),
                text: filter.text.clone(),
                select_first: false,
            }),
            ..Step::new(
                "The events under the filter",
                format!("{filtered} events of the store matched the lesson's audit filter."),
                View::Audit,
            )
        });
    }
    for script in &request.scripts {
        let view = match script.kind {
            ScriptKind::Sql => View::Sql,
            ScriptKind::Projection => View::Projections,
            ScriptKind::Fold => continue,
        };
        let note = format!("The {} `{}`, run on the lesson's events.", script.kind.word(), script.name);
        steps.push(Step { script: Some(script.name.clone()), ..Step::new(&script.name, note, view) });
    }
    steps
}

const SCHEMA: &str = "
CREATE TABLE events (
    position INTEGER NOT NULL UNIQUE,
    aggregate_id TEXT NOT NULL,
    aggregate_type TEXT,
    version INTEGER NOT NULL,
    event_type TEXT NOT NULL,
    payload TEXT NOT NULL,
    metadata TEXT,
    recorded_at TEXT,
    PRIMARY KEY (aggregate_id, version)
);
CREATE TABLE eventscope_lesson (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE eventscope_steps (
    step INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    note TEXT NOT NULL,
    view TEXT NOT NULL,
    stream TEXT,
    version INTEGER,
    fold TEXT,
    script TEXT,
    audit_filter TEXT
);
CREATE TABLE eventscope_scripts (name TEXT NOT NULL, kind TEXT NOT NULL, source TEXT NOT NULL, PRIMARY KEY (kind, name));
CREATE TABLE eventscope_bookmarks (stream TEXT NOT NULL, version INTEGER NOT NULL, note TEXT NOT NULL);";

/// A payload as the lesson stores it: JSON text, or the undecodable bytes as they were.
fn payload_cell(payload: &Payload) -> (Option<String>, Option<Vec<u8>>) {
    match payload {
        Payload::Json(value) => (Some(value.to_string()), None),
        // (A masked lesson keeps no bytes it could not mask: the reason is kept instead.)
        Payload::Undecodable { bytes, reason } if bytes.is_empty() => {
            let note = serde_json::json!({"eventscope_left_out": format!("not decodable ({reason}), left out of a masked lesson")});
            (Some(note.to_string()), None)
        }
        Payload::Undecodable { bytes, .. } => (None, Some(bytes.clone())),
    }
}

async fn write_file(out: &Path, lesson: &Lesson, events: &[Event]) -> Result<(), sqlx::Error> {
    let partial = out.with_extension("lesson-partial");
    let written = write_partial(&partial, lesson, events).await;
    if written.is_err() {
        let _ = std::fs::remove_file(&partial);
        return written;
    }
    std::fs::rename(&partial, out).map_err(sqlx::Error::Io)
}

async fn write_partial(partial: &Path, lesson: &Lesson, events: &[Event]) -> Result<(), sqlx::Error> {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", partial.display()));
    }
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(partial)
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Delete);
    let mut conn = sqlx::sqlite::SqliteConnection::connect_with(&options).await?;
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(SCHEMA).execute(&mut *tx).await?;
    for (position, e) in events.iter().enumerate() {
        let (payload_text, payload_bytes) = payload_cell(&e.payload);
        let (meta_text, meta_bytes) = e.metadata.as_deref().map(payload_cell).unwrap_or((None, None));
        sqlx::query(
            "INSERT INTO events (position, aggregate_id, aggregate_type, version, event_type, payload, metadata, \
             recorded_at) VALUES (?, ?, ?, ?, ?, COALESCE(?, ?), COALESCE(?, ?), ?)",
        )
        .bind(position as i64 + 1)
        .bind(&e.stream.0)
        .bind(e.aggregate_type.as_deref())
        .bind(e.version)
        .bind(&e.event_type)
        .bind(payload_text)
        .bind(payload_bytes)
        .bind(meta_text)
        .bind(meta_bytes)
        .bind(e.recorded_at.map(format_time))
        .execute(&mut *tx)
        .await?;
    }
    for (key, value) in std::iter::once(("title".to_owned(), lesson.title.clone()))
        .chain(std::iter::once(("format".to_owned(), "1".to_owned())))
        .chain(lesson.facts.iter().cloned())
    {
        sqlx::query("INSERT INTO eventscope_lesson (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
    }
    for (i, step) in lesson.steps.iter().enumerate() {
        let audit = step.audit.as_ref().map(|a| serde_json::to_string(a).unwrap_or_default());
        sqlx::query(
            "INSERT INTO eventscope_steps (step, title, note, view, stream, version, fold, script, audit_filter) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i as i64 + 1)
        .bind(&step.title)
        .bind(&step.note)
        .bind(crate::deep_link::view_name(step.view))
        .bind(&step.stream)
        .bind(step.version)
        .bind(&step.fold)
        .bind(&step.script)
        .bind(audit)
        .execute(&mut *tx)
        .await?;
    }
    for script in &lesson.scripts {
        sqlx::query("INSERT INTO eventscope_scripts (name, kind, source) VALUES (?, ?, ?)")
            .bind(&script.name)
            .bind(script.kind.word())
            .bind(&script.source)
            .execute(&mut *tx)
            .await?;
    }
    for b in &lesson.bookmarks {
        sqlx::query("INSERT INTO eventscope_bookmarks (stream, version, note) VALUES (?, ?, ?)")
            .bind(&b.stream)
            .bind(b.version)
            .bind(&b.note)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    conn.close().await
}

/// The lesson a store holds, if it holds one (a file `eventscope lesson export` wrote). Read
/// on the store's own read-only sessions.
pub async fn read(store: &Store) -> Result<Option<Lesson>, LessonError> {
    if !store.relation_exists("eventscope_steps").await? {
        return Ok(None);
    }
    let text = |cell: Option<&Cell>| -> Option<String> { cell.and_then(Cell::as_text_lossy) };
    let bad = |what: &str, why: String| LessonError::Read(format!("{what}: {why}"));
    let mut lesson = Lesson::default();
    for row in own_table(store, "eventscope_lesson", "SELECT key, value FROM eventscope_lesson").await? {
        let (Some(key), Some(value)) = (text(row.first()), text(row.get(1))) else { continue };
        match key.as_str() {
            "title" => lesson.title = value,
            "format" => {}
            _ => lesson.facts.push((key, value)),
        }
    }
    let scripts = "SELECT name, kind, source FROM eventscope_scripts ORDER BY kind, name";
    for row in own_table(store, "eventscope_scripts", scripts).await? {
        let (Some(name), Some(kind), Some(source)) = (text(row.first()), text(row.get(1)), text(row.get(2))) else {
            continue;
        };
        let kind = ScriptKind::from_word(&kind).ok_or_else(|| {
            bad("eventscope_scripts", format!("`{kind}` is no kind of script (fold, projection, sql)"))
        })?;
        lesson.scripts.push(LessonScript { name, kind, source });
    }
    for row in
        own_table(store, "eventscope_bookmarks", "SELECT stream, version, note FROM eventscope_bookmarks").await?
    {
        if let (Some(stream), Some(version)) = (text(row.first()), row.get(1).and_then(Cell::as_i64)) {
            lesson.bookmarks.push(Bookmark::version_of(stream, version, text(row.get(2)).unwrap_or_default()));
        }
    }
    let steps = store
        .read_own_table(
            "SELECT step, title, note, view, stream, version, fold, script, audit_filter FROM eventscope_steps ORDER BY step",
        )
        .await
        .map_err(|e| bad("eventscope_steps", e.to_string()))?;
    for row in steps {
        let number = row.first().and_then(Cell::as_i64).unwrap_or_default();
        let step_error = |why: String| bad(&format!("step {number}"), why);
        let view_word = text(row.get(3)).unwrap_or_default();
        let view = <View as clap::ValueEnum>::from_str(&view_word, true)
            .map_err(|_| step_error(format!("`{view_word}` is no view")))?;
        let audit = match text(row.get(8)) {
            Some(json) => Some(serde_json::from_str(&json).map_err(|e| step_error(format!("its audit filter: {e}")))?),
            None => None,
        };
        lesson.steps.push(Step {
            title: text(row.get(1)).unwrap_or_default(),
            note: text(row.get(2)).unwrap_or_default(),
            view,
            stream: text(row.get(4)),
            version: row.get(5).and_then(Cell::as_i64),
            fold: text(row.get(6)),
            script: text(row.get(7)),
            audit,
        });
    }
    Ok(Some(lesson))
}

/// The rows of one of a lesson's own tables: none where a hand-made lesson lacks the table; an
/// error, in words, where it is there but cannot be read.
async fn own_table(store: &Store, name: &str, query: &str) -> Result<Vec<Vec<Cell>>, LessonError> {
    if !store.relation_exists(name).await? {
        return Ok(Vec::new());
    }
    store.read_own_table(query).await.map_err(|e| LessonError::Read(format!("{name}: {e}")))
}

/// Reads a steps file (a JSON array of steps).
pub fn steps_from_json(text: &str) -> Result<Vec<Step>, String> {
    serde_json::from_str(text).map_err(|e| format!("not a steps file (a JSON array of steps): {e}"))
}

/// The guided tour of the workshop store: the bundled lesson played on the store itself.
pub fn tour() -> Lesson {
    let order = |label: &str, version: i64, title: &str, note: &str| Step {
        stream: Some(label.into()),
        version: Some(version),
        fold: Some("order.js".into()),
        ..Step::new(title, note, View::History)
    };
    let busy = crate::demo::account_stream(crate::demo::BUSY_CUSTOMER);
    Lesson {
        title: "A tour of the workshop store".into(),
        steps: vec![
            order(
                "ORD-1042",
                4,
                "A refund paid twice",
                "Order ORD-1042 was refunded twice: a retried command appended RefundRequested again at v4. \
                 Step back to v3 with the left arrow key, then press Blame beside the state to see which event set each field.",
            ),
            order(
                "ORD-1013",
                1,
                "A snapshot that went stale",
                "ORD-1013's stored snapshot no longer matches its events. In the streams panel, \
                 \"Check snapshots\" refolds each snapshotted stream and lists where they differ.",
            ),
            Step {
                audit: Some(StepFilter {
                    types: vec!["TaxRateChanged".into()],
                    select_first: true,
                    ..StepFilter::default()
                }),
                ..Step::new(
                    "One change, many events",
                    "A tax rate change made a job append OrderTaxRecalculated to every order placed before the tax \
                     date. On the right, below the event: every event of its correlation, then the tree of what it \
                     caused.",
                    View::Audit,
                )
            },
            Step {
                stream: Some(busy),
                version: Some(1),
                ..Step::new(
                    "A long stream",
                    "The busy reseller's account holds 2,400+ events. Drag along the timeline to scrub, press Space \
                     to play, and Home / End to go to either end.",
                    View::History,
                )
            },
            Step {
                script: Some("orders_by_region.sqlite.sql".into()),
                ..Step::new(
                    "A projection before it is deployed",
                    "This SQL is the new orders_by_region, previewed read-only against the events. Press \
                     \"Compare with deployed orders_by_region\" to see the rows the new definition would change.",
                    View::Sql,
                )
            },
        ],
        ..Lesson::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_read_from_json_with_views_as_the_command_line_names_them() {
        let steps = steps_from_json(
            r#"[{"title": "Twice", "note": "v4 repeats v3", "view": "history", "stream": "ORD-1042", "version": 4,
                 "fold": "order.js"},
                {"title": "Tax", "view": "audit", "audit": {"types": ["TaxRateChanged"], "select_first": true}},
                {"title": "SQL", "view": "SQL", "script": "orders_by_region.sqlite.sql"}]"#,
        )
        .unwrap();
        assert_eq!(steps.len(), 3);
        assert_eq!(steps[0].view, View::History);
        assert_eq!(steps[1].audit.as_ref().unwrap().types, ["TaxRateChanged"]);
        assert_eq!(steps[2].view, View::Sql);
        let lesson = Lesson { steps, ..Lesson::default() };
        for step in &lesson.steps {
            lesson.check_step(step).unwrap();
        }
        assert!(steps_from_json(r#"[{"title": "x", "view": "nowhere"}]"#).unwrap_err().contains("no view"));
        assert!(steps_from_json(r#"[{"title": "x", "view": "history", "strem": "a"}]"#).is_err());
        let bad = Step { fold: Some("missing.js".into()), ..lesson.steps[0].clone() };
        assert!(lesson.check_step(&bad).unwrap_err().contains("missing.js"));
        let versionless = Step { stream: None, ..lesson.steps[0].clone() };
        assert!(lesson.check_step(&versionless).is_err());
    }

    #[test]
    fn the_tour_names_only_what_is_bundled() {
        let tour = tour();
        assert_eq!(tour.steps.len(), 5);
        for step in &tour.steps {
            tour.check_step(step).unwrap();
        }
    }
}
