//! `kassa demo`: every payment flow, end to end, through the engine's public commands.

use std::io::{self, Write};

use kassa_engine::command::*;
use kassa_engine::{CommitOutput, Config, Currency, Id, SecretKey, StateMachine};

struct Demo<'w> {
    machine: StateMachine,
    now_ms: u64,
    out: &'w mut dyn Write,
}

fn id(text: &str) -> Id {
    Id::new(text).expect("demo ids are valid")
}

impl Demo<'_> {
    fn run(&mut self, label: &str, command: Command) -> io::Result<Outcome> {
        let mut output = CommitOutput::default();
        self.machine.commit(self.now_ms, &[Submission::admin(command)], &mut output);
        self.machine.check_invariants();
        let outcome = output.outcomes.pop().expect("one outcome per command");
        writeln!(self.out, "{label:<58} -> {outcome:?}")?;
        Ok(outcome)
    }

    fn balances(&mut self, accounts: &[&str]) -> io::Result<()> {
        for account in accounts {
            let state = self.machine.account(&id(account)).expect("demo account exists");
            writeln!(
                self.out,
                "    {account:<10} posted {:>8}  held {:>6}  available {:>8}  ({})",
                state.posted,
                state.held,
                state.available(),
                state.currency
            )?;
        }
        Ok(())
    }
}

/// Runs the demo, writing a transcript to `out`.
pub fn run(out: &mut dyn Write) -> io::Result<()> {
    let mut secret = [0u8; 32];
    secret.copy_from_slice(b"kassa-demo-key-never-use-in-prod");
    let machine = StateMachine::new(Config::with_ids_max(SecretKey::from_bytes(&secret), 65_536));
    let mut demo = Demo { machine, now_ms: 1_764_000_000_000, out };
    demo.accounts_and_transfers()?;
    demo.holds()?;
    demo.pos()?;
    demo.bill()?;
    demo.split()?;
    demo.coupons()?;
    demo.final_balances()
}

