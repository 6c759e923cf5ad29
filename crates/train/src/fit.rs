//! `train fit`: the training loop with per-epoch validation, checkpoints, resume and export.

use crate::augment::AugConfig;
use crate::backend::{self, Backend};
use crate::loss::Loss;
use crate::pipeline::{
    BatchPlan, Sampler, TrainSet, load_prepared, read_case_list, scan_cases, split,
};
use crate::run::{EpochRecord, RunDir, RunState, manifest_for, write_atomic};
use anyhow::{Context, Result, bail};
use brainseg::eval::reference_dice;
use brainseg::inference::slices_tensor;
use brainseg::manifest::{CaseScore, Precision, weights_to_bytes};
use brainseg::metrics::summarize;
use brainseg::model::{Arch, Model, ModelConfig};
use brainseg::preprocess::{PrepOptions, Prepared};
use burn::optim::{AdamConfig, AdamWConfig, GradientsParams};
use burn::prelude::*;
use burn::store::{BurnpackStore, ModuleSnapshot};
use burn::tensor::activation::sigmoid;
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optim {
    /// Adam without weight decay (the reference).
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Schedule {
    Constant,
    /// Cosine decay to 1 % of the learning rate over the run.
    Cosine,
    /// One-cycle: 30 % warm-up from lr/25, then cosine down to lr/10⁴.
    OneCycle,
}

/// Everything that defines a training run; saved as `config.json`.
#[derive(Debug, Clone, clap::Args, Serialize, Deserialize)]
pub struct FitConfig {
    /// Data folder (kaggle_3m layout: case folders of slices and masks).
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder to create (or continue with --resume).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long, default_value = "unet")]
    pub arch: Arch,
    #[arg(long, value_enum, default_value = "dice")]
    pub loss: Loss,
    /// Base width f.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Down-sampling levels.
    #[arg(long, default_value_t = 4)]
    pub levels: usize,
    /// Groups of the grouped convolutions (resnext-unet).
    #[arg(long, default_value_t = 8)]
    pub cardinality: usize,
    /// Side N of the preprocessed slices.
    #[arg(long, default_value_t = 256)]
    pub size: usize,
    #[arg(long, default_value_t = 100)]
    pub epochs: usize,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-4)]
    pub lr: f64,
    #[arg(long, value_enum, default_value = "adam")]
    pub optimizer: Optim,
    /// Weight decay (AdamW only).
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    #[arg(long, value_enum, default_value = "constant")]
    pub schedule: Schedule,
    /// Train on random crops of this side (validation always uses whole slices).
    #[arg(long)]
    pub crop: Option<usize>,
    /// Probability that a crop is centred on lesion (when the slice has some).
    #[arg(long, default_value_t = 0.5)]
    pub crop_lesion_p: f32,
    #[arg(long, value_enum, default_value = "lesion")]
    pub sampler: Sampler,
    /// Samples per epoch (default: the number of training slices).
    #[arg(long)]
    pub samples_per_epoch: Option<usize>,
    #[arg(long, default_value_t = 0.05)]
    pub aug_scale: f32,
    #[arg(long, default_value_t = 15.0)]
    pub aug_rotate: f32,
    #[arg(long, default_value_t = 0.5)]
    pub aug_flip: f32,
    /// Add gamma and brightness/contrast augmentation.
    #[arg(long)]
    pub aug_intensity: bool,
    /// Validation cases, one ID a line (default: ../shared/data/patients-val.txt when it exists).
    #[arg(long)]
    pub val_cases: Option<PathBuf>,
    /// Restrict training to these cases (one ID a line).
    #[arg(long)]
    pub train_cases: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Slices per validation forward pass.
    #[arg(long, default_value_t = 8)]
    pub val_batch: usize,
    /// Stop before starting an epoch once this much training time has been spent (all sessions
    /// of the run together).
    #[arg(long)]
    pub max_minutes: Option<f64>,
    /// Start from these weights (a `.bpk` with its `.json` manifest beside it, e.g. an earlier
    /// run's `best.bpk`) instead of a random initialisation: fine-tuning. The architecture must
    /// match; the optimizer and schedule start afresh.
    #[arg(long)]
    #[serde(default)]
    pub init: Option<PathBuf>,
    /// Keep every epoch's weights in checkpoints/ (not only the last), e.g. to average the
    /// last epochs into one model with `train average`. The optimizer state is kept for the
    /// last epoch only either way.
    #[arg(long)]
    #[serde(default)]
    pub keep_checkpoints: bool,
    /// Run the learning-rate schedule over the --max-minutes budget instead of over --epochs
    /// (which then only caps the run): the schedule ends when the time does, whatever the
    /// machine's speed; an epoch under way when the time is spent is cut short (then validated
    /// and exported as usual). For runs on a machine of unknown speed with a fixed lease (the GPU).
    #[arg(long, requires = "max_minutes")]
    #[serde(default)]
    pub schedule_by_time: bool,
}

