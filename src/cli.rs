//! The command line: `eventscope [STORE]` opens the window; the subcommands print JSON on stdout.
//! Every failure is one line on stderr that says what is wrong and what to do, and a non-zero
//! exit code.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, anyhow};
use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::fold::{Fold, JsFold, MergeFold};
use crate::model::{StreamId, VersionChecker};
use crate::projection::JsProjection;
use crate::projection::sql::{PreviewError, PreviewLimits, PreviewPermissions};
use crate::store::query::{StreamQuery, StreamSort};
use crate::store::{EventCursor, Store, Target};

const EXAMPLES: &str = "\
Examples:
  eventscope                                   open the workshop store in the window
  eventscope orders.sqlite                     open a SQLite store in the window
  eventscope orders.sqlite --stream 00001042-0000-4000-8000-0000007de8ce --at 3
  eventscope postgres://me@localhost/shop      open a PostgreSQL store in the window
  eventscope streams orders.sqlite --search 1042
  eventscope events orders.sqlite 00001042-0000-4000-8000-0000007de8ce --from 2 --limit 10
  eventscope state orders.sqlite 00001042-0000-4000-8000-0000007de8ce --at 3
  eventscope state orders.sqlite 00001042-0000-4000-8000-0000007de8ce --fold assets/folds/order.js
  eventscope project orders.sqlite --js assets/projections/orders_by_region.js
  eventscope preview orders.sqlite --sql assets/sql/orders_by_region.sqlite.sql --compare
  eventscope audit orders.sqlite --meta actor=staff:grace --type RefundRequested --since 2026-03-20
  eventscope demo create /tmp/workshop.sqlite
  eventscope demo create --url postgres://me@localhost/workshop --force";

