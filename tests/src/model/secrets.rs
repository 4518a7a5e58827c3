//! The one derivation the model does itself: a reward coupon's id. The engine does not report
//! it for rewards earned through a POS settlement or a bill, and later commands need it.
//!
//! Documented shape: `r-` and 24 hex digits of HMAC-SHA256(server key, message), the message
//! being the domain `kassa.reward-id.v1` and the redeemed coupon's id, each prefixed with its
//! length as a big-endian u64.

use kassa_engine::Id;
use ring::hmac;

const REWARD_ID_DOMAIN: &str = "kassa.reward-id.v1";

/// The id of the reward coupon earned when `coupon` is redeemed.
pub(super) fn reward_id(secret_key: &[u8; 32], coupon: &Id) -> Id {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret_key);
    let mut message = Vec::new();
    for piece in [REWARD_ID_DOMAIN.as_bytes(), coupon.as_str().as_bytes()] {
        message.extend_from_slice(&u64::try_from(piece.len()).expect("short").to_be_bytes());
        message.extend_from_slice(piece);
    }
    let tag = hmac::sign(&key, &message);
    let hex: String = tag.as_ref()[..12].iter().map(|byte| format!("{byte:02x}")).collect();
    Id::new(&format!("r-{hex}")).expect("a valid id")
}
