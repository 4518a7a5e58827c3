//! Generation of account, deposit, withdrawal, transfer and hold commands.

use super::*;

impl Generator {
    // ----- accounts --------------------------------------------------------------------------

    pub(super) fn open_account(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let roll = self.rng.random_range(0..100);
        if roll < 70 && self.accounts.len() < ACCOUNTS_MAX {
            let account = self.fresh("a-");
            let currency = self.currency();
            let overdraft = match self.rng.random_range(0..100) {
                0..70 => 0,
                70..96 => self.range(1, 100_000),
                96..98 => AMOUNT_MINOR_MAX,
                _ => AMOUNT_MINOR_MAX + 1,
            };
            if overdraft <= AMOUNT_MINOR_MAX {
                self.open(batch, account, currency, overdraft);
            } else {
                batch.push(Command::OpenAccount(OpenAccount { account, currency, overdraft_limit: overdraft }));
            }
            return;
        }
        let (account, currency) = self.account(model);
        let overdraft_limit = model.accounts.get(&account).map_or(0, |a| a.overdraft_limit);
        let currency = if roll < 88 { currency } else { self.other_currency(currency) };
        batch.push(Command::OpenAccount(OpenAccount { account, currency, overdraft_limit }));
    }

    /// An account that is not a core one, mostly (closing a core account is rare but happens).
    pub(super) fn closable(&mut self, model: &Model) -> Id {
        let mut account = self.account(model).0;
        for _ in 0..8 {
            if !self.core.contains(&account) || self.pm(10) {
                break;
            }
            account = self.account(model).0;
        }
        account
    }

    pub(super) fn close_account(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let mut account = self.closable(model);
        for _ in 0..6 {
            if model.accounts.get(&account).is_some_and(|a| a.posted == 0 && a.held == 0) {
                break;
            }
            account = self.closable(model);
        }
        if self.pm(50) {
            account = self.unknown("a");
        }
        batch.push(Command::CloseAccount { account });
    }

    pub(super) fn deposit(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let account = if self.pm(30) { self.unknown("a") } else { self.account(model).0 };
        let amount = self.money();
        let deposit = self.fresh("d");
        self.movements.push(deposit.clone());
        batch.push(Command::Deposit(Movement { id: deposit, account, amount }));
    }

    pub(super) fn withdraw(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let account = self.account(model).0;
        let amount = match model.accounts.get(&account) {
            Some(a) => self.amount_against(a.available(), a.overdraft_limit),
            None => self.money(),
        };
        // Deposits and withdrawals share their ids: now and then reuse a deposit's.
        let withdrawal = if self.pm(40) { self.existing("d", |g| &g.movements) } else { self.fresh("w") };
        batch.push(Command::Withdraw(Movement { id: withdrawal, account, amount }));
    }

    /// The whale collects the largest deposits until its balance nears the ceiling (overflow).
    pub(super) fn whale(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let whale = id("whale");
        let posted = model.accounts.get(&whale).map_or(0, |a| a.posted);
        if self.pm(700) {
            let deposit = self.fresh("d");
            batch.push(Command::Deposit(Movement { id: deposit, account: whale, amount: AMOUNT_MINOR_MAX }));
        } else if posted > 0 {
            let transfer = self.transfer(model, Some(whale));
            batch.push(transfer);
        }
    }

    pub(super) fn transfer_body(&mut self, model: &Model, to: Option<Id>) -> Transfer {
        let (from, currency) = self.account(model);
        let to = match to {
            Some(to) => to,
            None => match self.rng.random_range(0..100) {
                0..88 => self.account_of(model, currency),
                88..92 => from.clone(),
                92..95 => self.unknown("a"),
                _ => self.account(model).0,
            },
        };
        let currency = if self.pm(60) { self.other_currency(currency) } else { currency };
        let amount = match model.accounts.get(&from) {
            Some(a) => self.amount_against(a.available(), a.overdraft_limit),
            None => self.money(),
        };
        let id = if self.pm(30) && !self.transfers.ids.is_empty() {
            self.existing("x", |g| &g.transfers)
        } else {
            let id = self.fresh("x");
            self.transfers.push(id.clone());
            id
        };
        Transfer { id, from, to, amount, currency }
    }

    pub(super) fn transfer(&mut self, model: &Model, to: Option<Id>) -> Command {
        Command::Transfer(self.transfer_body(model, to))
    }

