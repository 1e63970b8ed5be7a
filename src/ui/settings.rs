//! What the window remembers, per store: its look (theme, zoom, presenter mode), its layout
//! (streams panel shown, panel sizes) and where the user was (view, stream, version, fold file).
//! Kept as JSON in the user's config directory (`$XDG_CONFIG_HOME/eventscope/views.json`), never
//! in the store, keyed by the store's name without its password.

use std::collections::BTreeMap;
use std::path::PathBuf;

use eframe::egui;
use serde::{Deserialize, Serialize};

use crate::store::Target;

/// How many stores the file remembers (the most recently used).
const KEEP: usize = 50;

/// The zoom presenter mode starts at.
pub const PRESENTER_ZOOM: f32 = 1.4;
/// The zooms the window accepts (a settings file may say anything).
pub const ZOOMS: std::ops::RangeInclusive<f32> = 0.5..=3.0;
/// The panel sizes a settings file may give, in points.
const PANEL_SIZES: std::ops::RangeInclusive<f32> = 80.0..=4000.0;

/// Light, dark, or whatever the system uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThemeChoice {
    #[default]
    System,
    Light,
    Dark,
}

impl ThemeChoice {
    pub const ALL: [ThemeChoice; 3] = [ThemeChoice::System, ThemeChoice::Light, ThemeChoice::Dark];

    pub fn label(self) -> &'static str {
        match self {
            ThemeChoice::System => "Follow the system",
            ThemeChoice::Light => "Light",
            ThemeChoice::Dark => "Dark",
        }
    }

    pub fn preference(self) -> egui::ThemePreference {
        match self {
            ThemeChoice::System => egui::ThemePreference::System,
            ThemeChoice::Light => egui::ThemePreference::Light,
            ThemeChoice::Dark => egui::ThemePreference::Dark,
        }
    }
}

/// The window's settings for one store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ViewSettings {
    pub theme: ThemeChoice,
    /// The user's zoom, and presenter mode's own (each changed by zooming in that mode).
    pub zoom: f32,
    pub presenter_zoom: f32,
    pub presenter: bool,
    pub streams_shown: bool,
    /// Sizes the user gave the panels, in points.
    pub streams_width: Option<f32>,
    pub timeline_width: Option<f32>,
    pub diff_height: Option<f32>,
    /// The view, stream, version and fold file last shown.
    pub view: Option<super::View>,
    pub stream: Option<String>,
    pub version: Option<i64>,
    pub fold: Option<RememberedFold>,
    /// The field chosen to label each category's streams (where the one found is not wanted).
    pub label_fields: BTreeMap<String, String>,
    /// Versions the user bookmarked, with a note each (kept here, never in the store).
    pub bookmarks: Vec<Bookmark>,
    /// The tour was offered (the workshop store's first opening).
    pub tour_offered: bool,
}

/// A version of a stream the user marked, with a short note ("← the retried command").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bookmark {
    /// The stream (for a projection run's bookmark, the projection's name).
    pub stream: String,
    /// The version (for a projection run's bookmark, the global position).
    pub version: i64,
    #[serde(default)]
    pub note: String,
    /// A position in a run of this projection, rather than a version of a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projection: Option<RememberedScript>,
}

impl Bookmark {
    /// A version of a stream.
    pub fn version_of(stream: String, version: i64, note: String) -> Bookmark {
        Bookmark { stream, version, note, projection: None }
    }
}

/// A fold chosen for streams: its script and where it applies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RememberedFold {
    pub script: RememberedScript,
    pub scope: super::history::FoldScope,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RememberedScript {
    File(PathBuf),
    /// A bundled example, by name.
    Example(String),
    /// A script a lesson file carried, by name (found again only while that lesson plays).
    Lesson(String),
}

impl Default for ViewSettings {
    fn default() -> Self {
        ViewSettings {
            theme: ThemeChoice::System,
            zoom: 1.0,
            presenter_zoom: PRESENTER_ZOOM,
            presenter: false,
            streams_shown: true,
            streams_width: None,
            timeline_width: None,
            diff_height: None,
            view: None,
            stream: None,
            version: None,
            fold: None,
            label_fields: BTreeMap::new(),
            bookmarks: Vec::new(),
            tour_offered: false,
        }
    }
}

