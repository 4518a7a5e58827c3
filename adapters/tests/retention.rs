//! Resolved objects leave memory, against a real `kassa serve --resolved-in-memory-secs 1`: a
//! POS sale's settlement and authorization move to storage a second after they resolved, and
//! the HTTP API answers as before: their lookups (with metadata), the merchant's list of
//! settlements, the app's lists of authorizations and holds (a voided hold leaves memory too),
//! the event feed, a retried void, a retried settlement (its first
//! answer, charged once), a retried authorization (its code), a refund and a reversal; and after a
//! restart. A redeemed coupon and its redemption likewise.

mod common;

use std::time::{Duration, Instant};

use common::{ADMIN_KEY, Server};
use serde_json::{Value, json};

/// Waits until the settlement has left memory: the server's `kassa_objects_archived_total`
/// counter has counted `at_least` objects.
fn wait_archived(server: &Server, at_least: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = server.call("GET", "/metrics", None, None);
        let counted = (metrics.body.as_str().unwrap_or(""))
            .lines()
            .find_map(|line| line.strip_prefix("kassa_objects_archived_total ")?.trim().parse::<f64>().ok())
            .unwrap_or(0.0);
        if counted >= at_least as f64 {
            return;
        }
        assert!(Instant::now() < deadline, "nothing left memory within 20 s (counted {counted})");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_sale_out_of_memory_is_still_looked_up_listed_retried_refunded_and_reversed() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    let app = server.key(json!({"role": "app", "app": "shop-app"}));
    let merchant = server.key(json!({"role": "merchant", "merchant": "m1"}));
    server.merchant_with_terminal("m1", "t1", None);
    let call = |method: &str, path: &str, key: &str, body: Option<Value>| {
        let answer = server.call(method, path, Some(key), body.as_ref());
        assert_eq!(answer.status, 200, "{method} {path}: {answer:?}");
        answer.body
    };
    call("POST", "/v1/accounts", &app, Some(json!({"id": "a1", "currency": "EUR"})));
    call("POST", "/v1/accounts", &app, Some(json!({"id": "a2", "currency": "EUR"})));
    server.admin("POST", "/v1/accounts/a1/deposits", json!({"id": "fund", "amount": 10_000}));
    let hold = json!({"id": "h-1", "from": "a1", "to": "a2", "amount": 100, "currency": "EUR", "expires_in_s": 600,
                      "metadata": {"order": "H-1"}});
    call("POST", "/v1/holds", &app, Some(hold));
    let voided = call("POST", "/v1/holds/h-1/void", &app, None);
    let authorize = json!({"id": "au-1", "user": "u1", "account": "a1", "limit": 5_000, "expires_in_s": 600});
    let code = call("POST", "/v1/authorizations", &app, Some(authorize.clone()))["code"].as_str().unwrap().to_string();
    let sale = json!({"id": "s-1", "user": "u1", "code": code, "amount": 4_000, "terminal": "t1",
                      "metadata": {"order": "O-1"}});
    let first = call("POST", "/v1/pos/settlements", ADMIN_KEY, Some(sale.clone()));
    assert_eq!(first["approved"], json!(true), "{first}");
    let looked_up = server.admin_get("/v1/pos/settlements/s-1");
    wait_archived(&server, 3);

    let check = |server: &Server| {
        assert_eq!(server.admin_get("/v1/pos/settlements/s-1"), looked_up, "as it was in memory");
        let mine = server.call("GET", "/v1/pos/settlements/s-1", Some(&merchant), None);
        assert_eq!(mine.body["metadata"], json!({"order": "O-1"}), "{mine:?}");
        server.call("GET", "/v1/pos/settlements/s-1", Some(&app), None).assert_error(403, "forbidden");
        server.call("GET", "/v1/pos/settlements/none", Some(ADMIN_KEY), None).assert_error(404, "settlement_not_found");
        let listed = server.call("GET", "/v1/merchants/m1/settlements", Some(&merchant), None);
        assert_eq!(listed.body["data"].as_array().unwrap().len(), 1, "{listed:?}");
        assert_eq!(listed.body["data"][0]["id"], json!("s-1"));
        let authorization = server.call("GET", "/v1/authorizations/au-1", Some(&app), None);
        assert_eq!(authorization.body["status"], json!("used"), "{authorization:?}");
        let owned = server.call("GET", "/v1/authorizations", Some(&app), None);
        assert_eq!(owned.body["data"][0]["id"], json!("au-1"), "{owned:?}");
        let hold = server.call("GET", "/v1/holds/h-1", Some(&app), None);
        assert_eq!(
            (hold.body["status"].clone(), hold.body["metadata"].clone()),
            (json!("voided"), json!({"order": "H-1"}))
        );
        let holds = server.call("GET", "/v1/holds", Some(&app), None);
        assert_eq!(holds.body["data"][0]["id"], json!("h-1"), "{holds:?}");
        let feed = server.call("GET", "/v1/events?limit=1000", Some(&app), None);
        let about_au1 =
            feed.body["data"].as_array().unwrap().iter().filter(|event| event["object_id"] == "au-1").count();
        assert!(about_au1 >= 2, "the app still sees its authorization's events: {feed:?}");
    };
    check(&server);
    assert_eq!(call("POST", "/v1/holds/h-1/void", &app, None), voided, "a retried void answers as the first did");

    // A retried sale gets its first answer and charges nothing more; a retried authorization
    // its code.
    let retried = call("POST", "/v1/pos/settlements", ADMIN_KEY, Some(sale.clone()));
    assert_eq!(retried["approval_code"], first["approval_code"]);
    assert_eq!(server.balance("a1").0, 6_000);
    let mut changed = sale;
    changed["amount"] = json!(4_001);
    server.call("POST", "/v1/pos/settlements", Some(ADMIN_KEY), Some(&changed)).assert_error(409, "id_reused");
    wait_archived(&server, 5);
    assert_eq!(call("POST", "/v1/authorizations", &app, Some(authorize))["code"], json!(code));
    wait_archived(&server, 6);
    call("POST", "/v1/pos/settlements/s-1/refunds", &merchant, Some(json!({"id": "r-1", "amount": 1_000})));
    wait_archived(&server, 7);
    call("POST", "/v1/pos/settlements/s-1/reverse", &merchant, Some(json!({})));
    assert_eq!((server.balance("a1").0, server.balance("m1-till").0), (10_000, 0));
    server.restart();
    assert_eq!(server.balance("a1").0, 10_000);
    assert_eq!(server.call("GET", "/v1/holds/h-1", Some(&app), None).body["status"], json!("voided"));
    let reversed = server.admin_get("/v1/pos/settlements/s-1");
    assert_eq!((reversed["reversed"].clone(), reversed["refunded"].clone()), (json!(true), json!(1_000)));
}

