//! The background worker: one thread that owns the tokio runtime and the open store. The UI sends
//! it typed [`Request`]s and drains typed [`Reply`]s tagged with the request id, never blocking;
//! after each reply the worker calls the wake-up hook (the UI's `request_repaint`). Requests run
//! concurrently, so a long stream loading page by page never holds up the streams list.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, mpsc};

use crate::audit::AuditError;
use crate::audit::{ActorSummary, AuditFilter, CauseNode, ExportFormat, Histogram};
use crate::model::{Event, Payload, StreamSummary};
use crate::projection::sql::{Definition, PreviewError, PreviewLimits, PreviewPermissions, ResultSet};
use crate::store::StoreError;
use crate::store::layout::{Catalog, Layout};
use crate::store::pg_guard::RolePrivileges;
use crate::store::query::{Dialect, LogCursor, LogSelection};
use crate::store::query::{StreamQuery, StreamSort};
use crate::store::{CancelToken, EventCursor, LogPage, Store, StoreCounts, StreamPage, Target};

/// Identifies a request; every reply carries the id of the request it answers.
pub type RequestId = u64;

/// What the UI asks of the worker.
#[derive(Clone, Debug)]
pub enum Request {
    /// Open a store (closing the one open before) and recognise its layout.
    Open { target: Target, layout: Option<String> },
    /// Open the workshop store, creating it in the user's data directory the first time.
    OpenWorkshop,
    /// Open a store with a layout given as data (the mapping form's).
    OpenWithLayout { target: Target, layout: Box<Layout> },
    /// The tables and columns of a database that is not (yet) mapped.
    Catalog { target: Target },
    /// Try a layout on a database: its first few events in store order.
    SampleLayout { target: Target, layout: Box<Layout> },
    /// Use this cipher key (base64) to decrypt payloads, or none; it is never stored.
    SetCipherKey { key: Option<String> },
    /// The snapshots the store keeps of a stream.
    Snapshots { stream: String },
    /// One page of the streams list of the open store.
    Streams { query: StreamQuery },
    /// How many streams match a search.
    CountStreams { search: String },
    /// The first `top` streams matching a search in an order no index gives (most events, most
    /// recent), from one pass over the store in the background: [`Reply::StreamsRead`] as it
    /// goes, then [`Reply::TopStreams`] (cancellable).
    TopStreams { search: String, sort: StreamSort, top: usize },
    /// The exact number of streams and events (reads the whole store).
    ExactCounts,
    /// The lesson the store holds, if it is a lesson file: a [`Reply::Lesson`].
    ReadLesson,
    /// A stream's summary (event count, versions) from the index: a [`Reply::StreamStarted`].
    StreamSummary { stream: String },
    /// The first event of each of these streams (their labels come from it): a
    /// [`Reply::FirstEvents`]. One indexed read per stream.
    FirstEvents { streams: Vec<String> },
    /// Up to `limit` events of a stream from a cursor on: a [`Reply::StreamPage`]. The history
    /// view reads a stream page by page as its fold keeps up, and reads again the pages it let
    /// go of (a long stream is held a window at a time).
    ReadStreamPage { stream: String, cursor: EventCursor, limit: usize },
    /// [`Request::ReadStreamPage`] for a follower: a SQLite file read as it was when opened (no
    /// writer had it open) is opened again first once a writer has opened or changed it.
    FollowStream { stream: String, cursor: EventCursor, limit: usize },
    /// The events appended under an audit filter since the last such request with that filter
    /// (the first one starts following from the newest event): [`Reply::LogFollowed`].
    FollowLog { filter: AuditFilter },
    /// Read the store's log in global order, the events the selection keeps (filtered by the
    /// database, in one streamed query): for the whole log a [`Reply::LogStarted`] with the event
    /// count, then [`Reply::EventsPage`]s of `page_size` events until one says `done` (or it is
    /// cancelled).
    LoadLog { page_size: usize, selection: LogSelection },
    /// Preview a SQL projection definition (read-only, with these limits), and read the
    /// deployed relation it names, when there is one, for the comparison.
    Preview { text: String, limits: PreviewLimits, permissions: PreviewPermissions },
    /// One page of the global log under an audit filter.
    AuditPage { filter: AuditFilter, cursor: LogCursor, forward: bool, limit: usize },
    /// The counts under an audit filter: total, by type, over time (about `bars` bars), by actor.
    AuditSummary { filter: AuditFilter, bars: usize },
    /// The metadata keys of the newest events, to offer as filters.
    MetadataKeys,
    /// The events correlated with this one, the event that caused it, and what it caused.
    Correlation { event: Box<Event> },
    /// Write every event under the filter to a file, one page at a time, with progress.
    Export { filter: AuditFilter, format: ExportFormat, path: std::path::PathBuf },
    /// Compare every stored snapshot with the state recomputed from the events, a stream at a
    /// time (the script where its scope applies, the merge fold elsewhere): a
    /// [`Reply::SnapshotsChecked`] as it goes, then a [`Reply::SnapshotCheck`] (cancellable).
    CheckSnapshots { script: Option<ScriptFold> },
    /// The first version where a condition holds, in every stream of a category (the script
    /// where its scope applies, the merge fold elsewhere): [`Reply::BisectProgress`] as it
    /// goes, then a [`Reply::CategoryBisection`] (cancellable).
    BisectCategory { category: String, condition: String, script: Option<ScriptFold> },
    /// Cut a given/when/then test fixture from versions `from..=to` of a stream, folded with
    /// the script (the merge fold without one), the `masks` paths masked first:
    /// [`Reply::Fixture`].
    CutFixture { stream: String, from: i64, to: i64, script: Option<ScriptFold>, masks: Vec<String> },
    /// Run a what-if script over every stream (of its category), folding each touched stream
    /// before and after with `fold` where its scope applies (the merge fold elsewhere):
    /// [`Reply::WhatIfProgress`] as it goes, then [`Reply::WhatIf`] (cancellable).
    WhatIf { name: String, source: String, fold: Option<ScriptFold> },
    /// Run a SQL projection on the store as it is and as a what-if's outcome would leave it, and
    /// compare the rows by `key` (default: the first column): [`Reply::WhatIfReadModel`].
    WhatIfReadModel {
        outcome: Box<crate::whatif::Outcome>,
        text: String,
        key: Option<String>,
        limits: PreviewLimits,
        permissions: PreviewPermissions,
    },
    /// Infer every event type's schema from the whole log, then check every event against it:
    /// [`Reply::SchemaProgress`] as it goes, then [`Reply::SchemaSurvey`] (cancellable).
    SurveySchemas,
    /// Stop a running request (a stream load); no more replies come for it.
    Cancel { id: RequestId },
}

