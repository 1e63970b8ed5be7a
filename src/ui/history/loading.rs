//! Loading a stream: page by page as the fold keeps up (at most a read-ahead of unfolded
//! events), its newest page first for a long stream (placed by its version span, then exactly
//! once the pages meet), pages let go of read again by the keyset cursor they were first read
//! from, and a stream changed while open said so.

use super::*;

/// Reading a stream into the panel: the page read in progress, where each page starts (a page
/// let go of is read again), the newest page read ahead so that a long stream opens at its
/// end, and how far the read is. The panel's methods below drive it.
#[derive(Default)]
pub(super) struct StreamLoader {
    /// How many events the worker has read (of `total`).
    pub(super) progress: Option<usize>,
    /// The stored snapshots being read.
    pub(super) snapshot_request: Option<RequestId>,
    /// The page read in progress (one at a time, asked for by [`HistoryPanel::pump`]).
    pub(super) load_request: Option<(RequestId, PageRead)>,
    /// Where each page of the stream starts (to read a dropped page again), and where the
    /// next one does (`None` once the last page is read).
    pub(super) page_starts: Vec<EventCursor>,
    pub(super) next_page: Option<EventCursor>,
    /// The stream's summary (its event count and versions) being read.
    pub(super) summary_request: Option<RequestId>,
    /// Where the newest page starts, to be read by [`HistoryPanel::pump`].
    pub(super) tail_wanted: Option<EventCursor>,
    /// The newest page being read, and once read, where it is placed.
    pub(super) tail_request: Option<RequestId>,
    pub(super) tail: Option<Tail>,
    /// The cursor stays on the newest event loaded until the user moves it (a stream opens at
    /// its newest event).
    pub(super) follow_newest: bool,
    /// A page read again was not what it had been: the stream changed while open.
    pub(super) stream_changed: bool,
    /// "Open it again" was clicked (done by [`HistoryPanel::pump`], which has the worker).
    pub(super) reopen: bool,
    /// How many events the stream holds (from its summary).
    pub(super) total: Option<i64>,
    /// The last page is read (or the load stopped).
    pub(super) done: bool,
    pub(super) load_error: Option<String>,
    /// A version to go to as soon as it is loaded.
    pub(super) pending_version: Option<i64>,
}

impl HistoryPanel {
    /// Stops a load in progress, if any.
    pub fn cancel_load(&mut self, worker: &mut Worker) {
        if let Some((id, _)) = self.loader.load_request.take() {
            worker.send(Request::Cancel { id });
        }
        self.loader.next_page = None;
        self.loader.done = true;
        self.reconcile_tail();
    }

    /// Starts loading a stream (cancelling a load in progress). The fold is chosen when the
    /// first page shows the stream's category.
    pub fn open_stream(&mut self, stream: &str, worker: &mut Worker) {
        self.cancel_load(worker);
        *self = HistoryPanel {
            layout: std::mem::take(&mut self.layout),
            diff: DiffArea { tab: self.diff.tab, ..DiffArea::default() },
            show_blame: self.show_blame,
            picker: FoldPicker { fold: self.picker.fold.take(), ..FoldPicker::default() },
            bisect: self.bisect.carried(),
            follow: self.follow.carried(),
            // (The app gives them again when the stream is another.)
            bookmarks: std::mem::take(&mut self.bookmarks),
            ..HistoryPanel::default()
        };
        self.stream = Some(stream.to_owned());
        self.loader.follow_newest = true;
        self.loader.next_page = Some(EventCursor::from_version(i64::MIN));
        self.pump(worker);
        self.loader.summary_request = Some(worker.send(Request::StreamSummary { stream: stream.to_owned() }));
        self.loader.snapshot_request = Some(worker.send(Request::Snapshots { stream: stream.to_owned() }));
    }