/// A redeemed coupon leaves memory a second later and is still found: by id (its holder's app
/// and its merchant, with its code), in its holder's list; a retried redemption gets its first
/// answer, and its code verified or redeemed again is refused `coupon_redeemed`, as in memory.
#[test]
fn a_redeemed_coupon_out_of_memory_is_still_found_and_not_redeemed_twice() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    let app = server.key(json!({"role": "app", "app": "shop-app"}));
    let merchant = server.key(json!({"role": "merchant", "merchant": "m1"}));
    server.merchant_with_terminal("m1", "t1", None);
    server.admin("POST", "/v1/operators", json!({"id": "op1", "merchant": "m1"}));
    let operator = server.key(json!({"role": "operator", "operator": "op1"}));
    // The app claims user u1 (its authorization acts for the user).
    let answer = server.call("POST", "/v1/accounts", Some(&app), Some(&json!({"id": "a1", "currency": "EUR"})));
    assert_eq!(answer.status, 200, "{answer:?}");
    let authorize = json!({"id": "au-1", "user": "u1", "account": "a1", "limit": 100, "expires_in_s": 600});
    assert_eq!(server.call("POST", "/v1/authorizations", Some(&app), Some(&authorize)).status, 200);
    let coupon = json!({"id": "c-1", "merchant": "m1", "holder": "u1", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 500}, "expires_in_s": 3_600});
    let issued = server.call("POST", "/v1/coupons", Some(&merchant), Some(&coupon));
    let code = issued.body["code"].as_str().expect("a code").to_string();
    let redeem = json!({"id": "red-1", "code": code, "amount": 2_000});
    let first = server.call("POST", "/v1/coupons/redeem", Some(&operator), Some(&redeem));
    assert_eq!(first.status, 200, "{first:?}");
    let looked_up = server.call("GET", "/v1/coupons/c-1", Some(&app), None).body;
    assert_eq!((looked_up["status"].clone(), looked_up["code"].clone()), (json!("redeemed"), json!(code)));
    wait_archived(&server, 2); // The coupon and its redemption (the authorization is still active).

    // A second coupon stays available (and in memory): the holder's app prices it.
    let available = json!({"id": "c-2", "merchant": "m1", "holder": "u1", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 300}, "expires_in_s": 3_600});
    assert_eq!(server.call("POST", "/v1/coupons", Some(&merchant), Some(&available)).status, 200);
    let check = |server: &Server| {
        assert_eq!(server.call("GET", "/v1/coupons/c-1", Some(&app), None).body, looked_up, "as it was in memory");
        // Pricing the redeemed coupon answers as in memory: not valid any more (not unknown).
        let quote = |coupon: &str| json!({"coupon": coupon, "amount": 2_000});
        let priced = server.call("POST", "/v1/quotes", Some(&app), Some(&quote("c-1")));
        priced.assert_error(422, "coupon_not_valid");
        let priced = server.call("POST", "/v1/quotes", Some(&app), Some(&quote("c-2")));
        assert_eq!(
            (priced.status, &priced.body["discount"], &priced.body["payable"]),
            (200, &json!(300), &json!(1_700))
        );
        server.call("POST", "/v1/quotes", Some(&operator), Some(&quote("c-1"))).assert_error(403, "forbidden");
        // No existence oracle: a coupon that does not exist is refused as another's is.
        server.call("POST", "/v1/quotes", Some(&app), Some(&quote("c-none"))).assert_error(403, "forbidden");
        assert_eq!(server.call("GET", "/v1/coupons/c-1", Some(&merchant), None).status, 200);
        server.call("GET", "/v1/coupons/c-1", Some(&operator), None).assert_error(403, "forbidden");
        let held = server.call("GET", "/v1/users/u1/coupons", Some(&app), None);
        assert_eq!(held.body["data"][0], looked_up, "{held:?}");
        assert_eq!(held.body["data"].as_array().map(Vec::len), Some(2), "{held:?}");
    };
    check(&server);
    let retried = server.call("POST", "/v1/coupons/redeem", Some(&operator), Some(&redeem));
    assert_eq!((retried.status, retried.body), (200, first.body), "a retried redemption answers as the first");
    // Verifying its code, as redeeming it again, answers what memory would have.
    let verify = json!({"code": code, "amount": 2_000});
    server.call("POST", "/v1/coupons/verify", Some(&operator), Some(&verify)).assert_error(422, "coupon_redeemed");
    let unknown = json!({"code": "999999999999", "amount": 2_000});
    server.call("POST", "/v1/coupons/verify", Some(&operator), Some(&unknown)).assert_error(404, "coupon_not_found");
    server.call("POST", "/v1/coupons/verify", Some(&merchant), Some(&verify)).assert_error(403, "forbidden");
    let again = json!({"id": "red-2", "code": code, "amount": 2_000});
    server.call("POST", "/v1/coupons/redeem", Some(&operator), Some(&again)).assert_error(422, "coupon_redeemed");
    server.restart();
    check(&server);
}
