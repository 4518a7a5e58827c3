//! Attacks across tenants against a real `kassa serve` (issue 14's findings 1-4, 6 and 7, and
//! key revocation): each one succeeded before authority moved into the engine. Every attack
//! asserts the documented refusal and that nothing changed (balances, holds, codes, contacts).

#![cfg(feature = "server")]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{ADMIN_KEY, ANSWER_TIMEOUT, Server};
use kassa_adapters::tcp::frame::{decode_body, encode_frame};
use kassa_adapters::tcp::{ErrorCode, PROTOCOL_VERSION, Request, RequestBody, Response, ResponseBody};
use kassa_engine::command::{Command, Outcome, SettlePos};
use kassa_engine::{Currency, Id};
use serde_json::json;

fn app_key(server: &Server, app: &str) -> String {
    server.key(json!({"role": "app", "app": app}))
}

/// An app's own funded account and a user it claims (by authorizing the user on it).
fn app_with_user(server: &Server, key: &str, account: &str, user: &str) {
    let open = server.call("POST", "/v1/accounts", Some(key), Some(&json!({"id": account, "currency": "EUR"})));
    assert_eq!(open.status, 200, "{open:?}");
    server.admin(
        "POST",
        &format!("/v1/accounts/{account}/deposits"),
        json!({"id": format!("d-{account}"), "amount": 10_000}),
    );
    let authorize =
        json!({"id": format!("claim-{user}"), "user": user, "account": account, "limit": 1, "expires_in_s": 600});
    assert_eq!(server.call("POST", "/v1/authorizations", Some(key), Some(&authorize)).status, 200);
}

#[test]
fn finding_1_an_app_cannot_adopt_an_admin_account_by_creating_it_again() {
    let mut server = Server::start(&[]);
    server.funded_account("victim", "EUR", 10_000);
    let app = app_key(&server, "thief");
    let same = json!({"id": "victim", "currency": "EUR"});
    server.call("POST", "/v1/accounts", Some(&app), Some(&same)).assert_error(409, "already_exists");
    let other_currency = json!({"id": "victim", "currency": "USD"});
    server.call("POST", "/v1/accounts", Some(&app), Some(&other_currency)).assert_error(409, "already_exists");
    server.call("GET", "/v1/accounts/victim", Some(&app), None).assert_error(403, "forbidden");
    let withdraw = json!({"id": "w-1", "amount": 10_000});
    server.call("POST", "/v1/accounts/victim/withdrawals", Some(&app), Some(&withdraw)).assert_error(403, "forbidden");
    // The refused creates recorded nothing: after a restart (replaying the log) the same.
    server.restart();
    server.call("POST", "/v1/accounts/victim/withdrawals", Some(&app), Some(&withdraw)).assert_error(403, "forbidden");
    server.call("GET", "/v1/accounts/victim", Some(&app), None).assert_error(403, "forbidden");
    assert_eq!(server.balance("victim"), (10_000, 0));
}

#[test]
fn finding_2_a_tenant_cannot_give_itself_credit() {
    let server = Server::start(&[]);
    let app = app_key(&server, "minter");
    let credit = json!({"id": "mint", "currency": "EUR", "overdraft_limit": 1_000_000});
    server.call("POST", "/v1/accounts", Some(&app), Some(&credit)).assert_error(403, "forbidden");
    server.call("GET", "/v1/accounts/mint", Some(ADMIN_KEY), None).assert_error(404, "account_not_found");
    let merchant = server.key(json!({"role": "merchant", "merchant": "mint-shop"}));
    server.call("POST", "/v1/accounts", Some(&merchant), Some(&credit)).assert_error(403, "forbidden");
    let plain = json!({"id": "mint", "currency": "EUR"});
    assert_eq!(server.call("POST", "/v1/accounts", Some(&app), Some(&plain)).status, 200);
    let withdraw = json!({"id": "w-mint", "amount": 1_000_000});
    server
        .call("POST", "/v1/accounts/mint/withdrawals", Some(&app), Some(&withdraw))
        .assert_error(422, "insufficient_funds");
    assert_eq!(server.balance("mint"), (0, 0));
}