/// A native explorer for event-sourced systems.
#[derive(Debug, Parser)]
#[command(
    name = "eventscope",
    version,
    about,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
    allow_negative_numbers = true
)]
pub struct Cli {
    /// A SQLite file or a postgres:// URL to open in the window (default: the workshop store).
    pub store: Option<String>,
    /// Open the window on this stream.
    #[arg(long)]
    pub stream: Option<String>,
    /// With --stream (or a link that names one): put the cursor at this version.
    #[arg(long)]
    pub at: Option<i64>,
    /// Fold every stream with this JavaScript fold (watched: saving it refolds).
    #[arg(long)]
    pub fold: Option<PathBuf>,
    /// Open the Projections view running this JavaScript projection.
    #[arg(long)]
    pub projection: Option<PathBuf>,
    /// Open the SQL preview on this .sql file and run it.
    #[arg(long)]
    pub sql: Option<PathBuf>,
    /// The view to open: history, projections, sql, audit, types or whatif.
    #[arg(long, value_enum)]
    pub view: Option<crate::ui::View>,
    /// Which layout to use when the store holds several (see the status bar or the error).
    #[arg(long, global = true)]
    pub layout: Option<String>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the streams as a JSON array of {stream, events, events_at_least, first_version,
    /// last_version, last_recorded_at}. A stream of over 10,000 events is counted only that far:
    /// its `events` is then 10001 and `events_at_least` is true (its last version says how far
    /// it goes).
    #[command(allow_negative_numbers = true)]
    Streams {
        store: String,
        /// Only streams whose id contains this text (case-insensitive).
        #[arg(long, default_value = "")]
        search: String,
        /// At most this many streams.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value_t = SortArg::Id)]
        sort: SortArg,
        #[arg(long, value_enum, default_value_t = FormatArg::Json)]
        format: FormatArg,
    },
    /// Print a stream's events as a JSON array (undecodable payloads as {"undecodable": {reason, bytes_base64}}).
    #[command(allow_negative_numbers = true)]
    Events {
        store: String,
        stream: String,
        /// Start at this version.
        #[arg(long)]
        from: Option<i64>,
        /// At most this many events.
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long, value_enum, default_value_t = FormatArg::Json)]
        format: FormatArg,
    },
    /// Print the state folded up to a version: {stream, version, fold, state}. The fold is the
    /// generic merge fold, or a JavaScript fold file.
    #[command(allow_negative_numbers = true)]
    State {
        store: String,
        stream: String,
        /// Fold up to and including this version (default: the last).
        #[arg(long)]
        at: Option<i64>,
        /// A JavaScript fold: an object of handlers by event type (see assets/folds/order.js).
        #[arg(long)]
        fold: Option<PathBuf>,
    },
    /// Find the first version of a stream after which a condition on the folded state holds
    /// (like git bisect: the condition is asked at checkpoints, then the events of one interval;
    /// it is taken to keep holding once it holds): {stream, condition, fold, version, event_type,
    /// index, events, evaluations, search_fold_steps, event, changes, caused_by}. With
    /// --category instead of a stream: every stream of the category where it holds,
    /// {category, condition, streams_checked, holding: [...], failures}. Exits 5 when it never
    /// holds.
    #[command(allow_negative_numbers = true)]
    Bisect {
        store: String,
        #[arg(required_unless_present = "category", conflicts_with = "category")]
        stream: Option<String>,
        /// Every stream of this category (the aggregate type, or the id's part before the
        /// first `-`) instead of one stream.
        #[arg(long)]
        category: Option<String>,
        /// A JavaScript expression over `state` (and `version`), e.g. 'state.balance < 0'.
        #[arg(long)]
        when: String,
        /// A JavaScript fold (default: the merge fold).
        #[arg(long)]
        fold: Option<PathBuf>,
        /// Ask the condition after every event instead (slower; for a condition that may stop
        /// holding again).
        #[arg(long)]
        scan: bool,
    },
    /// Cut a given/when/then test fixture from a range of a stream's versions: given = the events
    /// before --from, then = the events --from..=--to, with the state after each folded by the
    /// fold. Written as JSON, a Jest/Vitest test (the fold inlined), a pytest module (merge fold)
    /// or a cqrs-es TestFramework test.
    #[command(allow_negative_numbers = true)]
    Fixture {
        store: String,
        stream: String,
        /// The first version of the range (the "then" events).
        #[arg(long)]
        from: i64,
        /// The last version of the range (default: --from).
        #[arg(long)]
        to: Option<i64>,
        #[arg(long, value_enum, default_value_t = FixtureFormatArg::Json)]
        format: FixtureFormatArg,
        /// A JavaScript fold (default: the merge fold).
        #[arg(long)]
        fold: Option<PathBuf>,
        /// Mask the values at this path of every event before anything is folded, e.g.
        /// /data/customer/email or /data/lines/*/sku or /metadata/actor (repeat for several).
        #[arg(long = "mask", value_name = "PATH")]
        masks: Vec<String>,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace --out when it exists (never a SQLite database).
        #[arg(long, requires = "out")]
        force: bool,
    },
    /// Try a retroactive rule before anyone runs it: a what-if script sees each stream's events
    /// and returns events it would append (and versions it would skip); nothing is written.
    /// Prints {script, streams_seen, streams_touched, events_appended, events_skipped,
    /// touched: [{stream, appended, skipped, before, after, changes}], failures}, and with --sql
    /// a read model's rows before and after: read_model {key, counts, added, removed, changed}.
    Whatif {
        store: String,
        /// The what-if script (see assets/whatif/).
        #[arg(long)]
        js: PathBuf,
        /// A JavaScript fold for the states before and after (default: the merge fold).
        #[arg(long)]
        fold: Option<PathBuf>,
        /// A SQL projection (as `preview --sql` takes) to run on the store as it is and as the
        /// script would leave it (its events table shadowed inside the read-only query), its rows
        /// compared: printed as `read_model`.
        #[arg(long)]
        sql: Option<PathBuf>,
        /// The column that identifies a row of the SQL projection (default: the first).
        #[arg(long, requires = "sql")]
        key: Option<String>,
        #[command(flatten)]
        preview: PreviewArgs,
    },
    /// Event contracts: infer a JSON Schema per event type (and per schema version a payload
    /// names) from every event, with each field's count, types and examples, and the events that
    /// do not fit the schema their type mostly follows: {events, types: [{event_type,
    /// schema_version, events, fields, outliers, schema}]}. --export DIR writes one schema file
    /// per type; --check DIR checks every event against the schemas there instead, one JSON line
    /// per breaking event, and exits 5 when there is one.
    Schemas {
        store: String,
        /// Write each type's schema to DIR/<Type>.schema.json (DIR is created).
        #[arg(long, value_name = "DIR", conflicts_with = "check")]
        export: Option<PathBuf>,
        /// Check every event against the schemas in DIR (*.json, one per type). Events of a
        /// type with no schema there break the check too (one line per type), unless
        /// --allow-missing.
        #[arg(long, value_name = "DIR")]
        check: Option<PathBuf>,
        /// With --check: only warn about event types with no schema.
        #[arg(long, requires = "check")]
        allow_missing: bool,
        /// Leave the examples (real values of the store) out of the schemas and the fields.
        #[arg(long, conflicts_with = "check")]
        no_examples: bool,
        /// With --export: replace schema files that exist in DIR (by default none is replaced,
        /// so that a schema edited by hand is not lost).
        #[arg(long, requires = "export")]
        force: bool,
    },
    /// Compare every stored snapshot with the state a fold recomputes from the events at its
    /// version (values, not spellings): {streams, snapshots, drifting_streams,
    /// streams_with_findings: [{stream, fold, snapshots, matching, others: [{version, verdict, …}]}]}.
    /// Exits 5 when a snapshot drifts (1 when the fold fails, or nothing could be compared), so
    /// that it can run in CI.
    Drift {
        store: String,
        /// A JavaScript fold for the streams it applies to (the merge fold elsewhere).
        #[arg(long)]
        fold: Option<PathBuf>,
        /// Only the streams of this category (the aggregate type, or the part of the id before
        /// the first `-`); with --fold, the fold applies to this category's streams.
        #[arg(long)]
        category: Option<String>,
    },
    /// Run a JavaScript projection over the store in global order (read-only; emit and linkTo
    /// are only recorded) and print {projection, source, events_read (of its source), state | partitions, would_emit}.
    #[command(allow_negative_numbers = true)]
    Project {
        store: String,
        /// The projection script (see assets/projections/).
        #[arg(long)]
        js: PathBuf,
        /// Stop after this global position.
        #[arg(long)]
        until: Option<i64>,
    },
    /// Preview a SQL projection read-only: a SELECT/WITH, or the query of a CREATE [MATERIALIZED]
    /// VIEW / CREATE TABLE … AS (nothing is created). Prints the rows; with --compare, also what
    /// deploying it would change in the relation it names.
    #[command(allow_negative_numbers = true)]
    Preview {
        store: String,
        /// The SQL file.
        #[arg(long)]
        sql: PathBuf,
        /// Compare with the deployed relation the definition names.
        #[arg(long)]
        compare: bool,
        /// The column that identifies a row when comparing (default: the first).
        #[arg(long)]
        key: Option<String>,
        #[arg(long, value_enum, default_value_t = FormatArg::Json)]
        format: FormatArg,
        #[command(flatten)]
        preview: PreviewArgs,
    },
    /// Stream the events that match every filter, in store order, as JSON Lines or CSV.
    #[command(allow_negative_numbers = true)]
    Audit {
        store: String,
        /// Events at or after this time (RFC 3339, or a date).
        #[arg(long)]
        since: Option<String>,
        /// Events before this time (RFC 3339, or a date).
        #[arg(long)]
        until: Option<String>,
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, value_enum, default_value_t = FormatArg::Jsonl)]
        format: FormatArg,
    },
    /// Print the events appended from now on (under the same filters as audit) as JSON Lines,
    /// until interrupted: one indexed query per interval, nothing written.
    #[command(allow_negative_numbers = true)]
    Tail {
        store: String,
        #[command(flatten)]
        filters: FilterArgs,
        /// Start at the beginning of the log instead of now.
        #[arg(long)]
        from_start: bool,
        /// How often to look, in milliseconds.
        #[arg(long, default_value_t = 1_000)]
        interval_ms: u64,
        /// Stop after this many events.
        #[arg(long)]
        max_events: Option<usize>,
        /// PostgreSQL: how long after a later event an event may commit and still be printed
        /// (a transaction open longer than this when a later one commits is missed).
        #[arg(long, default_value_t = 5_000)]
        lookback_ms: u64,
    },
    /// Measure the history explorer on a generated store and print the figures (not a test).
    #[command(allow_negative_numbers = true)]
    Bench {
        /// Events in the long stream.
        #[arg(long, default_value_t = 200_000)]
        events: usize,
        /// Other (one-event) streams in the store.
        #[arg(long, default_value_t = 1_000)]
        streams: usize,
        /// Random jumps to time.
        #[arg(long, default_value_t = 1_000)]
        jumps: usize,
        /// Frames to time.
        #[arg(long, default_value_t = 200)]
        frames: usize,
        /// Measure the audit view instead, on a generated store of --audit-events events.
        #[arg(long)]
        audit: bool,
        #[arg(long, default_value_t = 1_000_000)]
        audit_events: usize,
        /// With --audit: also measure on this PostgreSQL server, in a database the benchmark
        /// creates (eventscope_bench_audit) and drops afterwards; the role must be able to create
        /// databases.
        #[arg(long)]
        postgres: Option<String>,
        /// With --postgres: replace an eventscope_bench_audit database left by an earlier run.
        #[arg(long)]
        force: bool,
        /// Measure paging a stream whose events all share one version instead (N events).
        #[arg(long, value_name = "N")]
        duplicates: Option<usize>,
        /// Measure bisect instead: the first version where a condition holds in a stream of N
        /// events, against a linear scan.
        #[arg(long, value_name = "N")]
        bisect: Option<usize>,
        /// Measure schema inference and the contract check instead, over a store of N events
        /// (with --keep DIR, kept there and reused).
        #[arg(long, value_name = "N")]
        schemas: Option<usize>,
        /// Measure a store of N events with only a primary key instead (SQLite, and PostgreSQL
        /// with --postgres, in a database eventscope_bench_scale_N the benchmark creates).
        #[arg(long, value_name = "N")]
        scale: Option<usize>,
        /// With --scale: events in the long stream (default: half the store, at most 1,000,000).
        #[arg(long, value_name = "M")]
        long_stream: Option<usize>,
        /// With --scale (or --schemas): keep the generated stores (the SQLite file in DIR, the PostgreSQL
        /// database) and reuse them in the next run.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
        /// With --scale: how long each whole-log export runs, in seconds.
        #[arg(long, default_value_t = 20.0)]
        export_seconds: f64,
    },
    /// Lessons: a slice of a store with steps, scripts and bookmarks, in one SQLite file that
    /// opens in the window with no database (see `lesson export --help`).
    Lesson {
        #[command(subcommand)]
        action: LessonAction,
    },
    /// The workshop store.
    Demo {
        #[command(subcommand)]
        action: DemoAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum LessonAction {
    /// Write a lesson file: the chosen streams (and/or the events under an audit filter) in the
    /// article's events layout, plus the scripts, the store's bookmarks in those streams and
    /// the steps. Prints {file, events, streams, steps, scripts, bookmarks, masked_values,
    /// masked_paths}. Open the file in the window to play the steps (Ctrl+PageDown / PageUp).
    #[command(allow_negative_numbers = true)]
    Export {
        store: String,
        /// Whole streams, by id (comma-separated or repeated).
        #[arg(long, value_delimiter = ',')]
        streams: Vec<String>,
        /// With the filters below: also the events under this audit filter.
        #[command(flatten)]
        filters: FilterArgs,
        /// Events at or after this time (with the filters).
        #[arg(long)]
        since: Option<String>,
        /// Events before this time (with the filters).
        #[arg(long)]
        until: Option<String>,
        /// The lesson's title.
        #[arg(long, default_value = "A lesson")]
        title: String,
        /// A JavaScript fold the steps use (the first one given is the steps' default).
        #[arg(long)]
        fold: Vec<PathBuf>,
        /// A JavaScript projection to carry (a step runs it).
        #[arg(long)]
        projection: Vec<PathBuf>,
        /// A SQL projection to carry (a step previews it).
        #[arg(long)]
        sql: Vec<PathBuf>,
        /// The steps, as a JSON array of {title, note, view, stream, version, fold, script,
        /// audit: {types, stream, meta, text, select_first}}. Default: one per bookmark of the
        /// chosen streams (else one per stream), then the filter and each script.
        #[arg(long)]
        steps: Option<PathBuf>,
        /// Mask the values at this path in every event (like /data/customer/email, /metadata/actor,
        /// /streamId; repeat for several).
        #[arg(long = "mask", value_name = "PATH")]
        masks: Vec<String>,
        /// The lesson file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DemoAction {
    /// Write the deterministic workshop store to a SQLite file or a PostgreSQL database.
    Create {
        /// The SQLite file to create.
        path: Option<PathBuf>,
        /// A postgres:// URL to write into instead.
        #[arg(long)]
        url: Option<String>,
        /// Replace an existing store.
        #[arg(long)]
        force: bool,
    },
}

/// The output formats of every subcommand that prints a listing (streams, events, preview,
/// audit): a JSON array, JSON Lines (one object per line), or CSV with a header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Json,
    Jsonl,
    Csv,
}

/// The formats of `eventscope fixture`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FixtureFormatArg {
    Json,
    Pytest,
    CqrsEs,
    Jest,
}

