//! The live progress bar on stderr (indicatif): phase, measured commands, the current rate and
//! errors. indicatif hides it when stderr is not a terminal.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::report::Stats;
use crate::schedule::Pacer;

/// How often the bar is refreshed.
pub const TICK: Duration = Duration::from_millis(250);

/// The progress bar of one run.
pub struct Progress {
    bar: ProgressBar,
}

impl Progress {
    /// A bar on stderr, or a hidden one.
    pub fn new(visible: bool) -> Progress {
        let target = if visible { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() };
        let bar = ProgressBar::with_draw_target(None, target);
        bar.set_style(ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").expect("a valid template"));
        bar.enable_steady_tick(TICK);
        Progress { bar }
    }

    /// Shows what the setup is doing.
    pub fn setup(&self, message: impl Into<String>) {
        self.bar.set_message(format!("setup: {}", message.into()));
    }

    /// Switches to the run: a bar over `count` commands, or over the run's seconds.
    pub fn start(&self, count: Option<u64>, total: Duration) {
        let (length, template) = match count {
            Some(count) => (count, "{spinner} {elapsed_precise} [{bar:20}] {pos}/{len} {msg}"),
            None => (total.as_millis().max(1) as u64, "{spinner} {elapsed_precise} [{bar:20}] {msg}"),
        };
        self.bar.set_style(ProgressStyle::with_template(template).expect("a valid template").progress_chars("=> "));
        self.bar.set_length(length);
        self.bar.reset_elapsed();
    }

    /// Refreshes the bar from the live counters, until the run ends.
    pub async fn follow(&self, pacer: &Pacer, stats: &Stats, count: Option<u64>) {
        let mut last = (Instant::now(), 0u64);
        loop {
            tokio::time::sleep(TICK).await;
            let now = Instant::now();
            let (commands, answered) = (stats.commands(), stats.answered());
            let seconds = now.saturating_duration_since(last.0).as_secs_f64().max(f64::EPSILON);
            #[allow(clippy::float_arithmetic)] // a rate, not money
            let rate = answered.saturating_sub(last.1) as f64 / seconds;
            last = (now, answered);
            let phase = if now < pacer.measure_from() { "warm-up" } else { "measured" };
            self.bar.set_message(format!("{phase} {commands}  {rate:.0}/s  {} errors", stats.errors()));
            match count {
                Some(_) => self.bar.set_position(commands),
                None => self.bar.set_position(now.saturating_duration_since(pacer.start()).as_millis() as u64),
            }
            if pacer.is_stopped() {
                self.bar.set_message(format!("draining {commands}  {} errors", stats.errors()));
            }
        }
    }

    /// Shows a final word.
    pub fn message(&self, message: impl Into<String>) {
        self.bar.set_message(message.into());
    }

    /// Removes the bar (the report follows on stdout).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
