//! The OpenAPI document (generated from the handlers' request and reply types with utoipa, served
//! by `GET /openapi.json`) and the code agree: every route `handlers::routes` registers is an
//! operation with the same method and every operation is a route; every operation has its own
//! id and states its roles (from the engine's rules); the error-code enum is exactly the codes
//! the code can write; and the committed `adapters/openapi.json` is the generated document,
//! byte for byte. This test is what fails CI when the handlers and the document drift apart.
//!
//! After a change to the API, rewrite the committed copy with
//! `KASSA_WRITE_OPENAPI=1 cargo test -p kassa-adapters --test openapi`.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{ADMIN_KEY, Server};
use kassa_adapters::http::{codes, openapi_document};
use kassa_engine::authority::{RULES, Role};
use serde_json::Value;

/// `(path, method)` of every route, read from the routing table's source.
fn routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/http/handlers/mod.rs");
    let mut routes = BTreeSet::new();
    for line in source.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix(".route(\"").or_else(|| line.strip_prefix(".route_with_json(\"")) else {
            continue;
        };
        let (path, rest) = rest.split_once('"').expect("a route's path is a string");
        let method = rest.split("Method::").nth(1).and_then(|call| call.split(',').next()).expect("Method::<METHOD>");
        routes.insert((path.to_string(), method.to_lowercase()));
    }
    routes
}

fn document() -> Value {
    serde_json::from_str(openapi_document()).expect("the document is JSON")
}

/// Every operation: `(path, method, operation)`.
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let mut operations = Vec::new();
    for (path, methods) in document["paths"].as_object().expect("paths") {
        for (method, operation) in methods.as_object().expect("methods") {
            operations.push((path.clone(), method.clone(), operation.clone()));
        }
    }
    operations
}

#[test]
fn the_committed_document_is_the_generated_one() {
    let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var_os("KASSA_WRITE_OPENAPI").is_some() {
        std::fs::write(&committed, openapi_document()).expect("adapters/openapi.json is written");
    }
    let text = std::fs::read_to_string(&committed).expect("adapters/openapi.json exists");
    assert!(
        text == openapi_document(),
        "adapters/openapi.json differs from the generated document: rewrite it with \
         `KASSA_WRITE_OPENAPI=1 cargo test -p kassa-adapters --test openapi`"
    );
}

#[test]
fn the_server_serves_the_generated_document_without_a_key() {
    let server = Server::start(&[]);
    let answer = server.call("GET", "/openapi.json", None, None);
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, document(), "GET /openapi.json is the generated document");
}

#[test]
fn an_unknown_path_and_an_unanswered_method_get_the_json_error_body() {
    let server = Server::start(&[]);
    server.call("GET", "/v1/no-such-thing", Some(ADMIN_KEY), None).assert_error(404, "route_not_found");
    server.call("POST", "/v2/transfers", None, Some(&serde_json::json!({}))).assert_error(404, "route_not_found");
    let answer = server.call("DELETE", "/v1/transfers", Some(ADMIN_KEY), None);
    answer.assert_error(405, "method_not_allowed");
    assert_eq!(answer.body["error"]["message"], "this path answers POST", "{answer:?}");
    server.assert_still_serving();
}

#[test]
fn every_route_is_documented_and_every_documented_operation_is_a_route() {
    let documented: BTreeSet<(String, String)> =
        operations(&document()).into_iter().map(|(path, method, _)| (path, method)).collect();
    let routes = routes();
    assert!(routes.len() > 40, "the routing table was read: {routes:?}");
    let undocumented: Vec<_> = routes.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routes).collect();
    assert!(
        undocumented.is_empty(),
        "routes without an operation (add #[utoipa::path] to the handler and list it in handlers/openapi.rs): \
         {undocumented:?}"
    );
    assert!(unrouted.is_empty(), "operations that no route serves: {unrouted:?}");
}

#[test]
fn every_operation_has_its_own_id() {
    let mut ids = BTreeSet::new();
    for (path, method, operation) in operations(&document()) {
        let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
    }
}