impl From<FixtureFormatArg> for crate::fixture::FixtureFormat {
    fn from(f: FixtureFormatArg) -> crate::fixture::FixtureFormat {
        use crate::fixture::FixtureFormat;
        match f {
            FixtureFormatArg::Json => FixtureFormat::Json,
            FixtureFormatArg::Pytest => FixtureFormat::Pytest,
            FixtureFormatArg::CqrsEs => FixtureFormat::CqrsEs,
            FixtureFormatArg::Jest => FixtureFormat::Jest,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SortArg {
    Id,
    IdDesc,
    Events,
    Recent,
}

impl From<SortArg> for StreamSort {
    fn from(s: SortArg) -> StreamSort {
        match s {
            SortArg::Id => StreamSort::Id,
            SortArg::IdDesc => StreamSort::IdDescending,
            SortArg::Events => StreamSort::MostEvents,
            SortArg::Recent => StreamSort::Recent,
        }
    }
}

/// Writes a line to stderr; a closed stderr is not worth a panic (`eprintln!` panics on it).
macro_rules! say {
    ($($line:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($line)*);
    }};
}

/// The exit codes, one per kind of failure, so that scripts can tell them apart.
pub mod exit {
    /// Something else failed: a file given (fold, projection, SQL), a script, the output.
    pub const FAILED: u8 = 1;
    /// The arguments are wrong (unknown flag, missing value, a number that is not one).
    pub const USAGE: u8 = 2;
    /// The store could not be opened or read (not found, not an event store, unreachable,
    /// a query the database refused or did not finish, no such stream).
    pub const STORE: u8 = 3;
    /// eventscope refused the operation: a preview its guard will not run, a privileged role,
    /// anything that would write.
    pub const REFUSED: u8 = 4;
    /// The check ran and its answer is the one to act on: snapshots drift (`drift`), the
    /// condition never holds (`bisect`).
    pub const FINDING: u8 = 5;
}

/// What a check found that a script acts on (exit [`exit::FINDING`]), as opposed to a failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Finding(String);

/// An argument that parses but does not fit (a version past the end, a time that is not one):
/// a usage error, like those clap finds.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct UsageError(String);

macro_rules! usage {
    ($($message:tt)*) => {
        anyhow::Error::new(UsageError(format!($($message)*)))
    };
}

/// Which exit code an error gets, from the first typed cause found in its chain.
fn exit_code(e: &anyhow::Error) -> u8 {
    use crate::audit::AuditError;
    use crate::store::StoreError;
    for cause in e.chain() {
        if let Some(preview) = cause.downcast_ref::<PreviewError>() {
            return match preview {
                PreviewError::Refused(_)
                | PreviewError::FunctionNotAllowed { .. }
                | PreviewError::PrivilegedRole { .. } => exit::REFUSED,
                PreviewError::Database { .. } | PreviewError::Timeout(_) | PreviewError::Cancelled => exit::STORE,
            };
        }
        if let Some(store) = cause.downcast_ref::<StoreError>() {
            return if matches!(store, StoreError::ReadOnly(_)) { exit::REFUSED } else { exit::STORE };
        }
        if let Some(audit) = cause.downcast_ref::<AuditError>() {
            return match audit {
                AuditError::Store(_) => exit::STORE,
                AuditError::Missing(..) => exit::USAGE,
                AuditError::Output(..) => exit::FAILED,
            };
        }
        if cause.is::<UsageError>() {
            return exit::USAGE;
        }
        if cause.is::<Finding>() {
            return exit::FINDING;
        }
        if let Some(demo) = cause.downcast_ref::<crate::demo::DemoError>() {
            return if matches!(demo, crate::demo::DemoError::Exists(_)) { exit::REFUSED } else { exit::FAILED };
        }
    }
    exit::FAILED
}

/// Parses the arguments and runs; returns the process exit code.
pub fn main() -> ExitCode {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            say!("{}", usage_line(&e));
            return ExitCode::from(exit::USAGE);
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // A reader that stops early (`| head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                || e.chain().any(|c| {
                    matches!(
                        c.downcast_ref(),
                        Some(crate::audit::AuditError::Output(std::io::ErrorKind::BrokenPipe, _))
                    )
                }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let message = format!("{e:#}");
            say!("error: {}", message.lines().next().unwrap_or_default());
            ExitCode::from(exit_code(&e))
        }
    }
}

/// Logs to stderr as `RUST_LOG` asks (`RUST_LOG=eventscope=debug`: every query with its time);
/// nothing without it.
fn init_logging() {
    let Ok(filter) = tracing_subscriber::EnvFilter::try_from_default_env() else {
        return;
    };
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
}

/// A usage error as one line: clap's first line (what is wrong), and where to read more.
fn usage_line(e: &clap::Error) -> String {
    let words: Vec<String> = std::env::args().skip(1).take_while(|a| !a.starts_with('-')).collect();
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // (clap prints the whole help here.)
        let mut command = Cli::command();
        for word in &words {
            match command.find_subcommand(word) {
                Some(sub) => command = sub.clone(),
                None => break,
            }
        }
        let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
        let path = std::iter::once("eventscope").chain(words.iter().map(String::as_str)).collect::<Vec<_>>().join(" ");
        return format!("error: `{path}` needs one of: {} (see `{path} --help`)", names.join(", "));
    }
    let rendered = e.render().to_string();
    // The first paragraph, its lines joined (clap lists missing arguments on lines of their own).
    let paragraph: Vec<&str> = rendered
        .lines()
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let first =
        if paragraph.is_empty() { "error: the arguments are not understood".to_owned() } else { paragraph.join(" ") };
    let subcommand =
        std::env::args().nth(1).filter(|a| !a.starts_with('-') && Cli::command().find_subcommand(a).is_some());
    match subcommand {
        Some(name) => format!("{first} (see `eventscope {name} --help`)"),
        None => format!("{first} (see `eventscope --help`)"),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let layout = cli.layout.clone();
    let Some(command) = cli.command else {
        // An `eventscope://open?…` link in place of the store: its store and place, under the
        // command line's own options.
        let (store, link_start) = match cli.store.as_deref().filter(|s| crate::deep_link::Link::is_link(s)) {
            Some(text) => {
                let link = crate::deep_link::Link::parse(text).map_err(|e| usage!("{e}"))?;
                (Some(link.store.clone()), link.start())
            }
            None => (cli.store.clone(), crate::ui::StartAt::default()),
        };
        let target = match &store {
            // A path that is no SQLite file is said here, in one line, before any window opens.
            Some(store) => match Target::parse(store)? {
                Target::Sqlite(path) => {
                    crate::store::sqlite::file_facts(&std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone()))?;
                    Target::Sqlite(path)
                }
                postgres => postgres,
            },
            None => Target::Sqlite(runtime()?.block_on(crate::demo::ensure_workshop_store())?),
        };
        let from_link = cli.stream.is_none();
        if cli.at.is_some() && cli.stream.is_none() && link_start.stream.is_none() {
            return Err(usage!("--at needs a stream: give --stream (or a link that names one)"));
        }
        let start = crate::ui::StartAt {
            version: if from_link { cli.at.or(link_start.version) } else { cli.at },
            stream: cli.stream.or(link_start.stream),
            fold: cli.fold.or(link_start.fold),
            projection: cli.projection,
            sql: cli.sql,
            view: cli.view.or(link_start.view),
        };
        // A fold that is no file (nor a bundled fold's name) is said before any window opens.
        if let Some(fold) = &start.fold
            && !fold.exists()
            && !crate::ui::scripts::FOLD_EXAMPLES.iter().any(|(name, _)| std::path::Path::new(name) == fold)
        {
            return Err(usage!(
                "there is no fold file at {}: give a .js fold file, or the name of a bundled one ({})",
                fold.display(),
                crate::ui::scripts::FOLD_EXAMPLES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            ));
        }
        return crate::ui::run(target, layout, start);
    };
    if let Command::Bench {
        events,
        streams,
        jumps,
        frames,
        audit,
        audit_events,
        postgres,
        force,
        duplicates,
        bisect,
        schemas,
        scale,
        long_stream,
        keep,
        export_seconds,
    } = command
    {
        if let Some(n) = bisect {
            return crate::bench::bisect::run(n, postgres, force);
        }
        if let Some(n) = schemas {
            return crate::bench::schemas::run(n.max(10), keep.as_deref());
        }
        if let Some(n) = scale {
            return crate::bench::scale::run(crate::bench::scale::ScaleOptions {
                events: n.max(1),
                long_stream: long_stream.unwrap_or((n / 2).min(1_000_000)).clamp(1, n.max(1)),
                postgres,
                keep,
                export_seconds,
            });
        }
        if let Some(n) = duplicates {
            return crate::bench::duplicates::run(n);
        }
        if audit {
            return crate::bench::audit::run(audit_events, postgres, force);
        }
        return crate::bench::run(crate::bench::BenchOptions {
            long_stream_events: events,
            other_streams: streams,
            jumps,
            frames,
        });
    }
    let rt = runtime()?;
    // A panic (a bug, or a driver choking on what a server sent) becomes one error line, not a
    // crash: the command runs isolated, and the panic's own report is kept for RUST_BACKTRACE.
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        std::panic::set_hook(Box::new(|_| {}));
    }
    rt.block_on(async move { crate::worker::isolate(run_command(command, layout)).await.map_err(|e| anyhow!(e))? })
}

