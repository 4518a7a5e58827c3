//! Splits, contacts, coupons and pools: the user side.

use actix_web::web;
use kassa_engine::authority::{Operation, Read};
use kassa_engine::command::{Command, Reply};
use kassa_engine::metadata::MetadataKind;
use kassa_engine::runtime::random_nonce;
use kassa_engine::state_machine::StateMachine;
use kassa_engine::types::GeoPoint;
use kassa_engine::{Engine, Id, Principal, Rejection};

use super::super::requests::*;
use super::openapi::ErrorResponses;
use super::replies::{
    ContactAdded, ContactStatus, CouponList, CouponRedeemed, CouponShared, CouponVerified, QuoteResult, RedeemedStatus,
    Rounding, SharePaid, SharedStatus, SplitRefunded,
};
use super::views::{self, CouponView, SplitView};
use super::{Answer, Data, blocking, get_with_metadata, id, now_ms, ok, submit, submit_and_view};
use crate::auth::Caller;
use crate::http::schemas::{IdPath, UserPath};
use crate::http::{ApiError, codes};

/// Post a payment request to a group.
#[utoipa::path(post, path = "/v1/splits", operation_id = "post_v1_splits", tag = "splits", request_body = SplitBody,
    responses((status = 200, description = "ok", body = SplitView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RequestSplit.name()))))]
pub(super) async fn request_split(state: Data, caller: Caller, body: web::Json<SplitBody>) -> Answer {
    let submission = caller.sends_with(body.command(now_ms())?, metadata(body.metadata.as_ref())?);
    let (_, view) = submit_and_view(&state, submission, views::split, body.id.clone()).await?;
    ok(&view)
}

/// A split.
///
/// With its metadata; from storage once it has left memory.
#[utoipa::path(get, path = "/v1/splits/{id}", operation_id = "get_v1_splits_id", tag = "splits", params(IdPath),
    responses((status = 200, description = "ok", body = SplitView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadSplit.name()))))]
pub(super) async fn get_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let object = (MetadataKind::Split, id(&path)?);
    get_with_metadata(&state, &caller, object, (Engine::split, views::split_view), Rejection::SplitNotFound).await
}

/// A member pays their share.
#[utoipa::path(post, path = "/v1/splits/{id}/pay", operation_id = "post_v1_splits_id_pay", tag = "splits",
    params(IdPath), request_body = PayBody,
    responses((status = 200, description = "ok", body = SharePaid), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::PaySplitShare.name()))))]
pub(super) async fn pay_split(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<PayBody>,
) -> Answer {
    let split = id(&path)?;
    let (reply, view) = submit_and_view(&state, caller.sends(body.command(&split)), views::split, split).await?;
    let Reply::SharePaid { amount, completed } = reply else { unreachable!("pay answers SharePaid") };
    ok(&SharePaid { split: view, paid_amount: amount, completed })
}

/// Cancel; paid shares are refunded.
#[utoipa::path(post, path = "/v1/splits/{id}/cancel", operation_id = "post_v1_splits_id_cancel", tag = "splits",
    params(IdPath), responses((status = 200, description = "ok", body = SplitRefunded), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::CancelSplit.name()))))]
pub(super) async fn cancel_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let split = id(&path)?;
    let cancel = Command::CancelSplit { split: split.clone() };
    let (reply, view) = submit_and_view(&state, caller.sends(cancel), views::split, split).await?;
    let Reply::SplitCancelled { refunded } = reply else { unreachable!("cancel answers SplitCancelled") };
    ok(&SplitRefunded { split: view, refunded })
}

/// Refund a completed split whole: the requester's account pays every member back its share,
/// all or nothing (status refunded, refunded = the total; a retry answers the same; not
/// completed: 422 not_reversible).
#[utoipa::path(post, path = "/v1/splits/{id}/refund", operation_id = "post_v1_splits_id_refund", tag = "splits",
    params(IdPath), responses((status = 200, description = "ok", body = SplitRefunded), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RefundSplit.name()))))]
pub(super) async fn refund_split(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let split = id(&path)?;
    let refund = Command::RefundSplit { split: split.clone() };
    let (reply, view) = submit_and_view(&state, caller.sends(refund), views::split, split).await?;
    let Reply::Refunded { amount, .. } = reply else { unreachable!("a split refund answers Refunded") };
    ok(&SplitRefunded { split: view, refunded: amount })
}

