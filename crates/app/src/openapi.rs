//! The OpenAPI 3.1 document of the service, generated from the code.
//!
//! Routes are registered through `utoipa_axum`, so every route carries its own description
//! (parameters, headers, bodies, success responses). Problem responses are declared in a
//! route's `#[utoipa::path]` by their `code`s alone (`(status = 409, description =
//! "email_taken")`); [`document`] expands each into a full `application/problem+json`
//! response from the [`problems`] registry: a schema whose `code` is the enum of those codes,
//! one example per code, and the headers that go with the status. It also adds the problems
//! every operation of a kind can answer (401 for those needing a token, 400/413/415/422 for
//! those with a body, 404 for malformed path ids, 503 for every `/v1` operation, all of which
//! use the database, 408/414/431/500 for all), so they are written down once.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use serde_json::{Map, Value, json};
use utoipa::OpenApi;

use crate::problems::{self, Code, CurrentPrice, FieldError, Problem, Shortage};
use crate::routes;

/// The parts of the document no route owns: the problem schemas and the bearer scheme.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "orders-backend",
        version = "3.0.0",
        description = "Order management over HTTP (contract v3): the server prices every order \
            from the catalog and reserves its stock. Every error is an RFC 9457 \
            `application/problem+json` document with a stable `code`; its `type` is the \
            relative URI `/problems/{code}`, which this service serves as a short page. \
            Every `/v1` route except sign-up, sign-in and reading the catalog needs `Authorization: Bearer <token>` \
            from `POST /v1/sessions`. JSON bodies are checked strictly: an unknown field is a \
            422 naming it. List cursors (`next`, `after`) are opaque, bound to the list that \
            issued them and tamper-evident."
    ),
    components(schemas(Problem, FieldError, CurrentPrice, Shortage)),
    tags(
        (name = "users", description = "Sign-up and users"),
        (name = "sessions", description = "Sign-in and sign-out"),
        (name = "orders", description = "Orders and their lifecycle"),
        (name = "catalog", description = "Products and their prices"),
        (name = "inventory", description = "Stock and its adjustments"),
        (name = "operations", description = "Health probes and self-description"),
    )
)]
pub(crate) struct Base;

/// The document, built once per process.
pub fn document() -> &'static Value {
    static DOCUMENT: LazyLock<Value> = LazyLock::new(build);
    &DOCUMENT
}

/// The document as `cargo xtask openapi` writes it: pretty, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(document()).unwrap_or_default();
    text.push('\n');
    text
}

fn build() -> Value {
    let (_, api) = routes::api().split_for_parts();
    let mut doc = serde_json::to_value(api).unwrap_or_default();
    doc["components"]["securitySchemes"] = json!({
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "The `token` of `POST /v1/sessions`: 43 characters of base64url."
        }
    });
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let uses_database = path.starts_with("/v1/");
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|i| i.values_mut())
            {
                expand_problems(operation, uses_database);
                not_null_parameters(operation);
                camel_case_links(operation);
            }
        }
    }
    doc
}

/// Replaces the code-list problem responses of one operation with full ones, adding the
/// problems its kind of operation can always answer (503 `database_unavailable` when it
/// `uses_database`).
fn expand_problems(operation: &mut Value, uses_database: bool) {
    let mut by_status: BTreeMap<u16, Vec<Code>> = BTreeMap::new();
    let mut add = |code: Code| {
        let codes = by_status.entry(code.status.as_u16()).or_default();
        if !codes.contains(&code) {
            codes.push(code);
        }
    };
    let Some(responses) = operation.get("responses").and_then(Value::as_object) else {
        return;
    };
    for (status, response) in responses {
        if status.starts_with('4') || status.starts_with('5') {
            let names = response["description"].as_str().unwrap_or_default();
            for name in names.split_whitespace() {
                match problems::by_name(name) {
                    Some(code) => add(code),
                    None => tracing::error!(name, "an OpenAPI response names an unknown code"),
                }
            }
        }
    }
    let secured = operation
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    if secured {
        add(problems::UNAUTHENTICATED);
    }
    if operation.get("requestBody").is_some() {
        for code in [
            problems::MALFORMED_JSON,
            problems::PAYLOAD_TOO_LARGE,
            problems::UNSUPPORTED_MEDIA_TYPE,
            problems::VALIDATION_FAILED,
        ] {
            add(code);
        }
    }
    let has_path_params = operation["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["in"] == "path"));
    if has_path_params {
        add(problems::NOT_FOUND);
    }
    if uses_database {
        add(problems::DATABASE_UNAVAILABLE);
    }
    for code in [
        problems::REQUEST_TIMEOUT,
        problems::URI_TOO_LONG,
        problems::HEADERS_TOO_LARGE,
        problems::INTERNAL_ERROR,
    ] {
        add(code);
    }
    let responses = &mut operation["responses"];
    for (status, codes) in by_status {
        responses[status.to_string()] = problem_response(status, &codes);
    }
}

/// An optional parameter is one that may be left out (`required: false`), never one whose
/// value may be JSON `null`: a header or query string cannot carry a null.
fn not_null_parameters(operation: &mut Value) {
    // `get_mut`, not indexing: indexing a missing member would add it as `null`.
    let parameters = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut);
    for parameter in parameters.into_iter().flatten() {
        if let Some(types) = parameter["schema"]["type"].as_array_mut() {
            types.retain(|t| t != "null");
            if let [only] = types.as_slice() {
                parameter["schema"]["type"] = only.clone();
            }
        }
    }
}

