//! Authority: who may do what to which object, decided where the state changes.
//!
//! Every [`Submission`](crate::command::Submission) carries its [`Principal`]; `commit` checks
//! it against [`RULES`] before the command touches anything, in the same step that applies it,
//! so a check and the change it guards cannot be separated by another command, a retry, a
//! restart or another listener. Reads check the same table against the same state
//! ([`check_read`]). docs/tenancy.md renders [`RULES`] (a test keeps the two equal).
//!
//! Three rules stand beside the table:
//! - **Ids are global, objects are owned.** An object is created with its owner in one command
//!   (the owner is recorded only when the command applies). Creating an id that exists and is
//!   not the caller's answers `already_exists` (an idempotent repeat is the owner's only), and an
//!   object made by the admin has no owner record: only the admin reaches it.
//! - **Users belong to one app.** An app acting for a user nobody claimed yet claims it, in the
//!   same step as the command that names it; a refused command claims nothing.
//! - **Unknown objects are forbidden, not missing,** for everyone but the admin: a tenant cannot
//!   tell another tenant's id from one that does not exist.

use crate::command::{Command, ObjectKind, Principal, Rejection};
use crate::state_machine::{Bill, Coupon, Hold, Split};
use crate::types::Id;
use subjects::{Subject, command_subject, read_subject};

mod subjects;

/// The kind of principal: the columns of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The processor.
    Admin,
    /// An app backend.
    App,
    /// A merchant.
    Merchant,
    /// A merchant's operator.
    Operator,
    /// A POS terminal.
    Terminal,
}

impl Role {
    /// The columns, in table order.
    pub const ALL: [Role; 5] = [Role::Admin, Role::App, Role::Merchant, Role::Operator, Role::Terminal];

    /// The column's name in docs/tenancy.md.
    pub fn name(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::App => "app",
            Role::Merchant => "merchant",
            Role::Operator => "operator",
            Role::Terminal => "terminal",
        }
    }
}

impl Principal {
    /// Its column in the table.
    pub fn role(&self) -> Role {
        match self {
            Principal::Admin => Role::Admin,
            Principal::App(_) => Role::App,
            Principal::Merchant(_) => Role::Merchant,
            Principal::Operator(_) => Role::Operator,
            Principal::Terminal(_) => Role::Terminal,
        }
    }
}

/// What a principal may be asked to do: every command, and the reads the adapters serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs, reason = "each variant is the operation it names")]
pub enum Operation {
    OpenAccount,
    OpenAccountWithOverdraft,
    CloseAccount,
    Deposit,
    Withdraw,
    Transfer,
    TransferBatch,
    PlaceHold,
    CaptureHold,
    VoidHold,
    RegisterMerchant,
    RegisterTerminal,
    RegisterOperator,
    Authorize,
    SettlePos,
    ReversePos,
    OpenBill,
    AddBillItem,
    SubmitBill,
    ConfirmBill,
    CancelBill,
    RequestSplit,
    PaySplitShare,
    CancelSplit,
    AddContact,
    IssueCoupon,
    ShareCoupon,
    ClaimCoupon,
    RedeemCoupon,
    RegisterApiKey,
    RevokeApiKey,
    Tick,
    RevokeAuthorization,
    RefundPos,
    RefundBill,
    RefundSplit,
    ReadAccount,
    ReadHold,
    ReadBill,
    ReadSplit,
    ReadCoupon,
    ReadUser,
    VerifyCoupon,
    ReadAuthorization,
    ReadSettlement,
    ReadUserCoupons,
    ReadMerchantSettlements,
    ReadUserSplits,
    ReadCouponCode,
}