/// What the worker answers.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The store is open.
    Opened {
        target: Target,
        description: String,
        dialect: Dialect,
        layout: Box<Layout>,
        layouts: Vec<Layout>,
        counts: StoreCounts,
        /// What the PostgreSQL role may do (`None` on SQLite).
        role: Option<RolePrivileges>,
        /// The index that would give the log its order, when none does (see
        /// [`Store::log_order_advice`]).
        log_advice: Option<String>,
    },
    /// One page of the streams list.
    Streams(StreamPage),
    /// The exact counts of the open store.
    Counts(StoreCounts),
    /// The store was opened again to follow it (a SQLite file a writer opened since): how it is
    /// open now, for the status bar. Sent unasked, with the request id 0.
    Reopened {
        description: String,
    },
    /// The lesson the store holds (`None`: it holds none).
    Lesson(Option<Box<crate::lesson::Lesson>>),
    /// How many streams a [`Request::TopStreams`] has read so far.
    StreamsRead(usize),
    /// How far a [`Request::CheckSnapshots`] is (streams checked, of how many), with the last
    /// stream checked when a snapshot of it does not match.
    SnapshotsChecked {
        done: usize,
        total: usize,
        finding: Option<Box<crate::drift::StreamCheck>>,
    },
    /// Every snapshot checked.
    SnapshotCheck(Box<crate::drift::StoreCheck>),
    /// How many streams a [`Request::BisectCategory`] has checked, with the last one when the
    /// condition holds in it.
    BisectProgress {
        checked: usize,
        found: Option<Box<crate::bisect::Bisection>>,
    },
    /// Every stream of the category bisected.
    CategoryBisection(Box<crate::bisect::CategoryBisection>),
    /// How far a [`Request::SurveySchemas`] is: the phase ("inferring", "checking") and the
    /// events read in it.
    SchemaProgress {
        phase: &'static str,
        events: u64,
    },
    /// Every type's schema, and the events that do not fit it.
    SchemaSurvey(Box<(Vec<crate::schema::InferredType>, crate::schema::Check)>),
    /// How many streams a [`Request::WhatIf`] has shown the script.
    WhatIfProgress {
        streams: usize,
    },
    /// What the script would change.
    WhatIf(Box<crate::whatif::Outcome>),
    /// The events appended under a followed audit filter, in store order.
    LogFollowed {
        events: Vec<Event>,
    },
    /// How a read model would change ([`Request::WhatIfReadModel`]), or why it could not be run.
    WhatIfReadModel(Box<Result<crate::whatif::read_model::ReadModelChange, PreviewError>>),
    /// A fixture cut ([`Request::CutFixture`]).
    Fixture(Box<crate::fixture::Fixture>),
    /// The first streams in the order a [`Request::TopStreams`] asked for.
    TopStreams(crate::store::TopStreams),
    /// The number of streams matching a search.
    StreamCount {
        search: String,
        count: i64,
    },
    /// A stream's summary (event count, versions).
    StreamStarted {
        summary: StreamSummary,
    },
    /// The first event of each stream asked for (`None`: it has none, or it could not be read).
    FirstEvents(Vec<(String, Option<Event>)>),
    /// A read of the whole store began: how many events it holds.
    LogStarted {
        total: i64,
    },
    /// A page of a stream's events and where the page after it starts (`None`: the last).
    StreamPage {
        events: Vec<Event>,
        next: Option<EventCursor>,
    },
    /// The next events of the store's log being read; `done` on the last page.
    EventsPage {
        stream: String,
        events: Vec<Event>,
        done: bool,
    },
    /// A database's tables.
    Catalog(Catalog),
    /// The first events a layout reads.
    Sample(Vec<Event>),
    /// The cipher key is in use (or cleared).
    CipherKeySet,
    /// A stream's stored snapshots: (version, state).
    Snapshots {
        stream: String,
        snapshots: Vec<(i64, Payload)>,
    },
    /// A page of the audited log.
    AuditPage(LogPage),
    /// Counts under an audit filter (`None` where the layout cannot say: no time, no metadata).
    AuditSummary {
        count: i64,
        types: Vec<(String, i64)>,
        histogram: Option<Histogram>,
        actors: Option<Vec<ActorSummary>>,
    },
    MetadataKeys(Vec<String>),
    Correlation {
        correlated: Vec<Event>,
        caused_by: Option<Box<Event>>,
        tree: Box<CauseNode>,
    },
    /// An export has written this many events so far.
    ExportProgress {
        written: usize,
    },
    /// An export is complete.
    Exported {
        written: usize,
        path: std::path::PathBuf,
    },
    /// The outcome of a preview.
    Preview(Box<PreviewReply>),
    /// The request failed: the cause, whose message says what went wrong and what to do.
    Failed(Failure),
}