// ----- contacts, coupons, pools --------------------------------------------------------------

/// Link two users as contacts (status linked), or, across apps, ask until the other app sends
/// the pair back (status requested).
#[utoipa::path(post, path = "/v1/contacts", operation_id = "post_v1_contacts", tag = "coupons",
    request_body = ContactBody, responses((status = 200, description = "ok", body = ContactAdded), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::AddContact.name()))))]
pub(super) async fn add_contact(state: Data, caller: Caller, body: web::Json<ContactBody>) -> Answer {
    let reply = submit(&state, &caller, body.command()).await?;
    // Across apps, the pair is linked once the other user's app sends it back (consent).
    let status = if reply == Reply::ContactRequested { ContactStatus::Requested } else { ContactStatus::Linked };
    ok(&ContactAdded { user: body.user.clone(), contact: body.contact.clone(), status })
}

/// Issue a coupon (merchant).
///
/// A retry (same id and rules) gets the first issue's code back.
#[utoipa::path(post, path = "/v1/coupons", operation_id = "post_v1_coupons", tag = "coupons",
    request_body = CouponBody, responses((status = 200, description = "ok", body = CouponView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::IssueCoupon.name()))))]
pub(super) async fn issue_coupon(state: Data, caller: Caller, body: web::Json<CouponBody>) -> Answer {
    // A retry (same id and rules) gets the first issue's code back from the engine.
    let issue = body.command(now_ms(), random_nonce())?;
    let (reply, mut view) = submit_and_view(&state, caller.sends(issue), views::coupon, body.id.clone()).await?;
    let Reply::CouponIssued { code } = reply else { unreachable!("issue answers CouponIssued") };
    view.code = Some(code);
    ok(&view)
}

/// A coupon (with its code for its holder's app).
#[utoipa::path(get, path = "/v1/coupons/{id}", operation_id = "get_v1_coupons_id", tag = "coupons", params(IdPath),
    responses((status = 200, description = "ok", body = CouponView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadCoupon.name()))))]
pub(super) async fn get_coupon(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let coupon = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), coupon.clone());
    let found = blocking(move || engine.coupon(&principal, &key)).await?;
    let found = found.ok_or_else(|| ApiError::rejected(Rejection::CouponNotFound))?;
    ok(&views::coupon_with_code(&coupon, &found))
}

/// Share into the holder's pool.
#[utoipa::path(post, path = "/v1/coupons/{id}/share", operation_id = "post_v1_coupons_id_share", tag = "coupons",
    params(IdPath), request_body = UserBody,
    responses((status = 200, description = "ok", body = CouponShared), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ShareCoupon.name()))))]
pub(super) async fn share_coupon(
    state: Data,
    caller: Caller,
    path: web::Path<String>,
    body: web::Json<UserBody>,
) -> Answer {
    let coupon = id(&path)?;
    submit(&state, &caller, body.share(&coupon)).await?;
    ok(&CouponShared { id: coupon, status: SharedStatus::Shared, pool_of: body.user.clone() })
}

/// A contact claims a pooled coupon; the claimer gets a new code, the sharer's stops working.
#[utoipa::path(post, path = "/v1/coupons/{id}/claim", operation_id = "post_v1_coupons_id_claim", tag = "coupons",
    params(IdPath), request_body = UserBody,
    responses((status = 200, description = "ok", body = CouponView), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ClaimCoupon.name()))))]
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
    view.code = Some(code);
    ok(&view)
}

/// The operator a verification or redemption is made as: the one the body names, else an
/// operator key's own. Whether the caller may act as that operator is the engine's decision
/// (an operator only as itself; the admin as any).
fn operator_of(caller: &Caller, named: Option<&Id>) -> Result<Id, ApiError> {
    match (named, &caller.principal) {
        (Some(named), _) => Ok(named.clone()),
        (None, Principal::Operator(operator)) => Ok(operator.clone()),
        // The body is well formed; it is the caller that needs the field: 422, like a rule.
        (None, Principal::Admin) => Err(ApiError::unprocessable(codes::MISSING_FIELD, "an admin names the `operator`")),
        (None, _) => Err(ApiError::rejected(Rejection::Forbidden)),
    }
}

fn point(location: &Option<LocationBody>) -> Option<GeoPoint> {
    location.as_ref().map(LocationBody::point)
}

