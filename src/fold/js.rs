//! Folds written in JavaScript, in the shape of the KurrentDB projection API: the script
//! evaluates to an object of handlers by event type,
//!
//! ```js
//! ({
//!   $init: () => ({ status: "new", lines: [] }),
//!   OrderPlaced: (s, e) => { s.lines = e.data.lines; s.status = "placed"; return s; },
//!   $any: (s, e) => s,
//! })
//! ```
//!
//! where `e` is `{ type, data, metadata, streamId, version, position, recordedAt, category }`.
//! A handler may change `s` in place or return a new state, but must return it: `undefined`
//! stops the fold with an error naming the event. An event type without a handler goes to `$any`,
//! or leaves the state as it is. Handlers are the object's own properties: an event type named
//! like a member every object inherits (`toString`, `constructor`, `__proto__`) has no handler
//! unless the fold writes one, and `$init` is never an event type's handler. The state lives in the engine between events and is converted to
//! JSON only when [`Fold::state`] asks (at checkpoints).

use std::path::Path;

use rquickjs::{FromJs as _, Function, Object, Persistent};
use serde_json::Value;

use super::{Fold, FoldError};
use crate::model::Event;
use crate::script::{Limits, Sandbox, ScriptError, eval, event_to_js, to_js, to_json};

impl From<ScriptError> for FoldError {
    fn from(e: ScriptError) -> FoldError {
        FoldError { message: e.to_string() }
    }
}

/// A fold from a JavaScript file.
pub struct JsFold {
    // Persistent values first: they must be dropped before the sandbox that made them.
    handlers: Persistent<Object<'static>>,
    state: Option<Persistent<rquickjs::Value<'static>>>,
    name: String,
    sandbox: Sandbox,
}

impl JsFold {
    /// Compiles a fold; `name` is the file name errors show.
    pub fn from_source(name: &str, source: &str) -> Result<JsFold, ScriptError> {
        JsFold::with_limits(name, source, Limits::default())
    }

    pub fn with_limits(name: &str, source: &str, limits: Limits) -> Result<JsFold, ScriptError> {
        let sandbox = Sandbox::new(name, limits)?;
        let handlers = sandbox.run(
            |ctx| {
                let value: rquickjs::Value = eval(ctx, source, name)?;
                Ok(value.into_object().map(|o| Persistent::save(ctx, o)))
            },
            "loading the fold",
        )?;
        let handlers = handlers.ok_or_else(|| {
            sandbox.contract_error(
                "a fold file must evaluate to an object of handlers, like ({ $init: () => ({}), OrderPlaced: (s, e) => s })"
                    .to_owned(),
            )
        })?;
        Ok(JsFold { handlers, state: None, name: name.to_owned(), sandbox })
    }

    /// Reads and compiles a fold file.
    pub fn from_file(path: &Path) -> Result<JsFold, ScriptError> {
        let (name, source) = crate::script::read_script(path)?;
        JsFold::from_source(&name, &source)
    }

    /// The event types this fold has handlers for (including `$init` and `$any`).
    pub fn handler_names(&self) -> Vec<String> {
        self.sandbox
            .run(
                |ctx| self.handlers.clone().restore(ctx)?.keys::<String>().collect::<rquickjs::Result<Vec<_>>>(),
                "listing the handlers",
            )
            .unwrap_or_default()
    }
}

impl Fold for JsFold {
    fn name(&self) -> &str {
        &self.name
    }

    fn reset(&mut self) -> Result<(), FoldError> {
        let state = self.sandbox.run(
            |ctx| {
                let handlers = self.handlers.clone().restore(ctx)?;
                let init = Option::<Function>::from_js(ctx, self.sandbox.own_property(ctx, &handlers, "$init")?)?;
                let state: rquickjs::Value = match init {
                    Some(init) => init.call(())?,
                    None => Object::new(ctx.clone())?.into_value(),
                };
                Ok((!state.is_undefined()).then(|| Persistent::save(ctx, state)))
            },
            "running $init",
        )?;
        self.state = Some(state.ok_or_else(|| FoldError {
            message: format!("{}: $init returned undefined: return the initial state", self.name),
        })?);
        Ok(())
    }

    fn restore(&mut self, state: &Value) -> Result<(), FoldError> {
        let saved = self.sandbox.run(|ctx| Ok(Persistent::save(ctx, to_js(ctx, state)?)), "restoring a checkpoint")?;
        self.state = Some(saved);
        Ok(())
    }

