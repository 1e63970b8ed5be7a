//! Back and forward across the places the user has been: a view, in the history a stream and
//! a version, in Audit the filter applied. Steps taken in quick succession (scrubbing, stepping with the keys) make one
//! entry, not one per version; a pause, another stream or another view makes a new one.
//! Pure: the app says where the user is each frame and applies the place Back or Forward gives.

use super::View;
use crate::store::audit::AuditFilter;

/// Within this many seconds of the last change, a move to another version of the same stream
/// replaces the current entry instead of adding one.
const COALESCE_SECONDS: f64 = 1.5;

/// A place the user was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub view: View,
    /// The stream shown in the history, and the version at its cursor.
    pub stream: Option<String>,
    pub version: Option<i64>,
    /// The filter Audit shows (in Audit).
    pub audit: Option<AuditFilter>,
}

#[derive(Default)]
pub struct Navigation {
    back: Vec<Place>,
    forward: Vec<Place>,
    current: Option<Place>,
    /// When the current entry last changed (egui time).
    changed_at: f64,
}

/// How many places are kept behind.
const KEEP: usize = 200;

impl Navigation {
    /// The user is at `place` (each frame).
    pub fn visit(&mut self, place: Place, now: f64) {
        let Some(current) = &mut self.current else {
            self.current = Some(place);
            self.changed_at = now;
            return;
        };
        if *current == place {
            return;
        }
        let same_stream = current.view == place.view && current.stream == place.stream && current.audit == place.audit;
        if same_stream && (place.version.is_none() || now - self.changed_at < COALESCE_SECONDS) {
            // A step among many, or a version not known yet: the same entry.
            if place.version.is_some() {
                current.version = place.version;
                self.changed_at = now;
            }
            return;
        }
        let previous = std::mem::replace(current, place);
        self.back.push(previous);
        if self.back.len() > KEEP {
            self.back.remove(0);
        }
        self.forward.clear();
        self.changed_at = now;
    }

    /// The next move is a jump (a link, an event opened from elsewhere): it makes an entry of its
    /// own, however soon it comes.
    pub fn jumped(&mut self) {
        self.changed_at = f64::NEG_INFINITY;
    }

    /// The place before the current one, which becomes current.
    pub fn back(&mut self, now: f64) -> Option<Place> {
        let place = self.back.pop()?;
        if let Some(current) = self.current.replace(place.clone()) {
            self.forward.push(current);
        }
        self.changed_at = now - COALESCE_SECONDS;
        Some(place)
    }

    /// The place after the current one (after a Back), which becomes current.
    pub fn forward(&mut self, now: f64) -> Option<Place> {
        let place = self.forward.pop()?;
        if let Some(current) = self.current.replace(place.clone()) {
            self.back.push(current);
        }
        self.changed_at = now - COALESCE_SECONDS;
        Some(place)
    }

    pub fn can_go_back(&self) -> bool {
        !self.back.is_empty()
    }

    pub fn can_go_forward(&self) -> bool {
        !self.forward.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(view: View, stream: Option<&str>, version: Option<i64>) -> Place {
        Place { view, stream: stream.map(str::to_owned), version, audit: None }
    }

    #[test]
    fn each_audit_filter_applied_is_a_place() {
        let mut nav = Navigation::default();
        let audit = |text: &str| Place {
            audit: Some(AuditFilter { text: text.to_owned(), ..Default::default() }),
            ..at(View::Audit, None, None)
        };
        nav.visit(audit(""), 0.0);
        nav.visit(audit("refund"), 0.1);
        nav.visit(audit("ORD-1042"), 0.2);
        nav.visit(at(View::History, Some("a"), Some(2)), 0.3);
        assert_eq!(nav.back(1.0), Some(audit("ORD-1042")));
        assert_eq!(nav.back(1.0), Some(audit("refund")));
        assert_eq!(nav.back(1.0), Some(audit("")));
    }

    #[test]
    fn quick_steps_make_one_entry_and_pauses_streams_and_views_make_new_ones() {
        let mut nav = Navigation::default();
        nav.visit(at(View::History, Some("a"), Some(4)), 0.0);
        // Scrubbing: one entry, at the last version.
        for (t, v) in [(0.2, 3), (0.4, 2), (0.6, 1)] {
            nav.visit(at(View::History, Some("a"), Some(v)), t);
        }
        assert!(!nav.can_go_back());
        // After a pause, a jump is its own entry.
        nav.visit(at(View::History, Some("a"), Some(3)), 5.0);
        nav.visit(at(View::History, Some("b"), None), 5.1);
        nav.visit(at(View::History, Some("b"), Some(7)), 5.2);
        nav.visit(at(View::Audit, None, None), 9.0);
        assert_eq!(nav.back(10.0), Some(at(View::History, Some("b"), Some(7))));
        assert_eq!(nav.back(10.0), Some(at(View::History, Some("a"), Some(3))));
        assert_eq!(nav.back(10.0), Some(at(View::History, Some("a"), Some(1))));
        assert_eq!(nav.back(10.0), None);
        // The place Back gave is where the user is: visiting it adds nothing.
        nav.visit(at(View::History, Some("a"), Some(1)), 10.1);
        assert_eq!(nav.forward(10.2), Some(at(View::History, Some("a"), Some(3))));
        // A new place drops what was ahead.
        nav.visit(at(View::Sql, None, None), 12.0);
        assert!(!nav.can_go_forward());
        assert_eq!(nav.back(12.5), Some(at(View::History, Some("a"), Some(3))));
    }
}