impl ViewSettings {
    /// The settings of a store never opened before: the look of the last store used, the rest
    /// as new.
    fn new_like(last: &ViewSettings) -> ViewSettings {
        ViewSettings { theme: last.theme, zoom: last.zoom, ..ViewSettings::default() }
    }

    /// The zoom factor the window draws at.
    pub fn effective_zoom(&self) -> f32 {
        if self.presenter { self.presenter_zoom } else { self.zoom }
    }

    /// Sets the zoom of the mode the window is in (kept within [`ZOOMS`]).
    pub fn set_zoom(&mut self, zoom: f32) {
        let zoom = sane_zoom(zoom);
        if self.presenter {
            self.presenter_zoom = zoom;
        } else {
            self.zoom = zoom;
        }
    }

    /// The settings with every value within what the window can use: a hand-edited or damaged
    /// file must not stop it from starting.
    fn sanitized(mut self) -> ViewSettings {
        self.zoom = sane_zoom(self.zoom);
        self.presenter_zoom = sane_zoom(self.presenter_zoom);
        for size in [&mut self.streams_width, &mut self.timeline_width, &mut self.diff_height] {
            *size = size.filter(|s| s.is_finite() && PANEL_SIZES.contains(s));
        }
        self
    }
}

/// A zoom within [`ZOOMS`] (1 for what is not a number).
pub fn sane_zoom(zoom: f32) -> f32 {
    if zoom.is_finite() { zoom.clamp(*ZOOMS.start(), *ZOOMS.end()) } else { 1.0 }
}

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    /// Store keys, most recently used first.
    order: Vec<String>,
    stores: BTreeMap<String, ViewSettings>,
}

/// The settings of every store the window has opened.
pub struct SettingsFile {
    path: Option<PathBuf>,
    contents: FileContents,
    /// Changed since the file was last written, and when that was (egui time).
    dirty: bool,
    last_save: f64,
}

/// How a store is named in the file: its absolute path, or its URL without a password.
pub fn store_key(target: &Target) -> String {
    match target {
        Target::Sqlite(path) => std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string(),
        Target::Postgres(url) => crate::store::url_without_password(url),
    }
}

impl SettingsFile {
    /// Where the file lives by default.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("eventscope").join("views.json"))
    }

    /// Reads the file (an unreadable or missing file remembers nothing); `None` keeps the
    /// settings in memory only.
    pub fn load(path: Option<PathBuf>) -> SettingsFile {
        // (Only a plain file: reading a pipe put there would never end.)
        let text = path.as_ref().filter(|p| p.is_file()).and_then(|p| std::fs::read_to_string(p).ok());
        let contents = match text.as_deref().map(serde_json::from_str::<serde_json::Value>) {
            Some(Ok(value)) => contents_of(value),
            Some(Err(_)) => {
                // Not JSON: kept aside, not overwritten unseen.
                if let Some(p) = &path {
                    let _ = std::fs::rename(p, p.with_extension("json.damaged"));
                }
                FileContents::default()
            }
            None => FileContents::default(),
        };
        SettingsFile { path, contents, dirty: false, last_save: f64::NEG_INFINITY }
    }

    /// The settings remembered for a store, or new ones with the look of the last store used.
    pub fn for_store(&self, key: &str) -> ViewSettings {
        if let Some(settings) = self.contents.stores.get(key) {
            return settings.clone().sanitized();
        }
        let last = self.contents.order.first().and_then(|k| self.contents.stores.get(k));
        last.map_or_else(ViewSettings::default, ViewSettings::new_like).sanitized()
    }

    /// Remembers a store's settings (written by [`SettingsFile::save_if_due`]).
    pub fn remember(&mut self, key: &str, settings: &ViewSettings) {
        let first = self.contents.order.first().is_some_and(|k| k == key);
        if first && self.contents.stores.get(key) == Some(settings) {
            return;
        }
        self.contents.order.retain(|k| k != key);
        self.contents.order.insert(0, key.to_owned());
        for dropped in self.contents.order.split_off(self.contents.order.len().min(KEEP)) {
            self.contents.stores.remove(&dropped);
        }
        self.contents.stores.insert(key.to_owned(), settings.clone());
        self.dirty = true;
    }

    /// Writes the file when something changed, at most once every two seconds (`now` in
    /// seconds); says whether a write is still to come.
    pub fn save_if_due(&mut self, now: f64) -> bool {
        if self.dirty && now - self.last_save >= 2.0 {
            self.last_save = now;
            self.save();
        }
        self.dirty
    }

    /// Writes the file now (when anything changed). A failure to write is not an error the
    /// user can act on mid-session: the settings are then remembered until the window closes.
    pub fn save(&mut self) {
        if !self.dirty {
            return;
        }
        self.dirty = false;
        let Some(path) = &self.path else {
            return;
        };
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Ok(text) = serde_json::to_string_pretty(&self.contents) {
            // Written aside and renamed, so that a crash mid-write leaves the old file whole.
            let aside = path.with_extension("json.tmp");
            if std::fs::write(&aside, text).is_ok() && std::fs::rename(&aside, path).is_err() {
                let _ = std::fs::remove_file(&aside);
            }
        }
    }
}

