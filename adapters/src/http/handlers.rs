//! The routes. Each handler: authorize, build the command, submit, map the outcome. The request
//! bodies and their conversion into commands are in [`super::requests`].

use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::{HttpResponse, web};
use kassa_engine::command::*;
use kassa_engine::runtime::random_nonce;
use kassa_engine::state_machine::{Account, Bill, BillState, Coupon, CouponState, Hold, HoldState, Split, SplitState};
use kassa_engine::types::GeoPoint;
use kassa_engine::{Currency, Id, Outcome, Rejection};
use serde_json::{Value, json};

use super::requests::*;
use super::{ApiError, AppState};
use crate::auth::{Principal, SCOPE_ID_LENGTH_MAX, new_key};

type Data = web::Data<AppState>;
type Answer = Result<HttpResponse, ApiError>;

/// Registers the routes.
pub(super) fn routes(config: &mut web::ServiceConfig) {
    config
        .route("/health", web::get().to(health))
        .route("/metrics", web::get().to(metrics))
        .route("/openapi.json", web::get().to(openapi))
        .route("/v1/keys", web::post().to(create_key))
        .route("/v1/accounts", web::post().to(open_account))
        .route("/v1/accounts/{id}", web::get().to(get_account))
        .route("/v1/accounts/{id}/close", web::post().to(close_account))
        .route("/v1/accounts/{id}/deposits", web::post().to(deposit))
        .route("/v1/accounts/{id}/withdrawals", web::post().to(withdraw))
        .route("/v1/accounts/{id}/history", web::get().to(history))
        .route("/v1/transfers", web::post().to(transfer))
        .route("/v1/transfers/batch", web::post().to(transfer_batch))
        .route("/v1/holds", web::post().to(place_hold))
        .route("/v1/holds/{id}", web::get().to(get_hold))
        .route("/v1/holds/{id}/capture", web::post().to(capture_hold))
        .route("/v1/holds/{id}/void", web::post().to(void_hold))
        .route("/v1/merchants", web::post().to(register_merchant))
        .route("/v1/terminals", web::post().to(register_terminal))
        .route("/v1/operators", web::post().to(register_operator))
        .route("/v1/authorizations", web::post().to(authorize))
        .route("/v1/pos/settlements", web::post().to(settle))
        .route("/v1/pos/settlements/{id}/reverse", web::post().to(reverse))
        .route("/v1/bills", web::post().to(open_bill))
        .route("/v1/bills/{id}", web::get().to(get_bill))
        .route("/v1/bills/{id}/items", web::post().to(add_bill_item))
        .route("/v1/bills/{id}/submit", web::post().to(submit_bill))
        .route("/v1/bills/{id}/confirm", web::post().to(confirm_bill))
        .route("/v1/bills/{id}/cancel", web::post().to(cancel_bill))
        .route("/v1/splits", web::post().to(request_split))
        .route("/v1/splits/{id}", web::get().to(get_split))
        .route("/v1/splits/{id}/pay", web::post().to(pay_split))
        .route("/v1/splits/{id}/cancel", web::post().to(cancel_split))
        .route("/v1/contacts", web::post().to(add_contact))
        .route("/v1/coupons", web::post().to(issue_coupon))
        .route("/v1/coupons/verify", web::post().to(verify_coupon))
        .route("/v1/coupons/redeem", web::post().to(redeem_coupon))
        .route("/v1/coupons/{id}", web::get().to(get_coupon))
        .route("/v1/coupons/{id}/share", web::post().to(share_coupon))
        .route("/v1/coupons/{id}/claim", web::post().to(claim_coupon))
        .route("/v1/users/{user}/pool", web::get().to(pool))
        .route("/v1/users/{user}/claimable", web::get().to(claimable))
        .route("/v1/quotes", web::post().to(quote));
}

// ----- plumbing ------------------------------------------------------------------------------

fn now_ms() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    u64::try_from(since_epoch.as_millis()).expect("milliseconds fit u64")
}

fn id(text: &str) -> Result<Id, ApiError> {
    Id::new(text).map_err(|error| ApiError::bad_request("invalid_id", format!("{text:?}: {error}")))
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Invalid { code, message } => ApiError::bad_request(code, message),
            RequestError::Rejected(rejection) => ApiError::rejected(rejection),
        }
    }
}

async fn submit(state: &Data, command: Command) -> Result<Reply, ApiError> {
    match state.engine.submit(command).await? {
        Outcome::Applied(reply) => Ok(reply),
        Outcome::Rejected(rejection) => Err(ApiError::rejected(rejection)),
    }
}

/// Submits a creating command together with the owner record of the caller (one batch, one
/// WAL record: both or neither).
async fn create(
    state: &Data,
    principal: &Principal,
    command: Command,
    object: ObjectKind,
    object_id: &Id,
) -> Result<Reply, ApiError> {
    let Some(owner) = principal.owner_tag() else { return submit(state, command).await };
    let set_owner = Command::SetOwner(SetOwner { object, id: object_id.clone(), owner: owner.clone() });
    let outcomes = state.engine.submit_batch(vec![command, set_owner]).await?;
    let [created, owned] = <[Outcome; 2]>::try_from(outcomes).expect("two outcomes");
    let reply = match created {
        Outcome::Applied(reply) => reply,
        Outcome::Rejected(rejection) => return Err(ApiError::rejected(rejection)),
    };
    if let Outcome::Rejected(rejection) = owned {
        return Err(ApiError::rejected(rejection)); // It exists and belongs to someone else.
    }
    state.auth.remember_owner(object, object_id, owner);
    Ok(reply)
}

