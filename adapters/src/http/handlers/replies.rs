//! The replies of the writes and reads that answer something other than an object's view
//! ([`super::views`]) or a page ([`super::pages`]): each a type that serializes to the JSON sent
//! and describes itself in the OpenAPI document.

use kassa_engine::Id;
use kassa_engine::metadata::Metadata;
use serde::Serialize;
use utoipa::ToSchema;

use super::views::{BillView, SplitView};
use crate::http::ErrorDetail;
use crate::http::schemas;

/// A status that says the request took effect.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Applied {
    Applied,
}

/// `POST /v1/keys`: the new key.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Key)]
pub(super) struct KeyCreated {
    pub(super) key_id: String,
    /// Shown once.
    pub(super) key: String,
    pub(super) role: String,
}

/// A revoked key's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum KeyStatus {
    Revoked,
}

/// `DELETE /v1/keys/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct KeyRevoked {
    #[schema(schema_with = schemas::id)]
    pub(super) key_id: Id,
    pub(super) status: KeyStatus,
}

/// Which way money moved.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum MovementKind {
    Deposit,
    Withdrawal,
}

/// A deposit or a withdrawal, applied.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MovementApplied {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) object: MovementKind,
    #[schema(schema_with = schemas::id)]
    pub(super) account: Id,
    #[schema(schema_with = schemas::amount)]
    pub(super) amount: u64,
    pub(super) status: Applied,
    /// The account's posted balance right after.
    pub(super) balance: Option<i64>,
}

/// A transfer, applied.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TransferApplied {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) from: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) to: Id,
    /// Minor units.
    pub(super) amount: u64,
    #[schema(schema_with = schemas::currency)]
    pub(super) currency: String,
    pub(super) status: Applied,
}

/// A refused transfer's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Rejected {
    Rejected,
}

/// A transfer of a batch that was refused.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TransferRejected {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) status: Rejected,
    pub(super) error: ErrorDetail,
}

/// One transfer's answer in a batch.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(super) enum BatchResult {
    Applied(TransferApplied),
    Rejected(TransferRejected),
}

/// `POST /v1/transfers/batch`: each transfer's answer, in order.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BatchApplied {
    pub(super) atomic: bool,
    /// Whether every transfer was applied.
    pub(super) applied: bool,
    pub(super) results: Vec<BatchResult>,
}

/// What a transfer lookup is.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum TransferObject {
    Transfer,
}

/// A transfer's state, as its postings tell it.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum TransferState {
    Posted,
    InTransit,
    Refunded,
}

/// `GET /v1/transfers/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TransferFound {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) object: TransferObject,
    #[schema(schema_with = schemas::id)]
    pub(super) from: Id,
    /// The payee (unknown while in transit to another partition).
    #[schema(schema_with = schemas::nullable_id)]
    pub(super) to: Option<Id>,
    /// Minor units.
    pub(super) amount: u64,
    #[schema(schema_with = schemas::currency)]
    pub(super) currency: &'static str,
    pub(super) status: TransferState,
    /// When the payer was debited, Unix time in milliseconds.
    pub(super) debited_at_ms: u64,
    /// When the payee was credited or the payer refunded, Unix time in milliseconds.
    pub(super) settled_at_ms: Option<u64>,
    /// The debit's position in the event feed.
    #[schema(schema_with = schemas::position)]
    pub(super) debit_event: String,
    /// The credit's position in the event feed.
    #[schema(schema_with = schemas::nullable_position)]
    pub(super) credit_event: Option<String>,
    #[schema(schema_with = schemas::stored_metadata)]
    pub(super) metadata: Metadata,
}

/// A captured hold's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum CapturedStatus {
    Captured,
}

/// `POST /v1/holds/{id}/capture`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HoldCaptured {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) status: CapturedStatus,
    /// Paid to the payee, minor units.
    pub(super) captured: u64,
    /// Given back to the payer, minor units.
    pub(super) released: u64,
}

/// `POST /v1/merchants`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct MerchantRegistered {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) account: Id,
}

/// `POST /v1/terminals`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct TerminalRegistered {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) merchant: Id,
    /// Whether the terminal signs ISO 8583 field 64.
    pub(super) mac: bool,
}

/// `POST /v1/operators`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct OperatorRegistered {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) merchant: Id,
}

/// `POST /v1/authorizations`: the one-time secure code.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Authorization)]
pub(super) struct Authorized {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) user: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) account: Id,
    #[schema(schema_with = schemas::amount)]
    pub(super) limit: u64,
    #[schema(schema_with = schemas::secure_code)]
    pub(super) code: String,
    #[schema(schema_with = schemas::expires_at)]
    pub(super) expires_at: u64,
    #[schema(schema_with = schemas::expires_at_ms)]
    pub(super) expires_at_ms: u64,
}

