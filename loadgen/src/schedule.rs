//! When each request goes out: closed loop (as soon as the worker's previous request answered)
//! or open loop (a fixed schedule of intended send times), and when the run stops (the deadline
//! or the `--count` budget, whichever comes first).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How requests are paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every worker sends its next request when the previous one answered; latency is measured
    /// from the actual send.
    Closed,
    /// Requests (scenario steps) are due at `rate` per second in total, request `k` at
    /// `start + k / rate`; latency is measured from that intended time, so time a request spent
    /// waiting for a free worker counts (no coordinated omission).
    Open {
        /// Steps per second, all workers together.
        rate: u64,
    },
}

/// The intended send time of request `ticket` (0, 1, 2, ...) at `rate` per second, as an
/// offset from the start. Exact integer arithmetic: no drift over long runs.
pub fn intended_offset(ticket: u64, rate: u64) -> Duration {
    let nanos = u128::from(ticket) * 1_000_000_000 / u128::from(rate.max(1));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

/// How many measured commands may still be sent (`--count`).
#[derive(Debug)]
pub struct Budget {
    left: AtomicU64,
}

impl Budget {
    /// A budget of `count` commands.
    pub fn new(count: u64) -> Budget {
        Budget { left: AtomicU64::new(count) }
    }

    /// Takes up to `wanted` commands; returns how many were granted (0 when it is spent).
    pub fn take(&self, wanted: u64) -> u64 {
        let mut left = self.left.load(Ordering::Relaxed);
        loop {
            let granted = left.min(wanted);
            if granted == 0 {
                return 0;
            }
            match self.left.compare_exchange_weak(left, left - granted, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return granted,
                Err(now) => left = now,
            }
        }
    }
}

/// A request's place in the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// When it is due: now (closed loop) or its place in the schedule (open loop).
    pub intended: Instant,
    /// Whether it falls after warm-up (its latency and outcome are recorded).
    pub measured: bool,
    /// Commands it may carry (the budget may grant fewer than asked for).
    pub commands: usize,
}

/// Hands out slots to the workers until the deadline or the budget says stop.
#[derive(Debug)]
pub struct Pacer {
    mode: Mode,
    start: Instant,
    measure_from: Instant,
    deadline: Instant,
    next_ticket: AtomicU64,
    budget: Option<Budget>,
    stopped: AtomicBool,
}

impl Pacer {
    /// Starts the clock at `start`: `warmup` unmeasured, then `duration` measured, at most
    /// `count` measured commands.
    pub fn new(mode: Mode, start: Instant, warmup: Duration, duration: Duration, count: Option<u64>) -> Pacer {
        let measure_from = start + warmup;
        Pacer {
            mode,
            start,
            measure_from,
            deadline: measure_from + duration,
            next_ticket: AtomicU64::new(0),
            budget: count.map(Budget::new),
            stopped: AtomicBool::new(false),
        }
    }

    /// The next slot for a request of up to `wanted` commands, or `None`: the run is over.
    pub fn next(&self, wanted: usize) -> Option<Slot> {
        if self.stopped.load(Ordering::Relaxed) {
            return None;
        }
        let intended = match self.mode {
            Mode::Closed => Instant::now(),
            Mode::Open { rate } => self.start + intended_offset(self.next_ticket.fetch_add(1, Ordering::Relaxed), rate),
        };
        if intended >= self.deadline {
            self.stop();
            return None;
        }
        let measured = intended >= self.measure_from;
        let mut commands = wanted.max(1);
        if measured && let Some(budget) = &self.budget {
            let granted = budget.take(commands as u64);
            if granted == 0 {
                self.stop();
                return None;
            }
            commands = usize::try_from(granted).expect("granted <= wanted");
        }
        Some(Slot { intended, measured, commands })
    }

    /// Ends the run: every later [`Pacer::next`] answers `None`.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Whether the run is over.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    /// The pacing mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// When the workers started.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// End of warm-up.
    pub fn measure_from(&self) -> Instant {
        self.measure_from
    }

    /// End of the measured time.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_send_times_follow_the_rate_exactly() {
        assert_eq!(intended_offset(0, 1_000), Duration::ZERO);
        assert_eq!(intended_offset(1, 4), Duration::from_millis(250));
        assert_eq!(intended_offset(1_000, 1_000), Duration::from_secs(1));
        assert_eq!(intended_offset(3, 3), Duration::from_secs(1), "no rounding drift");
        assert_eq!(intended_offset(1, 3), Duration::from_nanos(333_333_333));
        assert_eq!(intended_offset(2, 3), Duration::from_nanos(666_666_666));
        // A day at a million per second: still exact.
        assert_eq!(intended_offset(86_400_000_000, 1_000_000), Duration::from_secs(86_400));
        // Evenly spaced: consecutive gaps differ by at most a nanosecond of rounding.
        let gaps: Vec<Duration> =
            (1..100).map(|k| intended_offset(k, 7) - intended_offset(k - 1, 7)).collect::<Vec<_>>();
        assert!(gaps.iter().all(|gap| gap.abs_diff(Duration::from_nanos(142_857_142)) <= Duration::from_nanos(1)));
    }

    #[test]
    fn the_open_loop_schedule_hands_out_intended_times_not_now() {
        let start = Instant::now();
        let pacer = Pacer::new(Mode::Open { rate: 10 }, start, Duration::from_secs(1), Duration::from_secs(2), None);
        let slots: Vec<Slot> = std::iter::from_fn(|| pacer.next(1)).collect();
        // 3 s at 10/s: tickets 0..30; the first 10 fall in the warm-up.
        assert_eq!(slots.len(), 30);
        for (k, slot) in slots.iter().enumerate() {
            assert_eq!(slot.intended, start + Duration::from_millis(100 * k as u64));
            assert_eq!(slot.measured, k >= 10, "ticket {k}");
        }
        assert!(pacer.is_stopped());
        assert_eq!(pacer.next(1), None);
    }

    #[test]
    fn the_count_budget_is_exact_and_only_spent_on_measured_requests() {
        let start = Instant::now();
        let pacer =
            Pacer::new(Mode::Open { rate: 10 }, start, Duration::from_secs(1), Duration::from_secs(60), Some(7));
        let slots: Vec<Slot> = std::iter::from_fn(|| pacer.next(3)).collect();
        let measured: Vec<usize> = slots.iter().filter(|slot| slot.measured).map(|slot| slot.commands).collect();
        assert_eq!(slots.iter().filter(|slot| !slot.measured).count(), 10, "warm-up is not counted");
        assert_eq!(measured, vec![3, 3, 1], "the last request gets what is left");
    }

    #[test]
    fn budgets_grant_what_is_left() {
        let budget = Budget::new(5);
        assert_eq!(budget.take(2), 2);
        assert_eq!(budget.take(4), 3);
        assert_eq!(budget.take(1), 0);
    }

    #[test]
    fn the_closed_loop_stops_at_the_deadline() {
        let pacer = Pacer::new(Mode::Closed, Instant::now(), Duration::ZERO, Duration::ZERO, None);
        assert_eq!(pacer.next(1), None);
        let pacer = Pacer::new(Mode::Closed, Instant::now(), Duration::ZERO, Duration::from_secs(600), Some(2));
        let first = pacer.next(1).unwrap();
        assert!(first.measured && first.commands == 1);
        assert!(pacer.next(1).is_some());
        assert_eq!(pacer.next(1), None, "count reached");
    }
}