impl Reply {
    /// Decodes the events a reply carries: the window keeps and shows them, so they are decoded
    /// here, off the UI thread, and hold their values only (see [`crate::model::StoredPayload`]).
    fn settle_events(&mut self) {
        let events: Box<dyn Iterator<Item = &mut Event>> = match self {
            Reply::LogFollowed { events } | Reply::StreamPage { events, .. } | Reply::EventsPage { events, .. } => {
                Box::new(events.iter_mut())
            }
            Reply::Sample(events) => Box::new(events.iter_mut()),
            Reply::FirstEvents(firsts) => Box::new(firsts.iter_mut().filter_map(|(_, e)| e.as_mut())),
            Reply::AuditPage(page) => Box::new(page.events.iter_mut()),
            Reply::Correlation { correlated, caused_by, .. } => {
                Box::new(correlated.iter_mut().chain(caused_by.as_deref_mut()))
            }
            _ => return,
        };
        events.for_each(Event::settle);
    }
}

/// A JavaScript fold sent to the worker: its name, its source and where it applies.
#[derive(Clone, Debug)]
pub struct ScriptFold {
    pub name: String,
    pub source: String,
    pub scope: crate::fold::FoldScope,
}

/// Why a request failed, the cause kept, so that the window decides by its kind (not by the
/// words of its message) and moves it where it is shown.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An audit question this store cannot answer, or its query failed.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A long read stopped part-way; what it read stays browsable.
    #[error("{what} stopped: {cause}; the events read so far stay browsable")]
    Interrupted { what: String, cause: StoreError },
    /// No store is open yet.
    #[error("no store is open: open a SQLite file or a PostgreSQL URL first")]
    NoStore,
    /// The request was cancelled (how far it got).
    #[error("{0}")]
    Cancelled(String),
    /// A file the request writes (an export) could not be written.
    #[error("{0}")]
    File(String),
    /// The workshop store could not be written.
    #[error("{0}")]
    Workshop(String),
    /// eventscope itself failed (a panic isolated, the worker could not start): a bug to report.
    #[error("{0}")]
    Internal(String),
}

/// What a preview gave.
#[derive(Clone, Debug)]
pub struct PreviewReply {
    /// The definition as read (when it could be read).
    pub definition: Option<Definition>,
    pub result: Result<ResultSet, PreviewError>,
    /// The deployed relation's rows, when the definition names one that exists.
    pub deployed: Option<Result<ResultSet, PreviewError>>,
}

type Wake = Arc<dyn Fn() + Send + Sync>;

struct Shared {
    store: tokio::sync::RwLock<Option<Arc<Store>>>,
    cancelled: Mutex<HashSet<RequestId>>,
    /// Running previews, to cancel them in the database.
    previews: Mutex<std::collections::HashMap<RequestId, CancelToken>>,
    /// The audit filter followed, and its follower (taken out while it polls).
    log_follower: Mutex<Option<(AuditFilter, crate::follow::Follower)>>,
    replies: Mutex<mpsc::Sender<(RequestId, Reply)>>,
    wake: Wake,
}

impl Shared {
    /// Sends a reply; false when the window is gone (nobody reads replies any more).
    fn reply(&self, id: RequestId, mut reply: Reply) -> bool {
        reply.settle_events();
        let sent = self.replies.lock().is_ok_and(|tx| tx.send((id, reply)).is_ok());
        (self.wake)();
        sent
    }

    fn is_cancelled(&self, id: RequestId) -> bool {
        self.cancelled.lock().map(|c| c.contains(&id)).unwrap_or(false)
    }

    async fn store(&self) -> Result<Arc<Store>, Failure> {
        self.store.read().await.clone().ok_or(Failure::NoStore)
    }
}

/// The UI's handle on the worker thread.
pub struct Worker {
    requests: tokio::sync::mpsc::UnboundedSender<(RequestId, Request)>,
    replies: mpsc::Receiver<(RequestId, Reply)>,
    next_id: RequestId,
}

