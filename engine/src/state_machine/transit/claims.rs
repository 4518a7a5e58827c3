//! Users' claims across partitions: which app a user belongs to is decided on the user's own
//! partition (`Placement::of_user`), once, for every partition.
//!
//! ```text
//! command's partition s                           user's partition p
//!   app A acts for user u, unknown here:    --Claim n-->   u is B's: answer B (final);
//!   the command is pending (and every                      nobody's: u is A's, tentatively,
//!   later command for u waits behind it)                   while n is decided; answer A
//!   apply it again from the start, u's     <--Claimed n--
//!   owner known; a final answer is kept
//!   here for good (claims never change)
//!   decided: applied keeps the claim,      --ClaimEnded-->  keep it for good, or give it up
//!   refused gives it up                    <--Settled----   (nobody else relies on it)
//! ```
//!
//! A refused command changes nothing, claims included: a tentative claim becomes final only
//! when a command relying on it applied, and one given up by every command relying on it is
//! gone. While a claim is tentative, another app's command for the user is refused `forbidden`
//! (on one partition the two would have been decided one after the other; here the other app
//! loses the race even if the claiming command is refused in the end), and the claiming app's
//! commands on other partitions rely on it too. Every message is applied any number of times
//! with the same effect: a claim is tagged with its source and number, an end removes the tag.
//! Claims made here for users of this partition are the owner records the rules always read
//! (`tenancy.rs`); a partition that learned a final claim keeps it in the same records. A claim
//! recorded for good on another partition than the home one is noted there (`ClaimNoted`), so
//! the home partition, whose commands read a contact's claim, knows every claim of an
//! acknowledged command; reads take a claim from the user's partition (`runtime/claims.rs`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{Open, Transit};
use crate::command::{ObjectKind, Outcome, Principal, Rejection, Reply, Submission};
use crate::partition::{Claim, ClaimEnd, ClaimNoted, HOME_PARTITION, Outgoing, PartitionId, TransitMessage};
use crate::state_machine::{CommitOutput, StateMachine};
use crate::types::{Id, TimestampMs};

/// One partition's side of the users' claims.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Claims {
    /// The open claim of each user asked here (the user's later commands wait for it).
    asking: super::super::Map<Id, u64>,
    /// Commands that applied relying on a tentative claim and wait for another step, by the
    /// claim's number: when they are decided, the claim is kept or given up.
    deciding: std::collections::BTreeMap<u64, Deciding>,
    /// Claims made here for commands on other partitions still being decided, by user.
    tentative: super::super::Map<Id, Tentative>,
}

/// A command relying on a tentative claim, not yet decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Deciding {
    /// The user's partition.
    destination: PartitionId,
    /// The user.
    user: Id,
    /// The claiming app.
    app: Principal,
}

/// A claim made for commands elsewhere that are still being decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Tentative {
    /// The claiming app.
    owner: Principal,
    /// The claims (source, number) relying on it.
    tags: BTreeSet<(PartitionId, u64)>,
}

/// A claim's step that waits for an answer ([`Open::Claim`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum ClaimStep {
    /// Asked of the user's partition: `command` applies again with the answer, and the answers
    /// to its accounts' checks (`known`).
    Asking { claim: Claim, command: Box<Submission>, known: Vec<(Id, super::CheckedAnswer)> },
    /// The command was decided; the user's partition is told.
    Ending(ClaimEnd),
    /// A claim recorded here for good; the home partition is told.
    Noting(ClaimNoted),
}

impl ClaimStep {
    /// The message that sends this step (again).
    pub(super) fn message(&self) -> TransitMessage {
        match self {
            ClaimStep::Asking { claim, .. } => TransitMessage::Claim(claim.clone()),
            ClaimStep::Ending(end) => TransitMessage::ClaimEnded(end.clone()),
            ClaimStep::Noting(note) => TransitMessage::ClaimNoted(note.clone()),
        }
    }
}

impl Transit {
    /// The user's (or the home) partition heard the end (or the note) of a claim: nothing is
    /// left to send.
    pub(super) fn claim_end_heard(&mut self, number: u64) {
        if let Some(Open::Claim { step: ClaimStep::Ending(_) | ClaimStep::Noting(_), .. }) =
            self.open.get(&number).map(|open| &**open)
        {
            self.open.remove(&number);
        }
    }

