//! Business labels for streams: what a person calls a stream ("ORD-1042", "Alice Smith") where
//! its id is a UUID. A label is a field of the stream's first event, chosen once per category
//! from the first event seen of it ([`label_field`]) unless the user chose another; streams are
//! then shown and searched by it. Pure: no egui, no sqlx.

use serde_json::Value;

/// The longest label shown; longer values are cut with `…`.
const MAX_LABEL_CHARS: usize = 32;

/// Field names that name a thing, tried after `<category>_id` and its like.
const NAMING_FIELDS: [&str; 10] =
    ["name", "title", "display_name", "full_name", "username", "email", "code", "reference", "number", "sku"];

/// The field of a category's first event that labels its streams, if one does: `<category>_id`
/// (or `Id`, `_number`, `_no`, `_ref`, `_code`, also for a plural category), then a naming
/// field (`name`, `title`, `email`, …), then the first `…_id` field. Only a top-level text or
/// whole-number value that is not a UUID counts (a UUID is no easier to find than the id).
pub fn label_field(category: &str, payload: &Value) -> Option<String> {
    let Value::Object(map) = payload else {
        return None;
    };
    let usable = |key: &str| map.get(key).is_some_and(|v| label_text(v).is_some());
    let normalized = |s: &str| s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
    // The category whole, singular, and each of its words (`CustomerAccount`: customer, account).
    let words = category_words(category);
    let category = normalized(category);
    let singular = category.strip_suffix('s').unwrap_or(&category).to_owned();
    let stems: Vec<&str> =
        [category.as_str(), singular.as_str()].into_iter().chain(words.iter().map(String::as_str)).collect();
    for stem in stems.into_iter().filter(|s| !s.is_empty()) {
        for suffix in ["id", "number", "no", "ref", "code", "name"] {
            let wanted = format!("{stem}{suffix}");
            if let Some(key) = map.keys().find(|k| normalized(k) == wanted && usable(k)) {
                return Some(key.clone());
            }
        }
    }
    for naming in NAMING_FIELDS {
        if let Some(key) = map.keys().find(|k| normalized(k) == naming && usable(k)) {
            return Some(key.clone());
        }
    }
    map.keys().find(|k| (k.ends_with("_id") || k.ends_with("Id")) && usable(k)).cloned()
}

/// The words of a category name: split at case changes and at anything not a letter or digit.
fn category_words(category: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut previous_lower = false;
    for c in category.chars() {
        if (!c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && previous_lower)) && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        previous_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The label a payload gives with this field, if it has a usable value there.
pub fn label_of(payload: &Value, field: &str) -> Option<String> {
    label_text(payload.get(field)?)
}

/// The fields a user can choose as a category's label: the first event's top-level text and
/// whole-number fields.
pub fn label_candidates(payload: &Value) -> Vec<String> {
    match payload {
        Value::Object(map) => map.iter().filter(|(_, v)| label_text(v).is_some()).map(|(k, _)| k.clone()).collect(),
        _ => Vec::new(),
    }
}

/// Whether a search term finds a label (case-insensitive substring).
pub fn label_matches(label: &str, term: &str) -> bool {
    !term.is_empty() && label.to_lowercase().contains(&term.to_lowercase())
}

fn label_text(value: &Value) -> Option<String> {
    let text = match value {
        // (One line, without invisible characters: a label is read at a glance.)
        Value::String(s) => s
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .filter(|c| !matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}' | '\u{feff}' | '\u{202a}'..='\u{202e}'))
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => return None,
    };
    if text.is_empty() || looks_like_uuid(&text) {
        return None;
    }
    Some(match text.char_indices().nth(MAX_LABEL_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text,
    })
}

fn looks_like_uuid(text: &str) -> bool {
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    hex.len() == 32 && hex.chars().all(|c| c.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_label_is_the_category_s_own_id_then_a_name_then_another_id() {
        let order = json!({"customer_id": "C-112", "order_id": "ORD-1042", "status": "placed"});
        assert_eq!(label_field("order", &order).as_deref(), Some("order_id"));
        assert_eq!(label_field("Orders", &order).as_deref(), Some("order_id"), "plural, any case");
        assert_eq!(label_of(&order, "order_id").as_deref(), Some("ORD-1042"));
        let account = json!({"accountNumber": 120044, "owner": "x"});
        assert_eq!(label_field("account", &account).as_deref(), Some("accountNumber"));
        assert_eq!(label_of(&account, "accountNumber").as_deref(), Some("120044"));
        let person = json!({"id": "0e9a2a52-2e6e-4b7a-9a53-3a3c1b2f9f10", "email": "ada@example.com", "age": 36});
        assert_eq!(label_field("user", &person).as_deref(), Some("email"));
        // Whatever order the store keeps the fields in (jsonb sorts them).
        let customer = json!({"region_id": "eu-west", "customer_id": "C-101", "name": "Ada"});
        assert_eq!(label_field("CustomerAccount", &customer).as_deref(), Some("customer_id"));
        let other = json!({"tenant_id": "acme", "amount": 3});
        assert_eq!(label_field("payment", &other).as_deref(), Some("tenant_id"));
    }

    #[test]
    fn uuids_objects_and_empty_values_are_no_label() {
        let payload = json!({
            "order_id": "0e9a2a52-2e6e-4b7a-9a53-3a3c1b2f9f10",
            "name": {"first": "Ada"},
            "title": "  ",
            "number": 1.5
        });
        assert_eq!(label_field("order", &payload), None);
        assert_eq!(label_field("order", &json!([1, 2])), None);
        assert_eq!(label_candidates(&payload), Vec::<String>::new());
        let long = "x".repeat(100);
        assert_eq!(label_of(&json!({ "name": long }), "name").unwrap().chars().count(), MAX_LABEL_CHARS + 1);
        let odd = json!({"name": "Ada\nLovelace\u{200b}\u{202e}"});
        assert_eq!(label_of(&odd, "name").as_deref(), Some("Ada Lovelace"));
    }

    #[test]
    fn labels_match_case_insensitively() {
        assert!(label_matches("ORD-1042", "ord-10"));
        assert!(!label_matches("ORD-1042", ""));
        assert!(!label_matches("ORD-1042", "1043"));
    }
}
