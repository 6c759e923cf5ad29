//! One epoch of optimisation: batches from the sampler, forward, loss, backward, optimizer step,
//! with the learning rate from the schedule, progress on a bar (or in the log every 10 %), and
//! the time budget of --schedule-by-time checked before every step.

use super::config::FitConfig;
use super::sampler::{BatchPlan, TrainSet};
use anyhow::{Result, bail};
use brainseg::model::Model;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// What an epoch's training steps did.
pub struct EpochStats {
    pub loss_sum: f64,
    pub seen: usize,
    /// The learning rate of the last step.
    pub lr: f64,
    pub seconds: f64,
}

impl EpochStats {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.seen.max(1) as f64
    }
}

/// Where the run stands when the epoch starts.
pub struct EpochContext<'a> {
    pub cfg: &'a FitConfig,
    pub set: &'a std::sync::Arc<TrainSet>,
    pub plan: &'a BatchPlan,
    pub epoch: usize,
    pub steps_per_epoch: usize,
    /// Training seconds of the earlier epochs.
    pub spent: f64,
}

/// Trains one epoch (cut short when the --schedule-by-time budget runs out); returns the
/// updated model. A non-finite loss stops the run before the step is applied.
pub fn train_epoch(
    mut model: Model,
    optim: &mut ModuleOptimizer,
    cx: &EpochContext,
    device: &Device,
) -> Result<(Model, EpochStats)> {
    let (cfg, epoch, steps) = (cx.cfg, cx.epoch, cx.steps_per_epoch);
    let schedule = cfg.lr_schedule();
    let started = Instant::now();
    let bar = progress_bar(steps, epoch, cfg.epochs);
    let mut stats = EpochStats {
        loss_sum: 0.0,
        seen: 0,
        lr: cfg.lr,
        seconds: 0.0,
    };
    let seed = cfg.seed ^ (epoch as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    for (i, batch) in cx.set.batches(cx.plan, seed).iter().enumerate() {
        let seconds_spent = cx.spent + started.elapsed().as_secs_f64();
        // The schedule has ended with the time: close this epoch (validate, export) now
        // rather than overrun a lease of fixed length.
        if schedule
            .seconds
            .is_some_and(|budget| seconds_spent >= budget)
        {
            let max = cfg.max_minutes.unwrap_or_default();
            eprintln!(
                "time budget of {max} min spent during epoch {epoch} (after {i} of {steps} steps)"
            );
            break;
        }
        let step = (epoch - 1) * steps + i;
        stats.lr = schedule.lr_at(schedule.progress(step, steps * cfg.epochs, seconds_spent));
        let s = batch.side;
        let channels = batch.x.len() / (batch.len * s * s).max(1);
        let x = Tensor::from_data(
            TensorData::new(batch.x, [batch.len, channels, s, s]),
            device,
        );
        let y = Tensor::from_data(TensorData::new(batch.y, [batch.len, 1, s, s]), device);
        let loss = cfg.loss.compute(model.forward(x), y);
        let value = loss.clone().into_scalar::<f32>() as f64;
        if !value.is_finite() {
            bail!("loss became {value} at epoch {epoch} step {i}; lower --lr");
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(stats.lr, model, grads);
        stats.loss_sum += value * batch.len as f64;
        stats.seen += batch.len;
        report_step(&bar, &stats, started, epoch, i, steps);
    }
    bar.finish_and_clear();
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((model, stats))
}

fn progress_bar(steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
        .expect("a valid template");
    ProgressBar::new(steps as u64)
        .with_style(style)
        .with_prefix(format!("epoch {epoch}/{epochs}"))
}

fn report_step(
    bar: &ProgressBar,
    stats: &EpochStats,
    started: Instant,
    epoch: usize,
    i: usize,
    steps: usize,
) {
    let ips = stats.seen as f64 / started.elapsed().as_secs_f64();
    bar.set_message(format!("loss {:.4} {ips:.2} img/s", stats.mean_loss()));
    bar.inc(1);
    // Without a terminal (background runs, logs) the bar is hidden: log every 10 %.
    if bar.is_hidden() && (i + 1).is_multiple_of((steps / 10).max(1)) {
        eprintln!(
            "epoch {epoch} step {}/{steps}: loss {:.4}, {ips:.2} img/s",
            i + 1,
            stats.mean_loss()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::loss::Loss;
    use crate::backend::{self, Backend};
    use brainseg::model::{Arch, ModelConfig};
    use burn::optim::{AdamConfig, GradientsParams};
    use burn::prelude::*;
    use burn::tensor::Distribution;

    /// Every architecture takes a training step on every backend built here, so a forward or
    /// backward operation a backend lacks (burn-cubecl 0.22.1 has no bilinear backward, which
    /// once made the FPN and the ResNeXt-U-Net panic on wgpu) fails here, not in a user's run.
    #[test]
    fn every_architecture_trains_a_step_on_every_backend() {
        for b in [Backend::Flex, Backend::Wgpu] {
            let device = backend::device(b).expect("backend").autodiff();
            for arch in Arch::ALL {
                let cfg = ModelConfig {
                    arch,
                    width: 8,
                    levels: 2,
                    cardinality: 4,
                    context: 0,
                };
                let model = cfg.init(&device).expect("valid config");
                let mut optim = AdamConfig::new().init();
                let x =
                    Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
                let y = Tensor::<4>::random([2, 1, 16, 16], Distribution::Bernoulli(0.2), &device);
                let loss = Loss::DiceBce.compute(model.forward(x), y);
                let value = loss.clone().into_scalar::<f32>();
                assert!(value.is_finite(), "{b:?} {arch}: loss {value}");
                let grads = GradientsParams::from_grads(loss.backward(), &model);
                let stepped = optim.step(1e-3, model, grads);
                assert_eq!(
                    brainseg::model::trainable_params(&stepped),
                    brainseg::model::trainable_params(&cfg.init(&device).expect("valid config"))
                );
            }
        }
    }
}
