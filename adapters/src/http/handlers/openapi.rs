//! The OpenAPI document, generated from the handlers: every route's handler carries its
//! operation (`#[utoipa::path]`: operation id, request body, reply type, errors, and the engine
//! operation whose rule it is under, `x-kassa-operation`); the request and reply types derive
//! their schemas (`crate::http::schemas` has the shared ones). [`Roles`] then states, for every
//! operation, the roles that may call it, from the engine's rule table
//! (`kassa_engine::authority::RULES`, which docs/tenancy.md renders).
//!
//! `adapters/openapi.json` is this document, committed for readers and clients;
//! `adapters/tests/openapi.rs` fails when it differs (`KASSA_WRITE_OPENAPI=1` rewrites it), when
//! a route and the operations disagree, or when the error codes do.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use kassa_engine::authority::{RULES, Relation, Role};
use serde_json::{Value, json};
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::AdditionalProperties;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, Ref, RefOr, Schema};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

use super::{accounts, events, lists, payments, users};
use crate::http::ErrorBody;
use crate::http::requests::{AdjustmentBody, MemberBody, RuleBody};
use crate::http::schemas::{BatchTransfer, ErrorCode};

/// The error answers every operation may give, each with an [`crate::http::ErrorBody`].
pub(super) struct ErrorResponses;

impl IntoResponses for ErrorResponses {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        let answers = [
            ("400", "malformed request"),
            ("401", "missing or invalid API key"),
            ("403", "forbidden: this key's principal may not do this to this object (docs/tenancy.md)"),
            ("404", "unknown object"),
            (
                "408",
                "the request was not received and answered in time (15 s; a long poll of the event feed: 15 s \
                 more than its wait)",
            ),
            ("409", "id reused with another body, or an id another tenant owns"),
            ("422", "business rejection (code says which)"),
            ("503", "busy or shutting down: retry"),
        ];
        let error = || Content::new(Some(Ref::from_schema_name("Error")));
        answers
            .into_iter()
            .map(|(status, text)| {
                let answer = ResponseBuilder::new().description(text).content("application/json", error()).build();
                (status.to_string(), RefOr::T(answer))
            })
            .collect()
    }
}

/// The roles of an operation that lists what the caller's tenant created: every key may ask;
/// the admin's objects belong to no tenant.
pub(super) fn own_objects() -> Value {
    let cells =
        Role::ALL.map(|role| (role.name(), if role == Role::Admin { "yes (an empty list)" } else { "its tenant's" }));
    json!(BTreeMap::from(cells))
}

/// The roles of the event feed: every key, each seeing what it may read.
pub(super) fn readable_events() -> Value {
    let cells =
        Role::ALL.map(|role| (role.name(), if role == Role::Admin { "yes (every event)" } else { "what it may read" }));
    json!(BTreeMap::from(cells))
}

/// What the document says of the whole API.
const API_DESCRIPTION: &str = "Amounts are integers in minor units with an ISO 4217 currency. Client-chosen ids \
    make writes idempotent (transfer, deposit and withdrawal ids are remembered for at least 24 hours, at most \
    48; a repeat after that is a new request). Errors: {\"error\":{\"code\",\"message\"}}.";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "kassa HTTP API",
        version = "1",
        description = API_DESCRIPTION,
    ),
    servers((url = "http://127.0.0.1:8080")),
    security(("bearer" = [])),
    paths(
        super::health, super::ready, super::metrics, super::openapi,
        accounts::create_key, accounts::revoke_key,
        accounts::open_account, lists::accounts, accounts::get_account, accounts::close_account,
        accounts::deposit, accounts::withdraw, accounts::history,
        accounts::transfer, accounts::transfer_batch, accounts::get_transfer,
        accounts::place_hold, lists::holds, accounts::get_hold, accounts::capture_hold, accounts::void_hold,
        payments::register_merchant, lists::merchant_settlements, payments::register_terminal,
        payments::register_operator,
        payments::authorize, lists::authorizations, payments::get_authorization, payments::revoke_authorization,
        payments::settle, payments::get_settlement, payments::reverse, payments::refund_settlement,
        payments::open_bill, lists::bills, payments::get_bill, payments::add_bill_item, payments::submit_bill,
        payments::confirm_bill, payments::cancel_bill, payments::refund_bill,
        users::request_split, lists::splits, users::get_split, users::pay_split, users::cancel_split,
        users::refund_split,
        users::add_contact, users::issue_coupon, users::verify_coupon, users::redeem_coupon, users::get_coupon,
        users::share_coupon, users::claim_coupon, users::pool, users::claimable, lists::user_coupons,
        lists::user_splits, users::quote, events::events,
    ),
    components(schemas(ErrorBody, ErrorCode, BatchTransfer, MemberBody, AdjustmentBody)),
    modifiers(&Bearer, &Roles, &UnwrappedLines, &ClosedVariants),
)]
struct ApiDoc;

