//! Placement: which partition applies a command. Pure: the engine's router and every
//! partition's state machine compute it alike, from the command alone.
//!
//! A data directory has a fixed number of partitions, chosen when it is created. Each is a whole
//! state machine with its own executor; no object ever moves between them. Accounts are spread
//! over the partitions by a keyed hash of their id, and the money commands go to the partition
//! of the account they debit: a transfer whose payee lives elsewhere debits into the payer
//! partition's transit and travels on as a durable [`TransitMessage`]. A hold lives with the
//! account it reserves (its payer), a split with its requester, an authorization, a POS sale
//! (and the hold it places), a wrong-code window and a bill with their user, and the follow-ups
//! that name only the object are routed by the engine's directory (`runtime/directory.rs`). A
//! user's claim (the app it belongs to) lives on the user's partition, asked there by the
//! partition applying a command for the user ([`TransitMessage::Claim`]). Merchants, terminals
//! and operators are registered on the home partition and applied by every partition
//! ([`TransitMessage::Reference`]). Every other object (coupons, contacts, API keys) lives on
//! the home partition, 0; the accounts any object names may live anywhere, checked there
//! ([`TransitMessage::Check`]) and paid or charged there by moves, credits and reservations
//! ([`TransitMessage::Move`], [`TransitMessage::Reserve`]), and a payment's coupon is priced
//! where it lives ([`TransitMessage::CouponAsk`]): every flow is told in docs/partitions.md.
//! Placing the other objects with their users and merchants is
//! the rest of `docs/placement.md`.

use serde::{Deserialize, Serialize};
use siphasher::sip::SipHasher13;

mod checks;
mod claims;
mod coupons;

pub use checks::{Check, CheckedAccount, Checking};
pub use claims::{Claim, ClaimEnd, ClaimNoted};
pub use coupons::{CouponAsk, CouponEnd};

use crate::command::{
    Command, Movement, PostingCause, Principal, RegisterMerchant, RegisterOperator, RegisterTerminal, Rejection,
    Transfer,
};
use crate::types::{Currency, Id, TimestampMs};

/// The index of a partition, `0..count`.
pub type PartitionId = u16;

/// The partition that holds every object that is not an account's.
pub const HOME_PARTITION: PartitionId = 0;

/// Most partitions a data directory may have.
pub const PARTITIONS_MAX: u16 = 256;

/// Each partition's share of a directory's `ids_max` (transfer ids live with their payer, so
/// the partitions' tables hold disjoint ids).
pub fn ids_max_per_partition(ids_max: usize, partitions: u16) -> usize {
    ids_max.div_ceil(usize::from(partitions.max(1)))
}

/// Where objects live: a keyed hash of an account's id picks its partition.
#[derive(Clone)]
pub struct Placement {
    count: u16,
    hasher: SipHasher13,
}

impl std::fmt::Debug for Placement {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.debug_struct("Placement").field("count", &self.count).finish_non_exhaustive()
    }
}

impl Placement {
    /// `count` partitions (1..=[`PARTITIONS_MAX`]), placing accounts by a hash keyed with `key`
    /// (derived from the server key, so nobody can choose ids that crowd one partition).
    pub fn new(key: [u8; 16], count: u16) -> Placement {
        assert!((1..=PARTITIONS_MAX).contains(&count), "1..={PARTITIONS_MAX} partitions");
        Placement { count, hasher: SipHasher13::new_with_key(&key) }
    }

    /// The number of partitions.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The partition that holds user `id`'s claim: which app the user belongs to
    /// (`state_machine/transit/claims.rs`). Users are placed as accounts are, by their id.
    pub fn of_user(&self, id: &Id) -> PartitionId {
        self.of_account(id)
    }

    /// The partition that holds coupon `id`: the home partition (coupons have not moved to
    /// their holders' partitions yet, docs/placement.md).
    pub fn of_coupon(&self, _id: &Id) -> PartitionId {
        HOME_PARTITION
    }

    /// The partition that holds account `id`.
    pub fn of_account(&self, id: &Id) -> PartitionId {
        if self.count == 1 {
            return HOME_PARTITION;
        }
        let hash = self.hasher.hash(id.as_str().as_bytes());
        // Multiply-shift: uniform over 0..count without a division.
        ((u128::from(hash) * u128::from(self.count)) >> 64) as PartitionId
    }

