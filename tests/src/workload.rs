//! The mixed crash workload, independent of how commands reach the engine.
//!
//! A worker draws transfers (60 %), holds placed and captured (10 %), POS purchases (authorize,
//! then settle with the secure code, 10 %), bills (open, two items, submit, confirm with the challenge, 10 %) and group splits (three
//! members pay their shares, 10 %), and reports every *acknowledged* result as an [`Ack`]. The
//! same worker runs against the engine in process (the crash child) and against `kassa serve`
//! over TCP and HTTP (the network torture test), through a [`Channel`].

use std::future::Future;

use kassa_engine::command::{
    AddBillItem, Authorize, CaptureHold, Command, ConfirmBill, Movement, OpenAccount, OpenBill, PaySplitShare,
    PlaceHold, RegisterMerchant, RegisterTerminal, Reply, RequestSplit, SettlePos, SplitMember, SplitShares,
    SubmitBill, Transfer, TransferBatch,
};
use kassa_engine::{Currency, Id, Outcome};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::{ACCOUNTS, Ack, OPENING_BALANCE, account};

/// The merchant account, merchant and terminal of the workload.
pub const SHOP: &str = "shop";
/// The workload's merchant.
pub const MERCHANT: &str = "m1";
/// The workload's POS terminal (no MAC key).
pub const TERMINAL: &str = "t1";
/// Whether the setup batches went as they must: everything applied.
pub fn setup_applied(outcomes: &[Outcome]) -> bool {
    let commands: usize = setup_batches().iter().map(Vec::len).sum();
    commands == outcomes.len() && outcomes.iter().all(Outcome::is_applied)
}

/// What a channel answered for one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Applied; with the secret the caller needs next (a secure code, a bill challenge).
    Applied(Option<String>),
    /// Rejected with this code (`insufficient_funds`, ...).
    Rejected(String),
    /// An independent transfer batch applied: each leg's result (`A` or `R:<code>`).
    Legs(Vec<String>),
}

impl Answer {
    /// The answer of an engine outcome.
    pub fn from_outcome(outcome: &Outcome) -> Answer {
        match outcome {
            Outcome::Applied(Reply::Authorized { code, .. }) => Answer::Applied(Some(code.clone())),
            Outcome::Applied(Reply::BillSubmitted { challenge, .. }) => Answer::Applied(Some(challenge.clone())),
            Outcome::Applied(Reply::TransferBatch(legs)) => Answer::Legs(legs.iter().map(crate::result_of).collect()),
            Outcome::Applied(_) => Answer::Applied(None),
            Outcome::Rejected(rejection) | Outcome::BatchRejected { rejection, .. } => {
                Answer::Rejected(rejection.code().to_string())
            }
        }
    }

    /// `A` when applied, `R:<code>` when rejected (the [`Ack`] result field).
    pub fn result(&self) -> String {
        match self {
            Answer::Applied(_) | Answer::Legs(_) => "A".into(),
            Answer::Rejected(code) => format!("R:{code}"),
        }
    }

    fn secret(self) -> Option<String> {
        match self {
            Answer::Applied(secret) => secret,
            Answer::Rejected(_) | Answer::Legs(_) => None,
        }
    }
}

/// How a worker reaches the engine.
pub trait Channel: Send {
    /// Submits one command; `None` when no answer came (busy, connection lost, server killed):
    /// the command's fate is then unknown and nothing is acknowledged.
    fn submit(&mut self, command: Command) -> impl Future<Output = Option<Answer>> + Send;
    /// The engine's current time in milliseconds (for expiry times).
    fn now_ms(&mut self) -> impl Future<Output = u64> + Send;
    /// False once the channel is dead for good (its server was killed): the worker stops.
    fn alive(&self) -> bool {
        true
    }
    /// Whether a POS sale may place a pre-authorization hold through it (not the HTTP API).
    fn pre_authorizes(&self) -> bool {
        true
    }
}

/// Parses a workload id; the workload only makes valid ones.
pub fn id(text: &str) -> Id {
    Id::new(text).expect("the workload makes valid ids")
}