/// The file's stores, keeping what can be read: a store's entry with a field that cannot be
/// read (a view this build does not have, a wrong type) keeps its other fields.
fn contents_of(value: serde_json::Value) -> FileContents {
    let order =
        value.get("order").and_then(|o| serde_json::from_value::<Vec<String>>(o.clone()).ok()).unwrap_or_default();
    let mut stores = BTreeMap::new();
    if let Some(serde_json::Value::Object(entries)) = value.get("stores") {
        for (key, entry) in entries {
            let settings = serde_json::from_value::<ViewSettings>(entry.clone()).unwrap_or_else(|_| {
                let readable: serde_json::Map<String, serde_json::Value> = match entry {
                    serde_json::Value::Object(fields) => fields
                        .iter()
                        .filter(|(k, v)| {
                            let alone = serde_json::json!({ k.as_str(): v });
                            serde_json::from_value::<ViewSettings>(alone).is_ok()
                        })
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                    _ => serde_json::Map::new(),
                };
                serde_json::from_value(serde_json::Value::Object(readable)).unwrap_or_default()
            });
            stores.insert(key.clone(), settings);
        }
    }
    let order = order.into_iter().filter(|k| stores.contains_key(k)).collect();
    FileContents { order, stores }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_kept_per_store_without_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("views.json");
        let mut settings = SettingsFile::load(Some(file.clone()));
        let shop = store_key(&Target::Postgres("postgres://bob:hunter2@db:5432/shop".into()));
        let workshop = store_key(&Target::Sqlite("/tmp/workshop.sqlite".into()));
        let dark = ViewSettings {
            theme: ThemeChoice::Dark,
            zoom: 1.5,
            stream: Some("ORD-1042".into()),
            version: Some(4),
            ..ViewSettings::default()
        };
        settings.remember(&shop, &dark);
        settings.save();
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("hunter2"), "{text}");

        let reloaded = SettingsFile::load(Some(file));
        assert_eq!(reloaded.for_store(&shop), dark);
        // A store never opened takes the look of the last one, not its place.
        let new = reloaded.for_store(&workshop);
        assert_eq!((new.theme, new.zoom, new.stream, new.version), (ThemeChoice::Dark, 1.5, None, None));
    }

    #[test]
    fn a_damaged_file_is_kept_aside_and_bad_values_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("views.json");
        std::fs::write(&file, "{ not json").unwrap();
        let settings = SettingsFile::load(Some(file.clone()));
        assert_eq!(settings.for_store("x"), ViewSettings::default());
        assert!(dir.path().join("views.json.damaged").exists(), "kept aside, not overwritten");

        // One unreadable field costs that field; absurd values are brought within bounds.
        std::fs::write(
            &file,
            r#"{"order": ["a", "b"], "stores": {
                "a": {"view": "Timeline", "stream": "s-1", "zoom": 0, "presenter_zoom": 1e39, "streams_width": -5,
                      "timeline_width": 1e7, "diff_height": 300},
                "b": {"theme": "Dark", "zoom": 1.2}}}"#,
        )
        .unwrap();
        let settings = SettingsFile::load(Some(file));
        let a = settings.for_store("a");
        assert_eq!((a.view, a.stream.as_deref()), (None, Some("s-1")));
        assert_eq!((a.zoom, a.presenter_zoom), (0.5, 1.0), "0 is brought up; 1e39 is no number for a zoom");
        assert_eq!((a.streams_width, a.timeline_width, a.diff_height), (None, None, Some(300.0)));
        assert_eq!(settings.for_store("b").theme, ThemeChoice::Dark);
    }
}
