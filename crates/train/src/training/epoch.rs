//! One epoch of optimisation: batches from the sampler, forward, loss, backward, optimizer step,
//! with the learning rate from the schedule, progress on a bar (or in the log every 10 %), and
//! the time budget of --schedule-by-time checked before every step.

use super::config::FitConfig;
use super::distill::Teachers;
use super::loss::{Objective, bce};
use super::precision::{LossScaler, Skip};
use super::sampler::{BatchPlan, TrainSet};
use anyhow::{Context, Result, bail};
use brainseg::model::Model;
use brainseg::model::autocast::autocast;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use indicatif::{ProgressBar, ProgressStyle};
use std::time::Instant;

/// What an epoch's training steps did.
pub struct EpochStats {
    /// Loss × images over the applied steps.
    pub loss_sum: f64,
    /// Images of the applied steps.
    pub loss_images: usize,
    /// Images of every step (applied or skipped), what the speed counts.
    pub seen: usize,
    /// The learning rate of the last step.
    pub lr: f64,
    pub seconds: f64,
    /// Steps not applied under --mixed-precision (a loss or gradient not finite).
    pub skipped: usize,
}

impl EpochStats {
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.loss_images.max(1) as f64
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
    /// Models whose probabilities the student fits too (`--teacher`).
    pub teachers: Option<&'a Teachers>,
}

/// Trains one epoch (cut short when the --schedule-by-time budget runs out); returns the
/// updated model. In f32 a non-finite loss stops the run before the step is applied; under
/// --mixed-precision such a step is skipped and logged (`train_step`).
pub fn train_epoch(
    mut model: Model,
    optim: &mut ModuleOptimizer,
    scaler: &mut LossScaler,
    cx: &EpochContext,
    device: &Device,
) -> Result<(Model, EpochStats)> {
    let (cfg, epoch, steps) = (cx.cfg, cx.epoch, cx.steps_per_epoch);
    let schedule = cfg.lr_schedule();
    let started = Instant::now();
    let bar = progress_bar(steps, epoch, cfg.epochs);
    let mut stats = EpochStats {
        loss_sum: 0.0,
        loss_images: 0,
        seen: 0,
        lr: cfg.lr,
        seconds: 0.0,
        skipped: 0,
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
        let shape = [batch.len, channels, s, s];
        let soft = cx
            .teachers
            .map(|t| Ok::<_, anyhow::Error>((t.target(&batch.x, shape, device)?, t.weight)))
            .transpose()?;
        let x = Tensor::from_data(TensorData::new(batch.x, shape), device);
        let y = Tensor::from_data(TensorData::new(batch.y, [batch.len, 1, s, s]), device);
        let target = Target { mask: y, soft };
        let (stepped, outcome) =
            train_step(model, optim, scaler, cfg.objective(), x, target, stats.lr)
                .with_context(|| format!("epoch {epoch} step {i}"))?;
        model = stepped;
        match outcome {
            Ok(value) => {
                stats.loss_sum += value * batch.len as f64;
                stats.loss_images += batch.len;
            }
            Err(skip) => {
                stats.skipped += 1;
                bar.suspend(|| eprintln!("epoch {epoch} step {i} skipped: {skip}"));
            }
        }
        stats.seen += batch.len;
        report_step(&bar, &stats, started, epoch, i, steps);
    }
    bar.finish_and_clear();
    stats.seconds = started.elapsed().as_secs_f64();
    Ok((model, stats))
}

/// What a training step fits: the masks, and with distillation the teachers' mean probability
/// with its weight.
pub struct Target {
    pub mask: Tensor<4>,
    pub soft: Option<(Tensor<4>, f64)>,
}

impl Target {
    pub fn mask(mask: Tensor<4>) -> Self {
        Target { mask, soft: None }
    }
}