/// The setup, two batches submitted one after the other: accounts with their opening deposits
/// and the shop's account; the merchant and its terminal (which waits for the registration).
/// Idempotent: every cycle submits them again and gets the same answers. The shop's account
/// lives on whichever partition its id places it and the registration checks it there, so it
/// is opened in the batch before (a batch's commands on several partitions apply in no set
/// order). Check the answers with [`setup_applied`].
pub fn setup_batches() -> [Vec<Command>; 2] {
    let mut commands = Vec::new();
    for index in 0..ACCOUNTS {
        commands.push(Command::OpenAccount(OpenAccount {
            account: account(index),
            currency: Currency::EUR,
            overdraft_limit: 0,
        }));
        commands.push(Command::Deposit(Movement {
            id: id(&format!("seed-{index}")),
            account: account(index),
            amount: OPENING_BALANCE,
        }));
    }
    commands.push(Command::OpenAccount(OpenAccount { account: id(SHOP), currency: Currency::EUR, overdraft_limit: 0 }));
    let merchant = Command::RegisterMerchant(RegisterMerchant { merchant: id(MERCHANT), account: id(SHOP) });
    let terminal = Command::RegisterTerminal(RegisterTerminal {
        terminal: id(TERMINAL),
        merchant: id(MERCHANT),
        mac_key: None,
        location: None,
    });
    [commands, vec![merchant, terminal]]
}

/// Places hold `hold` of `amount` from one account to another and captures all of it: the
/// capture's result, or the placement's refusal; `None` if either answer was lost.
async fn place_and_capture<C: Channel>(
    channel: &mut C,
    hold: &str,
    (from, to): (usize, usize),
    amount: u64,
) -> Option<String> {
    let place = PlaceHold {
        id: id(hold),
        from: account(from),
        to: account(to),
        amount,
        currency: Currency::EUR,
        expires_at_ms: channel.now_ms().await + 600_000,
    };
    let placed = channel.submit(Command::PlaceHold(place)).await?;
    if !matches!(placed, Answer::Applied(_)) {
        return Some(placed.result());
    }
    let capture = CaptureHold { hold: id(hold), amount };
    Some(channel.submit(Command::CaptureHold(capture)).await?.result())
}

/// The workload's pick for a linked batch.
const LINKED: i32 = 100;

/// A linked batch of two legs from account `from` to `to`, then from `to` (its funds reserved
/// where it lives, if elsewhere) or, every other time, from `from` again, to the account after
/// it (accounts on any partition): every leg acknowledged with the batch's result.
async fn linked_batch<C: Channel>(
    channel: &mut C,
    tag: &str,
    (from, to): (usize, usize),
    amount: u64,
) -> Option<Vec<Ack>> {
    let second = if (to + 1) % ACCOUNTS == from { (to + 2) % ACCOUNTS } else { (to + 1) % ACCOUNTS };
    let payer = if amount.is_multiple_of(2) { to } else { from };
    let legs: Vec<(String, usize, usize, u64)> =
        vec![(format!("lb-{tag}-0"), from, to, amount), (format!("lb-{tag}-1"), payer, second, amount / 2 + 1)];
    let transfers = legs.iter().map(|(leg, from, to, amount)| leg_transfer(leg, (*from, *to), *amount)).collect();
    let answer = channel.submit(Command::TransferBatch(TransferBatch { atomic: true, transfers })).await?;
    let acks = legs.into_iter().map(|(leg, payer, to, amount)| Ack::LinkedLeg {
        id: leg,
        batch: format!("acc{from}"),
        from: format!("acc{payer}"),
        to: format!("acc{to}"),
        amount,
        result: answer.result(),
    });
    Some(acks.collect())
}

/// Transfer `leg` of `amount` from account `from` to account `to`, in EUR.
fn leg_transfer(leg: &str, (from, to): (usize, usize), amount: u64) -> Transfer {
    Transfer { id: id(leg), from: account(from), to: account(to), amount, currency: Currency::EUR }
}

/// The workload's pick for an independent batch.
const INDEPENDENT: i32 = 101;

/// An independent batch of two legs, from account `from` to `to` and back from `to` to the
/// account after `from` (payers and payees on any partition: a leg whose payer lives off the
/// batch's partition is applied on its own): each leg acknowledged with its own result.
async fn independent_batch<C: Channel>(
    channel: &mut C,
    tag: &str,
    (from, to): (usize, usize),
    amount: u64,
) -> Option<Vec<Ack>> {
    let back = if (from + 1) % ACCOUNTS == to { (from + 2) % ACCOUNTS } else { (from + 1) % ACCOUNTS };
    let legs = [(format!("ib-{tag}-0"), from, to, amount), (format!("ib-{tag}-1"), to, back, amount / 2 + 1)];
    let transfers = legs.iter().map(|(leg, from, to, amount)| leg_transfer(leg, (*from, *to), *amount)).collect();
    let answer = channel.submit(Command::TransferBatch(TransferBatch { atomic: false, transfers })).await?;
    let Answer::Legs(results) = answer else { return None };
    let acks = legs.into_iter().zip(results).map(|((leg, from, to, amount), result)| Ack::Transfer {
        id: leg,
        from: format!("acc{from}"),
        to: format!("acc{to}"),
        amount,
        result,
    });
    Some(acks.collect())
}