/// `POST /v1/pos/settlements`: approved (with what was charged) or declined (with why).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Settlement)]
pub(super) struct Settled {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) approved: bool,
    /// The approval code (approved sales only).
    pub(super) approval_code: Option<String>,
    /// As asked, minor units (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) amount: Option<u64>,
    /// What the account was charged (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) charged: Option<u64>,
    /// What a coupon took off (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) discount: Option<u64>,
    /// The sale's currency (approved sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::currency)]
    pub(super) currency: Option<&'static str>,
    /// Why it was declined (declined sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = schemas::ErrorCode, required = false)]
    pub(super) decline_code: Option<&'static str>,
    /// The decline in words (declined sales only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) message: Option<String>,
}

/// A reversed settlement's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ReversedStatus {
    Reversed,
}

/// `POST /v1/pos/settlements/{id}/reverse`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SettlementReversed {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) status: ReversedStatus,
}

/// A refund of a settlement or a bill (which one it names).
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Refund)]
pub(super) struct Refunded {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    /// The refunded settlement (a settlement's refund).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::id)]
    pub(super) settlement: Option<Id>,
    /// The refunded bill (a bill's refund).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = schemas::id)]
    pub(super) bill: Option<Id>,
    #[schema(schema_with = schemas::amount)]
    pub(super) amount: u64,
    /// What may still be refunded after this refund.
    pub(super) remaining: u64,
}

/// `POST /v1/bills/{id}/submit`: the bill, totalled, and the user's challenge.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct BillSubmitted {
    #[serde(flatten)]
    pub(super) bill: BillView,
    /// The challenge the user confirms with: only to the user's app or the admin.
    pub(super) challenge: Option<String>,
    /// The user who verifies.
    #[schema(schema_with = schemas::id)]
    pub(super) verification_user: Id,
}

/// `POST /v1/splits/{id}/pay`: the split after the payment.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SharePaid {
    #[serde(flatten)]
    pub(super) split: SplitView,
    /// The share paid, minor units.
    pub(super) paid_amount: u64,
    /// Whether this payment completed the split.
    pub(super) completed: bool,
}

/// A cancelled or refunded split, and what went back to its members.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct SplitRefunded {
    #[serde(flatten)]
    pub(super) split: SplitView,
    /// Given back to the members, minor units.
    pub(super) refunded: u64,
}

/// Whether two users are contacts yet.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ContactStatus {
    /// Linked.
    Linked,
    /// Waiting for the other user's app to send the pair back.
    Requested,
}

/// `POST /v1/contacts`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct ContactAdded {
    #[schema(schema_with = schemas::id)]
    pub(super) user: Id,
    #[schema(schema_with = schemas::id)]
    pub(super) contact: Id,
    pub(super) status: ContactStatus,
}

/// A shared coupon's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum SharedStatus {
    Shared,
}

/// `POST /v1/coupons/{id}/share`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CouponShared {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) status: SharedStatus,
    /// The user whose pool it is in.
    #[schema(schema_with = schemas::id)]
    pub(super) pool_of: Id,
}

/// `POST /v1/coupons/verify`: what the coupon takes off.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CouponVerified {
    #[schema(schema_with = schemas::id)]
    pub(super) coupon: Id,
    pub(super) valid: bool,
    /// The purchase, minor units.
    pub(super) amount: u64,
    pub(super) discount: u64,
    pub(super) payable: u64,
}

/// A redeemed coupon's status.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum RedeemedStatus {
    Redeemed,
}

/// `POST /v1/coupons/redeem`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CouponRedeemed {
    #[schema(schema_with = schemas::id)]
    pub(super) id: Id,
    pub(super) status: RedeemedStatus,
    /// The purchase, minor units.
    pub(super) amount: u64,
    pub(super) discount: u64,
    pub(super) payable: u64,
    /// The coupon the sharer was rewarded with, if any.
    #[schema(schema_with = schemas::nullable_id)]
    pub(super) reward_coupon: Option<Id>,
}

/// How a discount is rounded.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Rounding {
    HalfEvenToMinorUnit,
}

/// `POST /v1/quotes`: a coupon priced on an amount.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct QuoteResult {
    #[schema(schema_with = schemas::id)]
    pub(super) coupon: Id,
    /// The purchase, minor units.
    pub(super) amount: u64,
    pub(super) discount: u64,
    pub(super) payable: u64,
    #[schema(schema_with = schemas::currency)]
    pub(super) currency: &'static str,
    pub(super) rounding: Rounding,
}

/// A user's coupon ids (a pool, or what their contacts shared).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct CouponList {
    #[schema(schema_with = schemas::id)]
    pub(super) user: Id,
    #[schema(schema_with = schemas::id_list)]
    pub(super) coupons: Vec<Id>,
}

/// Whether the process answers.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Liveness {
    Ok,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    pub(super) status: Liveness,
}

/// Whether the server takes requests.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Readiness {
    Ready,
    StorageFailed,
    Recovering,
}

/// `GET /ready` (and, while the engine recovers, every route but `/health`).
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Ready {
    pub(super) status: Readiness,
    /// While the engine recovers: 503 `recovering`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub(super) error: Option<ErrorDetail>,
}
