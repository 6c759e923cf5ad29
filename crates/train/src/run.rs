//! The run folder: `config.json`, `metrics.csv`, `curves.png`, checkpoints and the export.
//!
//! Files are written to a temporary name and renamed, so a run killed at any moment leaves
//! either the old or the new version of each. `state.json` is written last and names the
//! checkpoint it belongs to, so a resume never pairs weights with the wrong epoch.

use anyhow::{Context, Result};
use brainseg::manifest::{CaseScore, Manifest, Precision, Validation, weights_to_bytes};
use brainseg::model::Model;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

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
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    pub epochs_done: usize,
    pub best_epoch: Option<usize>,
    pub best_mean: f64,
    /// Checkpoint file (relative to the run folder) of the last finished epoch.
    pub checkpoint: Option<String>,
    pub optimizer: Option<String>,
    pub history: Vec<EpochRecord>,
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

pub struct RunDir {
    pub root: PathBuf,
}

impl RunDir {
    pub fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    pub fn load_state(&self) -> Result<Option<RunState>> {
        let p = self.path("state.json");
        if !p.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&p)?;
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

    /// `metrics.csv`: one row per epoch, per-case DSC columns in validation order.
    pub fn write_metrics(&self, history: &[EpochRecord]) -> Result<()> {
        let mut out = String::from(
            "epoch,train_loss,val_loss,val_mean_dsc,val_median_dsc,val_min_dsc,lr,images_per_s,seconds",
        );
        if let Some(first) = history.first() {
            for c in &first.cases {
                out.push_str(&format!(",dsc_{}", c.case));
            }
        }
        out.push('\n');
        for r in history {
            out.push_str(&format!(
                "{},{:.6},{:.6},{:.6},{:.6},{:.6},{:.3e},{:.3},{:.1}",
                r.epoch,
                r.train_loss,
                r.val_loss,
                r.val_mean,
                r.val_median,
                r.val_min,
                r.lr,
                r.images_per_s,
                r.seconds
            ));
            for c in &r.cases {
                out.push_str(&format!(",{:.6}", c.dsc));
            }
            out.push('\n');
        }
        write_atomic(&self.path("metrics.csv"), out.as_bytes())
    }

    /// Writes weights and their manifest (`<name>.bpk` + `<name>.json`).
    pub fn export(&self, name: &str, model: &Model, manifest: &Manifest) -> Result<()> {
        let bytes = weights_to_bytes(model, manifest.precision).map_err(anyhow::Error::msg)?;
        write_model(&self.path(name), &bytes, manifest).map(|_| ())
    }
}

/// Writes weights (already serialised) and their manifest as `STEM.bpk` + `STEM.json`, creating
/// the folder; returns the weights' path.
pub fn write_model(stem: &Path, weights: &[u8], manifest: &Manifest) -> Result<PathBuf> {
    let (bpk, json) = (stem.with_extension("bpk"), stem.with_extension("json"));
    if let Some(dir) = bpk.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(&bpk, weights)?;
    write_atomic(&json, serde_json::to_string_pretty(manifest)?.as_bytes())?;
    Ok(bpk)
}

/// Manifest of a trained model, with its validation figures and how it was trained.
pub fn manifest_for(
    config: &crate::fit::FitConfig,
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
        ..Manifest::new(config.model_config(), config.size, precision)
    }
}
