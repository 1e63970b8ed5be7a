//! The generic merge fold: every JSON-object payload is merged into the state as an RFC 7386
//! JSON Merge Patch (a `null` member removes the key); any other payload is kept under its
//! event type, so nothing an event carries is lost. The merge descends at most
//! [`WALK_DEPTH`] levels (see [`crate::model`]); below, the patch's value replaces the target's.

use serde_json::{Map, Value};

use super::{Fold, FoldError};
use crate::model::{Event, Payload, WALK_DEPTH};

/// The fold that works on any store without knowing its domain.
#[derive(Clone, Debug)]
pub struct MergeFold {
    state: Value,
}

impl Default for MergeFold {
    fn default() -> Self {
        MergeFold { state: Value::Object(Map::new()) }
    }
}

impl MergeFold {
    /// Applies one event to a state (the step of the merge fold, as a pure function).
    pub fn step(state: &mut Value, event: &Event) {
        match &*event.payload {
            Payload::Json(patch @ Value::Object(_)) => merge_patch(state, patch),
            other => {
                if !state.is_object() {
                    *state = Value::Object(Map::new());
                }
                if let Value::Object(map) = state {
                    map.insert(event.event_type.clone(), other.to_output_json());
                }
            }
        }
    }
}

impl Fold for MergeFold {
    fn name(&self) -> &str {
        "merge"
    }

    fn reset(&mut self) -> Result<(), FoldError> {
        self.state = Value::Object(Map::new());
        Ok(())
    }

    fn restore(&mut self, state: &Value) -> Result<(), FoldError> {
        self.state = state.clone();
        Ok(())
    }

    fn apply(&mut self, event: &Event) -> Result<(), FoldError> {
        MergeFold::step(&mut self.state, event);
        Ok(())
    }

    fn state(&mut self) -> Result<Value, FoldError> {
        Ok(self.state.clone())
    }
}

/// Applies an RFC 7386 merge patch to `target` in place.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    merge_patch_within(target, patch, WALK_DEPTH);
}

/// Merges `patch` into `target`, descending at most `levels` more levels.
fn merge_patch_within(target: &mut Value, patch: &Value, levels: usize) {
    let (Value::Object(patch_map), Some(below)) = (patch, levels.checked_sub(1)) else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(target_map) = target else {
        return;
    };
    for (key, value) in patch_map {
        if value.is_null() {
            target_map.remove(key);
        } else if let Some(existing) = target_map.get_mut(key) {
            // (The key is copied only when it is new to the state.)
            merge_patch_within(existing, value, below);
        } else {
            merge_patch_within(target_map.entry(key.clone()).or_insert(Value::Null), value, below);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold::replay;
    use crate::model::{StreamId, WALK_DEPTH};
    use serde_json::json;

    fn event(version: i64, event_type: &str, payload: Payload) -> Event {
        Event {
            stream: StreamId::from("s"),
            version,
            position: None,
            event_type: event_type.into(),
            payload: payload.into(),
            metadata: None,
            recorded_at: None,
            aggregate_type: None,
            archived: false,
            anomalies: Vec::new(),
        }
    }

    #[test]
    fn rfc7386_examples() {
        // The examples of RFC 7386, appendix A.
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "b"}), json!({"b": "c"}), json!({"a": "b", "b": "c"})),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (json!({"a": "b", "b": "c"}), json!({"a": null}), json!({"b": "c"})),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (json!({"a": {"b": "c"}}), json!({"a": {"b": "d", "c": null}}), json!({"a": {"b": "d"}})),
            (json!({"a": [{"b": "c"}]}), json!({"a": [1]}), json!({"a": [1]})),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (json!({"e": null}), json!({"a": 1}), json!({"e": null, "a": 1})),
            (json!([1, 2]), json!({"a": "b", "c": null}), json!({"a": "b"})),
            (json!({}), json!({"a": {"bb": {"ccc": null}}}), json!({"a": {"bb": {}}})),
        ];
        for (target, patch, expected) in cases {
            let mut t = target.clone();
            merge_patch(&mut t, &patch);
            assert_eq!(t, expected, "{target} + {patch}");
        }
    }

    #[test]
    fn given_events_expected_state() {
        let cases: Vec<(Vec<Event>, Value)> = vec![
            (vec![], json!({})),
            (
                vec![
                    event(1, "OrderPlaced", Payload::Json(json!({"status": "placed", "amount": 10}))),
                    event(2, "PaymentConfirmed", Payload::Json(json!({"status": "paid"}))),
                ],
                json!({"status": "paid", "amount": 10}),
            ),
            (
                vec![
                    event(1, "A", Payload::Json(json!({"x": 1}))),
                    event(2, "Tagged", Payload::Json(json!([1, 2]))),
                    event(3, "Note", Payload::Json(json!("hello"))),
                ],
                json!({"x": 1, "Tagged": [1, 2], "Note": "hello"}),
            ),
            (
                vec![event(1, "Bad", Payload::Undecodable { bytes: vec![0xff], reason: "r".into() })],
                json!({"Bad": {"undecodable": {"reason": "r", "bytes_base64": "/w=="}}}),
            ),
            (
                vec![
                    event(1, "A", Payload::Json(json!({"x": 1, "y": 2}))),
                    event(2, "B", Payload::Json(json!({"x": null}))),
                ],
                json!({"y": 2}),
            ),
        ];
        for (events, expected) in cases {
            assert_eq!(replay(&mut MergeFold::default(), &events).unwrap(), expected, "{events:?}");
        }
    }

    #[test]
    fn the_merge_stops_descending_at_the_walk_bound() {
        let nested = |levels: usize, inner: Value| (0..levels).fold(inner, |value, _| json!({"a": value}));
        // Within the bound, a null deep down removes its key, as RFC 7386 has it.
        let mut state = nested(WALK_DEPTH - 1, json!({"x": 1, "y": 2}));
        merge_patch(&mut state, &nested(WALK_DEPTH - 1, json!({"x": null})));
        assert_eq!(state, nested(WALK_DEPTH - 1, json!({"y": 2})));
        // Past it, the patch's value replaces the state's, as a whole.
        let mut state = nested(WALK_DEPTH + 20, json!({"x": 1, "y": 2}));
        merge_patch(&mut state, &nested(WALK_DEPTH + 20, json!({"x": null})));
        assert_eq!(state, nested(WALK_DEPTH + 20, json!({"x": null})));
    }
}
