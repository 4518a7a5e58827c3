//! Authentication and scopes.
//!
//! API keys look like `kassa_<key_id>_<secret>`; the engine stores only the SHA-256 of the secret
//! (the secret is 128 random bits, so a fast hash is enough), and every comparison is constant
//! time. A bootstrap admin key can be given by flag or environment; without one, an admin key is
//! generated at first start and printed once. Roles:
//! - admin: everything;
//! - merchant: objects it created (accounts), its own terminals, operators and coupons;
//! - operator: verify and redeem its one merchant's coupons;
//! - app: objects it created (accounts, holds, authorizations, bills, splits) and its users.

use dashmap::DashMap;
use kassa_engine::command::{ApiRole, Command, ObjectKind, RegisterApiKey};
use kassa_engine::state_machine::ApiKey;
use kassa_engine::{Engine, Id};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};

/// Longest id of a merchant or app that can hold a key (its owner tag must fit in an `Id`).
pub const SCOPE_ID_LENGTH_MAX: usize = 48;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's id (`bootstrap` for the configured admin key).
    pub key_id: String,
    /// What it may do.
    pub role: ApiRole,
}

impl Principal {
    /// The owner tag recorded on objects this caller creates (`app:ID`, `merchant:ID`).
    pub fn owner_tag(&self) -> Option<Id> {
        let tag = match &self.role {
            ApiRole::Admin | ApiRole::Operator(_) => return None,
            ApiRole::Merchant(merchant) => format!("merchant:{merchant}"),
            ApiRole::App(app) => format!("app:{app}"),
        };
        Some(Id::new(&tag).expect("scope ids are short and valid"))
    }

    /// Whether this is the admin.
    pub fn is_admin(&self) -> bool {
        self.role == ApiRole::Admin
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No credentials.
    #[error("missing API key: send `Authorization: Bearer <key>`")]
    Missing,
    /// Unknown or wrong key.
    #[error("invalid API key")]
    Invalid,
}

/// Keys and owners, cached from the engine's registries.
pub struct Auth {
    bootstrap_hash: Option<[u8; 32]>,
    keys: DashMap<String, ApiKey>,
    owners: DashMap<(ObjectKind, Id), Id>,
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
    /// Loads the engine's keys and owners. Registers and returns a generated admin key when
    /// there is neither a bootstrap key nor any admin key yet.
    pub async fn load(engine: &Engine, bootstrap_key: Option<&str>) -> Result<(Auth, Option<String>), String> {
        let (keys, owners) = engine
            .read(|machine| {
                let keys: Vec<(Id, ApiKey)> = machine.api_keys().map(|(id, key)| (id.clone(), key.clone())).collect();
                let owners: Vec<((ObjectKind, Id), Id)> =
                    machine.owners().map(|(key, owner)| (key.clone(), owner.clone())).collect();
                (keys, owners)
            })
            .await
            .map_err(|error| error.to_string())?;
        let auth = Auth {
            bootstrap_hash: bootstrap_key.map(|key| sha256(key.as_bytes())),
            keys: keys.into_iter().map(|(id, key)| (id.to_string(), key)).collect(),
            owners: owners.into_iter().collect(),
        };
        let has_admin = auth.keys.iter().any(|entry| entry.role == ApiRole::Admin);
        if bootstrap_key.is_some() || has_admin {
            return Ok((auth, None));
        }
        let (key, key_id, secret_hash) = new_key();
        let register = RegisterApiKey { key_id: key_id.clone(), role: ApiRole::Admin, secret_hash };
        let outcome = engine.submit(Command::RegisterApiKey(register)).await.map_err(|error| error.to_string())?;
        if !outcome.is_applied() {
            return Err(format!("registering the admin key failed: {outcome:?}"));
        }
        auth.keys.insert(key_id.to_string(), ApiKey { role: ApiRole::Admin, secret_hash });
        Ok((auth, Some(key)))
    }