/// How a principal must stand to what an operation touches for a cell to allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// Never.
    No,
    /// Always.
    Yes,
    /// Owns every account the operation debits or names (an app or merchant that created
    /// it; for a merchant, also the account registered as its own).
    OwnsAccount,
    /// Owns the account and acts for the user.
    OwnsAccountActsForUser,
    /// Acts for the user: an app's own user, or an unclaimed one, which it thereby claims.
    ActsForUser,
    /// Reads a user that is its own or nobody's (an unclaimed user has nothing to show).
    ReadsUser,
    /// Placed the hold, or owns (or, as a merchant, is paid into) its payee account.
    HoldCreatorOrPayee,
    /// Placed the hold, or owns its payer or its payee account.
    HoldParty,
    /// The hold is a POS authorization made at this terminal.
    HoldOfOwnTerminal,
    /// Is the merchant named, and owns the account it registers.
    IsMerchantOwningAccount,
    /// Is the merchant named.
    IsMerchant,
    /// The terminal named belongs to this merchant.
    MerchantOfTerminal,
    /// Is the terminal named.
    IsTerminal,
    /// The settlement was made at one of this merchant's terminals.
    MerchantOfSettlement,
    /// The settlement was made at this terminal.
    TerminalOfSettlement,
    /// The bill is payable to this merchant.
    MerchantOfBill,
    /// Opened the bill (the app of the bill's user).
    OpenedBill,
    /// Requested the split.
    RequestedSplit,
    /// Acts for the paying member and owns the member's account.
    PaysAsMember,
    /// Requested the split or owns a member's account.
    SplitParty,
    /// Acts for the user; the contact is linked at once when both users are the app's, and
    /// across apps only when the other side's app sends the same pair back (consent).
    ContactConsent,
    /// Issued the coupon.
    MerchantOfCoupon,
    /// Owns the coupon's holder.
    AppOfCouponHolder,
    /// Is the operator named.
    IsOperator,
    /// Made the authorization (the app of its user).
    CreatedAuthorization,
    /// The user is the app's own (claimed by it; an unclaimed user's coupons are nobody's to
    /// read but the admin's, their codes redeem money off).
    OwnUser,
}

impl Relation {
    /// The cell's text in docs/tenancy.md.
    pub fn describe(self) -> &'static str {
        match self {
            Relation::No => "-",
            Relation::Yes => "yes",
            Relation::OwnsAccount => "owns account",
            Relation::OwnsAccountActsForUser => "owns account + own user",
            Relation::ActsForUser => "own user",
            Relation::ReadsUser => "own user",
            Relation::HoldCreatorOrPayee => "placed it, or payee",
            Relation::HoldParty => "placed it, payer or payee",
            Relation::HoldOfOwnTerminal => "its own POS hold",
            Relation::IsMerchantOwningAccount => "itself + owns account",
            Relation::IsMerchant => "itself",
            Relation::MerchantOfTerminal => "its terminal",
            Relation::IsTerminal => "itself",
            Relation::MerchantOfSettlement => "its terminal's",
            Relation::TerminalOfSettlement => "its own",
            Relation::MerchantOfBill => "bill's merchant",
            Relation::OpenedBill => "opened it",
            Relation::RequestedSplit => "requested it",
            Relation::PaysAsMember => "member's app + account",
            Relation::SplitParty => "requester or member",
            Relation::ContactConsent => "own user; consent",
            Relation::MerchantOfCoupon => "issued it",
            Relation::AppOfCouponHolder => "holder's app",
            Relation::IsOperator => "itself",
            Relation::CreatedAuthorization => "made it",
            Relation::OwnUser => "own user (claimed)",
        }
    }
}

use Relation::*;

