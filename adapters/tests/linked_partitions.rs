//! Linked transfer batches (`atomic: true`) whose payees live on other partitions, through a
//! real `kassa serve --partitions 3`: all legs apply or none does, a refused payee anywhere
//! names its leg, a repeat answers as the first did, and the money adds up.

mod common;

use common::{ADMIN_KEY, Server};
use serde_json::{Value, json};

fn leg(id: &str, from: &str, to: &str, amount: u64) -> Value {
    json!({"id": id, "from": from, "to": to, "amount": amount, "currency": "EUR"})
}

#[test]
fn linked_batches_pay_every_partition_all_or_nothing() {
    let server = Server::start(&["--partitions", "3"]);
    server.funded_account("lp-payer", "EUR", 1_000);
    // Eight payees: with three partitions, some live where the payer does and most elsewhere.
    for n in 0..8 {
        server.funded_account(&format!("lp-to-{n}"), "EUR", 0);
    }
    let legs: Vec<Value> = (0..8).map(|n| leg(&format!("ok-{n}"), "lp-payer", &format!("lp-to-{n}"), 50)).collect();
    let batch = json!({"atomic": true, "transfers": legs});
    let applied = server.admin("POST", "/v1/transfers/batch", batch.clone());
    assert_eq!(applied["applied"], json!(true), "{applied:?}");
    assert_eq!(server.balance("lp-payer").0, 600);
    assert!((0..8).all(|n| server.balance(&format!("lp-to-{n}")).0 == 50));
    // A repeat is answered as the first was and moves nothing.
    assert_eq!(server.admin("POST", "/v1/transfers/batch", batch)["applied"], json!(true));
    assert_eq!(server.balance("lp-payer").0, 600);

    // A missing payee (on whichever partition its id lives) refuses the whole batch, naming its leg.
    let mut legs: Vec<Value> = (0..8).map(|n| leg(&format!("no-{n}"), "lp-payer", &format!("lp-to-{n}"), 10)).collect();
    legs.insert(5, leg("no-missing", "lp-payer", "lp-nobody", 10));
    let refused =
        server.call("POST", "/v1/transfers/batch", Some(ADMIN_KEY), Some(&json!({"atomic": true, "transfers": legs})));
    assert_eq!(refused.code(), "counterparty_not_found", "{refused:?}");
    assert_eq!(refused.body["error"]["leg"], json!(5), "{refused:?}");
    assert_eq!(server.balance("lp-payer").0, 600, "nothing moved");
    assert!((0..8).all(|n| server.balance(&format!("lp-to-{n}")).0 == 50));
    // Its payees were released: an empty one may close.
    server.funded_account("lp-empty", "EUR", 0);
    let legs = vec![leg("rel-0", "lp-payer", "lp-empty", 10), leg("rel-1", "lp-payer", "lp-nobody", 10)];
    let refused =
        server.call("POST", "/v1/transfers/batch", Some(ADMIN_KEY), Some(&json!({"atomic": true, "transfers": legs})));
    assert_eq!(refused.code(), "counterparty_not_found", "{refused:?}");
    let closed = server.call("POST", "/v1/accounts/lp-empty/close", Some(ADMIN_KEY), Some(&json!({})));
    assert_eq!(closed.status, 200, "{closed:?}");

    // Not enough money for the last leg: nothing moves anywhere.
    let legs: Vec<Value> = (0..8).map(|n| leg(&format!("big-{n}"), "lp-payer", &format!("lp-to-{n}"), 80)).collect();
    let refused =
        server.call("POST", "/v1/transfers/batch", Some(ADMIN_KEY), Some(&json!({"atomic": true, "transfers": legs})));
    assert_eq!(refused.code(), "insufficient_funds", "{refused:?}");
    assert_eq!(refused.body["error"]["leg"], json!(7), "{refused:?}");
    assert_eq!(server.balance("lp-payer").0, 600);
    let total: i64 =
        (0..8).map(|n| server.balance(&format!("lp-to-{n}")).0).sum::<i64>() + server.balance("lp-payer").0;
    assert_eq!(total, 1_000, "money is conserved");
}
