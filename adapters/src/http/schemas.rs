//! The schemas the request and reply types share in the OpenAPI document, each built from the
//! constant the code checks it with: ids, amounts, currencies, metadata, positions, bounded
//! integers. Fields name them with `#[schema(schema_with = schemas::id)]`. Here too are the
//! schemas a type cannot derive: the error codes ([`ErrorCode`]), a key request's roles
//! (`CreateKey`), a batch's transfers ([`BatchTransfer`]), and the path parameters
//! ([`IdPath`], [`UserPath`]).
//!
//! An optional request field may be `null` (serde takes it as absent): its schema says so. A
//! field with a default (`overdraft_limit`, `atomic`, ...) refuses `null`, so its schema does not.

use kassa_engine::authority::Role;
use kassa_engine::codec::{self, FORMAT_VERSION};
use kassa_engine::command::{Change, ObjectKind};
use kassa_engine::constants::{
    AMOUNT_MINOR_MAX, COUPON_ADJUSTMENTS_MAX, COUPON_FACTOR_PERCENT_MAX, ID_LENGTH_MAX, ITEM_REF_LENGTH_MAX,
    MAC_KEY_LENGTH_MAX, METADATA_ENTRIES_MAX, METADATA_KEY_LENGTH_MAX, METADATA_VALUE_LENGTH_MAX, SECURE_CODE_DIGITS,
    SPLIT_MEMBERS_MAX, TRANSFER_BATCH_MAX,
};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::{Currency, Rejection};
use serde::de::DeserializeOwned;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{
    AdditionalProperties, Array, ArrayBuilder, KnownFormat, Object, ObjectBuilder, OneOfBuilder, SchemaFormat,
    SchemaType, Type,
};
use utoipa::openapi::{Ref, RefOr, Required, Schema};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use super::codes;
use super::requests::{CreateKey, EVENTS_WAIT_MS_MAX, PAGE_LIMIT_MAX, TransferBody};
use crate::auth::SCOPE_ID_LENGTH_MAX;

// ----- building blocks -------------------------------------------------------------------------

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer(minimum: impl Into<utoipa::Number>, maximum: impl Into<utoipa::Number>) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Integer).minimum(Some(minimum)).maximum(Some(maximum))
}

/// `schema`, also accepting `null` (an optional request field: `null` is taken as absent).
fn nullable(schema: Object) -> RefOr<Schema> {
    let mut schema = schema;
    if let SchemaType::Type(single) = schema.schema_type {
        schema.schema_type = SchemaType::Array(vec![single, Type::Null]);
    }
    if let Some(values) = &mut schema.enum_values {
        values.push(serde_json::Value::Null);
    }
    schema.into()
}

/// The pattern of an id of at most `length_max` bytes (`kassa_engine::Id`).
fn id_pattern(length_max: usize) -> String {
    format!("^[A-Za-z0-9._:-]{{1,{length_max}}}$")
}

fn id_object() -> Object {
    string().pattern(Some(id_pattern(ID_LENGTH_MAX))).build()
}

fn amount_object() -> Object {
    integer(1, usize::try_from(AMOUNT_MINOR_MAX).expect("fits"))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some("minor units"))
        .build()
}

fn u64_object() -> ObjectBuilder {
    integer(0, usize::try_from(u64::MAX).expect("a 64-bit target"))
}

fn currency_object() -> Object {
    let mut alphas: Vec<&str> =
        (0..1_000).filter_map(|numeric| Currency::from_numeric(numeric).ok()).map(Currency::alpha).collect();
    alphas.sort_unstable();
    string().enum_values(Some(alphas)).description(Some("ISO 4217 alpha code (the ones kassa supports)")).build()
}

fn metadata_object(description: &str) -> Object {
    let key = string().pattern(Some(id_pattern(METADATA_KEY_LENGTH_MAX))).build();
    let value =
        string().max_length(Some(METADATA_VALUE_LENGTH_MAX)).pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]*$"));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .max_properties(Some(METADATA_ENTRIES_MAX))
        .property_names(Some(key))
        .additional_properties(Some(AdditionalProperties::RefOr(value.into())))
        .description(Some(description))
        .build()
}

