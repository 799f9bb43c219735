//! Checks a JSON request body against the schema its wire type documents, reporting *every*
//! bad field at once.
//!
//! serde stops at the first error and words it for Rust programmers ("invalid type: integer,
//! expected a string", "unknown field `x`, expected one of …"). Walking the body against the
//! very schema that the OpenAPI document publishes instead yields one [`FieldError`] per missing,
//! unknown, mistyped or out-of-range field, in the client's terms, and cannot drift from the
//! document.
//!
//! This is the *shape* of the body: the keywords `$ref`, `type`, `properties`, `required`,
//! `additionalProperties: false`, `items`, `enum` and `format: uuid`. The value rules the schema
//! also describes (lengths, ranges, list sizes, patterns) belong to the domain's own parsers,
//! which run next on a well-shaped body and report every field they reject; checking them here
//! too would only hide the domain's errors behind our first ones.

use std::sync::LazyLock;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::problems::FieldError;

/// A request body type: deserialisable, documented, and checked against its documentation.
pub trait RequestBody: DeserializeOwned + ToSchema {
    /// The type's schema, built once.
    fn shape() -> &'static Shape;
}

/// Implements [`RequestBody`] for wire types, each with its schema cached in a static.
macro_rules! request_bodies {
    ($($ty:ty),+ $(,)?) => {$(
        impl $crate::wire::check::RequestBody for $ty {
            fn shape() -> &'static $crate::wire::check::Shape {
                static SHAPE: std::sync::LazyLock<$crate::wire::check::Shape> =
                    std::sync::LazyLock::new($crate::wire::check::Shape::of::<$ty>);
                &SHAPE
            }
        }
    )+};
}
pub(crate) use request_bodies;

/// A request type's JSON Schema and the schemas it refers to.
pub struct Shape {
    root: Value,
    components: Map<String, Value>,
}

/// The empty schema: accepts anything (what an unresolvable `$ref` degrades to).
static ANYTHING: LazyLock<Value> = LazyLock::new(|| Value::Object(Map::new()));

impl Shape {
    /// The schema utoipa derives for `T`.
    pub fn of<T: ToSchema>() -> Self {
        let mut referenced = Vec::new();
        T::schemas(&mut referenced);
        let components = referenced
            .into_iter()
            .map(|(name, schema)| (name, serde_json::to_value(schema).unwrap_or_default()))
            .collect();
        let root = serde_json::to_value(T::schema()).unwrap_or_default();
        Self { root, components }
    }

    /// Every way `body` departs from the schema; empty when it conforms.
    pub fn check(&self, body: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        self.walk(&self.root, body, "", &mut errors);
        errors
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(reference) => reference
                .strip_prefix("#/components/schemas/")
                .and_then(|name| self.components.get(name))
                .map_or(&*ANYTHING, |target| self.resolve(target)),
            None => schema,
        }
    }

    fn walk(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<FieldError>) {
        let schema = self.resolve(schema);
        let field = if path.is_empty() { "body" } else { path };
        let types = types_of(schema);
        if !types.is_empty() && !types.iter().any(|t| has_type(value, t)) {
            errors.push(FieldError::new(field, must_be(&types)));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            let names: Vec<String> = allowed.iter().map(Value::to_string).collect();
            errors.push(FieldError::new(
                field,
                format!("must be one of {}", names.join(", ")),
            ));
            return;
        }
        match value {
            Value::Object(members) => self.walk_object(schema, members, path, errors),
            Value::Array(items) => self.walk_array(schema, items, field, errors),
            Value::String(text) => check_string(schema, text, field, errors),
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
        }
    }

    fn walk_object(
        &self,
        schema: &Value,
        members: &Map<String, Value>,
        path: &str,
        errors: &mut Vec<FieldError>,
    ) {
        let properties = schema.get("properties").and_then(Value::as_object);
        let join = |name: &str| {
            if path.is_empty() {
                name.to_owned()
            } else {
                format!("{path}.{name}")
            }
        };
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !members.contains_key(required) {
                errors.push(FieldError::new(join(required), "is required"));
            }
        }
        let closed = schema.get("additionalProperties") == Some(&Value::Bool(false));
        for (name, member) in members {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => self.walk(property, member, &join(name), errors),
                None if closed => errors.push(FieldError::new(join(name), "is not a known field")),
                None => {}
            }
        }
    }

    fn walk_array(
        &self,
        schema: &Value,
        items: &[Value],
        field: &str,
        errors: &mut Vec<FieldError>,
    ) {
        if let Some(item) = schema.get("items") {
            for (i, value) in items.iter().enumerate() {
                self.walk(item, value, &format!("{field}[{i}]"), errors);
            }
        }
    }
}