impl FitConfig {
    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            arch: self.arch,
            width: self.width,
            levels: self.levels,
            cardinality: self.cardinality,
        }
    }

    fn plan(&self) -> BatchPlan {
        BatchPlan {
            batch: self.batch,
            crop: self.crop,
            crop_lesion_p: self.crop_lesion_p,
            sampler: self.sampler,
            samples_per_epoch: self.samples_per_epoch,
            aug: AugConfig {
                scale: self.aug_scale,
                rotate: self.aug_rotate,
                flip: self.aug_flip,
                intensity: self.aug_intensity,
            },
        }
    }

    fn check(&self) -> Result<()> {
        let m = self.model_config();
        m.validate().map_err(anyhow::Error::msg)?;
        let k = m.size_multiple();
        if self.size % k != 0 || self.crop.is_some_and(|c| c % k != 0 || c > self.size) {
            bail!(
                "--size and --crop must be multiples of {k} (2^levels), and the crop at most the size"
            );
        }
        if self.batch == 0 || self.epochs == 0 {
            bail!("--batch and --epochs must be positive");
        }
        Ok(())
    }

    /// The seconds the schedule runs over with --schedule-by-time (None: it runs over the steps).
    fn schedule_seconds(&self) -> Option<f64> {
        self.max_minutes
            .filter(|_| self.schedule_by_time)
            .map(|max| max * 60.0)
    }

    /// Progress through the schedule, 0 at the start and 1 at the end: the share of the steps
    /// done, or with --schedule-by-time the share of the time budget spent (capped at 1).
    fn progress(&self, step: usize, total: usize, seconds_spent: f64) -> f64 {
        match self.schedule_seconds() {
            Some(budget) if budget > 0.0 => (seconds_spent / budget).min(1.0),
            _ => step as f64 / total.max(1) as f64,
        }
    }

    /// Learning rate at progress `t` (0..=1) through the schedule.
    fn lr_at(&self, t: f64) -> f64 {
        let cos = |x: f64| 0.5 * (1.0 + (std::f64::consts::PI * x).cos());
        match self.schedule {
            Schedule::Constant => self.lr,
            Schedule::Cosine => self.lr * (0.01 + 0.99 * cos(t)),
            Schedule::OneCycle => {
                let warm = 0.3;
                if t < warm {
                    let start = self.lr / 25.0;
                    start + (self.lr - start) * (1.0 - cos(t / warm))
                } else {
                    let end = self.lr / 1e4;
                    end + (self.lr - end) * cos((t - warm) / (1.0 - warm))
                }
            }
        }
    }
}

/// Default validation list: `patients-val.txt` of the shared data, looked up beside the data
/// folder's ancestors and the working directory.
fn default_val_cases(data: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = data
        .ancestors()
        .map(|a| a.join("patients-val.txt"))
        .collect();
    candidates.push(PathBuf::from("../shared/data/patients-val.txt"));
    candidates.into_iter().find(|p| p.is_file())
}

fn make_optimizer(cfg: &FitConfig) -> burn::optim::ModuleOptimizer {
    match cfg.optimizer {
        Optim::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
        Optim::Adamw => AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(cfg.weight_decay as f32)
            .init(),
    }
}