fn require(allowed: bool, what: &str) -> Result<(), ApiError> {
    if allowed { Ok(()) } else { Err(ApiError::forbidden(format!("this key may not {what}"))) }
}

/// The caller must own the object (admin always may); unknown objects answer 404 to the admin
/// and 403 to everyone else (so that ids of other tenants do not leak).
fn require_owner(state: &Data, principal: &Principal, object: ObjectKind, object_id: &Id) -> Result<(), ApiError> {
    require(state.auth.may_touch(principal, object, object_id), "touch this object")
}

/// An app may act for a user it has claimed (first use claims an unclaimed user).
async fn require_user(state: &Data, principal: &Principal, user: &Id) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    require(matches!(principal.role, ApiRole::App(_)), "act for users")?;
    let tag = principal.owner_tag().expect("apps have a tag");
    match state.auth.owner(ObjectKind::User, user) {
        Some(owner) if owner == tag => Ok(()),
        Some(_) => Err(ApiError::forbidden("this user belongs to another app")),
        None => {
            let set = SetOwner { object: ObjectKind::User, id: user.clone(), owner: tag.clone() };
            submit(state, Command::SetOwner(set))
                .await
                .map_err(|_| ApiError::forbidden("this user belongs to another app"))?;
            state.auth.remember_owner(ObjectKind::User, user, tag);
            Ok(())
        }
    }
}

fn merchant_scope(principal: &Principal, merchant: &Id) -> Result<(), ApiError> {
    match &principal.role {
        ApiRole::Admin => Ok(()),
        ApiRole::Merchant(own) if own == merchant => Ok(()),
        _ => Err(ApiError::forbidden("this key may not act for this merchant")),
    }
}

async fn read<R: Send + 'static>(
    state: &Data,
    query: impl FnOnce(&kassa_engine::StateView) -> R + Send + 'static,
) -> Result<R, ApiError> {
    Ok(state.engine.read(query).await?)
}

fn ok(body: Value) -> Answer {
    Ok(HttpResponse::Ok().json(body))
}

fn account_json(account_id: &Id, account: &Account) -> Value {
    json!({
        "id": account_id.as_str(),
        "currency": account.currency.alpha(),
        "balance": account.posted,
        "held": account.held,
        "available": account.available(),
        "overdraft_limit": account.overdraft_limit,
        "status": if account.closed { "closed" } else { "open" },
    })
}

fn hold_json(hold_id: &Id, hold: &Hold) -> Value {
    let (status, captured) = match hold.state {
        HoldState::Active => ("active", None),
        HoldState::Captured(amount) => ("captured", Some(amount)),
        HoldState::Voided => ("voided", None),
        HoldState::Expired => ("expired", None),
    };
    json!({
        "id": hold_id.as_str(), "from": hold.from.as_str(), "to": hold.to.as_str(), "amount": hold.amount,
        "currency": hold.currency.alpha(), "status": status, "captured": captured,
        "expires_at": hold.expires_at_ms / 1_000, "expires_at_ms": hold.expires_at_ms,
    })
}

fn bill_json(bill_id: &Id, bill: &Bill) -> Value {
    let status = match bill.state {
        BillState::Open => "open",
        BillState::Submitted { .. } => "submitted",
        BillState::Paid { .. } => "paid",
        BillState::Cancelled => "cancelled",
        BillState::Expired => "expired",
    };
    let (charged, discount) = match bill.state {
        BillState::Paid { charged, discount } => (Some(charged), Some(discount)),
        _ => (None, None),
    };
    let items: Vec<Value> = bill
        .items
        .iter()
        .map(|item| json!({"terminal": item.terminal.as_str(), "item_ref": item.item_ref, "quantity": item.quantity, "unit_amount": item.unit_amount}))
        .collect();
    json!({
        "id": bill_id.as_str(), "user": bill.user.as_str(), "account": bill.account.as_str(),
        "merchant": bill.merchant.as_str(), "currency": bill.currency.alpha(), "status": status,
        "total": bill.total, "charged": charged, "discount": discount, "items": items,
        "opens_at_ms": bill.opens_at_ms, "closes_at_ms": bill.closes_at_ms,
    })
}

fn split_json(split_id: &Id, split: &Split) -> Value {
    let status = match split.state {
        SplitState::Open => "open",
        SplitState::Completed => "completed",
        SplitState::Cancelled => "cancelled",
        SplitState::Expired => "expired",
    };
    let members: Vec<Value> = split
        .members
        .iter()
        .zip(&split.shares)
        .zip(&split.paid)
        .map(|((member, share), paid)| json!({"user": member.user.as_str(), "account": member.account.as_str(), "share": share, "paid": paid}))
        .collect();
    json!({
        "id": split_id.as_str(), "requester": split.requester.as_str(), "requester_account": split.requester_account.as_str(),
        "currency": split.currency.alpha(), "total": split.total, "collected": split.escrow, "status": status,
        "members": members, "expires_at": split.expires_at_ms / 1_000, "expires_at_ms": split.expires_at_ms,
    })
}

