//! `train fit`: one room per concern of a training run.
//!
//! | concern | file |
//! | --- | --- |
//! | flags and `config.json` | `config.rs` |
//! | learning-rate schedule | `schedule.rs` |
//! | training/validation split, preprocessing | `data.rs` |
//! | slice sampler, batches | `sampler.rs` |
//! | augmentation | `augment.rs` |
//! | losses | `loss.rs` |
//! | distillation from teacher models | `distill.rs` |
//! | the optimisation steps of an epoch | `epoch.rs` |
//! | validation after an epoch | `validate.rs` |
//! | run folder: checkpoints, state, metrics, exports | `checkpoint.rs` |
//!
//! This file joins them: open (or resume) the run, then epoch after epoch train, validate,
//! checkpoint, export the best.

pub mod augment;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod distill;
pub mod epoch;
pub mod loss;
pub mod precision;
pub mod sampler;
pub mod schedule;
pub mod validate;

pub use config::FitConfig;

use crate::atomic::write_atomic;
use crate::backend;
use anyhow::{Context, Result, bail};
use brainseg::manifest::{Manifest, Precision, Validation};
use brainseg::metrics::summarize;
use brainseg::model::{Model, ModelConfig};
use burn::optim::ModuleOptimizer;
use burn::prelude::*;
use checkpoint::{EpochRecord, RunDir, RunState};
use epoch::{EpochContext, train_epoch};
use std::path::Path;
use std::time::Instant;

/// Trains the run `cli.out` describes, or with `resume` continues it after its last epoch.
pub fn run(cli: FitConfig, resume: bool) -> Result<()> {
    let run = RunDir::create(&cli.out)?;
    let (cfg, mut state) = open(&run, cli, resume)?;
    cfg.check()?;
    let base = backend::device(cfg.backend)?;
    precision::check(cfg.mixed_precision, cfg.backend, &base)?;
    write_atomic(
        &run.path("config.json"),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )?;
    let command = crate::cli::command_line();
    let device = base.clone().autodiff();
    let data = data::load(&cfg)?;
    let teachers = distill::Teachers::load(&cfg, &base)?;
    let (mut model, mut optim) = start(&cfg, &run, &state, &device)?;
    if resume {
        recover(&run, &cfg, &state, &model.valid(), &command)?;
    }
    let mut scaler = precision::LossScaler::new(cfg.mixed_precision, state.loss_scale);
    let plan = cfg.plan();
    let steps_per_epoch = data.train.epoch_len(&plan).div_ceil(cfg.batch);
    for epoch in state.epochs_done + 1..=cfg.epochs {
        let spent = state.seconds_spent();
        if let Some(max) = cfg.max_minutes.filter(|max| spent >= max * 60.0) {
            eprintln!("time budget of {max} min spent after epoch {}", epoch - 1);
            break;
        }
        let started = Instant::now();
        let cx = EpochContext {
            cfg: &cfg,
            set: &data.train,
            plan: &plan,
            epoch,
            steps_per_epoch,
            spent,
            teachers: teachers.as_ref(),
        };
        let (trained, stats) = train_epoch(model, &mut optim, &mut scaler, &cx, &device)?;
        model = trained;
        state.loss_scale = cfg.mixed_precision.map(|_| scaler.scale());
        let valid = model.valid();
        let record = validate_epoch(&valid, &data.val, &cfg, &base, epoch, &stats, started)?;
        let improved = state.best_epoch.is_none() || record.val_mean > state.best_mean;
        if improved {
            state.best_epoch = Some(epoch);
            state.best_mean = record.val_mean;
        }
        // The checkpoint and the state naming it (and the best epoch) first, the exports
        // after: a run killed in between is repaired by `recover` when it resumes.
        run.save_epoch(
            &mut state,
            record.clone(),
            &valid,
            &optim,
            cfg.keep_checkpoints,
        )
        .with_context(|| {
            format!(
                "saving epoch {epoch} (the run folder still holds epoch {}: free space, then \
                 continue with --resume)",
                epoch - 1
            )
        })?;
        if improved {
            export_best(&run, &cfg, &record, &valid, &command)?;
        }
        run.write_metrics(&state.history)?;
        if let Err(e) = crate::plot::draw_run(&run.path("curves.png"), &state.history) {
            eprintln!("warning: curves.png not drawn: {e}");
        }
        print_epoch(&record, cfg.epochs, improved);
    }
    // The last epoch's weights as a model too: nothing about them was chosen on the
    // validation cases (what `train cv` scores and a `--train-on-val` run ships).
    if let Some(record) = state.history.last() {
        run.export(
            "last",
            &model.valid(),
            &manifest_for(&cfg, record, Precision::F32, &command),
        )?;
    }
    if let Some(best) = state.best_epoch {
        println!(
            "best epoch {best}: val mean DSC {:.4} (reference protocol); exported {}",
            state.best_mean,
            run.path("model.bpk").display()
        );
    }
    Ok(())
}