/// One optimisation step on the batch `x`, `target`: the forward pass (its convolutions in 16
/// bits under the scaler's mixed precision; with deep supervision the pyramid levels' own
/// logits too), the objective (with the target's soft part, (the teachers' mean probability,
/// weight), plus weight × the cross-entropy of the output against it), the
/// backward pass from the scaled loss, the gradients unscaled and checked, the optimizer's
/// update. Returns the model and the step's loss, or why the step was skipped (mixed precision
/// only: in f32 a non-finite loss is an error, as before mixed precision existed).
pub fn train_step(
    model: Model,
    optim: &mut ModuleOptimizer,
    scaler: &mut LossScaler,
    objective: Objective,
    x: Tensor<4>,
    target: Target,
    lr: f64,
) -> Result<(Model, Result<f64, Skip>)> {
    let (logits, levels) = {
        let _compute = autocast(scaler.compute());
        if objective.deep_supervision {
            model.forward_levels(x).context(
                "deep supervision needs pyramid levels with their own logits (--arch fpn)",
            )?
        } else {
            (model.forward(x), Vec::new())
        }
    };
    let fitted = objective.compute(logits.clone(), levels, target.mask);
    let loss = match target.soft {
        Some((soft, weight)) => fitted + bce(logits, soft) * weight,
        None => fitted,
    };
    // The backward pass is queued before the loss is read, so a device that runs ahead does
    // not wait between the two; nothing is applied before the checks below.
    let mut grads = GradientsParams::from_grads(scaler.scale_loss(loss.clone()).backward(), &model);
    let value = loss.into_scalar::<f32>() as f64;
    if !value.is_finite() {
        if scaler.compute().is_none() {
            bail!("loss became {value}; lower --lr");
        }
        let skip = scaler.skip_loss(value)?;
        return Ok((model, Err(skip)));
    }
    if scaler.compute().is_some()
        && let Some(skip) = scaler.unscale(&mut grads, &model)?
    {
        return Ok((model, Err(skip)));
    }
    Ok((optim.step(lr, model, grads), Ok(value)))
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
    use super::super::loss::{Loss, Objective, bce};
    use super::super::precision::{self, LossScaler, MixedPrecision};
    use super::{Target, train_step};
    use crate::backend::{self, Backend};
    use brainseg::model::{Arch, ModelConfig, Norm};
    use burn::optim::AdamConfig;
    use burn::prelude::*;
    use burn::tensor::Distribution;

    /// Every architecture takes a training step on every backend built here, with batch and
    /// with instance norm, and in f16 on the GPU backend, so a forward or backward operation a
    /// backend lacks (burn-cubecl 0.22.1 has no bilinear backward, which once made the FPN and
    /// the ResNeXt-U-Net panic on wgpu) fails here, not in a user's run.
    #[test]
    fn every_architecture_trains_a_step_on_every_backend() {
        let mut backends = vec![Backend::Flex, Backend::Wgpu];
        // A LibTorch build (`--features tch`, scripts/gpu/libtorch.sh) checks burn-tch's
        // operations on the CPU; its CUDA device needs the GPU machine.
        if cfg!(feature = "tch") {
            backends.push(Backend::LibtorchCpu);
        }
        for b in backends {
            let base = backend::device(b).expect("backend");
            let device = base.clone().autodiff();
            let mixed = match b {
                Backend::Wgpu => vec![None, Some(MixedPrecision::F16)],
                _ => vec![None],
            };
            let batch = Arch::ALL
                .into_iter()
                .flat_map(|a| mixed.iter().map(move |m| (a, *m, Norm::Batch)));
            // Instance norm runs after the convolutions in f32 under autocast too, so its
            // operations are checked once per backend and architecture, in f32.
            let instance = Arch::ALL.into_iter().map(|a| (a, None, Norm::Instance));
            for (arch, mixed, norm) in batch.chain(instance) {
                precision::check(mixed, b, &base).expect("lavapipe and GPUs have f16");
                let cfg = ModelConfig {
                    arch,
                    width: 8,
                    levels: 2,
                    cardinality: 4,
                    context: 0,
                    norm,
                    max_width: 0,
                };
                let model = cfg.init(&device).expect("valid config");
                let mut optim = AdamConfig::new().init();
                let mut scaler = LossScaler::new(mixed, None);
                let x =
                    Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
                let y = Tensor::<4>::random([2, 1, 16, 16], Distribution::Bernoulli(0.2), &device);
                let (stepped, outcome) = train_step(
                    model,
                    &mut optim,
                    &mut scaler,
                    Loss::DiceBce.into(),
                    x,
                    Target::mask(y),
                    1e-3,
                )
                .expect("a step");
                let value =
                    outcome.unwrap_or_else(|skip| panic!("{b:?} {arch} {norm} {mixed:?}: {skip}"));
                assert!(value.is_finite(), "{b:?} {arch} {norm}: loss {value}");
                assert_eq!(
                    brainseg::model::trainable_params(&stepped),
                    brainseg::model::trainable_params(&cfg.init(&device).expect("valid config"))
                );
            }
        }
    }

    /// With teachers' probabilities the step's loss is the run's loss plus the weight times the
    /// cross-entropy against them, measured on the same weights.
    #[test]
    fn a_distillation_step_adds_the_weighted_cross_entropy_against_the_teachers() {
        let device = Device::flex().autodiff();
        let cfg = ModelConfig {
            arch: Arch::Fpn,
            width: 8,
            levels: 2,
            cardinality: 4,
            context: 0,
            norm: Default::default(),
            max_width: 0,
        };
        // One initialisation, cloned: the steps below start from the same weights (seeding the
        // device instead would race with the tests running beside this one).
        let initial = cfg.init(&device).expect("valid config");
        let model = || initial.clone();
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<4>::random([2, 1, 16, 16], Distribution::Bernoulli(0.2), &device);
        let soft = Tensor::<4>::random([2, 1, 16, 16], Distribution::Uniform(0.0, 1.0), &device);
        let step = |soft: Option<(Tensor<4>, f64)>| {
            let mut optim = AdamConfig::new().init();
            let mut scaler = LossScaler::new(None, None);
            let (_, outcome) = train_step(
                model(),
                &mut optim,
                &mut scaler,
                Loss::Dice.into(),
                x.clone(),
                Target {
                    mask: y.clone(),
                    soft,
                },
                1e-3,
            )
            .expect("a step");
            outcome.expect("finite")
        };
        let plain = step(None);
        let distilled = step(Some((soft.clone(), 0.5)));
        let term = bce(model().forward(x.clone()), soft).into_scalar::<f32>() as f64;
        assert!(term > 0.1, "{term}");
        assert!(
            (distilled - plain - 0.5 * term).abs() < 1e-4,
            "{distilled} − {plain} against 0.5 × {term}"
        );
    }

    /// With deep supervision the step's loss is the objective over the output and the pyramid
    /// levels' logits (not the output's loss alone), and a U-Net, which has no level logits,
    /// is refused rather than trained without them.
    #[test]
    fn a_deep_supervision_step_fits_the_levels_and_a_unet_refuses_it() {
        let device = Device::flex().autodiff();
        let cfg = |arch| ModelConfig {
            arch,
            width: 8,
            levels: 2,
            cardinality: 4,
            context: 0,
            norm: Default::default(),
            max_width: 0,
        };
        let initial = cfg(Arch::Fpn).init(&device).expect("valid config");
        let x = Tensor::<4>::random([2, 3, 16, 16], Distribution::Normal(0.0, 1.0), &device);
        let y = Tensor::<4>::random([2, 1, 16, 16], Distribution::Bernoulli(0.2), &device);
        let deep = Objective {
            loss: Loss::Dice,
            deep_supervision: true,
        };
        let step = |model, objective| {
            let mut optim = AdamConfig::new().init();
            let mut scaler = LossScaler::new(None, None);
            train_step(
                model,
                &mut optim,
                &mut scaler,
                objective,
                x.clone(),
                Target::mask(y.clone()),
                1e-3,
            )
        };
        let (out, levels) = initial
            .forward_levels(x.clone())
            .expect("the FPN has levels");
        assert_eq!(levels.len(), 2);
        for l in &levels {
            assert_eq!(l.dims(), [2, 1, 16, 16]);
        }
        let plain_value = Loss::Dice
            .compute(out.clone(), y.clone())
            .into_scalar::<f32>() as f64;
        let want = deep.compute(out, levels, y.clone()).into_scalar::<f32>() as f64;
        let got = step(initial.clone(), deep)
            .expect("a step")
            .1
            .expect("finite");
        assert!((got - want).abs() < 1e-5, "{got} against {want}");
        assert!(
            (got - plain_value).abs() > 1e-6,
            "the levels changed nothing: {got}"
        );
        let unet = cfg(Arch::Unet).init(&device).expect("valid config");
        let Err(e) = step(unet, deep) else {
            panic!("a U-Net has no level logits, yet it stepped");
        };
        assert!(format!("{e:#}").contains("--arch fpn"), "{e:#}");
    }
}