fn coupon_json(coupon_id: &Id, coupon: &Coupon, code: Option<String>) -> Value {
    let status = match coupon.state {
        CouponState::Available => "available",
        CouponState::Shared => "shared",
        CouponState::Redeemed => "redeemed",
    };
    json!({
        "id": coupon_id.as_str(), "merchant": coupon.merchant.as_str(), "holder": coupon.holder.as_str(),
        "currency": coupon.currency.alpha(), "status": status, "shared_by": coupon.shared_by.as_ref().map(Id::as_str),
        "valid_from_ms": coupon.valid_from_ms, "valid_until_ms": coupon.valid_until_ms, "code": code,
    })
}

// ----- service -------------------------------------------------------------------------------

async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

async fn metrics(state: Data) -> HttpResponse {
    let body = state.metrics.as_ref().map(|handle| handle.render()).unwrap_or_default();
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(body)
}

async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(include_str!("../../openapi.json"))
}

async fn create_key(state: Data, principal: Principal, body: web::Json<CreateKey>) -> Answer {
    require(principal.is_admin(), "create keys")?;
    let role = body.role(SCOPE_ID_LENGTH_MAX)?;
    if let ApiRole::Operator(operator) = &role {
        let operator = operator.clone();
        if read(&state, move |machine| machine.operator(&operator).is_none()).await? {
            return Err(ApiError::rejected(Rejection::OperatorNotFound));
        }
    }
    let (key, key_id, secret_hash) = new_key();
    submit(&state, Command::RegisterApiKey(RegisterApiKey { key_id: key_id.clone(), role: role.clone(), secret_hash }))
        .await?;
    state.auth.remember_key(&key_id, kassa_engine::state_machine::ApiKey { role, secret_hash });
    ok(json!({"key_id": key_id.as_str(), "key": key, "role": body.role}))
}

// ----- accounts ------------------------------------------------------------------------------

async fn open_account(state: Data, principal: Principal, body: web::Json<OpenAccountBody>) -> Answer {
    require(!matches!(principal.role, ApiRole::Operator(_)), "open accounts")?;
    create(&state, &principal, body.command()?, ObjectKind::Account, &body.id).await?;
    account_answer(&state, body.id.clone()).await
}

async fn account_answer(state: &Data, account_id: Id) -> Answer {
    let key = account_id.clone();
    match read(state, move |machine| machine.account(&key).cloned()).await? {
        Some(account) => ok(account_json(&account_id, &account)),
        None => Err(ApiError::rejected(Rejection::AccountNotFound)),
    }
}

async fn get_account(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let account_id = id(&path)?;
    require_owner(&state, &principal, ObjectKind::Account, &account_id)?;
    account_answer(&state, account_id).await
}

async fn close_account(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let account_id = id(&path)?;
    require_owner(&state, &principal, ObjectKind::Account, &account_id)?;
    submit(&state, Command::CloseAccount { account: account_id.clone() }).await?;
    account_answer(&state, account_id).await
}

async fn deposit(state: Data, principal: Principal, path: web::Path<String>, body: web::Json<MovementBody>) -> Answer {
    movement(state, principal, path, body, true).await
}

async fn withdraw(state: Data, principal: Principal, path: web::Path<String>, body: web::Json<MovementBody>) -> Answer {
    movement(state, principal, path, body, false).await
}

async fn movement(
    state: Data,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<MovementBody>,
    deposit: bool,
) -> Answer {
    let account_id = id(&path)?;
    // Money entering the system is the processor's (admin's) call; owners may only take theirs out.
    require(!deposit || principal.is_admin(), "deposit: deposits need an admin key")?;
    require_owner(&state, &principal, ObjectKind::Account, &account_id)?;
    submit(&state, body.command(&account_id, deposit)).await?;
    let kind = if deposit { "deposit" } else { "withdrawal" };
    let key = account_id.clone();
    let account = read(&state, move |machine| machine.account(&key).cloned()).await?.expect("just moved money");
    ok(
        json!({"id": body.id.as_str(), "object": kind, "account": account_id.as_str(), "amount": body.amount, "status": "applied", "balance": account.posted}),
    )
}

