//! Resolved objects leave memory, against a real `kassa serve --resolved-in-memory-secs 1`: a
//! POS sale's settlement and authorization move to storage a second after they resolved, and
//! the HTTP API answers as before: their lookups (with metadata), the merchant's list of
//! settlements, the app's lists of authorizations and holds (a voided hold leaves memory too),
//! the event feed, a retried void, a retried settlement (its first
//! answer, charged once), a retried authorization (its code), a refund and a reversal; and after a
//! restart. A redeemed coupon and its redemption likewise; a paid bill (looked up, listed,
//! refunded in parts, its refunds retried) and a completed split (looked up, listed by its
//! requester's app and by member, refunded whole, its refund retried) too; and the app's holds,
//! some in memory and some in storage, paged through in id order.

mod common;

use common::{ADMIN_KEY, Server};
use serde_json::{Value, json};

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
    server.wait_archived(3);

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
    server.wait_archived(5);
    assert_eq!(call("POST", "/v1/authorizations", &app, Some(authorize))["code"], json!(code));
    server.wait_archived(6);
    call("POST", "/v1/pos/settlements/s-1/refunds", &merchant, Some(json!({"id": "r-1", "amount": 1_000})));
    server.wait_archived(7);
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
    server.wait_archived(2); // The coupon and its redemption (the authorization is still active).

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

// ----- bills, splits and pages ---------------------------------------------------------------

/// A call that must answer 200; its body.
#[track_caller]
fn ok(server: &Server, method: &str, path: &str, key: &str, body: Option<Value>) -> Value {
    let answer = server.call(method, path, Some(key), body.as_ref());
    assert_eq!(answer.status, 200, "{method} {path}: {answer:?}");
    answer.body
}

/// `body` without its `metadata` (a lookup shows it, a list and a write's answer do not).
fn without_metadata(body: &Value) -> Value {
    let mut body = body.clone();
    body.as_object_mut().expect("an object").remove("metadata");
    body
}

/// `body` with `field` set to `value`.
fn with(body: &Value, field: &str, value: Value) -> Value {
    let mut body = body.clone();
    body[field] = value;
    body
}

/// The ids of `items`.
fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(|item| item["id"].as_str().expect("an id")).collect()
}

/// Every item of the list at `path` as `key`, asked for `limit` at a time with `starting_after`
/// the last id seen: each page before the last is full and says `has_more`; the last says not,
/// and is not empty (unless the whole list is).
fn page_through(server: &Server, path: &str, key: &str, limit: usize) -> Vec<Value> {
    let mut items: Vec<Value> = Vec::new();
    loop {
        let after = ids(&items).last().map(|id| format!("&starting_after={id}")).unwrap_or_default();
        let page = ok(server, "GET", &format!("{path}?limit={limit}{after}"), key, None);
        assert_eq!(page["object"], json!("list"), "{page}");
        let data = page["data"].as_array().expect("a page").clone();
        items.extend(data.iter().cloned());
        match page["has_more"].as_bool() {
            Some(true) => assert_eq!(data.len(), limit, "a page with more after it is full: {page}"),
            Some(false) => {
                assert!(!data.is_empty() || items.is_empty(), "{path}, limit {limit}: has_more, then an empty page");
                return items;
            }
            None => panic!("{path}: no has_more in {page}"),
        }
        assert!(items.len() <= 100, "{path}, limit {limit}: the pages do not end: {:?}", ids(&items));
    }
}

/// The keys of a bill or split test: the app that opens it, merchant m1 (terminal t1), and
/// another app and merchant (m2), to which it is none of their business.
struct Tenants {
    app: String,
    merchant: String,
    rival_app: String,
    rival_merchant: String,
}

fn tenants(server: &Server) -> Tenants {
    server.merchant_with_terminal("m1", "t1", None);
    server.merchant_with_terminal("m2", "t2", None);
    Tenants {
        app: server.key(json!({"role": "app", "app": "shop-app"})),
        merchant: server.key(json!({"role": "merchant", "merchant": "m1"})),
        rival_app: server.key(json!({"role": "app", "app": "rival-app"})),
        rival_merchant: server.key(json!({"role": "merchant", "merchant": "m2"})),
    }
}

