//! The configuration of a training run (`train fit`'s flags), saved as the run's `config.json`.

use super::augment::AugConfig;
use super::loss::{Loss, Objective};
use super::precision::MixedPrecision;
use super::sampler::{BatchPlan, Sampler, default_uniform_share};
use super::schedule::{LrSchedule, Schedule};
use crate::backend::Backend;
use anyhow::{Result, bail};
use brainseg::model::{Arch, ModelConfig, Norm};
use brainseg::preprocess::{LATEST_VERSION, PREPROCESSING_VERSION, supports_version};
use burn::optim::{AdamConfig, AdamWConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optim {
    /// Adam without weight decay (the reference).
    Adam,
    /// AdamW (decoupled weight decay).
    Adamw,
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
    /// Deep supervision (--arch fpn): each pyramid level's head alone, through the shared
    /// classifier, is fitted to the mask too, weighted ½, ¼, … from the finest level beside the
    /// output's 1 (nnU-Net's halving); the training loss is that weighted mean, the validation
    /// loss the output's alone. The trained model is the same network.
    #[arg(long)]
    #[serde(default)]
    pub deep_supervision: bool,
    /// Base width f.
    #[arg(long, default_value_t = 32)]
    pub width: usize,
    /// Down-sampling levels.
    #[arg(long, default_value_t = 4)]
    pub levels: usize,
    /// Widest level: level i has min(width · 2^i, this) channels (0: no cap). Lets a deeper
    /// model (--levels 5) see more of the slice without its deepest level's weights doubling.
    /// Recorded in the model's manifest.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub max_width: usize,
    /// Groups of the grouped convolutions (resnext-unet).
    #[arg(long, default_value_t = 8)]
    pub cardinality: usize,
    /// 2.5-D input: the FLAIR of this many neighbouring slices on each side as extra input
    /// channels (0: each slice alone, the reference's). Recorded in the model's manifest.
    #[arg(long, default_value_t = 0)]
    #[serde(default)]
    pub context: usize,
    /// The normalisation layers: batch (the reference's) or instance (each slice's own
    /// statistics, in training and at inference alike). Recorded in the model's manifest.
    #[arg(long, default_value = "batch")]
    #[serde(default)]
    pub norm: Norm,
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
    /// With `--sampler mixed`: the share of training slices drawn uniformly over all slices
    /// (the rest by the lesion sampler).
    #[arg(long, default_value_t = default_uniform_share())]
    #[serde(default = "default_uniform_share")]
    pub uniform_share: f32,
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
    /// Add nnU-Net's image-quality augmentation: Gaussian noise (p 0.1), Gaussian blur (p 0.2)
    /// and simulated low resolution (p 0.25), drawn per training slice.
    #[arg(long)]
    #[serde(default)]
    pub aug_quality: bool,
    /// Add elastic deformation (Ronneberger et al. 2015) to half the training slices: smooth
    /// displacements interpolated from a 4 × 4 grid of N(0, 2.5 % of the side) draws.
    #[arg(long)]
    #[serde(default)]
    pub aug_elastic: bool,
    /// Replace a training window's post-contrast channel by its FLAIR with this probability, and
    /// in 60 % of those its pre-contrast channel too: what kaggle_3m does for scans lacking a
    /// sequence (10 of the 100 development patients), so a model sees such inputs more often.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub aug_missing: f32,
    /// Make a training window's lesion fainter with this probability: in each sequence its mean
    /// moves towards its surroundings' by a share drawn from [0, 0.8], so a model sees lesions
    /// barely brighter than the brain, as some development patients' are.
    #[arg(long, default_value_t = 0.0)]
    #[serde(default)]
    pub aug_lesion_contrast: f32,
    /// Validation cases, one ID a line (default: ../shared/data/patients-val.txt when it exists).
    #[arg(long)]
    pub val_cases: Option<PathBuf>,
    /// Restrict training to these cases (one ID a line).
    #[arg(long)]
    pub train_cases: Option<PathBuf>,
    /// Train on the validation cases too: a final model on every development case, once its
    /// recipe has been chosen by cross-validation (`train cv`). Its validation figures are then
    /// of cases it trained on (a check that training ran, not a test of new patients): the
    /// manifest's training record says so and so does the page's card. Ship its `last.bpk`
    /// (`best.bpk` would be chosen on those same cases).
    #[arg(long)]
    #[serde(default)]
    pub train_on_val: bool,
    #[arg(long, value_enum, default_value = "flex")]
    pub backend: Backend,
    /// Seeds the initial weights, the slice sampler and the augmentation: on the CPU backend two
    /// runs with one seed and data train the same model (GPU kernels may sum in another order).
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
    /// Preprocessing version: 1, the reference program's; 2, the same with the intensity
    /// statistics taken from the central half of each volume's slices (robust to volumes that
    /// reach beyond the brain); 3, version 2 with the post-contrast channel replaced by the
    /// FLAIR (the model never sees that sequence). Recorded in the model's manifest, which every
    /// reader follows.
    #[arg(long, default_value_t = PREPROCESSING_VERSION)]
    #[serde(default = "reference_preprocessing")]
    pub preprocessing: u32,
    /// On a GPU backend, compute the training steps' convolutions in this 16-bit type (f32
    /// master weights; f16 with dynamic loss scaling; a step whose loss or gradients are not
    /// finite is skipped and logged). Validation and the exported models stay f32. Like
    /// --backend, a resume may change it.
    #[arg(long, value_enum)]
    #[serde(default)]
    pub mixed_precision: Option<MixedPrecision>,
    /// Distillation: also fit the averaged probabilities of these trained models (`.bpk` with
    /// its manifest; a shipped ensemble brings its members) on every training batch, weighted
    /// by --distill. They must take the run's inputs (side, preprocessing, context). In `train
    /// cv`, give --teacher-cv instead: each fold's teachers must not have seen its held-out
    /// cases.
    #[arg(long, value_name = "MODEL")]
    #[serde(default)]
    pub teacher: Vec<PathBuf>,
    /// The distillation term's weight W: loss = the --loss against the masks + W × binary
    /// cross-entropy against the teachers' mean probability.
    #[arg(long, value_name = "W")]
    #[serde(default)]
    pub distill: Option<f64>,
}

/// Runs recorded before `--preprocessing` existed used the reference's.
fn reference_preprocessing() -> u32 {
    PREPROCESSING_VERSION
}

/// Settings that say where a run reads and writes, which cases it trains and is scored on, how
/// its random draws are seeded and what computes it, not how it trains: runs that differ only
/// in these follow one recipe (a cross-validation's fold runs, its draws with other seeds, the
/// final run on every case). A run's teachers are files too (each fold's own in a
/// cross-validation); their weight, `distill`, is the recipe's.
const NOT_RECIPE: [&str; 10] = [
    "data",
    "out",
    "teacher",
    "seed",
    "val_cases",
    "train_cases",
    "train_on_val",
    "backend",
    "val_batch",
    "keep_checkpoints",
];

impl FitConfig {
    /// The recipe settings in which `other` differs from this run, as `name: mine vs other's`.
    pub fn recipe_differences(&self, other: &FitConfig) -> Result<Vec<String>> {
        let (mine, theirs) = (serde_json::to_value(self)?, serde_json::to_value(other)?);
        let empty = serde_json::Map::new();
        let theirs = theirs.as_object().unwrap_or(&empty);
        Ok(mine
            .as_object()
            .unwrap_or(&empty)
            .iter()
            .filter(|(k, _)| !NOT_RECIPE.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let w = theirs.get(k).unwrap_or(&serde_json::Value::Null);
                (v != w).then(|| format!("{k}: {v} vs {w}"))
            })
            .collect())
    }

    pub fn objective(&self) -> Objective {
        Objective {
            loss: self.loss,
            deep_supervision: self.deep_supervision,
        }
    }

    pub fn model_config(&self) -> ModelConfig {
        ModelConfig {
            arch: self.arch,
            width: self.width,
            levels: self.levels,
            cardinality: self.cardinality,
            context: self.context,
            norm: self.norm,
            max_width: self.max_width,
        }
    }

    pub fn plan(&self) -> BatchPlan {
        BatchPlan {
            batch: self.batch,
            crop: self.crop,
            crop_lesion_p: self.crop_lesion_p,
            sampler: self.sampler,
            uniform_share: self.uniform_share,
            samples_per_epoch: self.samples_per_epoch,
            context: self.context,
            aug: AugConfig {
                scale: self.aug_scale,
                rotate: self.aug_rotate,
                flip: self.aug_flip,
                intensity: self.aug_intensity,
                quality: self.aug_quality,
                elastic: self.aug_elastic,
                missing: self.aug_missing,
                lesion_contrast: self.aug_lesion_contrast,
            },
        }
    }

    pub fn check(&self) -> Result<()> {
        let m = self.model_config();
        m.validate()?;
        let k = m.size_multiple();
        if !self.size.is_multiple_of(k)
            || self
                .crop
                .is_some_and(|c| !c.is_multiple_of(k) || c > self.size)
        {
            bail!(
                "--size and --crop must be multiples of {k} (2^levels), and the crop at most the size"
            );
        }
        if self.batch == 0 || self.epochs == 0 {
            bail!("--batch and --epochs must be positive");
        }
        if !supports_version(self.preprocessing) {
            bail!(
                "--preprocessing {}: this build has versions 1 to {LATEST_VERSION}",
                self.preprocessing
            );
        }
        // Only the mixed sampler reads the share: a share given to another sampler would
        // change nothing, so it is refused rather than ignored.
        if self.sampler != Sampler::Mixed && self.uniform_share != default_uniform_share() {
            bail!(
                "--uniform-share {} applies to --sampler mixed only, not {:?}",
                self.uniform_share,
                self.sampler
            );
        }
        for (flag, p) in [
            ("--uniform-share", self.uniform_share),
            ("--aug-missing", self.aug_missing),
            ("--aug-lesion-contrast", self.aug_lesion_contrast),
        ] {
            if !(0.0..=1.0).contains(&p) {
                bail!("{flag} must be in [0, 1], not {p}");
            }
        }
        if self.deep_supervision && self.arch != Arch::Fpn {
            bail!(
                "--deep-supervision needs --arch fpn: the U-Nets' decoder levels have no \
                 classifier of their own"
            );
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            bail!("--lr must be a positive number, not {}", self.lr);
        }
        Ok(())
    }

    /// The seconds the schedule runs over with --schedule-by-time (None: it runs over the steps).
    pub fn schedule_seconds(&self) -> Option<f64> {
        self.max_minutes
            .filter(|_| self.schedule_by_time)
            .map(|max| max * 60.0)
    }

    pub fn lr_schedule(&self) -> LrSchedule {
        LrSchedule {
            lr: self.lr,
            shape: self.schedule,
            seconds: self.schedule_seconds(),
        }
    }

    pub fn optimizer(&self) -> burn::optim::ModuleOptimizer {
        match self.optimizer {
            Optim::Adam => AdamConfig::new().with_epsilon(1e-8).init(),
            Optim::Adamw => AdamWConfig::new()
                .with_epsilon(1e-8)
                .with_weight_decay(self.weight_decay as f32)
                .init(),
        }
    }

    /// The validation list: --val-cases, or `patients-val.txt` of the shared data, looked up
    /// beside the data folder's ancestors and the working directory.
    pub fn val_cases_file(&self) -> Option<PathBuf> {
        self.val_cases
            .clone()
            .or_else(|| default_val_cases(&self.data))
    }
}