/// A POS sale of `amount` on account `from`, and if `held`, as a pre-authorization hold then
/// captured whole (acknowledged as a hold whose id is the sale's, with the sale's refusal or
/// the capture's outcome).
async fn sale<C: Channel>(
    channel: &mut C,
    tag: &str,
    from: usize,
    amount: u64,
    rng: &mut StdRng,
    held: bool,
) -> Option<Ack> {
    let user = id(&format!("u{from}"));
    let expires_at_ms = channel.now_ms().await + 600_000;
    let authorize = Authorize {
        id: id(&format!("a-{tag}")),
        user: user.clone(),
        account: account(from),
        limit: 5_000,
        expires_at_ms,
        nonce: rng.random(),
    };
    let code = channel.submit(Command::Authorize(authorize)).await.and_then(Answer::secret)?;
    let settlement = format!("p-{tag}");
    let settle = SettlePos {
        id: id(&settlement),
        user: user.clone(),
        code,
        amount,
        currency: Currency::EUR,
        terminal: id(TERMINAL),
        coupon: None,
        hold_until_ms: held.then_some(expires_at_ms),
        location: None,
    };
    let answer = channel.submit(Command::SettlePos(settle)).await?;
    if !held {
        return Some(Ack::Settlement { id: settlement, user: user.to_string(), result: answer.result() });
    }
    let result = match answer {
        Answer::Applied(_) => {
            let capture = CaptureHold { hold: id(&settlement), amount };
            channel.submit(Command::CaptureHold(capture)).await?.result()
        }
        refused => refused.result(),
    };
    Some(Ack::HoldCaptured { id: settlement, from: format!("acc{from}"), to: MERCHANT.into(), amount, result })
}

/// A bill of two items charged to account `from`, opened, submitted and confirmed.
async fn pay_bill<C: Channel>(channel: &mut C, tag: &str, from: usize, amount: u64, rng: &mut StdRng) -> Option<Ack> {
    let bill = format!("b-{tag}");
    let now = channel.now_ms().await;
    let open = OpenBill {
        bill: id(&bill),
        user: id(&format!("u{from}")),
        account: account(from),
        merchant: id(MERCHANT),
        opens_at_ms: now,
        closes_at_ms: now + 600_000,
    };
    if !matches!(channel.submit(Command::OpenBill(open)).await, Some(Answer::Applied(_))) {
        return None;
    }
    for item in 0..2 {
        let add = AddBillItem {
            bill: id(&bill),
            terminal: id(TERMINAL),
            item_ref: format!("sku{item}"),
            quantity: 1 + item,
            unit_amount: amount,
        };
        let _ = channel.submit(Command::AddBillItem(add)).await;
    }
    let submit = SubmitBill { bill: id(&bill), nonce: rng.random() };
    let challenge = channel.submit(Command::SubmitBill(submit)).await.and_then(Answer::secret)?;
    let confirm = ConfirmBill { bill: id(&bill), challenge, coupon: None, location: None };
    let answer = channel.submit(Command::ConfirmBill(confirm)).await?;
    Some(Ack::BillPaid { id: bill, user: format!("u{from}"), result: answer.result() })
}

/// A split of three times `amount` requested by user `u<from>`, its three members (the next
/// accounts) paying their shares, and now and then its refund once complete.
async fn split_and_pay<C: Channel>(
    channel: &mut C,
    tag: &str,
    (from, amount): (usize, u64),
    rng: &mut StdRng,
    ack: &mut (impl FnMut(Ack) + Send),
) {
    let split = format!("s-{tag}");
    let members: Vec<usize> = (1..=3).map(|offset| (from + offset) % ACCOUNTS).collect();
    let request = RequestSplit {
        split: id(&split),
        requester: id(&format!("u{from}")),
        requester_account: account(from),
        total: amount * 3,
        currency: Currency::EUR,
        members: members
            .iter()
            .map(|member| SplitMember { user: id(&format!("u{member}")), account: account(*member) })
            .collect(),
        shares: SplitShares::Equal,
        expires_at_ms: channel.now_ms().await + 600_000,
    };
    if !matches!(channel.submit(Command::RequestSplit(request)).await, Some(Answer::Applied(_))) {
        return;
    }
    let mut completed = true;
    for (index, member) in members.iter().enumerate() {
        let pay = PaySplitShare { split: id(&split), member: id(&format!("u{member}")) };
        let Some(answer) = channel.submit(Command::PaySplitShare(pay)).await else {
            completed = false;
            continue;
        };
        completed &= matches!(answer, Answer::Applied(_));
        let requester = format!("u{from}");
        ack(Ack::SharePaid { id: split.clone(), requester, member: index, result: answer.result() });
    }
    if completed && rng.random_range(0..3) == 0 {
        // Every member paid back from the requester, wherever each lives.
        let Some(answer) = channel.submit(Command::RefundSplit { split: id(&split) }).await else { return };
        ack(Ack::SplitRefunded { id: split, requester: format!("u{from}"), result: answer.result() });
    }
}