/// The JSON types a schema allows (`"type": "x"` or `"type": ["x", "null"]`); empty = any.
fn types_of(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn has_type(value: &Value, json_type: &str) -> bool {
    match json_type {
        "string" => value.is_string(),
        // A whole number in a signed 64-bit integer, as every integer field is stored.
        "integer" => value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn must_be(types: &[&str]) -> String {
    let words: Vec<&str> = types
        .iter()
        .map(|t| match *t {
            "string" => "a string",
            "integer" => "a whole number from -9223372036854775808 to 9223372036854775807",
            "number" => "a number",
            "boolean" => "true or false",
            "object" => "a JSON object",
            "array" => "a list",
            "null" => "null",
            other => other,
        })
        .collect();
    format!("must be {}", words.join(" or "))
}

fn check_string(schema: &Value, text: &str, field: &str, errors: &mut Vec<FieldError>) {
    if schema.get("format").and_then(Value::as_str) == Some("uuid")
        && uuid::Uuid::try_parse(text).is_err()
    {
        errors.push(FieldError::new(
            field,
            "must be a UUID, like 0192f0c1-8d2e-7c3a-9b4e-1f2a3b4c5d6e",
        ));
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Line {
        #[schema(minimum = 1)]
        quantity: i64,
    }

    #[derive(Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        id: Option<uuid::Uuid>,
        #[schema(min_items = 1)]
        lines: Vec<Line>,
    }

    fn fields(body: Value) -> Vec<(String, String)> {
        Shape::of::<Body>()
            .check(&body)
            .into_iter()
            .map(|e| (e.field, e.reason))
            .collect()
    }

    #[test]
    fn conforming_bodies_have_no_errors() {
        assert!(fields(json!({"name": "x", "lines": [{"quantity": 1}]})).is_empty());
        assert!(fields(json!({"name": "x", "id": null, "lines": [{"quantity": 2}]})).is_empty());
    }

    #[test]
    fn every_bad_field_is_reported_by_its_path() {
        let errors = fields(json!({
            "name": 5, "id": "nope", "colour": "red",
            "lines": [{"quantity": 1}, {"quantity": 1.5, "sku": "A"}, {"quantity": "2"}]
        }));
        // Members are visited in name order, so the report is stable whatever the body's order.
        let named: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            named,
            [
                "colour",
                "id",
                "lines[1].quantity",
                "lines[1].sku",
                "lines[2].quantity",
                "name"
            ]
        );
        assert_eq!(errors[0].1, "is not a known field");
        // Value rules (here `minimum`, `minItems`) are the domain's, not the shape's.
        assert!(fields(json!({"name": "x", "lines": [{"quantity": 0}]})).is_empty());
        assert_eq!(fields(json!({}))[0], ("name".into(), "is required".into()));
        assert_eq!(fields(json!([1]))[0].0, "body");
    }

    #[test]
    fn no_reason_mentions_rust() {
        let errors = fields(json!({"name": [], "id": 3, "lines": {"a": 1}}));
        for (_, reason) in errors {
            for word in ["struct", "expected", "i64", "Vec", "Option", "variant"] {
                assert!(!reason.contains(word), "{reason}");
            }
        }
    }
}
