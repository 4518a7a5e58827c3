//! Lookups by id over HTTP: an authorization (its state, never its code) before and after its
//! code is revoked, and a POS settlement as it was answered, before and after its reversal.

mod common;

use common::Server;
use serde_json::{Value, json};

#[test]
fn authorizations_and_settlements_are_looked_up_by_id() {
    let server = Server::start(&[]);
    server.funded_account("alice", "EUR", 10_000);
    server.funded_account("shop", "EUR", 0);
    server.merchant_with_terminal("m1", "t1", None);

    let code = server.authorize("au-1", "u1", "alice", 5_000);
    let found = server.admin_get("/v1/authorizations/au-1");
    assert_eq!((found["status"].clone(), found["limit"].clone()), (json!("active"), json!(5_000)));
    assert!(found.get("code").is_none(), "the code is never shown again: {found}");
    let settle = json!({"id": "s-1", "user": "u1", "code": code, "amount": 1_200, "terminal": "t1"});
    let settled = server.admin("POST", "/v1/pos/settlements", settle);
    assert_eq!(settled["approved"], json!(true));
    let found = server.admin_get("/v1/pos/settlements/s-1");
    assert_eq!(found["approval_code"], settled["approval_code"]);
    assert_eq!((found["charged"].clone(), found["reversed"].clone()), (json!(1_200), json!(false)));
    assert_eq!(server.admin_get("/v1/authorizations/au-1")["status"], json!("used"));
    server.admin("POST", "/v1/pos/settlements/s-1/reverse", json!({}));
    assert_eq!(server.admin_get("/v1/pos/settlements/s-1")["reversed"], json!(true));

    // A lost phone: the unused code is revoked, then declined.
    let lost = server.authorize("au-2", "u1", "alice", 5_000);
    let revoked = server.admin("POST", "/v1/authorizations/au-2/revoke", json!({}));
    assert_eq!(revoked["status"], json!("revoked"));
    let settle = json!({"id": "s-2", "user": "u1", "code": lost, "amount": 100, "terminal": "t1"});
    let declined = server.admin("POST", "/v1/pos/settlements", settle);
    assert_eq!((declined["approved"].clone(), declined["decline_code"].clone()), (json!(false), json!("code_revoked")));
    assert_eq!(server.admin_get("/v1/pos/settlements/s-2")["decline_code"], json!("code_revoked"));

    // History in pages, newest first: the cursor is the last line's id.
    let first = server.admin_get("/v1/accounts/alice/history?limit=2");
    assert_eq!(first["has_more"], json!(true), "{first}");
    let amounts: Vec<i64> =
        first["data"].as_array().unwrap().iter().map(|line| line["amount"].as_i64().unwrap()).collect();
    assert_eq!(amounts, vec![1_200, -1_200], "the reversal, then the sale");
    let cursor = first["data"][1]["id"].as_str().unwrap();
    let rest = server.admin_get(&format!("/v1/accounts/alice/history?limit=2&starting_after={cursor}"));
    assert_eq!((rest["data"][0]["amount"].clone(), rest["has_more"].clone()), (json!(10_000), json!(false)));
    let bad = server.call("GET", "/v1/accounts/alice/history?starting_after=x", Some(common::ADMIN_KEY), None);
    bad.assert_error(400, "invalid_cursor");

    let missing = server.call("GET", "/v1/authorizations/nope", Some(common::ADMIN_KEY), None);
    missing.assert_error(404, "authorization_not_found");
    let missing = server.call("GET", "/v1/pos/settlements/nope", Some(common::ADMIN_KEY), None);
    missing.assert_error(404, "settlement_not_found");
}

/// Pages of the accounts `key` lists, `limit` at a time, following the cursor to the end.
fn list_all(server: &Server, key: &str, limit: usize) -> Vec<String> {
    let (mut ids, mut cursor) = (Vec::new(), String::new());
    loop {
        let path = if cursor.is_empty() {
            format!("/v1/accounts?limit={limit}")
        } else {
            format!("/v1/accounts?limit={limit}&starting_after={cursor}")
        };
        let answer = server.call("GET", &path, Some(key), None);
        assert_eq!(answer.status, 200, "{answer:?}");
        let page: Vec<String> =
            answer.body["data"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
        assert!(page.len() <= limit);
        ids.extend(page.clone());
        if answer.body["has_more"] != json!(true) {
            return ids;
        }
        cursor = page.last().expect("a page with more after it is not empty").clone();
    }
}

#[test]
fn a_tenant_lists_its_own_accounts_in_pages_over_every_partition() {
    for partitions in ["1", "3"] {
        let server = Server::start(&["--partitions", partitions]);
        let (app, other) =
            (server.key(json!({"role": "app", "app": "shop-a"})), server.key(json!({"role": "app", "app": "shop-b"})));
        let mut expected: Vec<String> = (0..7).map(|n| format!("acct-{n:02}")).collect();
        for account in &expected {
            let answer =
                server.call("POST", "/v1/accounts", Some(&app), Some(&json!({"id": account, "currency": "EUR"})));
            assert_eq!(answer.status, 200, "{answer:?}");
        }
        let answer =
            server.call("POST", "/v1/accounts", Some(&other), Some(&json!({"id": "theirs", "currency": "EUR"})));
        assert_eq!(answer.status, 200, "{answer:?}");
        expected.sort();
        assert_eq!(list_all(&server, &app, 3), expected, "{partitions} partitions");
        assert_eq!(list_all(&server, &app, 1_000), expected);
        assert_eq!(list_all(&server, &other, 2), vec!["theirs".to_string()], "each tenant sees its own");
        let bad = server.call("GET", "/v1/accounts?starting_after=a%20b", Some(&app), None);
        assert_eq!(bad.status, 400, "{bad:?}");
        // A user no app has claimed: its coupons (and their codes) are the admin's to list only.
        let unclaimed = server.call("GET", "/v1/users/nobody-yet/coupons", Some(&app), None);
        unclaimed.assert_error(403, "forbidden");
    }
}

/// Every id of a list at `path` as `key` sees it, `limit` at a time.
fn ids_of(server: &Server, key: &str, path: &str, limit: usize) -> Vec<String> {
    let (mut ids, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let page_path = match &cursor {
            Some(after) => format!("{path}?limit={limit}&starting_after={after}"),
            None => format!("{path}?limit={limit}"),
        };
        let answer = server.call("GET", &page_path, Some(key), None);
        assert_eq!(answer.status, 200, "{page_path}: {answer:?}");
        let page: Vec<String> = answer.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_str().unwrap().to_string())
            .collect();
        assert!(page.len() <= limit);
        ids.extend(page.clone());
        if answer.body["has_more"] != json!(true) {
            return ids;
        }
        cursor = page.last().cloned();
    }
}