    /// Where `command` goes: a partition, or the partition of the hold or split it names (which
    /// only the engine's directory knows). A `Tick` goes to every partition; this names the home one.
    pub fn route<'a>(&self, command: &'a Command) -> Route<'a> {
        if self.count == 1 {
            return Route::Partition(HOME_PARTITION);
        }
        // A new hold goes to its payer's partition, a new split to its requester's, a new
        // authorization, sale or bill to its user's; a repeat of its id where the first is.
        let (hold, split) = (DirectoryKind::Hold, DirectoryKind::Split);
        let (authorization, sale, bill) =
            (DirectoryKind::Authorization, DirectoryKind::Settlement, DirectoryKind::Bill);
        match command {
            Command::OpenBill(open) => Route::Object(bill, &open.bill, Some(self.of_user(&open.user))),
            Command::AddBillItem(add) => Route::Object(bill, &add.bill, None),
            Command::SubmitBill(submit) => Route::Object(bill, &submit.bill, None),
            Command::ConfirmBill(confirm) => Route::Object(bill, &confirm.bill, None),
            Command::CancelBill { bill: id } => Route::Object(bill, id, None),
            Command::RefundBill(refund) => Route::Object(bill, &refund.of, None),
            Command::Authorize(new) => Route::Object(authorization, &new.id, Some(self.of_user(&new.user))),
            Command::RevokeAuthorization { authorization: id } => Route::Object(authorization, id, None),
            Command::SettlePos(settle) => Route::Object(sale, &settle.id, Some(self.of_user(&settle.user))),
            Command::ReversePos { settlement: id } => Route::Object(sale, id, None),
            Command::RefundPos(refund) => Route::Object(sale, &refund.of, None),
            Command::PlaceHold(place) => Route::Object(hold, &place.id, Some(self.of_account(&place.from))),
            Command::CaptureHold(capture) => Route::Object(hold, &capture.hold, None),
            Command::VoidHold { hold: id } => Route::Object(hold, id, None),
            Command::RequestSplit(ask) => Route::Object(split, &ask.split, Some(self.of_user(&ask.requester))),
            Command::PaySplitShare(pay) => Route::Object(split, &pay.split, None),
            Command::CancelSplit { split: id } | Command::RefundSplit { split: id } => Route::Object(split, id, None),
            command => Route::Partition(self.of_command(command)),
        }
    }

    /// The partition that applies `command`, for every command but the holds' and splits' (see
    /// [`Placement::route`]; this names the home partition for those). A `Tick` goes to every
    /// partition; this names the home one.
    pub fn of_command(&self, command: &Command) -> PartitionId {
        match command {
            Command::OpenAccount(open) => self.of_account(&open.account),
            Command::CloseAccount { account } => self.of_account(account),
            Command::Deposit(movement) | Command::Withdraw(movement) => self.of_account(&movement.account),
            Command::Transfer(transfer) => self.of_account(&transfer.from),
            Command::TransferBatch(batch) => {
                batch.transfers.first().map_or(HOME_PARTITION, |transfer| self.of_account(&transfer.from))
            }
            _ => HOME_PARTITION,
        }
    }

    /// Refuses a command applied on `partition` that names an account living elsewhere, where
    /// the command cannot cross partitions (`cross_partition`).
    pub fn check_accounts_local(&self, partition: PartitionId, command: &Command) -> Result<(), Rejection> {
        if self.count == 1 {
            return Ok(());
        }
        let local = |id: &Id| if self.of_account(id) == partition { Ok(()) } else { Err(Rejection::CrossPartition) };
        match command {
            // Routed to its payer's partition, or to where a hold of its id lives; its payee may
            // live anywhere (checked there, `TransitMessage::Check`).
            Command::PlaceHold(place) => local(&place.from),
            _ => Ok(()),
        }
    }
}

