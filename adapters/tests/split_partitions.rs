//! Group-payment splits on three partitions, as an app backend sees them through a real
//! `kassa serve --partitions 3`: members and requesters on every partition pay, complete,
//! cancel and are paid back, or are refunded once complete; a member's account cannot close
//! while its share is in escrow; and the money adds up.

mod common;

use common::{ADMIN_KEY, Server};
use serde_json::json;

#[test]
fn splits_with_accounts_on_every_partition_complete_and_cancel() {
    let server = Server::start(&["--partitions", "3"]);
    for n in 0..8 {
        let (requester, split) = (format!("req-{n}"), format!("sp-{n}"));
        server.funded_account(&requester, "EUR", 0);
        let members: Vec<_> = (0..3)
            .map(|m| {
                let account = format!("mem-{n}-{m}");
                server.funded_account(&account, "EUR", 1_000);
                json!({"user": format!("u{n}-{m}"), "account": account})
            })
            .collect();
        let request = json!({"id": split, "requester": format!("ur{n}"), "requester_account": requester,
            "total": 900, "currency": "EUR", "members": members, "expires_in_s": 600});
        let requested = server.admin("POST", "/v1/splits", request);
        assert_eq!(requested["status"], json!("open"), "{requested:?}");
        assert!((0..3).all(|m| requested["members"][m]["share"] == json!(300)), "{requested:?}");
        let pay =
            |m: usize| server.admin("POST", &format!("/v1/splits/{split}/pay"), json!({"member": format!("u{n}-{m}")}));
        pay(0);
        // A member whose share is in escrow may not close its account, wherever it lives.
        let close = server.call("POST", &format!("/v1/accounts/mem-{n}-0/close"), Some(ADMIN_KEY), Some(&json!({})));
        close.assert_error(422, "account_not_empty");
        if n % 2 == 0 {
            let cancelled = server.admin("POST", &format!("/v1/splits/{split}/cancel"), json!({}));
            assert_eq!(cancelled["refunded"], json!(300));
            assert_eq!(server.balance(&format!("mem-{n}-0")).0, 1_000, "split {n}: the share came back");
            assert_eq!(server.balance(&requester).0, 0);
            continue;
        }
        pay(1);
        let last = pay(2);
        assert_eq!(last["completed"], json!(true), "{last:?}");
        assert_eq!(server.balance(&requester).0, 900, "split {n}");
        for m in 0..3 {
            assert_eq!(server.balance(&format!("mem-{n}-{m}")).0, 700);
        }
        assert_eq!(server.admin_get(&format!("/v1/splits/{split}"))["status"], json!("completed"));
        if n % 4 == 1 {
            // The refund pays every member back from the requester, wherever each lives.
            let refunded = server.admin("POST", &format!("/v1/splits/{split}/refund"), json!({}));
            assert_eq!(refunded["refunded"], json!(900), "{refunded:?}");
            assert_eq!(refunded["status"], json!("refunded"), "{refunded:?}");
            assert_eq!(server.balance(&requester).0, 0);
            assert!((0..3).all(|m| server.balance(&format!("mem-{n}-{m}")).0 == 1_000));
            assert_eq!(server.admin_get(&format!("/v1/splits/{split}"))["status"], json!("refunded"));
        } else {
            // A requester that spent the total cannot refund it: nothing moves anywhere.
            let spent = json!({"id": format!("spend-{n}"), "amount": 850});
            server.admin("POST", &format!("/v1/accounts/{requester}/withdrawals"), spent);
            let refused = server.call("POST", &format!("/v1/splits/{split}/refund"), Some(ADMIN_KEY), Some(&json!({})));
            assert_eq!(refused.code(), "insufficient_funds", "{refused:?}");
            assert!((0..3).all(|m| server.balance(&format!("mem-{n}-{m}")).0 == 700));
        }
    }
}