/// The rules: for each operation, the relation each role needs (columns in [`Role::ALL`]
/// order: admin, app, merchant, operator, terminal).
pub const RULES: &[(Operation, [Relation; 5])] = &[
    (Operation::OpenAccount, [Yes, Yes, Yes, No, No]),
    (Operation::OpenAccountWithOverdraft, [Yes, No, No, No, No]),
    (Operation::CloseAccount, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::Deposit, [Yes, No, No, No, No]),
    (Operation::Withdraw, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::Transfer, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::TransferBatch, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::PlaceHold, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::CaptureHold, [Yes, HoldCreatorOrPayee, HoldCreatorOrPayee, No, HoldOfOwnTerminal]),
    (Operation::VoidHold, [Yes, HoldCreatorOrPayee, HoldCreatorOrPayee, No, HoldOfOwnTerminal]),
    (Operation::RegisterMerchant, [Yes, No, IsMerchantOwningAccount, No, No]),
    (Operation::RegisterTerminal, [Yes, No, IsMerchant, No, No]),
    (Operation::RegisterOperator, [Yes, No, IsMerchant, No, No]),
    (Operation::Authorize, [Yes, OwnsAccountActsForUser, No, No, No]),
    (Operation::SettlePos, [Yes, No, MerchantOfTerminal, No, IsTerminal]),
    (Operation::ReversePos, [Yes, No, MerchantOfSettlement, No, TerminalOfSettlement]),
    (Operation::OpenBill, [Yes, OwnsAccountActsForUser, No, No, No]),
    (Operation::AddBillItem, [Yes, No, MerchantOfBill, No, IsTerminal]),
    (Operation::SubmitBill, [Yes, OpenedBill, MerchantOfBill, No, No]),
    (Operation::ConfirmBill, [Yes, OpenedBill, No, No, No]),
    (Operation::CancelBill, [Yes, OpenedBill, MerchantOfBill, No, No]),
    (Operation::RequestSplit, [Yes, OwnsAccountActsForUser, No, No, No]),
    (Operation::PaySplitShare, [Yes, PaysAsMember, No, No, No]),
    (Operation::CancelSplit, [Yes, RequestedSplit, No, No, No]),
    (Operation::AddContact, [Yes, ContactConsent, No, No, No]),
    (Operation::IssueCoupon, [Yes, No, IsMerchant, No, No]),
    (Operation::ShareCoupon, [Yes, ActsForUser, No, No, No]),
    (Operation::ClaimCoupon, [Yes, ActsForUser, No, No, No]),
    (Operation::RedeemCoupon, [Yes, No, No, IsOperator, No]),
    (Operation::RegisterApiKey, [Yes, No, No, No, No]),
    (Operation::RevokeApiKey, [Yes, No, No, No, No]),
    (Operation::Tick, [Yes, No, No, No, No]),
    (Operation::RevokeAuthorization, [Yes, CreatedAuthorization, No, No, No]),
    (Operation::RefundPos, [Yes, No, MerchantOfSettlement, No, TerminalOfSettlement]),
    (Operation::RefundBill, [Yes, No, MerchantOfBill, No, No]),
    (Operation::RefundSplit, [Yes, RequestedSplit, No, No, No]),
    (Operation::ReadAccount, [Yes, OwnsAccount, OwnsAccount, No, No]),
    (Operation::ReadHold, [Yes, HoldParty, HoldParty, No, HoldOfOwnTerminal]),
    (Operation::ReadBill, [Yes, OpenedBill, MerchantOfBill, No, No]),
    (Operation::ReadSplit, [Yes, SplitParty, No, No, No]),
    (Operation::ReadCoupon, [Yes, AppOfCouponHolder, MerchantOfCoupon, No, No]),
    (Operation::ReadUser, [Yes, ReadsUser, No, No, No]),
    (Operation::VerifyCoupon, [Yes, No, No, IsOperator, No]),
    (Operation::ReadAuthorization, [Yes, CreatedAuthorization, No, No, No]),
    (Operation::ReadSettlement, [Yes, No, MerchantOfSettlement, No, TerminalOfSettlement]),
    (Operation::ReadUserCoupons, [Yes, OwnUser, No, No, No]),
    (Operation::ReadMerchantSettlements, [Yes, No, IsMerchant, No, No]),
    (Operation::ReadUserSplits, [Yes, OwnUser, No, No, No]),
    (Operation::ReadCouponCode, [Yes, AppOfCouponHolder, No, No, No]),
];

/// The relation `role` needs for `operation` (`RULES` lists the operations in declaration
/// order, which a test checks, so this is an index, not a search).
pub fn rule(operation: Operation, role: Role) -> Relation {
    let (listed, cells) = &RULES[operation as usize];
    debug_assert_eq!(*listed, operation, "RULES is in Operation order");
    cells[role as usize]
}

/// What the rules need to know of the state (the state machine answers it).
pub trait Facts {
    /// The recorded owner of an object (none: the admin's, or an unclaimed user).
    fn owner(&self, kind: ObjectKind, id: &Id) -> Option<&Principal>;
    /// The account a merchant is registered with.
    fn merchant_account(&self, merchant: &Id) -> Option<&Id>;
    /// The merchant a terminal belongs to.
    fn terminal_merchant(&self, terminal: &Id) -> Option<&Id>;
    /// The terminal a settlement was made at.
    fn settlement_terminal(&self, settlement: &Id) -> Option<&Id>;
    /// The terminal of the sale that placed hold `id` (none for a hold placed otherwise, even
    /// if a sale without a hold, or a refused one, took its id).
    fn pos_hold_terminal(&self, id: &Id) -> Option<&Id>;
    /// A hold.
    fn hold(&self, id: &Id) -> Option<&Hold>;
    /// A bill.
    fn bill(&self, id: &Id) -> Option<&Bill>;
    /// A split.
    fn split(&self, id: &Id) -> Option<&Split>;
    /// A coupon.
    fn coupon(&self, id: &Id) -> Option<&Coupon>;
}

