//! Refunds over HTTP against a real `kassa serve`: a POS settlement and a paid bill refunded in
//! parts by their merchant (and the settlement by its terminal), retries answered once, the
//! bounds, other tenants refused, and what lookups, history and a reversal show afterwards.

mod common;

use common::{ADMIN_KEY, Server};
use serde_json::{Value, json};

fn refund(server: &Server, key: &str, path: &str, refund: &str, amount: u64) -> common::Answer {
    server.call("POST", path, Some(key), Some(&json!({"id": refund, "amount": amount})))
}

#[test]
fn a_settlement_is_refunded_in_parts_by_its_merchant_and_terminal() {
    let server = Server::start(&[]);
    server.funded_account("alice", "EUR", 10_000);
    server.merchant_with_terminal("m1", "t1", None);
    server.merchant_with_terminal("m2", "t2", None);
    let (merchant, terminal) = (
        server.key(json!({"role": "merchant", "merchant": "m1"})),
        server.key(json!({"role": "terminal", "terminal": "t1"})),
    );
    let rival = server.key(json!({"role": "merchant", "merchant": "m2"}));
    let code = server.authorize("au-1", "u1", "alice", 5_000);
    let settle = json!({"id": "s-1", "user": "u1", "code": code, "amount": 4_000, "terminal": "t1"});
    assert_eq!(server.admin("POST", "/v1/pos/settlements", settle)["approved"], json!(true));
    let path = "/v1/pos/settlements/s-1/refunds";

    let first = refund(&server, &merchant, path, "r-1", 1_500);
    assert_eq!(first.status, 200, "{:?}", first.body);
    assert_eq!(first.body, json!({"id": "r-1", "settlement": "s-1", "amount": 1_500, "remaining": 2_500}));
    // The retry is answered again and moves nothing; the same id with another amount is refused.
    assert_eq!(refund(&server, &merchant, path, "r-1", 1_500).body, first.body);
    assert_eq!(server.balance("alice").0, 7_500);
    refund(&server, &merchant, path, "r-1", 1_000).assert_error(409, "id_reused");
    refund(&server, &terminal, path, "r-2", 2_501).assert_error(422, "refund_exceeds_charge");
    refund(&server, &terminal, path, "r-2", 0).assert_error(422, "invalid_amount");
    let by_terminal = refund(&server, &terminal, path, "r-2", 500);
    assert_eq!(by_terminal.body["remaining"], json!(2_000), "{:?}", by_terminal.body);
    // Another merchant, and malformed bodies, change nothing.
    refund(&server, &rival, path, "r-3", 1).assert_error(403, "forbidden");
    let extra = json!({"id": "r-3", "amount": 1, "currency": "EUR"});
    server.call("POST", path, Some(ADMIN_KEY), Some(&extra)).assert_error(400, "malformed_request");
    refund(&server, ADMIN_KEY, "/v1/pos/settlements/nope/refunds", "r-1", 1).assert_error(404, "settlement_not_found");

    let found = server.admin_get("/v1/pos/settlements/s-1");
    assert_eq!(found["refunded"], json!(2_000));
    assert_eq!(found["refunds"], json!([{"id": "r-1", "amount": 1_500}, {"id": "r-2", "amount": 500}]));
    let history = server.admin_get("/v1/accounts/alice/history?limit=1");
    assert_eq!(
        (history["data"][0]["kind"].clone(), history["data"][0]["ref"].clone()),
        (json!("pos_refund"), json!("s-1"))
    );
    // The reversal gives back only what the refunds left; nothing more after it.
    server.admin("POST", "/v1/pos/settlements/s-1/reverse", json!({}));
    assert_eq!((server.balance("alice").0, server.balance("m1-till").0), (10_000, 0));
    refund(&server, &merchant, path, "r-4", 1).assert_error(422, "refund_exceeds_charge");
}

#[test]
fn a_paid_bill_is_refunded_by_its_merchant_only() {
    let server = Server::start(&[]);
    server.funded_account("alice", "EUR", 10_000);
    server.merchant_with_terminal("m1", "t1", None);
    let merchant = server.key(json!({"role": "merchant", "merchant": "m1"}));
    let app = server.key(json!({"role": "app", "app": "wallet"}));
    server.admin(
        "POST",
        "/v1/bills",
        json!({"id": "b-1", "user": "u1", "account": "alice", "merchant": "m1", "expires_in_s": 600}),
    );
    let item = json!({"terminal": "t1", "item_ref": "sku", "quantity": 3, "unit_amount": 250});
    server.admin("POST", "/v1/bills/b-1/items", item);
    let path = "/v1/bills/b-1/refunds";
    refund(&server, ADMIN_KEY, path, "r-1", 1).assert_error(422, "not_reversible");
    let submitted = server.admin("POST", "/v1/bills/b-1/submit", json!({}));
    let challenge: Value = submitted["challenge"].clone();
    server.admin("POST", "/v1/bills/b-1/confirm", json!({"challenge": challenge}));
    assert_eq!(server.balance("alice").0, 9_250);

    let answer = refund(&server, &merchant, path, "r-1", 700);
    assert_eq!(answer.body, json!({"id": "r-1", "bill": "b-1", "amount": 700, "remaining": 50}));
    refund(&server, &app, path, "r-2", 1).assert_error(403, "forbidden");
    refund(&server, &merchant, path, "r-2", 51).assert_error(422, "refund_exceeds_charge");
    let bill = server.admin_get("/v1/bills/b-1");
    assert_eq!((bill["status"].clone(), bill["refunded"].clone()), (json!("paid"), json!(700)));
    assert_eq!(server.balance("alice").0, 9_950);
}