fn array_of(items: impl Into<RefOr<Schema>>, max_items: usize) -> ArrayBuilder {
    ArrayBuilder::new().items(items.into()).max_items(Some(max_items))
}

fn reference(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

// ----- ids, amounts, currencies ----------------------------------------------------------------

/// An id: 1..=64 of `A-Z a-z 0-9 . _ : -`.
pub fn id() -> RefOr<Schema> {
    id_object().into()
}

/// Ids.
pub fn id_list() -> RefOr<Schema> {
    ArrayBuilder::new().items(id_object()).into()
}

/// An optional id.
pub fn nullable_id() -> RefOr<Schema> {
    nullable(id_object())
}

/// The operator a coupon verification or redemption acts as (optional).
pub fn operator() -> RefOr<Schema> {
    let mut schema = id_object();
    schema.description = Some("the operator to act as: an admin names one; an operator key acts as itself".into());
    nullable(schema)
}

/// An amount in minor units: 1..=10^15.
pub fn amount() -> RefOr<Schema> {
    amount_object().into()
}

/// A sale's amount, any `u64`: outside 1..=10^15 the sale is declined (answered 200).
pub fn sale_amount() -> RefOr<Schema> {
    let text = "minor units; outside 1..=10^15 the sale is declined invalid_amount (answered 200, approved false)";
    u64_object().description(Some(text)).into()
}

/// A batch transfer's amount, any `u64`: outside 1..=10^15 that transfer is refused in the answer.
pub fn batch_amount() -> RefOr<Schema> {
    let text = "minor units; outside 1..=10^15 this transfer is refused invalid_amount in the batch's answer";
    u64_object().description(Some(text)).into()
}

/// Any `u64`.
pub fn u64_any() -> RefOr<Schema> {
    u64_object().into()
}

/// An optional `u64`.
pub fn nullable_u64() -> RefOr<Schema> {
    nullable(u64_object().build())
}

/// A duration from now, in seconds (any `u64`; the engine bounds each expiry).
pub fn seconds() -> RefOr<Schema> {
    u64_object().description(Some("seconds from now")).into()
}

/// Any `u32`.
pub fn u32_any() -> RefOr<Schema> {
    integer(0, u32::MAX).into()
}

/// Any `i32` (a latitude or longitude in microdegrees).
pub fn i32_any() -> RefOr<Schema> {
    integer(i32::MIN, i32::MAX).into()
}

/// A coupon adjustment's scale, in percent: 0..=1000.
pub fn factor_percent() -> RefOr<Schema> {
    integer(0, COUPON_FACTOR_PERCENT_MAX).into()
}

/// A bill item's quantity: 1..=10000.
pub fn quantity() -> RefOr<Schema> {
    integer(1, kassa_engine::constants::BILL_ITEM_QUANTITY_MAX).into()
}

/// A bill item's reference: at most 64 characters.
pub fn item_ref() -> RefOr<Schema> {
    string().max_length(Some(ITEM_REF_LENGTH_MAX)).into()
}

/// An ISO 4217 alpha code kassa supports.
pub fn currency() -> RefOr<Schema> {
    currency_object().into()
}

/// An optional currency.
pub fn nullable_currency() -> RefOr<Schema> {
    nullable(currency_object())
}

/// A coupon's percent: a decimal string, 0 < p <= 100.
pub fn percent() -> RefOr<Schema> {
    let text = "decimal string, 0 < p <= 100, e.g. \"12.5\"";
    string().pattern(Some("^[0-9]{1,3}([.][0-9]{1,6})?$")).description(Some(text)).into()
}

/// A terminal's MAC key: hex, 16..=64 bytes (optional).
pub fn mac_key() -> RefOr<Schema> {
    let text = "hex, 16..64 bytes; the terminal then signs ISO 8583 field 64";
    nullable(
        string()
            .pattern(Some(format!("^([0-9a-fA-F]{{2}}){{16,{MAC_KEY_LENGTH_MAX}}}$")))
            .description(Some(text))
            .build(),
    )
}

/// A one-time secure code: 8 digits.
pub fn secure_code() -> RefOr<Schema> {
    string().pattern(Some(format!("^[0-9]{{{SECURE_CODE_DIGITS}}}$"))).into()
}

/// A scoped key's merchant, operator, app or terminal: an id of at most 48 bytes.
fn scope_id() -> Object {
    string().pattern(Some(id_pattern(SCOPE_ID_LENGTH_MAX))).build()
}

// ----- metadata, times, positions --------------------------------------------------------------

/// What a request attaches to what it creates (optional).
pub fn metadata() -> RefOr<Schema> {
    let text = "what the caller attaches to what it creates (an order id): at most 16 entries; keys 1..=40 of \
                A-Z a-z 0-9 . _ : -; string values of at most 500 characters, no control characters (a value \
                that is not a string: 400 invalid_metadata; a key, value or count outside these bounds: 422 \
                invalid_metadata). Returned by the object's lookup and in the event feed (an annotated event); \
                a retry of an id keeps the first metadata";
    nullable(metadata_object(text))
}

/// The metadata a lookup returns.
pub fn stored_metadata() -> RefOr<Schema> {
    metadata_object("what was attached when it was created (lookups only)").into()
}

/// The metadata of an annotated event.
pub fn event_metadata() -> RefOr<Schema> {
    metadata_object("an annotated event: what was attached to object_id as it was created").into()
}

/// An expiry, Unix time in seconds (Stripe style).
pub fn expires_at() -> RefOr<Schema> {
    let text = "expiry, Unix time in seconds (Stripe style)";
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(text))
        .into()
}

