//! The JavaScript sandbox folds and projections run in: QuickJS through rquickjs, with no file
//! system, no network, no clock and no randomness (`Date.now()`, `new Date()` without an argument
//! and `Math.random()` throw), a memory limit, and a time budget per call enforced by the
//! interrupt handler, so that `while (true) {}` ends with a clear error instead of a frozen window.
//! Errors come back as [`ScriptError`]s naming the script line where there is one.
//!
//! Values cross the boundary as JSON text (`JSON.parse` / `JSON.stringify`): integers stay exact
//! and the rules are the ones JavaScript programmers know. Either way a value may nest at most
//! [`MAX_DEPTH`] levels (see [`crate::model`]); deeper, the conversion throws a `RangeError`
//! saying so, and the state, emit or event it was for fails with that message.
//!
//! Names that come from the store (event types, partition keys) are looked up among an
//! object's own properties only ([`Sandbox::own_property`], [`Sandbox::define_property`]), so
//! that an event type `toString`, `constructor` or `__proto__` is an event type like any other.
//!
//! A script may `throw null`, and QuickJS also throws `null` when it runs out of memory so
//! completely that it cannot make an error object. The two are told apart by the engine's own
//! memory bookkeeping: QuickJS collects garbage whenever its heap outgrows a threshold and then
//! sets the threshold to one and a half times the heap, and making an error object (whose empty
//! shape the sandbox keeps alive, so that making one allocates an object first) passes that
//! check; so after running out, the threshold is at the memory limit or beyond, and after a
//! plain `throw null` it is where it was. The threshold is brought back down before each call
//! where an earlier one left it that high (at the cost of one collection).

use std::cell::Cell;
use std::fmt;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rquickjs::context::EvalOptions;
use rquickjs::{CatchResultExt, CaughtError, Context, Ctx, Exception, Function, Object, Persistent, Runtime, qjs};
use serde_json::Value;

use crate::model::{Event, MAX_DEPTH, format_time, nests_deeper_than, parse_json, too_deep};

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