/// Money never lands in a closed account over HTTP: a reversal to a payer closed since is
/// refused as its refund is, and a split member whose paid share sits in escrow cannot close
/// the account a cancel would pay it back to.
#[test]
fn no_reversal_or_split_refund_lands_in_a_closed_account() {
    let server = Server::start(&[]);
    server.funded_account("carol", "EUR", 1_000);
    server.merchant_with_terminal("m3", "t3", None);
    let code = server.authorize("au-3", "u3", "carol", 5_000);
    let settle = json!({"id": "s-3", "user": "u3", "code": code, "amount": 1_000, "terminal": "t3"});
    assert_eq!(server.admin("POST", "/v1/pos/settlements", settle)["approved"], json!(true));
    server.admin("POST", "/v1/accounts/carol/close", json!({}));
    let reverse = server.call("POST", "/v1/pos/settlements/s-3/reverse", Some(ADMIN_KEY), Some(&json!({})));
    reverse.assert_error(422, "account_closed");
    assert_eq!((server.balance("carol").0, server.balance("m3-till").0), (0, 1_000), "nothing moved");

    for account in ["dora", "dan", "req"] {
        server.funded_account(account, "EUR", if account == "dora" { 500 } else { 0 });
    }
    let members = json!([{"user": "ud", "account": "dora"}, {"user": "un", "account": "dan"}]);
    let split = json!({"id": "sp-1", "requester": "ur", "requester_account": "req", "total": 1_000,
        "currency": "EUR", "members": members, "expires_in_s": 600});
    server.admin("POST", "/v1/splits", split);
    server.admin("POST", "/v1/splits/sp-1/pay", json!({"member": "ud"}));
    assert_eq!(server.balance("dora").0, 0);
    let close = server.call("POST", "/v1/accounts/dora/close", Some(ADMIN_KEY), Some(&json!({})));
    close.assert_error(422, "account_not_empty");
    assert_eq!(server.admin("POST", "/v1/splits/sp-1/cancel", json!({}))["refunded"], json!(500));
    assert_eq!(server.balance("dora").0, 500);
    let withdraw = json!({"id": "w-dora", "amount": 500});
    server.admin("POST", "/v1/accounts/dora/withdrawals", withdraw);
    server.admin("POST", "/v1/accounts/dora/close", json!({}));
}

/// How many merchants the tests on three partitions register: their accounts live wherever their
/// ids place them, so some live off the home partition (all on it: one chance in 3^12).
const MERCHANTS: usize = 12;

/// Registers merchants `m0`.. with terminals `t0`.. and accounts `till-0`.. on any partition;
/// returns the accounts.
fn merchants_on_every_partition(server: &Server) -> Vec<String> {
    (0..MERCHANTS)
        .map(|n| {
            let takings = format!("till-{n}");
            server.funded_account(&takings, "EUR", 0);
            server.admin("POST", "/v1/merchants", json!({"id": format!("m{n}"), "account": takings}));
            server.admin("POST", "/v1/terminals", json!({"id": format!("t{n}"), "merchant": format!("m{n}")}));
            takings
        })
        .collect()
}

/// On three partitions, as an app backend and a terminal see it: payers on every partition
/// authorize and pay merchants whose accounts live on every partition, and are refunded and
/// reversed; every sale answers once, and the money adds up.
#[test]
fn sales_with_payers_on_every_partition_are_paid_refunded_and_reversed() {
    let server = Server::start(&["--partitions", "3"]);
    let takings = merchants_on_every_partition(&server);
    for n in 0..12 {
        let (payer, user) = (format!("payer-{n}"), format!("u{n}"));
        let terminal_id = format!("t{}", (n * 5) % MERCHANTS);
        let terminal = server.key(json!({"role": "terminal", "terminal": terminal_id}));
        server.funded_account(&payer, "EUR", 10_000);
        let code = server.authorize(&format!("au-{n}"), &user, &payer, 5_000);
        let settlement = format!("s-{n}");
        let settle = json!({"id": settlement, "user": user, "code": code, "amount": 4_000, "terminal": terminal_id});
        let sold = server.call("POST", "/v1/pos/settlements", Some(&terminal), Some(&settle));
        assert_eq!(sold.body["approved"], json!(true), "{:?}", sold.body);
        assert_eq!(server.call("POST", "/v1/pos/settlements", Some(&terminal), Some(&settle)).body, sold.body);
        // The code was used: another sale with it is declined, and moves nothing.
        let again = json!({"id": format!("{settlement}-again"), "user": user, "code": code, "amount": 1, "terminal": terminal_id});
        assert_eq!(
            server.call("POST", "/v1/pos/settlements", Some(&terminal), Some(&again)).body["approved"],
            json!(false)
        );
        let path = format!("/v1/pos/settlements/{settlement}/refunds");
        assert_eq!(refund(&server, &terminal, &path, "r-1", 1_000).body["remaining"], json!(3_000));
        if n % 2 == 0 {
            let reversed = server.call(
                "POST",
                &format!("/v1/pos/settlements/{settlement}/reverse"),
                Some(&terminal),
                Some(&json!({})),
            );
            assert_eq!(reversed.status, 200, "{:?}", reversed.body);
        }
        let expected = if n % 2 == 0 { 10_000 } else { 7_000 };
        assert_eq!(server.balance(&payer).0, expected, "payer {n}");
    }
    // Six sales kept, each 4,000 less a 1,000 refund.
    assert_eq!(takings.iter().map(|account| server.balance(account).0).sum::<i64>(), 6 * 3_000);
}