/// Puts a resumed run folder back in order after a run was killed: removes half-written
/// temporary files and checkpoints no state names, writes the exports of the best epoch when
/// the kill came between its checkpoint and its exports, and rewrites `metrics.csv` and the
/// curves from the state (a kill can come before they are updated).
fn recover(
    run: &RunDir,
    cfg: &FitConfig,
    state: &RunState,
    model: &Model,
    command: &str,
) -> Result<()> {
    run.remove_leftovers(state, cfg.keep_checkpoints)?;
    let Some(best) = state.best_epoch else {
        return Ok(());
    };
    if run.exports_epoch("best") != Some(best) || run.exports_epoch("model") != Some(best) {
        match state.history.last().filter(|r| r.epoch == best) {
            Some(record) => {
                eprintln!("writing the exports of epoch {best}, cut short when the run stopped");
                export_best(run, cfg, record, model, command)?;
            }
            None => eprintln!(
                "warning: best.bpk/model.bpk are not those of the best epoch {best}, whose \
                 weights are no longer kept"
            ),
        }
    }
    run.write_metrics(&state.history)?;
    if let Err(e) = crate::plot::draw_run(&run.path("curves.png"), &state.history) {
        eprintln!("warning: curves.png not drawn: {e}");
    }
    Ok(())
}

/// Validates the epoch's model and makes its record.
fn validate_epoch(
    valid: &Model,
    val: &[brainseg::preprocess::Prepared],
    cfg: &FitConfig,
    device: &Device,
    epoch: usize,
    stats: &epoch::EpochStats,
    started: Instant,
) -> Result<EpochRecord> {
    let (val_loss, cases) = validate::validate(valid, val, cfg.loss, device, cfg.val_batch)?;
    if !val_loss.is_finite() {
        bail!(
            "validation loss became {val_loss} after epoch {epoch}: the weights are no longer \
             finite; nothing of this epoch was saved (lower --lr)"
        );
    }
    let sum = summarize(&cases.iter().map(|c| c.dsc).collect::<Vec<_>>())
        .context("no validation case was scored")?;
    Ok(EpochRecord {
        epoch,
        train_loss: stats.mean_loss(),
        val_loss,
        val_mean: sum.mean,
        val_median: sum.median,
        val_min: sum.min,
        cases,
        lr: stats.lr,
        images_per_s: stats.seen as f64 / stats.seconds,
        seconds: started.elapsed().as_secs_f64(),
        skipped_steps: stats.skipped,
    })
}

