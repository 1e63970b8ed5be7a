//! Recently opened stores, kept as JSON in the user's config directory
//! (`$XDG_CONFIG_HOME/eventscope/recent.json`). A URL is kept without its password, ever.

use std::path::PathBuf;

use crate::store::Target;

const KEEP: usize = 10;

pub struct RecentStores {
    path: Option<PathBuf>,
    entries: Vec<String>,
}

impl RecentStores {
    /// Where the list lives by default.
    pub fn default_path() -> Option<PathBuf> {
        dirs::config_dir().map(|d| d.join("eventscope").join("recent.json"))
    }

    /// Reads the list (an unreadable or missing file is an empty list); `None` keeps it in memory.
    pub fn load(path: Option<PathBuf>) -> RecentStores {
        let entries = path
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok())
            .unwrap_or_default();
        RecentStores { path, entries }
    }

    pub fn entries(&self) -> &[String] {
        &self.entries
    }

    /// Puts a store first in the list (without its password) and saves the list.
    pub fn add(&mut self, target: &Target) {
        let entry = super::settings::store_key(target);
        self.entries.retain(|e| *e != entry);
        self.entries.insert(0, entry);
        self.entries.truncate(KEEP);
        if let Some(path) = &self.path {
            if let Some(parent) = path.parent() {
                let _ = std::fs::create_dir_all(parent);
            }
            if let Ok(text) = serde_json::to_string_pretty(&self.entries) {
                let _ = std::fs::write(path, text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_stores_never_keep_a_password() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("recent.json");
        let mut recent = RecentStores::load(Some(file.clone()));
        recent.add(&Target::Postgres("postgres://bob:hunter2@db:5432/shop?sslmode=require".into()));
        recent.add(&Target::Sqlite("/tmp/a.sqlite".into()));
        recent.add(&Target::Postgres("postgres://bob:other@db:5432/shop?sslmode=require".into()));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains("hunter2") && !text.contains("other"), "{text}");
        let reloaded = RecentStores::load(Some(file));
        assert_eq!(reloaded.entries(), ["postgres://bob@db:5432/shop?sslmode=require", "/tmp/a.sqlite"]);
    }
}
