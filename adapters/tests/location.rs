//! A coupon's location-adjusted value over HTTP, at the POS and on a bill: the payment's
//! `location` decides it, as for an operator's redemption.

mod common;

use common::Server;
use serde_json::json;

const STORE: (i32, i32) = (48_856_600, 2_352_200);

/// A coupon of 100 off for u1 at m1, tripled within 200 m of the store.
fn coupon(server: &Server, coupon: &str) {
    let adjustment = json!({"type": "location", "latitude_e6": STORE.0, "longitude_e6": STORE.1,
        "radius_m": 200, "factor_percent": 300});
    let body = json!({"id": coupon, "merchant": "m1", "holder": "u1", "currency": "EUR",
        "rule": {"type": "fixed_off", "amount": 100}, "adjustments": [adjustment], "expires_in_s": 600});
    server.admin("POST", "/v1/coupons", body);
}

#[test]
fn payments_that_say_where_get_the_location_adjusted_coupon_value() {
    let server = Server::start(&[]);
    server.funded_account("alice", "EUR", 10_000);
    server.merchant_with_terminal("m1", "t1", None);
    let store = json!({"latitude_e6": STORE.0, "longitude_e6": STORE.1});
    let elsewhere = json!({"latitude_e6": 45_764_000, "longitude_e6": 4_835_700});
    for (sale, location, charged) in [("in", Some(&store), 700), ("out", Some(&elsewhere), 900), ("none", None, 900)] {
        coupon(&server, &format!("c-{sale}"));
        let code = server.authorize(&format!("au-{sale}"), "u1", "alice", 5_000);
        let mut body = json!({"id": format!("s-{sale}"), "user": "u1", "code": code, "amount": 1_000, "terminal": "t1", "coupon": format!("c-{sale}")});
        if let Some(location) = location {
            body["location"] = location.clone();
        }
        let settled = server.admin("POST", "/v1/pos/settlements", body);
        assert_eq!(settled["charged"], json!(charged), "{sale}: {settled}");
    }
    // A bill confirmed in the store.
    coupon(&server, "c-bill");
    server.admin(
        "POST",
        "/v1/bills",
        json!({"id": "b-1", "user": "u1", "account": "alice", "merchant": "m1", "expires_in_s": 600}),
    );
    server.admin(
        "POST",
        "/v1/bills/b-1/items",
        json!({"terminal": "t1", "item_ref": "lunch", "quantity": 1, "unit_amount": 1_000}),
    );
    let challenge = server.admin("POST", "/v1/bills/b-1/submit", json!({}))["challenge"].clone();
    let paid = server.admin(
        "POST",
        "/v1/bills/b-1/confirm",
        json!({"challenge": challenge, "coupon": "c-bill", "location": store}),
    );
    assert_eq!((paid["charged"].clone(), paid["discount"].clone()), (json!(700), json!(300)), "{paid}");
    // A malformed location is refused before anything happens.
    let bad = json!({"id": "s-bad", "user": "u1", "code": "12345678", "amount": 1, "terminal": "t1", "location": {"latitude_e6": 1}});
    server
        .call("POST", "/v1/pos/settlements", Some(common::ADMIN_KEY), Some(&bad))
        .assert_error(400, "malformed_request");
}

/// A terminal registered with where it stands prices a sale that says nothing of its location
/// there; a sale that says where it is still decides; a location off the globe is refused.
#[test]
fn a_terminal_registered_with_its_location_prices_the_sales_that_name_none() {
    let server = Server::start(&[]);
    server.funded_account("alice", "EUR", 10_000);
    server.merchant_with_terminal("m1", "t-elsewhere", None);
    let store = json!({"latitude_e6": STORE.0, "longitude_e6": STORE.1});
    let registered =
        server.admin("POST", "/v1/terminals", json!({"id": "t-store", "merchant": "m1", "location": store}));
    assert_eq!(registered["id"], json!("t-store"), "{registered}");
    let elsewhere = json!({"latitude_e6": 45_764_000, "longitude_e6": 4_835_700});
    let sales = [("t-store", None, 700), ("t-elsewhere", None, 900), ("t-store", Some(&elsewhere), 900)];
    for (index, (terminal, location, charged)) in sales.into_iter().enumerate() {
        coupon(&server, &format!("c-{index}"));
        let code = server.authorize(&format!("au-{index}"), "u1", "alice", 5_000);
        let mut body = json!({"id": format!("s-{index}"), "user": "u1", "code": code, "amount": 1_000,
            "terminal": terminal, "coupon": format!("c-{index}")});
        if let Some(location) = location {
            body["location"] = location.clone();
        }
        let settled = server.admin("POST", "/v1/pos/settlements", body);
        assert_eq!(settled["charged"], json!(charged), "sale {index} at {terminal}: {settled}");
    }
    // Registering it again the same way is a repeat; elsewhere, or off the globe, is refused.
    server.admin("POST", "/v1/terminals", json!({"id": "t-store", "merchant": "m1", "location": store}));
    let moved = json!({"id": "t-store", "merchant": "m1", "location": elsewhere});
    server.call("POST", "/v1/terminals", Some(common::ADMIN_KEY), Some(&moved)).assert_error(409, "already_exists");
    let off = json!({"id": "t-off", "merchant": "m1", "location": {"latitude_e6": 90_000_001, "longitude_e6": 0}});
    server.call("POST", "/v1/terminals", Some(common::ADMIN_KEY), Some(&off)).assert_error(422, "invalid_field");
}
