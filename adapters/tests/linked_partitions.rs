//! Transfer batches across partitions, through a real `kassa serve --partitions 3`: linked ones
//! (`atomic: true`, payees and payers anywhere) apply all legs or none, a refused payee or payer
//! anywhere naming its leg; independent ones answer each leg; a repeat answers as the first
//! did (after a kill -9 too), and the money adds up.

mod common;

use common::{ADMIN_KEY, Answer, Server};
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

/// Independent batches (`atomic: false`) whose payers live on every partition, through the
/// same server: each leg is applied once where its payer lives and answers its own outcome; a
/// tenant's batch is checked for every payer wherever it lives, and one naming another
/// tenant's payer is refused whole.
#[test]
fn independent_batches_with_payers_on_every_partition_pay_each_leg_once() {
    let server = Server::start(&["--partitions", "3"]);
    for n in 0..8 {
        server.funded_account(&format!("ib-{n}"), "EUR", 100);
    }
    let mut legs: Vec<Value> =
        (0..8).map(|n| leg(&format!("ib-leg-{n}"), &format!("ib-{n}"), &format!("ib-{}", (n + 1) % 8), 40)).collect();
    legs.push(leg("ib-none", "ib-nobody", "ib-0", 5));
    legs.push(leg("ib-much", "ib-3", "ib-4", 500));
    let batch = json!({"atomic": false, "transfers": legs});
    let answered = server.admin("POST", "/v1/transfers/batch", batch.clone());
    assert_eq!(answered["applied"], json!(false), "{answered:?}");
    let results = answered["results"].as_array().unwrap();
    assert!(results[..8].iter().all(|result| result["status"] != json!("rejected")), "{answered:?}");
    assert_eq!(results[8]["error"]["code"], json!("account_not_found"), "{answered:?}");
    assert_eq!(results[9]["error"]["code"], json!("insufficient_funds"), "{answered:?}");
    assert!((0..8).all(|n| server.balance(&format!("ib-{n}")).0 == 100), "each paid 40 and was paid 40");
    // A repeat answers alike and moves nothing.
    assert_eq!(server.admin("POST", "/v1/transfers/batch", batch)["results"], answered["results"]);
    let one_way: Vec<Value> = (1..8).map(|n| leg(&format!("ib-one-{n}"), &format!("ib-{n}"), "ib-0", 10)).collect();
    server.admin("POST", "/v1/transfers/batch", json!({"atomic": false, "transfers": one_way}));
    assert_eq!(server.balance("ib-0").0, 170);
    assert_eq!((0..8).map(|n| server.balance(&format!("ib-{n}")).0).sum::<i64>(), 800, "money is conserved");

    // A tenant's own accounts, wherever they live, pay in one batch; another tenant's payer
    // refuses the whole batch.
    let (wallet, other) =
        (server.key(json!({"role": "app", "app": "wallet"})), server.key(json!({"role": "app", "app": "other"})));
    for n in 0..6 {
        let opened = server.call(
            "POST",
            "/v1/accounts",
            Some(&wallet),
            Some(&json!({"id": format!("w-{n}"), "currency": "EUR"})),
        );
        assert_eq!(opened.status, 200, "{opened:?}");
        server.admin("POST", &format!("/v1/accounts/w-{n}/deposits"), json!({"id": format!("wd-{n}"), "amount": 50}));
    }
    let own: Vec<Value> = (0..6).map(|n| leg(&format!("w-leg-{n}"), &format!("w-{n}"), "ib-0", 20)).collect();
    let paid =
        server.call("POST", "/v1/transfers/batch", Some(&wallet), Some(&json!({"atomic": false, "transfers": own})));
    assert_eq!((paid.status, paid.body["applied"].clone()), (200, json!(true)), "{paid:?}");
    assert!((0..6).all(|n| server.balance(&format!("w-{n}")).0 == 30));
    let theirs: Vec<Value> = (0..6).map(|n| leg(&format!("o-leg-{n}"), &format!("w-{n}"), "ib-0", 1)).collect();
    let refused =
        server.call("POST", "/v1/transfers/batch", Some(&other), Some(&json!({"atomic": false, "transfers": theirs})));
    assert_eq!(refused.code(), "forbidden", "{refused:?}");
    assert!((0..6).all(|n| server.balance(&format!("w-{n}")).0 == 30), "nothing moved");
}