/// An operator prices a coupon by code (own merchant only).
#[utoipa::path(post, path = "/v1/coupons/verify", operation_id = "post_v1_coupons_verify", tag = "coupons",
    request_body = VerifyBody, responses((status = 200, description = "ok", body = CouponVerified), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::VerifyCoupon.name()))))]
pub(super) async fn verify_coupon(state: Data, caller: Caller, body: web::Json<VerifyBody>) -> Answer {
    let operator = operator_of(&caller, body.operator.as_ref())?;
    let (code, amount, location) = (body.code.clone(), body.amount, point(&body.location));
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let verdict = blocking(move || engine.verify_coupon(&principal, &operator, &code, (amount, location))).await?;
    match verdict {
        Ok((coupon, quote)) => {
            ok(&CouponVerified { coupon, valid: true, amount, discount: quote.discount, payable: quote.payable })
        }
        Err(rejection) => {
            tracing::info!(code = rejection.code(), key = %caller.key_id, "coupon verification refused");
            Err(ApiError::rejected(rejection))
        }
    }
}

/// An operator redeems a coupon by code (own merchant only).
#[utoipa::path(post, path = "/v1/coupons/redeem", operation_id = "post_v1_coupons_redeem", tag = "coupons",
    request_body = RedeemBody, responses((status = 200, description = "ok", body = CouponRedeemed), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::RedeemCoupon.name()))))]
pub(super) async fn redeem_coupon(state: Data, caller: Caller, body: web::Json<RedeemBody>) -> Answer {
    let operator = operator_of(&caller, body.operator.as_ref())?;
    let reply = submit(&state, &caller, body.command(&operator)).await.inspect_err(|error| {
        tracing::info!(code = %error.code, key = %caller.key_id, "coupon redemption refused");
    })?;
    let Reply::CouponRedeemed { discount, payable, reward_coupon } = reply else {
        unreachable!("redeem answers CouponRedeemed")
    };
    ok(&CouponRedeemed {
        id: body.id.clone(),
        status: RedeemedStatus::Redeemed,
        amount: body.amount,
        discount,
        payable,
        reward_coupon,
    })
}

/// Coupons a user shared.
#[utoipa::path(get, path = "/v1/users/{user}/pool", operation_id = "get_v1_users_user_pool", tag = "coupons",
    params(UserPath), responses((status = 200, description = "ok", body = CouponList), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadUser.name()))))]
pub(super) async fn pool(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), user.clone());
    let read = Read::User(user.clone());
    let query = move |machine: &StateMachine| -> Vec<Id> { machine.pool(&key).cloned().collect() };
    let coupons = blocking(move || engine.read_checked(&principal, read, query)).await?;
    ok(&CouponList { user, coupons })
}

/// Coupons a user's contacts shared.
#[utoipa::path(get, path = "/v1/users/{user}/claimable", operation_id = "get_v1_users_user_claimable",
    tag = "coupons", params(UserPath), responses((status = 200, description = "ok", body = CouponList), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadUser.name()))))]
pub(super) async fn claimable(state: Data, caller: Caller, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    let (engine, principal, key) = (state.engine.clone(), caller.principal.clone(), user.clone());
    let read = Read::User(user.clone());
    let query = move |machine: &StateMachine| machine.claimable_coupons(&key);
    let coupons = blocking(move || engine.read_checked(&principal, read, query)).await?;
    ok(&CouponList { user, coupons })
}

/// Price a coupon on an amount.
#[utoipa::path(post, path = "/v1/quotes", operation_id = "post_v1_quotes", tag = "coupons", request_body = QuoteBody,
    responses((status = 200, description = "ok", body = QuoteResult), ErrorResponses),
    extensions(("x-kassa-operation" = json!(Operation::ReadCoupon.name()))))]
pub(super) async fn quote(state: Data, caller: Caller, body: web::Json<QuoteBody>) -> Answer {
    body.check_amount()?;
    let (engine, principal) = (state.engine.clone(), caller.principal.clone());
    let (key, asked) = (body.coupon.clone(), (body.amount, point(&body.location)));
    let priced = blocking(move || engine.quote_coupon(&principal, &key, asked)).await?;
    let (quote, currency) = priced.map_err(ApiError::rejected)?;
    ok(&QuoteResult {
        coupon: body.coupon.clone(),
        amount: body.amount,
        discount: quote.discount,
        payable: quote.payable,
        currency: currency.alpha(),
        rounding: Rounding::HalfEvenToMinorUnit,
    })
}
