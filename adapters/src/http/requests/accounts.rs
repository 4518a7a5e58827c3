//! Keys, accounts, transfers and holds.

use kassa_engine::Id;
use kassa_engine::command::{
    CaptureHold, Command, Movement, OpenAccount, PlaceHold, Principal, Transfer, TransferBatch,
};
use kassa_engine::constants::TRANSFER_BATCH_MAX;
use serde::Deserialize;

use super::{RequestError, currency, expiry};
use crate::http::codes;
#[cfg(feature = "server")]
use crate::http::schemas;

// ----- keys ------------------------------------------------------------------------------------

/// `POST /v1/keys`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// `admin`, `merchant`, `operator`, `app` or `terminal`.
    pub role: String,
    /// The merchant of a `merchant` key.
    pub merchant: Option<Id>,
    /// The operator of an `operator` key.
    pub operator: Option<Id>,
    /// The app of an `app` key.
    pub app: Option<Id>,
    /// The terminal of a `terminal` key (a POS on the binary protocol).
    pub terminal: Option<Id>,
}

impl CreateKey {
    /// The role asked for; a scoped role needs its id, at most `scope_id_length_max` bytes long
    /// (the server passes `auth::SCOPE_ID_LENGTH_MAX`), and takes no other role's field.
    pub fn role(&self, scope_id_length_max: usize) -> Result<Principal, RequestError> {
        let fields = [
            ("merchant", &self.merchant),
            ("operator", &self.operator),
            ("app", &self.app),
            ("terminal", &self.terminal),
        ];
        if let Some((stray, _)) = fields.iter().find(|(name, value)| value.is_some() && *name != self.role) {
            return Err(RequestError::invalid(
                codes::INVALID_FIELD,
                format!("role {:?} takes no `{stray}`", self.role),
            ));
        }
        let scoped = |value: &Option<Id>, what: &str| -> Result<Id, RequestError> {
            let value = value
                .clone()
                .ok_or_else(|| RequestError::invalid(codes::MISSING_FIELD, format!("role needs `{what}`")))?;
            if value.as_str().len() > scope_id_length_max {
                return Err(RequestError::invalid(
                    codes::INVALID_ID,
                    format!("`{what}` must be at most {scope_id_length_max} bytes"),
                ));
            }
            Ok(value)
        };
        match self.role.as_str() {
            "admin" => Ok(Principal::Admin),
            "merchant" => Ok(Principal::Merchant(scoped(&self.merchant, "merchant")?)),
            "operator" => Ok(Principal::Operator(scoped(&self.operator, "operator")?)),
            "app" => Ok(Principal::App(scoped(&self.app, "app")?)),
            "terminal" => Ok(Principal::Terminal(scoped(&self.terminal, "terminal")?)),
            other => Err(RequestError::invalid(codes::INVALID_ROLE, format!("unknown role {other:?}"))),
        }
    }
}

// ----- accounts --------------------------------------------------------------------------------

/// `POST /v1/accounts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = OpenAccount))]
pub struct OpenAccountBody {
    /// The new account's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// ISO 4217 alpha code.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::currency))]
    pub currency: String,
    /// How far below zero the available balance may go (default 0).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::u64_any))]
    pub overdraft_limit: u64,
}

impl OpenAccountBody {
    /// [`Command::OpenAccount`].
    pub fn command(&self) -> Result<Command, RequestError> {
        Ok(Command::OpenAccount(OpenAccount {
            account: self.id.clone(),
            currency: currency(&self.currency)?,
            overdraft_limit: self.overdraft_limit,
        }))
    }
}

/// `POST /v1/accounts/{id}/deposits` and `.../withdrawals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Movement))]
pub struct MovementBody {
    /// The movement's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// Minor units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
}

impl MovementBody {
    /// [`Command::Deposit`] (when `deposit`) or [`Command::Withdraw`] on `account` (the path id).
    pub fn command(&self, account: &Id, deposit: bool) -> Command {
        let movement = Movement { id: self.id.clone(), account: account.clone(), amount: self.amount };
        if deposit { Command::Deposit(movement) } else { Command::Withdraw(movement) }
    }
}