/// The configuration and state to run with: a new run's, or with `resume` the stored ones
/// (a resume may extend the run and move it to another backend, with or without mixed
/// precision; nothing else changes).
fn open(run: &RunDir, cli: FitConfig, resume: bool) -> Result<(FitConfig, RunState)> {
    match (run.load_state()?, resume) {
        (Some(state), true) => {
            let text = std::fs::read_to_string(run.path("config.json"))
                .context("resuming: config.json")?;
            let mut stored: FitConfig =
                serde_json::from_str(&text).context("resuming: config.json is invalid")?;
            stored.epochs = cli.epochs;
            stored.max_minutes = cli.max_minutes;
            stored.backend = cli.backend;
            stored.mixed_precision = cli.mixed_precision;
            eprintln!(
                "resuming {} after epoch {}",
                cli.out.display(),
                state.epochs_done
            );
            Ok((stored, state))
        }
        (Some(_), false) => bail!(
            "{} already holds a run: pass --resume to continue it, or choose another --out",
            cli.out.display()
        ),
        (None, _) => Ok((cli, RunState::default())),
    }
}

/// The model and optimizer to start from: the last checkpoint when resuming, else the --init
/// weights, else a random initialisation drawn from --seed.
fn start(
    cfg: &FitConfig,
    run: &RunDir,
    state: &RunState,
    device: &Device,
) -> Result<(Model, ModuleOptimizer)> {
    // burn draws initial weights from the backend's generator, which is seeded from the
    // operating system unless told otherwise: without this, two runs with the same --seed
    // started from different weights (their sampler and augmentation were already seeded).
    device.seed(cfg.seed);
    let mut model = cfg.model_config().init(device)?;
    let mut optim = cfg.optimizer();
    if state.checkpoint.is_some() {
        optim = run.restore(state, &mut model, optim)?;
    } else if let Some(init) = &cfg.init {
        model = load_init(init, &cfg.model_config(), device)?;
        eprintln!("initialised from {}", init.display());
    }
    eprintln!(
        "model: {} f={} ({} parameters), loss {:?}, backend {:?}",
        cfg.arch,
        cfg.width,
        brainseg::model::trainable_params(&model),
        cfg.loss,
        cfg.backend
    );
    Ok((model, optim))
}

/// Loads `--init` weights, checking that their manifest describes the configured model.
fn load_init(path: &Path, want: &ModelConfig, device: &Device) -> Result<Model> {
    let (manifest, model) = crate::model_io::load_single(path, device).context("--init")?;
    if &manifest.model != want {
        bail!(
            "--init: {} holds {:?}, but this run trains {:?}",
            path.display(),
            manifest.model,
            want
        );
    }
    Ok(model)
}

/// Writes the best epoch's weights: `best` (f32) and `model` (f16, what the web app loads).
fn export_best(
    run: &RunDir,
    cfg: &FitConfig,
    record: &EpochRecord,
    model: &Model,
    command: &str,
) -> Result<()> {
    for (name, precision) in [("best", Precision::F32), ("model", Precision::F16)] {
        run.export(name, model, &manifest_for(cfg, record, precision, command))?;
    }
    Ok(())
}

/// Manifest of a trained model, with its validation figures and how it was trained.
fn manifest_for(
    config: &FitConfig,
    record: &EpochRecord,
    precision: Precision,
    command: &str,
) -> Manifest {
    Manifest {
        validation: Some(Validation {
            protocol: "reference".into(),
            mean: record.val_mean,
            median: record.val_median,
            min: record.val_min,
            cases: record.cases.clone(),
        }),
        training: serde_json::json!({ "command": command, "epoch": record.epoch, "config": config }),
        preprocessing_version: config.preprocessing,
        ..Manifest::new(config.model_config(), config.size, precision)
    }
}

fn print_epoch(r: &EpochRecord, epochs: usize, improved: bool) {
    let skipped = match r.skipped_steps {
        0 => String::new(),
        n => format!("  {n} steps skipped"),
    };
    println!(
        "epoch {:>3}/{epochs}  train loss {:.4}  val loss {:.4}  val DSC mean {:.4} median {:.4} min {:.4}  {:.2} img/s  {:.0}s{skipped}{}",
        r.epoch,
        r.train_loss,
        r.val_loss,
        r.val_mean,
        r.val_median,
        r.val_min,
        r.images_per_s,
        r.seconds,
        if improved { "  *best" } else { "" }
    );
}
