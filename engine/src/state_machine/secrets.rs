//! Keyed derivations with ring's HMAC-SHA256: secure codes, challenges, coupon and approval
//! codes are *derived* from the server key and the command (no randomness but the command's
//! nonce); only keyed hashes of codes are stored, and they are compared in constant time
//! ([`hashes_equal`]).

use std::fmt;

use ring::hmac;

/// The server's secret key (32 bytes). Never printed.
#[derive(Clone)]
pub struct SecretKey(hmac::Key);

impl SecretKey {
    /// Wraps 32 secret bytes.
    pub fn from_bytes(bytes: &[u8; 32]) -> SecretKey {
        SecretKey(hmac::Key::new(hmac::HMAC_SHA256, bytes))
    }

    /// The HMAC of `parts` under `domain`: every piece length-prefixed, so no two inputs
    /// collide; fed to the HMAC piece by piece (no message is built: a POS sale computes two).
    fn tag(&self, domain: &str, parts: &[&[u8]]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.0);
        for piece in std::iter::once(domain.as_bytes()).chain(parts.iter().copied()) {
            context.update(&(piece.len() as u64).to_be_bytes());
            context.update(piece);
        }
        context.sign()
    }

    /// A decimal code of `digits` digits (at most 18) derived from `parts`.
    pub(crate) fn digits(&self, domain: &str, parts: &[&[u8]], digits: u32) -> String {
        assert!(digits > 0 && digits <= 18);
        let tag = self.tag(domain, parts);
        let mut head = [0u8; 8];
        head.copy_from_slice(&tag.as_ref()[..8]);
        let value = u64::from_be_bytes(head) % 10u64.pow(digits);
        format!("{value:0width$}", width = digits as usize)
    }

    /// The keyed hash of `parts` under `domain`, stored instead of a code.
    pub(crate) fn hash(&self, domain: &str, parts: &[&[u8]]) -> [u8; 32] {
        let mut hash = [0u8; 32];
        hash.copy_from_slice(self.tag(domain, parts).as_ref());
        hash
    }

    /// Whether `parts` hash to `expected`, compared in constant time ([`hashes_equal`]).
    pub(crate) fn verify(&self, domain: &str, parts: &[&[u8]], expected: &[u8; 32]) -> bool {
        hashes_equal(&self.hash(domain, parts), expected)
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// Whether two keyed hashes are equal, in constant time (every byte compared, no early exit).
pub(crate) fn hashes_equal(left: &[u8; 32], right: &[u8; 32]) -> bool {
    left.iter().zip(right).fold(0u8, |difference, (l, r)| difference | (l ^ r)) == 0
}

/// Whether `code` is 1..=`CODE_LENGTH_MAX` ASCII digits (anything else is malformed).
pub(crate) fn is_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= crate::constants::CODE_LENGTH_MAX && code.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_deterministic_and_keyed() {
        let key = SecretKey::from_bytes(&[7; 32]);
        let other = SecretKey::from_bytes(&[8; 32]);
        let code = key.digits("d", &[b"a", b"b"], 8);
        assert_eq!(code.len(), 8);
        assert_eq!(code, key.digits("d", &[b"a", b"b"], 8));
        assert_ne!(key.hash("d", &[b"ab"]), key.hash("d", &[b"a", b"b"]));
        assert_ne!(key.hash("d", &[b"a"]), other.hash("d", &[b"a"]));
        let hash = key.hash("h", &[code.as_bytes()]);
        assert!(key.verify("h", &[code.as_bytes()], &hash));
        assert!(!key.verify("h", &[b"00000000"], &hash) || code == "00000000");
        assert!(hashes_equal(&hash, &key.hash("h", &[code.as_bytes()])));
        let mut other_hash = hash;
        other_hash[31] ^= 1;
        assert!(!hashes_equal(&hash, &other_hash));
    }

    #[test]
    fn hashes_are_the_hmac_of_the_length_prefixed_message_as_stored_before() {
        // Codes' hashes are stored (snapshots, archived objects): feeding the pieces one by one
        // must give exactly the HMAC of the whole message built as before.
        let key_bytes = [9; 32];
        let key = SecretKey::from_bytes(&key_bytes);
        let mut message = Vec::new();
        for piece in [&b"domain"[..], b"user-1", b"", b"12345678"] {
            message.extend_from_slice(&(piece.len() as u64).to_be_bytes());
            message.extend_from_slice(piece);
        }
        let expected = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, &key_bytes), &message);
        assert_eq!(&key.hash("domain", &[b"user-1", b"", b"12345678"])[..], expected.as_ref());
    }
}
