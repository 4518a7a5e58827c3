//! Splits, contacts, coupons and pools: the user side.

use actix_web::web;
use kassa_engine::authority::Read;
use kassa_engine::command::{Command, Reply};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::random_nonce;
use kassa_engine::state_machine::CouponState;
use kassa_engine::types::GeoPoint;
use kassa_engine::{Engine, Id, Principal, Rejection};
use serde_json::json;

use super::super::requests::*;
use super::views;
use super::{Answer, Data, blocking, get_with_metadata, id, now_ms, ok, read, submit, submit_and_view};
use crate::auth::Caller;
use crate::http::ApiError;

pub(super) async fn request_split(state: Data, caller: Caller, body: web::Json<SplitBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    let (_, view) = submit_and_view(&state, submission, views::split, body.id.clone()).await?;
    ok(view)
}

pub(super) async fn get_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Split, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::split, views::split_json), Rejection::SplitNotFound).await
}

pub(super) async fn pay_split(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<PayBody>,
) -> Answer {
    let split = id(&path)?;
    let (reply, mut view) = submit_and_view(&state, caller.sends(body.command(&split)), views::split, split).await?;
    let Reply::SharePaid { amount, completed } = reply else { unreachable!("pay answers SharePaid") };
    view["paid_amount"] = json!(amount);
    view["completed"] = json!(completed);
    ok(view)
}

pub(super) async fn cancel_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let split = id(&path)?;
    let cancel = Command::CancelSplit { split: split.clone() };
    let (reply, mut view) = submit_and_view(&state, caller.sends(cancel), views::split, split).await?;
    let Reply::SplitCancelled { refunded } = reply else { unreachable!("cancel answers SplitCancelled") };
    view["refunded"] = json!(refunded);
    ok(view)
}

/// Refunds a completed split: the requester's account pays every member back; answered with
/// the split (`"status": "refunded"`) and the total given back.
pub(super) async fn refund_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let split = id(&path)?;
    let refund = Command::RefundSplit { split: split.clone() };
    let (reply, mut view) = submit_and_view(&state, caller.sends(refund), views::split, split).await?;
    let Reply::Refunded { amount, .. } = reply else { unreachable!("a split refund answers Refunded") };
    view["refunded"] = json!(amount);
    ok(view)
}

// ----- contacts, coupons, pools --------------------------------------------------------------

pub(super) async fn add_contact(state: Data, caller: Caller, body: web::Json<ContactBody>) -> Answer {
    let reply = submit(&state, &caller, body.command()).await?;
    // Across apps, the pair is linked once the other user's app sends it back (consent).
    let status = if reply == Reply::ContactRequested { "requested" } else { "linked" };
    ok(json!({"user": body.user.as_str(), "contact": body.contact.as_str(), "status": status}))
}

pub(super) async fn issue_coupon(state: Data, caller: Caller, body: web::Json<CouponBody>) -> Answer {
    // A retry (same id and rules) gets the first issue's code back from the engine.
    let issue = body.command(now_ms(), random_nonce())?;
    let (reply, mut view) = submit_and_view(&state, caller.sends(issue), views::coupon, body.id.clone()).await?;
    let Reply::CouponIssued { code } = reply else { unreachable!("issue answers CouponIssued") };
    view["code"] = json!(code);
    ok(view)
}

pub(super) async fn get_coupon(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let coupon = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), coupon.clone());
    let found = blocking(move || engine.coupon(&principal, &key)).await?;
    let found = found.ok_or_else(|| ApiError::rejected(Rejection::CouponNotFound))?;
    ok(views::coupon_with_code(&coupon, &found))
}

pub(super) async fn share_coupon(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UserBody>,
) -> Answer {
    let coupon = id(&path)?;
    submit(&state, &caller, body.share(&coupon)).await?;
    ok(json!({"id": coupon.as_str(), "status": "shared", "pool_of": body.user.as_str()}))
}

pub(super) async fn claim_coupon(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UserBody>,
) -> Answer {
    let coupon = id(&path)?;
    let claim = body.claim(&coupon, random_nonce());
    let (reply, mut view) = submit_and_view(&state, caller.sends(claim), views::coupon, coupon).await?;
    let Reply::CouponClaimed { code } = reply else { unreachable!("claim answers CouponClaimed") };
    view["code"] = json!(code);
    ok(view)
}

