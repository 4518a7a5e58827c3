//! What a user's list keeps of authorizations that resolved and left memory (`archive.rs`),
//! and for how long. A presented code is compared with the user's list; an authorization
//! that was used, revoked or expired and left memory stays in the list as a [`Retired`] entry
//! (its code's keyed hash and what happened to it), so its code is still declined for that
//! reason (`code_already_used`, `code_revoked`, `expired`) and not counted as a wrong code.
//! Until [`SPENT_CODE_REMEMBERED_MS`] after the authorization's expiry: then the code is
//! forgotten (as a code never issued: `incorrect_code`) and the entry leaves memory, so what a
//! user leaves in memory is bounded by time (the authorizations of their last eight days at
//! most), not by how many purchases they ever made.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::AuthorizationState;
use crate::constants::SPENT_CODE_REMEMBERED_MS;
use crate::state_machine::{Map, StateMachine};
use crate::types::{Id, TimestampMs};

/// An authorization in its user's list: its id, and its code's keyed hash and expiry (copied
/// from the authorization, which never changes them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListedCode {
    pub(crate) id: Id,
    pub(crate) code_hash: [u8; 32],
    pub(crate) expires_at_ms: TimestampMs,
}

/// What an evicted authorization leaves beside its entry in its user's list: its code's answer
/// (the state it ended in), until the code is forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Retired {
    pub(crate) user: Id,
    pub(crate) state: AuthorizationState,
    pub(crate) expires_at_ms: TimestampMs,
}

/// Whether the code of an authorization that expires at `expires_at_ms` is forgotten at `now`.
pub(crate) fn code_forgotten(expires_at_ms: TimestampMs, now: TimestampMs) -> bool {
    now >= forgotten_at(expires_at_ms)
}

fn forgotten_at(expires_at_ms: TimestampMs) -> TimestampMs {
    expires_at_ms.saturating_add(SPENT_CODE_REMEMBERED_MS)
}

/// When each retired authorization's code is forgotten, in order (`State::retired_expiry`;
/// derived from the retired entries, not stored).
pub(crate) fn retired_expiry(retired: &Map<Id, Retired>) -> BTreeSet<(TimestampMs, Id)> {
    retired.iter().map(|(id, entry)| (forgotten_at(entry.expires_at_ms), id.clone())).collect()
}

impl StateMachine {
    /// Authorization `id` (of `user`) leaves memory: its code's answer stays in the user's list
    /// until the code is forgotten; past that, it leaves the list too.
    pub(crate) fn retire_authorization(&mut self, now: TimestampMs, id: &Id, authorization: &super::Authorization) {
        let user = &authorization.user;
        if !self.state.user_authorizations.get(user).is_some_and(|listed| listed.iter().any(|code| &code.id == id)) {
            return;
        }
        if code_forgotten(authorization.expires_at_ms, now) {
            self.unlist_authorization(user, id);
            return;
        }
        let retired = Retired {
            user: user.clone(),
            state: authorization.state.clone(),
            expires_at_ms: authorization.expires_at_ms,
        };
        self.state.retired_expiry.insert((forgotten_at(retired.expires_at_ms), id.clone()));
        self.state.retired_authorizations.insert(id.clone(), retired);
    }

    /// Authorization `id` is back in memory (restored from storage): no longer retired.
    pub(crate) fn unretire_authorization(&mut self, id: &Id) {
        if let Some(retired) = self.state.retired_authorizations.remove(id) {
            self.state.retired_expiry.remove(&(forgotten_at(retired.expires_at_ms), id.clone()));
        }
    }

    /// Takes `id` out of `user`'s list (and its retired entry, if any).
    pub(super) fn unlist_authorization(&mut self, user: &Id, id: &Id) {
        self.unretire_authorization(id);
        if let Some(ids) = self.state.user_authorizations.get_mut(user) {
            ids.retain(|listed| &listed.id != id);
            if ids.is_empty() {
                self.state.user_authorizations.remove(user);
            }
        }
    }

    /// Takes out of `user`'s list every authorization whose code is forgotten at `now`.
    pub(super) fn unlist_forgotten(&mut self, user: &Id, now: TimestampMs) {
        let Some(ids) = self.state.user_authorizations.get(user) else { return };
        let forgotten = ids.iter().filter(|listed| code_forgotten(listed.expires_at_ms, now));
        let forgotten: Vec<Id> = forgotten.map(|listed| listed.id.clone()).collect();
        for id in forgotten {
            self.unlist_authorization(user, &id);
        }
    }

    /// Forgets the retired codes due by `now`: their entries leave the users' lists.
    pub(crate) fn forget_spent_codes(&mut self, now: TimestampMs) {
        while let Some((forgotten_at_ms, id)) = self.state.retired_expiry.first().cloned() {
            if forgotten_at_ms > now {
                break;
            }
            let user = self.state.retired_authorizations[&id].user.clone();
            self.unlist_authorization(&user, &id);
        }
    }
}