// ----- transfers and holds ---------------------------------------------------------------------

/// `POST /v1/transfers`, and one transfer of a batch.
#[derive(Debug, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Transfer))]
pub struct TransferBody {
    /// The transfer's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The debited account.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub from: Id,
    /// The credited account.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub to: Id,
    /// Minor units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
    /// ISO 4217 alpha code.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::currency))]
    pub currency: String,
    /// What the caller attaches to what this creates (`metadata`: string values only).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::metadata))]
    pub metadata: Option<super::MetadataBody>,
}

impl TransferBody {
    /// The engine's [`Transfer`].
    pub fn transfer(&self) -> Result<Transfer, RequestError> {
        Ok(Transfer {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            amount: self.amount,
            currency: currency(&self.currency)?,
        })
    }

    /// [`Command::Transfer`].
    pub fn command(&self) -> Result<Command, RequestError> {
        Ok(Command::Transfer(self.transfer()?))
    }
}

/// `POST /v1/transfers/batch`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = TransferBatch))]
pub struct BatchBody {
    /// All or nothing (default false).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(default = false))]
    pub atomic: bool,
    /// 1..=`TRANSFER_BATCH_MAX` transfers.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::batch_transfers))]
    pub transfers: Vec<TransferBody>,
}

impl BatchBody {
    /// Refuses an empty batch or one above `TRANSFER_BATCH_MAX` transfers.
    pub fn check_size(&self) -> Result<(), RequestError> {
        if self.transfers.is_empty() || self.transfers.len() > TRANSFER_BATCH_MAX {
            return Err(RequestError::invalid(codes::INVALID_BATCH, "a batch holds 1..=1000 transfers"));
        }
        Ok(())
    }

    /// [`Command::TransferBatch`]. (The handler checks the size, then each transfer's payer and
    /// conversion in order, with the same functions.)
    pub fn command(&self) -> Result<Command, RequestError> {
        self.check_size()?;
        let transfers = self.transfers.iter().map(TransferBody::transfer).collect::<Result<_, _>>()?;
        Ok(Command::TransferBatch(TransferBatch { atomic: self.atomic, transfers }))
    }
}

/// `POST /v1/holds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = PlaceHold))]
pub struct HoldBody {
    /// The hold's id.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub id: Id,
    /// The account whose funds are held.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub from: Id,
    /// The account a capture pays.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::id))]
    pub to: Id,
    /// Minor units.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
    /// ISO 4217 alpha code.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::currency))]
    pub currency: String,
    /// Seconds until the hold releases by itself.
    #[cfg_attr(feature = "server", schema(schema_with = schemas::seconds))]
    pub expires_in_s: u64,
    /// What the caller attaches to what this creates (`metadata`: string values only).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(schema_with = schemas::metadata))]
    pub metadata: Option<super::MetadataBody>,
}

impl HoldBody {
    /// [`Command::PlaceHold`], expiring `expires_in_s` after `now_ms`.
    pub fn command(&self, now_ms: u64) -> Result<Command, RequestError> {
        Ok(Command::PlaceHold(PlaceHold {
            id: self.id.clone(),
            from: self.from.clone(),
            to: self.to.clone(),
            amount: self.amount,
            currency: currency(&self.currency)?,
            expires_at_ms: expiry(now_ms, self.expires_in_s)?,
        }))
    }
}

/// `POST /v1/holds/{id}/capture`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema), schema(as = Capture))]
pub struct CaptureBody {
    /// Minor units to capture (at most the held amount).
    #[cfg_attr(feature = "server", schema(schema_with = schemas::amount))]
    pub amount: u64,
}

impl CaptureBody {
    /// [`Command::CaptureHold`] of `hold` (the path id).
    pub fn command(&self, hold: &Id) -> Command {
        Command::CaptureHold(CaptureHold { hold: hold.clone(), amount: self.amount })
    }
}