/// An expiry, Unix time in milliseconds.
pub fn expires_at_ms() -> RefOr<Schema> {
    let text = "expiry, Unix time in milliseconds";
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(text))
        .into()
}

/// A position in the log as a request gives it (`<seq>.<index>`: a history line's id, an
/// event's position): digits that fit the server's `u64` and `u32`.
fn position_object() -> Object {
    string().pattern(Some("^[0-9]{1,19}[.][0-9]{1,9}$")).build()
}

/// A position in the log as a reply shows it.
pub fn position() -> RefOr<Schema> {
    string().pattern(Some("^[0-9]+[.][0-9]+$")).into()
}

/// An optional position in the log, as a reply shows it.
pub fn nullable_position() -> RefOr<Schema> {
    nullable(string().pattern(Some("^[0-9]+[.][0-9]+$")).build())
}

/// A page's size: 1..=1000 (default 100).
pub fn page_limit() -> RefOr<Schema> {
    integer(1, PAGE_LIMIT_MAX).into()
}

/// How long the event feed waits for an event, in milliseconds: 0..=30000.
pub fn wait_ms() -> RefOr<Schema> {
    integer(0, usize::try_from(EVENTS_WAIT_MS_MAX).expect("fits")).into()
}

/// A query's cursor in the log (`starting_after` of history, `after` of the event feed).
pub fn cursor() -> RefOr<Schema> {
    position_object().into()
}

/// A query's cursor in a list of objects: the id of the previous page's last object.
pub fn id_cursor() -> RefOr<Schema> {
    id()
}

// ----- arrays ----------------------------------------------------------------------------------

/// A split's members: at most 100.
pub fn split_members() -> RefOr<Schema> {
    array_of(reference("Member"), SPLIT_MEMBERS_MAX).into()
}

/// A split's explicit shares, in member order (optional).
pub fn shares() -> RefOr<Schema> {
    let text = "explicit shares in member order; omit for equal shares (remainder units to the first members)";
    let mut shares: Array = ArrayBuilder::new().items(amount_object()).description(Some(text)).build();
    shares.schema_type = SchemaType::Array(vec![Type::Array, Type::Null]);
    shares.into()
}

/// A coupon's value adjustments: at most 8.
pub fn adjustments() -> RefOr<Schema> {
    array_of(reference("Adjustment"), COUPON_ADJUSTMENTS_MAX).into()
}