/// The operator a verification or redemption is made as: the one the body names, else an
/// operator key's own. Whether the caller may act as that operator is the engine's decision
/// (an operator only as itself; the admin as any).
fn operator_of(caller: &Caller, named: Option<&Id>) -> Result<Id, ApiError> {
    match (named, &caller.principal) {
        (Some(named), _) => Ok(named.clone()),
        (None, Principal::Operator(operator)) => Ok(operator.clone()),
        // The body is well formed; it is the caller that needs the field: 422, like a rule.
        (None, Principal::Admin) => Err(ApiError::unprocessable("missing_field", "an admin names the `operator`")),
        (None, _) => Err(ApiError::rejected(Rejection::Forbidden)),
    }
}

fn point(location: &Option<LocationBody>) -> Option<GeoPoint> {
    location.as_ref().map(LocationBody::point)
}

pub(super) async fn verify_coupon(state: Data, caller: Caller, body: web::Json<VerifyBody>) -> Answer {
    let operator = operator_of(&caller, body.operator.as_ref())?;
    let (code, amount, location) = (body.code.clone(), body.amount, point(&body.location));
    let check = Read::VerifyCoupon(operator.clone());
    let verdict = read(&state, &caller, check, move |machine| {
        machine.verify_coupon(machine.state_now_ms(), &operator, &code, amount, location)
    })
    .await?;
    match verdict {
        Ok((coupon, quote)) => ok(
            json!({"coupon": coupon.as_str(), "valid": true, "amount": amount, "discount": quote.discount, "payable": quote.payable}),
        ),
        Err(rejection) => {
            tracing::info!(code = rejection.code(), key = %caller.key_id, "coupon verification refused");
            Err(ApiError::rejected(rejection))
        }
    }
}

pub(super) async fn redeem_coupon(state: Data, caller: Caller, body: web::Json<RedeemBody>) -> Answer {
    let operator = operator_of(&caller, body.operator.as_ref())?;
    let reply = submit(&state, &caller, body.command(&operator)).await.inspect_err(|error| {
        tracing::info!(code = %error.code, key = %caller.key_id, "coupon redemption refused");
    })?;
    let Reply::CouponRedeemed { discount, payable, reward_coupon } = reply else {
        unreachable!("redeem answers CouponRedeemed")
    };
    ok(
        json!({"id": body.id.as_str(), "status": "redeemed", "amount": body.amount, "discount": discount, "payable": payable, "reward_coupon": reward_coupon.map(|id| id.to_string())}),
    )
}

pub(super) async fn pool(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    let key = user.clone();
    let coupons: Vec<String> =
        read(&state, &caller, Read::User(user.clone()), move |machine| machine.pool(&key).map(Id::to_string).collect())
            .await?;
    ok(json!({"user": user.as_str(), "coupons": coupons}))
}

pub(super) async fn claimable(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    let key = user.clone();
    let coupons: Vec<String> = read(&state, &caller, Read::User(user.clone()), move |machine| {
        machine.claimable_coupons(&key).iter().map(Id::to_string).collect()
    })
    .await?;
    ok(json!({"user": user.as_str(), "coupons": coupons}))
}

pub(super) async fn quote(state: Data, caller: Caller, body: web::Json<QuoteBody>) -> Answer {
    body.check_amount()?;
    let (amount, location, key) = (body.amount, point(&body.location), body.coupon.clone());
    let priced = read(&state, &caller, Read::Coupon(body.coupon.clone()), move |machine| {
        let now = machine.state_now_ms();
        let coupon = machine.coupon(&key).ok_or(Rejection::CouponNotFound)?;
        let valid =
            coupon.state == CouponState::Available && now >= coupon.valid_from_ms && now < coupon.valid_until_ms;
        if !valid {
            return Err(Rejection::CouponNotValid);
        }
        let quote =
            kassa_engine::state_machine::rules::quote(&coupon.rule, &coupon.adjustments, amount, now, location)?;
        Ok((quote, coupon.currency))
    })
    .await?;
    let (quote, currency) = priced.map_err(ApiError::rejected)?;
    ok(
        json!({"coupon": body.coupon.as_str(), "amount": amount, "discount": quote.discount, "payable": quote.payable, "currency": currency.alpha(), "rounding": "half_even_to_minor_unit"}),
    )
}
