//! The paged lists (Stripe style: `limit`, `starting_after`, `has_more`, in id order): the
//! accounts, holds, authorizations, bills and splits the caller's tenant created (scoped by construction: a
//! tenant lists only its own; the admin's lists are empty, its objects belong to no tenant), and
//! the lists of one user or merchant, each read under its own rule: a merchant's POS settlements
//! (`read_merchant_settlements`), a user's coupons (`read_user_coupons`) and splits
//! (`read_user_splits`).

use actix_web::web;
use kassa_engine::Id;
use kassa_engine::authority::Operation;
use kassa_engine::runtime::ObjectPage;

use super::super::requests::PageQuery;
use super::openapi::{ErrorResponses, own_objects};
use super::pages::{
    AccountPage, AuthorizationPage, BillPage, CouponPage, HoldPage, ListObject, MemberSplitPage, SettlementPage,
    SplitPage,
};
use super::views;
use super::{Answer, Data, blocking, id, ok};
use crate::auth::Caller;
use crate::http::schemas::{IdPath, UserPath};

/// The holds the caller's tenant placed, in pages in id order (limit 1..1000, default 100;
/// starting_after = the last hold's id; has_more); the admin's list is empty.
///
/// From memory and storage (once resolved, holds leave memory).
#[utoipa::path(get, path = "/v1/holds", operation_id = "get_v1_holds", tag = "accounts", params(PageQuery),
    responses((status = 200, description = "ok", body = HoldPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(own_objects()))))]
pub(super) async fn holds(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.holds_owned(&principal, limit, starting_after.as_ref())).await?;
    let (data, has_more) = list(page, views::hold_view);
    ok(&HoldPage { object: ListObject::List, data, has_more })
}

/// The authorizations the caller's tenant made (never their codes), in pages in id order; the
/// admin's list is empty.
///
/// From memory and storage (once resolved, they leave memory: `ObjectPage`).
#[utoipa::path(get, path = "/v1/authorizations", operation_id = "get_v1_authorizations", tag = "pos",
    params(PageQuery), responses((status = 200, description = "ok", body = AuthorizationPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(own_objects()))))]
pub(super) async fn authorizations(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let limit = query.limit()?;
    let starting_after = query.starting_after.as_deref().map(id).transpose()?;
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.authorizations_owned(&principal, limit, starting_after.as_ref())).await?;
    let (data, has_more) = list(page, views::authorization_view);
    ok(&AuthorizationPage { object: ListObject::List, data, has_more })
}

/// The bills the caller's tenant opened, in pages in id order; the admin's list is empty.
///
/// From memory and storage.
#[utoipa::path(get, path = "/v1/bills", operation_id = "get_v1_bills", tag = "bills", params(PageQuery),
    responses((status = 200, description = "ok", body = BillPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(own_objects()))))]
pub(super) async fn bills(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.bills_owned(&principal, limit, starting_after.as_ref())).await?;
    let (data, has_more) = list(page, views::bill_view);
    ok(&BillPage { object: ListObject::List, data, has_more })
}

/// The splits the caller's tenant requested, in pages in id order; the admin's list is empty.
///
/// From memory and storage.
#[utoipa::path(get, path = "/v1/splits", operation_id = "get_v1_splits", tag = "splits", params(PageQuery),
    responses((status = 200, description = "ok", body = SplitPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(own_objects()))))]
pub(super) async fn splits(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.splits_owned(&principal, limit, starting_after.as_ref())).await?;
    let (data, has_more) = list(page, views::split_view);
    ok(&SplitPage { object: ListObject::List, data, has_more })
}

/// A page of objects as their views, and whether more follow.
fn list<T, V>(page: ObjectPage<T>, view: fn(&Id, &T) -> V) -> (Vec<V>, bool) {
    (page.objects.iter().map(|(id, object)| view(id, object)).collect(), page.has_more)
}

/// The accounts the caller's tenant (app or merchant) opened, in pages in id order (limit
/// 1..1000, default 100; starting_after = the last account's id; has_more); the admin's list is
/// empty.
#[utoipa::path(get, path = "/v1/accounts", operation_id = "get_v1_accounts", tag = "payments", params(PageQuery),
    responses((status = 200, description = "ok", body = AccountPage), ErrorResponses),
    extensions(("x-kassa-roles" = json!(own_objects()))))]
pub(super) async fn accounts(state: Data, caller: Caller, query: web::Query<PageQuery>) -> Answer {
    let (limit, starting_after) = (query.limit()?, query.starting_after.as_deref().map(id).transpose()?);
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let page = blocking(move || engine.accounts_owned(&principal, limit, starting_after.as_ref())).await?;
    let (data, has_more) = list(page, views::account_view);
    ok(&AccountPage { object: ListObject::List, data, has_more })
}

/// The POS settlements made at the merchant's terminals, approved or declined, each as it was
/// answered; in pages in id order (limit 1..1000, default 100; starting_after; has_more).
#[utoipa::path(get, path = "/v1/merchants/{id}/settlements", operation_id = "get_v1_merchants_id_settlements",
    tag = "pos", params(IdPath, PageQuery),
    responses((status = 200, description = "ok", body = SettlementPage), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadMerchantSettlements.name()))))]
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
    let (data, has_more) = list(page, views::settlement_view);
    ok(&SettlementPage { object: ListObject::List, merchant, data, has_more })
}

/// The splits a user is a member of (what they owe or paid), any state; in pages in id order
/// (limit 1..1000, default 100; starting_after = the last split's id; has_more).
#[utoipa::path(get, path = "/v1/users/{user}/splits", operation_id = "get_v1_users_user_splits", tag = "splits",
    params(UserPath, PageQuery),
    responses((status = 200, description = "ok", body = MemberSplitPage), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadUserSplits.name()))))]
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
    let (data, has_more) = list(page, views::split_view);
    ok(&MemberSplitPage { object: ListObject::List, user, data, has_more })
}

/// The coupons a user holds, any state, reward coupons included (those its contacts'
/// redemptions earned it), each with its code; in pages in id order (limit 1..1000, default
/// 100; starting_after = the last coupon's id; has_more).
///
/// From memory and storage (once redeemed or past their validity, coupons leave memory).
#[utoipa::path(get, path = "/v1/users/{user}/coupons", operation_id = "get_v1_users_user_coupons", tag = "coupons",
    params(UserPath, PageQuery), responses((status = 200, description = "ok", body = CouponPage), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadUserCoupons.name()))))]
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
    let (data, has_more) = list(page, views::coupon_with_code);
    ok(&CouponPage { object: ListObject::List, user, data, has_more })
}
