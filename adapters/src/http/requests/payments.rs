//! Merchants, terminals, operators, secure codes and POS settlements, bills and refunds.

use kassa_engine::command::{
    AddBillItem, Authorize, Command, ConfirmBill, OpenBill, Refund, RegisterMerchant, RegisterOperator,
    RegisterTerminal, SettlePos,
};
use kassa_engine::{Currency, Id};
use serde::Deserialize;

use super::{LocationBody, RequestError, currency, expiry};
use crate::http::codes;
#[cfg(feature = "server")]
use crate::http::schemas;

// ----- merchants, terminals, operators ---------------------------------------------------------

/// `POST /v1/merchants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Merchant))]
pub struct MerchantBody {
    /// The merchant's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The account its takings go to.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub account: Id,
}

impl MerchantBody {
    /// [`Command::RegisterMerchant`].
    pub fn command(&self) -> Command {
        Command::RegisterMerchant(RegisterMerchant { merchant: self.id.clone(), account: self.account.clone() })
    }
}

/// `POST /v1/terminals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Terminal))]
pub struct TerminalBody {
    /// The terminal's id (ISO 8583 field 41).
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// Its merchant.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub merchant: Id,
    /// Its MAC key, in hex.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::mac_key))]
    pub mac_key: Option<String>,
    /// Where it stands, if known: a sale at it with a coupon and no location of its own is priced
    /// there (the coupon's location-adjusted value).
    pub location: Option<LocationBody>,
}

impl TerminalBody {
    /// [`Command::RegisterTerminal`]; the MAC key must be hex.
    pub fn command(&self) -> Result<Command, RequestError> {
        let mac_key = match &self.mac_key {
            None => None,
            Some(text) => Some(
                hex::decode(text).map_err(|_| RequestError::invalid(codes::INVALID_MAC_KEY, "mac_key must be hex"))?,
            ),
        };
        Ok(Command::RegisterTerminal(RegisterTerminal {
            terminal: self.id.clone(),
            merchant: self.merchant.clone(),
            mac_key,
            location: self.location.as_ref().map(LocationBody::point),
        }))
    }
}

/// `POST /v1/operators`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Operator))]
pub struct OperatorBody {
    /// The operator's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// Its merchant.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub merchant: Id,
}

impl OperatorBody {
    /// [`Command::RegisterOperator`].
    pub fn command(&self) -> Command {
        Command::RegisterOperator(RegisterOperator { operator: self.id.clone(), merchant: self.merchant.clone() })
    }
}

// ----- secure codes and POS --------------------------------------------------------------------

/// `POST /v1/authorizations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Authorize))]
pub struct AuthorizeBody {
    /// The authorization's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The user the code belongs to.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
    /// The account a settlement debits.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub account: Id,
    /// Most a settlement may charge, in minor units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub limit: u64,
    /// Seconds until the code expires.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub expires_in_s: u64,
}

impl AuthorizeBody {
    /// [`Command::Authorize`], expiring `expires_in_s` after `now_ms`, with `nonce`.
    pub fn command(&self, now_ms: u64, nonce: u64) -> Result<Command, RequestError> {
        Ok(Command::Authorize(Authorize {
            id: self.id.clone(),
            user: self.user.clone(),
            account: self.account.clone(),
            limit: self.limit,
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
            nonce,
        }))
    }
}

/// `POST /v1/pos/settlements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Settle))]
pub struct SettleBody {
    /// The settlement's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The paying user.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
    /// The user's secure code.
    pub code: String,
    /// Minor units before any coupon.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::sale_amount))]
    pub amount: u64,
    /// The terminal.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub terminal: Id,
    /// ISO 4217 alpha code; the terminal's merchant account's currency when absent.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::nullable_currency))]
    pub currency: Option<String>,
    /// A coupon redeemed with the payment.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::nullable_id))]
    pub coupon: Option<Id>,
    /// Where the sale happens: the coupon's location-adjusted value applies.
    pub location: Option<LocationBody>,
    /// What the caller attaches to what this creates (`metadata`: string values only).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::metadata))]
    pub metadata: Option<super::MetadataBody>,
}

