//! The run folder: `config.json`, `state.json`, `metrics.csv`, `checkpoints/` and the exports
//! (`best`, `model`). `curves.png` is drawn by `crate::plot`.
//!
//! Every file is written atomically (`crate::atomic`), so a run killed at any moment leaves the
//! old or the new version of each. `state.json` is written after the checkpoint it names, so a
//! resume never pairs weights with the wrong epoch; the checkpoint it replaces is removed last.

use crate::atomic::write_atomic;
use crate::model_io::write_model;
use anyhow::{Context, Result, anyhow};
use brainseg::manifest::{CaseScore, Manifest, Precision};
use brainseg::model::Model;
use brainseg::model_io::weights_to_bytes;
use burn::optim::ModuleOptimizer;
use burn::store::{BurnpackStore, ModuleSnapshot};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One finished epoch, as `metrics.csv` and `state.json` keep it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub val_mean: f64,
    pub val_median: f64,
    pub val_min: f64,
    pub cases: Vec<CaseScore>,
    pub lr: f64,
    pub images_per_s: f64,
    pub seconds: f64,
    /// Training steps skipped under --mixed-precision (loss or gradients not finite).
    #[serde(default)]
    pub skipped_steps: usize,
}

/// `state.json`: where a run stands, enough to resume it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    pub best_epoch: Option<usize>,
    pub best_mean: f64,
    /// Checkpoint file (relative to the run folder) of the last finished epoch.
    pub checkpoint: Option<String>,
    pub optimizer: Option<String>,
    pub history: Vec<EpochRecord>,
    /// The f16 loss scale at the last finished epoch (--mixed-precision f16), where a resume
    /// continues from.
    #[serde(default)]
    pub loss_scale: Option<f32>,
}

impl RunState {
    /// Training seconds of all finished epochs (all sessions of the run together).
    pub fn seconds_spent(&self) -> f64 {
        self.history.iter().map(|r| r.seconds).sum()
    }
}

/// The epoch of a checkpoint file name (`epoch-0012.bpk`, `epoch-0012.optim.bpk`).
fn checkpoint_epoch(name: &str) -> Option<usize> {
    let rest = name.strip_prefix("epoch-")?;
    let digits = rest.split('.').next()?;
    digits.parse().ok()
}

/// A checkpoint file (`checkpoints/NAME`) the state does not name: from an epoch cut short, or
/// an earlier epoch's, except earlier weights kept by `keep_all` (`--keep-checkpoints`).
fn stale_checkpoint(name: &str, state: &RunState, keep_all: bool) -> bool {
    let Some(epoch) = checkpoint_epoch(name) else {
        return false;
    };
    let path = format!("checkpoints/{name}");
    let named = [&state.checkpoint, &state.optimizer]
        .iter()
        .any(|n| n.as_deref() == Some(path.as_str()));
    let kept_weights = keep_all && !name.ends_with(".optim.bpk") && epoch <= state.epochs_done;
    !named && !kept_weights
}

pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    /// The run folder at `root`, created if missing.
    pub fn create(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        Ok(Self {
            root: root.to_path_buf(),
        })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn load_state(&self) -> Result<Option<RunState>> {
        let p = self.path("state.json");
        if !p.exists() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{} is not a valid run state", p.display())
        })?))
    }

    pub fn save_state(&self, state: &RunState) -> Result<()> {
        write_atomic(
            &self.path("state.json"),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )
    }

    /// Loads the weights and optimizer state of the last finished epoch, when there is one.
    pub fn restore(
        &self,
        state: &RunState,
        model: &mut Model,
        optim: ModuleOptimizer,
    ) -> Result<ModuleOptimizer> {
        let (Some(ckpt), Some(opt)) = (&state.checkpoint, &state.optimizer) else {
            return Ok(optim);
        };
        let mut store = BurnpackStore::from_file(self.path(ckpt));
        model
            .load_from(&mut store)
            .map_err(|e| anyhow!("loading {ckpt}: {e}"))?;
        optim
            .load(self.path(opt))
            .map_err(|e| anyhow!("loading {opt}: {e:?}"))
    }

    /// Saves epoch `epoch`'s weights and optimizer state, then the state naming them (with
    /// `record` added), then removes the previous epoch's files (its weights only when
    /// `keep_all` is off: `--keep-checkpoints`).
    pub fn save_epoch(
        &self,
        state: &mut RunState,
        record: EpochRecord,
        model: &Model,
        optim: &ModuleOptimizer,
        keep_all: bool,
    ) -> Result<()> {
        let epoch = record.epoch;
        std::fs::create_dir_all(self.path("checkpoints"))?;
        let ckpt = format!("checkpoints/epoch-{epoch:04}.bpk");
        let opt = format!("checkpoints/epoch-{epoch:04}.optim.bpk");
        write_atomic(&self.path(&ckpt), &weights_to_bytes(model, Precision::F32)?)?;
        let optim_bytes = optim
            .into_bytes()
            .map_err(|e| anyhow!("saving optimizer state: {e:?}"))?;
        write_atomic(&self.path(&opt), &optim_bytes[..])?;
        let old_weights = state.checkpoint.replace(ckpt).filter(|_| !keep_all);
        let old = [old_weights, state.optimizer.replace(opt)];
        state.epochs_done = epoch;
        state.history.push(record);
        self.save_state(state)?;
        for f in old.into_iter().flatten() {
            let _ = std::fs::remove_file(self.path(&f));
        }
        Ok(())
    }

    /// Removes what a killed run can leave behind: temporary files of interrupted writes and
    /// checkpoints the state does not name (epochs cut short, and with `keep_all` off, the
    /// epoch before the last when the kill came before its removal).
    pub fn remove_leftovers(&self, state: &RunState, keep_all: bool) -> Result<()> {
        for (dir, checkpoints) in [(self.root.clone(), false), (self.path("checkpoints"), true)] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let stale = name.starts_with(".tmp-")
                    || (checkpoints && stale_checkpoint(name, state, keep_all));
                if stale {
                    std::fs::remove_file(&path)
                        .with_context(|| format!("removing {}", path.display()))?;
                }
            }
        }
        Ok(())
    }

    /// The epoch whose weights the export `name` (`best`, `model`) holds, from its manifest.
    pub fn exports_epoch(&self, name: &str) -> Option<usize> {
        let text = std::fs::read_to_string(self.path(&format!("{name}.json"))).ok()?;
        let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
        manifest["training"]["epoch"]
            .as_u64()
            .and_then(|e| usize::try_from(e).ok())
    }

    /// `metrics.csv`: one row per epoch, per-case DSC columns in validation order.
    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let mut header: Vec<String> = [
            "epoch",
            "train_loss",
            "val_loss",
            "val_mean_dsc",
            "val_median_dsc",
            "val_min_dsc",
            "lr",
            "images_per_s",
            "seconds",
        ]
        .map(String::from)
        .to_vec();
        if let Some(first) = history.first() {
            header.extend(first.cases.iter().map(|c| format!("dsc_{}", c.case)));
        }
        w.write_record(&header)?;
        for r in history {
            let mut row = vec![
                r.epoch.to_string(),
                format!("{:.6}", r.train_loss),
                format!("{:.6}", r.val_loss),
                format!("{:.6}", r.val_mean),
                format!("{:.6}", r.val_median),
                format!("{:.6}", r.val_min),
                format!("{:.3e}", r.lr),
                format!("{:.3}", r.images_per_s),
                format!("{:.1}", r.seconds),
            ];
            row.extend(r.cases.iter().map(|c| format!("{:.6}", c.dsc)));
            w.write_record(&row)?;
        }
        let bytes = w.into_inner().map_err(|e| anyhow!("metrics.csv: {e}"))?;
        write_atomic(&self.path("metrics.csv"), &bytes)
    }

    /// Writes weights and their manifest (`<name>.bpk` + `<name>.json`).
    pub fn export(&self, name: &str, model: &Model, manifest: &Manifest) -> Result<()> {
        let bytes = weights_to_bytes(model, manifest.precision)?;
        write_model(&self.path(name), &bytes, manifest).map(|_| ())
    }
}