async fn history(
    state: Data,
    principal: Principal,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Answer {
    let account_id = id(&path)?;
    require_owner(&state, &principal, ObjectKind::Account, &account_id)?;
    let key = account_id.clone();
    if read(&state, move |machine| machine.account(&key).is_none()).await? {
        return Err(ApiError::rejected(Rejection::AccountNotFound));
    }
    let limit = query.limit.unwrap_or(100).clamp(1, 1_000);
    // RocksDB reads (and the wait for the indexer) block: keep them off the actix worker.
    let (engine, key) = (state.engine.clone(), account_id.clone());
    let lines = web::block(move || engine.history(&key, limit))
        .await
        .map_err(|_| ApiError::unavailable(kassa_engine::SubmitError::ShuttingDown))?
        .map_err(|error| {
            tracing::error!(%error, "history read failed");
            ApiError::unavailable(kassa_engine::SubmitError::StorageFailed)
        })?;
    let data: Vec<Value> = lines
        .iter()
        .map(|line| {
            let (kind, cause_id) = cause_json(&line.posting.cause);
            json!({
                "seq": line.seq, "at_ms": line.at_ms, "amount": line.posting.posted_delta, "held_change": line.posting.held_delta,
                "balance_after": line.posting.posted_after, "held_after": line.posting.held_after,
                "kind": kind, "ref": cause_id,
            })
        })
        .collect();
    ok(json!({"account": account_id.as_str(), "data": data}))
}

fn cause_json(cause: &PostingCause) -> (&'static str, &str) {
    match cause {
        PostingCause::Deposit(id) => ("deposit", id.as_str()),
        PostingCause::Withdrawal(id) => ("withdrawal", id.as_str()),
        PostingCause::Transfer(id) => ("transfer", id.as_str()),
        PostingCause::HoldPlaced(id) => ("hold_placed", id.as_str()),
        PostingCause::HoldCaptured(id) => ("hold_captured", id.as_str()),
        PostingCause::HoldReleased(id) => ("hold_released", id.as_str()),
        PostingCause::PosSettlement(id) => ("pos_settlement", id.as_str()),
        PostingCause::PosReversal(id) => ("pos_reversal", id.as_str()),
        PostingCause::BillCharge(id) => ("bill_charge", id.as_str()),
        PostingCause::SplitShare(id) => ("split_share", id.as_str()),
        PostingCause::SplitPayout(id) => ("split_payout", id.as_str()),
        PostingCause::SplitRefund(id) => ("split_refund", id.as_str()),
    }
}

// ----- transfers and holds -------------------------------------------------------------------

impl TransferBody {
    fn json(&self, status: &str) -> Value {
        json!({"id": self.id.as_str(), "from": self.from.as_str(), "to": self.to.as_str(), "amount": self.amount, "currency": self.currency, "status": status})
    }
}

async fn transfer(state: Data, principal: Principal, body: web::Json<TransferBody>) -> Answer {
    require_owner(&state, &principal, ObjectKind::Account, &body.from)?;
    submit(&state, body.command()?).await?;
    ok(body.json("applied"))
}

async fn transfer_batch(state: Data, principal: Principal, body: web::Json<BatchBody>) -> Answer {
    body.check_size()?;
    let mut transfers = Vec::with_capacity(body.transfers.len());
    for transfer in &body.transfers {
        require_owner(&state, &principal, ObjectKind::Account, &transfer.from)?;
        transfers.push(transfer.transfer()?);
    }
    let reply = submit(&state, Command::TransferBatch(TransferBatch { atomic: body.atomic, transfers })).await?;
    let Reply::TransferBatch(outcomes) = reply else { unreachable!("a batch answers a batch") };
    let results: Vec<Value> = body
        .transfers
        .iter()
        .zip(&outcomes)
        .map(|(transfer, outcome)| match outcome.rejection() {
            None => transfer.json("applied"),
            Some(rejection) => json!({"id": transfer.id.as_str(), "status": "rejected", "error": {"code": rejection.code(), "message": rejection.code().replace('_', " ")}}),
        })
        .collect();
    let applied = outcomes.iter().all(Outcome::is_applied);
    if body.atomic && !applied {
        let failure = outcomes
            .iter()
            .filter_map(Outcome::rejection)
            .find(|r| *r != Rejection::LinkedTransferFailed)
            .unwrap_or(Rejection::LinkedTransferFailed);
        let error = ApiError::rejected(failure);
        return Ok(HttpResponse::build(error.status).json(
            json!({"error": {"code": error.code, "message": "the atomic batch was not applied", "results": results}}),
        ));
    }
    ok(json!({"atomic": body.atomic, "applied": applied, "results": results}))
}

async fn place_hold(state: Data, principal: Principal, body: web::Json<HoldBody>) -> Answer {
    require_owner(&state, &principal, ObjectKind::Account, &body.from)?;
    create(&state, &principal, body.command(now_ms())?, ObjectKind::Hold, &body.id).await?;
    hold_answer(&state, body.id.clone()).await
}

async fn hold_answer(state: &Data, hold_id: Id) -> Answer {
    let key = hold_id.clone();
    match read(state, move |machine| machine.hold(&key).cloned()).await? {
        Some(hold) => ok(hold_json(&hold_id, &hold)),
        None => Err(ApiError::rejected(Rejection::HoldNotFound)),
    }
}

async fn get_hold(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let hold_id = id(&path)?;
    hold_scope(&state, &principal, &hold_id).await?;
    hold_answer(&state, hold_id).await
}

/// Holds are touched by their creator, by the owner of the payer account, and for POS
/// authorization holds (no owner) by the payee's owner.
async fn hold_scope(state: &Data, principal: &Principal, hold_id: &Id) -> Result<(), ApiError> {
    if state.auth.may_touch(principal, ObjectKind::Hold, hold_id) {
        return Ok(());
    }
    let key = hold_id.clone();
    let Some(hold) = read(state, move |machine| machine.hold(&key).cloned()).await? else {
        return Err(if principal.is_admin() {
            ApiError::rejected(Rejection::HoldNotFound)
        } else {
            ApiError::forbidden("this key may not touch this hold")
        });
    };
    let allowed = state.auth.may_touch(principal, ObjectKind::Account, &hold.from)
        || state.auth.may_touch(principal, ObjectKind::Account, &hold.to);
    require(allowed, "touch this hold")
}

async fn capture_hold(
    state: Data,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<CaptureBody>,
) -> Answer {
    let hold_id = id(&path)?;
    hold_scope(&state, &principal, &hold_id).await?;
    let reply = submit(&state, body.command(&hold_id)).await?;
    let Reply::Captured { captured, released } = reply else { unreachable!("a capture answers Captured") };
    ok(json!({"id": hold_id.as_str(), "status": "captured", "captured": captured, "released": released}))
}

async fn void_hold(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let hold_id = id(&path)?;
    hold_scope(&state, &principal, &hold_id).await?;
    submit(&state, Command::VoidHold { hold: hold_id.clone() }).await?;
    hold_answer(&state, hold_id).await
}

// ----- merchants, terminals, operators -------------------------------------------------------

async fn register_merchant(state: Data, principal: Principal, body: web::Json<MerchantBody>) -> Answer {
    merchant_scope(&principal, &body.id)?;
    require_owner(&state, &principal, ObjectKind::Account, &body.account)?;
    submit(&state, body.command()).await?;
    ok(json!({"id": body.id.as_str(), "account": body.account.as_str()}))
}

async fn register_terminal(state: Data, principal: Principal, body: web::Json<TerminalBody>) -> Answer {
    merchant_scope(&principal, &body.merchant)?;
    submit(&state, body.command()?).await?;
    ok(json!({"id": body.id.as_str(), "merchant": body.merchant.as_str(), "mac": body.mac_key.is_some()}))
}

async fn register_operator(state: Data, principal: Principal, body: web::Json<OperatorBody>) -> Answer {
    merchant_scope(&principal, &body.merchant)?;
    submit(&state, body.command()).await?;
    ok(json!({"id": body.id.as_str(), "merchant": body.merchant.as_str()}))
}

// ----- secure codes and POS ------------------------------------------------------------------

async fn authorize(state: Data, principal: Principal, body: web::Json<AuthorizeBody>) -> Answer {
    require_owner(&state, &principal, ObjectKind::Account, &body.account)?;
    require_user(&state, &principal, &body.user).await?;
    let Command::Authorize(authorize) = body.command(now_ms(), random_nonce())? else {
        unreachable!("an authorization body makes Authorize")
    };
    // A retried request (same id and body) must get the same code: reuse the first one's
    // expiry and nonce so the engine re-derives it.
    let key = body.id.clone();
    let existing = read(&state, move |machine| machine.authorization(&key).cloned()).await?;
    let command = match existing {
        Some(found) if found.user == body.user && found.account == body.account && found.limit == body.limit => {
            Command::Authorize(Authorize { expires_at_ms: found.expires_at_ms, nonce: found.nonce(), ..authorize })
        }
        _ => Command::Authorize(authorize),
    };
    let reply = create(&state, &principal, command, ObjectKind::Authorization, &body.id).await?;
    let Reply::Authorized { code, expires_at_ms } = reply else { unreachable!("authorize answers Authorized") };
    ok(
        json!({"id": body.id.as_str(), "user": body.user.as_str(), "account": body.account.as_str(), "limit": body.limit, "code": code,
               "expires_at": expires_at_ms / 1_000, "expires_at_ms": expires_at_ms}),
    )
}

/// The currency of a terminal's merchant account.
async fn terminal_currency(state: &Data, terminal: &Id) -> Result<(Id, Currency), ApiError> {
    let key = terminal.clone();
    let found = read(state, move |machine| {
        let terminal = machine.terminal(&key)?;
        let merchant = machine.merchant(&terminal.merchant)?;
        Some((terminal.merchant.clone(), machine.account(&merchant.account)?.currency))
    })
    .await?;
    found.ok_or_else(|| ApiError::rejected(Rejection::TerminalNotFound))
}

async fn settle(state: Data, principal: Principal, body: web::Json<SettleBody>) -> Answer {
    let (merchant, merchant_currency) = terminal_currency(&state, &body.terminal).await?;
    merchant_scope(&principal, &merchant)?;
    let command = body.command(merchant_currency)?;
    let Command::SettlePos(SettlePos { currency, .. }) = command else {
        unreachable!("a settlement body makes SettlePos")
    };
    match state.engine.submit(command).await? {
        Outcome::Applied(Reply::Settled { approval_code, charged, discount }) => ok(json!({
            "id": body.id.as_str(), "approved": true, "approval_code": approval_code, "amount": body.amount,
            "charged": charged, "discount": discount, "currency": currency.alpha(),
        })),
        Outcome::Applied(other) => unreachable!("a settlement answers Settled, not {other:?}"),
        // A decline is an answer, not a failure of the request: the POS prints it.
        Outcome::Rejected(rejection) if !matches!(ApiError::rejected(rejection).status.as_u16(), 404 | 409) => {
            ok(json!({
                "id": body.id.as_str(), "approved": false, "approval_code": null, "decline_code": rejection.code(),
                "message": rejection.code().replace('_', " "),
            }))
        }
        Outcome::Rejected(rejection) => Err(ApiError::rejected(rejection)),
    }
}

async fn reverse(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    require(matches!(principal.role, ApiRole::Admin | ApiRole::Merchant(_)), "reverse settlements")?;
    let settlement = id(&path)?;
    submit(&state, Command::ReversePos { settlement: settlement.clone() }).await?;
    ok(json!({"id": settlement.as_str(), "status": "reversed"}))
}

// ----- bills ---------------------------------------------------------------------------------

async fn open_bill(state: Data, principal: Principal, body: web::Json<BillBody>) -> Answer {
    require_owner(&state, &principal, ObjectKind::Account, &body.account)?;
    require_user(&state, &principal, &body.user).await?;
    create(&state, &principal, body.command(now_ms())?, ObjectKind::Bill, &body.id).await?;
    bill_answer(&state, body.id.clone(), None).await
}

async fn bill_answer(state: &Data, bill_id: Id, extra: Option<Value>) -> Answer {
    let key = bill_id.clone();
    let Some(bill) = read(state, move |machine| machine.bill(&key).cloned()).await? else {
        return Err(ApiError::rejected(Rejection::BillNotFound));
    };
    let mut body = bill_json(&bill_id, &bill);
    if let (Some(Value::Object(extra)), Value::Object(fields)) = (extra, &mut body) {
        fields.extend(extra);
    }
    ok(body)
}

/// The bill's user side (its app) or its merchant side may act on it.
async fn bill_scope(state: &Data, principal: &Principal, bill_id: &Id, merchant_side: bool) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    let key = bill_id.clone();
    let Some(merchant) = read(state, move |machine| machine.bill(&key).map(|bill| bill.merchant.clone())).await? else {
        return Err(ApiError::forbidden("this key may not touch this bill"));
    };
    let allowed = match &principal.role {
        ApiRole::Merchant(own) => merchant_side && *own == merchant,
        ApiRole::App(_) => !merchant_side && state.auth.may_touch(principal, ObjectKind::Bill, bill_id),
        _ => false,
    };
    require(allowed, "touch this bill")
}