/// The app opens bill `bill` for user u1, charging a1, at m1 (with metadata); m1 adds two
/// espressos (560).
fn open_bill(server: &Server, keys: &Tenants, bill: &str) {
    let open = json!({"id": bill, "user": "u1", "account": "a1", "merchant": "m1", "expires_in_s": 600,
                      "metadata": {"order": bill}});
    ok(server, "POST", "/v1/bills", &keys.app, Some(open));
    let item = json!({"terminal": "t1", "item_ref": "espresso", "quantity": 2, "unit_amount": 280});
    ok(server, "POST", &format!("/v1/bills/{bill}/items"), &keys.merchant, Some(item));
}

/// The merchant submits bill `bill` and the app confirms it with its challenge; the answer.
fn pay_bill(server: &Server, keys: &Tenants, bill: &str) -> Value {
    let submit = format!("/v1/bills/{bill}/submit");
    assert_eq!(ok(server, "POST", &submit, &keys.merchant, None)["challenge"], Value::Null);
    let challenge = ok(server, "POST", &submit, &keys.app, None)["challenge"].clone();
    let confirm = format!("/v1/bills/{bill}/confirm");
    let paid = ok(server, "POST", &confirm, &keys.app, Some(json!({"challenge": challenge})));
    assert_eq!((&paid["status"], &paid["charged"]), (&json!("paid"), &json!(560)), "{paid}");
    paid
}

