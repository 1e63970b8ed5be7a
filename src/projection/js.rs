//! Projections written in JavaScript with the part of the KurrentDB projection API that matters
//! for previews: `fromAll()`, `fromStream(id)`, `fromStreams([...])`, `fromCategory(c)`,
//! `.when({...})` with `$init` and `$any`, `.partitionBy(e => key)` for one state per key, and
//! `.outputState()`. `emit(stream, type, data)` and `linkTo(stream, e)` are recorded as "would
//! emit" output and never written. Recorded outputs live outside the sandbox, so they are
//! weighed (their JSON text and [`OUTPUT_OVERHEAD`] bytes each) against the sandbox's memory
//! limit: past it, the call throws and the run stops with an error saying so, even if the script
//! catches it. Handlers and partition states are looked up among own properties only (see
//! [`crate::script`]), so that any event type or partition key, `__proto__` included, is data.
//!
//! A projection is a [`Fold`] over the events of the store in global order, so the history
//! machinery (checkpoints, stepping, diffs) works on a projection run as on a stream. Its state
//! is `{ "state": … }` (or `{ "partitions": { key: state } }`) with `"would_emit": { "count",
//! "last" }` (the twenty most recent outputs).

use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;

use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, FromJs as _, Function, Object, Persistent};
use serde_json::{Value, json};

use crate::fold::{Fold, FoldError};
use crate::model::Event;
use crate::script::{Limits, Sandbox, ScriptError, Stopper, eval, event_to_js, to_js, to_json, to_json_text};

/// Which events a projection reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    All,
    Streams(Vec<String>),
    Category(String),
}

impl Source {
    pub fn selects(&self, event: &Event) -> bool {
        match self {
            Source::All => true,
            Source::Streams(streams) => streams.contains(&event.stream.0),
            Source::Category(category) => event.category() == category,
        }
    }

    /// What the database is asked for: the source's streams or category, up to `until` (the
    /// projection still checks each event it is given).
    pub fn selection(&self, until_position: Option<i64>) -> crate::store::query::LogSelection {
        crate::store::query::LogSelection {
            streams: match self {
                Source::Streams(streams) => Some(streams.clone()),
                _ => None,
            },
            category: match self {
                Source::Category(category) => Some(category.clone()),
                _ => None,
            },
            until_position,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Source::All => "all streams".to_owned(),
            Source::Streams(streams) if streams.len() == 1 => format!("stream {}", streams[0]),
            Source::Streams(streams) => format!("{} streams", streams.len()),
            Source::Category(category) => format!("category {category}"),
        }
    }
}

const BUILDER: &str = r#"
(() => {
  let config = null;
  const builder = {
    when(handlers) {
      if (handlers === null || typeof handlers !== "object") throw new TypeError("when() expects an object of handlers");
      config.handlers = handlers;
      return builder;
    },
    partitionBy(keyOf) {
      if (typeof keyOf !== "function") throw new TypeError("partitionBy() expects a function of the event");
      config.partitionBy = keyOf;
      return builder;
    },
    outputState() { config.outputState = true; return builder; },
    foreachStream() { throw new TypeError("foreachStream() is not supported: use partitionBy(e => e.streamId)"); },
  };
  const start = (source) => {
    if (config) throw new Error("a projection script starts with one from...() call");
    config = { source, handlers: {}, partitionBy: null, outputState: false };
    return builder;
  };
  globalThis.fromAll = () => start({ kind: "all" });
  globalThis.fromStream = (id) => start({ kind: "streams", streams: [String(id)] });
  globalThis.fromStreams = (...ids) => start({ kind: "streams", streams: ids.flat().map(String) });
  globalThis.fromCategory = (category) => start({ kind: "category", category: String(category) });
  Object.defineProperty(globalThis, "__eventscopeTakeConfig", {
    value: () => { const c = config; config = null; return c; },
    enumerable: false,
  });
})();
"#;

/// How many recent outputs the state shows.
const RECENT_OUTPUTS: usize = 20;

/// What one recorded output weighs besides its JSON text (the structure that holds it).
pub const OUTPUT_OVERHEAD: usize = 128;

