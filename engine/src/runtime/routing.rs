//! Routing: which partition's mailbox a submission goes to (`Placement::route`, holds and
//! splits through the directory), and batches split over partitions (a tick to every one).

use tokio::sync::oneshot;

use super::gather::{BatchReply, Gather, GatherReply};
use super::{Engine, QueryError, Request};
use crate::command::{Command, Outcome, Submission};
use crate::constants::BATCH_COMMANDS_MAX;
use crate::partition::{DirectoryKind, HOME_PARTITION, PartitionId, Route};
use crate::runtime::SubmitError;
use crate::types::Id;

/// The partition picked for a command, and the object the pick entered in the directory (taken
/// back if the command is never queued: nothing refused before the executor stays behind).
pub(super) struct Routed {
    pub(super) partition: PartitionId,
    entered: Option<(DirectoryKind, Id)>,
    /// The hold the pick also entered (a sale placing one).
    entered_hold: Option<Id>,
}

impl Engine {
    /// The partition that applies `command` (`Placement::route`; holds, splits, authorizations
    /// and settlements through the directory). A sale placing a hold enters the hold too, so
    /// that a capture pipelined right behind it finds it (unless a hold of its id lives
    /// elsewhere: the sale is refused `already_exists` there).
    pub(super) fn route(&self, command: &Command) -> Result<Routed, SubmitError> {
        let routed = self.route_anywhere(command)?;
        match self.check_owned(routed.partition) {
            Ok(()) => Ok(routed),
            Err(not_owner) => Err(self.unroute([routed], not_owner)),
        }
    }

    /// [`Engine::route`], whichever engine owns the partition.
    fn route_anywhere(&self, command: &Command) -> Result<Routed, SubmitError> {
        match self.placement.route(command) {
            Route::Partition(partition) => Ok(Routed { partition, entered: None, entered_hold: None }),
            Route::Object(kind, id, new_on) => {
                let found = self.directory.find((&self.placement, &self.wal), kind, id, new_on);
                let (partition, entered) = found.map_err(|error| {
                    tracing::error!(%error, "reading where an object lives failed");
                    SubmitError::StorageFailed
                })?;
                let entered_hold = match command {
                    Command::SettlePos(settle) if settle.hold_until_ms.is_some() => {
                        self.directory.place_if_absent(DirectoryKind::Hold, id, partition).then(|| id.clone())
                    }
                    _ => None,
                };
                Ok(Routed { partition, entered: entered.then(|| (kind, id.clone())), entered_hold })
            }
        }
    }

    /// Routes `command` and sends the request `request` makes of it to that partition, taking
    /// back what routing entered if it is not queued.
    pub(super) fn send_routed(
        &self,
        command: Submission,
        request: impl FnOnce(Submission) -> Request,
    ) -> Result<(), SubmitError> {
        let routed = self.route(&command.command)?;
        let sent = self.send(routed.partition, request(command));
        sent.map_err(|error| self.unroute([routed], error))
    }

    /// Takes back what routing entered for commands that were never queued; returns `error`.
    pub(super) fn unroute(&self, routed: impl IntoIterator<Item = Routed>, error: SubmitError) -> SubmitError {
        for Routed { partition, entered, entered_hold } in routed {
            if let Some((kind, id)) = entered {
                self.directory.refused(kind, &id, partition);
            }
            if let Some(hold) = entered_hold {
                self.directory.refused(DirectoryKind::Hold, &hold, partition);
            }
        }
        error
    }

    /// The partition that holds hold `id` (in memory, or last, before it left memory), or the
    /// home partition if there is none. Blocking when the hold left memory (a storage read).
    pub fn hold_partition(&self, id: &Id) -> Result<PartitionId, QueryError> {
        self.object_partition(DirectoryKind::Hold, id)
    }

    /// The partition that holds split `id`, as [`Engine::hold_partition`] a hold's.
    pub fn split_partition(&self, id: &Id) -> Result<PartitionId, QueryError> {
        self.object_partition(DirectoryKind::Split, id)
    }

    /// The partition that holds authorization `id`, as [`Engine::hold_partition`] a hold's.
    pub fn authorization_partition(&self, id: &Id) -> Result<PartitionId, QueryError> {
        self.object_partition(DirectoryKind::Authorization, id)
    }

    /// The partition that holds bill `id`, as [`Engine::hold_partition`] a hold's.
    pub fn bill_partition(&self, id: &Id) -> Result<PartitionId, QueryError> {
        self.object_partition(DirectoryKind::Bill, id)
    }

    /// The partition that holds POS settlement `id`, as [`Engine::hold_partition`] a hold's.
    pub fn settlement_partition(&self, id: &Id) -> Result<PartitionId, QueryError> {
        self.object_partition(DirectoryKind::Settlement, id)
    }