/// utoipa 5 writes a link's `operationId` as `operation_id` (and `operationRef` likewise),
/// which no client understands; this spells them as OpenAPI does.
fn camel_case_links(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let links = responses
        .values_mut()
        .filter_map(|response| response.get_mut("links").and_then(Value::as_object_mut));
    for link in links.flat_map(|links| links.values_mut()) {
        let Some(link) = link.as_object_mut() else {
            continue;
        };
        for (snake, camel) in [
            ("operation_id", "operationId"),
            ("operation_ref", "operationRef"),
        ] {
            if let Some(value) = link.remove(snake) {
                link.insert(camel.to_owned(), value);
            }
        }
    }
}

/// One status's problem response: which codes, what each means, an example of each.
fn problem_response(status: u16, codes: &[Code]) -> Value {
    let description = codes
        .iter()
        .map(|c| format!("`{}`: {}", c.name, c.about))
        .collect::<Vec<_>>()
        .join(" ");
    let names: Vec<&str> = codes.iter().map(|c| c.name).collect();
    let examples: Map<String, Value> = codes
        .iter()
        .map(|code| {
            let mut example =
                serde_json::to_value(Problem::new(*code, code.about)).unwrap_or_default();
            if *code == problems::VALIDATION_FAILED {
                example["detail"] = json!("email must contain one @.");
                example["errors"] = json!([{"field": "email", "reason": "must contain one @"}]);
            }
            (
                code.name.to_owned(),
                json!({"summary": code.title, "value": example}),
            )
        })
        .collect();
    let mut response = json!({
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Problem"},
                        {
                            "type": "object",
                            "properties": {
                                "status": {"const": status},
                                "code": {"enum": names}
                            }
                        }
                    ]
                },
                "examples": examples
            }
        }
    });
    let header =
        |description: &str| json!({"schema": {"type": "string"}, "description": description});
    match status {
        401 => {
            response["headers"] = json!({
                "WWW-Authenticate": header("`Bearer`: the scheme that would work")
            });
        }
        429 => {
            response["headers"] = json!({
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds until a sign-in for this address may succeed"
                }
            });
        }
        503 => {
            response["headers"] = json!({
                "Retry-After": {
                    "schema": {"type": "integer", "minimum": 1},
                    "description": "Seconds after which a retry may find the database available"
                }
            });
        }
        _ => {}
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_problem_names_known_codes() {
        let (_, api) = routes::api().split_for_parts();
        let raw = serde_json::to_value(api).unwrap();
        for (path, item) in raw["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if status.starts_with('4') || status.starts_with('5') {
                        let names = response["description"].as_str().unwrap();
                        for name in names.split_whitespace() {
                            let code = problems::by_name(name)
                                .unwrap_or_else(|| panic!("{method} {path}: unknown code {name}"));
                            assert_eq!(code.status.as_str(), status, "{method} {path}: {name}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_document_is_openapi_3_1_with_problem_responses() {
        let doc = document();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let sign_up = &doc["paths"]["/v1/users"]["post"]["responses"];
        assert_eq!(
            sign_up["409"]["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
                ["code"]["enum"],
            json!(["email_taken"])
        );
        assert!(
            sign_up["422"]["content"]["application/problem+json"]["examples"]["validation_failed"]
                .is_object()
        );
        let unavailable = &sign_up["503"];
        assert_eq!(
            unavailable["content"]["application/problem+json"]["schema"]["allOf"][1]["properties"]
                ["code"]["enum"],
            json!(["database_unavailable"])
        );
        assert!(unavailable["headers"]["Retry-After"].is_object());
        let ready = &doc["paths"]["/health/ready"]["get"]["responses"]["503"];
        assert!(ready["headers"]["Retry-After"].is_object());
        assert!(doc["paths"]["/health/live"]["get"]["responses"]["503"].is_null());
    }
}
