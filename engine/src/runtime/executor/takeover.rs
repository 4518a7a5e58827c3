//! An executor's part in taking a followed partition over in place (`Engine::take_over`).
//!
//! Messages between two partitions must arrive in the order they were sent (a number at or
//! below the last one applied from its source is taken for an old repeat), and the partition
//! taken over dropped what it was sent while it only followed. So every executor first stops
//! behind its batches; once they are durable and their messages sent, the partition taken over
//! drops what waits for it and starts deciding, and then each other partition sends it again
//! what it has open for it, before any message it sends from then on.

use super::{Executor, Gathered};
use crate::partition::{HOME_PARTITION, TransitMessage};
use crate::runtime::following::{Pause, Resume};
use crate::runtime::writer::{DurableBatch, Ready};

impl Executor {
    /// Stops behind the batches handed over so far until the takeover's order: a mark through
    /// the writer tells the takeover once they are durable and their messages sent, with how
    /// far this partition applied the home partition's references. Returns whether the writer
    /// stopped.
    pub(super) fn pause(&mut self, pause: Pause) -> bool {
        let Pause { arrived, resume } = pause;
        let (partition, references) = (self.partition, self.machine.state().reference.applied_through());
        let mark = Ready::Deliver(Box::new(move || {
            let _ = arrived.send((partition, references));
        }));
        if self.hand_over(DurableBatch { record: None, ready: vec![mark], outgoing: Vec::new() }) {
            return true;
        }
        match resume.recv() {
            Ok(Resume::TakeOver { drained }) => {
                // Sent while this partition only followed: its records carried what applied.
                while self.transit.try_recv().is_ok() {}
                self.following = false;
                let _ = drained.send(());
                // The first record as owner: its open messages sent again, by every follower too.
                let resend = Gathered { messages: vec![TransitMessage::ResendOpen], ..Gathered::default() };
                self.run_batch(resend)
            }
            Ok(Resume::Resend { to, references_after }) => {
                let open = self.machine.state().transit.open_messages();
                let open =
                    open.into_iter().filter(|outgoing| outgoing.destination == to).map(|outgoing| outgoing.message);
                let references = match self.partition {
                    HOME_PARTITION => self.machine.state().reference.missed_by(references_after).to_vec(),
                    _ => Vec::new(),
                };
                for message in open.chain(references.into_iter().map(TransitMessage::Reference)) {
                    let _ = self.transit_out[usize::from(to)].send(message);
                }
                false
            }
            // The takeover gave up: go on as before.
            Err(_) => false,
        }
    }
}