async fn get_bill(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let bill_id = id(&path)?;
    let as_merchant = matches!(principal.role, ApiRole::Merchant(_));
    bill_scope(&state, &principal, &bill_id, as_merchant).await?;
    bill_answer(&state, bill_id, None).await
}

async fn add_bill_item(
    state: Data,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<BillItemBody>,
) -> Answer {
    let bill_id = id(&path)?;
    bill_scope(&state, &principal, &bill_id, true).await?;
    submit(&state, body.command(&bill_id)).await?;
    bill_answer(&state, bill_id, None).await
}

async fn submit_bill(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let bill_id = id(&path)?;
    // The merchant side submits; the user's app may resubmit to fetch the challenge again.
    let merchant_side = !matches!(principal.role, ApiRole::App(_));
    bill_scope(&state, &principal, &bill_id, merchant_side).await?;
    // A resubmission of a submitted bill with another nonce is refused by the engine; reuse
    // the stored nonce so retries get the same challenge.
    let key = bill_id.clone();
    let nonce = read(&state, move |machine| match machine.bill(&key).map(|bill| &bill.state) {
        Some(BillState::Submitted { nonce, .. }) => Some(*nonce),
        _ => None,
    })
    .await?
    .unwrap_or_else(random_nonce);
    let reply = submit(&state, Command::SubmitBill(SubmitBill { bill: bill_id.clone(), nonce })).await?;
    let Reply::BillSubmitted { total, challenge } = reply else { unreachable!("submit answers BillSubmitted") };
    // The challenge goes to the user's app for verification; the merchant side sees the total.
    let challenge =
        if principal.is_admin() || matches!(principal.role, ApiRole::App(_)) { Some(challenge) } else { None };
    let key = bill_id.clone();
    let user_challenge = read(&state, move |machine| machine.bill(&key).map(|bill| bill.user.clone())).await?;
    bill_answer(&state, bill_id, Some(json!({"total": total, "challenge": challenge, "verification_user": user_challenge.map(|user| user.to_string())}))).await
}