#[test]
fn every_operation_states_the_roles_that_may_call_it() {
    let document = document();
    let global = &document["security"];
    assert_eq!(global[0]["bearer"], serde_json::json!([]), "operations need a bearer key unless they say otherwise");
    let role_names: BTreeSet<&str> = Role::ALL.iter().map(|role| role.name()).collect();
    for (path, method, operation) in operations(&document) {
        let description = operation["description"].as_str().unwrap_or_default();
        let public = operation["security"].as_array().is_some_and(|requirements| {
            requirements.iter().all(|requirement| requirement.as_object().is_some_and(|fields| fields.is_empty()))
        });
        if public {
            assert!(description.contains("Roles: none needed"), "{method} {path}: {description}");
            continue;
        }
        let roles =
            operation["x-kassa-roles"].as_object().unwrap_or_else(|| panic!("{method} {path}: no x-kassa-roles"));
        let named: BTreeSet<&str> = roles.keys().map(String::as_str).collect();
        assert_eq!(named, role_names, "{method} {path}: a cell for every role");
        assert!(description.contains("Roles"), "{method} {path}: the description states the roles: {description}");
        let Some(rule) = operation["x-kassa-operation"].as_str() else { continue };
        let (_, cells) = RULES.iter().find(|(operation, _)| operation.name() == rule).expect("a rule of RULES");
        for (role, cell) in Role::ALL.iter().zip(cells) {
            assert_eq!(roles[role.name()], cell.describe(), "{method} {path}: {rule}'s cell for {}", role.name());
        }
    }
}

/// The HTTP layer's sources, where it writes its own error codes.
const HTTP_SOURCES: [&str; 22] = [
    include_str!("../src/http/mod.rs"),
    include_str!("../src/http/error.rs"),
    include_str!("../src/http/observe.rs"),
    include_str!("../src/http/schemas.rs"),
    include_str!("../src/http/requests/mod.rs"),
    include_str!("../src/http/requests/accounts.rs"),
    include_str!("../src/http/requests/payments.rs"),
    include_str!("../src/http/requests/users.rs"),
    include_str!("../src/http/handlers/mod.rs"),
    include_str!("../src/http/handlers/accounts.rs"),
    include_str!("../src/http/handlers/events.rs"),
    include_str!("../src/http/handlers/lists.rs"),
    include_str!("../src/http/handlers/openapi.rs"),
    include_str!("../src/http/handlers/pages.rs"),
    include_str!("../src/http/handlers/payments.rs"),
    include_str!("../src/http/handlers/replies.rs"),
    include_str!("../src/http/handlers/users.rs"),
    include_str!("../src/http/handlers/views.rs"),
    include_str!("../src/serve.rs"),
    include_str!("../src/auth.rs"),
    include_str!("../src/main.rs"),
    include_str!("../src/lib.rs"),
];

/// The codes written as literals in `source` (outside its inline test module): the argument of
/// `bad_request(`, `invalid(`, `unprocessable(`, `not_found(`, or the value of `"code": ` or
/// `code: `. The HTTP layer names its codes by their constant (`codes::BUSY`), so a literal here
/// is either one of them spelled out or a code the enum lacks.
fn written_codes(source: &str) -> Vec<String> {
    let source = source.split("#[cfg(test)]\nmod tests {").next().unwrap_or_default();
    let mut codes = Vec::new();
    for marker in ["bad_request(", "invalid(", "unprocessable(", "not_found(", "\"code\": ", "code: "] {
        for (at, _) in source.match_indices(marker) {
            let rest = source[at + marker.len()..].trim_start();
            let Some(rest) = rest.strip_prefix('"') else { continue };
            let code = &rest[..rest.find('"').expect("a closing quote")];
            if !code.is_empty() && code.bytes().all(|byte| byte.is_ascii_lowercase() || byte == b'_') {
                codes.push(code.to_string());
            }
        }
    }
    codes
}

/// The names of the constants of `kassa_adapters::http::codes` that `source` uses.
fn used_constants(source: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in source.match_indices("codes::") {
        let name: String =
            source[at + "codes::".len()..].chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
        if !name.is_empty() && name != "ALL" {
            used.insert(name);
        }
    }
    used
}