/// Bill b-1 is `expected` (its lookup, with metadata) to its app, its merchant and the admin,
/// and refused to the other tenants; the app's bills (b-1 and b-2, open in memory) are listed
/// each once in id order, whatever the page size.
fn check_bill(server: &Server, keys: &Tenants, expected: &Value) {
    for key in [keys.app.as_str(), &keys.merchant, ADMIN_KEY] {
        assert_eq!(ok(server, "GET", "/v1/bills/b-1", key, None), *expected);
    }
    for key in [&keys.rival_app, &keys.rival_merchant] {
        server.call("GET", "/v1/bills/b-1", Some(key), None).assert_error(403, "forbidden");
    }
    server.call("GET", "/v1/bills/none", Some(&keys.app), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/bills/none", Some(ADMIN_KEY), None).assert_error(404, "bill_not_found");
    for limit in [1, 2, 3] {
        let bills = page_through(server, "/v1/bills", &keys.app, limit);
        assert_eq!(ids(&bills), ["b-1", "b-2"], "limit {limit}");
        assert_eq!(bills[0], without_metadata(expected), "listed as it is looked up");
        assert_eq!(bills[1]["status"], json!("open"));
    }
    assert!(page_through(server, "/v1/bills", &keys.rival_app, 1).is_empty());
}

/// `(a1, m1-till)` balances.
fn bill_balances(server: &Server) -> (i64, i64) {
    (server.balance("a1").0, server.balance("m1-till").0)
}

fn bill_refund(id: &str, amount: u64) -> Option<Value> {
    Some(json!({"id": id, "amount": amount}))
}

/// Refunds bill b-1 (560 charged to a1, paid to m1-till) out of memory in two parts, each
/// answer exact and its money moved once; a retry from storage answers as the first did;
/// a changed retry, an over-refund and the other tenants are refused. Returns the two answers.
fn refund_bill_in_parts(server: &Server, keys: &Tenants) -> (Value, Value) {
    let (refunds, merchant) = ("/v1/bills/b-1/refunds", Some(keys.merchant.as_str()));
    let first = ok(server, "POST", refunds, &keys.merchant, bill_refund("rf-1", 200));
    assert_eq!(first, json!({"id": "rf-1", "bill": "b-1", "amount": 200, "remaining": 360}));
    assert_eq!(bill_balances(server), (9_640, 360));
    server.call("POST", refunds, merchant, bill_refund("rf-1", 201).as_ref()).assert_error(409, "id_reused");
    let over = bill_refund("rf-2", 361);
    server.call("POST", refunds, merchant, over.as_ref()).assert_error(422, "refund_exceeds_charge");
    server.wait_archived(2); // Taken back into memory to be refunded, it left again.
    let retried = ok(server, "POST", refunds, &keys.merchant, bill_refund("rf-1", 200));
    assert_eq!(retried, first, "a retry from storage answers as the first did");
    assert_eq!(bill_balances(server), (9_640, 360), "and moves nothing");
    let second = ok(server, "POST", refunds, ADMIN_KEY, bill_refund("rf-2", 360));
    assert_eq!(second, json!({"id": "rf-2", "bill": "b-1", "amount": 360, "remaining": 0}));
    assert_eq!(bill_balances(server), (10_000, 0));
    server.wait_archived(3);
    refuse_bill_refunds(server, keys);
    server.wait_archived(4);
    (first, second)
}

/// Bill b-1, refunded whole, refuses another refund, and the other tenants' refunds (from
/// storage: the first refusal takes it back into memory).
fn refuse_bill_refunds(server: &Server, keys: &Tenants) {
    let refunds = "/v1/bills/b-1/refunds";
    for key in [&keys.app, &keys.rival_app, &keys.rival_merchant] {
        server.call("POST", refunds, Some(key), bill_refund("rf-3", 1).as_ref()).assert_error(403, "forbidden");
    }
    let more = bill_refund("rf-3", 1);
    server.call("POST", refunds, Some(&keys.merchant), more.as_ref()).assert_error(422, "refund_exceeds_charge");
    assert_eq!(bill_balances(server), (10_000, 0));
}

/// A paid bill leaves memory a second later and is still found: by id (as memory answered,
/// metadata included), in its app's list beside a bill still open in memory; it is refunded in
/// parts from storage, its refunds retried, and the same after a restart.
#[test]
fn a_paid_bill_out_of_memory_is_still_looked_up_listed_and_refunded_in_parts() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    let keys = tenants(&server);
    ok(&server, "POST", "/v1/accounts", &keys.app, Some(json!({"id": "a1", "currency": "EUR"})));
    server.admin("POST", "/v1/accounts/a1/deposits", json!({"id": "fund", "amount": 10_000}));
    open_bill(&server, &keys, "b-1");
    let paid = pay_bill(&server, &keys, "b-1");
    open_bill(&server, &keys, "b-2"); // Open: it stays in memory.
    let looked_up = ok(&server, "GET", "/v1/bills/b-1", &keys.app, None);
    assert_eq!((without_metadata(&looked_up), &looked_up["metadata"]), (paid, &json!({"order": "b-1"})));
    assert_eq!(bill_balances(&server), (9_440, 560));
    server.wait_archived(1);
    check_bill(&server, &keys, &looked_up);

    let (first, second) = refund_bill_in_parts(&server, &keys);
    let lines = json!([{"id": "rf-1", "amount": 200}, {"id": "rf-2", "amount": 360}]);
    let refunded = with(&with(&looked_up, "refunded", json!(560)), "refunds", lines);
    check_bill(&server, &keys, &refunded);
    server.restart();
    check_bill(&server, &keys, &refunded);
    let refunds = "/v1/bills/b-1/refunds";
    assert_eq!(ok(&server, "POST", refunds, &keys.merchant, bill_refund("rf-1", 200)), first);
    assert_eq!(ok(&server, "POST", refunds, &keys.merchant, bill_refund("rf-2", 360)), second);
    refuse_bill_refunds(&server, &keys);
}

/// The app (u-bob, account bob) asks u-carol (carol, the same app's) and u-dave (dave, another
/// app's) for `total`, with metadata; the answer.
fn request_split(server: &Server, app: &str, split: &str, total: u64) -> Value {
    let members = json!([{"user": "u-carol", "account": "carol"}, {"user": "u-dave", "account": "dave"}]);
    let request = json!({"id": split, "requester": "u-bob", "requester_account": "bob", "total": total,
                         "currency": "EUR", "members": members, "expires_in_s": 600, "metadata": {"order": split}});
    ok(server, "POST", "/v1/splits", app, Some(request))
}

/// `(bob, carol, dave)` balances.
fn split_balances(server: &Server) -> (i64, i64, i64) {
    (server.balance("bob").0, server.balance("carol").0, server.balance("dave").0)
}