/// Helpers made before any script runs, so that a script cannot change what they do (by
/// replacing `Object.prototype.hasOwnProperty`, say): own-property lookup and definition.
const HELPERS: &str = r#"
(() => {
  const hasOwn = Function.prototype.call.bind(Object.prototype.hasOwnProperty);
  const define = Reflect.defineProperty;
  const own = (object, key) => hasOwn(object, key) ? object[key] : undefined;
  return [
    own,
    (object, key, value) => {
      define(object, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
    },
    // Holds the empty shape error objects start from (see the module docs).
    Object.create(InternalError.prototype),
    (handlers, type) => (type !== "$init" ? own(handlers, type) : undefined) ?? own(handlers, "$any"),
  ];
})()
"#;

/// QuickJS's garbage collection threshold when a runtime starts.
const INITIAL_GC_THRESHOLD: usize = 256 * 1024;

/// Stops a sandbox's current call at the engine's next check (see [`Sandbox::stopper`]).
#[derive(Clone, Default)]
pub struct Stopper(Rc<Cell<bool>>);

impl Stopper {
    pub fn stop(&self) {
        self.0.set(true);
    }
}

/// One QuickJS runtime and context with the limits installed.
///
/// Values saved from it (`rquickjs::Persistent`) must be dropped before it: the structs that hold
/// both declare the persistent fields first.
pub struct Sandbox {
    get_own: Persistent<Function<'static>>,
    define_own: Persistent<Function<'static>>,
    find_handler: Persistent<Function<'static>>,
    _error_shape: Persistent<Object<'static>>,
    context: Context,
    deadline: Rc<Cell<Option<Instant>>>,
    stop: Stopper,
    limits: Limits,
    file: String,
    /// The runtime's raw handle, to read its garbage collection threshold (see the module docs).
    raw: *mut qjs::JSRuntime,
    runtime: Runtime,
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
        let stop = Stopper::default();
        let (watched, stopped) = (deadline.clone(), stop.clone());
        runtime.set_interrupt_handler(Some(Box::new(move || {
            stopped.0.get() || matches!(watched.get(), Some(t) if Instant::now() >= t)
        })));
        let context = Context::full(&runtime).map_err(setup)?;
        // SAFETY: the context is alive; JS_GetRuntime only reads which runtime it belongs to,
        // which `runtime` owns for as long as the sandbox lives.
        let raw = context.with(|ctx| unsafe { qjs::JS_GetRuntime(ctx.as_raw().as_ptr()) });
        let helpers = context.with(|ctx| {
            eval::<()>(&ctx, PRELUDE, "eventscope-prelude.js")?;
            let helpers: rquickjs::Array = eval(&ctx, HELPERS, "eventscope-helpers.js")?;
            let (get_own, define_own, error_shape, find_handler): (Function, Function, Object, Function) =
                (helpers.get(0)?, helpers.get(1)?, helpers.get(2)?, helpers.get(3)?);
            Ok((
                Persistent::save(&ctx, get_own),
                Persistent::save(&ctx, define_own),
                Persistent::save(&ctx, error_shape),
                Persistent::save(&ctx, find_handler),
            ))
        });
        let (get_own, define_own, error_shape, find_handler) = helpers.map_err(setup)?;
        Ok(Sandbox {
            get_own,
            define_own,
            find_handler,
            _error_shape: error_shape,
            context,
            deadline,
            stop,
            limits,
            file: file.to_owned(),
            raw,
            runtime,
        })
    }

    /// A handle that stops the call running now (from a function the script calls), as its
    /// time budget would.
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// `object[key]` if `key` is the object's own property, else `undefined` (never an
    /// inherited member such as `toString` or `__proto__`).
    pub fn own_property<'js>(
        &self,
        ctx: &Ctx<'js>,
        object: &Object<'js>,
        key: &str,
    ) -> rquickjs::Result<rquickjs::Value<'js>> {
        self.get_own.clone().restore(ctx)?.call((object.clone(), key))
    }

    /// Sets `object[key]` as an own data property (for `__proto__` too, which an assignment
    /// would take as the object's prototype).
    pub fn define_property<'js>(
        &self,
        ctx: &Ctx<'js>,
        object: &Object<'js>,
        key: &str,
        value: rquickjs::Value<'js>,
    ) -> rquickjs::Result<()> {
        self.define_own.clone().restore(ctx)?.call((object.clone(), key, value))
    }

    /// The handler for an event type in an object of handlers (a fold's, or a projection's
    /// `.when({...})`): its own property of that name, else its own `$any`, else none. `$init` is
    /// never an event type's handler.
    pub fn handler<'js>(
        &self,
        ctx: &Ctx<'js>,
        handlers: &Object<'js>,
        event_type: &str,
    ) -> rquickjs::Result<Option<Function<'js>>> {
        use rquickjs::FromJs as _;
        let handler = self.find_handler.clone().restore(ctx)?.call((handlers.clone(), event_type))?;
        Option::<Function>::from_js(ctx, handler)
    }

    /// QuickJS's garbage collection threshold: one and a half times the heap at the last
    /// collection.
    fn gc_threshold(&self) -> usize {
        // SAFETY: `raw` is this sandbox's runtime, alive while `self` is; the call reads one
        // field and is not made while the runtime is running a script on another thread (the
        // sandbox is neither Send nor Sync).
        let threshold = unsafe { qjs::JS_GetGCThreshold(self.raw) };
        usize::try_from(threshold).unwrap_or(usize::MAX)
    }

    /// Whether the garbage collection threshold is where running out of memory leaves it.
    fn threshold_at_limit(&self) -> bool {
        self.gc_threshold() >= self.limits.memory_bytes - self.limits.memory_bytes / 8
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
        if self.threshold_at_limit() {
            self.runtime.set_gc_threshold(INITIAL_GC_THRESHOLD);
        }
        self.stop.0.set(false);
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
                } else if name == "InternalError"
                    && (message == "out of memory" || message.is_empty() && self.threshold_at_limit())
                {
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
            CaughtError::Value(v) if v.is_null() && self.threshold_at_limit() => {
                error.kind = ScriptErrorKind::OutOfMemory;
                error.message = self.out_of_memory(doing);
            }
            CaughtError::Value(v) if v.is_null() => {
                error.message = format!("threw null ({doing})");
            }
            CaughtError::Value(v) => {
                let shown =
                    v.as_string().and_then(|s| s.to_string().ok()).map(|s| format!("{s:?}")).unwrap_or_else(|| match v
                        .type_name()
                    {
                        "undefined" => "undefined".to_owned(),
                        name if name.starts_with(['a', 'e', 'i', 'o', 'u']) => format!("an {name}"),
                        name => format!("a {name}"),
                    });
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
    let source = crate::model::read_user_file(path).map_err(|e| ScriptError {
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

/// JSON → a JavaScript value; a `RangeError` past [`MAX_DEPTH`].
pub fn to_js<'js>(ctx: &Ctx<'js>, value: &Value) -> rquickjs::Result<rquickjs::Value<'js>> {
    if nests_deeper_than(value, MAX_DEPTH) {
        return Err(Exception::throw_range(ctx, &too_deep("the value")));
    }
    ctx.json_parse(value.to_string())
}

/// The event as scripts see it ([`event_json`]) as a JavaScript value: its payload and metadata
/// may nest [`MAX_DEPTH`] levels, inside the event's own.
pub fn event_to_js<'js>(ctx: &Ctx<'js>, event: &Event) -> rquickjs::Result<rquickjs::Value<'js>> {
    let event = event_json(event);
    for part in ["data", "metadata"] {
        if nests_deeper_than(&event[part], MAX_DEPTH) {
            return Err(Exception::throw_range(ctx, &too_deep(&format!("the event's {part}"))));
        }
    }
    // The event's other members are scalars.
    ctx.json_parse(event.to_string())
}

