//! The rule table's shape and its rendering in docs/tenancy.md.

use super::*;

#[test]
fn rules_are_listed_in_operation_order_so_lookup_is_an_index() {
    for (index, (operation, _)) in RULES.iter().enumerate() {
        assert_eq!(*operation as usize, index, "{operation:?} is out of place in RULES");
    }
    assert_eq!(RULES.len(), Operation::ReadCouponCode as usize + 1, "every operation has a row");
    for (position, role) in Role::ALL.iter().enumerate() {
        assert_eq!(*role as usize, position);
    }
}

#[test]
fn the_admin_may_do_everything_and_nobody_else_may_mint_money_or_keys() {
    for (operation, cells) in RULES {
        assert_eq!(cells[Role::Admin as usize], Relation::Yes, "{operation:?}");
    }
    for operation in [Operation::Deposit, Operation::OpenAccountWithOverdraft, Operation::RegisterApiKey] {
        for role in [Role::App, Role::Merchant, Role::Operator, Role::Terminal] {
            assert_eq!(rule(operation, role), Relation::No, "{operation:?} by {role:?}");
        }
    }
}

#[test]
fn docs_tenancy_md_renders_the_table() {
    let docs = include_str!("../../../docs/tenancy.md");
    assert!(
        docs.contains(&render_table()),
        "docs/tenancy.md's table differs from RULES; paste this in:\n{}",
        render_table()
    );
}
