//! Loading a stream: page by page as the fold keeps up (at most a read-ahead of unfolded
//! events), its newest page first for a long stream (placed by its version span, then exactly
//! once the pages meet), pages let go of read again by the keyset cursor they were first read
//! from, and a stream changed while open said so.

use super::*;

impl HistoryPanel {
    /// Stops a load in progress, if any.
    pub fn cancel_load(&mut self, worker: &mut Worker) {
        if let Some((id, _)) = self.load_request.take() {
            worker.send(Request::Cancel { id });
        }
        self.next_page = None;
        self.done = true;
        self.reconcile_tail();
    }

    /// Starts loading a stream (cancelling a load in progress). The fold is chosen when the
    /// first page shows the stream's category.
    pub fn open_stream(&mut self, stream: &str, worker: &mut Worker) {
        self.cancel_load(worker);
        *self = HistoryPanel {
            layout: std::mem::take(&mut self.layout),
            tab: self.tab,
            show_blame: self.show_blame,
            fold: self.fold.take(),
            ..HistoryPanel::default()
        };
        self.stream = Some(stream.to_owned());
        self.follow_newest = true;
        self.next_page = Some(EventCursor::from_version(i64::MIN));
        self.pump(worker);
        self.summary_request = Some(worker.send(Request::StreamSummary { stream: stream.to_owned() }));
        self.snapshot_request = Some(worker.send(Request::Snapshots { stream: stream.to_owned() }));
    }

    /// Asks the worker for the page the stream needs next, when no read is in progress: a
    /// page the fold, a state or the cursor's event needs again, else the next page of the
    /// stream while folding keeps up (so memory stays bounded however fast the store reads).
    /// Called every frame.
    pub fn pump(&mut self, worker: &mut Worker) {
        if std::mem::take(&mut self.reopen)
            && let Some(stream) = self.stream.clone()
        {
            // The stream changed under a page read again: read it all again, at the same version.
            let version = self.cursor_version();
            self.open_stream(&stream, worker);
            self.go_to_version_when_loaded(version);
            return;
        }
        if self.mode != Mode::Stream || self.load_error.is_some() {
            return;
        }
        let Some(stream) = self.stream.clone() else {
            return;
        };
        if let Some(cursor) = self.tail_wanted.take() {
            // One more than the page: a page that reaches the end comes back short of the limit,
            // and so says it is the last.
            let request = Request::ReadStreamPage { stream: stream.clone(), cursor, limit: LOAD_PAGE + 1 };
            self.tail_request = Some(worker.send(request));
        }
        if self.load_request.is_some() {
            return;
        }
        let again = self.history.as_ref().and_then(|history| {
            let cursor_page = history.page_of(self.cursor).filter(|&page| !history.is_page_resident(page));
            history.wanted_page().or(cursor_page)
        });
        if let Some(page) = again
            && let Some(cursor) = self.page_starts.get(page)
        {
            let request = Request::ReadStreamPage { stream, cursor: cursor.clone(), limit: LOAD_PAGE };
            self.load_request = Some((worker.send(request), PageRead::Again(page)));
            return;
        }
        let behind = self.history.as_ref().map_or(0, |h| if h.failure().is_some() { 0 } else { h.len() - h.folded() });
        if let Some(cursor) = self.next_page.clone()
            && behind < READ_AHEAD
        {
            self.page_starts.push(cursor.clone());
            let request = Request::ReadStreamPage { stream, cursor, limit: LOAD_PAGE };
            self.load_request = Some((worker.send(request), PageRead::Next));
        }
    }