/// A JavaScript value → JSON (`undefined` and functions become `null`, as `JSON.stringify` has
/// it); a `RangeError` past [`MAX_DEPTH`].
pub fn to_json<'js>(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<Value> {
    to_json_text(ctx, value).map(|(value, _)| value)
}

/// Like [`to_json`], with the length of the JSON text (what the value weighs).
pub fn to_json_text<'js>(ctx: &Ctx<'js>, value: rquickjs::Value<'js>) -> rquickjs::Result<(Value, usize)> {
    let text = match ctx.json_stringify(value) {
        Ok(None) => return Ok((Value::Null, 4)),
        Ok(Some(text)) => text.to_string()?,
        Err(rquickjs::Error::Exception) => {
            // JSON.stringify recurses, and QuickJS stops it with a RangeError when the stack
            // runs out: far deeper than the bound, so say that.
            let thrown = ctx.catch();
            let overflowed = thrown
                .as_exception()
                .is_some_and(|e| e.message().is_some_and(|m| m.contains("call stack size exceeded")));
            if overflowed {
                return Err(Exception::throw_range(ctx, &too_deep("the value")));
            }
            return Err(ctx.throw(thrown));
        }
        Err(e) => return Err(e),
    };
    // JSON.stringify writes valid JSON; serde_json may refuse its depth, or a string that is
    // not Unicode (a lone UTF-16 surrogate, which JSON.stringify writes as `\ud800`).
    match parse_json(&text) {
        Ok(value) => Ok((value, text.len())),
        Err(reason) if reason.contains("surrogate") || reason.contains("hex escape") => Err(Exception::throw_range(
            ctx,
            "the value holds a string that is not valid Unicode (a lone UTF-16 surrogate, such as '\\ud800'): \
             eventscope keeps text as UTF-8; build strings from whole characters",
        )),
        Err(reason) if reason == too_deep("the JSON") => Err(Exception::throw_range(ctx, &too_deep("the value"))),
        Err(reason) => Err(Exception::throw_range(ctx, &format!("the value cannot be read as JSON: {reason}"))),
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
        run_in(&sandbox, source)
    }

    #[test]
    fn values_cross_as_json() {
        assert_eq!(
            run_script("({a: [1, 2.5, 'x', null], b: 9007199254740991})").unwrap(),
            serde_json::json!({"a": [1, 2.5, "x", null], "b": 9007199254740991u64})
        );
        assert_eq!(run_script("undefined").unwrap(), Value::Null);
        let err = run_script("({s: '\\ud800'})").unwrap_err();
        assert!(err.message.contains("not valid Unicode") && !err.message.contains("nests"), "{err}");
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

    fn sandbox(memory_mb: usize) -> Sandbox {
        Sandbox::new(
            "test.js",
            Limits { memory_bytes: memory_mb * 1024 * 1024, budget_per_call: Duration::from_millis(5_000) },
        )
        .unwrap()
    }

    fn run_in(sandbox: &Sandbox, source: &str) -> Result<Value, ScriptError> {
        sandbox.run(
            |ctx| {
                let value: rquickjs::Value = eval(ctx, source, "test.js")?;
                to_json(ctx, value)
            },
            "running the script",
        )
    }

    #[test]
    fn a_thrown_null_is_not_running_out_of_memory() {
        let sandbox = sandbox(8);
        let thrown_null = |sandbox: &Sandbox| {
            let err = run_in(sandbox, "throw null").unwrap_err();
            assert_eq!(err.kind, ScriptErrorKind::Exception, "{err}");
            assert_eq!(err.message, "threw null (running the script)");
        };
        thrown_null(&sandbox);
        // Running out of memory, in every way that makes QuickJS throw null, is told apart; and a
        // plain `throw null` after it still is one.
        for hog in [
            "const a = []; while (true) a.push([1, 2, 3]);",
            "const a = []; let i = 0; while (true) a.push('x' + (i++));",
            "const a = new Map(); let i = 0; while (true) a.set(i, 'v' + i++);",
            "let s = ''; let i = 0; while (true) s += String.fromCharCode(i++ % 60000);",
            "const a = []; while (true) a.push({x: 'y'.repeat(1000)});",
        ] {
            let err = run_in(&sandbox, &format!("(() => {{ {hog} }})()")).unwrap_err();
            assert_eq!(err.kind, ScriptErrorKind::OutOfMemory, "{hog}: {err}");
            assert_eq!(err.message, "running the script ran out of memory (limit 8 MB)", "{hog}");
            thrown_null(&sandbox);
        }
        // Memory a script keeps (a state that grows) stays used: the next call runs out too.
        let full = super::tests::sandbox(8);
        for _ in 0..2 {
            let err =
                run_in(&full, "globalThis.kept = globalThis.kept || []; while (true) kept.push([1]);").unwrap_err();
            assert_eq!(err.kind, ScriptErrorKind::OutOfMemory, "{err}");
        }
        // Nor after a call that used most of the memory and gave it back.
        run_in(&sandbox, "globalThis.big = Array.from({length: 50000}, (_, i) => [i]); 1").unwrap();
        assert!(sandbox.threshold_at_limit());
        run_in(&sandbox, "delete globalThis.big").unwrap();
        thrown_null(&sandbox);
        for (thrown, shown) in [("undefined", "undefined"), ("{}", "an object"), ("1", "an int"), ("true", "a bool")] {
            let err = run_in(&sandbox, &format!("throw {thrown}")).unwrap_err();
            assert_eq!(err.message, format!("threw {shown} (running the script)"));
        }
    }

    #[test]
    fn values_nested_past_the_bound_are_refused_both_ways() {
        let sandbox = sandbox(32);
        for levels in [MAX_DEPTH + 1, 1_000, 100_000] {
            let err = run_in(
                &sandbox,
                &format!("(() => {{ let s = {{}}; for (let i = 1; i < {levels}; i++) s = {{c: s}}; return s; }})()"),
            )
            .unwrap_err();
            assert_eq!(
                err.message,
                "RangeError: the value nests deeper than 127 levels of arrays and objects, eventscope's limit (running the script)",
                "{levels}"
            );
        }
        let at_bound = run_in(
            &sandbox,
            &format!("(() => {{ let s = []; for (let i = 1; i < {MAX_DEPTH}; i++) s = [s]; return s; }})()"),
        )
        .unwrap();
        assert!(!nests_deeper_than(&at_bound, MAX_DEPTH) && nests_deeper_than(&at_bound, MAX_DEPTH - 1));
        // Into JavaScript: the value at the bound crosses, one level more does not.
        let deeper = Value::Array(vec![at_bound.clone()]);
        let depth_in_js = |value: &Value| {
            sandbox.run(
                |ctx| {
                    let count: Function = eval(
                        ctx,
                        "(v) => { let n = 0; while (Array.isArray(v)) { v = v[0]; n++; } return n; }",
                        "t.js",
                    )?;
                    count.call::<_, usize>((to_js(ctx, value)?,))
                },
                "converting",
            )
        };
        assert_eq!(depth_in_js(&at_bound).unwrap(), MAX_DEPTH);
        let err = depth_in_js(&deeper).unwrap_err();
        assert!(err.message.starts_with("RangeError: the value nests deeper than 127 levels"), "{err}");
    }

    #[test]
    fn own_properties_only() {
        let sandbox = sandbox(32);
        let looked_up = sandbox
            .run(
                |ctx| {
                    let object: Object = eval(
                        ctx,
                        "Object.prototype.hasOwnProperty = () => true; Object.prototype.polluted = 1; ({mine: 2})",
                        "t.js",
                    )?;
                    let mut found = Vec::new();
                    for key in ["mine", "polluted", "toString", "__proto__", "constructor", "hasOwnProperty"] {
                        found.push(sandbox.own_property(ctx, &object, key)?.type_name().to_owned());
                    }
                    sandbox.define_property(ctx, &object, "__proto__", rquickjs::Value::new_int(ctx.clone(), 3))?;
                    found.push(to_json(ctx, object.clone().into_value())?.to_string());
                    found.push(object.get_prototype().is_some().to_string());
                    Ok(found)
                },
                "looking up",
            )
            .unwrap();
        assert_eq!(
            looked_up,
            [
                "int",
                "undefined",
                "undefined",
                "undefined",
                "undefined",
                "undefined",
                r#"{"mine":2,"__proto__":3}"#,
                "true"
            ]
        );
    }
}