    /// Asks the worker for the page the stream needs next, when no read is in progress: a
    /// page the fold, a state or the cursor's event needs again, else the next page of the
    /// stream while folding keeps up (so memory stays bounded however fast the store reads).
    /// Called every frame.
    pub fn pump(&mut self, worker: &mut Worker) {
        self.pump_bisect(worker);
        self.pump_fixture(worker);
        self.pump_follow(worker);
        if std::mem::take(&mut self.loader.reopen)
            && let Some(stream) = self.stream.clone()
        {
            // The stream changed under a page read again: read it all again, at the same version.
            let version = self.cursor_version();
            self.open_stream(&stream, worker);
            self.go_to_version_when_loaded(version);
            return;
        }
        if self.mode != Mode::Stream || self.loader.load_error.is_some() {
            return;
        }
        let Some(stream) = self.stream.clone() else {
            return;
        };
        if let Some(cursor) = self.loader.tail_wanted.take() {
            // One more than the page: a page that reaches the end comes back short of the limit,
            // and so says it is the last.
            let request = Request::ReadStreamPage { stream: stream.clone(), cursor, limit: LOAD_PAGE + 1 };
            self.loader.tail_request = Some(worker.send(request));
        }
        if self.loader.load_request.is_some() {
            return;
        }
        let again = self.history.as_ref().and_then(|history| {
            let cursor_page = history.page_of(self.cursor).filter(|&page| !history.is_page_resident(page));
            history.wanted_page().or(cursor_page)
        });
        if let Some(page) = again
            && let Some(cursor) = self.loader.page_starts.get(page)
        {
            let request = Request::ReadStreamPage { stream, cursor: cursor.clone(), limit: LOAD_PAGE };
            self.loader.load_request = Some((worker.send(request), PageRead::Again(page)));
            return;
        }
        let behind = self.history.as_ref().map_or(0, |h| if h.failure().is_some() { 0 } else { h.len() - h.folded() });
        if let Some(cursor) = self.loader.next_page.clone()
            && behind < READ_AHEAD
        {
            self.loader.page_starts.push(cursor.clone());
            let request = Request::ReadStreamPage { stream, cursor, limit: LOAD_PAGE };
            self.loader.load_request = Some((worker.send(request), PageRead::Next));
        }
    }