/// A batch's transfers: 1..=1000.
pub fn batch_transfers() -> RefOr<Schema> {
    array_of(reference(&BatchTransfer::name()), TRANSFER_BATCH_MAX).min_items(Some(1)).into()
}

// ----- enums of the engine's names -------------------------------------------------------------

/// Every value of a fieldless engine enum, by wire index: the engine's codec numbers variants
/// from 0, so decoding index after index until one does not decode lists them all.
fn variants<T: DeserializeOwned>() -> Vec<T> {
    (0..=u8::MAX).map_while(|index| codec::decode::<T>(&[FORMAT_VERSION, index]).ok()).collect()
}

/// Every error code an answer may carry: the engine's rejections and the HTTP layer's own
/// ([`codes::ALL`]), sorted.
pub fn error_codes() -> Vec<&'static str> {
    let mut all: Vec<&'static str> = variants::<Rejection>().into_iter().map(Rejection::code).collect();
    all.extend(codes::ALL);
    all.sort_unstable();
    all.dedup();
    all
}

/// The names of what an event is about: the engine's object kinds and the kinds that carry
/// metadata.
pub fn object_kind() -> RefOr<Schema> {
    let mut names: Vec<String> = variants::<ObjectKind>().iter().map(snake_name).collect();
    let annotated =
        [MetadataKind::Transfer, MetadataKind::Hold, MetadataKind::Settlement, MetadataKind::Bill, MetadataKind::Split];
    for kind in annotated.map(MetadataKind::name) {
        if !names.iter().any(|name| name == kind) {
            names.push(kind.to_string());
        }
    }
    string().enum_values(Some(names)).into()
}

/// The names of a `changed` event's change.
pub fn change() -> RefOr<Schema> {
    let names: Vec<String> = variants::<Change>().iter().map(snake_name).collect();
    string().enum_values(Some(names)).into()
}

/// A value's JSON string (an engine enum's snake-case name).
fn snake_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|value| value.as_str().map(str::to_string)).expect("a unit variant")
}

/// The `code` of an error: every code an answer may carry.
pub struct ErrorCode;

impl PartialSchema for ErrorCode {
    fn schema() -> RefOr<Schema> {
        let example = Rejection::InsufficientFunds.code();
        string().enum_values(Some(error_codes())).examples([example]).into()
    }
}

impl ToSchema for ErrorCode {}

// ----- what a type cannot derive ---------------------------------------------------------------

/// `POST /v1/keys`: the role, and for a scoped role its merchant, operator, app or terminal
/// (only that field): one object per role, as `CreateKey::role` checks.
impl PartialSchema for CreateKey {
    fn schema() -> RefOr<Schema> {
        let mut choices = OneOfBuilder::new().description(Some(
            "the role, and for a scoped role its merchant, operator, app or terminal (only that field)",
        ));
        for role in Role::ALL {
            let name = role.name();
            let mut choice = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("role", string().enum_values(Some([name])))
                .required("role")
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            if role != Role::Admin {
                choice = choice.property(name, scope_id()).required(name);
            }
            choices = choices.item(choice);
        }
        choices.into()
    }
}

impl ToSchema for CreateKey {}

/// One transfer of `POST /v1/transfers/batch`: a [`TransferBody`] without metadata (a batch
/// carries none: 422 metadata_not_supported), whose amount is checked per transfer.
pub struct BatchTransfer;

impl PartialSchema for BatchTransfer {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(mut transfer)) = TransferBody::schema() else {
            unreachable!("a transfer's schema is an object")
        };
        transfer.properties.remove("metadata");
        transfer.properties.insert("amount".into(), batch_amount());
        transfer.description = None;
        transfer.into()
    }
}

impl ToSchema for BatchTransfer {}

// ----- path parameters -------------------------------------------------------------------------

fn path_parameter(name: &str) -> Vec<Parameter> {
    vec![
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .schema(Some(id()))
            .build(),
    ]
}

/// The `{id}` of a path: the object's id.
pub struct IdPath;

impl IntoParams for IdPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        path_parameter("id")
    }
}

/// The `{user}` of a path: the user's id.
pub struct UserPath;

impl IntoParams for UserPath {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        path_parameter("user")
    }
}
