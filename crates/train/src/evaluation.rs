//! Running exported models over a data folder: per-case DSC in both protocols (`train eval`,
//! `train ship`) and predicted masks written as `_mask.tif` files (`--save-masks`,
//! `train predict`).

use crate::atomic::write_atomic;
use crate::backend::{self, Backend};
use crate::cases::{load_cases, read_case_list};
use crate::model_io::load_with_members;
use anyhow::{Context, Result, anyhow, bail};
use brainseg::eval::{
    native_component_stats, native_dice, native_mask, reference_dice, threshold_sweep,
};
use brainseg::export::case_mask_files;
use brainseg::inference::{InferOptions, ensemble_components, predict_ensemble};
use brainseg::ingest::Case;
use brainseg::manifest::{CaseScore, Manifest, ManifestError, Validation};
use brainseg::metrics::summarize;
use brainseg::model::Model;
use brainseg::postprocess::{ComponentStats, Components};
use brainseg::preprocess::{PrepOptions, Prepared};
use brainseg::scores::ScoreRow;
use burn::prelude::Device;
use std::path::{Path, PathBuf};

/// Inference sides given on the command line (`--input-size`, `--tta-sizes`), overriding the
/// manifest's.
#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub input: Option<usize>,
    pub tta: Option<Vec<usize>>,
}

impl Sizes {
    pub fn apply(&self, manifest: &mut Manifest) -> Result<()> {
        // The core's errors name the manifest field ("input size 42: …", "tta_sizes: …"); here
        // the flag is named instead, with the core's reason.
        if let Some(n) = self.input {
            manifest.set_input_size(n).map_err(|e| match e {
                ManifestError::InputSize { reason, .. } => anyhow!("--input-size {n}: {reason}"),
                e => anyhow!("--input-size {n}: {e}"),
            })?;
        }
        if let Some(t) = &self.tta {
            manifest.set_tta_sizes(t.clone()).map_err(|e| match e {
                ManifestError::TtaSizes(why) => anyhow!("--tta-sizes: {why}"),
                e => anyhow!("--tta-sizes: {e}"),
            })?;
        }
        Ok(())
    }
}

/// Loads the models of an ensemble (or one; a shipped ensemble brings its members), with the
/// command line's `sizes` applied to each.
pub fn load_all(
    paths: &[PathBuf],
    device: &Device,
    sizes: &Sizes,
) -> Result<Vec<(Manifest, Model)>> {
    let mut models = Vec::new();
    for p in paths {
        models.extend(load_with_members(p, device)?);
    }
    for (manifest, _) in &mut models {
        sizes.apply(manifest)?;
    }
    if models.is_empty() {
        bail!("no --model given");
    }
    Ok(models)
}

/// Foreground probabilities of a case averaged over the models, on the first one's grid.
fn probabilities(
    models: &[(Manifest, Model)],
    case: &Case,
    prep: fn(usize) -> PrepOptions,
    device: &Device,
    infer: InferOptions,
) -> Result<(Vec<f32>, Prepared)> {
    let run = predict_ensemble(models, case, prep, device, infer, |_, _| async { true });
    pollster::block_on(run)?.context("inference was cancelled")
}

/// Native-protocol prediction of a case on its original grid, keeping the components the
/// (first) model's manifest says.
pub fn predict_native(
    models: &[(Manifest, Model)],
    case: &Case,
    device: &Device,
    infer: InferOptions,
) -> Result<Vec<u8>> {
    let (probs, prep) = probabilities(models, case, PrepOptions::native, device, infer)?;
    Ok(native_mask(&probs, &prep, ensemble_components(models)))
}