fn default_val_cases(data: &Path) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = data
        .ancestors()
        .map(|a| a.join("patients-val.txt"))
        .collect();
    candidates.push(PathBuf::from("../shared/data/patients-val.txt"));
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fold run's `config.json` as `train cv` writes it, with `edit` applied.
    fn config(edit: impl FnOnce(&mut serde_json::Value)) -> FitConfig {
        let mut v = serde_json::json!({
            "data": "/data", "out": "/runs/cv/fold-0", "arch": "fpn", "loss": "dice",
            "width": 16, "levels": 4, "cardinality": 8, "context": 0, "size": 128,
            "epochs": 16, "batch": 16, "lr": 0.002, "optimizer": "adamw",
            "weight_decay": 0.0001, "schedule": "one-cycle", "crop": null,
            "crop_lesion_p": 0.5, "sampler": "lesion", "uniform_share": 0.5,
            "samples_per_epoch": 1024, "aug_scale": 0.05, "aug_rotate": 15.0, "aug_flip": 0.5,
            "aug_intensity": false, "aug_quality": false, "aug_elastic": false, "aug_missing": 0.0,
            "deep_supervision": false, "val_cases": "/runs/cv/lists/fold-0-held-out.txt",
            "train_cases": "/runs/cv/lists/fold-0-train.txt", "train_on_val": false,
            "backend": "flex", "seed": 42, "val_batch": 32, "max_minutes": null, "init": null,
            "keep_checkpoints": false, "schedule_by_time": false, "preprocessing": 2,
            "mixed_precision": null
        });
        edit(&mut v);
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn deep_supervision_is_refused_for_the_u_nets() {
        let deep = |arch: &str| {
            config(|v| {
                v["arch"] = arch.into();
                v["deep_supervision"] = true.into();
            })
            .check()
        };
        deep("fpn").expect("the FPN has level logits");
        for arch in ["unet", "resunet", "resnext-unet"] {
            let e = deep(arch).expect_err(arch).to_string();
            assert!(e.contains("--deep-supervision needs --arch fpn"), "{e}");
        }
    }

    #[test]
    fn a_missing_sequence_probability_outside_0_to_1_is_refused() {
        let with = |p: f64| config(|v| v["aug_missing"] = p.into()).check();
        with(0.25).expect("a probability");
        with(1.0).expect("always");
        for p in [1.5, -0.1] {
            let e = with(p).expect_err("out of range").to_string();
            assert!(e.contains("--aug-missing must be in [0, 1]"), "{e}");
        }
        let faint = |p: f64| config(|v| v["aug_lesion_contrast"] = p.into()).check();
        faint(0.25).expect("a probability");
        let e = faint(2.0).expect_err("out of range").to_string();
        assert!(e.contains("--aug-lesion-contrast must be in [0, 1]"), "{e}");
    }

    #[test]
    fn runs_differing_in_seed_folders_and_cases_follow_one_recipe_and_a_setting_does_not() {
        let fold = config(|_| {});
        let final_run = config(|v| {
            v["seed"] = 43.into();
            v["out"] = "/runs/final".into();
            v["train_cases"] = "/data/patients-dev.txt".into();
            v["train_on_val"] = true.into();
            v["val_batch"] = 8.into();
            // A run recorded before these settings existed: their defaults.
            let c = v.as_object_mut().unwrap();
            c.remove("aug_quality");
            c.remove("aug_elastic");
            c.remove("aug_missing");
            c.remove("aug_lesion_contrast");
            c.remove("deep_supervision");
            c.remove("mixed_precision");
        });
        assert!(fold.recipe_differences(&final_run).unwrap().is_empty());
        let other = config(|v| {
            v["lr"] = 0.003.into();
            v["epochs"] = 32.into();
        });
        assert_eq!(
            fold.recipe_differences(&other).unwrap(),
            ["epochs: 16 vs 32", "lr: 0.002 vs 0.003"]
        );
    }
}