/// Where a command goes ([`Placement::route`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    /// To this partition.
    Partition(PartitionId),
    /// To the partition of the object of this kind and id: where the engine's directory (or
    /// storage, for one that left memory) says it lives; if there is none, to the partition a
    /// new one goes to (a creation's: a hold's payer's, a split's requester's, an
    /// authorization's, a sale's or a bill's user's) or, for a follow-up, to the home partition, which
    /// answers `hold_not_found`, `split_not_found` and so on.
    Object(DirectoryKind, &'a Id, Option<PartitionId>),
}

/// The objects the engine's directory places (their follow-ups name only them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DirectoryKind {
    /// A hold: with its payer's account.
    Hold,
    /// A split: with its requester.
    Split,
    /// An authorization: with its user.
    Authorization,
    /// A POS settlement (and the hold it places): with its user.
    Settlement,
    /// A bill: with the user who verifies and pays it.
    Bill,
}

/// A message a partition applies at the start of one of its batches, logged in that batch's
/// record (so replay applies it again, exactly once): from another partition (a credit and its
/// answer), or from the partition's own storage (an id it applied before its memory's window).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TransitMessage {
    /// Credit a transfer's payee (or a captured hold's): the payer's partition has debited the
    /// payer into its transit.
    Credit(Credit),
    /// The payee's partition applied (`refused: None`) or refused credit `number` of
    /// `payee_partition`'s source; the source drains its transit, refunding a refusal.
    Settled {
        /// The partition that applied or refused the credit.
        payee_partition: PartitionId,
        /// The credit's number at its source.
        number: u64,
        /// Why the credit was refused, if it was.
        refused: Option<Rejection>,
    },
    /// An id this partition applied longer ago than its id table remembers, found in storage
    /// by the executor because a command of the batch names it again: the table remembers it
    /// again first, so the repeat is answered as the first application was (the same body:
    /// its first answer, moving nothing; another body: `IdReused`) instead of applying twice.
    Remembered(Remembered),
    /// A resolved object this partition moved to storage, found there by the executor because
    /// a command of the batch names it: the machine takes it back into memory first, so the
    /// command decides as if it had never left (`state_machine/archive.rs`).
    Restored(Box<crate::state_machine::Archived>),
    /// A hold of this id lives on another partition (its payer's), as the engine's directory
    /// says when the executor gathers a batch with a POS settlement that would place a hold of
    /// that id: hold ids are one space over every partition, so the settlement is refused
    /// `already_exists` as it would be on one partition, and replay decides alike.
    HoldElsewhere(Id),
    /// Is this account (a hold's payee, an authorization's account) usable, and who owns it?
    /// Answered by [`TransitMessage::Checked`] every time it arrives (it changes nothing).
    Check(Check),
    /// The answer to check `number` of the source partition.
    Checked {
        /// The partition that holds the account.
        payee_partition: PartitionId,
        /// The check's number at its source.
        number: u64,
        /// What the check was for (the engine's directory forgets a hold whose placement ends
        /// refused).
        subject: Checking,
        /// The account's owners and currency, or why it may not be used.
        answer: Result<CheckedAccount, Rejection>,
    },
    /// Claim a user for an app on the user's partition, unless another app has it; answered by
    /// [`TransitMessage::Claimed`] every time it arrives (`state_machine/transit/claims.rs`).
    Claim(Claim),
    /// The answer to claim `number` of the source: who owns the user now.
    Claimed {
        /// The user's partition.
        user_partition: PartitionId,
        /// The claim's number at its source.
        number: u64,
        /// The app the user belongs to (the claiming app's, or another's).
        owner: Principal,
        /// Whether that is final (`false`: the claim waits for commands still being decided).
        confirmed: bool,
    },
    /// The command a claim was made for was decided: keep the claim (it applied) or give it up
    /// (refused, it changed nothing); answered by [`TransitMessage::Settled`].
    ClaimEnded(ClaimEnd),
    /// A claim decided for good on another partition, for the home partition's records (the
    /// commands it applies read a contact's claim); answered by [`TransitMessage::Settled`].
    ClaimNoted(ClaimNoted),
    /// Debit account `from` on its partition and pay `to` with it, locally or by a credit to
    /// `to`'s partition; answered by [`TransitMessage::Settled`] once that is final (a POS
    /// settlement, reversal or refund applied on the home partition whose payer lives
    /// elsewhere: `state_machine/transit/moves.rs`).
    Move(Move),
    /// A merchant, terminal or operator the home partition registered, for every other
    /// partition to apply in the order of the numbers (`state_machine/reference.rs`).
    Reference(Reference),
    /// May this account be paid this amount by a leg of a linked batch (or, as the leg's payer,
    /// pay it)? If so, keep it payable (its funds reserved) until the batch is decided
    /// (`state_machine/transit/linked.rs`, `linked_payers.rs`); answered by
    /// [`TransitMessage::Settled`], applied once (as a credit is).
    Reserve(Reserve),
    /// Price a payment's coupon on its partition and keep it for the payment; answered by
    /// [`TransitMessage::CouponQuoted`] every time it arrives (`state_machine/transit/coupons.rs`).
    CouponAsk(CouponAsk),
    /// The answer to coupon ask `number` of the source: the discount (the coupon kept), or why
    /// the coupon may not pay.
    CouponQuoted {
        /// The coupon's partition.
        coupon_partition: PartitionId,
        /// The ask's number at its source.
        number: u64,
        /// The discount in minor units, or the refusal.
        quote: Result<u64, Rejection>,
    },
    /// The payment an ask was made for was decided: redeem the coupon or free it; answered by
    /// [`TransitMessage::Settled`].
    CouponEnded(CouponEnd),
    /// Not from another partition: logged by a partition's new owner as its first record
    /// (`Engine::resend_open_messages`), it sends again every message the partition has open.
    /// Every engine following the partition derives the same messages from the record, so the
    /// partitions they own hear again what the old owner asked, and answer (a repeat changes
    /// nothing): an answer the old owner never applied, and the new owner dropped while it only
    /// followed the partition, comes again.
    ResendOpen,
}