async fn confirm_bill(
    state: Data,
    principal: Principal,
    path: web::Path<String>,
    body: web::Json<ConfirmBody>,
) -> Answer {
    let bill_id = id(&path)?;
    bill_scope(&state, &principal, &bill_id, false).await?;
    submit(&state, body.command(&bill_id)).await?;
    bill_answer(&state, bill_id, None).await
}

async fn cancel_bill(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let bill_id = id(&path)?;
    let merchant_side = matches!(principal.role, ApiRole::Merchant(_));
    bill_scope(&state, &principal, &bill_id, merchant_side).await?;
    submit(&state, Command::CancelBill { bill: bill_id.clone() }).await?;
    bill_answer(&state, bill_id, None).await
}

// ----- splits --------------------------------------------------------------------------------

async fn request_split(state: Data, principal: Principal, body: web::Json<SplitBody>) -> Answer {
    require_owner(&state, &principal, ObjectKind::Account, &body.requester_account)?;
    require_user(&state, &principal, &body.requester).await?;
    create(&state, &principal, body.command(now_ms())?, ObjectKind::Split, &body.id).await?;
    split_answer(&state, body.id.clone()).await
}

async fn split_answer(state: &Data, split_id: Id) -> Answer {
    let key = split_id.clone();
    match read(state, move |machine| machine.split(&key).cloned()).await? {
        Some(split) => ok(split_json(&split_id, &split)),
        None => Err(ApiError::rejected(Rejection::SplitNotFound)),
    }
}