/// Validation pass: mean loss over slices and reference-protocol DSC per case.
pub fn validate(
    model: &Model,
    vols: &[Prepared],
    loss: Loss,
    device: &Device,
    batch: usize,
) -> Result<(f64, Vec<CaseScore>)> {
    let (mut loss_sum, mut count) = (0.0, 0usize);
    let mut scores = Vec::new();
    for vol in vols {
        let n = vol.size();
        let mut probs = Vec::with_capacity(vol.slices() * n * n);
        let mut start = 0;
        while start < vol.slices() {
            let end = (start + batch.max(1)).min(vol.slices());
            let logits = model.forward(slices_tensor(vol, start..end, device));
            let m: Vec<f32> = vol.mask.as_ref().expect("validation volumes have masks")
                [start * n * n..end * n * n]
                .iter()
                .map(|&v| v as f32)
                .collect();
            let target = Tensor::from_data(TensorData::new(m, [end - start, 1, n, n]), device);
            loss_sum += loss.compute(logits.clone(), target).into_scalar::<f32>() as f64
                * (end - start) as f64;
            count += end - start;
            probs.extend(
                sigmoid(logits)
                    .into_data()
                    .try_into_vec::<f32>()
                    .map_err(|e| anyhow::anyhow!("{e:?}"))?,
            );
            start = end;
        }
        let dsc = reference_dice(&probs, vol).expect("validation volumes have masks");
        scores.push(CaseScore {
            case: vol.case_id.clone(),
            dsc,
        });
    }
    Ok((loss_sum / count.max(1) as f64, scores))
}