/// Split "dinner" is `expected` (its lookup, with metadata) to its requester's app, its member's
/// other app (`friend`) and the admin, and refused to another app and a merchant; it is listed
/// beside "lunch" (open, in memory) each once in id order: the requester's app's splits, and
/// each member's to the member's app.
fn check_split(server: &Server, keys: &Tenants, friend: &str, expected: &Value) {
    for key in [keys.app.as_str(), friend, ADMIN_KEY] {
        assert_eq!(ok(server, "GET", "/v1/splits/dinner", key, None), *expected);
    }
    for key in [&keys.rival_app, &keys.merchant] {
        server.call("GET", "/v1/splits/dinner", Some(key), None).assert_error(403, "forbidden");
    }
    server.call("GET", "/v1/splits/none", Some(&keys.app), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/splits/none", Some(ADMIN_KEY), None).assert_error(404, "split_not_found");
    let lists = [
        ("/v1/splits", keys.app.as_str()),
        ("/v1/users/u-carol/splits", &keys.app),
        ("/v1/users/u-dave/splits", friend),
    ];
    for (path, key) in lists {
        for limit in [1, 2, 3] {
            let splits = page_through(server, path, key, limit);
            assert_eq!(ids(&splits), ["dinner", "lunch"], "{path}, limit {limit}");
            assert_eq!(splits[0], without_metadata(expected), "{path}: listed as it is looked up");
            assert_eq!(splits[1]["status"], json!("open"));
        }
    }
    assert!(page_through(server, "/v1/splits", friend, 1).is_empty(), "the member's app requested none");
    server.call("GET", "/v1/users/u-dave/splits", Some(&keys.app), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/users/u-carol/splits", Some(&keys.rival_app), None).assert_error(403, "forbidden");
}

/// Refunds split "dinner" (1,001 paid by carol and dave to bob) out of memory: the members get
/// their shares back from bob, once; a retry, in memory and again from storage, answers as the
/// first did; only the requester's side may refund, and only a completed split. The answer.
fn refund_split(server: &Server, keys: &Tenants, friend: &str, looked_up: &Value) -> Value {
    let refund = "/v1/splits/dinner/refund";
    let first = ok(server, "POST", refund, &keys.app, None);
    let refunded = with(&without_metadata(looked_up), "status", json!("refunded"));
    assert_eq!(first, with(&refunded, "refunded", json!(1_001)));
    assert_eq!(split_balances(server), (5_000, 5_000, 5_000));
    assert_eq!(ok(server, "POST", refund, &keys.app, None), first, "a retry in memory");
    server.call("POST", "/v1/splits/lunch/refund", Some(&keys.app), None).assert_error(422, "not_reversible");
    server.wait_archived(2);
    assert_eq!(ok(server, "POST", refund, ADMIN_KEY, None), first, "a retry from storage");
    server.wait_archived(3);
    for key in [friend, &keys.rival_app, &keys.merchant] {
        server.call("POST", refund, Some(key), None).assert_error(403, "forbidden");
    }
    server.call("POST", "/v1/splits/none/refund", Some(ADMIN_KEY), None).assert_error(404, "split_not_found");
    assert_eq!(split_balances(server), (5_000, 5_000, 5_000), "refunded once");
    server.wait_archived(4);
    first
}

/// A completed split leaves memory a second later and is still found: by id (as memory
/// answered), in its requester's app's list and in each member's, beside a split still open in
/// memory; it is refunded whole from storage, the refund retried, and the same after a restart.
#[test]
fn a_completed_split_out_of_memory_is_still_looked_up_listed_and_refunded_once() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    let keys = tenants(&server);
    let friend = server.key(json!({"role": "app", "app": "friend-app"}));
    for (account, key) in [("bob", &keys.app), ("carol", &keys.app), ("dave", &friend)] {
        ok(&server, "POST", "/v1/accounts", key, Some(json!({"id": account, "currency": "EUR"})));
        let fund = json!({"id": format!("fund-{account}"), "amount": 5_000});
        server.admin("POST", &format!("/v1/accounts/{account}/deposits"), fund);
    }
    let requested = request_split(&server, &keys.app, "dinner", 1_001);
    let shares: Vec<&Value> = requested["members"].as_array().unwrap().iter().map(|m| &m["share"]).collect();
    assert_eq!(shares, [&json!(501), &json!(500)]);
    ok(&server, "POST", "/v1/splits/dinner/pay", &keys.app, Some(json!({"member": "u-carol"})));
    let done = ok(&server, "POST", "/v1/splits/dinner/pay", &friend, Some(json!({"member": "u-dave"})));
    assert_eq!((&done["completed"], &done["status"]), (&json!(true), &json!("completed")), "{done}");
    request_split(&server, &keys.app, "lunch", 300); // Open: it stays in memory.
    let looked_up = ok(&server, "GET", "/v1/splits/dinner", &keys.app, None);
    assert_eq!(looked_up["metadata"], json!({"order": "dinner"}));
    assert_eq!(split_balances(&server), (6_001, 4_499, 4_500));
    server.wait_archived(1);
    check_split(&server, &keys, &friend, &looked_up);

    let first = refund_split(&server, &keys, &friend, &looked_up);
    let refunded = with(&looked_up, "status", json!("refunded"));
    check_split(&server, &keys, &friend, &refunded);
    server.restart();
    check_split(&server, &keys, &friend, &refunded);
    assert_eq!(ok(&server, "POST", "/v1/splits/dinner/refund", &keys.app, None), first);
    assert_eq!(split_balances(&server), (5_000, 5_000, 5_000));
}

/// The app's holds h-1..h-6 checked against `statuses`: paged through 1, 2, 4, 6 and 7 at a time,
/// each once, in id order, each as it is looked up (which adds its metadata, none here).
fn check_holds(server: &Server, app: &str, statuses: &[&str]) {
    for limit in [1, 2, 4, 6, 7] {
        let holds = page_through(server, "/v1/holds", app, limit);
        assert_eq!(ids(&holds), ["h-1", "h-2", "h-3", "h-4", "h-5", "h-6"], "limit {limit}");
        let listed: Vec<&str> = holds.iter().map(|hold| hold["status"].as_str().unwrap()).collect();
        assert_eq!(listed, statuses, "limit {limit}");
        if limit == 1 {
            for hold in &holds {
                let id = hold["id"].as_str().unwrap();
                let looked_up = ok(server, "GET", &format!("/v1/holds/{id}"), app, None);
                assert_eq!((without_metadata(&looked_up), &looked_up["metadata"]), (hold.clone(), &json!({})));
            }
        }
    }
}

/// A page of the app's holds crosses from memory into storage and back: resolved holds left
/// memory (one taken back by a retried void), active ones are in it; every page size lists each
/// once, in id order, ending with has_more false; the same after a restart.
#[test]
fn a_page_of_holds_crosses_from_memory_into_storage_in_id_order() {
    let mut server = Server::start(&["--resolved-in-memory-secs", "1"]);
    let app = server.key(json!({"role": "app", "app": "shop-app"}));
    for account in ["a1", "a2"] {
        ok(&server, "POST", "/v1/accounts", &app, Some(json!({"id": account, "currency": "EUR"})));
    }
    server.admin("POST", "/v1/accounts/a1/deposits", json!({"id": "fund", "amount": 10_000}));
    for n in 1..=6 {
        let hold = json!({"id": format!("h-{n}"), "from": "a1", "to": "a2", "amount": 100, "currency": "EUR",
                          "expires_in_s": 600});
        ok(&server, "POST", "/v1/holds", &app, Some(hold));
    }
    let voided = ok(&server, "POST", "/v1/holds/h-4/void", &app, None);
    ok(&server, "POST", "/v1/holds/h-1/void", &app, None);
    ok(&server, "POST", "/v1/holds/h-2/capture", &app, Some(json!({"amount": 50})));
    ok(&server, "POST", "/v1/holds/h-6/capture", &app, Some(json!({"amount": 100})));
    server.wait_archived(4);
    assert_eq!(ok(&server, "POST", "/v1/holds/h-4/void", &app, None), voided, "taken back, answered as before");
    let statuses = ["voided", "captured", "active", "voided", "active", "captured"];
    check_holds(&server, &app, &statuses);
    assert_eq!(server.balance("a1"), (10_000 - 150, 200), "two holds of 100 still held");
    server.restart();
    check_holds(&server, &app, &statuses);
}