/// On three partitions, as an app backend and a merchant see it: bills charging accounts on
/// every partition are opened, paid once, refunded and cancelled; an account that cannot pay is
/// declined and leaves its bill submitted, and the money adds up.
#[test]
fn bills_with_accounts_on_every_partition_are_paid_and_refunded() {
    let server = Server::start(&["--partitions", "3"]);
    let takings = merchants_on_every_partition(&server);
    for n in 0..12 {
        let (account, bill) = (format!("payer-{n}"), format!("b-{n}"));
        let (merchant_id, terminal_id) = (format!("m{}", (n * 5) % MERCHANTS), format!("t{}", (n * 5) % MERCHANTS));
        let merchant = server.key(json!({"role": "merchant", "merchant": merchant_id}));
        // Every third account cannot pay the whole bill.
        server.funded_account(&account, "EUR", if n % 3 == 2 { 500 } else { 10_000 });
        let open = json!({"id": bill, "user": format!("u{n}"), "account": account, "merchant": merchant_id, "expires_in_s": 600});
        server.admin("POST", "/v1/bills", open);
        let item = json!({"terminal": terminal_id, "item_ref": "sku", "quantity": 4, "unit_amount": 250});
        server.admin("POST", &format!("/v1/bills/{bill}/items"), item);
        let submitted = server.admin("POST", &format!("/v1/bills/{bill}/submit"), json!({}));
        let confirm = json!({"challenge": submitted["challenge"].clone()});
        let path = format!("/v1/bills/{bill}/confirm");
        let paid = server.call("POST", &path, Some(ADMIN_KEY), Some(&confirm));
        if n % 3 == 2 {
            paid.assert_error(422, "insufficient_funds");
            assert_eq!(server.admin_get(&format!("/v1/bills/{bill}"))["status"], json!("submitted"));
            server.admin("POST", &format!("/v1/bills/{bill}/cancel"), json!({}));
            assert_eq!(server.balance(&account).0, 500, "bill {n} declined, nothing moved");
            continue;
        }
        assert_eq!(paid.status, 200, "{:?}", paid.body);
        assert_eq!(server.call("POST", &path, Some(ADMIN_KEY), Some(&confirm)).body, paid.body, "paid once");
        let answer = refund(&server, &merchant, &format!("/v1/bills/{bill}/refunds"), "r-1", 300);
        assert_eq!(answer.body["remaining"], json!(700), "{:?}", answer.body);
        assert_eq!(server.balance(&account).0, 10_000 - 1_000 + 300, "bill {n}");
    }
    // Eight bills paid, each 1,000 less a 300 refund.
    assert_eq!(takings.iter().map(|account| server.balance(account).0).sum::<i64>(), 8 * 700);
}

/// On three partitions, a sale that names no currency is in its terminal's merchant's account's,
/// wherever that account lives: twelve JPY merchants, each paid once in yen.
#[test]
fn a_sale_without_a_currency_is_in_its_merchants_wherever_its_account_lives() {
    let server = Server::start(&["--partitions", "3"]);
    server.funded_account("yen-payer", "JPY", 100_000);
    for n in 0..MERCHANTS {
        let till = format!("yen-till-{n}");
        server.funded_account(&till, "JPY", 0);
        server.admin("POST", "/v1/merchants", json!({"id": format!("ym{n}"), "account": till}));
        server.admin("POST", "/v1/terminals", json!({"id": format!("yt{n}"), "merchant": format!("ym{n}")}));
        let code = server.authorize(&format!("yen-au-{n}"), "yen-user", "yen-payer", 1_000);
        let settle = json!({"id": format!("yen-s-{n}"), "user": "yen-user", "code": code, "amount": 100, "terminal": format!("yt{n}")});
        let sold = server.admin("POST", "/v1/pos/settlements", settle);
        assert_eq!(sold["approved"], json!(true), "merchant {n}: {sold:?}");
        assert_eq!(server.balance(&till).0, 100, "merchant {n}");
    }
}