#[test]
fn tenants_list_their_holds_authorizations_bills_splits_and_merchants_their_settlements_users_their_splits() {
    let server = Server::start(&[]);
    let app = server.key(json!({"role": "app", "app": "shop-a"}));
    let other = server.key(json!({"role": "app", "app": "shop-b"}));
    server.merchant_with_terminal("m1", "t1", None);
    server.merchant_with_terminal("m2", "t2", None);
    let as_app = |path: &str, body: Value| {
        let answer = server.call("POST", path, Some(&app), Some(&body));
        assert_eq!(answer.status, 200, "{path} {body}: {answer:?}");
        answer.body
    };
    as_app("/v1/accounts", json!({"id": "acct-a", "currency": "EUR"}));
    server.admin("POST", "/v1/accounts/acct-a/deposits", json!({"id": "fund-a", "amount": 10_000}));
    for hold in ["h-2", "h-1", "h-3"] {
        let body = json!({"id": hold, "from": "acct-a", "to": "m1-till", "amount": 10, "currency": "EUR", "expires_in_s": 600});
        as_app("/v1/holds", body);
    }
    let code = as_app(
        "/v1/authorizations",
        json!({"id": "au-1", "user": "u1", "account": "acct-a", "limit": 1_000, "expires_in_s": 600}),
    )["code"]
        .as_str()
        .unwrap()
        .to_string();
    as_app("/v1/bills", json!({"id": "b-1", "user": "u1", "account": "acct-a", "merchant": "m1", "expires_in_s": 600}));
    as_app(
        "/v1/splits",
        json!({"id": "s-1", "requester": "u1", "requester_account": "acct-a", "total": 2, "currency": "EUR",
               "members": [{"user": "u1", "account": "acct-a"}], "expires_in_s": 600}),
    );
    assert_eq!(ids_of(&server, &app, "/v1/holds", 2), ["h-1", "h-2", "h-3"]);
    assert_eq!(ids_of(&server, &app, "/v1/authorizations", 10), ["au-1"]);
    assert_eq!(ids_of(&server, &app, "/v1/bills", 10), ["b-1"]);
    assert_eq!(ids_of(&server, &app, "/v1/splits", 10), ["s-1"]);
    for list in ["/v1/holds", "/v1/authorizations", "/v1/bills", "/v1/splits"] {
        assert!(ids_of(&server, &other, list, 10).is_empty(), "{list} is the creator's");
    }
    // The splits a user is a member of: the user's app (and the admin) list them.
    assert_eq!(ids_of(&server, &app, "/v1/users/u1/splits", 10), ["s-1"]);
    assert_eq!(ids_of(&server, common::ADMIN_KEY, "/v1/users/u1/splits", 10), ["s-1"]);
    server.call("GET", "/v1/users/u1/splits", Some(&other), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/users/nobody-yet/splits", Some(&app), None).assert_error(403, "forbidden");
    let first = server.call("GET", "/v1/holds?limit=1", Some(&app), None);
    assert_eq!(
        (first.body["data"][0]["status"].clone(), first.body["has_more"].clone()),
        (json!("active"), json!(true))
    );

    // Settlements by merchant: approved and declined, as each answered; the merchant's own only.
    for (settlement, terminal, user_code) in
        [("ps-2", "t1", code.as_str()), ("ps-1", "t1", "999999"), ("ps-3", "t2", "1")]
    {
        let body = json!({"id": settlement, "user": "u1", "code": user_code, "amount": 100, "terminal": terminal});
        server.admin("POST", "/v1/pos/settlements", body);
    }
    let m1 = server.key(json!({"role": "merchant", "merchant": "m1"}));
    assert_eq!(ids_of(&server, &m1, "/v1/merchants/m1/settlements", 1), ["ps-1", "ps-2"]);
    let listed = server.admin_get("/v1/merchants/m1/settlements");
    let approved: Vec<Value> = listed["data"].as_array().unwrap().iter().map(|s| s["approved"].clone()).collect();
    assert_eq!(approved, [json!(false), json!(true)]);
    assert_eq!(ids_of(&server, common::ADMIN_KEY, "/v1/merchants/m2/settlements", 10), ["ps-3"]);
    server.call("GET", "/v1/merchants/m2/settlements", Some(&m1), None).assert_error(403, "forbidden");
    server.call("GET", "/v1/merchants/m1/settlements", Some(&app), None).assert_error(403, "forbidden");
}