    /// How many users have a claim made here that waits for commands on other partitions to be
    /// decided (none once every step between partitions is done).
    pub fn tentative_claims(&self) -> usize {
        self.claims.tentative.len()
    }

    /// The app that tentatively owns `user` here, for commands elsewhere still being decided.
    pub(in crate::state_machine) fn tentative_owner(&self, user: &Id) -> Option<&Principal> {
        self.claims.tentative.get(user).map(|tentative| &tentative.owner)
    }

    /// A tentative claim of `user` here: its app, and the partitions whose commands rely on it.
    pub(in crate::state_machine) fn tentative_claim(&self, user: &Id) -> Option<(&Principal, Vec<PartitionId>)> {
        let tentative = self.claims.tentative.get(user)?;
        let mut sources: Vec<PartitionId> = tentative.tags.iter().map(|(source, _)| *source).collect();
        sources.dedup();
        Some((&tentative.owner, sources))
    }
}

impl StateMachine {
    /// A command of an app acting for a user whose claim lives on another partition, and is not
    /// known here: ask for it there first (the command is pending; see the module's
    /// documentation). `None`: apply it now.
    pub(in crate::state_machine) fn claim_user_first(&mut self, submission: &Submission) -> Option<Outcome> {
        let Principal::App(_) = &submission.principal else { return None };
        let user = crate::authority::acting_user(&submission.command)?;
        let destination = self.config.placement.of_user(user);
        if destination == self.config.partition
            || self.claimed.as_ref().is_some_and(|(claimed, _)| claimed == user)
            || self.state.owners.contains_key(&(ObjectKind::User, user.clone()))
        {
            return None;
        }
        if let Some(number) = self.state.transit.claims.asking.get(user) {
            // Decided after the command that asked, as on one partition.
            return Some(self.park(*number, submission, Rejection::LimitReached));
        }
        if self.check_authority(&submission.principal, &submission.command) == Err(Rejection::Forbidden) {
            // The rule refuses it whoever owns the user: nothing to ask. (An id another caller
            // created is asked about: the rule, which reads the claim, decides first.)
            return None;
        }
        let transit = &mut self.state.transit;
        let number = transit.next_number();
        transit.claims.asking.insert(user.clone(), number);
        let claim =
            Claim { source: self.config.partition, number, user: user.clone(), app: submission.principal.clone() };
        self.outgoing.push(Outgoing { destination, message: TransitMessage::Claim(claim.clone()) });
        let (command, known) = (Box::new(submission.clone()), self.checked.clone());
        let step = ClaimStep::Asking { claim, command, known };
        transit.open.insert(number, Box::new(Open::Claim { destination, step }));
        self.pending = Some(number);
        Some(Outcome::Applied(Reply::Done))
    }

    /// The user's partition's step: who owns the user? Nobody: the claiming app, tentatively.
    /// Answered every time it arrives; a repeat changes nothing.
    pub(super) fn answer_claim(&mut self, claim: &Claim) {
        let (owner, confirmed) = match self.state.owners.get(&(ObjectKind::User, claim.user.clone())) {
            Some(owner) => (owner.clone(), true),
            None => {
                let tentatives = &mut self.state.transit.claims.tentative;
                let tentative = tentatives
                    .entry(claim.user.clone())
                    .or_insert_with(|| Tentative { owner: claim.app.clone(), tags: BTreeSet::new() });
                if tentative.owner == claim.app {
                    tentative.tags.insert((claim.source, claim.number));
                }
                (tentative.owner.clone(), false)
            }
        };
        let message =
            TransitMessage::Claimed { user_partition: self.config.partition, number: claim.number, owner, confirmed };
        self.outgoing.push(Outgoing { destination: claim.source, message });
    }