/// A read the adapters serve, checked with [`check_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// An account or its history.
    Account(Id),
    /// A hold.
    Hold(Id),
    /// A bill.
    Bill(Id),
    /// A split.
    Split(Id),
    /// A coupon (or a quote for it).
    Coupon(Id),
    /// A user's pool or claimable coupons.
    User(Id),
    /// Pricing a coupon by code, as this operator.
    VerifyCoupon(Id),
    /// An authorization (never its code).
    Authorization(Id),
    /// A POS settlement.
    Settlement(Id),
    /// The coupons a user holds, with their redemption codes.
    UserCoupons(Id),
    /// The POS settlements made at a merchant's terminals.
    MerchantSettlements(Id),
    /// The splits a user is a member of.
    UserSplits(Id),
    /// A coupon's current redemption code (with the coupon, or in its holder's list).
    CouponCode(Id),
}

/// Whether `principal` may submit `command` now (`Err(Forbidden)` if not). The creation rule
/// (`already_exists` for another's id) is the state machine's, which knows what exists.
pub fn check(facts: &impl Facts, principal: &Principal, command: &Command) -> Result<(), Rejection> {
    let (operation, subject) = command_subject(command);
    let allowed = match rule(operation, principal.role()) {
        ContactConsent => acts_for_user(facts, principal, subject.user),
        relation => holds(facts, principal, relation, &subject),
    };
    if allowed { Ok(()) } else { Err(Rejection::Forbidden) }
}

/// Whether `principal` may make `read` now.
pub fn check_read(facts: &impl Facts, principal: &Principal, read: &Read) -> Result<(), Rejection> {
    let (operation, subject) = read_subject(read);
    if holds(facts, principal, rule(operation, principal.role()), &subject) {
        Ok(())
    } else {
        Err(Rejection::Forbidden)
    }
}

/// Whether `principal` owns the account: recorded as its creator, or (a merchant) registered
/// as the merchant's own account.
pub fn owns_account(facts: &impl Facts, principal: &Principal, account: &Id) -> bool {
    if facts.owner(ObjectKind::Account, account) == Some(principal) {
        return true;
    }
    matches!(principal, Principal::Merchant(merchant) if facts.merchant_account(merchant) == Some(account))
}

/// Whether `principal` owns a hold's payee account: where it lives on another partition, as
/// that partition answered when the hold was placed (`Hold::payee_owners`).
fn owns_payee(facts: &impl Facts, principal: &Principal, hold: &Hold) -> bool {
    owns_account(facts, principal, &hold.to) || hold.payee_owners.contains(principal)
}

/// Whether `principal` owns a hold's payer account: where it lives on another partition, as
/// that partition answered when the sale's authorization was created (`Hold::payer_owners`).
fn owns_payer(facts: &impl Facts, principal: &Principal, hold: &Hold) -> bool {
    owns_account(facts, principal, &hold.from) || hold.payer_owners.contains(principal)
}

/// Whether `principal` (an app) acts for `user`: its own, or unclaimed.
fn acts_for_user(facts: &impl Facts, principal: &Principal, user: Option<&Id>) -> bool {
    let Some(user) = user else { return false };
    matches!(principal, Principal::App(_)) && facts.owner(ObjectKind::User, user).is_none_or(|owner| owner == principal)
}

/// Whether `principal` owns the account of member `at` of `split`: as recorded when the split was
/// requested (wherever the account lives), or now.
fn owns_member(facts: &impl Facts, principal: &Principal, split: &Split, at: usize) -> bool {
    split.member_owners.get(at).is_some_and(|owner| owner.as_ref() == Some(principal))
        || owns_account(facts, principal, &split.members[at].account)
}

fn is(principal: &Principal, expected: fn(&Id) -> Principal, id: Option<&Id>) -> bool {
    id.is_some_and(|id| *principal == expected(id))
}