impl Worker {
    /// Starts the worker thread; `wake` is called after every reply.
    pub fn spawn(wake: impl Fn() + Send + Sync + 'static) -> Worker {
        let (request_tx, mut request_rx) = tokio::sync::mpsc::unbounded_channel::<(RequestId, Request)>();
        let (reply_tx, reply_rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            store: tokio::sync::RwLock::new(None),
            cancelled: Mutex::new(HashSet::new()),
            previews: Mutex::new(std::collections::HashMap::new()),
            log_follower: Mutex::new(None),
            replies: Mutex::new(reply_tx),
            wake: Arc::new(wake),
        });
        let thread_shared = shared.clone();
        let started = std::thread::Builder::new().name("eventscope-worker".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    thread_shared
                        .reply(0, Reply::Failed(Failure::Internal(format!("cannot start the database worker: {e}"))));
                    return;
                }
            };
            runtime.block_on(async move {
                while let Some((id, request)) = request_rx.recv().await {
                    let shared = thread_shared.clone();
                    if let Request::Cancel { id: target } = request {
                        if let Ok(mut c) = shared.cancelled.lock() {
                            c.insert(target);
                        }
                        let token = shared.previews.lock().ok().and_then(|p| p.get(&target).cloned());
                        if let Some(token) = token {
                            tokio::spawn(async move {
                                if let Ok(store) = shared.store().await {
                                    store.cancel_preview(&token).await;
                                } else {
                                    token.cancel();
                                }
                            });
                        }
                        continue;
                    }
                    tokio::spawn(async move {
                        let inner = shared.clone();
                        if let Err(message) = isolate(async move { handle(&inner, id, request).await }).await
                            && !shared.is_cancelled(id)
                        {
                            shared.reply(id, Reply::Failed(Failure::Internal(message)));
                        }
                    });
                }
                if let Some(store) = thread_shared.store.write().await.take()
                    && let Ok(store) = Arc::try_unwrap(store)
                {
                    store.close().await;
                }
            });
        });
        if let Err(e) = started {
            shared.reply(0, Reply::Failed(Failure::Internal(format!("cannot start the database worker: {e}"))));
        }
        Worker { requests: request_tx, replies: reply_rx, next_id: 1 }
    }

    /// Sends a request; returns its id.
    pub fn send(&mut self, request: Request) -> RequestId {
        let id = self.next_id;
        self.next_id += 1;
        let _ = self.requests.send((id, request));
        id
    }

    /// The next reply, if one is waiting (never blocks).
    pub fn try_recv(&self) -> Option<(RequestId, Reply)> {
        self.replies.try_recv().ok()
    }
}

/// Runs `work` so that a panic inside it — a bug, or a database driver choking on what a
/// server sent — becomes an error for this one request instead of ending the worker (or the
/// command line).
pub async fn isolate<T>(work: impl Future<Output = T>) -> Result<T, String> {
    use futures_util::FutureExt as _;
    match std::panic::AssertUnwindSafe(work).catch_unwind().await {
        Ok(value) => Ok(value),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_owned());
            Err(format!(
                "eventscope hit an internal error and stopped this request (the rest goes on): {}; \
                 please report it",
                what.lines().next().unwrap_or_default()
            ))
        }
    }
}

