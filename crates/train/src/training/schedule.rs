//! The learning-rate schedule: its shape, and how far a run is through it (by steps, or by
//! time with --schedule-by-time).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Cosine decay to 1 % of the learning rate over the run.
    Cosine,
    /// One-cycle: 30 % warm-up from lr/25, then cosine down to lr/10⁴.
    OneCycle,
}

/// A run's schedule: peak learning rate, shape, and the time budget it runs over (None: it
/// runs over the steps).
#[derive(Debug, Clone, Copy)]
pub struct LrSchedule {
    pub lr: f64,
    pub shape: Schedule,
    pub seconds: Option<f64>,
}

impl LrSchedule {
    /// Progress through the schedule, 0 at the start and 1 at the end: the share of the steps
    /// done, or with a time budget the share of it spent (capped at 1).
    pub fn progress(&self, step: usize, total: usize, seconds_spent: f64) -> f64 {
        match self.seconds {
            Some(budget) if budget > 0.0 => (seconds_spent / budget).min(1.0),
            _ => step as f64 / total.max(1) as f64,
        }
    }

    /// Learning rate at progress `t` (0..=1) through the schedule.
    pub fn lr_at(&self, t: f64) -> f64 {
        let cos = |x: f64| 0.5 * (1.0 + (std::f64::consts::PI * x).cos());
        let lr = self.lr;
        match self.shape {
            Schedule::Constant => lr,
            Schedule::Cosine => lr * (0.01 + 0.99 * cos(t)),
            Schedule::OneCycle => {
                let warm = 0.3;
                if t < warm {
                    let start = lr / 25.0;
                    start + (lr - start) * (1.0 - cos(t / warm))
                } else {
                    let end = lr / 1e4;
                    end + (lr - end) * cos((t - warm) / (1.0 - warm))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::FitConfig;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        fit: FitConfig,
    }

    fn config(args: &[&str]) -> FitConfig {
        let base = ["fit", "--data", "d", "--out", "o"];
        Cli::try_parse_from(base.iter().chain(args))
            .expect("valid arguments")
            .fit
    }

    /// The learning rate at step `step` of 100 after `seconds`.
    fn lr(config: &FitConfig, step: usize, seconds: f64) -> f64 {
        let s = config.lr_schedule();
        s.lr_at(s.progress(step, 100, seconds))
    }

    #[test]
    fn the_schedule_follows_the_steps_or_the_time_budget() {
        let steps = config(&[
            "--schedule",
            "cosine",
            "--lr",
            "1e-3",
            "--max-minutes",
            "10",
        ]);
        // By steps: half the steps is half-way down the cosine, whatever the time.
        assert!((lr(&steps, 50, 590.0) - 1e-3 * (0.01 + 0.99 * 0.5)).abs() < 1e-12);
        let timed = config(&[
            "--schedule",
            "cosine",
            "--lr",
            "1e-3",
            "--max-minutes",
            "10",
            "--schedule-by-time",
        ]);
        assert_eq!(timed.lr_schedule().progress(50, 100, 150.0), 0.25);
        assert_eq!(
            timed.lr_schedule().progress(1, 100, 900.0),
            1.0,
            "past the budget the schedule stays at its end"
        );
        assert!((lr(&timed, 99, 600.0) - 1e-5).abs() < 1e-12);
        let one_cycle = config(&["--schedule", "one-cycle", "--lr", "1e-3"]);
        assert!(
            (one_cycle.lr_schedule().lr_at(0.0) - 4e-5).abs() < 1e-12,
            "one-cycle starts at lr/25"
        );
        assert!(
            (one_cycle.lr_schedule().lr_at(0.3) - 1e-3).abs() < 1e-12,
            "and peaks at 30 %"
        );
        assert!(
            (one_cycle.lr_schedule().lr_at(1.0) - 1e-7).abs() < 1e-15,
            "and ends at lr/1e4"
        );
        assert!(
            Cli::try_parse_from(["fit", "--data", "d", "--out", "o", "--schedule-by-time"])
                .is_err(),
            "needs --max-minutes"
        );
    }
}