fn linked(server: &Server, key: &str, legs: Vec<Value>) -> Answer {
    server.call("POST", "/v1/transfers/batch", Some(key), Some(&json!({"atomic": true, "transfers": legs})))
}

/// Linked batches whose payers live on every partition: each payer's funds are reserved where
/// it lives before the batch is decided, then every leg is paid or none; a payer short of funds
/// refuses the whole batch naming its leg and leaves nothing reserved; a tenant pays from its
/// own accounts wherever they live, another tenant's payer is refused before anything is
/// reserved; after a kill -9 a repeat is answered as the first was.
#[test]
fn linked_batches_with_payers_on_every_partition_pay_all_or_nothing() {
    let mut server = Server::start(&["--partitions", "3"]);
    for n in 0..8 {
        server.funded_account(&format!("lk-{n}"), "EUR", 100);
    }
    server.funded_account("lk-sink", "EUR", 0);
    let ring = |prefix: &str, amount: u64| -> Vec<Value> {
        (0..8)
            .map(|n| leg(&format!("{prefix}-{n}"), &format!("lk-{n}"), &format!("lk-{}", (n + 1) % 8), amount))
            .collect()
    };
    let applied = linked(&server, ADMIN_KEY, ring("ring", 40));
    assert_eq!((applied.status, applied.body["applied"].clone()), (200, json!(true)), "{applied:?}");
    assert!((0..8).all(|n| server.balance(&format!("lk-{n}")).0 == 100), "each paid 40 and was paid 40");
    let mut short = ring("short", 40);
    short.push(leg("short-much", "lk-5", "lk-sink", 500));
    let refused = linked(&server, ADMIN_KEY, short);
    assert_eq!(refused.code(), "insufficient_funds", "{refused:?}");
    assert_eq!(refused.body["error"]["leg"], json!(8), "{refused:?}");
    // Nothing moved and nothing stays reserved: every payer can give everything to the sink.
    let all: Vec<Value> = (0..8).map(|n| leg(&format!("all-{n}"), &format!("lk-{n}"), "lk-sink", 100)).collect();
    let drained = linked(&server, ADMIN_KEY, all.clone());
    assert_eq!(drained.body["applied"], json!(true), "{drained:?}");
    assert_eq!(server.balance("lk-sink").0, 800);
    assert!((0..8).all(|n| server.balance(&format!("lk-{n}")).0 == 0));

    // A tenant's own payers, wherever they live; another tenant's payer refuses the batch.
    let (wallet, other) =
        (server.key(json!({"role": "app", "app": "wallet"})), server.key(json!({"role": "app", "app": "other"})));
    for n in 0..6 {
        let body = json!({"id": format!("lw-{n}"), "currency": "EUR"});
        assert_eq!(server.call("POST", "/v1/accounts", Some(&wallet), Some(&body)).status, 200);
        server.admin("POST", &format!("/v1/accounts/lw-{n}/deposits"), json!({"id": format!("lwd-{n}"), "amount": 50}));
    }
    let own: Vec<Value> = (0..6).map(|n| leg(&format!("lw-leg-{n}"), &format!("lw-{n}"), "lk-sink", 20)).collect();
    let paid = linked(&server, &wallet, own.clone());
    assert_eq!((paid.status, paid.body["applied"].clone()), (200, json!(true)), "{paid:?}");
    let theirs: Vec<Value> = (0..6).map(|n| leg(&format!("lo-leg-{n}"), &format!("lw-{n}"), "lk-sink", 30)).collect();
    assert_eq!(linked(&server, &other, theirs).code(), "forbidden");
    let rest: Vec<Value> = (0..6).map(|n| leg(&format!("lw-rest-{n}"), &format!("lw-{n}"), "lk-sink", 30)).collect();
    assert_eq!(linked(&server, &wallet, rest).body["applied"], json!(true), "nothing was reserved for the refused one");
    assert_eq!(server.balance("lk-sink").0, 800 + 6 * 50);

    // After a kill -9, repeats are answered as the first were and move nothing.
    server.restart();
    assert_eq!(linked(&server, ADMIN_KEY, all).body["applied"], json!(true));
    assert_eq!(linked(&server, &wallet, own).body["applied"], json!(true));
    assert_eq!(server.balance("lk-sink").0, 800 + 6 * 50);
    assert!((0..6).all(|n| server.balance(&format!("lw-{n}")).0 == 0));
}