/// Who may see a split: its creator, and the owners of its members' accounts.
async fn split_scope(state: &Data, principal: &Principal, split_id: &Id, member: Option<&Id>) -> Result<(), ApiError> {
    if principal.is_admin() {
        return Ok(());
    }
    let key = split_id.clone();
    let Some(split) = read(state, move |machine| machine.split(&key).cloned()).await? else {
        return Err(ApiError::forbidden("this key may not touch this split"));
    };
    let allowed = match member {
        Some(member) => split
            .members
            .iter()
            .any(|m| m.user == *member && state.auth.may_touch(principal, ObjectKind::Account, &m.account)),
        None => {
            state.auth.may_touch(principal, ObjectKind::Split, split_id)
                || split.members.iter().any(|m| state.auth.may_touch(principal, ObjectKind::Account, &m.account))
        }
    };
    require(allowed, "touch this split")
}

async fn get_split(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let split_id = id(&path)?;
    split_scope(&state, &principal, &split_id, None).await?;
    split_answer(&state, split_id).await
}

async fn pay_split(state: Data, principal: Principal, path: web::Path<String>, body: web::Json<PayBody>) -> Answer {
    let split_id = id(&path)?;
    split_scope(&state, &principal, &split_id, Some(&body.member)).await?;
    let reply = submit(&state, body.command(&split_id)).await?;
    let Reply::SharePaid { amount, completed } = reply else { unreachable!("pay answers SharePaid") };
    let key = split_id.clone();
    let split = read(&state, move |machine| machine.split(&key).cloned()).await?.expect("just paid");
    let mut body = split_json(&split_id, &split);
    body["paid_amount"] = json!(amount);
    body["completed"] = json!(completed);
    ok(body)
}

async fn cancel_split(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let split_id = id(&path)?;
    if !principal.is_admin() {
        require(state.auth.may_touch(&principal, ObjectKind::Split, &split_id), "cancel this split")?;
    }
    let reply = submit(&state, Command::CancelSplit { split: split_id.clone() }).await?;
    let Reply::SplitCancelled { refunded } = reply else { unreachable!("cancel answers SplitCancelled") };
    let key = split_id.clone();
    let split = read(&state, move |machine| machine.split(&key).cloned()).await?.expect("exists");
    let mut body = split_json(&split_id, &split);
    body["refunded"] = json!(refunded);
    ok(body)
}

// ----- contacts, coupons, pools --------------------------------------------------------------

async fn add_contact(state: Data, principal: Principal, body: web::Json<ContactBody>) -> Answer {
    require_user(&state, &principal, &body.user).await?;
    submit(&state, body.command()).await?;
    ok(json!({"user": body.user.as_str(), "contact": body.contact.as_str()}))
}

async fn issue_coupon(state: Data, principal: Principal, body: web::Json<CouponBody>) -> Answer {
    merchant_scope(&principal, &body.merchant)?;
    let issue = body.command(now_ms(), random_nonce())?;
    // A retry gets a fresh nonce; answer it from the first issue instead.
    let key = body.id.clone();
    if let Some(code) = read(&state, move |machine| machine.coupon_code(&key)).await? {
        let key = body.id.clone();
        let coupon = read(&state, move |machine| machine.coupon(&key).cloned()).await?.expect("has a code");
        if coupon.merchant != body.merchant {
            return Err(ApiError::rejected(Rejection::AlreadyExists));
        }
        return ok(coupon_json(&body.id, &coupon, Some(code)));
    }
    let reply = submit(&state, issue).await?;
    let Reply::CouponIssued { code } = reply else { unreachable!("issue answers CouponIssued") };
    let key = body.id.clone();
    let coupon = read(&state, move |machine| machine.coupon(&key).cloned()).await?.expect("just issued");
    ok(coupon_json(&body.id, &coupon, Some(code)))
}

/// Who may see a coupon: admin, its merchant, and the app owning its holder.
async fn coupon_scope(state: &Data, principal: &Principal, coupon_id: &Id) -> Result<Coupon, ApiError> {
    let key = coupon_id.clone();
    let coupon = read(state, move |machine| machine.coupon(&key).cloned()).await?;
    let Some(coupon) = coupon else {
        return Err(if principal.is_admin() {
            ApiError::rejected(Rejection::CouponNotFound)
        } else {
            ApiError::forbidden("this key may not touch this coupon")
        });
    };
    let allowed = match &principal.role {
        ApiRole::Admin => true,
        ApiRole::Merchant(merchant) => *merchant == coupon.merchant,
        ApiRole::App(_) => state.auth.may_touch(principal, ObjectKind::User, &coupon.holder),
        ApiRole::Operator(_) => false,
    };
    require(allowed, "touch this coupon")?;
    Ok(coupon)
}

