//! API keys (as keyed hashes), their revocation, and the owner records of objects
//! (`crate::authority` decides what they mean).

use serde::{Deserialize, Serialize};

use super::StateMachine;
use crate::command::{Change, Event, ObjectKind, Outcome, Principal, RegisterApiKey, Rejection, Reply};
use crate::types::Id;

/// A registered API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// Who it speaks for.
    pub role: Principal,
    /// Keyed hash of its secret.
    pub secret_hash: [u8; 32],
    /// Revoked keys authenticate nothing; the id stays taken.
    pub revoked: bool,
}

impl StateMachine {
    pub(super) fn register_api_key(&mut self, register: &RegisterApiKey, events: &mut Vec<Event>) -> Outcome {
        let key = ApiKey { role: register.role.clone(), secret_hash: register.secret_hash, revoked: false };
        if let Some(existing) = self.state.api_keys.get(&register.key_id) {
            return if *existing == key {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        // An operator's or terminal's key speaks for an object that must exist.
        match &register.role {
            Principal::Operator(operator) if !self.state.operators.contains_key(operator) => {
                return Outcome::Rejected(Rejection::OperatorNotFound);
            }
            Principal::Terminal(terminal) if !self.state.terminals.contains_key(terminal) => {
                return Outcome::Rejected(Rejection::TerminalNotFound);
            }
            _ => {}
        }
        self.state.api_keys.insert(register.key_id.clone(), key);
        Self::changed(events, ObjectKind::ApiKey, &register.key_id, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn revoke_api_key(&mut self, key_id: &Id, events: &mut Vec<Event>) -> Outcome {
        let Some(key) = self.state.api_keys.get_mut(key_id) else {
            return Outcome::Rejected(Rejection::KeyNotFound);
        };
        if !key.revoked {
            key.revoked = true;
            Self::changed(events, ObjectKind::ApiKey, key_id, Change::Closed);
        }
        Outcome::Applied(Reply::Done)
    }

    /// An API key by id.
    pub fn api_key(&self, key_id: &Id) -> Option<&ApiKey> {
        self.state.api_keys.get(key_id)
    }

    /// Every API key (for the adapters' cache at start).
    pub fn api_keys(&self) -> impl Iterator<Item = (&Id, &ApiKey)> {
        self.state.api_keys.iter()
    }

    /// The owner recorded for an object (none: the admin's, or an unclaimed user).
    pub fn owner(&self, object: ObjectKind, id: &Id) -> Option<&Principal> {
        self.state.owners.get(&(object, id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use crate::command::*;
    use crate::state_machine::tests::{Harness, id};

    #[test]
    fn keys_are_recorded_once_and_revoked_for_good() {
        let mut h = Harness::new();
        let key = RegisterApiKey { key_id: id("k1"), role: Principal::App(id("shop-app")), secret_hash: [1; 32] };
        assert!(h.run(Command::RegisterApiKey(key.clone())).is_applied());
        assert!(h.run(Command::RegisterApiKey(key.clone())).is_applied());
        let other = RegisterApiKey { secret_hash: [2; 32], ..key.clone() };
        assert_eq!(h.run(Command::RegisterApiKey(other)).rejection(), Some(Rejection::AlreadyExists));
        assert_eq!(h.machine.api_key(&id("k1")).unwrap().role, Principal::App(id("shop-app")));
        let operator =
            RegisterApiKey { key_id: id("k2"), role: Principal::Operator(id("nobody")), secret_hash: [3; 32] };
        assert_eq!(h.run(Command::RegisterApiKey(operator)).rejection(), Some(Rejection::OperatorNotFound));
        assert!(h.run(Command::RevokeApiKey { key_id: id("k1") }).is_applied());
        assert!(h.machine.api_key(&id("k1")).unwrap().revoked);
        assert_eq!(h.run(Command::RegisterApiKey(key)).rejection(), Some(Rejection::AlreadyExists));
        assert_eq!(h.run(Command::RevokeApiKey { key_id: id("k9") }).rejection(), Some(Rejection::KeyNotFound));
    }
}