/// A payee of a linked transfer batch's leg, reserved on its own partition before the batch is
/// decided: while reserved it may not close and its ceiling counts the amount, so the leg's
/// credit, sent once the batch applies, cannot be refused ([`Paying::ReservedLeg`]); a batch
/// refused in the end releases it ([`Paying::Unreserve`]). Or (`payer`) a leg's payer living
/// on another partition than the batch: its funds are reserved (not spendable, no posting), so
/// the leg's move, sent once the batch applies, cannot be refused ([`Paying::LinkedLeg`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserve {
    /// The batch's partition, where it waits.
    pub source: PartitionId,
    /// Numbered by the source with its credits.
    pub number: u64,
    /// Every message of the source numbered up to this one is answered (as in a credit).
    pub settled_through: u64,
    /// The payee.
    pub account: Id,
    /// Amount in minor units.
    pub amount: u64,
    /// The leg's currency.
    pub currency: Currency,
    /// Reserve the account's funds as the leg's payer (they may not be spent until the batch is
    /// decided) instead of keeping it payable as the leg's payee.
    pub payer: bool,
}

/// Registration `number` of the home partition's reference stream: a merchant, terminal or
/// operator that every partition knows. The bodies are the commands' own: a registration is
/// applied elsewhere exactly as the home partition applied it (a decision: the log and the
/// command share these types, as `Remembered` shares the money commands').
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Numbered by the home partition from 1, one after another.
    pub number: u64,
    /// What was registered (no owner is recorded: the rules decide a registration's objects
    /// by the merchant each names, `crate::authority`).
    pub registration: Registration,
}

/// An object of the reference stream ([`Reference`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registration {
    /// A merchant and its account.
    Merchant(RegisterMerchant),
    /// A terminal of a merchant.
    Terminal(RegisterTerminal),
    /// An operator of a merchant.
    Operator(RegisterOperator),
}

/// A debit on the payer's partition that pays on ([`TransitMessage::Move`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Move {
    /// The partition that asked, where the command waits.
    pub source: PartitionId,
    /// Numbered by the source with its credits.
    pub number: u64,
    /// Every message of the source numbered up to this one is answered (as in a credit).
    pub settled_through: u64,
    /// What it pays (its postings' cause).
    pub paying: Paying,
    /// The debited account.
    pub from: Id,
    /// The credited account.
    pub to: Id,
    /// Amount in minor units.
    pub amount: u64,
    /// Its currency.
    pub currency: Currency,
}