/// A POS settlement with a hold (what an ISO 8583 0100 makes) at `terminal`, by the admin over
/// the binary protocol.
fn pos_settle(server: &Server, id: &str, terminal: &str, code: String, hold: bool) -> Outcome {
    let settle = SettlePos {
        id: Id::new(id).unwrap(),
        user: Id::new("payer").unwrap(),
        code,
        amount: 700,
        currency: Currency::EUR,
        terminal: Id::new(terminal).unwrap(),
        coupon: None,
        hold_until_ms: hold.then(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
            u64::try_from(now.as_millis()).unwrap() + 600_000
        }),
        location: None,
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let client = kassa_adapters::tcp::Client::connect(server.tcp, ADMIN_KEY).await.unwrap();
        client.submit(Command::SettlePos(settle)).await.unwrap()
    })
}

#[test]
fn finding_3_a_merchant_cannot_reverse_another_merchants_sale() {
    let server = Server::start(&[]);
    server.merchant_with_terminal("shop-a", "TA000001", None);
    server.merchant_with_terminal("shop-b", "TB000001", None);
    server.funded_account("payer-acct", "EUR", 10_000);
    let code = server.authorize("auth-3", "payer", "payer-acct", 5_000);
    assert!(pos_settle(&server, "sale-b", "TB000001", code, false).is_applied());
    let till_b = server.balance("shop-b-till");
    let merchant_a = server.key(json!({"role": "merchant", "merchant": "shop-a"}));
    let terminal_a = server.key(json!({"role": "terminal", "terminal": "TA000001"}));
    for key in [&merchant_a, &terminal_a] {
        server
            .call("POST", "/v1/pos/settlements/sale-b/reverse", Some(key), Some(&json!({})))
            .assert_error(403, "forbidden");
    }
    assert_eq!(server.balance("shop-b-till"), till_b, "B keeps its sale");
    let merchant_b = server.key(json!({"role": "merchant", "merchant": "shop-b"}));
    let reversed = server.call("POST", "/v1/pos/settlements/sale-b/reverse", Some(&merchant_b), Some(&json!({})));
    assert_eq!(reversed.status, 200, "{reversed:?}");
    assert_eq!(server.balance("payer-acct"), (10_000, 0), "refunded by its own merchant");
}

#[test]
fn finding_4_the_payers_app_cannot_capture_or_void_the_merchants_pos_hold() {
    let server = Server::start(&[]);
    server.merchant_with_terminal("hotel", "TH000001", None);
    let app = app_key(&server, "wallet");
    app_with_user(&server, &app, "payer-acct", "payer");
    let code = server.authorize("auth-4", "payer", "payer-acct", 5_000);
    assert!(pos_settle(&server, "preauth-1", "TH000001", code, true).is_applied());
    assert_eq!(server.balance("payer-acct"), (10_000, 700), "held");
    let capture = json!({"amount": 700});
    server.call("POST", "/v1/holds/preauth-1/capture", Some(&app), Some(&capture)).assert_error(403, "forbidden");
    server.call("POST", "/v1/holds/preauth-1/void", Some(&app), Some(&json!({}))).assert_error(403, "forbidden");
    assert_eq!(server.balance("payer-acct"), (10_000, 700), "still held");
    // The app may read it (its user's money is held) and void what its user placed itself.
    assert_eq!(server.call("GET", "/v1/holds/preauth-1", Some(&app), None).status, 200);
    let own = json!({"id": "own-hold", "from": "payer-acct", "to": "hotel-till", "amount": 5, "currency": "EUR", "expires_in_s": 60});
    assert_eq!(server.call("POST", "/v1/holds", Some(&app), Some(&own)).status, 200);
    assert_eq!(server.call("POST", "/v1/holds/own-hold/void", Some(&app), Some(&json!({}))).status, 200);
    // The merchant completes its pre-authorization.
    let hotel = server.key(json!({"role": "merchant", "merchant": "hotel"}));
    let captured = server.call("POST", "/v1/holds/preauth-1/capture", Some(&hotel), Some(&capture));
    assert_eq!(captured.status, 200, "{captured:?}");
    assert_eq!(server.balance("hotel-till"), (700, 0));
}