impl Demo<'_> {
    /// Accounts, deposits, transfers (one refused, one repeated) and a linked batch that fails.
    fn accounts_and_transfers(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== accounts and transfers (amounts in euro cents)")?;
        for (account, overdraft_limit) in [("alice", 0), ("bob", 5_000), ("carol", 0), ("shop", 0)] {
            self.run(
                &format!("open {account}"),
                Command::OpenAccount(OpenAccount { account: id(account), currency: eur, overdraft_limit }),
            )?;
        }
        for (account, amount) in [("alice", 50_000), ("bob", 20_000), ("carol", 10_000)] {
            let movement = Movement { id: id(&format!("dep-{account}")), account: id(account), amount };
            self.run(&format!("deposit {amount} to {account}"), Command::Deposit(movement))?;
        }
        let transfer = Transfer { id: id("t-1"), from: id("alice"), to: id("bob"), amount: 1_250, currency: eur };
        self.run("transfer 1250 alice -> bob", Command::Transfer(transfer.clone()))?;
        self.run("same transfer again (idempotent)", Command::Transfer(transfer))?;
        let too_much = Transfer { id: id("t-2"), from: id("carol"), to: id("bob"), amount: 10_001, currency: eur };
        self.run("transfer 10001 carol -> bob", Command::Transfer(too_much))?;
        let linked = TransferBatch {
            atomic: true,
            transfers: vec![
                Transfer { id: id("l-1"), from: id("bob"), to: id("carol"), amount: 1_000, currency: eur },
                Transfer { id: id("l-2"), from: id("carol"), to: id("alice"), amount: 99_999, currency: eur },
            ],
        };
        self.run("linked batch whose second leg fails", Command::TransferBatch(linked))?;
        Ok(())
    }

    /// A hold, captured in part, then captured again.
    fn holds(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== holds")?;
        let expires_at_ms = self.now_ms + 60_000;
        let hold =
            PlaceHold { id: id("h-1"), from: id("alice"), to: id("shop"), amount: 8_000, currency: eur, expires_at_ms };
        self.run("hold 8000 alice -> shop", Command::PlaceHold(hold))?;
        self.balances(&["alice"])?;
        self.run("capture 6500 of it", Command::CaptureHold(CaptureHold { hold: id("h-1"), amount: 6_500 }))?;
        self.run("capture it again for 100", Command::CaptureHold(CaptureHold { hold: id("h-1"), amount: 100 }))?;
        Ok(())
    }

    /// A merchant, its terminal, a secure-code authorization and sales with it.
    fn pos(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== offline POS with a secure code")?;
        let merchant = RegisterMerchant { merchant: id("m-cafe"), account: id("shop") };
        self.run("register merchant m-cafe", Command::RegisterMerchant(merchant))?;
        let terminal =
            RegisterTerminal { terminal: id("pos-1"), merchant: id("m-cafe"), mac_key: None, location: None };
        self.run("register terminal pos-1", Command::RegisterTerminal(terminal))?;
        let authorize = Authorize {
            id: id("auth-1"),
            user: id("u-alice"),
            account: id("alice"),
            limit: 5_000,
            expires_at_ms: self.now_ms + 3_600_000,
            nonce: 0x5eed,
        };
        let Outcome::Applied(Reply::Authorized { code, .. }) =
            self.run("alice authorizes 5000", Command::Authorize(authorize))?
        else {
            unreachable!("the demo authorization is valid")
        };
        let settle = |settlement: &str, code: &str, amount: u64| {
            Command::SettlePos(SettlePos {
                id: id(settlement),
                user: id("u-alice"),
                code: code.to_string(),
                amount,
                currency: eur,
                terminal: id("pos-1"),
                coupon: None,
                hold_until_ms: None,
                location: None,
            })
        };
        self.run("POS settles 1200 with a wrong code", settle("pos-1-000001", "12345678", 1_200))?;
        self.run("POS settles 1200 with alice's code", settle("pos-1-000002", &code, 1_200))?;
        self.run("POS reuses the code", settle("pos-1-000003", &code, 100))?;
        Ok(())
    }

    /// A virtual bill: items, submitted, confirmed with its challenge.
    fn bill(&mut self) -> io::Result<()> {
        writeln!(self.out, "== virtual bill")?;
        let bill = OpenBill {
            bill: id("bill-1"),
            user: id("u-bob"),
            account: id("bob"),
            merchant: id("m-cafe"),
            opens_at_ms: self.now_ms,
            closes_at_ms: self.now_ms + 1_800_000,
        };
        self.run("open bill-1 for bob", Command::OpenBill(bill))?;
        for (item, quantity, unit_amount) in [("espresso", 2, 280), ("croissant", 1, 320)] {
            let add =
                AddBillItem { bill: id("bill-1"), terminal: id("pos-1"), item_ref: item.into(), quantity, unit_amount };
            self.run(&format!("pos-1 adds {quantity} x {item} at {unit_amount}"), Command::AddBillItem(add))?;
        }
        let Outcome::Applied(Reply::BillSubmitted { challenge, .. }) = self
            .run("submit bill-1 for verification", Command::SubmitBill(SubmitBill { bill: id("bill-1"), nonce: 77 }))?
        else {
            unreachable!("the demo bill has items")
        };
        let confirm = ConfirmBill { bill: id("bill-1"), challenge, coupon: None, location: None };
        self.run("bob confirms with the challenge", Command::ConfirmBill(confirm))?;
        Ok(())
    }

    /// A split three ways, each member paying.
    fn split(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== group split")?;
        let members = ["alice", "bob", "carol"]
            .iter()
            .map(|user| SplitMember { user: id(&format!("u-{user}")), account: id(user) })
            .collect();
        let split = RequestSplit {
            split: id("dinner"),
            requester: id("u-carol"),
            requester_account: id("carol"),
            total: 10_000,
            currency: eur,
            members,
            shares: SplitShares::Equal,
            expires_at_ms: self.now_ms + 86_400_000,
        };
        self.run("carol requests 10000 split three ways", Command::RequestSplit(split))?;
        for user in ["alice", "bob", "carol"] {
            let pay = PaySplitShare { split: id("dinner"), member: id(&format!("u-{user}")) };
            self.run(&format!("{user} pays their share"), Command::PaySplitShare(pay))?;
        }
        Ok(())
    }

    /// Coupons: issued, shared, claimed by a contact, redeemed by an operator.
    fn coupons(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== coupons")?;
        let operator = RegisterOperator { operator: id("op-cafe"), merchant: id("m-cafe") };
        self.run("register operator op-cafe", Command::RegisterOperator(operator))?;
        let contact = AddContact { user: id("u-alice"), contact: id("u-bob") };
        self.run("alice and bob become contacts", Command::AddContact(contact))?;
        let issue = IssueCoupon {
            coupon: id("cpn-1"),
            merchant: id("m-cafe"),
            holder: id("u-alice"),
            currency: eur,
            rule: DeductionRule {
                kind: DeductionKind::PercentOff { percent: rust_decimal::Decimal::new(125, 1), cap: Some(500) },
                min_spend: 1_000,
            },
            adjustments: Vec::new(),
            valid_from_ms: self.now_ms,
            valid_until_ms: self.now_ms + 7 * 86_400_000,
            reward: Some(DeductionRule { kind: DeductionKind::FixedOff { amount: 200 }, min_spend: 0 }),
            nonce: 4242,
        };
        let Outcome::Applied(Reply::CouponIssued { code: alice_code }) =
            self.run("m-cafe issues 12.5% off to alice", Command::IssueCoupon(issue))?
        else {
            unreachable!("the demo coupon is valid")
        };
        self.run("alice shares it", Command::ShareCoupon(ShareCoupon { coupon: id("cpn-1"), user: id("u-alice") }))?;
        let claim = ClaimCoupon { coupon: id("cpn-1"), claimer: id("u-bob"), nonce: 11 };
        let Outcome::Applied(Reply::CouponClaimed { code }) =
            self.run("bob claims it (a new code)", Command::ClaimCoupon(claim))?
        else {
            unreachable!("bob is alice's contact")
        };
        let stale =
            RedeemCoupon { id: id("red-0"), operator: id("op-cafe"), code: alice_code, amount: 2_399, location: None };
        self.run("alice's old code no longer redeems it", Command::RedeemCoupon(stale))?;
        let redeem = RedeemCoupon { id: id("red-1"), operator: id("op-cafe"), code, amount: 2_399, location: None };
        self.run("op-cafe redeems it on a 2399 purchase", Command::RedeemCoupon(redeem))?;
        Ok(())
    }

    /// The balances at the end, and the totals they add up to.
    fn final_balances(&mut self) -> io::Result<()> {
        let eur = Currency::EUR;
        writeln!(self.out, "== final balances (money conserved: deposits - withdrawals = sum of balances)")?;
        self.balances(&["alice", "bob", "carol", "shop"])?;
        let totals = self.machine.totals()[&eur];
        writeln!(self.out, "    deposited {}  withdrawn {}", totals.deposited, totals.withdrawn)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_demo_runs_every_flow() {
        let mut transcript = Vec::new();
        super::run(&mut transcript).unwrap();
        let text = String::from_utf8(transcript).unwrap();
        assert!(text.contains("Rejected(InsufficientFunds)"));
        assert!(text.contains("Rejected(IncorrectCode)"));
        assert!(text.contains("Rejected(CodeAlreadyUsed)"));
        assert!(text.contains("Settled"));
        assert!(text.contains("BillPaid { charged: 880"));
        assert!(text.contains("SharePaid { amount: 3333, completed: true }"));
        assert!(text.contains("CouponRedeemed { discount: 300, payable: 2099, reward_coupon: Some("));
        assert!(text.contains("deposited 80000  withdrawn 0"));
    }
}
