//! The pages (Stripe style: `{"object": "list", "data": [...], "has_more"}`): the lists of
//! objects, an account's history and the event feed.

use kassa_engine::command::{Change, ObjectKind, PostingCause};
use kassa_engine::metadata::Metadata;
use kassa_engine::wal::{EventLine, HistoryLine};
use kassa_engine::{Event, Id};
use serde::Serialize;
use utoipa::ToSchema;

use super::views::{AccountView, AuthorizationView, BillView, CouponView, HoldView, SettlementView, SplitView};
use crate::http::schemas;

/// What a page is.
#[derive(Debug, Clone, Copy, Default, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ListObject {
    #[default]
    List,
}

/// Declares a page of `$item`s, with the field naming whose list it is (`$subject`), if any.
macro_rules! page {
    ($(#[doc = $doc:literal])* $name:ident of $item:ty $(, $subject:ident)?) => {
        $(#[doc = $doc])*
        #[derive(Debug, Serialize, ToSchema)]
        pub(super) struct $name {
            pub(super) object: ListObject,
            $(
                #[schema(schema_with = schemas::id)]
                pub(super) $subject: Id,
            )?
            pub(super) data: Vec<$item>,
            /// More items follow: ask again with `starting_after` = the last item's id.
            pub(super) has_more: bool,
        }
    };
}

page! {
    /// The accounts the caller's tenant opened, in id order.
    AccountPage of AccountView
}
page! {
    /// The holds the caller's tenant placed, in id order.
    HoldPage of HoldView
}
page! {
    /// The authorizations the caller's tenant made, in id order.
    AuthorizationPage of AuthorizationView
}
page! {
    /// The bills the caller's tenant opened, in id order.
    BillPage of BillView
}
page! {
    /// The splits the caller's tenant requested, in id order.
    SplitPage of SplitView
}
page! {
    /// The splits a user is a member of, in id order.
    MemberSplitPage of SplitView, user
}
page! {
    /// The POS settlements made at a merchant's terminals, in id order.
    SettlementPage of SettlementView, merchant
}
page! {
    /// The coupons a user holds, in id order.
    CouponPage of CouponView, user
}
page! {
    /// An account's postings, newest first (`starting_after` = the last line's id: older lines).
    History of HistoryLineView, account
}

/// Why money moved: a posting's cause.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum PostingKind {
    Deposit,
    Withdrawal,
    Transfer,
    HoldPlaced,
    HoldCaptured,
    HoldReleased,
    PosSettlement,
    PosReversal,
    BillCharge,
    SplitShare,
    SplitPayout,
    SplitRefund,
    PosRefund,
    BillRefund,
}

/// A posting's cause: its kind and the id of what caused it.
pub(super) fn cause_of(cause: &PostingCause) -> (PostingKind, Id) {
    let (kind, id) = match cause {
        PostingCause::Deposit(id) => (PostingKind::Deposit, id),
        PostingCause::Withdrawal(id) => (PostingKind::Withdrawal, id),
        PostingCause::Transfer(id) => (PostingKind::Transfer, id),
        PostingCause::HoldPlaced(id) => (PostingKind::HoldPlaced, id),
        PostingCause::HoldCaptured(id) => (PostingKind::HoldCaptured, id),
        PostingCause::HoldReleased(id) => (PostingKind::HoldReleased, id),
        PostingCause::PosSettlement(id) => (PostingKind::PosSettlement, id),
        PostingCause::PosReversal(id) => (PostingKind::PosReversal, id),
        PostingCause::BillCharge(id) => (PostingKind::BillCharge, id),
        PostingCause::SplitShare(id) => (PostingKind::SplitShare, id),
        PostingCause::SplitPayout(id) => (PostingKind::SplitPayout, id),
        PostingCause::SplitRefund(id) => (PostingKind::SplitRefund, id),
        PostingCause::PosRefund(id) => (PostingKind::PosRefund, id),
        PostingCause::BillRefund(id) => (PostingKind::BillRefund, id),
    };
    (kind, id.clone())
}

/// A posting as an account's history shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct HistoryLineView {
    /// The line's cursor: its position in the log.
    #[schema(schema_with = schemas::position)]
    id: String,
    /// The command's sequence number.
    seq: u64,
    /// When, Unix time in milliseconds.
    at_ms: u64,
    /// The balance's change, minor units.
    amount: i64,
    /// The held amount's change.
    held_change: i64,
    balance_after: i64,
    held_after: u64,
    kind: PostingKind,
    /// The id of what caused it (`kind` says what).
    #[serde(rename = "ref")]
    #[schema(schema_with = schemas::id)]
    cause: Id,
}