/// Runs one subcommand (not the window, not a benchmark).
async fn run_command(command: Command, layout: Option<String>) -> anyhow::Result<()> {
    {
        match command {
            Command::Streams { store, search, limit, sort, format } => {
                let store = open(&store, layout.as_deref()).await?;
                print_streams(&store, search, limit, sort.into(), format).await
            }
            Command::Events { store, stream, from, limit, format } => {
                let store = open(&store, layout.as_deref()).await?;
                print_events(&store, &stream, from, limit, format).await
            }
            Command::State { store, stream, at, fold } => {
                let fold: Box<dyn Fold> = match fold {
                    Some(path) => Box::new(JsFold::from_file(&path)?),
                    None => Box::new(MergeFold::default()),
                };
                let store = open(&store, layout.as_deref()).await?;
                print_state(&store, &stream, at, fold).await
            }
            Command::Bisect { store, stream, category, when, fold, scan } => {
                let condition = crate::bisect::Condition::new(&when).map_err(|e| usage!("--when: {e}"))?;
                let mut fold: Box<dyn Fold> = match fold {
                    Some(path) => Box::new(JsFold::from_file(&path)?),
                    None => Box::new(MergeFold::default()),
                };
                let store = open(&store, layout.as_deref()).await?;
                match (stream, category) {
                    (Some(stream), _) => print_bisection(&store, &stream, fold.as_mut(), &condition, scan).await,
                    (None, Some(category)) => {
                        print_category_bisection(&store, &category, fold.as_mut(), &condition).await
                    }
                    (None, None) => Err(usage!("give a stream, or --category")),
                }
            }
            Command::Fixture { store, stream, from, to, format, fold, masks, out, force } => {
                let existing = if force { crate::model::Existing::Replace } else { crate::model::Existing::Keep };
                if let Some(path) = out.as_deref().filter(|p| existing == crate::model::Existing::Keep && p.exists()) {
                    return Err(usage!("--out: {}", crate::model::refusal_to_replace(path)));
                }
                let mask = crate::fixture::Mask::parse(&masks).map_err(|e| usage!("--mask: {e}"))?;
                let (mut fold, source): (Box<dyn Fold>, _) = match fold {
                    Some(path) => {
                        let (name, source) = crate::script::read_script(&path)?;
                        let fold = JsFold::from_source(&name, &source)?;
                        (Box::new(fold), crate::fixture::FoldSource { name, source: Some(source) })
                    }
                    None => (Box::new(MergeFold::default()), crate::fixture::FoldSource::merge()),
                };
                let format = crate::fixture::FixtureFormat::from(format);
                format.supports(&source).map_err(|e| usage!("{e}"))?;
                let store = open(&store, layout.as_deref()).await?;
                let out = out.map(|path| (path, existing));
                write_fixture(&store, &stream, from, to.unwrap_or(from), fold.as_mut(), &source, &mask, format, out)
                    .await
            }
            Command::Whatif { store, js, fold, sql, key, preview } => {
                let script = crate::whatif::WhatIf::from_file(&js)?;
                let mut fold = fold.map(|path| JsFold::from_file(&path)).transpose()?;
                let sql = sql.map(|path| crate::model::read_user_file(&path).map_err(|e| anyhow!(e))).transpose()?;
                let store = open(&store, layout.as_deref()).await?;
                let read_model = sql.as_deref().map(|text| (text, key.as_deref(), preview.limits_and_permissions()));
                print_whatif(&store, &script, fold.as_mut().map(|f| f as &mut dyn Fold), read_model).await
            }
            Command::Schemas { store, export, check, allow_missing, no_examples, force } => {
                let contracts = match &check {
                    Some(dir) => Some(crate::schema::Contracts::load(dir).map_err(|e| match e {
                        crate::schema::SchemaError::Empty(m) => usage!("{m}"),
                        other => anyhow!(other),
                    })?),
                    None => None,
                };
                let store = open(&store, layout.as_deref()).await?;
                match contracts {
                    Some(contracts) => print_schema_check(&store, &contracts, allow_missing).await,
                    None => print_schemas(&store, export.map(|dir| (dir, force)), no_examples).await,
                }
            }
            Command::Drift { store, fold, category } => {
                let mut script = fold.map(|path| JsFold::from_file(&path)).transpose()?;
                let store = open(&store, layout.as_deref()).await?;
                print_drift(&store, script.as_mut().map(|f| f as &mut dyn Fold), category).await
            }
            Command::Preview { store, sql, compare, key, format, preview } => {
                let text = crate::model::read_user_file(&sql).map_err(|e| anyhow!(e))?;
                let (limits, permissions) = preview.limits_and_permissions();
                let store = open(&store, layout.as_deref()).await?;
                print_preview(&store, &text, compare, key, format, limits, &permissions).await
            }
            Command::Audit { store, since, until, filters, format } => {
                let FilterArgs { types, stream, meta, text } = filters;
                let filter = audit_filter(since, until, types, stream, meta, text)?;
                let store = open(&store, layout.as_deref()).await?;
                let format = match format {
                    FormatArg::Json => crate::audit::ExportFormat::JsonArray,
                    FormatArg::Jsonl => crate::audit::ExportFormat::JsonLines,
                    FormatArg::Csv => crate::audit::ExportFormat::Csv,
                };
                let mut out = std::io::BufWriter::new(std::io::stdout());
                crate::audit::export(&store, &filter, format, &mut out, |_| true).await?;
                Ok(())
            }
            Command::Tail { store, filters, from_start, interval_ms, max_events, lookback_ms } => {
                let FilterArgs { types, stream, meta, text } = filters;
                let filter = audit_filter(None, None, types, stream, meta, text)?;
                let interval = std::time::Duration::from_millis(interval_ms.max(10));
                let lookback = std::time::Duration::from_millis(lookback_ms);
                tail(&store, layout.as_deref(), filter, from_start, interval, lookback, max_events).await
            }
            Command::Project { store, js, until } => {
                let projection = JsProjection::from_file(&js)?;
                let store = open(&store, layout.as_deref()).await?;
                print_projection(&store, projection, until).await
            }
            Command::Lesson { action } => export_lesson(action, layout.as_deref()).await,
            Command::Demo { action: DemoAction::Create { path, url, force } } => create_demo(path, url, force).await,
            Command::Bench { .. } => Ok(()),
        }
    }
}

/// The filters `audit` and `tail` share (besides the time range).
#[derive(clap::Args, Debug)]
pub struct FilterArgs {
    /// Only this event type (repeat for several).
    #[arg(long = "type")]
    types: Vec<String>,
    /// Only streams whose id contains this text.
    #[arg(long)]
    stream: Option<String>,
    /// Only events whose metadata has key = value (repeat: all must hold).
    #[arg(long = "meta")]
    meta: Vec<String>,
    /// Only events whose payload contains this text (reads every payload).
    #[arg(long)]
    text: Option<String>,
}

/// The limits and permissions of a SQL preview, for every subcommand that runs one.
#[derive(clap::Args, Debug)]
pub struct PreviewArgs {
    /// Stop the query after this many milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
    /// At most this many rows.
    #[arg(long, default_value_t = 10_000)]
    max_rows: usize,
    /// PostgreSQL: let the preview call this function, which is not built in (or is
    /// volatile); repeat for several. Only for functions you know do not write.
    #[arg(long = "allow-function", value_name = "NAME")]
    allow_functions: Vec<String>,
    /// PostgreSQL: run the preview even though the role is privileged (superuser,
    /// replication, server files …). Better: connect as a role that can only read.
    #[arg(long)]
    allow_privileged_role: bool,
}

