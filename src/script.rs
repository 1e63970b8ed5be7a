//! The JavaScript sandbox folds and projections run in: QuickJS through rquickjs, with no file
//! system, no network, no clock and no randomness (`Date.now()`, `new Date()` without an argument
//! and `Math.random()` throw), a memory limit, and a time budget per call enforced by the
//! interrupt handler, so that `while (true) {}` ends with a clear error instead of a frozen window.
//! Errors come back as [`ScriptError`]s naming the script line where there is one.
//!
//! Values cross the boundary as JSON text (`JSON.parse` / `JSON.stringify`): integers stay exact
//! and the rules are the ones JavaScript programmers know.

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Runtime};
use serde_json::Value;

use crate::model::{Event, format_time};

/// What kind of failure a script had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// The script does not parse.
    Syntax,
    /// The script threw (an Error or any other value).
    Exception,
    /// The time budget ran out (an endless loop, most likely).
    Timeout,
    /// The memory limit was reached.
    OutOfMemory,
    /// The script ran but did not give what eventscope needs (a handler returned nothing, ...).
    Contract,
}

/// A script failure in words, with the script position where the engine gives one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub kind: ScriptErrorKind,
    pub message: String,
    pub file: String,
    pub line: Option<u32>,
    pub column: Option<u32>,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(line), Some(column)) => {
                write!(f, "{}:{line}:{column}: {}", self.file, self.message)
            }
            (Some(line), None) => write!(f, "{}:{line}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for ScriptError {}

/// Limits of one sandbox.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub memory_bytes: usize,
    pub budget_per_call: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { memory_bytes: 256 * 1024 * 1024, budget_per_call: Duration::from_millis(1_000) }
    }
}

const PRELUDE: &str = r#"
(() => {
  const RealDate = Date;
  const deny = (what) => () => { throw new TypeError(what + " is not available in eventscope scripts: use the event's recordedAt"); };
  function SafeDate(...args) {
    if (!new.target) throw new TypeError("Date() is not available in eventscope scripts: use new Date(e.recordedAt)");
    if (args.length === 0) throw new TypeError("new Date() without an argument is not available in eventscope scripts: use new Date(e.recordedAt)");
    return Reflect.construct(RealDate, args, new.target);
  }
  SafeDate.prototype = RealDate.prototype;
  SafeDate.UTC = RealDate.UTC;
  SafeDate.parse = RealDate.parse;
  SafeDate.now = deny("Date.now()");
  Object.defineProperty(RealDate.prototype, "constructor", { value: SafeDate, writable: true, configurable: true });
  globalThis.Date = SafeDate;
  Math.random = deny("Math.random()");
  delete globalThis.performance;
})();
"#;

/// One QuickJS runtime and context with the limits installed.
///
/// Values saved from it (`rquickjs::Persistent`) must be dropped before it: the structs that hold
/// both declare the persistent fields first.
pub struct Sandbox {
    context: Context,
    deadline: Rc<Cell<Option<Instant>>>,
    limits: Limits,
    file: String,
    _runtime: Runtime,
}

impl Sandbox {
    /// A sandbox for the script named `file` (the name errors and stack traces show).
    pub fn new(file: &str, limits: Limits) -> Result<Sandbox, ScriptError> {
        let setup = |e: rquickjs::Error| ScriptError {
            kind: ScriptErrorKind::Contract,
            message: format!("cannot start the JavaScript engine: {e}"),
            file: file.to_owned(),
            line: None,
            column: None,
        };
        let runtime = Runtime::new().map_err(setup)?;
        runtime.set_memory_limit(limits.memory_bytes);
        runtime.set_max_stack_size(512 * 1024);
        let deadline: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
        let watched = deadline.clone();
        runtime.set_interrupt_handler(Some(Box::new(move || matches!(watched.get(), Some(t) if Instant::now() >= t))));
        let context = Context::full(&runtime).map_err(setup)?;
        let sandbox = Sandbox { context, deadline, limits, file: file.to_owned(), _runtime: runtime };
        sandbox.run(
            |ctx| eval(ctx, PRELUDE, "eventscope-prelude.js").map(|_: rquickjs::Value| ()),
            "preparing the sandbox",
        )?;
        Ok(sandbox)
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    /// Runs `f` inside the context with the time budget armed; a failure becomes a
    /// [`ScriptError`] (`doing` says what was being done, for the message).
    pub fn run<R>(
        &self,
        f: impl for<'js> FnOnce(&Ctx<'js>) -> rquickjs::Result<R>,
        doing: &str,
    ) -> Result<R, ScriptError> {
        self.deadline.set(Some(Instant::now() + self.limits.budget_per_call));
        let result = self.context.with(|ctx| f(&ctx).catch(&ctx).map_err(|e| self.classify(e, doing)));
        self.deadline.set(None);
        result
    }

