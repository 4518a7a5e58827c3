//! Authentication: which principal an API key speaks for. What the principal may then do is
//! the engine's decision (`kassa_engine::authority`), made inside the commit.
//!
//! API keys look like `kassa_<key_id>_<secret>`; the engine stores only the SHA-256 of the secret
//! (the secret is 128 random bits, so a fast hash is enough), and every comparison is constant
//! time. A bootstrap admin key can be given by flag or environment; without one, an admin key is
//! generated at first start and printed once. The cache here is shared by every listener, so a
//! key revoked through one (`DELETE /v1/keys/{id}`) stops working on all of them at once.

use dashmap::DashMap;
use kassa_engine::command::{Command, RegisterApiKey, Submission};
use kassa_engine::metadata::Metadata;
use kassa_engine::state_machine::ApiKey;
use kassa_engine::{Engine, Id, Principal};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Longest id of a merchant or app that can hold a key.
pub const SCOPE_ID_LENGTH_MAX: usize = 48;

/// An authenticated caller: the key it used and the principal that key speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The key's id (`bootstrap` for the configured admin key).
    pub key_id: String,
    /// Who the key speaks for; every command it sends carries it.
    pub principal: Principal,
}

impl Caller {
    /// Whether this is the admin.
    pub fn is_admin(&self) -> bool {
        self.principal == Principal::Admin
    }

    /// `command` sent by this caller.
    pub fn sends(&self, command: Command) -> Submission {
        Submission::new(self.principal.clone(), command)
    }

    /// `command` sent by this caller with `metadata` for what it creates.
    pub fn sends_with(&self, command: Command, metadata: Option<Metadata>) -> Submission {
        let submission = self.sends(command);
        match metadata {
            Some(metadata) => submission.with_metadata(metadata),
            None => submission,
        }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    Missing,
    /// Unknown, revoked or wrong key.
    #[error("invalid API key")]
    Invalid,
}

/// The keys, cached from the engine's registry (live keys only).
pub struct Auth {
    bootstrap_hash: Option<[u8; 32]>,
    keys: DashMap<String, ApiKey>,
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut hash = [0u8; 32];
    hash.copy_from_slice(digest::digest(&digest::SHA256, bytes).as_ref());
    hash
}

/// Compares two hashes without an early exit.
pub fn equal_in_constant_time(left: &[u8; 32], right: &[u8; 32]) -> bool {
    left.iter().zip(right).fold(0u8, |difference, (l, r)| difference | (l ^ r)) == 0
}

/// Random lowercase hex of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    SystemRandom::new().fill(&mut buffer).expect("the OS random source works");
    hex::encode(buffer)
}

/// A new key: `(key string, key id, SHA-256 of the secret)`.
pub fn new_key() -> (String, Id, [u8; 32]) {
    let key_id = random_hex(6);
    let secret = random_hex(16);
    let key = format!("kassa_{key_id}_{secret}");
    (key, Id::new(&key_id).expect("hex is a valid id"), sha256(secret.as_bytes()))
}

impl Auth {
    /// Loads the engine's live keys. Registers and returns a generated admin key when there is
    /// neither a bootstrap key nor any admin key yet.
    pub async fn load(engine: &Engine, bootstrap_key: Option<&str>) -> Result<(Auth, Option<String>), String> {
        let keys = engine
            .read(|machine| {
                let live = machine.api_keys().filter(|(_, key)| !key.revoked);
                live.map(|(id, key)| (id.to_string(), key.clone())).collect::<Vec<_>>()
            })
            .await
            .map_err(|error| error.to_string())?;
        let auth =
            Auth { bootstrap_hash: bootstrap_key.map(|key| sha256(key.as_bytes())), keys: keys.into_iter().collect() };
        let has_admin = auth.keys.iter().any(|entry| entry.role == Principal::Admin);
        if bootstrap_key.is_some() || has_admin {
            return Ok((auth, None));
        }
        let (key, key_id, secret_hash) = new_key();
        let register = RegisterApiKey { key_id: key_id.clone(), role: Principal::Admin, secret_hash };
        let outcome = engine
            .submit(Submission::admin(Command::RegisterApiKey(register)))
            .await
            .map_err(|error| error.to_string())?;
        if !outcome.is_applied() {
            return Err(format!("registering the admin key failed: {outcome:?}"));
        }
        auth.keys.insert(key_id.to_string(), ApiKey { role: Principal::Admin, secret_hash, revoked: false });
        Ok((auth, Some(key)))
    }

