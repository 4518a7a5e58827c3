//! What each command and read touches, as far as the rules of [`super::RULES`] look: the
//! operation (a row of the table) and the objects it names.

use super::{Operation, Read};
use crate::command::{Command, Transfer};
use crate::types::Id;

/// What an operation touches, as far as the rules look.
#[derive(Default, Clone, Copy)]
pub(super) struct Subject<'a> {
    /// The account debited or named (for a batch: `transfers` instead).
    pub(super) account: Option<&'a Id>,
    /// A batch's transfers, each debiting its `from`.
    pub(super) transfers: &'a [Transfer],
    pub(super) user: Option<&'a Id>,
    pub(super) merchant: Option<&'a Id>,
    pub(super) terminal: Option<&'a Id>,
    pub(super) operator: Option<&'a Id>,
    pub(super) hold: Option<&'a Id>,
    pub(super) settlement: Option<&'a Id>,
    pub(super) bill: Option<&'a Id>,
    pub(super) split: Option<&'a Id>,
    pub(super) coupon: Option<&'a Id>,
    pub(super) authorization: Option<&'a Id>,
}

impl<'a> Subject<'a> {
    fn account(account: &'a Id) -> Subject<'a> {
        Subject { account: Some(account), ..Subject::default() }
    }

    fn user_and_account(user: &'a Id, account: &'a Id) -> Subject<'a> {
        Subject { user: Some(user), account: Some(account), ..Subject::default() }
    }