/// The bearer key every operation but the service ones needs.
struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("kassa_<key_id>_<secret>, or the bootstrap admin key"))
            .build();
        let components = openapi.components.get_or_insert_with(Default::default);
        components.security_schemes.insert("bearer".into(), SecurityScheme::Http(bearer));
    }
}

/// Every operation of `openapi`, with its path.
fn operations(openapi: &mut utoipa::openapi::OpenApi) -> impl Iterator<Item = (&String, &mut Operation)> {
    openapi.paths.paths.iter_mut().flat_map(|(path, item)| {
        [&mut item.get, &mut item.post, &mut item.delete].into_iter().flatten().map(move |operation| (path, operation))
    })
}

/// States each operation's roles: `x-kassa-roles` (role -> the relation it needs, as
/// docs/tenancy.md writes it) and a sentence of its description. An operation under a rule
/// names it (`x-kassa-operation`); a list scoped to its caller states its roles itself; one
/// that needs no key (`security(())`: an empty requirement) has none. Any other operation is a
/// mistake: this panics.
struct Roles;

impl Modify for Roles {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, operation) in operations(openapi) {
            let public = operation.security.as_ref().is_some_and(|security| security.iter().all(is_empty_requirement));
            let extensions = operation.extensions.get_or_insert_with(Default::default);
            let sentence = match extensions.get("x-kassa-operation").and_then(Value::as_str).map(str::to_string) {
                Some(name) => {
                    let (roles, sentence) = rule_roles(&name);
                    extensions.insert("x-kassa-roles".into(), roles);
                    sentence
                }
                None if extensions.contains_key("x-kassa-roles") => {
                    "Roles: every role; the answer holds only what the caller's tenant may see (x-kassa-roles)."
                        .to_string()
                }
                None if public => "Roles: none needed (no key).".to_string(),
                None => panic!("{path}: the operation states no roles (x-kassa-operation or x-kassa-roles)"),
            };
            operation.description = match operation.description.take().filter(|text| !text.is_empty()) {
                Some(text) => Some(format!("{text}\n\n{sentence}")),
                None => Some(sentence),
            };
        }
    }
}

/// Whether a security requirement asks for nothing (an operation that needs no key).
fn is_empty_requirement(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement).is_ok_and(|value| value.as_object().is_some_and(|fields| fields.is_empty()))
}

/// The roles of the engine operation named `name` (`Operation::name`): each role's cell of
/// `RULES`, and the sentence that says who may call it.
fn rule_roles(name: &str) -> (Value, String) {
    let (_, cells) = RULES
        .iter()
        .find(|(operation, _)| operation.name() == name)
        .unwrap_or_else(|| panic!("x-kassa-operation {name} is not an operation of RULES"));
    let roles: BTreeMap<&str, &str> =
        Role::ALL.iter().zip(cells).map(|(role, cell)| (role.name(), cell.describe())).collect();
    let allowed: Vec<String> = Role::ALL
        .iter()
        .zip(cells)
        .filter(|(_, cell)| **cell != Relation::No)
        .map(|(role, cell)| match cell {
            Relation::Yes => role.name().to_string(),
            relation => format!("{} ({})", role.name(), relation.describe()),
        })
        .collect();
    let sentence = format!("Roles (docs/tenancy.md, `{name}`): {}. Anyone else: 403 forbidden.", allowed.join("; "));
    (json!(roles), sentence)
}