    /// Takes a reply meant for this panel; false when it is not ours.
    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        let reply = self.bisect_reply(id, reply)?;
        let reply = self.fixture_reply(id, reply)?;
        let reply = self.follow_reply(id, reply)?;
        if Some(id) == self.loader.snapshot_request {
            self.loader.snapshot_request = None;
            if let Reply::Snapshots { snapshots, .. } = reply {
                self.snapshots = snapshots.into_iter().collect();
                self.view = None;
            }
            return None;
        }
        if Some(id) == self.loader.summary_request {
            self.loader.summary_request = None;
            if let Reply::StreamStarted { summary } = reply {
                let expected = summary.events_expected();
                self.loader.total = Some(expected);
                // A long stream: its newest page too, at once.
                let long = expected > 2 * LOAD_PAGE as i64 && expected - self.len() as i64 > LOAD_PAGE as i64;
                if long && !self.loader.done {
                    let from = summary.last_version.saturating_sub(LOAD_PAGE as i64 - 1).max(summary.first_version);
                    self.loader.tail_wanted = Some(EventCursor::from_version(from));
                }
            }
            return None;
        }
        if Some(id) == self.loader.tail_request {
            self.loader.tail_request = None;
            // Only a page that reaches the stream's end is its newest (duplicate versions can
            // make the page end before it: then the pages from the start get there instead).
            if let Reply::StreamPage { events, next: None } = reply {
                self.place_tail(events);
            }
            return None;
        }
        let Some((_, read)) = self.loader.load_request.filter(|(request, _)| *request == id) else {
            return Some(reply);
        };
        self.loader.load_request = None;
        match (reply, read) {
            (Reply::StreamPage { events, next }, PageRead::Next) => {
                self.loader.next_page = next;
                let done = self.loader.next_page.is_none();
                self.push_events(events, done);
            }
            (Reply::StreamPage { events, .. }, PageRead::Again(page)) => {
                if let Some(Err(message)) = self.history.as_mut().map(|h| h.restore_page(page, events)) {
                    self.loader.stream_changed = true;
                    self.set_failed(message);
                }
            }
            (Reply::Failed(message), _) => self.set_failed(message.to_string()),
            _ => {}
        }
        None
    }

    /// How many events to expect (for the progress bar).
    pub fn set_total(&mut self, total: i64) {
        self.loader.total = Some(total);
    }

    /// How many events were read so far, when that differs from the events shown (a projection
    /// reads the whole store but shows the events it selects).
    pub fn set_progress(&mut self, read: usize) {
        self.loader.progress = Some(read);
    }

    /// Loading stopped with this error; what was loaded stays browsable.
    pub fn set_failed(&mut self, message: String) {
        self.loader.load_error = Some(message);
        self.loader.next_page = None;
        self.loader.done = true;
        self.reconcile_tail();
    }

    /// Places the newest page, read at open, where its versions say it is (the cursor on its
    /// newest event, unless the user moved it), unless the pages from the start got there first.
    pub(super) fn place_tail(&mut self, events: Vec<Event>) {
        if events.is_empty() || self.loader.done {
            return;
        }
        let total = usize::try_from(self.loader.total.unwrap_or(0)).unwrap_or(0);
        let anchor = total.saturating_sub(events.len());
        let summaries = events.iter().map(EventSummary::of).collect();
        self.loader.tail = Some(Tail { anchor, events, summaries });
        self.reconcile_tail();
        if self.loader.follow_newest && self.loader.tail.is_some() {
            self.place_cursor(self.len().saturating_sub(1));
        }
        // A deep link into the newest page goes there now.
        if let Some(target) = self.loader.pending_version
            && let Some(index) = self.index_of(target)
        {
            self.loader.pending_version = None;
            self.place_cursor(index);
        }
    }

    /// Once the pages read from the start reach the newest page, it moves to its exact place
    /// (the cursor with it); once they hold it, it is let go.
    pub(super) fn reconcile_tail(&mut self) {
        let Some(tail) = &self.loader.tail else {
            return;
        };
        let head = self.history.as_ref().map_or(0, History::len);
        let head_last = self.history.as_ref().and_then(|h| h.summary(head.checked_sub(1)?)).map(|s| s.version);
        let (tail_first, tail_last) = (tail.summaries[0].version, tail.summaries[tail.summaries.len() - 1].version);
        let old_anchor = tail.anchor;
        // The version at the cursor, when the cursor is on the newest page.
        let on_tail = (self.cursor >= old_anchor.max(head))
            .then(|| tail.summaries.get(self.cursor - old_anchor).map(|s| s.version))
            .flatten();
        if self.loader.done || head_last.is_some_and(|v| v >= tail_last) {
            self.loader.tail = None;
            let index = on_tail.and_then(|v| self.history.as_ref()?.index_of_version(v));
            self.place_cursor(index.unwrap_or(self.cursor));
            return;
        }
        let anchor = match (head_last, &self.history) {
            (Some(last), Some(history)) if last >= tail_first => history.index_of_version(tail_first).unwrap_or(head),
            _ => old_anchor.max(head),
        };
        if anchor != old_anchor {
            if let Some(tail) = &mut self.loader.tail {
                tail.anchor = anchor;
            }
            if on_tail.is_some() {
                self.place_cursor(self.cursor - old_anchor + anchor);
            }
        }
    }

    /// The next page of events (in order); `done` on the last one.
    pub fn push_events(&mut self, events: Vec<Event>, done: bool) {
        if self.first_payload.is_none()
            && self.history.as_ref().is_none_or(History::is_empty)
            && let Some(Payload::Json(payload)) = events.first().map(|e| &*e.payload)
        {
            // (Kept apart: the first page may be let go, and the label menu needs it.)
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            self.first_payload = Some((category, payload.clone()));
        }
        if self.history.is_none() {
            let stream = self.stream.clone().unwrap_or_default();
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            if let Some(fold) = self.picker.fold.as_mut().filter(|f| f.scope == FoldScope::Category(String::new())) {
                fold.scope = FoldScope::Category(category.clone());
            }
            let mut history = History::new(stream.as_str().into(), self.make_fold(&stream, &category));
            if self.mode == Mode::Stream && !self.loader.page_starts.is_empty() {
                // Pages read from the store can be read again: keep a window of them.
                history.set_window(Some(WINDOW_EVENTS));
            }
            self.history = Some(history);
        }
        let was_empty = self.len() == 0;
        let ordinal = |event: &Event, index: usize| self.ordinal(event.version, event.position, index);
        let last_ordinal = events.last().map(|e| ordinal(e, self.len() + events.len() - 1));
        let first_ordinal = events.first().map(|e| ordinal(e, self.len()));
        if let Some(history) = &mut self.history {
            history.append_events(events);
        }
        self.loader.done = done;
        self.reconcile_tail();
        if was_empty {
            self.place_cursor(0);
            self.diff.compare_a = first_ordinal.unwrap_or(0);
        }
        if self.loader.follow_newest {
            self.place_cursor(self.len().saturating_sub(1));
        }
        if let Some(last) = last_ordinal {
            self.diff.compare_b = last;
        }
        if let Some(target) = self.loader.pending_version {
            let reached = last_ordinal.is_some_and(|last| last >= target);
            if reached || done {
                self.loader.pending_version = None;
                self.timeline.jump_error = self.jump_to_version(target).err();
            }
        }
    }
}