/// Loads `--init` weights, checking that their manifest describes the configured model.
fn load_init(path: &Path, want: &ModelConfig, device: &Device) -> Result<Model> {
    let (manifest, model) = crate::evaluate::load(path, device).context("--init")?;
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

pub fn run(cli: FitConfig, resume: bool) -> Result<()> {
    std::fs::create_dir_all(&cli.out).with_context(|| format!("creating {}", cli.out.display()))?;
    let run = RunDir {
        root: cli.out.clone(),
    };
    let (cfg, mut state) = match (run.load_state()?, resume) {
        (Some(state), true) => {
            let text = std::fs::read_to_string(run.path("config.json"))
                .context("resuming: config.json")?;
            let mut stored: FitConfig =
                serde_json::from_str(&text).context("resuming: config.json is invalid")?;
            // A resume may extend the run and move it to another backend; nothing else changes.
            stored.epochs = cli.epochs;
            stored.max_minutes = cli.max_minutes;
            stored.backend = cli.backend;
            eprintln!(
                "resuming {} after epoch {}",
                cli.out.display(),
                state.epochs_done
            );
            (stored, state)
        }
        (Some(_), false) => bail!(
            "{} already holds a run: pass --resume to continue it, or choose another --out",
            cli.out.display()
        ),
        (None, _) => (cli, RunState::default()),
    };
    cfg.check()?;
    write_atomic(
        &run.path("config.json"),
        serde_json::to_string_pretty(&cfg)?.as_bytes(),
    )?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");

    let base = backend::device(cfg.backend)?;
    let device = base.clone().autodiff();

    // Data: grouped by case, split by the validation list, preprocessed once.
    let t0 = Instant::now();
    let (groups, file_errors) = scan_cases(&cfg.data)?;
    for e in &file_errors {
        eprintln!("warning: {e}");
    }
    let val_path = cfg.val_cases.clone().or_else(|| default_val_cases(&cfg.data)).context(
        "no validation list: pass --val-cases FILE (the reference's is shared/data/patients-val.txt)",
    )?;
    let val_ids = read_case_list(&val_path)?;
    let train_ids = cfg.train_cases.as_deref().map(read_case_list).transpose()?;
    let (train_groups, val_groups) = split(&groups, &val_ids, train_ids.as_deref())?;
    let opts = PrepOptions::reference(cfg.size);
    let (train_vols, p1) = load_prepared(&train_groups, opts);
    let (val_vols, p2) = load_prepared(&val_groups, opts);
    for p in p1.iter().chain(&p2) {
        eprintln!("warning: {p}");
    }
    if train_vols.is_empty() || val_vols.is_empty() {
        bail!("no usable training or validation case");
    }
    let set = Arc::new(TrainSet::new(train_vols));
    let plan = cfg.plan();
    eprintln!(
        "data: {} training cases ({} slices), {} validation cases ({}), preprocessed to {}² in {:.1}s",
        set.vols.len(),
        set.slices(),
        val_vols.len(),
        val_path.display(),
        cfg.size,
        t0.elapsed().as_secs_f64()
    );

    let mut model = cfg
        .model_config()
        .init(&device)
        .map_err(anyhow::Error::msg)?;
    let mut optim = make_optimizer(&cfg);
    if let (Some(ckpt), Some(opt)) = (&state.checkpoint, &state.optimizer) {
        let mut store = BurnpackStore::from_file(run.path(ckpt));
        model
            .load_from(&mut store)
            .map_err(|e| anyhow::anyhow!("loading {ckpt}: {e}"))?;
        optim = optim
            .load(run.path(opt))
            .map_err(|e| anyhow::anyhow!("loading {opt}: {e:?}"))?;
    } else if let Some(init) = &cfg.init {
        model = load_init(init, &cfg.model_config(), &device)?;
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

    let steps_per_epoch = set.epoch_len(&plan).div_ceil(cfg.batch);
    let total_steps = steps_per_epoch * cfg.epochs;
    let mut spent: f64 = state.history.iter().map(|r| r.seconds).sum();
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")
        .expect("valid template");

    for epoch in state.epochs_done + 1..=cfg.epochs {
        if let Some(max) = cfg.max_minutes {
            if spent >= max * 60.0 {
                eprintln!("time budget of {max} min spent after epoch {}", epoch - 1);
                break;
            }
        }
        let started = Instant::now();
        let bar = ProgressBar::new(steps_per_epoch as u64)
            .with_style(style.clone())
            .with_prefix(format!("epoch {epoch}/{}", cfg.epochs));
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        let mut lr = cfg.lr;
        for (i, batch) in set
            .batches(
                &plan,
                cfg.seed ^ (epoch as u64).wrapping_mul(0x2545_f491_4f6c_dd1d),
            )
            .iter()
            .enumerate()
        {
            let seconds_spent = spent + started.elapsed().as_secs_f64();
            // The schedule has ended with the time: close this epoch (validate, export) now
            // rather than overrun a lease of fixed length.
            if cfg
                .schedule_seconds()
                .is_some_and(|budget| seconds_spent >= budget)
            {
                let max = cfg.max_minutes.unwrap_or_default();
                eprintln!(
                    "time budget of {max} min spent during epoch {epoch} (after {i} of {steps_per_epoch} steps)"
                );
                break;
            }
            lr = cfg.lr_at(cfg.progress(
                (epoch - 1) * steps_per_epoch + i,
                total_steps,
                seconds_spent,
            ));
            let s = batch.side;
            let x = Tensor::from_data(TensorData::new(batch.x, [batch.len, 3, s, s]), &device);
            let y = Tensor::from_data(TensorData::new(batch.y, [batch.len, 1, s, s]), &device);
            let loss = cfg.loss.compute(model.forward(x), y);
            let value = loss.clone().into_scalar::<f32>() as f64;
            if !value.is_finite() {
                bail!("loss became {value} at epoch {epoch} step {i}; lower --lr");
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optim.step(lr, model, grads);
            loss_sum += value * batch.len as f64;
            seen += batch.len;
            let ips = seen as f64 / started.elapsed().as_secs_f64();
            bar.set_message(format!("loss {:.4} {ips:.2} img/s", loss_sum / seen as f64));
            bar.inc(1);
            // Without a terminal (background runs, logs) the bar is hidden: log every 10 %.
            if bar.is_hidden() && (i + 1) % (steps_per_epoch / 10).max(1) == 0 {
                eprintln!(
                    "epoch {epoch} step {}/{steps_per_epoch}: loss {:.4}, {ips:.2} img/s",
                    i + 1,
                    loss_sum / seen as f64
                );
            }
        }
        bar.finish_and_clear();
        let train_secs = started.elapsed().as_secs_f64();
        let valid = model.valid();
        let (val_loss, cases) = validate(&valid, &val_vols, cfg.loss, &base, cfg.val_batch)?;
        let dscs: Vec<f64> = cases.iter().map(|c| c.dsc).collect();
        let sum = summarize(&dscs).expect("at least one validation case");
        let seconds = started.elapsed().as_secs_f64();
        spent += seconds;
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            val_loss,
            val_mean: sum.mean,
            val_median: sum.median,
            val_min: sum.min,
            cases,
            lr,
            images_per_s: seen as f64 / train_secs,
            seconds,
        };

        // Checkpoint, then the state that names it, then drop the previous checkpoint.
        std::fs::create_dir_all(run.path("checkpoints"))?;
        let ckpt = format!("checkpoints/epoch-{epoch:04}.bpk");
        let opt = format!("checkpoints/epoch-{epoch:04}.optim.bpk");
        write_atomic(
            &run.path(&ckpt),
            &weights_to_bytes(&valid, Precision::F32).map_err(anyhow::Error::msg)?,
        )?;
        let opt_tmp = run.path(&format!("{opt}.tmp"));
        optim
            .save(&opt_tmp)
            .map_err(|e| anyhow::anyhow!("saving optimizer state: {e:?}"))?;
        std::fs::rename(&opt_tmp, run.path(&opt))?;
        let improved = state.best_epoch.is_none() || record.val_mean > state.best_mean;
        if improved {
            run.export(
                "best",
                &valid,
                &manifest_for(&cfg, &record, Precision::F32, &command),
            )?;
            run.export(
                "model",
                &valid,
                &manifest_for(&cfg, &record, Precision::F16, &command),
            )?;
            state.best_epoch = Some(epoch);
            state.best_mean = record.val_mean;
        }
        let old_weights = state
            .checkpoint
            .replace(ckpt)
            .filter(|_| !cfg.keep_checkpoints);
        let old = [old_weights, state.optimizer.replace(opt)];
        state.epochs_done = epoch;
        state.history.push(record.clone());
        run.save_state(&state)?;
        for f in old.into_iter().flatten() {
            let _ = std::fs::remove_file(run.path(&f));
        }
        run.write_metrics(&state.history)?;
        if let Err(e) = crate::curves::draw_run(&run.path("curves.png"), &state.history) {
            eprintln!("warning: curves.png not drawn: {e}");
        }
        println!(
            "epoch {epoch:>3}/{}  train loss {:.4}  val loss {:.4}  val DSC mean {:.4} median {:.4} min {:.4}  {:.2} img/s  {:.0}s{}",
            cfg.epochs,
            record.train_loss,
            record.val_loss,
            record.val_mean,
            record.val_median,
            record.val_min,
            record.images_per_s,
            record.seconds,
            if improved { "  *best" } else { "" }
        );
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

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(
            (steps.lr_at(steps.progress(50, 100, 590.0)) - 1e-3 * (0.01 + 0.99 * 0.5)).abs()
                < 1e-12
        );
        let timed = config(&[
            "--schedule",
            "cosine",
            "--lr",
            "1e-3",
            "--max-minutes",
            "10",
            "--schedule-by-time",
        ]);
        assert_eq!(timed.progress(50, 100, 150.0), 0.25);
        assert_eq!(
            timed.progress(1, 100, 900.0),
            1.0,
            "past the budget the schedule stays at its end"
        );
        assert!((timed.lr_at(timed.progress(99, 100, 600.0)) - 1e-5).abs() < 1e-12);
        let one_cycle = config(&["--schedule", "one-cycle", "--lr", "1e-3"]);
        assert!(
            (one_cycle.lr_at(0.0) - 4e-5).abs() < 1e-12,
            "one-cycle starts at lr/25"
        );
        assert!(
            (one_cycle.lr_at(0.3) - 1e-3).abs() < 1e-12,
            "and peaks at 30 %"
        );
        assert!(
            (one_cycle.lr_at(1.0) - 1e-7).abs() < 1e-15,
            "and ends at lr/1e4"
        );
        assert!(
            Cli::try_parse_from(["fit", "--data", "d", "--out", "o", "--schedule-by-time"])
                .is_err(),
            "needs --max-minutes"
        );
    }
}