/// What the script would have emitted: a log that only grows (a deterministic script emits the
/// same outputs when an event is applied again) and how much of it belongs to the state the
/// projection is at now, so that restoring a checkpoint, in either direction, is a matter of
/// moving `current`. The log weighs at most `limit` bytes.
#[derive(Default)]
struct Outputs {
    log: Vec<(Value, usize)>,
    current: usize,
    bytes: usize,
    limit: usize,
    /// Why recording stopped, once the log would pass its limit.
    overflow: Option<String>,
}

impl Outputs {
    fn new(limit: usize) -> Outputs {
        Outputs { limit, ..Outputs::default() }
    }

    /// Records an output that weighs `size` bytes, unless the log would pass its limit.
    fn record(&mut self, output: Value, size: usize) -> Result<(), String> {
        let replaced = self.log.get(self.current).map_or(0, |(_, size)| *size);
        let bytes = (self.bytes - replaced).saturating_add(size);
        if bytes > self.limit {
            let message = format!(
                "emit and linkTo recorded more than {} MB of would-be outputs, the limit of this sandbox's memory \
                 (eventscope keeps them to show them): emit less, or preview fewer events",
                self.limit / (1024 * 1024)
            );
            self.overflow = Some(message.clone());
            return Err(message);
        }
        self.bytes = bytes;
        match self.log.get_mut(self.current) {
            Some(slot) => *slot = (output, size),
            None => self.log.push((output, size)),
        }
        self.current += 1;
        Ok(())
    }

    /// The outputs of the current state.
    fn so_far(&self) -> impl ExactSizeIterator<Item = &Value> + DoubleEndedIterator {
        self.log[..self.current.min(self.log.len())].iter().map(|(output, _)| output)
    }
}

/// A projection from a JavaScript file.
pub struct JsProjection {
    // Persistent values first: they must be dropped before the sandbox that made them.
    handlers: Persistent<Object<'static>>,
    partition_by: Option<Persistent<Function<'static>>>,
    /// The state, or the object of partition states.
    state: Option<Persistent<rquickjs::Value<'static>>>,
    outputs: Rc<RefCell<Outputs>>,
    source: Source,
    output_state: bool,
    name: String,
    sandbox: Sandbox,
}

impl JsProjection {
    pub fn from_source(name: &str, source: &str) -> Result<JsProjection, ScriptError> {
        JsProjection::with_limits(name, source, Limits::default())
    }

    pub fn with_limits(name: &str, script: &str, limits: Limits) -> Result<JsProjection, ScriptError> {
        let sandbox = Sandbox::new(name, limits)?;
        let outputs = Rc::new(RefCell::new(Outputs::new(limits.memory_bytes)));
        let recorder = outputs.clone();
        let stopper = sandbox.stopper();
        let config = sandbox.run(
            |ctx| {
                define_outputs(ctx, recorder, stopper)?;
                eval::<()>(ctx, BUILDER, "eventscope-projection-api.js")?;
                eval::<rquickjs::Value>(ctx, script, name)?;
                let take: Function = ctx.globals().get("__eventscopeTakeConfig")?;
                let config: Option<Object> = take.call(())?;
                let Some(config) = config else {
                    return Ok(None);
                };
                let source: Object = config.get("source")?;
                let kind: String = source.get("kind")?;
                let source = match kind.as_str() {
                    "streams" => Source::Streams(source.get("streams")?),
                    "category" => Source::Category(source.get("category")?),
                    _ => Source::All,
                };
                let handlers: Object = config.get("handlers")?;
                let partition_by: Option<Function> = config.get("partitionBy")?;
                let output_state: bool = config.get("outputState")?;
                Ok(Some((
                    Persistent::save(ctx, handlers),
                    partition_by.map(|f| Persistent::save(ctx, f)),
                    source,
                    output_state,
                )))
            },
            "loading the projection",
        )?;
        let Some((handlers, partition_by, source, output_state)) = config else {
            return Err(sandbox.contract_error(
                "a projection starts with fromAll(), fromStream(id), fromStreams([...]) or fromCategory(c), then .when({...})"
                    .to_owned(),
            ));
        };
        Ok(JsProjection {
            handlers,
            partition_by,
            state: None,
            outputs,
            source,
            output_state,
            name: name.to_owned(),
            sandbox,
        })
    }

    pub fn from_file(path: &Path) -> Result<JsProjection, ScriptError> {
        let (name, source) = crate::script::read_script(path)?;
        JsProjection::from_source(&name, &source)
    }