    fn user(user: &'a Id) -> Subject<'a> {
        Subject { user: Some(user), ..Subject::default() }
    }

    fn merchant(merchant: &'a Id) -> Subject<'a> {
        Subject { merchant: Some(merchant), ..Subject::default() }
    }

    fn hold(hold: &'a Id) -> Subject<'a> {
        Subject { hold: Some(hold), ..Subject::default() }
    }

    fn bill(bill: &'a Id) -> Subject<'a> {
        Subject { bill: Some(bill), ..Subject::default() }
    }

    fn split(split: &'a Id) -> Subject<'a> {
        Subject { split: Some(split), ..Subject::default() }
    }
}

/// The operation a command is, and what it touches.
pub(super) fn command_subject(command: &Command) -> (Operation, Subject<'_>) {
    use Operation as O;
    let nothing = Subject::default();
    match command {
        Command::OpenAccount(open) if open.overdraft_limit > 0 => (O::OpenAccountWithOverdraft, nothing),
        Command::OpenAccount(_) => (O::OpenAccount, nothing),
        Command::CloseAccount { account } => (O::CloseAccount, Subject::account(account)),
        Command::Deposit(_) => (O::Deposit, nothing),
        Command::Withdraw(movement) => (O::Withdraw, Subject::account(&movement.account)),
        Command::Transfer(transfer) => (O::Transfer, Subject::account(&transfer.from)),
        Command::TransferBatch(batch) => (O::TransferBatch, Subject { transfers: &batch.transfers, ..nothing }),
        Command::PlaceHold(place) => (O::PlaceHold, Subject::account(&place.from)),
        Command::CaptureHold(capture) => (O::CaptureHold, Subject::hold(&capture.hold)),
        Command::VoidHold { hold } => (O::VoidHold, Subject::hold(hold)),
        Command::RegisterMerchant(register) => {
            let subject = Subject { account: Some(&register.account), ..Subject::merchant(&register.merchant) };
            (O::RegisterMerchant, subject)
        }
        Command::RegisterTerminal(register) => (O::RegisterTerminal, Subject::merchant(&register.merchant)),
        Command::RegisterOperator(register) => (O::RegisterOperator, Subject::merchant(&register.merchant)),
        Command::Authorize(a) => (O::Authorize, Subject::user_and_account(&a.user, &a.account)),
        Command::SettlePos(settle) => (O::SettlePos, Subject { terminal: Some(&settle.terminal), ..nothing }),
        Command::ReversePos { settlement } => (O::ReversePos, Subject { settlement: Some(settlement), ..nothing }),
        Command::OpenBill(open) => (O::OpenBill, Subject::user_and_account(&open.user, &open.account)),
        Command::AddBillItem(add) => {
            (O::AddBillItem, Subject { terminal: Some(&add.terminal), ..Subject::bill(&add.bill) })
        }
        Command::SubmitBill(submit) => (O::SubmitBill, Subject::bill(&submit.bill)),
        Command::ConfirmBill(confirm) => (O::ConfirmBill, Subject::bill(&confirm.bill)),
        Command::CancelBill { bill } => (O::CancelBill, Subject::bill(bill)),
        Command::RequestSplit(r) => (O::RequestSplit, Subject::user_and_account(&r.requester, &r.requester_account)),
        Command::PaySplitShare(pay) => {
            (O::PaySplitShare, Subject { user: Some(&pay.member), ..Subject::split(&pay.split) })
        }
        Command::CancelSplit { split } => (O::CancelSplit, Subject::split(split)),
        Command::AddContact(add) => (O::AddContact, Subject::user(&add.user)),
        Command::IssueCoupon(issue) => (O::IssueCoupon, Subject::merchant(&issue.merchant)),
        Command::ShareCoupon(share) => (O::ShareCoupon, Subject::user(&share.user)),
        Command::ClaimCoupon(claim) => (O::ClaimCoupon, Subject::user(&claim.claimer)),
        Command::RedeemCoupon(redeem) => (O::RedeemCoupon, Subject { operator: Some(&redeem.operator), ..nothing }),
        Command::RegisterApiKey(_) => (O::RegisterApiKey, nothing),
        Command::RevokeApiKey { .. } => (O::RevokeApiKey, nothing),
        Command::Tick => (O::Tick, nothing),
        Command::RefundPos(refund) => (O::RefundPos, Subject { settlement: Some(&refund.of), ..nothing }),
        Command::RefundBill(refund) => (O::RefundBill, Subject::bill(&refund.of)),
        Command::RefundSplit { split } => (O::RefundSplit, Subject::split(split)),
        Command::RevokeAuthorization { authorization } => {
            (O::RevokeAuthorization, Subject { authorization: Some(authorization), ..nothing })
        }
    }
}

pub(super) fn read_subject(read: &Read) -> (Operation, Subject<'_>) {
    match read {
        Read::Account(account) => (Operation::ReadAccount, Subject::account(account)),
        Read::Hold(hold) => (Operation::ReadHold, Subject::hold(hold)),
        Read::Bill(bill) => (Operation::ReadBill, Subject::bill(bill)),
        Read::Split(split) => (Operation::ReadSplit, Subject::split(split)),
        Read::Coupon(coupon) => (Operation::ReadCoupon, Subject { coupon: Some(coupon), ..Subject::default() }),
        Read::User(user) => (Operation::ReadUser, Subject::user(user)),
        Read::VerifyCoupon(operator) => {
            (Operation::VerifyCoupon, Subject { operator: Some(operator), ..Subject::default() })
        }
        Read::Authorization(authorization) => {
            (Operation::ReadAuthorization, Subject { authorization: Some(authorization), ..Subject::default() })
        }
        Read::Settlement(settlement) => {
            (Operation::ReadSettlement, Subject { settlement: Some(settlement), ..Subject::default() })
        }
        Read::UserCoupons(user) => (Operation::ReadUserCoupons, Subject::user(user)),
        Read::MerchantSettlements(merchant) => (Operation::ReadMerchantSettlements, Subject::merchant(merchant)),
        Read::UserSplits(user) => (Operation::ReadUserSplits, Subject::user(user)),
        Read::CouponCode(coupon) => (Operation::ReadCouponCode, Subject { coupon: Some(coupon), ..Subject::default() }),
    }
}
