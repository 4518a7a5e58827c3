//! Refunds of POS settlements and paid bills: mostly part of what is left, sometimes all of it,
//! more than is left, nothing, a retry of a refund given (same amount) or its id with another
//! amount, and refunds of objects that charged nothing or do not exist.

use kassa_engine::Command;
use kassa_engine::command::Refund;
use rand::Rng;

use super::Generator;
use crate::model::{BillStatus, Model, Refunded};

impl Generator {
    /// A refund of a settlement (`kind` Settlement) or a bill.
    pub(super) fn refund(&mut self, model: &Model, kind: Refunded, batch: &mut Vec<Command>) {
        let of = match kind {
            Refunded::Settlement => self.aim(
                "s",
                |g| &g.settlements,
                |s| model.settlements.get(s).is_some_and(|s| s.effect.as_ref().is_some_and(|e| !e.reversed)),
            ),
            Refunded::Bill => self.aim(
                "b",
                |g| &g.bills,
                |b| model.bills.get(b).is_some_and(|b| matches!(b.status, BillStatus::Paid { .. })),
            ),
        };
        let charged = match kind {
            Refunded::Settlement => model.settlements.get(&of).and_then(|s| s.effect.as_ref()).map_or(0, |e| e.charged),
            Refunded::Bill => match model.bills.get(&of).map(|b| &b.status) {
                Some(BillStatus::Paid { charged, .. }) => *charged,
                _ => 0,
            },
        };
        let given = model.refunds_of(kind, &of);
        let left = charged.saturating_sub(given.iter().map(|g| g.amount).sum());
        let earlier = self.pick(given);
        let (refund, amount) = match earlier {
            // A retry (the first answer again) or the id with another amount (`id_reused`).
            Some(earlier) if self.pm(150) => {
                let amount = if self.pm(700) { earlier.amount } else { earlier.amount + 1 };
                (earlier.id, amount)
            }
            _ => {
                let amount = match self.rng.random_range(0..100) {
                    0..60 => left,
                    60..80 => left + self.range(1, 1_000),
                    80..85 => 0,
                    _ => self.range(1, left.max(1)),
                };
                (self.fresh("r"), amount)
            }
        };
        let refund = Refund { of, refund, amount };
        batch.push(match kind {
            Refunded::Settlement => Command::RefundPos(refund),
            Refunded::Bill => Command::RefundBill(refund),
        });
    }
}