    fn apply(&mut self, event: &Event) -> Result<(), FoldError> {
        let state = match self.state.take() {
            Some(state) => state,
            None => {
                self.reset()?;
                self.state.take().ok_or_else(|| FoldError { message: "no state".to_owned() })?
            }
        };
        let doing = format!("the {} handler", event.event_type);
        let result = self.sandbox.run(
            |ctx| {
                let handlers = self.handlers.clone().restore(ctx)?;
                let handler = self.sandbox.handler(ctx, &handlers, &event.event_type)?;
                let state = state.clone().restore(ctx)?;
                let Some(handler) = handler else {
                    return Ok(Some(Persistent::save(ctx, state)));
                };
                let e = event_to_js(ctx, event)?;
                let next: rquickjs::Value = handler.call((state, e))?;
                Ok((!next.is_undefined()).then(|| Persistent::save(ctx, next)))
            },
            &doing,
        );
        match result {
            Ok(Some(next)) => {
                self.state = Some(next);
                Ok(())
            }
            Ok(None) => Err(FoldError {
                message: format!(
                    "{}: {doing} returned undefined at version {}: a handler must return the state (`return s;`)",
                    self.name, event.version
                ),
            }),
            Err(e) => {
                self.state = Some(state);
                Err(e.into())
            }
        }
    }

    fn state(&mut self) -> Result<Value, FoldError> {
        if self.state.is_none() {
            self.reset()?;
        }
        let state = self.state.clone().ok_or_else(|| FoldError { message: "no state".to_owned() })?;
        Ok(self.sandbox.run(|ctx| to_json(ctx, state.restore(ctx)?), "reading the state")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::replay;
    use crate::model::{Payload, StreamId};
    use serde_json::json;

    fn event(version: i64, event_type: &str, data: Value) -> Event {
        Event {
            stream: StreamId::from("order-1"),
            version,
            position: Some(version * 10),
            event_type: event_type.into(),
            payload: Payload::Json(data).into(),
            metadata: Some(Payload::Json(json!({"actor": "u1"})).into()),
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        }
    }

    const FOLD: &str = r#"({
        $init: () => ({ status: "new", lines: [], seen: [] }),
        OrderPlaced: (s, e) => { s.lines = e.data.lines; s.status = "placed"; return s; },
        Replaced: (s, e) => ({ replaced: true, by: e.metadata.actor, at: e.position }),
        $any: (s, e) => { s.seen.push(e.type + "@" + e.version + "/" + e.streamId + "/" + e.category); return s; },
    })"#;

    #[test]
    fn given_events_expected_state() {
        let mut fold = JsFold::from_source("order.js", FOLD).unwrap();
        let events =
            vec![event(1, "OrderPlaced", json!({"lines": [{"sku": "a", "qty": 2}]})), event(2, "Other", json!({}))];
        assert_eq!(
            replay(&mut fold, &events).unwrap(),
            json!({"status": "placed", "lines": [{"sku": "a", "qty": 2}], "seen": ["Other@2/order-1/order"]})
        );
        assert_eq!(replay(&mut fold, &[]).unwrap(), json!({"status": "new", "lines": [], "seen": []}));
        let replaced = vec![events[0].clone(), event(3, "Replaced", json!({}))];
        assert_eq!(replay(&mut fold, &replaced).unwrap(), json!({"replaced": true, "by": "u1", "at": 30}));
        assert!(fold.handler_names().contains(&"OrderPlaced".to_owned()));
    }

    #[test]
    fn restore_continues_from_a_checkpoint() {
        let mut fold = JsFold::from_source("order.js", FOLD).unwrap();
        fold.restore(&json!({"status": "x", "lines": [], "seen": ["a"]})).unwrap();
        fold.apply(&event(9, "Other", json!({}))).unwrap();
        assert_eq!(fold.state().unwrap()["seen"], json!(["a", "Other@9/order-1/order"]));
    }