/// A summary on one line, and each paragraph of a description on one line (a handler's doc
/// comment wraps them).
struct UnwrappedLines;

impl Modify for UnwrappedLines {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let unwrap = |text: &str| text.split("\n\n").map(|paragraph| paragraph.replace('\n', " ")).collect::<Vec<_>>();
        for (_, operation) in operations(openapi) {
            if let Some(summary) = &mut operation.summary {
                *summary = unwrap(summary).join(" ");
            }
            if let Some(description) = &mut operation.description {
                *description = unwrap(description).join("\n\n");
            }
        }
    }
}

/// The variants of the tagged request enums refuse unknown fields, as their type does
/// (`#[serde(deny_unknown_fields)]`, which utoipa applies to structs only).
struct ClosedVariants;

impl Modify for ClosedVariants {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for name in [RuleBody::name(), AdjustmentBody::name()] {
            let Some(RefOr::T(Schema::OneOf(variants))) = components.schemas.get_mut(name.as_ref()) else {
                panic!("{name} is a oneOf of its variants")
            };
            for variant in &mut variants.items {
                if let RefOr::T(Schema::Object(variant)) = variant {
                    variant.additional_properties = Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// The document as `GET /openapi.json` serves it: generated once, in OpenAPI 3.0.3.
pub(in crate::http) fn document() -> &'static str {
    static DOCUMENT: OnceLock<String> = OnceLock::new();
    DOCUMENT.get_or_init(|| {
        // Through a `Value`, whose objects keep their keys sorted: the document is the same
        // byte for byte from one run to the next (utoipa keeps extensions in a `HashMap`).
        let mut document = serde_json::to_value(ApiDoc::openapi()).expect("the document is JSON");
        as_openapi_3_0(&mut document);
        serde_json::to_string_pretty(&document).expect("the document is JSON") + "\n"
    })
}

/// Rewrites utoipa's OpenAPI 3.1 document as OpenAPI 3.0.3. In 3.1 (JSON Schema 2020-12) `1.0`
/// is an `integer`, which the server refuses (serde reads integers only): 3.0's `integer` is a
/// number without a fraction, as the server reads it. A nullable type (`["string", "null"]`)
/// becomes `nullable: true`; an optional reference (`oneOf: [null, $ref]`) becomes
/// `allOf: [$ref], nullable: true`; a schema's `examples` its `example`.
fn as_openapi_3_0(document: &mut Value) {
    document["openapi"] = json!("3.0.3");
    if let Some(license) = document["info"]["license"].as_object_mut() {
        license.remove("identifier");
    }
    rewrite_schemas(document);
}

/// [`as_openapi_3_0`] on every schema in `value`.
fn rewrite_schemas(value: &mut Value) {
    match value {
        Value::Array(items) => items.iter_mut().for_each(rewrite_schemas),
        Value::Object(fields) => {
            if let Some(Value::Array(types)) = fields.get("type") {
                let named: Vec<Value> = types.iter().filter(|kind| *kind != "null").cloned().collect();
                if let ([single], true) = (named.as_slice(), named.len() < types.len()) {
                    let single = single.clone();
                    fields.insert("type".into(), single);
                    fields.insert("nullable".into(), json!(true));
                }
            }
            if let Some(Value::Array(choices)) = fields.get("oneOf") {
                let null = json!({"type": "null"});
                let named: Vec<Value> = choices.iter().filter(|choice| **choice != null).cloned().collect();
                if let ([Value::Object(single)], true) = (named.as_slice(), named.len() < choices.len()) {
                    let mut single = single.clone();
                    fields.remove("oneOf");
                    let reference = single.remove("$ref").map(|target| json!([{"$ref": target}]));
                    fields.extend(single);
                    if let Some(reference) = reference {
                        fields.insert("allOf".into(), reference);
                    }
                    fields.insert("nullable".into(), json!(true));
                }
            }
            if let Some(Value::Array(examples)) = fields.get("examples") {
                let first = examples.first().cloned();
                fields.remove("examples");
                fields.extend(first.map(|example| ("example".to_string(), example)));
            }
            fields.values_mut().for_each(rewrite_schemas);
        }
        _ => {}
    }
}
