//! Model-based simulation in the normal test suite: three seeds of 20,000 commands each run side
//! by side with the reference model (restarts included), and the same seed twice gives the same
//! run. The long run is `kassa-simulate --seed S --commands 1000000`.
//!
//! The same streams run on three partitions too (`simulation/partitions.rs`): transfers between
//! partitions, refused by the payee's partition or applied, across restarts, with every
//! partition's transit empty once a batch is answered.
//!
//! Seed 3 repeats an `IssueCoupon` with another holder within its first 20,000 commands: the bug
//! this simulation found (a repeat answered with the existing coupon's code) stays fixed.

use kassa_tests::simulation::{self, SimConfig, SimReport};

fn simulate(seed: u64, commands: u64) -> SimReport {
    simulate_on(seed, commands, 1)
}

fn simulate_on(seed: u64, commands: u64, partitions: u16) -> SimReport {
    let dir = tempfile::tempdir().unwrap();
    let mut config = SimConfig::new(seed, commands, dir.path());
    config.restarts = 3;
    config.partitions = partitions;
    let report = simulation::run(config).expect("the simulation runs");
    if let Some(divergence) = &report.divergence {
        panic!("{divergence}\n{report}");
    }
    report
}

#[test]
fn simulated_runs_match_the_reference_model() {
    for seed in [1, 2, 3] {
        let report = simulate(seed, 20_000);
        assert_eq!(report.commands, 20_000);
        // Three restart points are drawn; two that fall in one batch make one restart.
        assert!((2..=3).contains(&report.restarts), "{report}");
        assert!(report.state_checks >= 4, "{report}");
        // The stream reaches every flow, applied and refused.
        for kind in [
            "open_account",
            "close_account",
            "deposit",
            "withdraw",
            "transfer",
            "transfer_batch",
            "place_hold",
            "capture_hold",
            "void_hold",
            "register_merchant",
            "register_terminal",
            "register_operator",
            "authorize",
            "settle_pos",
            "reverse_pos",
            "refund_pos",
            "open_bill",
            "add_bill_item",
            "submit_bill",
            "confirm_bill",
            "cancel_bill",
            "refund_bill",
            "refund_split",
            "request_split",
            "pay_split_share",
            "cancel_split",
            "add_contact",
            "issue_coupon",
            "share_coupon",
            "claim_coupon",
            "redeem_coupon",
            "register_api_key",
            "revoke_api_key",
            "tick",
        ] {
            assert!(report.by_kind.contains_key(&format!("{kind}/applied")), "{kind} never applied\n{report}");
        }
        // Tenants' commands are both applied and refused (random principals, issue 14).
        for result in ["as_tenant/applied", "as_tenant/forbidden", "as_tenant/already_exists"] {
            assert!(report.by_kind.contains_key(result), "{result} never happened\n{report}");
        }
        for code in [
            "insufficient_funds",
            "id_reused",
            "already_exists",
            "currency_mismatch",
            "account_not_found",
            "account_closed",
            "invalid_amount",
            "invalid_expiry",
            "incorrect_code",
            "code_already_used",
            "code_tries_exceeded",
            "exceeds_limit",
            "expired",
            "exceeds_hold",
            "hold_already_resolved",
            "bill_not_open",
            "outside_window",
            "not_a_member",
            "already_paid",
            "coupon_not_found",
            "coupon_redeemed",
            "not_a_contact",
            "wrong_merchant",
            "refund_exceeds_charge",
        ] {
            assert!(report.outcomes.contains_key(code), "{code} never seen\n{report}");
        }
    }
}

#[test]
fn a_seed_reproduces_its_run_exactly() {
    let first = simulate(7, 4_000);
    let second = simulate(7, 4_000);
    assert_eq!(first.digest, second.digest);
    assert_eq!(first.outcomes, second.outcomes);
    assert_eq!(first.by_kind, second.by_kind);
    let other = simulate(8, 4_000);
    assert_ne!(first.digest, other.digest);
}

#[test]
fn simulated_runs_on_three_partitions_match_the_reference_model() {
    for seed in [1, 2] {
        let report = simulate_on(seed, 20_000, 3);
        assert_eq!(report.commands, 20_000);
        assert!((2..=3).contains(&report.restarts), "{report}");
        assert!(report.state_checks >= 4, "{report}");
        for key in [
            "transfer/between_partitions/applied",
            "transfer/between_partitions/counterparty_not_found",
            "transfer/between_partitions/insufficient_funds",
            "transfer/between_partitions/currency_mismatch",
            "transfer/between_partitions/account_closed",
            "transfer/between_partitions/id_reused",
            "transfer/applied",
            "transfer_batch/item/payer_elsewhere/applied",
            "transfer_batch/item/payer_elsewhere/insufficient_funds",
            "transfer_batch/between_partitions/applied",
            "transfer_batch/linked/between_partitions/applied",
            "transfer_batch/linked/between_partitions/insufficient_funds",
            "transfer_batch/linked/payer_elsewhere/applied",
            "transfer_batch/linked/payer_elsewhere/insufficient_funds",
            "place_hold/between_partitions/applied",
            "place_hold/between_partitions/counterparty_not_found",
            "place_hold/between_partitions/insufficient_funds",
            "capture_hold/between_partitions/applied",
            "capture_hold/between_partitions/forbidden",
            "place_hold/applied",
            "authorize/between_partitions/applied",
            "settle_pos/applied",
            "settle_pos/between_partitions/applied",
            "settle_pos/held/between_partitions/applied",
            "void_hold/between_partitions/applied",
            "reverse_pos/between_partitions/applied",
            "refund_pos/between_partitions/applied",
            "open_bill/between_partitions/applied",
            "confirm_bill/between_partitions/applied",
            "confirm_bill/between_partitions/insufficient_funds",
            "confirm_bill/between_partitions/coupon/applied",
            "refund_bill/between_partitions/applied",
            "confirm_bill/applied",
            "request_split/between_partitions/applied",
            "pay_split_share/between_partitions/applied",
            "cancel_split/between_partitions/applied",
            "refund_split/between_partitions/applied",
            "pay_split_share/applied",
            "redeem_coupon/applied",
            "register_merchant/merchant_elsewhere/applied",
            "settle_pos/merchant_elsewhere/applied",
            "settle_pos/held/merchant_elsewhere/applied",
            "capture_hold/merchant_elsewhere/applied",
            "refund_pos/merchant_elsewhere/applied",
            "reverse_pos/merchant_elsewhere/applied",
            "refund_bill/merchant_elsewhere/applied",
            "open_bill/merchant_elsewhere/applied",
            "confirm_bill/merchant_elsewhere/applied",
        ] {
            assert!(report.by_kind.contains_key(key), "{key} never happened\n{report}");
        }
    }
}
