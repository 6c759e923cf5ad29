//! `train bench`: training and inference images/s of a model on random slices, for comparing
//! backends, widths and batch sizes (benches/compare.sh runs it beside PyTorch).

use crate::backend::{self, Backend};
use crate::training::epoch::{Target, train_step};
use crate::training::loss::Loss;
use crate::training::precision::{self, LossScaler, MixedPrecision};
use anyhow::{Result, bail};
use brainseg::model::{Arch, ModelConfig};
use burn::optim::AdamConfig;
use burn::prelude::*;
use burn::tensor::Distribution;
use std::time::Instant;

#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    #[arg(long, default_value = "unet")]
    pub arch: Arch,
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Timed steps (training: after two untimed steps; inference: after one).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Also time each operation of the U-Net's training step alone (src/profile.rs) and print
    /// its share of the step.
    #[arg(long)]
    pub profile: bool,
    /// On flex, run the model's convolutions and batch norm with burn's kernels instead of ours
    /// (brainseg::model::cpu_conv, cpu_norm), to compare the two on one machine in one run.
    #[arg(long)]
    pub burn_conv: bool,
    /// Train with the convolutions in this 16-bit type (`train fit --mixed-precision`: the
    /// same step, loss scaling and guard); GPU backends only. Inference stays f32.
    #[arg(long, value_enum)]
    pub mixed_precision: Option<MixedPrecision>,
}

/// Training steps run before the timed ones.
const WARM_UP_STEPS: usize = 2;

pub fn run(a: &BenchArgs) -> Result<()> {
    if a.profile && a.arch != Arch::Unet {
        bail!("--profile covers the U-Net (--arch unet), not {}", a.arch);
    }
    brainseg::model::cpu_conv::set_enabled(!a.burn_conv);
    let base = backend::device(a.backend)?;
    precision::check(a.mixed_precision, a.backend, &base)?;
    let mut scaler = LossScaler::new(a.mixed_precision, None);
    let device = base.clone().autodiff();
    let cfg = ModelConfig::new(a.arch, a.width);
    let mut model = cfg.init(&device)?;
    let mut optim = AdamConfig::new().init();
    let shape = [a.batch, 3, a.size, a.size];
    let x = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let y = Tensor::<4>::random(
        [a.batch, 1, a.size, a.size],
        Distribution::Bernoulli(0.1),
        &device,
    );
    // Two untimed steps: the optimizer's moments first exist in the second, and on a JIT backend
    // that step compiles (and autotunes) the fused update's kernels. On lavapipe the second step
    // took 21.5 s against 6.1–7.1 s for the ones after it: timing it made a 3-step mean 1.8×.
    let mut step_ms = Vec::new();
    let mut skipped = 0;
    for _ in 0..WARM_UP_STEPS + a.steps {
        let t = Instant::now();
        let (stepped, outcome) = train_step(
            model,
            &mut optim,
            &mut scaler,
            Loss::Dice.into(),
            x.clone(),
            Target::mask(y.clone()),
            1e-4,
        )?;
        model = stepped;
        // The step reads its loss before the backward pass; this read of one parameter waits
        // for the update, so the time covers the whole step on a device that runs ahead.
        let _ = first_param(&model).into_scalar::<f32>();
        skipped += usize::from(outcome.is_err());
        step_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let train_secs: f64 = step_ms[WARM_UP_STEPS..].iter().sum::<f64>() / 1e3;
    let valid = model.clone().valid();
    let xi = Tensor::<4>::random(shape, Distribution::Normal(0.0, 1.0), &base);
    let mut infer_secs = 0.0;
    for step in 0..=a.steps {
        let t = Instant::now();
        let _ = valid.forward(xi.clone()).into_data();
        if step > 0 {
            infer_secs += t.elapsed().as_secs_f64();
        }
    }
    let n = (a.steps * a.batch) as f64;
    let conv = if a.backend == Backend::Flex && !a.burn_conv {
        ", our convolutions"
    } else {
        ""
    };
    let mixed = match a.mixed_precision {
        Some(m) => format!(", mixed precision {} ({skipped} steps skipped)", m.name()),
        None => String::new(),
    };
    println!(
        "burn {:?}{conv}{mixed} {} f={} {}² batch {}: train {:.3} img/s, inference {:.3} img/s",
        a.backend,
        a.arch,
        a.width,
        a.size,
        a.batch,
        n / train_secs,
        n / infer_secs
    );
    if a.profile {
        let step = train_secs / a.steps as f64;
        let passes = crate::profile::forward_backward(&model, &x, &y, a.steps, &device);
        let steps: Vec<String> = step_ms.iter().map(|ms| format!("{ms:.0}")).collect();
        println!(
            "\ntraining steps (ms, the first {WARM_UP_STEPS} untimed): {}",
            steps.join(", ")
        );
        println!(
            "phases (ms): inference forward {:.1}; training forward + loss + backward {:.1}; \
             whole step {:.1}",
            1e3 * infer_secs / a.steps as f64,
            1e3 * passes,
            1e3 * step
        );
        print_profile(a, cfg.levels, &device, step);
    }
    Ok(())
}

/// One value of the model's first parameter, read to wait for a step's update.
fn first_param(model: &brainseg::model::Model) -> Tensor<1> {
    struct First(Option<Tensor<1>>);
    impl burn::module::ModuleVisitor for First {
        fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
            if self.0.is_none() {
                self.0 = Some(param.val().flatten::<1>(0, D - 1).slice(0..1));
            }
        }
    }
    let mut first = First(None);
    model.visit(&mut first);
    first.0.expect("a model has parameters")
}

/// The per-operation table (Markdown), with each operation's share of a whole training step.
fn print_profile(a: &BenchArgs, levels: usize, device: &Device, step: f64) {
    let rows = crate::profile::unet_step(a.width, levels, a.size, a.batch, a.steps, device);
    println!("\n| operation (summed over the U-Net's layers) | ms per step | share of the step |");
    println!("| --- | ---: | ---: |");
    let share = |s: f64| format!("{:.0} %", 100.0 * s / step);
    for r in &rows {
        println!(
            "| {} | {:.1} | {} |",
            r.op,
            r.seconds * 1e3,
            share(r.seconds)
        );
    }
    let counted: f64 = rows.iter().filter(|r| r.in_step).map(|r| r.seconds).sum();
    println!(
        "| whole training step (forward, loss, backward, Adam) | {:.1} | 100 % |",
        step * 1e3
    );
    println!(
        "| rest: copies, the head, launches (step minus the rows above) | {:.1} | {} |",
        (step - counted) * 1e3,
        share(step - counted)
    );
}