    /// A failure of eventscope's contract with the script (not a JavaScript exception).
    pub fn contract_error(&self, message: String) -> ScriptError {
        ScriptError { kind: ScriptErrorKind::Contract, message, file: self.file.clone(), line: None, column: None }
    }

    fn classify(&self, caught: CaughtError<'_>, doing: &str) -> ScriptError {
        let mut error = ScriptError {
            kind: ScriptErrorKind::Exception,
            message: String::new(),
            file: self.file.clone(),
            line: None,
            column: None,
        };
        match caught {
            CaughtError::Exception(ex) => {
                let message = ex.message().unwrap_or_default();
                let name: String = ex.get("name").unwrap_or_default();
                let stack = ex.stack().unwrap_or_default();
                if let Some((line, column)) = frame_position(&stack, &self.file) {
                    error.line = Some(line);
                    error.column = Some(column);
                }
                if ex.as_value().is_uncatchable_error() || (name == "InternalError" && message == "interrupted") {
                    error.kind = ScriptErrorKind::Timeout;
                    error.message = format!(
                        "{doing} took longer than {} ms and was stopped (an endless loop?)",
                        self.limits.budget_per_call.as_millis()
                    );
                } else if name == "InternalError" && message == "out of memory" {
                    error.kind = ScriptErrorKind::OutOfMemory;
                    error.message = self.out_of_memory(doing);
                } else {
                    if name == "SyntaxError" && stack.lines().all(|l| !l.contains('(')) {
                        error.kind = ScriptErrorKind::Syntax;
                    }
                    let name = if name.is_empty() { "Error".to_owned() } else { name };
                    error.message = format!("{name}: {message} ({doing})");
                }
            }
            CaughtError::Value(v) if v.is_null() => {
                error.kind = ScriptErrorKind::OutOfMemory;
                error.message = self.out_of_memory(doing);
            }
            CaughtError::Value(v) => {
                let shown = v
                    .as_string()
                    .and_then(|s| s.to_string().ok())
                    .map(|s| format!("{s:?}"))
                    .unwrap_or_else(|| format!("a {}", v.type_name()));
                error.message = format!("threw {shown} ({doing})");
            }
            CaughtError::Error(rquickjs::Error::Allocation) => {
                error.kind = ScriptErrorKind::OutOfMemory;
                error.message = self.out_of_memory(doing);
            }
            CaughtError::Error(e) => {
                error.kind = ScriptErrorKind::Contract;
                error.message = format!("{e} ({doing})");
            }
        }
        error
    }

    fn out_of_memory(&self, doing: &str) -> String {
        format!("{doing} ran out of memory (limit {} MB)", self.limits.memory_bytes / (1024 * 1024))
    }
}

/// Reads a script file: its name (what errors show) and its text.
pub fn read_script(path: &std::path::Path) -> Result<(String, String), ScriptError> {
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    let source = std::fs::read_to_string(path).map_err(|e| ScriptError {
        kind: ScriptErrorKind::Contract,
        message: format!("cannot read the script: {e}"),
        file: path.display().to_string(),
        line: None,
        column: None,
    })?;
    Ok((name, source))
}

/// Evaluates a script with a file name (so stack traces name it), in sloppy mode like a plain
/// `.js` file.
pub fn eval<'js, T: rquickjs::FromJs<'js>>(ctx: &Ctx<'js>, source: &str, file: &str) -> rquickjs::Result<T> {
    let mut options = EvalOptions::default();
    options.filename = Some(file.to_owned());
    options.strict = false;
    ctx.eval_with_options(source, options)
}

/// JSON → a JavaScript value.
pub fn to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<rquickjs::Value<'js>> {
    ctx.json_parse(value.to_string())
}

/// A JavaScript value → JSON (`undefined` and functions become `null`, as `JSON.stringify` has it).
pub fn to_json<'js>(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<Value> {
    match ctx.json_stringify(value)? {
        None => Ok(Value::Null),
        Some(text) => {
            let text = text.to_string()?;
            serde_json::from_str(&text)
                .map_err(|e| rquickjs::Error::new_from_js_message("value", "JSON", e.to_string()))
        }
    }
}