impl PreviewArgs {
    fn limits_and_permissions(self) -> (PreviewLimits, PreviewPermissions) {
        let limits =
            PreviewLimits { timeout: std::time::Duration::from_millis(self.timeout_ms), max_rows: self.max_rows };
        let permissions = PreviewPermissions {
            allowed_functions: self.allow_functions.into_iter().collect(),
            privileged_role: self.allow_privileged_role,
        };
        (limits, permissions)
    }
}

/// `eventscope lesson export`: reads the scripts and steps first, so a typo costs no read of
/// the store.
async fn export_lesson(action: LessonAction, layout: Option<&str>) -> anyhow::Result<()> {
    let LessonAction::Export {
        store,
        streams,
        filters,
        since,
        until,
        title,
        fold,
        projection,
        sql,
        steps,
        masks,
        out,
        force,
    } = action;
    let mask = crate::fixture::Mask::parse(&masks).map_err(|e| usage!("--mask: {e}"))?;
    let mut scripts = Vec::new();
    for (paths, kind) in [
        (fold, crate::lesson::ScriptKind::Fold),
        (projection, crate::lesson::ScriptKind::Projection),
        (sql, crate::lesson::ScriptKind::Sql),
    ] {
        for path in paths {
            let (name, source) = crate::script::read_script(&path)?;
            scripts.push(crate::lesson::LessonScript { name, kind, source });
        }
    }
    let steps = match steps {
        Some(path) => {
            let text = crate::model::read_user_file(&path).map_err(|e| anyhow!(e))?;
            let steps = crate::lesson::steps_from_json(&text).map_err(|e| usage!("--steps {}: {e}", path.display()))?;
            if steps.is_empty() {
                return Err(usage!(
                    "--steps {}: the file lists no steps (leave --steps out for the default ones)",
                    path.display()
                ));
            }
            steps
        }
        None => Vec::new(),
    };
    let FilterArgs { types, stream, meta, text } = filters;
    let filtered = !types.is_empty() || stream.is_some() || !meta.is_empty() || text.is_some();
    let filter = audit_filter(since.clone(), until.clone(), types, stream, meta, text)?;
    let filter = (filtered || since.is_some() || until.is_some()).then_some(filter);
    if streams.is_empty() && filter.is_none() {
        return Err(usage!(
            "give the streams (--streams A,B) or an audit filter (--type, --meta, --text…) for the lesson"
        ));
    }
    let target = Target::parse(&store)?;
    // The bookmarks the window keeps for this store (outside it).
    let settings = crate::ui::settings::SettingsFile::load(crate::ui::settings::SettingsFile::default_path());
    let bookmarks = settings.for_store(&crate::ui::settings::store_key(&target)).bookmarks;
    let source = crate::deep_link::Link::store_of(&target);
    let store = open(&store, layout).await?;
    let request = crate::lesson::ExportRequest { title, streams, filter, scripts, steps, bookmarks, mask, source };
    let summary = crate::lesson::export(&store, request, &out, force).await.map_err(|e| match e {
        crate::lesson::LessonError::Usage(m) => usage!("{m}"),
        other => anyhow!(other),
    })?;
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

/// Opens a store; an encrypted store's key comes from `EVENTSCOPE_CIPHER_KEY` (or
/// eventsourcing's own `CIPHER_KEY`), never from the command line, and is never stored. A key
/// that is not usable stops nothing: only payloads that need one say so (and a store whose
/// layout encrypts gets a warning).
async fn open(store: &str, layout: Option<&str>) -> anyhow::Result<Store> {
    let store = Store::open(Target::parse(store)?, layout).await?;
    let key = std::env::var("EVENTSCOPE_CIPHER_KEY").or_else(|_| std::env::var("CIPHER_KEY")).ok();
    if let Err(e) = store.set_cipher_key(key.as_deref())
        && store.layout.codec == crate::store::layout::Codec::Eventsourcing
    {
        say!("warning: the cipher key in the environment is not used: {e}");
    }
    Ok(store)
}

const PAGE: usize = 1_000;

/// Writes a listing one record at a time in the chosen format, so long outputs are never held
/// in memory. CSV has the given columns, each record's fields taken from its JSON object by name
/// (text as it is, other values as JSON, null empty).
struct ListWriter<W: Write> {
    out: W,
    format: FormatArg,
    columns: Vec<String>,
    first: bool,
}

impl<W: Write> ListWriter<W> {
    /// (Nothing is written before the first record: a command that fails at once leaves no
    /// half array on stdout.)
    fn new(out: W, format: FormatArg, columns: impl IntoIterator<Item = impl Into<String>>) -> Self {
        ListWriter { out, format, columns: columns.into_iter().map(Into::into).collect(), first: true }
    }

    fn push(&mut self, value: &serde_json::Value) -> anyhow::Result<()> {
        let first = std::mem::replace(&mut self.first, false);
        match self.format {
            FormatArg::Json => {
                self.out.write_all(if first { b"[\n  " } else { b",\n  " })?;
                serde_json::to_writer(&mut self.out, value)?;
            }
            FormatArg::Jsonl => {
                serde_json::to_writer(&mut self.out, value)?;
                self.out.write_all(b"\n")?;
            }
            FormatArg::Csv => {
                if first {
                    self.out.write_all(crate::csv_text::record(&self.columns).as_bytes())?;
                }
                let field = |name: &String| match value.get(name) {
                    None | Some(serde_json::Value::Null) => String::new(),
                    Some(serde_json::Value::String(text)) => text.clone(),
                    Some(other) => other.to_string(),
                };
                self.out.write_all(crate::csv_text::record(self.columns.iter().map(field)).as_bytes())?;
            }
        }
        Ok(())
    }

    /// An event: as its JSON, or in CSV as the audit export writes it (one CSV of events).
    fn push_event(&mut self, event: &crate::model::Event) -> anyhow::Result<()> {
        if self.format != FormatArg::Csv {
            return self.push(&event.to_output_json());
        }
        if std::mem::replace(&mut self.first, false) {
            self.out.write_all(crate::csv_text::record(&self.columns).as_bytes())?;
        }
        self.out.write_all(crate::audit::csv_line(event).as_bytes())?;
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        match (self.format, self.first) {
            (FormatArg::Json, true) => self.out.write_all(b"[]\n")?,
            (FormatArg::Json, false) => self.out.write_all(b"\n]\n")?,
            (FormatArg::Csv, true) => self.out.write_all(crate::csv_text::record(&self.columns).as_bytes())?,
            _ => {}
        }
        self.out.flush()?;
        Ok(())
    }
}

/// The CSV columns of the streams listing (events have the audit export's).
const STREAM_COLUMNS: [&str; 6] =
    ["stream", "events", "events_at_least", "first_version", "last_version", "last_recorded_at"];

async fn print_streams(
    store: &Store,
    search: String,
    limit: Option<usize>,
    sort: StreamSort,
    format: FormatArg,
) -> anyhow::Result<()> {
    let mut out = ListWriter::new(std::io::stdout().lock(), format, STREAM_COLUMNS);
    let mut remaining = limit.unwrap_or(usize::MAX);
    let mut query = StreamQuery { search, sort, after: None, limit: PAGE.min(remaining) as i64 };
    while remaining > 0 {
        query.limit = PAGE.min(remaining) as i64;
        let page = store.list_streams(&query).await?;
        for summary in &page.streams {
            out.push(&summary.to_output_json())?;
        }
        remaining -= page.streams.len().min(remaining);
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    out.finish()
}

async fn print_events(
    store: &Store,
    stream: &str,
    from: Option<i64>,
    limit: Option<usize>,
    format: FormatArg,
) -> anyhow::Result<()> {
    // Without --from, from the start: events without a version are listed too.
    let start = EventCursor::from_version(from.unwrap_or(i64::MIN));
    let mut remaining = limit.unwrap_or(usize::MAX);
    let first = store.read_stream(stream, start, PAGE.min(remaining.max(1))).await?;
    if first.events.is_empty() {
        // Nothing read: say why (an unknown stream, or a --from past its end).
        let summary = store.stream_summary(stream).await?;
        if let Some(from) = from
            && from > summary.last_version
        {
            return Err(usage!(
                "stream {stream} ends at version {last}: --from {from} is past the end; give --from {first} to {last}",
                first = summary.first_version,
                last = summary.last_version
            ));
        }
    }
    let mut page = Some(first);
    let mut checker = VersionChecker::default();
    let mut out = ListWriter::new(std::io::stdout().lock(), format, crate::audit::EXPORT_COLUMNS);
    while let Some(read) = page.take() {
        for event in read.events.iter().take(remaining) {
            if event.has_version() {
                checker.push(event.version);
            }
            out.push_event(event)?;
        }
        remaining -= read.events.len().min(remaining);
        if let Some(next) = read.next.filter(|_| remaining > 0) {
            page = Some(store.read_stream(stream, next, PAGE.min(remaining)).await?);
        }
    }
    out.finish()?;
    for anomaly in &checker.anomalies {
        say!("warning: stream {stream}: {anomaly}");
    }
    Ok(())
}

async fn print_state(store: &Store, stream: &str, at: Option<i64>, fold: Box<dyn Fold>) -> anyhow::Result<()> {
    let output = state_of(store, stream, at, fold).await?;
    write_out(&format!("{}\n", serde_json::to_string_pretty(&output)?))
}

async fn print_bisection(
    store: &Store,
    stream: &str,
    fold: &mut dyn Fold,
    condition: &crate::bisect::Condition,
    scan: bool,
) -> anyhow::Result<()> {
    // (An unknown stream is said as such, not as a condition that never holds.)
    store.stream_summary(stream).await?;
    let found = if scan {
        crate::bisect::scan(store, stream, fold, condition).await?
    } else {
        crate::bisect::bisect(store, stream, fold, condition).await?
    };
    let mut output = serde_json::to_value(&found)?;
    if let Some(at) = &found.found {
        let changes: Vec<serde_json::Value> = crate::diff::structural_diff(&at.before, &at.after)
            .into_iter()
            .map(
                |c| json!({"path": c.path, "kind": format!("{:?}", c.kind).to_lowercase(), "old": c.old, "new": c.new}),
            )
            .collect();
        output["event"] = at.event.to_output_json();
        output["changes"] = json!(changes);
        output["caused_by"] = match store.caused_by(&at.event).await {
            Ok(Some(cause)) => {
                json!({"stream": cause.stream.0, "version": cause.version, "event_type": cause.event_type})
            }
            Ok(None) => serde_json::Value::Null,
            Err(e) => json!({"error": e.to_string()}),
        };
    }
    write_out(&format!("{}\n", serde_json::to_string_pretty(&output)?))?;
    if found.version.is_none() && found.index.is_none() && !found.holds_initially {
        let states = crate::ui::counted(found.events as i64 + 1, "state", "states");
        let never = if scan {
            format!("`{}` never holds in stream {stream} (asked of all its {states})", condition.text)
        } else {
            format!(
                "`{}` does not hold at the states asked in stream {stream} ({} of its {states}). Like git bisect, \
                 the search takes a condition to keep holding once it holds: one that holds for a while and stops \
                 can be missed; --scan asks every state",
                condition.text, found.evaluations
            )
        };
        return Err(anyhow::Error::new(Finding(never)));
    }
    Ok(())
}

async fn print_category_bisection(
    store: &Store,
    category: &str,
    fold: &mut dyn Fold,
    condition: &crate::bisect::Condition,
) -> anyhow::Result<()> {
    let mut folds = crate::fold::Folds::new(Some((fold, crate::fold::FoldScope::AllStreams)));
    let found = crate::bisect::bisect_category(store, category, &mut folds, condition, &mut |_, _| true)
        .await?
        .ok_or_else(|| anyhow!("the search was stopped"))?;
    if found.streams_checked == 0 {
        return Err(usage!("no stream of category `{category}` in this store (the streams list shows the categories)"));
    }
    write_out(&format!("{}\n", serde_json::to_string_pretty(&found)?))?;
    if found.holding.is_empty()
        && let Some(first) = found.failures.first()
    {
        return Err(anyhow!(
            "`{}` could not be asked of {} of the {} of category {category} (first, {}: {})",
            condition.text,
            found.failures.len(),
            crate::ui::counted(found.streams_checked as i64, "stream", "streams"),
            first.stream,
            first.error
        ));
    }
    if found.holding.is_empty() {
        let streams = crate::ui::counted(found.streams_checked as i64, "stream", "streams");
        let never = format!("`{}` never holds in the {streams} of category {category}", condition.text);
        return Err(anyhow::Error::new(Finding(never)));
    }
    Ok(())
}

async fn print_drift(store: &Store, script: Option<&mut dyn Fold>, category: Option<String>) -> anyhow::Result<()> {
    if store.layout.snapshots.is_none() {
        return Err(usage!(
            "this store keeps no snapshots (layout {}): there is nothing to compare",
            store.layout.name
        ));
    }
    let scope = match &category {
        Some(category) => crate::fold::FoldScope::Category(category.clone()),
        None => crate::fold::FoldScope::AllStreams,
    };
    let mut folds = crate::drift::Folds::new(script.map(|fold| (fold, scope)));
    let checked = crate::drift::check_store(store, category.as_deref(), &mut folds, &mut |_, _, _| true)
        .await?
        .ok_or_else(|| anyhow!("the check was stopped"))?;
    if checked.more {
        say!("warning: only the first {} streams with snapshots were checked", crate::drift::MAX_STREAMS);
    }
    write_out(&format!("{}\n", serde_json::to_string_pretty(&checked)?))?;
    if let Some(category) = &category
        && checked.streams == 0
    {
        return Err(usage!("no stream of category `{category}` has snapshots"));
    }
    let snapshots = |n: usize| crate::ui::counted(n as i64, "snapshot", "snapshots");
    if let Some(stopped) = &checked.stopped {
        return Err(anyhow!("stopped: {stopped}"));
    }
    if checked.drifting_streams > 0 {
        let streams = crate::ui::counted(checked.drifting_streams as i64, "stream", "streams");
        return Err(anyhow::Error::new(Finding(format!(
            "snapshots drift from the state recomputed from the events in {streams}{}",
            if checked.not_compared > 0 {
                format!("; {} not compared", snapshots(checked.not_compared))
            } else {
                String::new()
            }
        ))));
    }
    if checked.fold_failed_streams > 0 || (checked.compared == 0 && checked.snapshots > 0) {
        // Nothing, or not everything, could be compared: no drift found is no answer.
        return Err(anyhow!(
            "{} of {} could not be compared (the fold failed on {}): see `others`",
            checked.not_compared,
            snapshots(checked.snapshots),
            crate::ui::counted(checked.fold_failed_streams as i64, "stream", "streams")
        ));
    }
    if checked.not_compared > 0 {
        say!("warning: {} could not be compared (see `others`)", snapshots(checked.not_compared));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn write_fixture(
    store: &Store,
    stream: &str,
    from: i64,
    to: i64,
    fold: &mut dyn Fold,
    source: &crate::fixture::FoldSource,
    mask: &crate::fixture::Mask,
    format: crate::fixture::FixtureFormat,
    out: Option<(PathBuf, crate::model::Existing)>,
) -> anyhow::Result<()> {
    use crate::fixture::FixtureError;
    let fixture = match crate::fixture::cut(store, stream, from, to, fold, source, mask).await {
        Ok(fixture) => fixture,
        Err(FixtureError::Store(e)) => return Err(e.into()),
        Err(FixtureError::Range(e)) => return Err(usage!("{e}")),
        Err(e @ FixtureError::Fold { .. }) => return Err(e.into()),
    };
    for warning in &fixture.warnings {
        say!("warning: {warning}");
    }
    let text = crate::fixture::render(&fixture, format);
    match out {
        Some((path, existing)) => {
            crate::model::write_user_file(&path, &text, existing).map_err(|e| anyhow!(e))?;
            say!(
                "wrote {} ({} given, {} then events) to {}",
                format.name(),
                fixture.given.len(),
                fixture.then.len(),
                path.display()
            );
            Ok(())
        }
        None => write_out(&text),
    }
}

/// A SQL projection to compare as it is and as the what-if would leave it: its text, the key
/// column, and the preview's limits and permissions.
type ReadModelArgs<'a> = (&'a str, Option<&'a str>, (PreviewLimits, PreviewPermissions));

async fn print_whatif(
    store: &Store,
    script: &crate::whatif::WhatIf,
    fold: Option<&mut dyn Fold>,
    read_model: Option<ReadModelArgs<'_>>,
) -> anyhow::Result<()> {
    let mut folds = crate::fold::Folds::new(fold.map(|f| (f, crate::fold::FoldScope::AllStreams)));
    let outcome = crate::whatif::run(store, script, &mut folds, &mut |_| true)
        .await?
        .ok_or_else(|| anyhow!("the run was stopped"))?;
    if let Some(category) = &script.category
        && outcome.streams_seen == 0
    {
        write_out(&format!("{}\n", serde_json::to_string_pretty(&outcome)?))?;
        return Err(usage!("the script asks for category `{category}`, which no stream of this store has"));
    }
    let mut printed = serde_json::to_value(&outcome)?;
    if let Some((text, key, (limits, permissions))) = read_model {
        let change = crate::whatif::read_model::compare_read_model(
            store,
            &outcome,
            text,
            key,
            limits,
            &permissions,
            &crate::store::CancelToken::default(),
        )
        .await;
        match change {
            Ok(change) => printed["read_model"] = serde_json::to_value(&change)?,
            Err(e) => {
                // (What the script would do to the streams is still worth having.)
                write_out(&format!("{}\n", serde_json::to_string_pretty(&printed)?))?;
                return Err(preview_failure(text, e).context("the read model could not be compared"));
            }
        }
    }
    write_out(&format!("{}\n", serde_json::to_string_pretty(&printed)?))?;
    if let Some((stream, error)) = outcome.failures.first() {
        // (What it would change elsewhere is no full answer.)
        return Err(anyhow!(
            "the script or the fold failed on {} of {} (first, {stream}: {error})",
            outcome.failed_streams,
            crate::ui::counted(outcome.streams_seen as i64, "stream", "streams")
        ));
    }
    Ok(())
}

/// `schemas`; `export` is the folder to write the schemas to, and whether files there may be
/// replaced.
async fn print_schemas(store: &Store, export: Option<(PathBuf, bool)>, no_examples: bool) -> anyhow::Result<()> {
    let (mut types, check) =
        crate::schema::survey_store(store, &mut |_, _| true).await?.ok_or_else(|| anyhow!("the survey was stopped"))?;
    if no_examples {
        types.iter_mut().for_each(crate::schema::InferredType::drop_examples);
    }
    if let Some((dir, force)) = &export {
        if dir.exists() && !dir.is_dir() {
            return Err(usage!(
                "--export: {} is a file, not a folder; name a folder (it is created if missing)",
                dir.display()
            ));
        }
        let paths: Vec<PathBuf> = types.iter().map(|t| dir.join(t.key.file_name())).collect();
        // (Every name is checked before anything is written: a refusal leaves the folder as it was.)
        let existing: Vec<&PathBuf> = paths.iter().filter(|p| p.exists()).collect();
        if let Some(first) = existing.first().filter(|_| !force) {
            return Err(usage!(
                "--export: {} schema file(s) exist in {}, such as {}: eventscope does not replace them unless told \
                 (--force), so that a schema edited by hand is not lost; choose another folder",
                existing.len(),
                dir.display(),
                first.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
            ));
        }
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (t, path) in types.iter().zip(&paths) {
            let text = format!("{}\n", serde_json::to_string_pretty(&t.schema)?);
            crate::model::write_user_file(path, &text, crate::model::Existing::Replace).map_err(|e| anyhow!(e))?;
        }
        say!("wrote {} to {}", crate::ui::counted(types.len() as i64, "schema", "schemas"), dir.display());
    }
    let outliers = |t: &crate::schema::InferredType| -> Vec<serde_json::Value> {
        check
            .breaches
            .iter()
            // (Each inferred type's contract is named by its file name.)
            .filter(|b| b.schema == t.key.file_name())
            .map(|b| json!({"stream": b.stream, "version": b.version, "errors": b.errors}))
            .collect()
    };
    let listed: Vec<serde_json::Value> = types
        .iter()
        .map(|t| {
            json!({
                "event_type": t.key.event_type,
                "schema_version": t.key.schema_version,
                "events": t.events,
                "not_json": t.not_json,
                "first": t.first,
                "file": export.as_ref().map(|_| t.key.file_name()),
                "fields": t.fields,
                "outliers": outliers(t),
                "schema": t.schema,
            })
        })
        .collect();
    let output = json!({"events": check.events, "types": listed, "outliers": check.breaking});
    write_out(&format!("{}\n", serde_json::to_string_pretty(&output)?))
}

async fn print_schema_check(
    store: &Store,
    contracts: &crate::schema::Contracts,
    allow_missing: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = None;
    let check = crate::schema::check_store(store, contracts, &mut |_, breach| {
        let Some(breach) = breach else { return true };
        let line = json!({"stream": breach.stream, "version": breach.version, "event_type": breach.event_type,
            "schema": breach.schema, "errors": breach.errors, "line": breach.line()});
        match serde_json::to_writer(&mut out, &line)
            .map_err(anyhow::Error::from)
            .and_then(|()| Ok(out.write_all(b"\n")?))
        {
            Ok(()) => true,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })
    .await?;
    out.flush()?;
    if let Some(e) = failed {
        return Err(e);
    }
    let check = check.ok_or_else(|| anyhow!("the check was stopped"))?;
    let events = |n: u64| crate::ui::counted(n as i64, "event", "events");
    let missing: u64 = check.without_contract.values().sum();
    if !check.without_contract.is_empty() {
        let types: Vec<String> = check.without_contract.iter().map(|(t, n)| format!("{t} ({n})")).collect();
        if allow_missing {
            say!("warning: {} have no schema: {}", events(missing), types.join(", "));
        } else {
            let mut out = std::io::stdout().lock();
            for (event_type, n) in &check.without_contract {
                let line = json!({"event_type": event_type, "events": n, "schema": null,
                    "line": format!("{event_type}: {} with no schema in the folder", events(*n))});
                writeln!(out, "{line}")?;
            }
        }
    }
    if check.breaking > 0 || (missing > 0 && !allow_missing) {
        let mut said = Vec::new();
        if check.breaking > 0 {
            said.push(format!("{} of {} checked break their schema", events(check.breaking), check.checked));
        }
        if missing > 0 && !allow_missing {
            said.push(format!(
                "{} of {} have no schema (--allow-missing to only warn)",
                events(missing),
                crate::ui::counted(check.without_contract.len() as i64, "type", "types")
            ));
        }
        return Err(anyhow::Error::new(Finding(said.join("; "))));
    }
    say!(
        "{} checked against {}: every one fits",
        events(check.checked),
        crate::ui::counted(contracts.len() as i64, "schema", "schemas")
    );
    Ok(())
}

/// Writes to standard output; a closed pipe (`| head`) comes back as an error that ends the
/// command quietly with exit 0, as it does for the listings (`println!` would panic).
fn write_out(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// What `eventscope state` prints: `{stream, version, fold, state}` (and `anomalies` when the
/// versions have gaps or duplicates), the fold replayed up to version `at` (default: the last).
pub async fn state_of(
    store: &Store,
    stream: &str,
    at: Option<i64>,
    mut fold: Box<dyn Fold>,
) -> anyhow::Result<serde_json::Value> {
    let summary = store.stream_summary(stream).await?;
    let until = at.unwrap_or(summary.last_version);
    if until < summary.first_version {
        return Err(usage!(
            "stream {stream} starts at version {first}: --at {until} is before it, so nothing would be folded; \
             give --at {first} to {last}",
            first = summary.first_version,
            last = summary.last_version
        ));
    }
    if until > summary.last_version {
        return Err(usage!(
            "stream {stream} ends at version {last}: --at {until} is past the end; give --at {first} to {last}",
            first = summary.first_version,
            last = summary.last_version
        ));
    }
    fold.reset()?;
    // The stream is read once, streamed, and folded as it comes.
    let mut checker = VersionChecker::default();
    let mut failed = None;
    let mut apply = |event: crate::model::Event| {
        if event.version > until {
            return false;
        }
        if event.has_version() {
            checker.push(event.version);
        }
        match fold.apply(&event) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(anyhow!("the fold stopped at version {} ({}): {e}", event.version, event.event_type));
                false
            }
        }
    };
    store.read_stream_each(stream, None, &mut apply).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    let anomalies: Vec<String> = checker.anomalies.iter().map(ToString::to_string).collect();
    let mut output =
        json!({"stream": StreamId(stream.to_owned()).0, "version": until, "fold": fold.name(), "state": fold.state()?});
    if !anomalies.is_empty() {
        output["anomalies"] = json!(anomalies);
    }
    Ok(output)
}

/// A preview failure as one line, with the file line and column where the database gives one.
fn preview_failure(text: &str, e: PreviewError) -> anyhow::Error {
    match e {
        PreviewError::Database { position: Some(p), .. } => {
            let (line, column) = crate::projection::sql::line_column(text, p);
            anyhow::Error::new(e).context(format!("line {line}, column {column}"))
        }
        other => anyhow::Error::new(other),
    }
}

async fn print_preview(
    store: &Store,
    text: &str,
    compare: bool,
    key: Option<String>,
    format: FormatArg,
    limits: PreviewLimits,
    permissions: &PreviewPermissions,
) -> anyhow::Result<()> {
    let cancel = crate::store::CancelToken::default();
    let (definition, rows) = crate::projection::sql::preview(store, text, limits, permissions, &cancel)
        .await
        .map_err(|e| preview_failure(text, e))?;
    if rows.truncated {
        say!("warning: only the first {} rows are shown (--max-rows)", rows.rows.len());
    }
    if !compare {
        let columns = rows.columns.iter().map(|c| c.name.clone());
        if format == FormatArg::Csv {
            // (Cells as the table shows them: bytes in hex, times in RFC 3339.)
            write_out(&rows.to_csv())?;
            return Ok(());
        }
        let mut out = ListWriter::new(std::io::stdout().lock(), format, columns);
        for row in &rows.rows {
            out.push(&rows.row_json(row))?;
        }
        return out.finish();
    }
    let Some(relation) = definition.relation.clone() else {
        return Err(usage!(
            "a bare query names no deployed relation to compare with: write CREATE VIEW name AS … (or CREATE MATERIALIZED VIEW / CREATE TABLE … AS)"
        ));
    };
    if !store.relation_exists(&relation).await? {
        return Err(anyhow!(
            "the definition names `{relation}`, which is not deployed in this store: there is nothing to compare with"
        ));
    }
    let deployed =
        store.preview_relation(&relation, limits, permissions, &cancel).await.map_err(|e| preview_failure(text, e))?;
    let key = key.or_else(|| rows.columns.first().map(|c| c.name.clone())).unwrap_or_default();
    let comparison = crate::projection::sql::compare(&deployed, &rows, &key).map_err(|e| anyhow!(e))?;
    if comparison.incomplete {
        say!("warning: a side has more rows than --max-rows: rows beyond it were not compared");
    }
    match format {
        FormatArg::Csv => {
            let columns: Vec<String> = rows.columns.iter().map(|c| c.name.clone()).collect();
            write_out(&comparison.to_csv(&columns))?;
        }
        FormatArg::Json => {
            let output = json!({"relation": relation, "rows": rows.to_json(), "compare": comparison.to_json()});
            write_out(&format!("{}\n", serde_json::to_string_pretty(&output)?))?;
        }
        // One line per difference.
        FormatArg::Jsonl => {
            let mut out = ListWriter::new(std::io::stdout().lock(), format, Vec::<String>::new());
            for row in &comparison.added {
                out.push(&json!({"change": "added", "row": row}))?;
            }
            for row in &comparison.removed {
                out.push(&json!({"change": "removed", "row": row}))?;
            }
            for (key, deployed, proposed) in &comparison.changed {
                out.push(&json!({"change": "changed", "key": key, "deployed": deployed, "proposed": proposed}))?;
            }
            out.finish()?;
        }
    }
    Ok(())
}

fn audit_filter(
    since: Option<String>,
    until: Option<String>,
    types: Vec<String>,
    stream: Option<String>,
    meta: Vec<String>,
    text: Option<String>,
) -> anyhow::Result<crate::audit::AuditFilter> {
    let time = |flag: &str, value: Option<String>| -> anyhow::Result<_> {
        value
            .map(|v| {
                crate::store::cell::parse_time(&v).ok_or_else(|| {
                    usage!("{flag} {v:?} is not a time: write RFC 3339 (2026-03-02T08:00:00Z) or a date (2026-03-02)")
                })
            })
            .transpose()
    };
    let meta = meta
        .into_iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(usage!("--meta {pair:?} is not key=value (for example --meta actor=user:C-112)")),
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(crate::audit::AuditFilter {
        since: time("--since", since)?,
        until: time("--until", until)?,
        types,
        stream: stream.unwrap_or_default(),
        meta,
        text: text.unwrap_or_default(),
        only: None,
    })
}

/// Prints the events appended from now (or from the start) as JSON Lines until interrupted,
/// `max_events` printed, or the reader of the output goes away.
async fn tail(
    target: &str,
    layout: Option<&str>,
    filter: crate::audit::AuditFilter,
    from_start: bool,
    interval: std::time::Duration,
    lookback: std::time::Duration,
    max_events: Option<usize>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    /// A look that fails (a writer holding the lock, a server restarting) is tried again at
    /// the next interval; this many failures in a row end the tail.
    const MAX_FAILED_LOOKS: u32 = 30;
    let mut store = open(target, layout).await?;
    let mut follower = crate::follow::Follower::start(&store, filter, from_start).await?;
    if store.dialect() == crate::store::query::Dialect::Postgres {
        follower.set_lookback(lookback);
    }
    let mut failed_looks = 0;
    let mut left = max_events.unwrap_or(usize::MAX);
    let mut out = std::io::stdout().lock();
    while left > 0 {
        // A SQLite file no writer had open was read as it was: once one opens it, read it anew.
        if store.reopen_to_follow() {
            store.close().await;
            store = open(target, layout).await?;
        }
        // (At most a chunk a poll: a tail from the start of a big log prints as it reads.)
        let events = match follower.poll(&store, left.min(10_000)).await {
            Ok(events) => {
                failed_looks = 0;
                events
            }
            Err(e) if failed_looks + 1 < MAX_FAILED_LOOKS => {
                failed_looks += 1;
                eprintln!("warning: a look at the store failed, trying again ({failed_looks} in a row): {e}");
                tokio::time::sleep(interval).await;
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        for event in &events {
            let line = serde_json::to_string(&event.output())?;
            // (A reader that went away, `| head` say, ends the tail quietly.)
            if writeln!(out, "{line}").is_err() {
                return Ok(());
            }
        }
        if out.flush().is_err() {
            return Ok(());
        }
        left = left.saturating_sub(events.len());
        if left > 0 && events.is_empty() {
            tokio::time::sleep(interval).await;
        }
    }
    Ok(())
}

async fn print_projection(store: &Store, mut projection: JsProjection, until: Option<i64>) -> anyhow::Result<()> {
    if let Some(until) = until.filter(|u| *u < 0) {
        return Err(usage!(
            "--until {until} is not a global position: positions are 0 or more; leave --until out to read the whole log"
        ));
    }
    if until.is_some() && store.layout.columns.position.is_none() {
        return Err(usage!(
            "this store's layout ({}) has no global position column, so --until cannot be used: leave it out",
            store.layout.description
        ));
    }
    projection.reset()?;
    // The database leaves out what the source does not read (the projection checks each event
    // too), and the log is read with one streamed query.
    let selection = projection.source().selection(until);
    let mut read = 0usize;
    let mut last_position = None;
    let mut failed = None;
    let mut apply = |event: crate::model::Event| {
        read += 1;
        last_position = event.position.or(last_position);
        match projection.apply(&event) {
            Ok(()) => true,
            Err(e) => {
                failed = Some(anyhow!("the projection stopped: {e}"));
                false
            }
        }
    };
    store.read_log_each(&selection, &mut apply).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    let state = projection.state()?;
    let mut output = json!({
        "projection": projection.name(),
        "source": projection.source().describe(),
        "events_read": read,
        "position": last_position,
        "would_emit": projection.outputs(),
    });
    for key in ["state", "partitions"] {
        if let Some(value) = state.get(key) {
            output[key] = value.clone();
        }
    }
    write_out(&format!("{}\n", serde_json::to_string_pretty(&output)?))?;
    Ok(())
}

async fn create_demo(path: Option<PathBuf>, url: Option<String>, force: bool) -> anyhow::Result<()> {
    let store = crate::demo::generate(crate::demo::DemoOptions::default());
    match (path, url) {
        (Some(path), None) => {
            crate::demo::write_sqlite(&path, &store, force).await?;
            say!("wrote the workshop store ({} events) to {}", store.events.len(), path.display());
        }
        (None, Some(url)) => {
            crate::demo::write_postgres(&url, &store, force).await?;
            say!("wrote the workshop store ({} events) to {}", store.events.len(), crate::store::mask_url(&url));
        }
        _ => {
            return Err(usage!("give either a SQLite PATH or --url postgres://…, not both or neither"));
        }
    }
    Ok(())
}