    /// The answer to claim `number`: apply the command again from the start, the user's owner
    /// known (a final answer is kept); then keep or give up a tentative claim it relied on.
    pub(super) fn apply_claimed(
        &mut self,
        now: TimestampMs,
        number: u64,
        (owner, confirmed): (&Principal, bool),
        output: &mut CommitOutput,
    ) {
        let transit = &mut self.state.transit;
        // Acted on only while that claim is asked (a repeat changes nothing).
        if !matches!(
            transit.open.get(&number).map(|open| &**open),
            Some(Open::Claim { step: ClaimStep::Asking { .. }, .. })
        ) {
            return;
        }
        let Some(Open::Claim { destination, step: ClaimStep::Asking { claim, command, known } }) =
            transit.open.remove(&number).map(|open| *open)
        else {
            unreachable!("checked above")
        };
        transit.claims.asking.remove(&claim.user);
        if confirmed {
            self.state.owners.insert((ObjectKind::User, claim.user.clone()), owner.clone());
        }
        let relies = !confirmed && *owner == claim.app;
        self.checked = known;
        self.claimed = Some((claim.user.clone(), owner.clone()));
        let outcome = self.apply(now, &command, &mut output.events);
        self.checked.clear();
        self.claimed = None;
        if relies {
            let deciding = Deciding { destination, user: claim.user, app: claim.app };
            self.state.transit.claims.deciding.insert(number, deciding);
        }
        match self.pending.take() {
            // Its outcome waits for another step: the claim's end with it.
            Some(next) => drop(self.state.transit.aliases.insert(next, number)),
            None => self.complete(number, outcome, output),
        }
        // The user's commands that waited behind the claim apply now, in order.
        self.release_waiting(now, number, output);
    }

    /// The outcome of the commands pending on `number` is final: if one relied on a tentative
    /// claim, keep it (applied) or give it up (refused) on the user's partition.
    pub(super) fn claim_decided(&mut self, number: u64, outcome: &Outcome) {
        let transit = &mut self.state.transit;
        if transit.claims.deciding.is_empty() {
            return;
        }
        let Some(Deciding { destination, user, app }) = transit.claims.deciding.remove(&number) else { return };
        let kept = outcome.is_applied();
        let end = ClaimEnd { source: self.config.partition, number: transit.next_number(), claim: number, user, kept };
        if kept {
            // The claim will be final: nothing can give it up now that this end is on its way.
            self.record_claim(&end.user, &app);
        }
        let step = ClaimStep::Ending(end.clone());
        self.state.transit.open.insert(end.number, Box::new(Open::Claim { destination, step }));
        self.outgoing.push(Outgoing { destination, message: TransitMessage::ClaimEnded(end) });
    }

    /// The user's partition's last step: keep the claim for good, or give it up once no
    /// command relies on it. Answered every time it arrives.
    pub(super) fn end_claim(&mut self, end: &ClaimEnd) {
        let tentatives = &mut self.state.transit.claims.tentative;
        if let Some(tentative) = tentatives.get_mut(&end.user)
            && tentative.tags.remove(&(end.source, end.claim))
        {
            if end.kept {
                let owner = tentative.owner.clone();
                tentatives.remove(&end.user);
                self.state.owners.entry((ObjectKind::User, end.user.clone())).or_insert(owner);
            } else if tentative.tags.is_empty() {
                tentatives.remove(&end.user);
            }
        }
        self.answer(end.source, end.number, None);
    }

    /// A claim made by a command applied here for a user of this partition is final: it no
    /// longer waits for commands elsewhere (their ends find it kept).
    pub(in crate::state_machine) fn claim_made_here(&mut self, user: &Id) {
        self.state.transit.claims.tentative.remove(user);
    }

    /// Records `user` as `owner`'s for good, here (if it is not yet), and tells the home
    /// partition when this is another one: the commands the home partition applies read a
    /// contact's claim, so it learns every claim before the command that made it is
    /// acknowledged (the note is queued to it first, and it takes its messages before its
    /// commands).
    pub(in crate::state_machine) fn record_claim(&mut self, user: &Id, owner: &Principal) {
        let key = (ObjectKind::User, user.clone());
        if self.state.owners.contains_key(&key) {
            return;
        }
        self.state.owners.insert(key, owner.clone());
        if self.config.partition == HOME_PARTITION {
            return;
        }
        let transit = &mut self.state.transit;
        let (source, number) = (self.config.partition, transit.next_number());
        let note = ClaimNoted { source, number, user: user.clone(), owner: owner.clone() };
        let step = ClaimStep::Noting(note.clone());
        transit.open.insert(number, Box::new(Open::Claim { destination: HOME_PARTITION, step }));
        self.outgoing.push(Outgoing { destination: HOME_PARTITION, message: TransitMessage::ClaimNoted(note) });
    }

    /// The home partition's step: keep a claim another partition decided for good. Answered
    /// every time it arrives.
    pub(super) fn note_claim(&mut self, note: &ClaimNoted) {
        self.state.owners.entry((ObjectKind::User, note.user.clone())).or_insert_with(|| note.owner.clone());
        self.answer(note.source, note.number, None);
    }
}

#[cfg(test)]
mod tests;