/// Runs one worker until its channel dies (or `limit` rounds were drawn), handing every
/// acknowledged result to `ack`; every flow when `partitioned` too (accounts live on any
/// partition: most holds pair accounts of two partitions, most sales and bills charge an
/// account off the home partition, most splits gather shares from several partitions), with
/// merchants' registrations. Ids are `<kind>-<tag>-<n>`, unique per `tag`.
pub async fn run_worker<C: Channel>(
    channel: &mut C,
    tag: &str,
    seed: u64,
    limit: Option<u64>,
    partitioned: bool,
    mut ack: impl FnMut(Ack) + Send,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    for n in 0..limit.unwrap_or(u64::MAX) {
        if !channel.alive() {
            return;
        }
        let tag = format!("{tag}-{n}");
        // 0..60 transfers, 60..70 holds, 70..80 POS, 80..90 bills, 90.. splits; partitioned,
        // linked batches (payees on any partition) and independent ones (payers too) as well.
        let roll = rng.random_range(0..100);
        let pick = match (partitioned, roll) {
            (false, roll) => roll,
            (true, 0..15) => 60,
            (true, 15..30) => 70,
            (true, 30..40) => 80,
            (true, 40..48) => 90,
            (true, 48..56) => LINKED,
            (true, 56..62) => INDEPENDENT,
            (true, _) => 0,
        };
        let from = rng.random_range(0..ACCOUNTS);
        let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
        let amount = rng.random_range(1..5_000);
        if partitioned && roll < 3 {
            // The home partition registers the merchant (its account checked where it lives)
            // and every partition learns it by the reference stream.
            let merchant = format!("m-{tag}");
            let register = RegisterMerchant { merchant: id(&merchant), account: account(from) };
            let Some(answer) = channel.submit(Command::RegisterMerchant(register)).await else { continue };
            ack(Ack::Registered { merchant, account: format!("acc{from}"), result: answer.result() });
        } else if pick == LINKED {
            let Some(legs) = linked_batch(channel, &tag, (from, to), amount).await else { continue };
            legs.into_iter().for_each(&mut ack);
        } else if pick == INDEPENDENT {
            let Some(legs) = independent_batch(channel, &tag, (from, to), amount).await else { continue };
            legs.into_iter().for_each(&mut ack);
        } else if (60..70).contains(&pick) {
            let hold = format!("h-{tag}");
            let Some(result) = place_and_capture(channel, &hold, (from, to), amount).await else { continue };
            ack(Ack::HoldCaptured { id: hold, from: format!("acc{from}"), to: format!("acc{to}"), amount, result });
        } else if pick < 60 {
            let transfer_id = format!("t-{tag}");
            let transfer = Transfer {
                id: id(&transfer_id),
                from: account(from),
                to: account(to),
                amount,
                currency: Currency::EUR,
            };
            let Some(answer) = channel.submit(Command::Transfer(transfer)).await else { continue };
            ack(Ack::Transfer {
                id: transfer_id,
                from: format!("acc{from}"),
                to: format!("acc{to}"),
                amount,
                result: answer.result(),
            });
        } else if pick < 80 {
            // Partitioned, a third of the sales are pre-authorizations (their payer anywhere).
            let held = partitioned && channel.pre_authorizes() && rng.random_range(0..3) == 0;
            if let Some(sold) = sale(channel, &tag, from, amount, &mut rng, held).await {
                ack(sold);
            }
        } else if pick < 90 {
            if let Some(paid) = pay_bill(channel, &tag, from, amount, &mut rng).await {
                ack(paid);
            }
        } else {
            split_and_pay(channel, &tag, (from, amount), &mut rng, &mut ack).await;
        }
    }
}