    /// Which events the projection reads.
    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn is_partitioned(&self) -> bool {
        self.partition_by.is_some()
    }

    /// Whether the script asked for `.outputState()`.
    pub fn outputs_state(&self) -> bool {
        self.output_state
    }

    /// Every "would emit" output so far (emit and linkTo), in order.
    pub fn outputs(&self) -> Vec<Value> {
        self.outputs.borrow().so_far().cloned().collect()
    }

    fn initial_state<'js>(&self, ctx: &Ctx<'js>) -> rquickjs::Result<Option<rquickjs::Value<'js>>> {
        let handlers = self.handlers.clone().restore(ctx)?;
        let init = Option::<Function>::from_js(ctx, self.sandbox.own_property(ctx, &handlers, "$init")?)?;
        let state: rquickjs::Value = match init {
            Some(init) => init.call(())?,
            None => Object::new(ctx.clone())?.into_value(),
        };
        Ok((!state.is_undefined()).then_some(state))
    }
}

/// `emit(stream, type, data)` and `linkTo(stream, event)`: recorded, never written. Past the
/// outputs' limit they throw, and stop the call (a script that catches the error and goes on
/// emitting would otherwise run until its time budget).
fn define_outputs<'js>(ctx: &Ctx<'js>, outputs: Rc<RefCell<Outputs>>, stopper: Stopper) -> rquickjs::Result<()> {
    let emitted = outputs.clone();
    let stop_linking = stopper.clone();
    let emit = Function::new(
        ctx.clone(),
        move |ctx: Ctx<'js>, stream: String, event_type: String, data: Opt<rquickjs::Value<'js>>| {
            let (data, size) = match data.0 {
                Some(value) => to_json_text(&ctx, value)?,
                None => (Value::Null, 4),
            };
            let size = size + stream.len() + event_type.len() + OUTPUT_OVERHEAD;
            let output = json!({"emit": {"stream": stream, "type": event_type, "data": data}});
            let recorded = emitted.borrow_mut().record(output, size);
            recorded.map_err(|message| {
                stopper.stop();
                Exception::throw_range(&ctx, &message)
            })
        },
    )?
    .with_name("emit")?;
    let linked = outputs;
    let link = Function::new(ctx.clone(), move |ctx: Ctx<'js>, stream: String, event: rquickjs::Value<'js>| {
        let event = to_json(&ctx, event)?;
        let event = json!({"streamId": event["streamId"], "version": event["version"], "type": event["type"]});
        let size = stream.len() + event.to_string().len() + OUTPUT_OVERHEAD;
        let recorded = linked.borrow_mut().record(json!({"linkTo": {"stream": stream, "event": event}}), size);
        recorded.map_err(|message| {
            stop_linking.stop();
            Exception::throw_range(&ctx, &message)
        })
    })?
    .with_name("linkTo")?;
    ctx.globals().set("emit", emit)?;
    ctx.globals().set("linkTo", link)?;
    Ok(())
}

