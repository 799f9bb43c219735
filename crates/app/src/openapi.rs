//! The OpenAPI 3.1 document of the service, generated from the code.
//!
//! Routes are registered through `utoipa_axum`, so every route carries its own description
//! (parameters, headers, bodies, success responses). Problem responses are declared in a
//! route's `#[utoipa::path]` by their `code`s alone (`(status = 409, description =
//! "email_taken")`); [`document`] expands each into a full `application/problem+json`
//! response from the [`problems`] registry: a named schema whose `status` is that status and
//! whose `code` is the enum of those codes, one example per code, and the headers that go with
//! the status. The schemas are whole objects rather than an `allOf` narrowing a shared one,
//! because client generators cannot merge such narrowings and drop the response. It also adds the problems
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
    servers((url = "/", description = "The address the document was read from")),
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
    // `Problem` is the template of the named problem schemas, which replace it in the document.
    let template = doc["components"]["schemas"]
        .as_object_mut()
        .and_then(|schemas| schemas.remove("Problem"))
        .unwrap_or_default();
    let mut problem_schemas = ProblemSchemas::new(template);
    if let Some(paths) = doc["paths"].as_object_mut() {
        for (path, item) in paths.iter_mut() {
            let uses_database = path.starts_with("/v1/");
            for operation in item
                .as_object_mut()
                .into_iter()
                .flat_map(|i| i.values_mut())
            {
                public_security(operation);
                expand_problems(operation, uses_database, &mut problem_schemas);
                not_null_parameters(operation);
                camel_case_links(operation);
            }
        }
    }
    if let Some(schemas) = doc["components"]["schemas"].as_object_mut() {
        schemas.extend(problem_schemas.schemas);
    }
    doc
}