    /// Takes a reply meant for this panel; false when it is not ours.
    /// Takes a reply to one of this panel's requests; any other reply is handed back.
    pub fn on_reply(&mut self, id: RequestId, reply: Reply) -> Option<Reply> {
        if Some(id) == self.snapshot_request {
            self.snapshot_request = None;
            if let Reply::Snapshots { snapshots, .. } = reply {
                self.snapshots = snapshots.into_iter().collect();
                self.view = None;
            }
            return None;
        }
        if Some(id) == self.summary_request {
            self.summary_request = None;
            if let Reply::StreamStarted { summary } = reply {
                self.total = Some(summary.events);
                // A long stream: its newest page too, at once.
                let long =
                    summary.events > 2 * LOAD_PAGE as i64 && summary.events - self.len() as i64 > LOAD_PAGE as i64;
                if long && !self.done {
                    let from = summary.last_version.saturating_sub(LOAD_PAGE as i64 - 1).max(summary.first_version);
                    self.tail_wanted = Some(EventCursor::from_version(from));
                }
            }
            return None;
        }
        if Some(id) == self.tail_request {
            self.tail_request = None;
            // Only a page that reaches the stream's end is its newest (duplicate versions can
            // make the page end before it: then the pages from the start get there instead).
            if let Reply::StreamPage { events, next: None } = reply {
                self.place_tail(events);
            }
            return None;
        }
        let Some((_, read)) = self.load_request.filter(|(request, _)| *request == id) else {
            return Some(reply);
        };
        self.load_request = None;
        match (reply, read) {
            (Reply::StreamPage { events, next }, PageRead::Next) => {
                self.next_page = next;
                let done = self.next_page.is_none();
                self.push_events(events, done);
            }
            (Reply::StreamPage { events, .. }, PageRead::Again(page)) => {
                if let Some(Err(message)) = self.history.as_mut().map(|h| h.restore_page(page, events)) {
                    self.stream_changed = true;
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
        self.total = Some(total);
    }

    /// How many events were read so far, when that differs from the events shown (a projection
    /// reads the whole store but shows the events it selects).
    pub fn set_progress(&mut self, read: usize) {
        self.progress = Some(read);
    }

    /// Loading stopped with this error; what was loaded stays browsable.
    pub fn set_failed(&mut self, message: String) {
        self.load_error = Some(message);
        self.next_page = None;
        self.done = true;
        self.reconcile_tail();
    }

    /// Places the newest page, read at open, where its versions say it is (the cursor on its
    /// newest event, unless the user moved it), unless the pages from the start got there first.
    pub(super) fn place_tail(&mut self, events: Vec<Event>) {
        if events.is_empty() || self.done {
            return;
        }
        let total = usize::try_from(self.total.unwrap_or(0)).unwrap_or(0);
        let anchor = total.saturating_sub(events.len());
        let summaries = events.iter().map(EventSummary::of).collect();
        self.tail = Some(Tail { anchor, events, summaries });
        self.reconcile_tail();
        if self.follow_newest && self.tail.is_some() {
            self.place_cursor(self.len().saturating_sub(1));
        }
        // A deep link into the newest page goes there now.
        if let Some(target) = self.pending_version
            && let Some(index) = self.index_of(target)
        {
            self.pending_version = None;
            self.place_cursor(index);
        }
    }

    /// Once the pages read from the start reach the newest page, it moves to its exact place
    /// (the cursor with it); once they hold it, it is let go.
    pub(super) fn reconcile_tail(&mut self) {
        let Some(tail) = &self.tail else {
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
        if self.done || head_last.is_some_and(|v| v >= tail_last) {
            self.tail = None;
            let index = on_tail.and_then(|v| self.history.as_ref()?.index_of_version(v));
            self.place_cursor(index.unwrap_or(self.cursor));
            return;
        }
        let anchor = match (head_last, &self.history) {
            (Some(last), Some(history)) if last >= tail_first => history.index_of_version(tail_first).unwrap_or(head),
            _ => old_anchor.max(head),
        };
        if anchor != old_anchor {
            if let Some(tail) = &mut self.tail {
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
            && let Some(Event { payload: Payload::Json(payload), .. }) = events.first()
        {
            // (Kept apart: the first page may be let go, and the label menu needs it.)
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            self.first_payload = Some((category, payload.clone()));
        }
        if self.history.is_none() {
            let stream = self.stream.clone().unwrap_or_default();
            let category = events.first().map(|e| e.category().to_owned()).unwrap_or_default();
            if let Some(fold) = self.fold.as_mut().filter(|f| f.scope == FoldScope::Category(String::new())) {
                fold.scope = FoldScope::Category(category.clone());
            }
            let mut history = History::new(stream.as_str().into(), self.make_fold(&stream, &category));
            if self.mode == Mode::Stream && !self.page_starts.is_empty() {
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
        self.done = done;
        self.reconcile_tail();
        if was_empty {
            self.place_cursor(0);
            self.compare_a = first_ordinal.unwrap_or(0);
        }
        if self.follow_newest {
            self.place_cursor(self.len().saturating_sub(1));
        }
        if let Some(last) = last_ordinal {
            self.compare_b = last;
        }
        if let Some(target) = self.pending_version {
            let reached = last_ordinal.is_some_and(|last| last >= target);
            if reached || done {
                self.pending_version = None;
                self.jump_error = self.jump_to_version(target).err();
            }
        }
    }
}