async fn get_coupon(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let coupon_id = id(&path)?;
    let coupon = coupon_scope(&state, &principal, &coupon_id).await?;
    let key = coupon_id.clone();
    let code = read(&state, move |machine| machine.coupon_code(&key)).await?;
    ok(coupon_json(&coupon_id, &coupon, code))
}

async fn share_coupon(state: Data, principal: Principal, path: web::Path<String>, body: web::Json<UserBody>) -> Answer {
    let coupon_id = id(&path)?;
    require_user(&state, &principal, &body.user).await?;
    submit(&state, body.share(&coupon_id)).await?;
    ok(json!({"id": coupon_id.as_str(), "status": "shared", "pool_of": body.user.as_str()}))
}

async fn claim_coupon(state: Data, principal: Principal, path: web::Path<String>, body: web::Json<UserBody>) -> Answer {
    let coupon_id = id(&path)?;
    require_user(&state, &principal, &body.user).await?;
    submit(&state, body.claim(&coupon_id)).await?;
    let key = coupon_id.clone();
    let (coupon, code) =
        read(&state, move |machine| (machine.coupon(&key).cloned(), machine.coupon_code(&key))).await?;
    ok(coupon_json(&coupon_id, &coupon.expect("just claimed"), code))
}

fn operator_of(principal: &Principal) -> Result<Id, ApiError> {
    match &principal.role {
        ApiRole::Operator(operator) => Ok(operator.clone()),
        _ => Err(ApiError::forbidden("only merchant operators verify and redeem coupons")),
    }
}

fn point(location: &Option<LocationBody>) -> Option<GeoPoint> {
    location.as_ref().map(LocationBody::point)
}

async fn verify_coupon(state: Data, principal: Principal, body: web::Json<VerifyBody>) -> Answer {
    let operator = operator_of(&principal)?;
    let (code, amount, location) = (body.code.clone(), body.amount, point(&body.location));
    let verdict =
        read(&state, move |machine| machine.verify_coupon(machine.state_now_ms(), &operator, &code, amount, location))
            .await?;
    match verdict {
        Ok((coupon, quote)) => ok(
            json!({"coupon": coupon.as_str(), "valid": true, "amount": amount, "discount": quote.discount, "payable": quote.payable}),
        ),
        Err(rejection) => {
            tracing::info!(code = rejection.code(), key = %principal.key_id, "coupon verification refused");
            Err(ApiError::rejected(rejection))
        }
    }
}

async fn redeem_coupon(state: Data, principal: Principal, body: web::Json<RedeemBody>) -> Answer {
    let operator = operator_of(&principal)?;
    let reply = submit(&state, body.command(&operator)).await.inspect_err(|error| {
        tracing::info!(code = %error.code, key = %principal.key_id, "coupon redemption refused");
    })?;
    let Reply::CouponRedeemed { discount, payable, reward_coupon } = reply else {
        unreachable!("redeem answers CouponRedeemed")
    };
    ok(
        json!({"id": body.id.as_str(), "status": "redeemed", "amount": body.amount, "discount": discount, "payable": payable, "reward_coupon": reward_coupon.map(|id| id.to_string())}),
    )
}

async fn pool(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    require_user(&state, &principal, &user).await?;
    let key = user.clone();
    let coupons: Vec<String> = read(&state, move |machine| machine.pool(&key).map(Id::to_string).collect()).await?;
    ok(json!({"user": user.as_str(), "coupons": coupons}))
}

async fn claimable(state: Data, principal: Principal, path: web::Path<String>) -> Answer {
    let user = id(&path)?;
    require_user(&state, &principal, &user).await?;
    let key = user.clone();
    let coupons: Vec<String> =
        read(&state, move |machine| machine.claimable_coupons(&key).iter().map(Id::to_string).collect()).await?;
    ok(json!({"user": user.as_str(), "coupons": coupons}))
}

async fn quote(state: Data, principal: Principal, body: web::Json<QuoteBody>) -> Answer {
    let coupon = coupon_scope(&state, &principal, &body.coupon).await?;
    let (amount, location) = (body.amount, point(&body.location));
    body.check_amount()?;
    let now = read(&state, |machine| machine.state_now_ms()).await?;
    let valid = coupon.state == CouponState::Available && now >= coupon.valid_from_ms && now < coupon.valid_until_ms;
    if !valid {
        return Err(ApiError::rejected(Rejection::CouponNotValid));
    }
    let quote = kassa_engine::state_machine::rules::quote(&coupon.rule, &coupon.adjustments, amount, now, location)
        .map_err(ApiError::rejected)?;
    ok(
        json!({"coupon": body.coupon.as_str(), "amount": amount, "discount": quote.discount, "payable": quote.payable, "currency": coupon.currency.alpha(), "rounding": "half_even_to_minor_unit"}),
    )
}