impl SettleBody {
    /// [`Command::SettlePos`] (charge now), in the body's currency or else `merchant_currency`.
    pub fn command(&self, merchant_currency: Currency) -> Result<Command, RequestError> {
        let currency = match &self.currency {
            Some(alpha) => currency(alpha)?,
            None => merchant_currency,
        };
        Ok(Command::SettlePos(SettlePos {
            id: self.id.clone(),
            user: self.user.clone(),
            code: self.code.clone(),
            amount: self.amount,
            currency,
            terminal: self.terminal.clone(),
            coupon: self.coupon.clone(),
            hold_until_ms: None,
            location: self.location.as_ref().map(LocationBody::point),
        }))
    }
}

// ----- bills -----------------------------------------------------------------------------------

/// `POST /v1/bills`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = OpenBill))]
pub struct BillBody {
    /// The bill's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The user who verifies and pays.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub user: Id,
    /// The account charged.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub account: Id,
    /// The merchant paid.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub merchant: Id,
    /// Seconds until the effective window opens (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub opens_in_s: u64,
    /// Seconds until the window closes.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub expires_in_s: u64,
    /// What the caller attaches to what this creates (`metadata`: string values only).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::metadata))]
    pub metadata: Option<super::MetadataBody>,
}

impl BillBody {
    /// [`Command::OpenBill`], its window counted from `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        Ok(Command::OpenBill(OpenBill {
            bill: self.id.clone(),
            user: self.user.clone(),
            account: self.account.clone(),
            merchant: self.merchant.clone(),
            opens_at_ms: expiry(now_ms, self.opens_in_s)?,
            closes_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/bills/{id}/items`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = BillItem))]
pub struct BillItemBody {
    /// The adding terminal.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub terminal: Id,
    /// The merchant's item reference.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::item_ref))]
    pub item_ref: String,
    /// Units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::quantity))]
    pub quantity: u32,
    /// Minor units per unit.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub unit_amount: u64,
}

impl BillItemBody {
    /// [`Command::AddBillItem`] to `bill` (the path id).
    pub fn command(&self, bill: &Id) -> Command {
        Command::AddBillItem(AddBillItem {
            bill: bill.clone(),
            terminal: self.terminal.clone(),
            item_ref: self.item_ref.clone(),
            quantity: self.quantity,
            unit_amount: self.unit_amount,
        })
    }
}

/// `POST /v1/pos/settlements/{id}/refunds` and `POST /v1/bills/{id}/refunds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = RefundRequest))]
pub struct RefundBody {
    /// The refund's id (a retry with the same id and amount is answered again, moving nothing).
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// Minor units to give back.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
}

impl RefundBody {
    /// The [`Refund`] of `of` (the path id).
    pub fn refund(&self, of: &Id) -> Refund {
        Refund { of: of.clone(), refund: self.id.clone(), amount: self.amount }
    }
}

/// `POST /v1/bills/{id}/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = ConfirmBill))]
pub struct ConfirmBody {
    /// The challenge the user received.
    pub challenge: String,
    /// A coupon redeemed with the charge.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::nullable_id))]
    pub coupon: Option<Id>,
    /// Where the user confirms: the coupon's location-adjusted value applies.
    pub location: Option<LocationBody>,
}

impl ConfirmBody {
    /// [`Command::ConfirmBill`] of `bill` (the path id).
    pub fn command(&self, bill: &Id) -> Command {
        Command::ConfirmBill(ConfirmBill {
            bill: bill.clone(),
            challenge: self.challenge.clone(),
            coupon: self.coupon.clone(),
            location: self.location.as_ref().map(LocationBody::point),
        })
    }
}
