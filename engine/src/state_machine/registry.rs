//! Registries the adapters need durably: API keys (as keyed hashes) and object owners.
//! The state machine stores them; the adapters decide what they mean.

use serde::{Deserialize, Serialize};

use super::StateMachine;
use crate::command::{ApiRole, Change, Event, ObjectKind, Outcome, RegisterApiKey, Rejection, Reply, SetOwner};
use crate::types::Id;

/// A registered API key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    /// What it may do.
    pub role: ApiRole,
    /// Keyed hash of its secret.
    pub secret_hash: [u8; 32],
}

impl StateMachine {
    pub(super) fn register_api_key(&mut self, register: &RegisterApiKey, events: &mut Vec<Event>) -> Outcome {
        let key = ApiKey { role: register.role.clone(), secret_hash: register.secret_hash };
        if let Some(existing) = self.state.api_keys.get(&register.key_id) {
            return if *existing == key {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        self.state.api_keys.insert(register.key_id.clone(), key);
        Self::changed(events, ObjectKind::ApiKey, &register.key_id, Change::Opened);
        Outcome::Applied(Reply::Done)
    }

    pub(super) fn set_owner(&mut self, set: &SetOwner, events: &mut Vec<Event>) -> Outcome {
        let key = (set.object, set.id.clone());
        if let Some(owner) = self.state.owners.get(&key) {
            return if *owner == set.owner {
                Outcome::Applied(Reply::Done)
            } else {
                Outcome::Rejected(Rejection::AlreadyExists)
            };
        }
        self.state.owners.insert(key, set.owner.clone());
        Self::changed(events, set.object, &set.id, Change::Opened);
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

    /// The owner recorded for an object.
    pub fn owner(&self, object: ObjectKind, id: &Id) -> Option<&Id> {
        self.state.owners.get(&(object, id.clone()))
    }

    /// Every recorded owner (for the adapters' cache at start).
    pub fn owners(&self) -> impl Iterator<Item = (&(ObjectKind, Id), &Id)> {
        self.state.owners.iter()
    }
}

#[cfg(test)]
mod tests {
    use crate::command::*;
    use crate::state_machine::tests::{Harness, id};

    #[test]
    fn keys_and_owners_are_recorded_once() {
        let mut h = Harness::new();
        let key = RegisterApiKey { key_id: id("k1"), role: ApiRole::App(id("shop-app")), secret_hash: [1; 32] };
        assert!(h.run(Command::RegisterApiKey(key.clone())).is_applied());
        assert!(h.run(Command::RegisterApiKey(key.clone())).is_applied());
        let other = RegisterApiKey { secret_hash: [2; 32], ..key };
        assert_eq!(h.run(Command::RegisterApiKey(other)).rejection(), Some(Rejection::AlreadyExists));
        assert_eq!(h.machine.api_key(&id("k1")).unwrap().role, ApiRole::App(id("shop-app")));
        let owner = SetOwner { object: ObjectKind::Account, id: id("a"), owner: id("app:x") };
        assert!(h.run(Command::SetOwner(owner.clone())).is_applied());
        let thief = SetOwner { owner: id("app:y"), ..owner };
        assert_eq!(h.run(Command::SetOwner(thief)).rejection(), Some(Rejection::AlreadyExists));
        assert_eq!(h.machine.owner(ObjectKind::Account, &id("a")), Some(&id("app:x")));
    }
}