async fn handle(shared: &Arc<Shared>, id: RequestId, request: Request) {
    let result = match request {
        Request::Open { target, layout } => open(shared, target, layout).await,
        Request::OpenWithLayout { target, layout } => open_with_layout(shared, target, *layout).await,
        Request::Catalog { target } => Store::catalog_of(&target).await.map(Reply::Catalog).map_err(Failure::from),
        Request::SampleLayout { target, layout } => sample(target, *layout).await,
        Request::SetCipherKey { key } => match shared.store().await {
            Ok(store) => store.set_cipher_key(key.as_deref()).map(|()| Reply::CipherKeySet).map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::Snapshots { stream } => match shared.store().await {
            Ok(store) => store
                .snapshots(&stream)
                .await
                .map(|snapshots| Reply::Snapshots { stream, snapshots })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::OpenWorkshop => match crate::demo::ensure_workshop_store().await {
            Ok(path) => open(shared, Target::Sqlite(path), None).await,
            Err(e) => Err(Failure::Workshop(e.to_string())),
        },
        Request::Streams { query } => match shared.store().await {
            Ok(store) => store.list_streams(&query).await.map(Reply::Streams).map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::TopStreams { search, sort, top } => top_streams(shared, id, search, sort, top).await,
        Request::CheckSnapshots { script } => check_snapshots(shared, id, script).await,
        Request::BisectCategory { category, condition, script } => {
            bisect_category(shared, id, category, condition, script).await
        }
        Request::SurveySchemas => survey_schemas(shared, id).await,
        Request::WhatIf { name, source, fold } => what_if(shared, id, name, source, fold).await,
        Request::WhatIfReadModel { outcome, text, key, limits, permissions } => {
            what_if_read_model(shared, id, &outcome, &text, key.as_deref(), limits, &permissions).await
        }
        Request::CutFixture { stream, from, to, script, masks } => {
            cut_fixture(shared, stream, from, to, script, masks).await
        }
        Request::ExactCounts => match shared.store().await {
            Ok(store) => store.exact_counts().await.map(Reply::Counts).map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::ReadLesson => match shared.store().await {
            Ok(store) => match crate::lesson::read(&store).await {
                Ok(lesson) => Ok(Reply::Lesson(lesson.map(Box::new))),
                Err(e) => Err(Failure::File(e.to_string())),
            },
            Err(e) => Err(e),
        },
        Request::CountStreams { search } => match shared.store().await {
            Ok(store) => store
                .count_streams(&search)
                .await
                .map(|count| Reply::StreamCount { search, count })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::StreamSummary { stream } => match shared.store().await {
            Ok(store) => store
                .stream_summary(&stream)
                .await
                .map(|summary| Reply::StreamStarted { summary })
                .map_err(Failure::from),
            Err(e) => Err(e),
        },
        Request::FirstEvents { streams } => match shared.store().await {
            Ok(store) => {
                let mut firsts = Vec::with_capacity(streams.len());
                for stream in streams {
                    let page = store.read_stream(&stream, EventCursor::from_version(i64::MIN), 1).await;
                    let first = page.ok().and_then(|p| p.events.into_iter().next());
                    firsts.push((stream, first));
                }
                Ok(Reply::FirstEvents(firsts))
            }
            Err(e) => Err(e),
        },
        Request::ReadStreamPage { stream, cursor, limit } => match shared.store().await {
            Ok(store) => store
                .read_stream(&stream, cursor, limit)
                .await
                .map(|page| Reply::StreamPage { events: page.events, next: page.next })
                .map_err(|cause| Failure::Interrupted { what: format!("reading stream {stream}"), cause }),
            Err(e) => Err(e),
        },
        Request::FollowStream { stream, cursor, limit } => follow_stream(shared, &stream, cursor, limit).await,
        Request::FollowLog { filter } => follow_log(shared, filter).await,
        Request::LoadLog { page_size, selection } => load_log(shared, id, page_size, selection).await,
        Request::Preview { text, limits, permissions } => preview(shared, id, text, limits, permissions).await,
        Request::AuditPage { filter, cursor, forward, limit } => match shared.store().await {
            Ok(store) => {
                store.audit_page(&filter, &cursor, forward, limit).await.map(Reply::AuditPage).map_err(Failure::from)
            }
            Err(e) => Err(e),
        },
        Request::AuditSummary { filter, bars } => audit_summary(shared, id, filter, bars).await,
        Request::MetadataKeys => match shared.store().await {
            Ok(store) => Ok(Reply::MetadataKeys(store.audit_metadata_keys(1_000).await.unwrap_or_default())),
            Err(e) => Err(e),
        },
        Request::Correlation { event } => correlation(shared, *event).await,
        Request::Export { filter, format, path } => export(shared, id, filter, format, path).await,
        Request::Cancel { .. } => return,
    };
    if shared.is_cancelled(id) {
        return;
    }
    shared.reply(id, result.unwrap_or_else(Reply::Failed));
}

async fn open(shared: &Shared, target: Target, layout: Option<String>) -> Result<Reply, Failure> {
    let store = Store::open(target.clone(), layout.as_deref()).await.map_err(Failure::from)?;
    install(shared, target, store).await
}

async fn open_with_layout(shared: &Shared, target: Target, layout: Layout) -> Result<Reply, Failure> {
    let store = Store::open_with_layout(target.clone(), layout).await.map_err(Failure::from)?;
    install(shared, target, store).await
}

async fn sample(target: Target, layout: Layout) -> Result<Reply, Failure> {
    let store = Store::open_with_layout(target, layout).await.map_err(Failure::from)?;
    let page = store.read_log(&LogCursor::Edge, true, 5).await.map_err(Failure::from);
    store.close().await;
    Ok(Reply::Sample(page?.events))
}

/// Makes `store` the open store (closing the one before) and says so.
async fn install(shared: &Shared, target: Target, store: Store) -> Result<Reply, Failure> {
    let counts = store.counts().await.map_err(Failure::from)?;
    let log_advice = store.log_order_advice().await;
    let reply = Reply::Opened {
        log_advice,
        target,
        description: store.describe(),
        dialect: store.dialect(),
        layout: Box::new(store.layout.clone()),
        layouts: store.layouts.clone(),
        counts,
        role: store.role.clone(),
    };
    let previous = shared.store.write().await.replace(Arc::new(store));
    if let Some(previous) = previous
        && let Ok(previous) = Arc::try_unwrap(previous)
    {
        previous.close().await;
    }
    Ok(reply)
}

/// Sorts all streams in the background, saying how far it got; a cancel stops the pass at the
/// next thousand streams (or, while the database has not answered yet, stops waiting for it).
async fn top_streams(
    shared: &Shared,
    id: RequestId,
    search: String,
    sort: StreamSort,
    top: usize,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let mut progress = |read: usize| {
        shared.reply(id, Reply::StreamsRead(read));
        !shared.is_cancelled(id)
    };
    let pass = store.top_streams(&search, sort, top, &mut progress);
    let cancelled = async {
        while !shared.is_cancelled(id) {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::select! {
        sorted = pass => match sorted.map_err(Failure::from)? {
            Some(top) => Ok(Reply::TopStreams(top)),
            None => Err(Failure::Cancelled("cancelled".to_owned())),
        },
        () = cancelled => Err(Failure::Cancelled("cancelled".to_owned())),
    }
}

/// The fold script sent with a request, compiled (on the thread that runs it: a JavaScript fold
/// cannot move between threads).
fn compile_script(
    script: Option<ScriptFold>,
) -> Result<Option<(crate::fold::JsFold, crate::fold::FoldScope)>, Failure> {
    script
        .map(|s| match crate::fold::JsFold::from_source(&s.name, &s.source) {
            Ok(fold) => Ok((fold, s.scope)),
            Err(e) => Err(Failure::File(format!("the fold {} cannot be used: {e}", s.name))),
        })
        .transpose()
}

/// The snapshot check runs on a blocking thread (a JavaScript fold cannot move between the
/// runtime's threads), reading through the runtime's handle.
async fn check_snapshots(shared: &Arc<Shared>, id: RequestId, script: Option<ScriptFold>) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let shared = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    let check = tokio::task::spawn_blocking(move || {
        let mut script = compile_script(script)?;
        let mut folds = crate::drift::Folds::new(
            script.as_mut().map(|(fold, scope)| (fold as &mut dyn crate::fold::Fold, scope.clone())),
        );
        let mut last_said = std::time::Instant::now();
        let mut progress = |check: Option<&crate::drift::StreamCheck>, done: usize, total: usize| {
            let finding = check.filter(|c| !c.others.is_empty() || c.error.is_some()).map(|c| Box::new(c.clone()));
            // (A window closed mid-check stops it: the runtime waits for this thread on exit.)
            let mut window_open = true;
            if finding.is_some() || done == total || last_said.elapsed() >= std::time::Duration::from_millis(100) {
                last_said = std::time::Instant::now();
                window_open = shared.reply(id, Reply::SnapshotsChecked { done, total, finding });
            }
            window_open && !shared.is_cancelled(id)
        };
        runtime.block_on(crate::drift::check_store(&store, None, &mut folds, &mut progress)).map_err(Failure::from)
    })
    .await
    .map_err(|e| Failure::Internal(format!("the snapshot check failed: {e}")))??;
    match check {
        Some(check) => Ok(Reply::SnapshotCheck(Box::new(check))),
        None => Err(Failure::Cancelled("cancelled".to_owned())),
    }
}

/// Like the snapshot check, on a blocking thread (the fold and the condition are JavaScript).
async fn bisect_category(
    shared: &Arc<Shared>,
    id: RequestId,
    category: String,
    condition: String,
    script: Option<ScriptFold>,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let shared = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    let found = tokio::task::spawn_blocking(move || {
        let condition = crate::bisect::Condition::new(&condition)
            .map_err(|e| Failure::File(format!("the condition cannot be used: {e}")))?;
        let mut script = compile_script(script)?;
        let mut folds = crate::fold::Folds::new(
            script.as_mut().map(|(fold, scope)| (fold as &mut dyn crate::fold::Fold, scope.clone())),
        );
        let mut last_said = std::time::Instant::now();
        let mut progress = |checked: usize, found: Option<&crate::bisect::Bisection>| {
            let mut window_open = true;
            if found.is_some() || last_said.elapsed() >= std::time::Duration::from_millis(100) {
                last_said = std::time::Instant::now();
                let found = found.map(|f| Box::new(f.clone()));
                window_open = shared.reply(id, Reply::BisectProgress { checked, found });
            }
            window_open && !shared.is_cancelled(id)
        };
        runtime
            .block_on(crate::bisect::bisect_category(&store, &category, &mut folds, &condition, &mut progress))
            .map_err(Failure::from)
    })
    .await
    .map_err(|e| Failure::Internal(format!("the bisection failed: {e}")))??;
    match found {
        Some(found) => Ok(Reply::CategoryBisection(Box::new(found))),
        None => Err(Failure::Cancelled("cancelled".to_owned())),
    }
}

/// On a blocking thread, as the snapshot check (the script and the fold are JavaScript).
async fn what_if(
    shared: &Arc<Shared>,
    id: RequestId,
    name: String,
    source: String,
    fold: Option<ScriptFold>,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let shared = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    let outcome = tokio::task::spawn_blocking(move || {
        let script = crate::whatif::WhatIf::from_source(&name, &source)
            .map_err(|e| Failure::File(format!("the what-if script cannot be used: {e}")))?;
        let mut fold = compile_script(fold)?;
        let mut folds = crate::fold::Folds::new(
            fold.as_mut().map(|(fold, scope)| (fold as &mut dyn crate::fold::Fold, scope.clone())),
        );
        let mut last_said = std::time::Instant::now();
        let mut progress = |streams: usize| {
            let mut window_open = true;
            if last_said.elapsed() >= std::time::Duration::from_millis(100) {
                last_said = std::time::Instant::now();
                window_open = shared.reply(id, Reply::WhatIfProgress { streams });
            }
            window_open && !shared.is_cancelled(id)
        };
        runtime.block_on(crate::whatif::run(&store, &script, &mut folds, &mut progress)).map_err(Failure::from)
    })
    .await
    .map_err(|e| Failure::Internal(format!("the what-if run failed: {e}")))??;
    match outcome {
        Some(outcome) => Ok(Reply::WhatIf(Box::new(outcome))),
        None => Err(Failure::Cancelled("cancelled".to_owned())),
    }
}

async fn survey_schemas(shared: &Arc<Shared>, id: RequestId) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let shared = shared.clone();
    let runtime = tokio::runtime::Handle::current();
    // (On a blocking thread, as the snapshot check: the progress callback is not `Send`.)
    let survey = tokio::task::spawn_blocking(move || {
        let mut last_said = std::time::Instant::now();
        let mut progress = |phase: &str, events: u64| {
            let mut window_open = true;
            if last_said.elapsed() >= std::time::Duration::from_millis(100) {
                last_said = std::time::Instant::now();
                let phase = if phase == "checking" { "checking" } else { "inferring" };
                window_open = shared.reply(id, Reply::SchemaProgress { phase, events });
            }
            window_open && !shared.is_cancelled(id)
        };
        runtime.block_on(crate::schema::survey_store(&store, &mut progress))
    })
    .await
    .map_err(|e| Failure::Internal(format!("the schema survey failed: {e}")))?;
    match survey {
        Ok(Some(survey)) => Ok(Reply::SchemaSurvey(Box::new(survey))),
        Ok(None) => Err(Failure::Cancelled("cancelled".to_owned())),
        Err(crate::schema::SurveyError::Store(e)) => Err(Failure::Store(e)),
        Err(e) => Err(Failure::Internal(e.to_string())),
    }
}

/// Cuts a fixture on a blocking thread (a JavaScript fold cannot move between threads).
async fn cut_fixture(
    shared: &Arc<Shared>,
    stream: String,
    from: i64,
    to: i64,
    script: Option<ScriptFold>,
    masks: Vec<String>,
) -> Result<Reply, Failure> {
    use crate::fixture::{FixtureError, FoldSource, Mask};
    let store = shared.store().await?;
    let runtime = tokio::runtime::Handle::current();
    let fixture = tokio::task::spawn_blocking(move || {
        let mask = Mask::parse(&masks).map_err(Failure::File)?;
        let source = match &script {
            Some(s) => FoldSource { name: s.name.clone(), source: Some(s.source.clone()) },
            None => FoldSource::merge(),
        };
        let mut merge = crate::fold::MergeFold::default();
        let mut script = compile_script(script)?;
        let fold: &mut dyn crate::fold::Fold = match script.as_mut() {
            Some((fold, _)) => fold,
            None => &mut merge,
        };
        runtime.block_on(crate::fixture::cut(&store, &stream, from, to, fold, &source, &mask)).map_err(|e| match e {
            FixtureError::Store(e) => Failure::Store(e),
            other => Failure::File(other.to_string()),
        })
    })
    .await
    .map_err(|e| Failure::Internal(format!("cutting the fixture failed: {e}")))??;
    Ok(Reply::Fixture(Box::new(fixture)))
}

/// The store, opened again first when it is a SQLite file read as it was and a writer has
/// opened or changed it since (see [`Store::reopen_to_follow`]).
async fn store_to_follow(shared: &Shared) -> Result<Arc<Store>, Failure> {
    let store = shared.store().await?;
    if !store.reopen_to_follow() {
        return Ok(store);
    }
    let fresh = Arc::new(store.reopened().await.map_err(Failure::from)?);
    *shared.store.write().await = Some(fresh.clone());
    shared.reply(0, Reply::Reopened { description: fresh.describe() });
    Ok(fresh)
}

/// At most this many events a look at a followed log hands over.
const FOLLOW_LOG_MAX: usize = 2_000;

async fn follow_log(shared: &Shared, filter: AuditFilter) -> Result<Reply, Failure> {
    let store = store_to_follow(shared).await?;
    let taken = shared.log_follower.lock().ok().and_then(|mut slot| slot.take());
    let (mut follower, fresh) = match taken {
        Some((followed, follower)) if followed == filter => (follower, false),
        _ => (crate::follow::Follower::start(&store, filter.clone(), false).await.map_err(Failure::from)?, true),
    };
    let events = if fresh { Vec::new() } else { follower.poll(&store, FOLLOW_LOG_MAX).await.map_err(Failure::from)? };
    if let Ok(mut slot) = shared.log_follower.lock() {
        *slot = Some((filter, follower));
    }
    Ok(Reply::LogFollowed { events })
}

async fn follow_stream(shared: &Shared, stream: &str, cursor: EventCursor, limit: usize) -> Result<Reply, Failure> {
    store_to_follow(shared)
        .await?
        .read_stream(stream, cursor, limit)
        .await
        .map(|page| Reply::StreamPage { events: page.events, next: page.next })
        .map_err(|cause| Failure::Interrupted { what: format!("following stream {stream}"), cause })
}

async fn what_if_read_model(
    shared: &Shared,
    id: RequestId,
    outcome: &crate::whatif::Outcome,
    text: &str,
    key: Option<&str>,
    limits: PreviewLimits,
    permissions: &PreviewPermissions,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let token = CancelToken::default();
    if let Ok(mut previews) = shared.previews.lock() {
        previews.insert(id, token.clone());
    }
    let change =
        crate::whatif::read_model::compare_read_model(&store, outcome, text, key, limits, permissions, &token).await;
    if let Ok(mut previews) = shared.previews.lock() {
        previews.remove(&id);
    }
    Ok(Reply::WhatIfReadModel(Box::new(change)))
}

async fn preview(
    shared: &Shared,
    id: RequestId,
    text: String,
    limits: PreviewLimits,
    permissions: PreviewPermissions,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let token = CancelToken::default();
    if let Ok(mut previews) = shared.previews.lock() {
        previews.insert(id, token.clone());
    }
    let reply = match crate::projection::sql::preview(&store, &text, limits, &permissions, &token).await {
        Err(e) => PreviewReply {
            definition: crate::projection::sql::parse_definition(&text).ok(),
            result: Err(e),
            deployed: None,
        },
        Ok((definition, rows)) => {
            let deployed = match &definition.relation {
                Some(name) if store.relation_exists(name).await.unwrap_or(false) => {
                    Some(store.preview_relation(name, limits, &permissions, &token).await)
                }
                _ => None,
            };
            PreviewReply { definition: Some(definition), result: Ok(rows), deployed }
        }
    };
    if let Ok(mut previews) = shared.previews.lock() {
        previews.remove(&id);
    }
    Ok(Reply::Preview(Box::new(reply)))
}

async fn audit_summary(shared: &Shared, id: RequestId, filter: AuditFilter, bars: usize) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    // Two passes over the events, one after the other (each may read the whole store): the
    // counts, types, actors and time range, then the histogram's bars over that range.
    let overview = store.audit_overview(&filter).await.map_err(Failure::from)?;
    if shared.is_cancelled(id) {
        return Err(Failure::Cancelled("cancelled".to_owned()));
    }
    let histogram = store.audit_histogram_over(&filter, bars, overview.range).await.ok();
    Ok(Reply::AuditSummary { count: overview.count, types: overview.types, histogram, actors: overview.actors })
}

async fn correlation(shared: &Shared, event: Event) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let (correlated, caused_by, tree) =
        tokio::join!(store.correlated(&event, 1_000), store.caused_by(&event), store.causation_tree(&event, 500));
    Ok(Reply::Correlation {
        correlated: correlated.map_err(Failure::from)?,
        caused_by: caused_by.map_err(Failure::from)?.map(Box::new),
        tree: Box::new(tree.map_err(Failure::from)?),
    })
}

async fn export(
    shared: &Shared,
    id: RequestId,
    filter: AuditFilter,
    format: ExportFormat,
    path: std::path::PathBuf,
) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    let file =
        std::fs::File::create(&path).map_err(|e| Failure::File(format!("cannot create {}: {e}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let written = crate::audit::export(&store, &filter, format, &mut out, |written| {
        shared.reply(id, Reply::ExportProgress { written });
        !shared.is_cancelled(id)
    })
    .await
    .map_err(Failure::from)?;
    if shared.is_cancelled(id) {
        return Err(Failure::Cancelled(format!(
            "the export was cancelled after {written} events; {} holds them",
            path.display()
        )));
    }
    Ok(Reply::Exported { written, path })
}

/// Reads the store's log in global order page by page, sending each page as it arrives; the
/// event count (for the progress bar) is asked after the first page is out.
async fn load_log(shared: &Shared, id: RequestId, page_size: usize, selection: LogSelection) -> Result<Reply, Failure> {
    let store = shared.store().await?;
    // The whole log's size is the store's count (an estimate for a big store); a selection's
    // is not known before it is read.
    if selection == LogSelection::default() {
        let counts = store.counts().await.map_err(Failure::from)?;
        shared.reply(id, Reply::LogStarted { total: counts.events });
    }
    // One streamed query, filtered by the database; each page is sent as it fills.
    let page_size = page_size.max(1);
    let mut page = Vec::with_capacity(page_size);
    let mut cancelled = false;
    let mut each = |event: Event| {
        page.push(event);
        if page.len() >= page_size {
            if shared.is_cancelled(id) {
                cancelled = true;
                return false;
            }
            let events = std::mem::replace(&mut page, Vec::with_capacity(page_size));
            shared.reply(id, Reply::EventsPage { stream: String::new(), events, done: false });
        }
        true
    };
    store
        .read_log_each(&selection, &mut each)
        .await
        .map_err(|cause| Failure::Interrupted { what: "reading the store's log".to_owned(), cause })?;
    if cancelled {
        return Err(Failure::Cancelled("cancelled".to_owned()));
    }
    Ok(Reply::EventsPage { stream: String::new(), events: page, done: true })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_panic_becomes_an_error_for_its_request() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let outcome = rt.block_on(super::isolate(async { panic!("driver choked on a message") }));
        let message: String = outcome.unwrap_err();
        assert!(message.contains("internal error") && message.contains("driver choked"), "{message}");
        assert_eq!(rt.block_on(super::isolate(async { 7 })), Ok(7));
    }
}