    /// Authenticates an `Authorization` header value (`Bearer <key>`) or a bare key.
    pub fn authenticate(&self, presented: Option<&str>) -> Result<Principal, AuthError> {
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
            return Ok(Principal { key_id: "bootstrap".into(), role: ApiRole::Admin });
        }
        let mut parts = key.splitn(3, '_');
        let (Some("kassa"), Some(key_id), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(AuthError::Invalid);
        };
        let stored = self.keys.get(key_id).ok_or(AuthError::Invalid)?;
        if !equal_in_constant_time(&stored.secret_hash, &sha256(secret.as_bytes())) {
            return Err(AuthError::Invalid);
        }
        Ok(Principal { key_id: key_id.to_string(), role: stored.role.clone() })
    }

    /// Caches a key the engine has just registered.
    pub fn remember_key(&self, key_id: &Id, key: ApiKey) {
        self.keys.insert(key_id.to_string(), key);
    }

    /// The recorded owner of an object.
    pub fn owner(&self, object: ObjectKind, id: &Id) -> Option<Id> {
        self.owners.get(&(object, id.clone())).map(|owner| owner.clone())
    }

    /// Caches an owner the engine has just recorded.
    pub fn remember_owner(&self, object: ObjectKind, id: &Id, owner: Id) {
        self.owners.insert((object, id.clone()), owner);
    }

    /// Whether `principal` may act on the object: admin always; otherwise only its owner.
    pub fn may_touch(&self, principal: &Principal, object: ObjectKind, id: &Id) -> bool {
        if principal.is_admin() {
            return true;
        }
        match (principal.owner_tag(), self.owner(object, id)) {
            (Some(tag), Some(owner)) => tag == owner,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_with(key_id: &str, secret: &str, role: ApiRole) -> Auth {
        let auth = Auth { bootstrap_hash: Some(sha256(b"boot")), keys: DashMap::new(), owners: DashMap::new() };
        auth.keys.insert(key_id.into(), ApiKey { role, secret_hash: sha256(secret.as_bytes()) });
        auth
    }

    #[test]
    fn keys_authenticate_in_constant_time_and_refuse_the_rest() {
        let auth = auth_with("abc", "s3cret", ApiRole::App(Id::new("shop").unwrap()));
        let principal = auth.authenticate(Some("Bearer kassa_abc_s3cret")).unwrap();
        assert_eq!(principal.role, ApiRole::App(Id::new("shop").unwrap()));
        assert_eq!(principal.owner_tag().unwrap().as_str(), "app:shop");
        assert_eq!(auth.authenticate(Some("kassa_abc_s3cret")).unwrap().key_id, "abc");
        assert_eq!(auth.authenticate(Some("Bearer boot")).unwrap().role, ApiRole::Admin);
        assert_eq!(auth.authenticate(None), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer ")), Err(AuthError::Missing));
        assert_eq!(auth.authenticate(Some("Bearer kassa_abc_wrong")), Err(AuthError::Invalid));
        assert_eq!(auth.authenticate(Some("Bearer kassa_zzz_s3cret")), Err(AuthError::Invalid));
        assert_eq!(auth.authenticate(Some("Bearer nonsense")), Err(AuthError::Invalid));
    }

    #[test]
    fn only_owners_touch_objects() {
        let auth = auth_with("k", "s", ApiRole::App(Id::new("a1").unwrap()));
        let app = auth.authenticate(Some("kassa_k_s")).unwrap();
        let other = Principal { key_id: "o".into(), role: ApiRole::App(Id::new("a2").unwrap()) };
        let admin = Principal { key_id: "x".into(), role: ApiRole::Admin };
        let account = Id::new("acc").unwrap();
        auth.remember_owner(ObjectKind::Account, &account, Id::new("app:a1").unwrap());
        assert!(auth.may_touch(&app, ObjectKind::Account, &account));
        assert!(!auth.may_touch(&other, ObjectKind::Account, &account));
        assert!(auth.may_touch(&admin, ObjectKind::Account, &account));
        assert!(!auth.may_touch(&app, ObjectKind::Account, &Id::new("unowned").unwrap()));
    }

    #[test]
    fn new_keys_parse_back() {
        let (key, key_id, hash) = new_key();
        let auth = Auth { bootstrap_hash: None, keys: DashMap::new(), owners: DashMap::new() };
        auth.remember_key(&key_id, ApiKey { role: ApiRole::Admin, secret_hash: hash });
        assert!(auth.authenticate(Some(&key)).unwrap().is_admin());
        assert!(equal_in_constant_time(&hash, &hash));
    }
}
