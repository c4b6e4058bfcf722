//! JSON Schemas from Rust types, in the shape providers accept.
//!
//! Schemas come from `schemars` (1.x). Providers are pickier than JSON
//! Schema itself, so the generated schema is cleaned up:
//! - subschemas are inlined (no `$ref`/`$defs`, except for recursive types,
//!   which cannot be inlined);
//! - the root is an object schema (`"type": "object"`, with `properties`);
//! - `$schema`, the root `title` and the numeric `format`s schemars adds
//!   (`double`, `uint32`, …) are dropped.
//!
//! Formats (structured output) are also made *strict*, as OpenAI's
//! `json_schema` mode requires: every object lists all its properties in
//! `required` and sets `additionalProperties: false`, and `default` values
//! are dropped. An `Option` field then stays required but may be `null`.
//!
//! Properties come out in alphabetical order (serde_json's map), which is
//! also the order a strict-mode model writes them in.
//!
//! ```
//! use schemars::JsonSchema;
//! use serde::Deserialize;
//! use serde_json::json;
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Author { name: String }
//!
//! #[derive(Deserialize, JsonSchema)]
//! struct Book { title: String, author: Author, year: Option<u32> }
//!
//! let f = rivulet::schema::format_of::<Book>();
//! assert_eq!(f.name, "Book");
//! assert_eq!(
//!     f.schema,
//!     json!({
//!         "type": "object",
//!         "properties": {
//!             "title": {"type": "string"},
//!             "author": {
//!                 "type": "object",
//!                 "properties": {"name": {"type": "string"}},
//!                 "required": ["name"],
//!                 "additionalProperties": false
//!             },
//!             "year": {"type": ["integer", "null"], "minimum": 0}
//!         },
//!         "required": ["author", "title", "year"],
//!         "additionalProperties": false
//!     })
//! );
//! ```

use rivulet_core::Format;
use schemars::generate::SchemaSettings;
use schemars::JsonSchema;
use serde_json::{Map, Value};

/// The schema of `T`, inlined and cleaned (see the module docs).
pub fn schema_for<T: JsonSchema>() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.inline_subschemas = true;
        s.meta_schema = None;
    });
    let mut v = settings
        .into_generator()
        .into_root_schema_for::<T>()
        .to_value();
    if let Value::Object(root) = &mut v {
        root.remove("$schema");
        root.remove("title");
    }
    clean(&mut v);
    v
}

/// The `parameters` schema of a tool whose arguments are a `T`: an object
/// schema at the root. A `T` that is not an object (`()`, for a tool without
/// arguments) gets an empty object schema.
pub fn tool_parameters<T: JsonSchema>() -> Value {
    let mut v = schema_for::<T>();
    let is_object = v.get("type").and_then(Value::as_str) == Some("object");
    if !is_object {
        v = serde_json::json!({"type": "object", "properties": {}});
    } else if let Value::Object(m) = &mut v {
        m.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    v
}

/// A structured-output format for `T`: its name (the type's, restricted to
/// `[A-Za-z0-9_-]`, as OpenAI requires) and its strict schema.
pub fn format_of<T: JsonSchema>() -> Format {
    let mut schema = schema_for::<T>();
    strict(&mut schema);
    let name: String = T::schema_name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    Format {
        name: if name.is_empty() {
            "output".into()
        } else {
            name
        },
        schema,
    }
}

/// Drops what providers reject, everywhere in the schema.
fn clean(v: &mut Value) {
    match v {
        Value::Object(m) => {
            let numeric = match m.get("type") {
                Some(Value::String(t)) => t == "number" || t == "integer",
                Some(Value::Array(ts)) => ts.iter().any(|t| t == "number" || t == "integer"),
                _ => false,
            };
            if numeric {
                m.remove("format");
            }
            for (_, child) in m.iter_mut() {
                clean(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(clean),
        _ => {}
    }
}

/// Every object schema requires all its properties and allows no others;
/// `default`s (from `#[serde(default)]`), which strict mode rejects, go.
fn strict(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("default");
            if let Some(Value::Object(props)) = m.get("properties") {
                let keys: Vec<Value> = props.keys().cloned().map(Value::String).collect();
                m.insert("required".into(), Value::Array(keys));
                m.insert("additionalProperties".into(), Value::Bool(false));
            }
            for (_, child) in m.iter_mut() {
                strict(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}