    pub(super) fn transfer_batch(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let count = match self.rng.random_range(0..100) {
            0..3 => 0,
            3..5 => 1_001,
            5..10 => 1,
            _ => self.rng.random_range(2..=8),
        };
        let mut transfers: Vec<Transfer> = (0..count.min(8)).map(|_| self.transfer_body(model, None)).collect();
        if count > 8 {
            let template = transfers[0].clone();
            transfers = (0..count)
                .map(|index| Transfer { id: id(&format!("{}-{index}", template.id)), ..template.clone() })
                .collect();
        }
        if transfers.len() >= 2 && self.pm(100) {
            // The same id twice in one batch: the second is a repeat (or id_reused).
            let first = transfers[0].clone();
            transfers.push(if self.pm(500) { first } else { Transfer { amount: first.amount + 1, ..first } });
        }
        if model.placement.count() > 1 && !transfers.is_empty() && self.pm(500) {
            // Payers on the batch's partition, so that batches whose legs only pay elsewhere
            // are decided too (half have payers anywhere).
            let first = transfers[0].from.clone();
            let home = model.placement.of_account(&first);
            for transfer in &mut transfers {
                if model.placement.of_account(&transfer.from) != home {
                    transfer.from = first.clone();
                }
            }
        }
        let owned = &model.owners.accounts;
        if model.placement.count() > 1 && !transfers.is_empty() && !owned.is_empty() && self.pm(150) {
            // One tenant's payers on any partition, so that its batches, when it signs them,
            // apply with each payer elsewhere checked for its owner first.
            let owner = owned.values().nth(self.rng.random_range(0..owned.len())).expect("in range").clone();
            let payers: Vec<&Id> = owned.iter().filter(|(_, who)| **who == owner).map(|(account, _)| account).collect();
            for transfer in &mut transfers {
                transfer.from = payers[self.rng.random_range(0..payers.len())].clone();
            }
        }
        let atomic = self.pm(600);
        batch.push(Command::TransferBatch(TransferBatch { atomic, transfers }));
    }

    pub(super) fn drain_and_close(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let account = self.closable(model);
        let Some(a) = model.accounts.get(&account) else { return };
        if a.held == 0 && a.posted > 0 {
            let withdrawal = self.fresh("w");
            let amount = u64::try_from(a.posted).expect("positive");
            batch.push(Command::Withdraw(Movement { id: withdrawal, account: account.clone(), amount }));
        } else if a.held == 0 && a.posted < 0 {
            let deposit = self.fresh("d");
            let amount = a.posted.unsigned_abs();
            batch.push(Command::Deposit(Movement { id: deposit, account: account.clone(), amount }));
        }
        batch.push(Command::CloseAccount { account });
    }

    // ----- holds -----------------------------------------------------------------------------

    pub(super) fn place_hold(&mut self, model: &Model, now: TimestampMs, batch: &mut Vec<Command>) {
        if self.pm(30) {
            // A POS hold's id (settlement id): the same body is a repeat, another id_reused.
            let settlement = self.existing("s", |g| &g.settlements);
            if let Some(hold) = model.holds.get(&settlement) {
                let mut place = PlaceHold {
                    id: settlement,
                    from: hold.from.clone(),
                    to: hold.to.clone(),
                    amount: hold.amount,
                    currency: hold.currency,
                    expires_at_ms: hold.expires_at_ms,
                };
                if self.pm(500) {
                    place.amount += 1;
                }
                batch.push(Command::PlaceHold(place));
                return;
            }
        }
        let transfer = self.transfer_body(model, None);
        let amount = match model.accounts.get(&transfer.from) {
            Some(a) if self.pm(600) => {
                let room = u64::try_from((a.available() / 3).max(1)).unwrap_or(1);
                self.range(1, room.min(AMOUNT_MINOR_MAX))
            }
            _ => transfer.amount,
        };
        let hold = self.fresh("h");
        self.holds.push(hold.clone());
        let expires_at_ms = self.expiry(now, HOLD_TTL_MS_MAX);
        batch.push(Command::PlaceHold(PlaceHold {
            id: hold,
            from: transfer.from,
            to: transfer.to,
            amount,
            currency: transfer.currency,
            expires_at_ms,
        }));
    }

    pub(super) fn capture_hold(&mut self, model: &Model, batch: &mut Vec<Command>) {
        let hold = if self.pm(250) {
            self.aim("s", |g| &g.settlements, |h| active_hold(model, h))
        } else {
            self.aim("h", |g| &g.holds, |h| active_hold(model, h))
        };
        let amount = match model.holds.get(&hold) {
            Some(h) => match (h.status, self.rng.random_range(0..100)) {
                (HoldStatus::Captured(captured), 0..60) => captured,
                (_, 0..45) => h.amount,
                (_, 45..80) => self.range(1, h.amount),
                (_, 80..90) => h.amount + 1,
                (_, 90..95) => 0,
                _ => self.money(),
            },
            None => self.money(),
        };
        batch.push(Command::CaptureHold(CaptureHold { hold, amount }));
    }
}