#[test]
fn finding_6_a_claimed_coupon_gets_a_new_code_and_the_sharers_stops_working() {
    let server = Server::start(&[]);
    server.merchant_with_terminal("cafe", "TC000001", None);
    server.admin("POST", "/v1/operators", json!({"id": "cafe-op", "merchant": "cafe"}));
    let operator = server.key(json!({"role": "operator", "operator": "cafe-op"}));
    let app = app_key(&server, "social");
    app_with_user(&server, &app, "sharer-acct", "sharer");
    app_with_user(&server, &app, "friend-acct", "friend");
    let linked = server.call("POST", "/v1/contacts", Some(&app), Some(&json!({"user": "sharer", "contact": "friend"})));
    assert_eq!(linked.body["status"], "linked", "{linked:?}");
    let coupon = json!({"id": "cpn", "merchant": "cafe", "holder": "sharer", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 100}, "reward": {"type": "fixed_off", "amount": 50}, "expires_in_s": 3_600});
    let old_code = server.admin("POST", "/v1/coupons", coupon)["code"].as_str().unwrap().to_string();
    assert_eq!(server.call("POST", "/v1/coupons/cpn/share", Some(&app), Some(&json!({"user": "sharer"}))).status, 200);
    let claimed = server.call("POST", "/v1/coupons/cpn/claim", Some(&app), Some(&json!({"user": "friend"})));
    assert_eq!(claimed.status, 200, "{claimed:?}");
    let new_code = claimed.body["code"].as_str().unwrap().to_string();
    assert_ne!(new_code, old_code, "the claimer gets a code of its own");
    let redeem = |id: &str, code: &str| json!({"id": id, "code": code, "amount": 1_000});
    server
        .call("POST", "/v1/coupons/redeem", Some(&operator), Some(&redeem("r-old", &old_code)))
        .assert_error(404, "coupon_not_found");
    assert_eq!(server.admin_get("/v1/coupons/cpn")["status"], "available", "the old code changed nothing");
    let redeemed = server.call("POST", "/v1/coupons/redeem", Some(&operator), Some(&redeem("r-new", &new_code)));
    assert_eq!(redeemed.status, 200, "{redeemed:?}");
    assert!(redeemed.body["reward_coupon"].is_string(), "the sharer is rewarded once, for the claimer's redemption");
}

#[test]
fn finding_7_contacts_across_apps_need_both_sides() {
    let server = Server::start(&[]);
    let app_a = app_key(&server, "app-a");
    let app_b = app_key(&server, "app-b");
    app_with_user(&server, &app_a, "acct-a", "user-a");
    app_with_user(&server, &app_b, "acct-b", "user-b");
    server.merchant_with_terminal("m7", "TM000007", None);
    let coupon = json!({"id": "b-cpn", "merchant": "m7", "holder": "user-b", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 100}, "expires_in_s": 3_600});
    server.admin("POST", "/v1/coupons", coupon);
    assert_eq!(
        server.call("POST", "/v1/coupons/b-cpn/share", Some(&app_b), Some(&json!({"user": "user-b"}))).status,
        200
    );
    // App A cannot link B's user from B's side, and its own request only asks.
    let from_b = json!({"user": "user-b", "contact": "user-a"});
    server.call("POST", "/v1/contacts", Some(&app_a), Some(&from_b)).assert_error(403, "forbidden");
    let asked =
        server.call("POST", "/v1/contacts", Some(&app_a), Some(&json!({"user": "user-a", "contact": "user-b"})));
    assert_eq!(asked.body["status"], "requested", "{asked:?}");
    let claimable = server.call("GET", "/v1/users/user-a/claimable", Some(&app_a), None);
    assert_eq!(claimable.body["coupons"], json!([]), "nothing of B's is visible yet");
    let claim = json!({"user": "user-a"});
    server.call("POST", "/v1/coupons/b-cpn/claim", Some(&app_a), Some(&claim)).assert_error(422, "not_a_contact");
    // B consents: now they are contacts and A's user may claim.
    let consent = server.call("POST", "/v1/contacts", Some(&app_b), Some(&from_b));
    assert_eq!(consent.body["status"], "linked", "{consent:?}");
    let claimable = server.call("GET", "/v1/users/user-a/claimable", Some(&app_a), None);
    assert_eq!(claimable.body["coupons"], json!(["b-cpn"]));
    assert_eq!(server.call("POST", "/v1/coupons/b-cpn/claim", Some(&app_a), Some(&claim)).status, 200);
}