/// The event as scripts see it: `{ type, data, metadata, streamId, version, position,
/// recordedAt, category }`; an undecodable payload is `{ undecodable: { reason, bytes_base64 } }`.
pub fn event_json(event: &Event) -> Value {
    serde_json::json!({
        "type": event.event_type,
        "data": event.payload.to_output_json(),
        "metadata": event.metadata.as_ref().map(|m| m.to_output_json()).unwrap_or(Value::Null),
        "streamId": event.stream.0,
        "version": event.version,
        "position": event.position,
        "recordedAt": event.recorded_at.map(format_time),
        "category": event.category(),
    })
}

/// The first `file:line:column` of a stack trace that is in `file`.
pub fn frame_position(stack: &str, file: &str) -> Option<(u32, u32)> {
    stack.lines().find_map(|line| {
        let line = line.trim_start().strip_prefix("at ")?;
        let location = match line.strip_suffix(')') {
            Some(inner) => &inner[inner.rfind('(')? + 1..],
            None => line,
        };
        let mut parts = location.strip_prefix(file)?.strip_prefix(':')?.split(':');
        Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_script(source: &str) -> Result<Value, ScriptError> {
        let sandbox = Sandbox::new(
            "test.js",
            Limits { memory_bytes: 32 * 1024 * 1024, budget_per_call: Duration::from_millis(100) },
        )?;
        sandbox.run(
            |ctx| {
                let value: rquickjs::Value = eval(ctx, source, "test.js")?;
                to_json(ctx, value)
            },
            "running the script",
        )
    }

    #[test]
    fn values_cross_as_json() {
        assert_eq!(
            run_script("({a: [1, 2.5, 'x', null], b: 9007199254740991})").unwrap(),
            serde_json::json!({"a": [1, 2.5, "x", null], "b": 9007199254740991u64})
        );
        assert_eq!(run_script("undefined").unwrap(), Value::Null);
    }

    #[test]
    fn no_clock_no_randomness_no_io() {
        for (source, expected) in [
            ("Date.now()", "Date.now() is not available"),
            ("new Date()", "new Date() without an argument"),
            ("Math.random()", "Math.random() is not available"),
        ] {
            let err = run_script(source).unwrap_err();
            assert!(err.message.contains(expected), "{source}: {err}");
        }
        assert_eq!(run_script("new Date('2026-03-02T08:00:00Z').toISOString()").unwrap(), "2026-03-02T08:00:00.000Z");
        assert_eq!(
            run_script("[typeof require, typeof std, typeof os, typeof fetch, typeof performance].join()").unwrap(),
            "undefined,undefined,undefined,undefined,undefined"
        );
    }

    #[test]
    fn an_endless_loop_is_stopped() {
        let started = Instant::now();
        let err = run_script("while (true) {}").unwrap_err();
        assert_eq!(err.kind, ScriptErrorKind::Timeout, "{err}");
        assert!(err.message.contains("took longer than 100 ms"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn memory_is_limited() {
        let err = run_script("(() => { const a = []; while (true) a.push({x: 'y'.repeat(1000)}); })()").unwrap_err();
        assert!(matches!(err.kind, ScriptErrorKind::OutOfMemory | ScriptErrorKind::Timeout), "{err}");
    }

    #[test]
    fn errors_name_the_line() {
        let err = run_script("const a = 1;\nconst b = a.nope.deeper;").unwrap_err();
        assert_eq!(err.kind, ScriptErrorKind::Exception);
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.message.starts_with("TypeError: "), "{err}");
        let err = run_script("const a = 1;\n\nconst b = ;").unwrap_err();
        assert_eq!(err.kind, ScriptErrorKind::Syntax, "{err}");
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().starts_with("test.js:3:"), "{err}");
        let err = run_script("throw 'plain'").unwrap_err();
        assert!(err.message.starts_with("threw \"plain\""), "{err}");
    }

    #[test]
    fn stack_positions() {
        assert_eq!(frame_position("    at OrderPlaced (order.js:12:5)\n", "order.js"), Some((12, 5)));
        assert_eq!(frame_position("    at order.js:3:1\n", "order.js"), Some((3, 1)));
        assert_eq!(frame_position("    at parse (native)\n    at f (x.js:1:2)\n", "order.js"), None);
    }
}