    #[test]
    fn failures_name_the_event_and_the_line() {
        let cases = [
            ("({ A: (s, e) => { while (true) {} } })", "the A handler took longer than"),
            ("({ A: (s, e) => {\n  throw new Error('no A here');\n} })", "order.js:2:"),
            ("({ A: (s, e) => { s.x = 1; } })", "the A handler returned undefined at version 1"),
            (
                "({ A: (s, e) => e.data.missing.deeper })",
                "TypeError: cannot read property 'deeper' of undefined (the A handler)",
            ),
        ];
        for (source, expected) in cases {
            let mut fold = JsFold::with_limits(
                "order.js",
                source,
                Limits { budget_per_call: std::time::Duration::from_millis(100), ..Limits::default() },
            )
            .unwrap();
            fold.reset().unwrap();
            let err = fold.apply(&event(1, "A", json!({}))).unwrap_err();
            assert!(err.message.contains(expected), "{source}: {}", err.message);
        }
        let err = JsFold::from_source("order.js", "({\n  A: (s, e) => { return s +; }\n})").err().unwrap();
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.to_string().starts_with("order.js:2:"), "{err}");
        let err = JsFold::from_source("order.js", "42").err().unwrap();
        assert!(err.message.contains("must evaluate to an object"), "{err}");
    }

    #[test]
    fn the_fold_stays_usable_after_a_timeout() {
        let source = "({ Loop: (s, e) => { while (true) {} }, Count: (s, e) => { s.n = (s.n || 0) + 1; return s; } })";
        let mut fold = JsFold::with_limits(
            "f.js",
            source,
            Limits { budget_per_call: std::time::Duration::from_millis(50), ..Limits::default() },
        )
        .unwrap();
        fold.reset().unwrap();
        fold.apply(&event(1, "Count", json!({}))).unwrap();
        assert!(fold.apply(&event(2, "Loop", json!({}))).is_err());
        fold.apply(&event(3, "Count", json!({}))).unwrap();
        assert_eq!(fold.state().unwrap(), json!({"n": 2}));
    }

    const INHERITED: [&str; 7] =
        ["__proto__", "toString", "constructor", "hasOwnProperty", "valueOf", "isPrototypeOf", "$init"];

    #[test]
    fn event_types_named_like_inherited_members_are_plain_event_types() {
        let events: Vec<Event> =
            INHERITED.iter().enumerate().map(|(i, t)| event(i as i64 + 1, t, json!({"i": i}))).collect();
        // Unhandled: to $any, in order.
        let mut fold = JsFold::from_source(
            "f.js",
            "({ $init: () => ({ seen: [] }), $any: (s, e) => { s.seen.push(e.type); return s; } })",
        )
        .unwrap();
        assert_eq!(replay(&mut fold, &events).unwrap(), json!({"seen": INHERITED}));
        // No $any: ignored, the state stays as it was.
        let mut fold =
            JsFold::from_source("f.js", "({ $init: () => ({ n: 0 }), A: (s, e) => { s.n++; return s; } })").unwrap();
        assert_eq!(replay(&mut fold, &events).unwrap(), json!({"n": 0}));
        // Handled by the fold's own handlers of those names, even when the script changed
        // Object.prototype.
        let mut fold = JsFold::from_source(
            "f.js",
            r#"Object.prototype.valueOf = (s, e) => ({ hijacked: true });
            Object.prototype.hasOwnProperty = () => true;
            ({
                $init: () => ({ by: [] }),
                ["__proto__"]: (s, e) => { s.by.push("own __proto__"); return s; },
                toString: (s, e) => { s.by.push("own toString"); return s; },
                constructor: (s, e) => { s.by.push("own constructor"); return s; },
                $any: (s, e) => { s.by.push("$any " + e.type); return s; },
            })"#,
        )
        .unwrap();
        assert_eq!(
            replay(&mut fold, &events).unwrap(),
            json!({"by": ["own __proto__", "own toString", "own constructor", "$any hasOwnProperty", "$any valueOf",
                "$any isPrototypeOf", "$any $init"]})
        );
    }

    #[test]
    fn a_state_nested_past_the_bound_is_a_clear_error() {
        let mut fold = JsFold::from_source(
            "deep.js",
            "({ Deepen: (s, e) => { for (let i = 0; i < e.data.levels; i++) s = { c: s }; return s; } })",
        )
        .unwrap();
        for levels in [200, 100_000] {
            fold.reset().unwrap();
            fold.apply(&event(1, "Deepen", json!({"levels": levels}))).unwrap();
            let err = fold.state().unwrap_err();
            assert_eq!(
                err.message,
                "deep.js: RangeError: the value nests deeper than 127 levels of arrays and objects, eventscope's limit \
                 (reading the state)",
                "{levels}"
            );
        }
        // Through a history: the fold stops at the event whose state cannot be read.
        let events: Vec<Event> = (1..=3).map(|v| event(v, "Deepen", json!({"levels": 60}))).collect();
        let mut history = crate::fold::History::with_interval(
            "s".into(),
            Box::new(
                JsFold::from_source(
                    "deep.js",
                    "({ Deepen: (s, e) => { for (let i = 0; i < e.data.levels; i++) s = { c: s }; return s; } })",
                )
                .unwrap(),
            ),
            1,
        );
        history.push_events(events);
        assert_eq!(history.folded(), 2);
        let failure = history.failure().unwrap();
        assert_eq!(failure.version, Some(3));
        assert!(failure.to_string().contains("nests deeper than 127 levels"), "{failure}");
        // A checkpoint or an event too deep to hand to the script is refused the same way.
        let deep = (0..200).fold(json!(1), |v, _| json!([v]));
        let err = fold.restore(&deep).unwrap_err();
        assert!(err.message.contains("RangeError: the value nests deeper than 127 levels"), "{}", err.message);
        fold.reset().unwrap();
        let err = fold.apply(&event(1, "Deepen", deep)).unwrap_err();
        assert!(err.message.contains("RangeError: the event's data nests deeper than 127 levels"), "{}", err.message);
    }
}
