//! The derivations the model does itself: a reward coupon's id (the engine does not report it
//! for rewards earned through a POS settlement or a bill, and later commands need it) and a
//! bill's challenge (the engine gives it only to the user's side, never to a merchant), and a
//! secure code (so that the model decides a code collision on its own).
//!
//! Documented shape: `r-` and 24 hex digits of HMAC-SHA256(server key, message), the message
//! being the domain `kassa.reward-id.v1` and the redeemed coupon's id, each prefixed with its
//! length as a big-endian u64.

use kassa_engine::Id;
use ring::hmac;

const REWARD_ID_DOMAIN: &str = "kassa.reward-id.v1";

const CHALLENGE_DOMAIN: &str = "kassa.bill-challenge.v1";
const SECURE_CODE_DOMAIN: &str = "kassa.secure-code.v1";

/// HMAC-SHA256 under the server key of the pieces, each prefixed with its length (big-endian u64).
fn tag(secret_key: &[u8; 32], pieces: &[&[u8]]) -> hmac::Tag {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret_key);
    let mut message = Vec::new();
    for piece in pieces {
        message.extend_from_slice(&u64::try_from(piece.len()).expect("short").to_be_bytes());
        message.extend_from_slice(piece);
    }
    hmac::sign(&key, &message)
}

/// `digits` decimal digits: the first 8 bytes of the tag of `pieces`, as a big-endian integer,
/// modulo 10^digits.
fn digits(secret_key: &[u8; 32], pieces: &[&[u8]], digits: u32) -> String {
    let tag = tag(secret_key, pieces);
    let mut head = [0u8; 8];
    head.copy_from_slice(&tag.as_ref()[..8]);
    format!("{:0width$}", u64::from_be_bytes(head) % 10u64.pow(digits), width = digits as usize)
}

/// A bill's challenge: six digits of (domain, bill, nonce, total).
pub(super) fn bill_challenge(secret_key: &[u8; 32], bill: &Id, nonce: u64, total: u64) -> String {
    let pieces: [&[u8]; 4] =
        [CHALLENGE_DOMAIN.as_bytes(), bill.as_str().as_bytes(), &nonce.to_be_bytes(), &total.to_be_bytes()];
    digits(secret_key, &pieces, 6)
}

/// A secure code: eight digits of (domain, authorization id, user, account, limit, expiry, nonce).
pub(super) fn secure_code(secret_key: &[u8; 32], authorize: &kassa_engine::command::Authorize) -> String {
    let pieces: [&[u8]; 7] = [
        SECURE_CODE_DOMAIN.as_bytes(),
        authorize.id.as_str().as_bytes(),
        authorize.user.as_str().as_bytes(),
        authorize.account.as_str().as_bytes(),
        &authorize.limit.to_be_bytes(),
        &authorize.expires_at_ms.to_be_bytes(),
        &authorize.nonce.to_be_bytes(),
    ];
    digits(secret_key, &pieces, 8)
}

/// The id of the reward coupon earned when `coupon` is redeemed.
pub(super) fn reward_id(secret_key: &[u8; 32], coupon: &Id) -> Id {
    let tag = tag(secret_key, &[REWARD_ID_DOMAIN.as_bytes(), coupon.as_str().as_bytes()]);
    let hex: String = tag.as_ref()[..12].iter().map(|byte| format!("{byte:02x}")).collect();
    Id::new(&format!("r-{hex}")).expect("a valid id")
}