    /// Authenticates an `Authorization` header value (`Bearer <key>`) or a bare key.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Caller, AuthError> {
        let presented = presented.ok_or(AuthError::Missing)?.trim();
        let key = match presented.strip_prefix("Bearer") {
            Some(rest) if rest.is_empty() || rest.starts_with(' ') => rest.trim(),
            _ => presented,
        };
        if key.is_empty() {
            return Err(AuthError::Missing);
        }
        if let Some(bootstrap) = &self.bootstrap_hash
            && equal_in_constant_time(bootstrap, &sha256(key.as_bytes()))
        {
            return Ok(Caller { key_id: "bootstrap".into(), principal: Principal::Admin });
        }
        let mut parts = key.splitn(3, '_');
        let (Some("kassa"), Some(key_id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Invalid);
        };
        let stored = self.keys.get(key_id).ok_or(AuthError::Invalid)?;
        if stored.revoked || !equal_in_constant_time(&stored.secret_hash, &sha256(secret.as_bytes())) {
            return Err(AuthError::Invalid);
        }
        Ok(Caller { key_id: key_id.to_string(), principal: stored.role.clone() })
    }

    /// Caches a key the engine has just registered.
    pub fn remember_key(&self, key_id: &Id, key: ApiKey) {
        self.keys.insert(key_id.to_string(), key);
    }

    /// Whether the key `caller` authenticated with still stands (not revoked since): checked
    /// per request by listeners that authenticate once per connection.
    pub fn is_live(&self, caller: &Caller) -> bool {
        caller.key_id == "bootstrap" || self.keys.contains_key(&caller.key_id)
    }

    /// Drops a key the engine has just revoked: from now on no listener accepts it.
    pub fn forget_key(&self, key_id: &Id) {
        self.keys.remove(key_id.as_str());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(key_id: &str, secret: &str, role: Principal) -> Auth {
        let auth = Auth { bootstrap_hash: Some(sha256(b"boot")), keys: DashMap::new() };
        auth.keys.insert(key_id.into(), ApiKey { role, secret_hash: sha256(secret.as_bytes()), revoked: false });
        auth
    }

    #[test]
    fn keys_authenticate_in_constant_time_and_refuse_the_rest() {
        let auth = auth_with("abc", "s3cret", Principal::App(Id::new("shop").unwrap()));
        let caller = auth.authenticate(Some("Bearer kassa_abc_s3cret")).unwrap();
        assert_eq!(caller.principal, Principal::App(Id::new("shop").unwrap()));
        assert_eq!(auth.authenticate(Some("kassa_abc_s3cret")).unwrap().key_id, "abc");
        assert_eq!(auth.authenticate(Some("Bearer boot")).unwrap().principal, Principal::Admin);
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer kassa_abc_wrong")), Err(AuthError::Invalid));
        assert_eq!(auth.authenticate(Some("Bearer kassa_zzz_s3cret")), Err(AuthError::Invalid));
        assert_eq!(auth.authenticate(Some("Bearer nonsense")), Err(AuthError::Invalid));
    }

    #[test]
    fn forgotten_keys_stop_at_once() {
        let (key, key_id, hash) = new_key();
        let auth = Auth { bootstrap_hash: None, keys: DashMap::new() };
        auth.remember_key(&key_id, ApiKey { role: Principal::Admin, secret_hash: hash, revoked: false });
        assert!(auth.authenticate(Some(&key)).unwrap().is_admin());
        auth.forget_key(&key_id);
        assert_eq!(auth.authenticate(Some(&key)), Err(AuthError::Invalid));
    }
}