fn tcp_request(stream: &mut TcpStream, request: &Request) -> Option<Response> {
    let mut frame = Vec::new();
    encode_frame(request, &mut frame).unwrap();
    stream.write_all(&frame).ok()?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix).ok()?;
    let mut body = vec![0u8; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut body).ok()?;
    Some(decode_body(&body).unwrap())
}

#[test]
fn a_revoked_key_stops_on_every_listener_at_once() {
    let server = Server::start(&[]);
    let created = server.admin("POST", "/v1/keys", json!({"role": "app", "app": "gone"}));
    let (key, key_id) = (created["key"].as_str().unwrap().to_string(), created["key_id"].as_str().unwrap().to_string());
    assert_eq!(
        server.call("POST", "/v1/accounts", Some(&key), Some(&json!({"id": "g", "currency": "EUR"}))).status,
        200
    );
    let mut stream = TcpStream::connect(server.tcp).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    let hello = Request {
        request_id: 1,
        body: RequestBody::Hello { protocol_version: PROTOCOL_VERSION, api_key: key.clone() },
    };
    assert!(matches!(tcp_request(&mut stream, &hello).unwrap().body, ResponseBody::Welcome { .. }));
    let app = app_key(&server, "bystander");
    server.call("DELETE", &format!("/v1/keys/{key_id}"), Some(&app), None).assert_error(403, "forbidden");
    assert_eq!(server.call("DELETE", &format!("/v1/keys/{key_id}"), Some(ADMIN_KEY), None).status, 200);
    server.call("GET", "/v1/accounts/g", Some(&key), None).assert_error(401, "unauthorized");
    let ping = Request { request_id: 2, body: RequestBody::Ping };
    let refused = tcp_request(&mut stream, &ping).unwrap();
    assert!(matches!(refused.body, ResponseBody::Error { code: ErrorCode::Unauthenticated, .. }), "{refused:?}");
    let mut fresh = TcpStream::connect(server.tcp).unwrap();
    fresh.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    let refused = tcp_request(&mut fresh, &hello).unwrap();
    assert!(matches!(refused.body, ResponseBody::Error { code: ErrorCode::Unauthenticated, .. }), "{refused:?}");
    // Restarted, the revocation stands (it is in the log).
    drop((stream, fresh));
    let mut server = server;
    server.restart();
    server.call("GET", "/v1/accounts/g", Some(&key), None).assert_error(401, "unauthorized");
}

/// Users placed on every partition of `kassa serve --partitions 3`: each user's claim is decided
/// on its own partition, once. An app's authorization refused after the claim was asked (its
/// account closed) leaves the user unclaimed; the other app then claims it, and from then on the
/// first app is refused for that user, before and after a restart, on commands and reads.
#[test]
fn a_user_on_any_partition_belongs_to_one_app_and_a_refused_command_claims_nobody() {
    let mut server = Server::start(&["--partitions", "3"]);
    let (first, second) = (app_key(&server, "first-app"), app_key(&server, "second-app"));
    let open = |key: &str, account: &str| {
        let body = json!({"id": account, "currency": "EUR"});
        assert_eq!(server.call("POST", "/v1/accounts", Some(key), Some(&body)).status, 200);
    };
    open(&first, "first-closed");
    open(&first, "first-open");
    open(&second, "second-open");
    let closed = server.call("POST", "/v1/accounts/first-closed/close", Some(&first), Some(&json!({})));
    assert_eq!(closed.status, 200, "{closed:?}");
    fn authorize(server: &Server, key: &str, id: &str, user: &str, account: &str) -> common::Answer {
        let body = json!({"id": id, "user": user, "account": account, "limit": 100, "expires_in_s": 600});
        server.call("POST", "/v1/authorizations", Some(key), Some(&body))
    }
    let users: Vec<String> = (0..9).map(|index| format!("spread-user-{index}")).collect();
    for user in &users {
        // Passes the rules, refused for its account: the claim asked for it is given up.
        authorize(&server, &first, &format!("z-closed-{user}"), user, "first-closed")
            .assert_error(422, "account_closed");
        assert_eq!(authorize(&server, &second, &format!("z-second-{user}"), user, "second-open").status, 200);
        authorize(&server, &first, &format!("z-first-{user}"), user, "first-open").assert_error(403, "forbidden");
    }
    server.restart();
    for user in &users {
        authorize(&server, &first, &format!("z-again-{user}"), user, "first-open").assert_error(403, "forbidden");
        server.call("GET", &format!("/v1/users/{user}/coupons"), Some(&first), None).assert_error(403, "forbidden");
        assert_eq!(server.call("GET", &format!("/v1/users/{user}/coupons"), Some(&second), None).status, 200);
    }
}