/// An operation that needs no token says so with `security: []`: left out, it would read as
/// "unspecified", which linters flag and some generated clients treat as "needs a token".
fn public_security(operation: &mut Value) {
    if let Some(operation) = operation.as_object_mut() {
        operation
            .entry("security")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
}

/// The named problem schemas of the document, one per status and set of codes.
struct ProblemSchemas {
    /// The `Problem` schema the narrowed ones are copies of.
    template: Value,
    /// The name given to each status and list of codes.
    names: BTreeMap<(u16, Vec<&'static str>), String>,
    /// The schemas by name, as `components.schemas` holds them.
    schemas: Map<String, Value>,
}

impl ProblemSchemas {
    fn new(mut template: Value) -> Self {
        // Its example is a `validation_failed`, which no other status's schema admits.
        if let Some(template) = template.as_object_mut() {
            template.remove("example");
        }
        Self {
            template,
            names: BTreeMap::new(),
            schemas: Map::new(),
        }
    }

    /// A `$ref` to the schema of a problem with this status and one of these codes, named
    /// `Problem<Code>` for a single code and `<OperationId>Problem<status>` for several (the
    /// first operation to answer that set names it).
    fn reference(&mut self, operation_id: &str, status: u16, codes: &[Code]) -> Value {
        let key = (status, codes.iter().map(|c| c.name).collect::<Vec<_>>());
        let name = match self.names.get(&key) {
            Some(name) => name.clone(),
            None => {
                let name = match codes {
                    [code] => format!("Problem{}", pascal_case(code.name)),
                    _ => format!("{}Problem{status}", pascal_case(operation_id)),
                };
                self.schemas
                    .insert(name.clone(), self.schema(status, codes));
                self.names.insert(key, name.clone());
                name
            }
        };
        json!({"$ref": format!("#/components/schemas/{name}")})
    }

    /// The template with `status` fixed and `code` limited to `codes`.
    fn schema(&self, status: u16, codes: &[Code]) -> Value {
        let names: Vec<&str> = codes.iter().map(|c| c.name).collect();
        let listed = names
            .iter()
            .map(|name| format!("`{name}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut schema = self.template.clone();
        schema["description"] = json!(format!(
            "An RFC 9457 problem document answered with HTTP {status}; its `code` is one of \
             {listed}."
        ));
        schema["properties"]["status"] = json!({
            "type": "integer",
            "const": status,
            "description": "The HTTP status code."
        });
        schema["properties"]["code"] = json!({
            "type": "string",
            "enum": names,
            "description": "A stable machine-readable identifier of the kind of problem \
                (`GET /problems/{code}` describes it)."
        });
        schema
    }
}

/// `place_order` or `not_found` as `PlaceOrder` or `NotFound`.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// Replaces the code-list problem responses of one operation with full ones, adding the
/// problems its kind of operation can always answer (503 `database_unavailable` when it
/// `uses_database`).
fn expand_problems(operation: &mut Value, uses_database: bool, schemas: &mut ProblemSchemas) {
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
    let operation_id = operation["operationId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let responses = &mut operation["responses"];
    for (status, codes) in by_status {
        let schema = schemas.reference(&operation_id, status, &codes);
        responses[status.to_string()] = problem_response(status, &codes, schema);
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

/// One status's problem response: which codes, what each means, an example of each, and
/// `schema`, the reference to its named schema.
fn problem_response(status: u16, codes: &[Code], schema: Value) -> Value {
    let description = codes
        .iter()
        // Descriptions are Markdown, in which `<token>` would be an HTML tag and vanish.
        .map(|c| format!("`{}`: {}", c.name, c.about.replace('<', "&lt;")))
        .collect::<Vec<_>>()
        .join(" ");
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
                "schema": schema,
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
        let conflict = schema_of(doc, &sign_up["409"]);
        assert_eq!(
            conflict["properties"]["code"]["enum"],
            json!(["email_taken"])
        );
        assert_eq!(conflict["properties"]["status"]["const"], json!(409));
        assert!(
            sign_up["422"]["content"]["application/problem+json"]["examples"]["validation_failed"]
                .is_object()
        );
        let unavailable = &sign_up["503"];
        assert_eq!(
            schema_of(doc, unavailable)["properties"]["code"]["enum"],
            json!(["database_unavailable"])
        );
        assert!(unavailable["headers"]["Retry-After"].is_object());
        let ready = &doc["paths"]["/health/ready"]["get"]["responses"]["503"];
        assert!(ready["headers"]["Retry-After"].is_object());
        assert!(doc["paths"]["/health/live"]["get"]["responses"]["503"].is_null());
        let get_order = schema_of(
            doc,
            &doc["paths"]["/v1/orders/{id}"]["get"]["responses"]["404"],
        );
        assert_eq!(
            get_order["properties"]["code"]["enum"],
            json!(["order_not_found", "not_found"])
        );
    }

    /// Client generators cannot merge an `allOf` that narrows `status` and `code`: every
    /// problem response names a whole object schema of its own.
    #[test]
    fn problem_responses_name_whole_schemas_without_all_of() {
        let doc = document();
        let text = serde_json::to_string(doc).unwrap();
        assert!(!text.contains("allOf"), "the document uses allOf");
        assert!(doc["components"]["schemas"]["Problem"].is_null());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for (status, response) in operation["responses"].as_object().unwrap() {
                    if !(status.starts_with('4') || status.starts_with('5')) {
                        continue;
                    }
                    let schema = schema_of(doc, response);
                    assert_eq!(
                        schema["properties"]["status"]["const"].to_string(),
                        *status,
                        "{method} {path} {status}"
                    );
                    let codes = schema["properties"]["code"]["enum"].as_array().unwrap();
                    assert!(!codes.is_empty(), "{method} {path} {status}");
                    for code in codes {
                        let code = problems::by_name(code.as_str().unwrap()).unwrap();
                        assert_eq!(code.status.as_str(), status, "{method} {path}");
                    }
                }
            }
        }
    }

    /// Operations needing no token say `security: []`, and clients use the address they
    /// called.
    #[test]
    fn public_operations_say_so_and_the_server_is_relative() {
        let doc = document();
        assert_eq!(
            doc["servers"],
            json!([{"url": "/", "description": "The address the document was read from"}])
        );
        for (path, method) in [
            ("/v1/users", "post"),
            ("/v1/sessions", "post"),
            ("/health/live", "get"),
            ("/openapi.json", "get"),
            ("/problems/{code}", "get"),
        ] {
            assert_eq!(
                doc["paths"][path][method]["security"],
                json!([]),
                "{method} {path}"
            );
        }
        assert_eq!(
            doc["paths"]["/v1/orders"]["post"]["security"],
            json!([{"bearer": []}])
        );
    }

    /// The named schema a problem response refers to.
    fn schema_of<'a>(doc: &'a Value, response: &Value) -> &'a Value {
        let reference = response["content"]["application/problem+json"]["schema"]["$ref"]
            .as_str()
            .unwrap();
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        let schema = &doc["components"]["schemas"][name];
        assert!(schema.is_object(), "{reference} is missing");
        schema
    }
}