fn holds(facts: &impl Facts, principal: &Principal, relation: Relation, s: &Subject) -> bool {
    let owns_all = || match s.account {
        Some(account) => owns_account(facts, principal, account),
        None => !s.transfers.is_empty() && s.transfers.iter().all(|t| owns_account(facts, principal, &t.from)),
    };
    let merchant = |id: Option<&Id>| is(principal, |m| Principal::Merchant(m.clone()), id);
    let terminal = |id: Option<&Id>| is(principal, |t| Principal::Terminal(t.clone()), id);
    let hold = || s.hold.and_then(|id| facts.hold(id));
    let created = |kind: ObjectKind, id: Option<&Id>| id.is_some_and(|id| facts.owner(kind, id) == Some(principal));
    let bill_merchant = || s.bill.and_then(|id| facts.bill(id)).map(|bill| &bill.merchant);
    let split = || s.split.and_then(|id| facts.split(id));
    match relation {
        No | ContactConsent => false,
        Yes => true,
        OwnsAccount => owns_all(),
        OwnsAccountActsForUser => owns_all() && acts_for_user(facts, principal, s.user),
        ActsForUser => acts_for_user(facts, principal, s.user),
        ReadsUser => acts_for_user(facts, principal, s.user),
        HoldCreatorOrPayee => {
            created(ObjectKind::Hold, s.hold) || hold().is_some_and(|h| owns_payee(facts, principal, h))
        }
        HoldParty => {
            created(ObjectKind::Hold, s.hold)
                || hold().is_some_and(|h| owns_payee(facts, principal, h) || owns_payer(facts, principal, h))
        }
        // A hold its sale placed; with no hold of the id, its own sale's (it answers not found).
        HoldOfOwnTerminal => terminal(s.hold.and_then(|id| match facts.hold(id) {
            Some(_) => facts.pos_hold_terminal(id),
            None => facts.settlement_terminal(id),
        })),
        IsMerchantOwningAccount => merchant(s.merchant) && owns_all(),
        IsMerchant => merchant(s.merchant),
        MerchantOfTerminal => merchant(s.terminal.and_then(|id| facts.terminal_merchant(id))),
        IsTerminal => terminal(s.terminal),
        MerchantOfSettlement => merchant(
            s.settlement.and_then(|id| facts.settlement_terminal(id)).and_then(|id| facts.terminal_merchant(id)),
        ),
        TerminalOfSettlement => terminal(s.settlement.and_then(|id| facts.settlement_terminal(id))),
        MerchantOfBill => merchant(bill_merchant()),
        OpenedBill => created(ObjectKind::Bill, s.bill),
        RequestedSplit => created(ObjectKind::Split, s.split),
        PaysAsMember => {
            acts_for_user(facts, principal, s.user)
                && split().is_some_and(|split| {
                    (0..split.members.len())
                        .any(|at| Some(&split.members[at].user) == s.user && owns_member(facts, principal, split, at))
                })
        }
        SplitParty => {
            created(ObjectKind::Split, s.split)
                || split()
                    .is_some_and(|split| (0..split.members.len()).any(|at| owns_member(facts, principal, split, at)))
        }
        MerchantOfCoupon => merchant(s.coupon.and_then(|id| facts.coupon(id)).map(|coupon| &coupon.merchant)),
        AppOfCouponHolder => s.coupon.and_then(|id| facts.coupon(id)).is_some_and(|coupon| {
            matches!(principal, Principal::App(_)) && facts.owner(ObjectKind::User, &coupon.holder) == Some(principal)
        }),
        IsOperator => is(principal, |o| Principal::Operator(o.clone()), s.operator),
        CreatedAuthorization => created(ObjectKind::Authorization, s.authorization),
        OwnUser => s.user.is_some_and(|user| {
            matches!(principal, Principal::App(_)) && facts.owner(ObjectKind::User, user) == Some(principal)
        }),
    }
}

/// The object a command creates, if any: recorded with its creator as owner when it applies.
pub fn created_object(command: &Command) -> Option<(ObjectKind, &Id)> {
    match command {
        Command::OpenAccount(open) => Some((ObjectKind::Account, &open.account)),
        Command::PlaceHold(place) => Some((ObjectKind::Hold, &place.id)),
        Command::Authorize(authorize) => Some((ObjectKind::Authorization, &authorize.id)),
        Command::OpenBill(open) => Some((ObjectKind::Bill, &open.bill)),
        Command::RequestSplit(request) => Some((ObjectKind::Split, &request.split)),
        _ => None,
    }
}

/// The user an app's command acts for (claimed for the app when the command applies).
pub fn acting_user(command: &Command) -> Option<&Id> {
    command_subject(command).1.user
}

impl Operation {
    /// The operation's name in docs/tenancy.md (the command's kind, or `read_*`).
    pub fn name(self) -> String {
        let debug = format!("{self:?}");
        let mut name = String::with_capacity(debug.len() + 4);
        for (index, character) in debug.chars().enumerate() {
            if character.is_ascii_uppercase() && index > 0 {
                name.push('_');
            }
            name.push(character.to_ascii_lowercase());
        }
        name
    }
}

/// [`RULES`] as the markdown table docs/tenancy.md shows (a test keeps the two equal).
pub fn render_table() -> String {
    let mut table = String::from("| operation |");
    for role in Role::ALL {
        table.push_str(&format!(" {} |", role.name()));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(Role::ALL.len()));
    table.push('\n');
    for (operation, cells) in RULES {
        table.push_str(&format!("| `{}` |", operation.name()));
        for cell in cells {
            table.push_str(&format!(" {} |", cell.describe()));
        }
        table.push('\n');
    }
    table
}

#[cfg(test)]
mod tests;
