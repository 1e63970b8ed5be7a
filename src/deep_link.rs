//! Deep links: what the window shows, as a command line (`eventscope STORE --stream … --at …
//! --fold … --view …`) and as an `eventscope://open?store=…&stream=…&at=…` link that the window
//! accepts in place of a store. A store's password is never written into either (PostgreSQL
//! reads it from `PGPASSWORD` or `~/.pgpass` as usual); a bundled fold is named by its file name,
//! which `--fold` takes when no such file exists.

use std::path::PathBuf;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

use crate::ui::{StartAt, View};

/// What a link says: the store (without a password), and where to start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub store: String,
    pub stream: Option<String>,
    pub version: Option<i64>,
    pub fold: Option<String>,
    pub view: Option<View>,
}

const SCHEME: &str = "eventscope://open?";

/// Characters written as they are in a link's values.
const KEPT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');

/// A view as `--view` names it.
pub fn view_name(view: View) -> String {
    clap::ValueEnum::to_possible_value(&view).map_or_else(String::new, |v| v.get_name().to_owned())
}

/// A word as a POSIX shell reads it back unchanged.
fn shell_word(word: &str) -> String {
    let plain = !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

impl Link {
    /// The store as a link names it: a SQLite file's absolute path, a URL without its password.
    pub fn store_of(target: &crate::store::Target) -> String {
        match target {
            crate::store::Target::Sqlite(path) => {
                std::path::absolute(path).unwrap_or_else(|_| path.clone()).display().to_string()
            }
            crate::store::Target::Postgres(url) => crate::store::url_without_password(url),
        }
    }

    /// The command that opens it.
    pub fn command_line(&self) -> String {
        let mut words = vec!["eventscope".to_owned(), shell_word(&self.store)];
        if let Some(stream) = &self.stream {
            words.extend(["--stream".to_owned(), shell_word(stream)]);
            if let Some(version) = self.version {
                words.extend(["--at".to_owned(), version.to_string()]);
            }
        }
        if let Some(fold) = &self.fold {
            words.extend(["--fold".to_owned(), shell_word(fold)]);
        }
        if let Some(view) = self.view {
            words.extend(["--view".to_owned(), view_name(view)]);
        }
        words.join(" ")
    }

    /// The `eventscope://` link that opens it.
    pub fn url(&self) -> String {
        let mut pairs = vec![("store", self.store.clone())];
        if let Some(stream) = &self.stream {
            pairs.push(("stream", stream.clone()));
            if let Some(version) = self.version {
                pairs.push(("at", version.to_string()));
            }
        }
        if let Some(fold) = &self.fold {
            pairs.push(("fold", fold.clone()));
        }
        if let Some(view) = self.view {
            pairs.push(("view", view_name(view)));
        }
        let query: Vec<String> =
            pairs.into_iter().map(|(k, v)| format!("{k}={}", utf8_percent_encode(&v, KEPT))).collect();
        format!("{SCHEME}{}", query.join("&"))
    }

    /// Whether a store argument is a link rather than a store.
    pub fn is_link(text: &str) -> bool {
        text.get(.."eventscope://".len()).is_some_and(|scheme| scheme.eq_ignore_ascii_case("eventscope://"))
    }

    /// Reads an `eventscope://open?…` link.
    pub fn parse(text: &str) -> Result<Link, String> {
        let bad = |why: String| format!("{text} is not an eventscope link: {why} (write eventscope://open?store=…)");
        // (A scheme is read whatever its case.)
        let query = text
            .get(..SCHEME.len())
            .filter(|start| start.eq_ignore_ascii_case(SCHEME))
            .map(|_| &text[SCHEME.len()..])
            .ok_or_else(|| bad("it does not start with eventscope://open?".into()))?;
        let mut link = Link::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| bad(format!("the value of `{key}` is not UTF-8")))?
                .into_owned();
            match key {
                "store" => link.store = value,
                "stream" => link.stream = Some(value),
                "at" => link.version = Some(value.parse().map_err(|_| bad(format!("`at={value}` is not a version")))?),
                "fold" => link.fold = Some(value),
                "view" => {
                    link.view = Some(
                        <View as clap::ValueEnum>::from_str(&value, true)
                            .map_err(|_| bad(format!("`view={value}` is no view")))?,
                    )
                }
                other => return Err(bad(format!("`{other}` is not something a link says"))),
            }
        }
        if link.store.is_empty() {
            return Err(bad("it names no store".into()));
        }
        Ok(link)
    }

    /// Where the window starts, for this link (the command line's own options come first).
    pub fn start(self) -> StartAt {
        StartAt {
            stream: self.stream,
            version: self.version,
            fold: self.fold.map(PathBuf::from),
            view: self.view,
            ..StartAt::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_back_as_written() {
        let link = Link {
            store: "/tmp/my store's/ws.sqlite".into(),
            stream: Some("00001042-0000-4000-8000-0000007de8ce".into()),
            version: Some(4),
            fold: Some("order.js".into()),
            view: Some(View::History),
        };
        let url = link.url();
        assert!(url.starts_with("eventscope://open?store=/tmp/my%20store%27s/ws.sqlite&stream=00001042"), "{url}");
        assert_eq!(Link::parse(&url).unwrap(), link);
        assert_eq!(
            link.command_line(),
            "eventscope '/tmp/my store'\\''s/ws.sqlite' --stream 00001042-0000-4000-8000-0000007de8ce --at 4 --fold \
             order.js --view history"
        );
        assert_eq!(Link::parse(&url.replacen("eventscope://open", "EventScope://OPEN", 1)).unwrap(), link);
        let pg = Link { store: "postgres://app@db:5432/shop?sslmode=require".into(), ..Link::default() };
        assert_eq!(Link::parse(&pg.url()).unwrap(), pg);
        for bad in [
            "eventscope://open?stream=x",
            "eventscope://open?store=a&at=x",
            "eventscope://x",
            "eventscope://open?store=a&evil=1",
        ] {
            assert!(Link::parse(bad).is_err(), "{bad}");
        }
    }
}