/// Writes a case's predicted masks as `DIR/<case>/<case>_<n>_mask.tif`.
pub fn save_masks(dir: &Path, case: &Case, mask: &[u8]) -> Result<()> {
    let out = dir.join(&case.id);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for (name, bytes) in case_mask_files(case, mask)? {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// What to evaluate, and how.
pub struct EvalJob {
    /// One model, or several whose probabilities are averaged (an ensemble).
    pub models: Vec<PathBuf>,
    pub data: PathBuf,
    pub cases: Option<PathBuf>,
    pub save_masks: Option<PathBuf>,
    pub backend: Backend,
    /// Overrides the models' inference sides.
    pub sizes: Sizes,
    pub infer: InferOptions,
    /// The components the native protocol keeps; None: what the (first) model's manifest says
    /// (the largest unless it names another rule). The reference protocol keeps the largest.
    pub components: Option<Components>,
    /// Also write every component of each native prediction here (CSV, largest first).
    pub components_csv: Option<PathBuf>,
    /// Also write each case's DSC in both protocols at every threshold of `SWEEP` here (CSV).
    pub threshold_sweep: Option<PathBuf>,
}

/// The thresholds `--threshold-sweep` scores: 0.05 to 0.95 in steps of 0.05 (the protocols'
/// 0.5 among them).
pub const SWEEP: [f32; 19] = [
    0.05, 0.10, 0.15, 0.20, 0.25, 0.30, 0.35, 0.40, 0.45, 0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80,
    0.85, 0.90, 0.95,
];

/// The header of `--threshold-sweep`; one row per case and threshold.
const SWEEP_HEADER: &str = "case,threshold,dsc_reference,dsc_native\n";

/// What one case adds to the optional CSVs besides its score row.
#[derive(Default)]
struct CaseExtras {
    components: String,
    sweep: String,
}

/// The header of `--components-csv`; one row per component of each case's native prediction.
const COMPONENTS_HEADER: &str = "case,rank,voxels,prob_sum,prob_max,prob_mean,voxels_in_truth,\
     truth_voxels,first_slice,last_slice,slices\n";

fn component_rows(case: &Case, stats: &[ComponentStats]) -> String {
    let truth: usize = case
        .mask_volume()
        .map_or(0, |m| m.iter().filter(|&&v| v != 0).count());
    stats
        .iter()
        .enumerate()
        .map(|(rank, c)| {
            format!(
                "{},{},{},{:.3},{:.4},{:.4},{},{truth},{},{},{}\n",
                case.id,
                rank + 1,
                c.voxels,
                c.prob_sum,
                c.prob_max,
                c.prob_sum / c.voxels.max(1) as f64,
                c.in_truth.unwrap_or(0),
                c.slices.0,
                c.slices.1,
                case.slices.len(),
            )
        })
        .collect()
}

/// Scores one case in both protocols (saving its native masks when asked), with its native
/// prediction's components and its threshold sweep as CSV rows when the job asks.
fn score_case(
    job: &EvalJob,
    models: &[(Manifest, Model)],
    case: &Case,
    device: &Device,
) -> Result<(ScoreRow, CaseExtras)> {
    let (ref_probs, ref_prep) =
        probabilities(models, case, PrepOptions::reference, device, job.infer)?;
    let reference = reference_dice(&ref_probs, &ref_prep).context("the case has no masks")?;
    let (probs, prep) = probabilities(models, case, PrepOptions::native, device, job.infer)?;
    let keep = job
        .components
        .unwrap_or_else(|| ensemble_components(models));
    let mask = native_mask(&probs, &prep, keep);
    let native = native_dice(&mask, case).context("the case has no masks")?;
    if let Some(dir) = &job.save_masks {
        save_masks(dir, case, &mask)?;
    }
    let mut extras = CaseExtras::default();
    if job.components_csv.is_some() {
        extras.components = component_rows(case, &native_component_stats(&probs, &prep, case));
    }
    if job.threshold_sweep.is_some() {
        let rows = threshold_sweep(&SWEEP, (&ref_probs, &ref_prep), (&probs, &prep), case)
            .context("the case has no masks")?;
        extras.sweep = rows
            .iter()
            .map(|(t, r, n)| format!("{},{t:.2},{r:.6},{n:.6}\n", case.id))
            .collect();
    }
    let row = ScoreRow {
        case: case.id.clone(),
        slices: Some(case.slices.len()),
        dsc_reference: Some(reference),
        dsc_native: Some(native),
    };
    Ok((row, extras))
}

/// Scores every case with masks (each printed as it is done); a case that fails is a warning.
pub fn eval(job: &EvalJob) -> Result<Vec<ScoreRow>> {
    let device = backend::device(job.backend)?;
    let models = load_all(&job.models, &device, &job.sizes)?;
    let wanted = job.cases.as_deref().map(read_case_list).transpose()?;
    let mut rows = Vec::new();
    let mut components = String::from(COMPONENTS_HEADER);
    let mut sweep = String::from(SWEEP_HEADER);
    for case in load_cases(&job.data, wanted)? {
        if !case.has_masks() {
            eprintln!(
                "warning: case {}: skipped, not every slice has a usable mask",
                case.id
            );
            continue;
        }
        match score_case(job, &models, &case, &device) {
            Ok((r, extras)) => {
                print_row(&r.case, r.slices, r.dsc_reference, r.dsc_native);
                rows.push(r);
                components.push_str(&extras.components);
                sweep.push_str(&extras.sweep);
            }
            Err(e) => eprintln!("warning: case {}: {e:#}", case.id),
        }
    }
    if rows.is_empty() {
        bail!(
            "no case with masks could be evaluated in {}",
            job.data.display()
        );
    }
    if let Some(path) = &job.components_csv {
        write_atomic(path, components.as_bytes())?;
    }
    if let Some(path) = &job.threshold_sweep {
        write_atomic(path, sweep.as_bytes())?;
    }
    Ok(rows)
}

/// The console table's header, then one line a row (`print_row`).
pub fn print_header() {
    println!(
        "{:<28} {:>6} {:>14} {:>11}",
        "case", "slices", "DSC reference", "DSC native"
    );
}

pub fn print_row(case: &str, slices: Option<usize>, reference: Option<f64>, native: Option<f64>) {
    let num = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.4}"));
    let slices = slices.map_or(String::new(), |s| s.to_string());
    println!(
        "{case:<28} {slices:>6} {:>14} {:>11}",
        num(reference),
        num(native)
    );
}

/// One protocol's column of the evaluated rows as a manifest's validation record.
pub fn validation(
    rows: &[ScoreRow],
    protocol: &str,
    pick: fn(&ScoreRow) -> Option<f64>,
) -> Result<Validation> {
    let cases: Vec<CaseScore> = rows
        .iter()
        .filter_map(|r| {
            pick(r).map(|dsc| CaseScore {
                case: r.case.clone(),
                dsc,
            })
        })
        .collect();
    let s = summarize(&cases.iter().map(|c| c.dsc).collect::<Vec<_>>())
        .with_context(|| format!("no case was scored in the {protocol} protocol"))?;
    Ok(Validation {
        protocol: protocol.into(),
        mean: s.mean,
        median: s.median,
        min: s.min,
        cases,
    })
}