/// A money command as storage shows it was applied (`TransitMessage::Remembered`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Remembered {
    /// A transfer: its payer, payee, amount and currency.
    Transfer(Transfer),
    /// A deposit.
    Deposit(Movement),
    /// A withdrawal.
    Withdrawal(Movement),
}

/// The credit leg of a transfer between partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credit {
    /// The payer's partition.
    pub source: PartitionId,
    /// Numbered by the source, from 1; a number arrives at most once per source.
    pub number: u64,
    /// Every credit of the source numbered up to this one is settled: the payee's partition
    /// forgets the answers it kept for them.
    pub settled_through: u64,
    /// What it pays: a transfer, or a hold's capture (its postings' cause).
    pub paying: Paying,
    /// The credited account.
    pub to: Id,
    /// Amount in minor units.
    pub amount: u64,
    /// The transfer's currency.
    pub currency: Currency,
}

/// What a [`Credit`] pays.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Paying {
    /// A transfer between partitions (its id).
    Transfer(Id),
    /// The capture of a hold whose payee lives on the credited partition (the hold's id).
    Capture(Id),
    /// A POS settlement whose payer lives elsewhere (its id).
    Settlement(Id),
    /// The reversal of POS settlement `id`, paid back to a payer that lives elsewhere.
    Reversal(Id),
    /// A partial refund of POS settlement `id`, paid back to a payer that lives elsewhere.
    Refund(Id),
    /// The charge of bill `id`, whose account lives elsewhere (`state_machine/transit/bills.rs`).
    Bill(Id),
    /// A partial refund of bill `id`, paid back to an account that lives elsewhere.
    BillRefund(Id),
    /// A member's share of split `id`, from a member account that lives elsewhere into the
    /// split's escrow on the split's partition (a move's credit goes back to its source).
    SplitShare(Id),
    /// The total of split `id`, from its escrow to a requester account that lives elsewhere.
    SplitPayout(Id),
    /// A paid share of split `id` given back from its escrow to a member account that lives
    /// elsewhere (the split was cancelled or expired, or its completion refused). Never refused:
    /// the account could not close while its share was in escrow.
    SplitRefund(Id),
    /// No money: split `id` completed, so the member account's paid share left escrow and the
    /// account may close again (a credit of 0, for its exactly-once delivery).
    SplitRelease(Id),
    /// Leg `transfer` of a linked batch, paying the payee that reservation `reservation` of the
    /// source kept payable. Never refused.
    ReservedLeg {
        /// The leg's transfer id.
        transfer: Id,
        /// The number of the [`Reserve`] of partition `reserved_by`.
        reservation: u64,
        /// The linked batch's partition, which reserved the payee (the credit's source, or the
        /// partition of a payer paying by [`Paying::LinkedLeg`]).
        reserved_by: PartitionId,
    },
    /// No money: reservation `reservation` of the source is released (the linked batch or the
    /// split refund `of` was refused, or the leg was a repeat), so its payee may close again.
    /// Never refused.
    Unreserve {
        /// The leg's transfer id, or the split's.
        of: Id,
        /// The number of the source's [`Reserve`].
        reservation: u64,
    },
    /// The total of completed split `split`'s refund, from its requester's account elsewhere into
    /// the split's escrow (a move's credit goes back to its source, as a share's does).
    SplitRefundTotal(Id),
    /// A member account's shares of split `split`'s refund, from the escrow to the account that
    /// reservation `reservation` of the source kept payable. Never refused.
    ReservedRefund {
        /// The split.
        split: Id,
        /// The number of the source's [`Reserve`].
        reservation: u64,
    },
    /// No money yet: hold the payer's funds for the pre-authorization hold of POS settlement
    /// `hold`, which the home partition keeps with its settlement (`transit/pos_holds.rs`). The
    /// payer's partition checks the payer (missing, closed, currency), then answers `refusal`
    /// (what the home partition found of the merchant's account and the amount) if there is
    /// one, then checks the funds; held, they are released when the hold expires at
    /// `expires_at_ms` there, or by [`Paying::PosHoldRelease`], or taken by a capture.
    PosHold {
        /// The hold (the settlement's id).
        hold: Id,
        /// When the hold expires.
        expires_at_ms: TimestampMs,
        /// The sale's refusal decided on the home partition, answered after the payer's checks.
        refusal: Option<Rejection>,
    },
    /// The capture of POS hold `id`: the captured amount leaves the payer's posted and held
    /// balances and pays the merchant by a credit; the rest is released once that is settled.
    PosHoldCapture(Id),
    /// No money: POS hold `id` was voided (or its sale reversed), so its funds held on the
    /// payer's partition are released. Never refused.
    PosHoldRelease(Id),
    /// Leg `transfer` of a linked batch applied on the source partition, whose payer lives on
    /// the move's partition: funds reservation `funds` (the source's [`Reserve`]) ends and pays
    /// the leg, to a payee here or by a [`Paying::ReservedLeg`] credit under the source's
    /// reservation `payee` (`state_machine/transit/linked_payers.rs`). Never refused.
    LinkedLeg {
        /// The leg's transfer id.
        transfer: Id,
        /// The number of the source's reservation of the payer's funds.
        funds: u64,
        /// The number of the source's reservation of the payee.
        payee: u64,
    },
    /// Leg `id` of an independent transfer batch applied on another partition than its payer's:
    /// the payer's partition applies it as a transfer of that id (remembered there), paying its
    /// payee there or by a credit, and answers the leg's outcome (`transit/batch_legs.rs`).
    BatchLeg(Id),
}