#[test]
fn the_error_code_enum_is_exactly_the_codes_an_answer_may_carry() {
    let document = document();
    let enumerated: BTreeSet<String> = document["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .expect("the error code is an enum")
        .iter()
        .map(|code| code.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        document["components"]["schemas"]["Error"]["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    assert_eq!(
        document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["$ref"],
        "#/components/schemas/ErrorCode"
    );
    // Every rejection of the engine, by its wire index until the first that does not exist.
    let mut expected = BTreeSet::new();
    let mut rejections = 0;
    while let Ok(rejection) = kassa_engine::codec::decode::<kassa_engine::Rejection>(&[
        kassa_engine::codec::FORMAT_VERSION,
        u8::try_from(rejections).unwrap(),
    ]) {
        expected.insert(rejection.code().to_string());
        rejections += 1;
    }
    assert!(rejections > 50, "the rejections were enumerated");
    // The HTTP layer's own: each written somewhere, by its constant or (outside `http/`) spelled
    // out; and no code written as a literal that the enum lacks.
    let used: BTreeSet<String> = HTTP_SOURCES.iter().flat_map(|source| used_constants(source)).collect();
    let written: BTreeSet<String> = HTTP_SOURCES.iter().flat_map(|source| written_codes(source)).collect();
    for code in codes::ALL {
        let constant = code.to_uppercase();
        assert!(
            used.contains(&constant) || written.contains(*code),
            "codes::{constant} is never written: remove it from http/codes.rs"
        );
        expected.insert(code.to_string());
    }
    for code in &written {
        assert!(expected.contains(code), "{code} is written by the HTTP layer but is no code: add it to http/codes.rs");
    }
    assert_eq!(enumerated, expected, "the document's ErrorCode enum");
}

#[test]
fn request_bodies_refuse_unknown_fields_and_keep_their_bounds() {
    let document = document();
    // OpenAPI 3.0: its `integer` is a number without a fraction, as the server reads integers
    // (in 3.1 `1.0` is an integer too).
    assert_eq!(document["openapi"], "3.0.3");
    assert!(!openapi_document().contains("\"null\""), "3.0 has no null type: nullable instead");
    let schemas = &document["components"]["schemas"];
    for name in ["OpenAccount", "Transfer", "PlaceHold", "Settle", "RequestSplit", "IssueCoupon", "Location"] {
        assert_eq!(schemas[name]["additionalProperties"], false, "{name} refuses unknown fields");
    }
    let amount = &schemas["Transfer"]["properties"]["amount"];
    assert_eq!((&amount["minimum"], &amount["maximum"]), (&Value::from(1), &Value::from(1_000_000_000_000_000_u64)));
    assert_eq!(schemas["Transfer"]["properties"]["id"]["pattern"], "^[A-Za-z0-9._:-]{1,64}$");
    assert!(schemas["Transfer"]["properties"]["currency"]["enum"].as_array().is_some_and(|codes| codes.len() > 30));
    assert_eq!(schemas["OpenAccount"]["properties"]["overdraft_limit"]["maximum"], Value::from(u64::MAX));
    // An optional field may be null; a defaulted one may not.
    let coupon = &schemas["Settle"]["properties"]["coupon"];
    assert_eq!((&coupon["type"], &coupon["nullable"]), (&Value::from("string"), &Value::from(true)));
    let location = &schemas["Settle"]["properties"]["location"];
    assert_eq!(
        (&location["allOf"][0]["$ref"], &location["nullable"]),
        (&Value::from("#/components/schemas/Location"), &Value::from(true))
    );
    let opens = &schemas["OpenBill"]["properties"]["opens_in_s"];
    assert_eq!((&opens["type"], &opens["nullable"]), (&Value::from("integer"), &Value::Null));
    let batch = &schemas["TransferBatch"]["properties"]["transfers"];
    assert_eq!((&batch["minItems"], &batch["maxItems"]), (&Value::from(1), &Value::from(1000)));
    assert!(schemas["BatchTransfer"]["properties"].get("metadata").is_none(), "a batch transfer carries no metadata");
}