impl From<&HistoryLine> for HistoryLineView {
    fn from(line: &HistoryLine) -> HistoryLineView {
        let (record, posting) = (&line.record, &line.record.posting);
        let (kind, cause) = cause_of(&posting.cause);
        HistoryLineView {
            id: line.id.to_string(),
            seq: record.seq,
            at_ms: record.at_ms,
            amount: posting.posted_delta,
            held_change: posting.held_delta,
            balance_after: posting.posted_after,
            held_after: posting.held_after,
            kind,
            cause,
        }
    }
}

/// A page of the event feed, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventPage {
    pub(super) object: ListObject,
    pub(super) data: Vec<EventView>,
    /// The feed holds events after `next_after` now.
    pub(super) has_more: bool,
    /// The cursor of the next page: the last position this page looked at (a tenant's page may
    /// pass over events it may not see).
    #[schema(schema_with = schemas::nullable_position)]
    pub(super) next_after: Option<String>,
}

/// An event: its position (the cursor), when, and what happened.
#[derive(Debug, Serialize, ToSchema)]
pub(super) struct EventView {
    /// The event's position in the log.
    #[schema(schema_with = schemas::position)]
    id: String,
    /// The command's sequence number.
    seq: u64,
    /// When, Unix time in milliseconds.
    at_ms: u64,
    /// The engine partition it happened on.
    partition: u16,
    #[serde(flatten)]
    what: EventKind,
}

/// What an event says happened, by `type`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum EventKind {
    /// An account's balance changed.
    Posting {
        #[schema(schema_with = schemas::id)]
        account: Id,
        /// The balance's change, minor units.
        amount: i64,
        /// The held amount's change.
        held_change: i64,
        balance_after: i64,
        held_after: u64,
        kind: PostingKind,
        /// The id of what caused it (`kind` says what).
        #[serde(rename = "ref")]
        #[schema(schema_with = schemas::id)]
        cause: Id,
    },
    /// An object changed state without moving money.
    Changed {
        #[schema(schema_with = schemas::object_kind)]
        object: ObjectKind,
        #[schema(schema_with = schemas::id)]
        object_id: Id,
        #[schema(schema_with = schemas::change)]
        change: Change,
    },
    /// A wrong secure code or challenge was presented.
    CodeRejected {
        /// The user or bill the attempt was against.
        #[schema(schema_with = schemas::id)]
        subject: Id,
    },
    /// Metadata was attached to an object as it was created.
    Annotated {
        #[schema(schema_with = schemas::object_kind)]
        object: &'static str,
        #[schema(schema_with = schemas::id)]
        object_id: Id,
        #[schema(schema_with = schemas::event_metadata)]
        metadata: Metadata,
    },
}

impl From<&EventLine> for EventView {
    fn from(line: &EventLine) -> EventView {
        let record = &line.record;
        let what = match &record.event {
            Event::Posting(posting) => {
                let (kind, cause) = cause_of(&posting.cause);
                EventKind::Posting {
                    account: posting.account.clone(),
                    amount: posting.posted_delta,
                    held_change: posting.held_delta,
                    balance_after: posting.posted_after,
                    held_after: posting.held_after,
                    kind,
                    cause,
                }
            }
            Event::Changed { object, id, change } => {
                EventKind::Changed { object: *object, object_id: id.clone(), change: *change }
            }
            Event::CodeRejected { subject } => EventKind::CodeRejected { subject: subject.clone() },
            Event::Annotated { kind, id, metadata, .. } => {
                EventKind::Annotated { object: kind.name(), object_id: id.clone(), metadata: metadata.clone() }
            }
        };
        EventView { id: line.id.to_string(), seq: line.id.seq, at_ms: record.at_ms, partition: record.partition, what }
    }
}
