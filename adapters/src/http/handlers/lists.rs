//! The paged lists (Stripe style: `limit`, `starting_after`, `has_more`, in id order): the
//! accounts, holds, authorizations, bills and splits the caller's tenant created (scoped by construction: a
//! tenant lists only its own; the admin's lists are empty, its objects belong to no tenant), and
//! the lists of one user or merchant, each read under its own rule: a merchant's POS settlements
//! (`read_merchant_settlements`), a user's coupons (`read_user_coupons`) and splits
//! (`read_user_splits`).

use actix_web::web;
use kassa_engine::runtime::ObjectPage;
use kassa_engine::{Id, Principal, StateMachine};
use serde_json::{Value, json};

use super::super::requests::PageQuery;
use super::{Answer, Data, blocking, id, ok, views};
use crate::auth::Caller;

/// The holds the caller's tenant placed, from memory and storage (once resolved, they leave
/// memory).
pub(super) async fn holds(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.holds_owned(&principal, limit, starting_after.as_ref())).await?;
    list(None, page, views::hold_json)
}

/// The authorizations the caller's tenant created, from memory and storage (once resolved, they
/// leave memory: `kassa_engine::runtime::ObjectPage`).
pub(super) async fn authorizations(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.authorizations_owned(&principal, limit, starting_after.as_ref())).await?;
    list(None, page, views::authorization_json)
}

/// The bills the caller's tenant opened, from memory and storage.
pub(super) async fn bills(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.bills_owned(&principal, limit, starting_after.as_ref())).await?;
    list(None, page, views::bill_json)
}

/// The splits the caller's tenant requested, from memory and storage.
pub(super) async fn splits(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.splits_owned(&principal, limit, starting_after.as_ref())).await?;
    list(None, page, views::split_json)
}

/// A page of objects as a list body (`subject`: the field naming whose list it is).
fn list<T>(subject: Option<(&str, &Id)>, page: ObjectPage<T>, view: fn(&Id, &T) -> Value) -> Answer {
    let data: Vec<Value> = page.objects.iter().map(|(id, object)| view(id, object)).collect();
    let mut body = json!({"object": "list", "data": data, "has_more": page.has_more});
    if let Some((field, subject)) = subject {
        body[field] = json!(subject.as_str());
    }
    ok(body)
}

/// The accounts the caller's tenant (its app or merchant) opened.
pub(super) async fn accounts(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    merged(state, caller, query, |machine, owner, limit, after| {
        let (page, more) = machine.accounts_owned(owner, limit, after);
        (page.into_iter().filter_map(|id| Some((id.clone(), views::account(machine, &id)?))).collect(), more)
    })
    .await
}

/// A page of the caller's own objects (`page`: one partition's ids in order, with views, and
/// whether more remain there), read from every partition and merged in id order.
async fn merged(
    state: Data,
    caller: Caller,
    query: web::Query<PageQuery>,
    page: impl Fn(&StateMachine, &Principal, usize, Option<&Id>) -> (Vec<(Id, Value)>, bool) + Copy + Send + 'static,
) -> Answer {
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let mut merged: Vec<(Id, Value)> = Vec::new();
    let mut has_more = false;
    for partition in 0..state.engine.placement().count() {
        let (owner, cursor) = (caller.principal.clone(), starting_after.clone());
        let (found, more) = state
            .engine
            .read_partition(partition, move |machine| page(machine, &owner, limit, cursor.as_ref()))
            .await?;
        merged.extend(found);
        has_more |= more;
    }
    merged.sort_by(|left, right| left.0.cmp(&right.0));
    has_more |= merged.len() > limit;
    merged.truncate(limit);
    let data: Vec<Value> = merged.into_iter().map(|(_, view)| view).collect();
    ok(json!({"object": "list", "data": data, "has_more": has_more}))
}

/// The POS settlements made at the merchant's terminals, approved or declined, as each answered.
pub(super) async fn merchant_settlements(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Answer {
    let merchant = id(&path)?;
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), merchant.clone());
    let page = blocking(move || engine.merchant_settlements(&principal, &key, limit, starting_after.as_ref())).await?;
    let data: Vec<Value> = page.objects.into_iter().map(|(id, summary)| views::settlement_json(&id, summary)).collect();
    ok(json!({"object": "list", "merchant": merchant.as_str(), "data": data, "has_more": page.has_more}))
}

/// The splits a user is a member of (what they owe or paid), any state.
pub(super) async fn user_splits(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Answer {
    let user = id(&path)?;
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal, member) = (state.engine.clone(), caller.principal.clone(), user.clone());
    let page = blocking(move || engine.member_splits(&principal, &member, limit, starting_after.as_ref())).await?;
    list(Some(("user", &user)), page, views::split_json)
}

/// The coupons a user holds (any state, the reward coupons its contacts' redemptions earned it
/// included), each with its code, from memory and storage (once redeemed or past their
/// validity, they leave memory).
pub(super) async fn user_coupons(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Answer {
    let user = id(&path)?;
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal, holder) = (state.engine.clone(), caller.principal.clone(), user.clone());
    let page = blocking(move || engine.coupons_held(&principal, &holder, limit, starting_after.as_ref())).await?;
    list(Some(("user", &user)), page, views::coupon_with_code)
}