/// Splits live with their requesters, on every partition of `kassa serve --partitions 3`: the
/// claim a split's request makes of its requester is decided on the requester's partition, and
/// every command and read elsewhere takes it from there (another app is refused the user's
/// reads and commands, the app reads its user's coupons on the home partition); a split is
/// found by its id, listed by its requester's app and its members', paid, refunded and read
/// back, before and after a restart.
#[test]
fn a_split_lives_with_its_requester_and_its_claim_answers_on_every_partition() {
    let mut server = Server::start(&["--partitions", "3"]);
    let (app, other) = (app_key(&server, "split-app"), app_key(&server, "other-app"));
    for (key, account) in [(&app, "split-payee"), (&app, "split-payer"), (&other, "other-account")] {
        let body = json!({"id": account, "currency": "EUR"});
        assert_eq!(server.call("POST", "/v1/accounts", Some(key), Some(&body)).status, 200);
    }
    server.admin("POST", "/v1/accounts/split-payer/deposits", json!({"id": "d-split-payer", "amount": 10_000}));
    fn get(server: &Server, path: &str, key: &str) -> common::Answer {
        server.call("GET", path, Some(key), None)
    }
    fn post(server: &Server, path: &str, key: &str, body: serde_json::Value) -> common::Answer {
        server.call("POST", path, Some(key), Some(&body))
    }
    let splits: Vec<(String, String, String)> = (0..9)
        .map(|index| (format!("split-{index}"), format!("requester-{index}"), format!("member-{index}")))
        .collect();
    for (split, requester, member) in &splits {
        let body = json!({"id": split, "requester": requester, "requester_account": "split-payee", "total": 100,
            "currency": "EUR", "members": [{"user": member, "account": "split-payer"}], "expires_in_s": 600});
        let requested = post(&server, "/v1/splits", &app, body.clone());
        assert_eq!(requested.status, 200, "{requested:?}");
        // Found where it lives (its expiry, relative, differs: not the same request).
        post(&server, "/v1/splits", &app, body).assert_error(409, "already_exists");
        assert_eq!(get(&server, &format!("/v1/users/{requester}/coupons"), &app).status, 200);
        get(&server, &format!("/v1/users/{requester}/coupons"), &other).assert_error(403, "forbidden");
        get(&server, &format!("/v1/users/{requester}/pool"), &other).assert_error(403, "forbidden");
        let authorize = json!({"id": format!("z-{split}"), "user": requester, "account": "other-account",
            "limit": 1, "expires_in_s": 600});
        post(&server, "/v1/authorizations", &other, authorize).assert_error(403, "forbidden");
        get(&server, &format!("/v1/splits/{split}"), &other).assert_error(403, "forbidden");
        post(&server, &format!("/v1/splits/{split}/pay"), &other, json!({"member": member}))
            .assert_error(403, "forbidden");
        let paid = post(&server, &format!("/v1/splits/{split}/pay"), &app, json!({"member": member}));
        assert_eq!((paid.status, &paid.body["completed"]), (200, &json!(true)), "{paid:?}");
    }
    assert_eq!(server.balance("split-payee"), (900, 0));
    let (first, _, _) = &splits[0];
    assert_eq!(post(&server, &format!("/v1/splits/{first}/refund"), &app, json!({})).status, 200);
    for round in 0..2 {
        let listed = get(&server, "/v1/splits", &app);
        let ids: Vec<&str> =
            listed.body["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        let expected: Vec<&str> = splits.iter().map(|(split, _, _)| split.as_str()).collect();
        assert_eq!(ids, expected, "every partition's splits, in id order (round {round})");
        assert_eq!(get(&server, "/v1/splits", &other).body["data"], json!([]));
        for (split, requester, member) in &splits {
            let found = get(&server, &format!("/v1/splits/{split}"), &app);
            let status = if split == first { "refunded" } else { "completed" };
            assert_eq!((found.status, &found.body["status"]), (200, &json!(status)), "{found:?}");
            let of_member = get(&server, &format!("/v1/users/{member}/splits"), &app);
            assert_eq!(of_member.body["data"][0]["id"], json!(split), "{of_member:?}");
            get(&server, &format!("/v1/users/{member}/splits"), &other).assert_error(403, "forbidden");
            get(&server, &format!("/v1/users/{requester}/coupons"), &other).assert_error(403, "forbidden");
        }
        server.restart();
    }
    assert_eq!(server.balance("split-payer"), (9_200, 0), "one split refunded, eight paid");
    assert_eq!(server.balance("split-payee"), (800, 0));
}

#[test]
fn authorizations_and_sales_live_with_their_users_and_stay_each_tenants_on_every_partition() {
    let mut server = Server::start(&["--partitions", "3"]);
    server.merchant_with_terminal("shop-a", "TA000001", None);
    server.merchant_with_terminal("shop-b", "TB000001", None);
    let (app, other) = (app_key(&server, "pos-app"), app_key(&server, "other-pos-app"));
    let open = server.call("POST", "/v1/accounts", Some(&app), Some(&json!({"id": "pos-payer", "currency": "EUR"})));
    assert_eq!(open.status, 200, "{open:?}");
    server.admin("POST", "/v1/accounts/pos-payer/deposits", json!({"id": "d-pos-payer", "amount": 10_000}));
    let terminal_a = server.key(json!({"role": "terminal", "terminal": "TA000001"}));
    let (merchant_a, merchant_b) = (
        server.key(json!({"role": "merchant", "merchant": "shop-a"})),
        server.key(json!({"role": "merchant", "merchant": "shop-b"})),
    );
    fn post(server: &Server, path: &str, key: &str, body: serde_json::Value) -> common::Answer {
        server.call("POST", path, Some(key), Some(&body))
    }
    fn get(server: &Server, path: &str, key: &str) -> common::Answer {
        server.call("GET", path, Some(key), None)
    }
    // user-0 holds a coupon of shop-a (on the home partition), whatever partition it lives on.
    let coupon = json!({"id": "pos-cpn", "merchant": "shop-a", "holder": "user-0", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 30}, "expires_in_s": 3_600});
    server.admin("POST", "/v1/coupons", coupon);
    for index in 0..9 {
        let (user, authorization, sale) = (format!("user-{index}"), format!("auth-{index}"), format!("sale-{index}"));
        let body =
            json!({"id": authorization, "user": user, "account": "pos-payer", "limit": 1_000, "expires_in_s": 600});
        let authorized = post(&server, "/v1/authorizations", &app, body);
        assert_eq!(authorized.status, 200, "{authorized:?}");
        let code = authorized.body["code"].as_str().unwrap().to_string();
        // Another app may not read, revoke or reuse it, nor authorize its user.
        get(&server, &format!("/v1/authorizations/{authorization}"), &other).assert_error(403, "forbidden");
        post(&server, &format!("/v1/authorizations/{authorization}/revoke"), &other, json!({}))
            .assert_error(403, "forbidden");
        let theirs =
            json!({"id": format!("x-{index}"), "user": user, "account": "pos-payer", "limit": 1, "expires_in_s": 600});
        post(&server, "/v1/authorizations", &other, theirs).assert_error(403, "forbidden");
        let mut body = json!({"id": sale, "user": user, "code": code, "amount": 100, "terminal": "TA000001"});
        if index == 0 {
            body["coupon"] = json!("pos-cpn");
        }
        let sold = post(&server, "/v1/pos/settlements", &terminal_a, body.clone());
        assert_eq!((sold.status, &sold.body["approved"]), (200, &json!(true)), "{sold:?}");
        // A retry answers as the first time, wherever the sale lives.
        assert_eq!(post(&server, "/v1/pos/settlements", &terminal_a, body).body, sold.body);
        // The other merchant may not read or reverse it.
        get(&server, &format!("/v1/pos/settlements/{sale}"), &merchant_b).assert_error(403, "forbidden");
        post(&server, &format!("/v1/pos/settlements/{sale}/reverse"), &merchant_b, json!({}))
            .assert_error(403, "forbidden");
    }
    assert_eq!(server.balance("shop-a-till"), (870, 0), "nine sales, one with 30 off");
    assert_eq!(server.call("GET", "/v1/coupons/pos-cpn", Some(&app), None).body["status"], json!("redeemed"));
    // Five wrong codes lock user-1 out (its own partition counts them); user-2 sells on.
    let code = post(
        &server,
        "/v1/authorizations",
        &app,
        json!({"id": "auth-late-1", "user": "user-1", "account": "pos-payer", "limit": 1_000, "expires_in_s": 600}),
    );
    let code = code.body["code"].as_str().unwrap().to_string();
    for attempt in 0..5 {
        let wrong = json!({"id": format!("wrong-{attempt}"), "user": "user-1", "code": "00000000", "amount": 1, "terminal": "TA000001"});
        let declined = post(&server, "/v1/pos/settlements", &terminal_a, wrong);
        assert_eq!((declined.status, &declined.body["decline_code"]), (200, &json!("incorrect_code")), "{declined:?}");
    }
    let locked = json!({"id": "late-1", "user": "user-1", "code": code, "amount": 1, "terminal": "TA000001"});
    let declined = post(&server, "/v1/pos/settlements", &terminal_a, locked);
    assert_eq!(declined.body["decline_code"], json!("code_tries_exceeded"), "{declined:?}");
    let code = post(
        &server,
        "/v1/authorizations",
        &app,
        json!({"id": "auth-late-2", "user": "user-2", "account": "pos-payer", "limit": 1_000, "expires_in_s": 600}),
    );
    let code = code.body["code"].as_str().unwrap().to_string();
    let fine = json!({"id": "late-2", "user": "user-2", "code": code, "amount": 1, "terminal": "TA000001"});
    assert_eq!(post(&server, "/v1/pos/settlements", &terminal_a, fine).body["approved"], json!(true));
    assert_eq!(post(&server, "/v1/pos/settlements/sale-2/reverse", &merchant_a, json!({})).status, 200);
    for round in 0..2 {
        let listed = get(&server, "/v1/merchants/shop-a/settlements", &merchant_a);
        let ids: Vec<&str> =
            listed.body["data"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "in id order: {ids:?}");
        for index in 0..9 {
            assert!(ids.contains(&format!("sale-{index}").as_str()), "every partition's sales (round {round})");
        }
        get(&server, "/v1/merchants/shop-a/settlements", &merchant_b).assert_error(403, "forbidden");
        let owned = get(&server, "/v1/authorizations", &app);
        assert_eq!(owned.body["data"].as_array().unwrap().len(), 11, "{owned:?}");
        assert_eq!(get(&server, "/v1/authorizations", &other).body["data"], json!([]));
        let reversed = get(&server, "/v1/pos/settlements/sale-2", &merchant_a);
        assert_eq!((reversed.status, &reversed.body["reversed"]), (200, &json!(true)), "{reversed:?}");
        server.restart();
    }
    assert_eq!(server.balance("pos-payer"), (10_000 - 870 - 1 + 100, 0));
}

