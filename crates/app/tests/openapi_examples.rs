//! The OpenAPI document's examples are true: every example in it (request and response bodies,
//! problem documents, parameters, schema properties) validates against the schema it
//! illustrates, and every operation's example request body, sent to the built service on a
//! fresh database of each engine, is accepted.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use persistence::Backend;
use persistence::testing::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const BIN: &str = env!("CARGO_BIN_EXE_app");

/// One example of the document and the schema it must satisfy.
struct Example {
    at: String,
    value: Value,
    schema: Value,
}

/// Every example of `node` (at JSON pointer `at`): `example`/`examples` beside a `schema`
/// (media types, parameters), and `example` inside a schema.
fn collect(node: &Value, at: &str, found: &mut Vec<Example>) {
    match node {
        Value::Object(object) => {
            if let Some(schema) = object.get("schema") {
                if let Some(value) = object.get("example") {
                    found.push(Example {
                        at: format!("{at}/example"),
                        value: value.clone(),
                        schema: schema.clone(),
                    });
                }
                for (name, example) in object
                    .get("examples")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    found.push(Example {
                        at: format!("{at}/examples/{name}"),
                        value: example["value"].clone(),
                        schema: schema.clone(),
                    });
                }
            } else if let Some(value) = object.get("example") {
                let mut schema = node.clone();
                if let Some(schema) = schema.as_object_mut() {
                    schema.remove("example");
                }
                found.push(Example {
                    at: format!("{at}/example"),
                    value: value.clone(),
                    schema,
                });
            }
            for (key, child) in object {
                if key != "example" && key != "examples" {
                    collect(child, &format!("{at}/{}", key.replace('/', "~1")), found);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                collect(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

/// A validator of `schema`, whose `#/components/...` references resolve in the document.
fn validator(document: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = json!({"allOf": [schema]});
    root["components"] = document["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap_or_else(|e| panic!("{schema}: not a schema: {e}"))
}

#[test]
fn every_example_validates_against_its_schema() {
    let document = app::openapi::document();
    let mut examples = Vec::new();
    collect(document, "#", &mut examples);
    let mut failures = Vec::new();
    for example in &examples {
        let validator = validator(document, &example.schema);
        for error in validator.iter_errors(&example.value) {
            failures.push(format!("{}: {error}", example.at));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every problem response carries an example per code: hundreds; fewer means the walk
    // missed them.
    let problems = examples
        .iter()
        .filter(|e| e.at.contains("application~1problem+json"))
        .count();
    assert!(
        problems > 100,
        "only {problems} problem examples were checked"
    );
}

/// The validator catches a wrong example: the test above can fail.
#[test]
fn a_wrong_example_is_caught() {
    let document = app::openapi::document();
    let schema = json!({"$ref": "#/components/schemas/ProblemEmailTaken"});
    let validator = validator(document, &schema);
    let mut problem = json!({
        "type": "/problems/email_taken",
        "title": "E-mail address taken",
        "status": 409,
        "detail": "taken",
        "code": "email_taken"
    });
    assert!(validator.is_valid(&problem));
    problem["code"] = json!("version_conflict");
    assert!(!validator.is_valid(&problem));
    problem["code"] = json!("email_taken");
    problem["status"] = json!(412);
    assert!(!validator.is_valid(&problem));
}

/// Every operation that takes a body documents an example of it.
#[test]
fn every_request_body_has_an_example() {
    let document = app::openapi::document();
    for (operation_id, body) in request_bodies(document) {
        assert!(
            body.is_object(),
            "{operation_id} has no example request body"
        );
    }
}

/// The example request body of each operation that takes one, by operation id.
fn request_bodies(document: &Value) -> Vec<(String, Value)> {
    let mut bodies = Vec::new();
    for item in document["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let Some(media) = operation["requestBody"]["content"].get("application/json") else {
                continue;
            };
            let example = match media.get("example") {
                Some(example) => example.clone(),
                None => {
                    let reference = media["schema"]["$ref"].as_str().unwrap_or_default();
                    let name = reference.trim_start_matches("#/components/schemas/");
                    document["components"]["schemas"][name]["example"].clone()
                }
            };
            let id = operation["operationId"].as_str().unwrap().to_owned();
            bodies.push((id, example));
        }
    }
    bodies
}

persistence::both_backends!(every_example_request_is_accepted);

/// Each example request body, sent as documented (with the token, path and `If-Match` it
/// needs), answers 2xx. The operations run in an order where each example makes sense:
/// the product the order example names exists, at the price it names, with stock.
async fn every_example_request_is_accepted(backend: Backend) {
    let Some(database) = TestDatabase::create(backend).await else {
        return;
    };
    let service = Service::start(database.url()).await;
    let bodies = request_bodies(app::openapi::document());
    let body = |id: &str| {
        bodies
            .iter()
            .find(|(operation, _)| operation == id)
            .map(|(_, body)| body.clone())
            .unwrap_or_else(|| panic!("{id} has no example body"))
    };
    let mut sent = Vec::new();

    let user = service
        .send(
            "sign_up",
            "POST",
            "/v1/users",
            None,
            body("sign_up"),
            &mut sent,
        )
        .await;
    let session = service
        .send(
            "sign_in",
            "POST",
            "/v1/sessions",
            None,
            body("sign_in"),
            &mut sent,
        )
        .await;
    let customer = session.json["token"].as_str().unwrap().to_owned();
    let admin = service.admin(database.url()).await;

    let product = service
        .send(
            "create_product",
            "POST",
            "/v1/products",
            Some(&admin),
            body("create_product"),
            &mut sent,
        )
        .await;
    let sku = product.json["sku"].as_str().unwrap().to_owned();
    service
        .send(
            "adjust_stock",
            "POST",
            &format!("/v1/products/{sku}/stock/adjustments"),
            Some(&admin),
            body("adjust_stock"),
            &mut sent,
        )
        .await;
    service
        .send(
            "place_order",
            "POST",
            "/v1/orders",
            Some(&customer),
            body("place_order"),
            &mut sent,
        )
        .await;
    service
        .send_if_match(
            "update_product",
            "PATCH",
            &format!("/v1/products/{sku}"),
            &admin,
            product.etag.as_deref().unwrap(),
            body("update_product"),
            &mut sent,
        )
        .await;
    let id = user.json["id"].as_str().unwrap();
    service
        .send_if_match(
            "rename_user",
            "PATCH",
            &format!("/v1/users/{id}"),
            &customer,
            user.etag.as_deref().unwrap(),
            body("rename_user"),
            &mut sent,
        )
        .await;

    // A new operation with a body must join the walk above.
    let mut documented: Vec<String> = bodies.into_iter().map(|(id, _)| id).collect();
    documented.sort();
    sent.sort();
    assert_eq!(sent, documented);
}

/// The built service on a fresh database, on a port of its own.
struct Service {
    _child: Child,
    base: String,
    http: reqwest::Client,
}

/// One answer: its body and its `ETag`.
struct Answer {
    json: Value,
    etag: Option<String>,
}

impl Service {
    async fn start(database_url: &str) -> Self {
        let mut child = Command::new(BIN)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .env("BIND_ADDR", "127.0.0.1:0")
            .env("LOG_FORMAT", "json")
            .env("MIGRATE_ON_START", "true")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let port = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                let event: Value = serde_json::from_str(&line).unwrap();
                if event["message"] == "listening" {
                    let addr: std::net::SocketAddr =
                        event["addr"].as_str().unwrap().parse().unwrap();
                    return addr.port();
                }
            }
            panic!("the service exited before listening");
        })
        .await
        .expect("the service listens within a minute");
        // Keep reading, so the service never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self {
            _child: child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        }
    }

    /// A token of an admin who signed up and was granted the role by the operator verb.
    async fn admin(&self, database_url: &str) -> String {
        let credentials =
            json!({"email": "admin@example.com", "password": "correct horse battery"});
        let mut sign_up = credentials.clone();
        sign_up["display_name"] = json!("Admin");
        let response = self
            .http
            .post(format!("{}/v1/users", self.base))
            .json(&sign_up)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        let granted = Command::new(BIN)
            .env_clear()
            .env("DATABASE_URL", database_url)
            .args(["users", "grant-admin", "admin@example.com"])
            .output()
            .await
            .unwrap();
        assert!(granted.status.success(), "{granted:?}");
        let session: Value = self
            .http
            .post(format!("{}/v1/sessions", self.base))
            .json(&credentials)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        session["token"].as_str().unwrap().to_owned()
    }

    async fn send(
        &self,
        operation: &str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Value,
        sent: &mut Vec<String>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        self.answer(operation, request, &body, sent).await
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_if_match(
        &self,
        operation: &str,
        method: &str,
        path: &str,
        token: &str,
        etag: &str,
        body: Value,
        sent: &mut Vec<String>,
    ) -> Answer {
        let request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .bearer_auth(token)
            .header("If-Match", etag)
            .json(&body);
        self.answer(operation, request, &body, sent).await
    }

    async fn answer(
        &self,
        operation: &str,
        request: reqwest::RequestBuilder,
        body: &Value,
        sent: &mut Vec<String>,
    ) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let etag = response
            .headers()
            .get("etag")
            .map(|v| v.to_str().unwrap().to_owned());
        let json: Value = response.json().await.unwrap_or(Value::Null);
        assert!(
            status.is_success(),
            "{operation}: its example {body} was refused with {status}: {json}"
        );
        sent.push(operation.to_owned());
        Answer { json, etag }
    }
}