impl Fold for JsProjection {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self) -> Result<(), FoldError> {
        let limit = self.outputs.borrow().limit;
        *self.outputs.borrow_mut() = Outputs::new(limit);
        let partitioned = self.is_partitioned();
        let state = self.sandbox.run(
            |ctx| {
                let state =
                    if partitioned { Some(Object::new(ctx.clone())?.into_value()) } else { self.initial_state(ctx)? };
                Ok(state.map(|s| Persistent::save(ctx, s)))
            },
            "running $init",
        )?;
        self.state = Some(state.ok_or_else(|| FoldError {
            message: format!("{}: $init returned undefined: return the initial state", self.name),
        })?);
        Ok(())
    }

    fn restore(&mut self, state: &Value) -> Result<(), FoldError> {
        let inner = if self.is_partitioned() { &state["partitions"] } else { &state["state"] };
        let saved = self.sandbox.run(|ctx| Ok(Persistent::save(ctx, to_js(ctx, inner)?)), "restoring a checkpoint")?;
        self.state = Some(saved);
        let count = state["would_emit"]["count"].as_u64().unwrap_or(0);
        self.outputs.borrow_mut().current = usize::try_from(count).unwrap_or(usize::MAX);
        Ok(())
    }

    fn apply(&mut self, event: &Event) -> Result<(), FoldError> {
        if !self.source.selects(event) {
            return Ok(());
        }
        if self.state.is_none() {
            self.reset()?;
        }
        let Some(state) = self.state.clone() else {
            return Ok(());
        };
        let doing = format!("the {} handler (stream {}, version {})", event.event_type, event.stream, event.version);
        let result = self.sandbox.run(
            |ctx| -> rquickjs::Result<Result<Option<Persistent<rquickjs::Value<'static>>>, String>> {
                let handlers = self.handlers.clone().restore(ctx)?;
                let Some(handler) = self.sandbox.handler(ctx, &handlers, &event.event_type)? else {
                    return Ok(Ok(None));
                };
                let e = event_to_js(ctx, event)?;
                let state = state.restore(ctx)?;
                match &self.partition_by {
                    None => {
                        let next: rquickjs::Value = handler.call((state, e))?;
                        if next.is_undefined() {
                            return Ok(Err(
                                "returned undefined: a handler must return the state (`return s;`)".to_owned()
                            ));
                        }
                        Ok(Ok(Some(Persistent::save(ctx, next))))
                    }
                    Some(key_of) => {
                        let key_of = key_of.clone().restore(ctx)?;
                        let key: rquickjs::Value = key_of.call((e.clone(),))?;
                        if key.is_undefined() || key.is_null() {
                            return Ok(Ok(None));
                        }
                        let key: String = rquickjs::Coerced::<String>::from_js(ctx, key)?.0;
                        let partitions =
                            state.into_object().ok_or_else(|| rquickjs::Error::new_from_js("value", "object"))?;
                        let current = self.sandbox.own_property(ctx, &partitions, &key)?;
                        let current = match Option::<rquickjs::Value>::from_js(ctx, current)? {
                            Some(current) => current,
                            None => match self.initial_state(ctx)? {
                                Some(initial) => initial,
                                None => {
                                    return Ok(Err("$init returned undefined: return the initial state".to_owned()));
                                }
                            },
                        };
                        let next: rquickjs::Value = handler.call((current, e))?;
                        if next.is_undefined() {
                            return Ok(Err(format!(
                                "returned undefined for partition {key:?}: a handler must return the state"
                            )));
                        }
                        self.sandbox.define_property(ctx, &partitions, &key, next)?;
                        Ok(Ok(None))
                    }
                }
            },
            &doing,
        );
        // Whether this event's outputs passed the limit, even if the script caught the error.
        let overflow = self.outputs.borrow_mut().overflow.take();
        if let Some(overflow) = overflow {
            return Err(FoldError { message: format!("{}: {doing}: {overflow}", self.name) });
        }
        match result? {
            Ok(Some(next)) => {
                self.state = Some(next);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(problem) => Err(FoldError { message: format!("{}: {doing} {problem}", self.name) }),
        }
    }

    fn state(&mut self) -> Result<Value, FoldError> {
        if self.state.is_none() {
            self.reset()?;
        }
        let state = self.state.clone().ok_or_else(|| FoldError { message: "no state".to_owned() })?;
        let inner = self.sandbox.run(|ctx| to_json(ctx, state.restore(ctx)?), "reading the state")?;
        let outputs = self.outputs.borrow();
        let count = outputs.so_far().len();
        let mut recent: Vec<Value> = outputs.so_far().rev().take(RECENT_OUTPUTS).cloned().collect();
        recent.reverse();
        let key = if self.is_partitioned() { "partitions" } else { "state" };
        Ok(json!({key: inner, "would_emit": {"count": count, "last": recent}}))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::replay;

    fn event(stream: &str, version: i64, event_type: &str, data: Value, aggregate_type: &str) -> Event {
        Event { aggregate_type: Some(aggregate_type.into()), ..Event::with_json(stream, version, event_type, data) }
    }

    fn events() -> Vec<Event> {
        vec![
            event("o-1", 1, "Placed", json!({"region": "eu", "amount": 10}), "Order"),
            event("a-1", 1, "Registered", json!({}), "Account"),
            event("o-2", 1, "Placed", json!({"region": "us", "amount": 5}), "Order"),
            event("o-3", 1, "Placed", json!({"region": "eu", "amount": 1}), "Order"),
        ]
    }

    #[test]
    fn a_category_projection_with_emit() {
        let script = r#"
            fromCategory("Order").when({
                $init: () => ({ total: 0, count: 0 }),
                Placed: (s, e) => { s.total += e.data.amount; s.count++; emit("totals", "TotalChanged", { total: s.total }); return s; },
            }).outputState();
        "#;
        let mut projection = JsProjection::from_source("p.js", script).unwrap();
        assert_eq!(projection.source(), &Source::Category("Order".into()));
        assert!(projection.outputs_state());
        let state = replay(&mut projection, &events()).unwrap();
        assert_eq!(state["state"], json!({"total": 16, "count": 3}));
        assert_eq!(state["would_emit"]["count"], json!(3));
        assert_eq!(
            projection.outputs()[2],
            json!({"emit": {"stream": "totals", "type": "TotalChanged", "data": {"total": 16}}})
        );
    }

    #[test]
    fn partitions_hold_one_state_per_key() {
        let script = r#"
            fromAll().partitionBy(e => e.data.region).when({
                $init: () => ({ amount: 0 }),
                Placed: (s, e) => { s.amount += e.data.amount; linkTo("region-" + e.data.region, e); return s; },
            });
        "#;
        let mut projection = JsProjection::from_source("p.js", script).unwrap();
        let state = replay(&mut projection, &events()).unwrap();
        assert_eq!(state["partitions"], json!({"eu": {"amount": 11}, "us": {"amount": 5}}));
        assert_eq!(
            projection.outputs()[0],
            json!({"linkTo": {"stream": "region-eu", "event": {"streamId": "o-1", "version": 1, "type": "Placed"}}})
        );
        // Restoring a checkpoint forgets the outputs that came after it.
        projection.restore(&json!({"partitions": {"eu": {"amount": 10}}, "would_emit": {"count": 1}})).unwrap();
        assert_eq!(projection.outputs().len(), 1);
    }

    #[test]
    fn would_emit_stays_right_when_stepping_back_and_jumping_past_checkpoints() {
        let script = r#"
            fromAll().when({
                $init: () => ({ n: 0 }),
                Placed: (s, e) => { s.n++; emit("out", "Seen", { n: s.n }); return s; },
            });
        "#;
        let placed: Vec<Event> =
            (1..=40).map(|v| event("o-1", v, "Placed", json!({"region": "eu", "amount": v}), "Order")).collect();
        let fresh = |count: usize| {
            let mut projection = JsProjection::from_source("p.js", script).unwrap();
            replay(&mut projection, &placed[..count]).unwrap()
        };
        let projection = JsProjection::from_source("p.js", script).unwrap();
        let mut history = crate::fold::history::History::with_interval("run".into(), Box::new(projection), 8);
        history.push_events(placed.clone());
        for count in [40, 5, 30, 3, 39, 17, 40] {
            let state = history.state_after(count).unwrap();
            assert_eq!(*state, fresh(count), "after {count} events");
            assert_eq!(state["would_emit"]["count"], json!(count));
        }
    }

    #[test]
    fn streams_sources_select_events() {
        let mut projection = JsProjection::from_source(
            "p.js",
            "fromStreams(['o-1', 'o-3']).when({ $any: (s, e) => { s.seen = (s.seen || []).concat(e.streamId); return s; } })",
        )
        .unwrap();
        assert_eq!(replay(&mut projection, &events()).unwrap()["state"], json!({"seen": ["o-1", "o-3"]}));
        let single = JsProjection::from_source("p.js", "fromStream('o-2').when({})").unwrap();
        assert_eq!(single.source(), &Source::Streams(vec!["o-2".into()]));
    }

    #[test]
    fn mistakes_are_explained() {
        let err = JsProjection::from_source("p.js", "({})").err().unwrap();
        assert!(err.message.contains("starts with fromAll()"), "{err}");
        let mut projection =
            JsProjection::from_source("p.js", "fromAll().when({ Placed: (s, e) => { s.x = 1; } })").unwrap();
        let err = replay(&mut projection, &events()).unwrap_err();
        assert!(
            err.message.contains("the Placed handler (stream o-1, version 1) returned undefined"),
            "{}",
            err.message
        );
    }

    #[test]
    fn partition_keys_and_event_types_named_like_inherited_members_are_data() {
        let types = ["__proto__", "toString", "constructor", "hasOwnProperty", "__proto__", "valueOf"];
        let events: Vec<Event> =
            types.iter().enumerate().map(|(i, t)| event("o-1", i as i64 + 1, t, json!({}), "Order")).collect();
        let script = r#"
            fromAll().partitionBy(e => e.type).when({
                $init: () => ({ n: 0 }),
                $any: (s, e) => { s.n++; s.clean = ({}).n === undefined && typeof ({}).toString === "function"; return s; },
            });
        "#;
        let mut projection = JsProjection::from_source("p.js", script).unwrap();
        let state = replay(&mut projection, &events).unwrap();
        let clean = |n: i64| json!({"n": n, "clean": true});
        assert_eq!(
            state["partitions"],
            json!({"__proto__": clean(2), "toString": clean(1), "constructor": clean(1), "hasOwnProperty": clean(1),
                "valueOf": clean(1)})
        );
        // Stepping back restores partitions from JSON, `__proto__` included.
        let mut history = crate::fold::history::History::with_interval(
            "run".into(),
            Box::new(JsProjection::from_source("p.js", script).unwrap()),
            2,
        );
        history.push_events(events.clone());
        assert_eq!(*history.state_after(6).unwrap(), state);
        assert_eq!(history.state_after(5).unwrap()["partitions"]["__proto__"], clean(2));
        assert_eq!(*history.state_after(6).unwrap(), state);
        // Unpartitioned, a handler is found among the `.when` object's own properties only.
        let script =
            r#"fromAll().when({ $init: () => ({ by: [] }), toString: (s, e) => { s.by.push(e.type); return s; } })"#;
        let mut projection = JsProjection::from_source("p.js", script).unwrap();
        assert_eq!(replay(&mut projection, &events).unwrap()["state"], json!({"by": ["toString"]}));
    }

    #[test]
    fn an_emit_flood_is_stopped_at_the_memory_limit() {
        let limits = Limits { memory_bytes: 8 * 1024 * 1024, budget_per_call: std::time::Duration::from_secs(5) };
        for body in [
            r#"for (;;) emit("out", "Big", { x: "y".repeat(10000) });"#,
            r#"for (;;) { try { emit("out", "Big", { x: "y".repeat(10000) }); } catch (_) {} }"#,
            r#"for (let i = 0; i < 1e6; i++) { try { linkTo("out-" + "z".repeat(1000), e); } catch (_) {} } return s;"#,
        ] {
            let script = format!("fromAll().when({{ $any: (s, e) => {{ {body} }} }})");
            let mut projection = JsProjection::with_limits("flood.js", &script, limits).unwrap();
            let started = std::time::Instant::now();
            let err = replay(&mut projection, &events()).unwrap_err();
            assert!(
                err.message.starts_with(
                    "flood.js: the Placed handler (stream o-1, version 1): emit and linkTo recorded more than 8 MB"
                ),
                "{body}: {}",
                err.message
            );
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "{body}: {:?}", started.elapsed());
            let recorded: usize = projection.outputs.borrow().log.iter().map(|(_, size)| size).sum();
            assert!(recorded <= limits.memory_bytes, "{recorded}");
        }
        // Many events each emitting a little add up the same way.
        let script =
            r#"fromAll().when({ $any: (s, e) => { emit("out", "Seen", { pad: "p".repeat(4000) }); return s; } })"#;
        let projection = JsProjection::with_limits("many.js", script, limits).unwrap();
        let placed: Vec<Event> =
            (1..=3000).map(|v| event("o-1", v, "Placed", json!({"region": "eu", "amount": v}), "Order")).collect();
        let mut history = crate::fold::history::History::with_interval("run".into(), Box::new(projection), 100);
        history.push_events(placed);
        let failure = history.failure().unwrap();
        assert!(failure.error.message.contains("emit and linkTo recorded more than 8 MB"), "{failure}");
        // The states before it stay readable, stepping back and forth.
        let failed_at = failure.index.unwrap();
        assert!(failed_at > 1000, "{failed_at}");
        for count in [failed_at, 5, failed_at - 1, 700] {
            assert_eq!(history.state_after(count).unwrap()["would_emit"]["count"], json!(count), "{count}");
        }
    }
}