#[test]
fn bills_live_with_their_users_and_stay_each_tenants_on_every_partition() {
    let mut server = Server::start(&["--partitions", "3"]);
    server.merchant_with_terminal("shop-a", "TA000001", None);
    server.merchant_with_terminal("shop-b", "TB000001", None);
    let (app, other) = (app_key(&server, "bill-app"), app_key(&server, "other-bill-app"));
    let open = server.call("POST", "/v1/accounts", Some(&app), Some(&json!({"id": "bill-payer", "currency": "EUR"})));
    assert_eq!(open.status, 200, "{open:?}");
    server.admin("POST", "/v1/accounts/bill-payer/deposits", json!({"id": "d-bill-payer", "amount": 10_000}));
    let (terminal_a, terminal_b) = (
        server.key(json!({"role": "terminal", "terminal": "TA000001"})),
        server.key(json!({"role": "terminal", "terminal": "TB000001"})),
    );
    let (merchant_a, merchant_b) = (
        server.key(json!({"role": "merchant", "merchant": "shop-a"})),
        server.key(json!({"role": "merchant", "merchant": "shop-b"})),
    );
    let post = |path: &str, key: &str, body: serde_json::Value| server.call("POST", path, Some(key), Some(&body));
    let get = |path: &str, key: &str| server.call("GET", path, Some(key), None);
    // user-0 holds a coupon of shop-a (on the home partition), whatever partition it lives on.
    let coupon = json!({"id": "bill-cpn", "merchant": "shop-a", "holder": "user-0", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 30}, "expires_in_s": 3_600});
    server.admin("POST", "/v1/coupons", coupon);
    for index in 0..9 {
        let (user, bill) = (format!("user-{index}"), format!("bill-{index}"));
        let body =
            json!({"id": bill, "user": user, "account": "bill-payer", "merchant": "shop-a", "expires_in_s": 600});
        let opened = post("/v1/bills", &app, body.clone());
        assert_eq!(opened.status, 200, "{opened:?}");
        // Another app may not open a bill for the user, nor read, submit or cancel this one.
        let theirs = json!({"id": format!("x-{index}"), "user": user, "account": "bill-payer", "merchant": "shop-a",
            "expires_in_s": 600});
        post("/v1/bills", &other, theirs).assert_error(403, "forbidden");
        get(&format!("/v1/bills/{bill}"), &other).assert_error(403, "forbidden");
        post(&format!("/v1/bills/{bill}/cancel"), &other, json!({})).assert_error(403, "forbidden");
        // The other merchant's terminal may not add to it (as on one partition: its own terminal
        // is not the bill's merchant's).
        let item = json!({"terminal": "TB000001", "item_ref": "sku", "quantity": 1, "unit_amount": 100});
        post(&format!("/v1/bills/{bill}/items"), &terminal_b, item).assert_error(403, "wrong_merchant");
        let item = json!({"terminal": "TA000001", "item_ref": "sku", "quantity": 1, "unit_amount": 100});
        assert_eq!(post(&format!("/v1/bills/{bill}/items"), &terminal_a, item).status, 200);
        post(&format!("/v1/bills/{bill}/submit"), &other, json!({})).assert_error(403, "forbidden");
        let submitted = post(&format!("/v1/bills/{bill}/submit"), &app, json!({}));
        let challenge = submitted.body["challenge"].as_str().expect("the user's side sees it").to_string();
        post(&format!("/v1/bills/{bill}/confirm"), &other, json!({"challenge": challenge}))
            .assert_error(403, "forbidden");
        let mut confirm = json!({"challenge": challenge});
        if index == 0 {
            confirm["coupon"] = json!("bill-cpn");
        }
        let paid = post(&format!("/v1/bills/{bill}/confirm"), &app, confirm.clone());
        assert_eq!(paid.status, 200, "{paid:?}");
        // A retry answers as the first time, wherever the bill lives.
        assert_eq!(post(&format!("/v1/bills/{bill}/confirm"), &app, confirm).body, paid.body);
        // The other merchant may not read or refund it.
        get(&format!("/v1/bills/{bill}"), &merchant_b).assert_error(403, "forbidden");
        post(&format!("/v1/bills/{bill}/refunds"), &merchant_b, json!({"id": format!("rx-{index}"), "amount": 1}))
            .assert_error(403, "forbidden");
    }
    assert_eq!(server.balance("shop-a-till"), (870, 0), "nine bills, one with 30 off");
    assert_eq!(get("/v1/coupons/bill-cpn", &app).body["status"], json!("redeemed"));
    let refund = post("/v1/bills/bill-2/refunds", &merchant_a, json!({"id": "r-2", "amount": 100}));
    assert_eq!(refund.status, 200, "{refund:?}");
    for round in 0..2 {
        let listed = server.call("GET", "/v1/bills", Some(&app), None);
        let ids: Vec<&str> =
            listed.body["data"].as_array().unwrap().iter().map(|b| b["id"].as_str().unwrap()).collect();
        assert_eq!(ids, (0..9).map(|index| format!("bill-{index}")).collect::<Vec<_>>(), "round {round}");
        assert_eq!(server.call("GET", "/v1/bills", Some(&other), None).body["data"], json!([]));
        let refunded = server.call("GET", "/v1/bills/bill-2", Some(&merchant_a), None);
        assert_eq!(refunded.status, 200, "{refunded:?}");
        assert_eq!(refunded.body["refunds"].as_array().map(Vec::len), Some(1), "{refunded:?}");
        server.restart();
    }
    assert_eq!(server.balance("bill-payer"), (10_000 - 870 + 100, 0));
}