    fn object_partition(&self, kind: DirectoryKind, id: &Id) -> Result<PartitionId, QueryError> {
        if self.placement.count() == 1 {
            return Ok(HOME_PARTITION);
        }
        Ok(self.directory.find((&self.placement, &self.wal), kind, id, None)?.0)
    }

    /// Queues a batch, split by partition when it spans several (each part in order; a `Tick`
    /// goes to every partition, in each part where it stands, and answers what expired anywhere).
    pub(super) fn send_batch(&self, commands: Vec<Submission>) -> Result<oneshot::Receiver<Vec<Outcome>>, SubmitError> {
        let (reply, answer) = oneshot::channel();
        self.queue_batch(commands, GatherReply::Channel(reply), drop)?;
        Ok(answer)
    }

    /// [`Engine::send_batch`] answering `reply`; a batch refused is handed back to `take_back`.
    pub(super) fn queue_batch(
        &self,
        commands: Vec<Submission>,
        reply: GatherReply,
        take_back: impl FnOnce(GatherReply),
    ) -> Result<(), SubmitError> {
        if commands.is_empty() || commands.len() > BATCH_COMMANDS_MAX {
            take_back(reply);
            return Err(SubmitError::InvalidBatch);
        }
        // `None`: every partition (a tick, with several).
        let mut routed = Vec::with_capacity(commands.len());
        for command in &commands {
            match self.route_batched(&command.command) {
                Ok(route) => routed.push(route),
                Err(error) => {
                    take_back(reply);
                    return Err(self.unroute(routed.into_iter().flatten(), error));
                }
            }
        }
        let routes: Vec<Option<PartitionId>> =
            routed.iter().map(|route| route.as_ref().map(|routed| routed.partition)).collect();
        if let (Some(Some(first)), GatherReply::Channel(_)) = (routes.first(), &reply)
            && routes.iter().all(|partition| *partition == Some(*first))
        {
            let GatherReply::Channel(reply) = reply else { unreachable!("matched above") };
            let sent = self.send(*first, Request::Batch(commands, BatchReply::Whole(reply)));
            return sent.map_err(|error| self.unroute(routed.into_iter().flatten(), error));
        }
        let count = self.placement.count();
        // A tick goes to every partition this engine owns (a followed one's come in its records).
        let owned: u16 = (0..count).filter(|partition| !self.follows(*partition)).map(|_| 1).sum();
        let mut parts: Vec<(Vec<Submission>, Vec<usize>)> = (0..count).map(|_| (Vec::new(), Vec::new())).collect();
        let mut shares = Vec::with_capacity(commands.len());
        for ((slot, command), partition) in commands.into_iter().enumerate().zip(routes) {
            let Some(partition) = partition else {
                for (_, part) in (0..count).zip(&mut parts).filter(|(partition, _)| !self.follows(*partition)) {
                    part.0.push(command.clone());
                    part.1.push(slot);
                }
                shares.push(owned);
                continue;
            };
            let part = &mut parts[usize::from(partition)];
            part.0.push(command);
            part.1.push(slot);
            shares.push(1);
        }
        // All or nothing: refuse the batch while any mailbox it needs is full.
        let needed = parts.iter().enumerate().filter(|(_, (part, _))| !part.is_empty());
        if needed.clone().any(|(partition, _)| self.mailboxes[partition].is_full()) {
            metrics::counter!("kassa_busy_total").increment(1);
            take_back(reply);
            return Err(self.unroute(routed.into_iter().flatten(), SubmitError::Busy));
        }
        drop(needed);
        let gather = Gather::shared(shares, reply);
        for (partition, (part, slots)) in parts.into_iter().enumerate() {
            if !part.is_empty() {
                // A mailbox that filled up since: wait for room rather than answer half a batch.
                let request = Request::Batch(part, BatchReply::Part(gather.clone(), slots));
                self.mailboxes[partition].send(request).map_err(|_| self.lost())?;
            }
        }
        Ok(())
    }

    /// The partition of a batched command; `None` for a tick that every partition applies.
    fn route_batched(&self, command: &Command) -> Result<Option<Routed>, SubmitError> {
        if self.ticks_everywhere(command) {
            // A tick for an engine that owns no partition would wait for nobody's answer.
            if (0..self.placement.count()).all(|partition| self.follows(partition)) {
                return Err(SubmitError::NotOwner { partition: HOME_PARTITION });
            }
            return Ok(None);
        }
        self.route(command).map(Some)
    }

    /// Whether `command` is a tick that goes to every partition (there are several).
    pub(super) fn ticks_everywhere(&self, command: &Command) -> bool {
        matches!(command, Command::Tick) && self.placement.count() > 1
    }
}