impl Paying {
    /// The cause of the postings it makes.
    pub fn cause(&self) -> PostingCause {
        match self {
            Paying::Transfer(id) => PostingCause::Transfer(id.clone()),
            Paying::Capture(id) => PostingCause::HoldCaptured(id.clone()),
            Paying::Settlement(id) => PostingCause::PosSettlement(id.clone()),
            Paying::Reversal(id) => PostingCause::PosReversal(id.clone()),
            Paying::Refund(id) => PostingCause::PosRefund(id.clone()),
            Paying::Bill(id) => PostingCause::BillCharge(id.clone()),
            Paying::BillRefund(id) => PostingCause::BillRefund(id.clone()),
            Paying::SplitShare(id) => PostingCause::SplitShare(id.clone()),
            Paying::SplitPayout(id) => PostingCause::SplitPayout(id.clone()),
            Paying::SplitRefund(id) | Paying::SplitRelease(id) => PostingCause::SplitRefund(id.clone()),
            Paying::ReservedLeg { transfer, .. } | Paying::Unreserve { of: transfer, .. } => {
                PostingCause::Transfer(transfer.clone())
            }
            Paying::SplitRefundTotal(id) | Paying::ReservedRefund { split: id, .. } => {
                PostingCause::SplitRefund(id.clone())
            }
            Paying::PosHold { hold: id, .. } => PostingCause::HoldPlaced(id.clone()),
            Paying::PosHoldCapture(id) => PostingCause::HoldCaptured(id.clone()),
            Paying::PosHoldRelease(id) => PostingCause::HoldReleased(id.clone()),
            Paying::BatchLeg(id) | Paying::LinkedLeg { transfer: id, .. } => PostingCause::Transfer(id.clone()),
        }
    }

    /// The POS hold it holds, captures or releases the funds of, if it is one of those moves.
    pub fn pos_hold(&self) -> Option<&Id> {
        match self {
            Paying::PosHold { hold, .. } | Paying::PosHoldCapture(hold) | Paying::PosHoldRelease(hold) => Some(hold),
            _ => None,
        }
    }

    /// Whether its credit goes into split `id`'s escrow (a share or a refund's total, paid on by
    /// a move).
    pub fn into_escrow(&self) -> bool {
        matches!(self, Paying::SplitShare(_) | Paying::SplitRefundTotal(_))
    }

    /// The split whose escrow pays it, if its money comes from a split's escrow rather than an
    /// account.
    pub fn from_escrow(&self) -> Option<&Id> {
        match self {
            Paying::SplitPayout(id)
            | Paying::SplitRefund(id)
            | Paying::SplitRelease(id)
            | Paying::ReservedRefund { split: id, .. } => Some(id),
            _ => None,
        }
    }
}

/// A message and the partition it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Where it goes.
    pub destination: PartitionId,
    /// What it says.
    pub message: TransitMessage,
}
