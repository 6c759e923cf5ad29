//! `train eval`: score models on cases with masks, in both protocols; per-case table on the
//! console, optionally as CSV (`brainseg::scores`) and the predicted masks as TIFFs.

use super::InferArgs;
use crate::atomic::write_atomic;
use crate::evaluation::{EvalJob, eval, print_header, print_row};
use anyhow::Result;
use brainseg::metrics::Summary;
use brainseg::postprocess::Components;
use brainseg::scores::{ScoreRow, summaries, write_csv};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Weights (`.bpk`) with their manifest beside them (`.json`). Give it more than once
    /// for an ensemble: the models' probabilities are averaged before thresholding. A shipped
    /// ensemble (`train ship` with several models) brings its members.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    #[arg(long)]
    data: PathBuf,
    /// Only these cases (one ID a line).
    #[arg(long)]
    cases: Option<PathBuf>,
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Write predicted masks as DIR/<case>/<case>_<n>_mask.tif.
    #[arg(long)]
    save_masks: Option<PathBuf>,
    /// Which 3-D components the native protocol keeps: `largest` (the protocols' rule),
    /// `most-probable` (largest summed probability), `relative:F` (every component of at least
    /// F × the largest's size) or `all`. Default: the model's manifest's setting (`train ship
    /// --components`; the largest when it names none). The reference protocol always keeps the
    /// largest.
    #[arg(long, value_name = "RULE")]
    components: Option<Components>,
    /// Also write every 3-D component of each case's native prediction (before selection) as
    /// CSV, largest first: voxels, summed / highest / mean probability, voxels in the ground
    /// truth; to study which component a selection rule should keep.
    #[arg(long)]
    components_csv: Option<PathBuf>,
    /// Also write each case's DSC in both protocols (largest component) at thresholds 0.05,
    /// 0.10, …, 0.95 instead of the protocols' 0.5, as CSV (case, threshold, dsc_reference,
    /// dsc_native); to choose a threshold by cross-validation (scripts/analysis/threshold-cv.py).
    #[arg(long)]
    threshold_sweep: Option<PathBuf>,
    #[command(flatten)]
    infer: InferArgs,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    print_header();
    let rows = eval(&EvalJob {
        models: args.model.clone(),
        data: args.data.clone(),
        cases: args.cases.clone(),
        save_masks: args.save_masks.clone(),
        backend: args.infer.backend,
        sizes: args.infer.sizes(),
        infer: args.infer.options(),
        components: args.components,
        components_csv: args.components_csv.clone(),
        threshold_sweep: args.threshold_sweep.clone(),
    })?;
    print_summary(&rows);
    if let Some(csv) = &args.csv {
        write_atomic(csv, write_csv(&rows)?.as_bytes())?;
    }
    Ok(())
}

fn print_summary(rows: &[ScoreRow]) {
    let (r, n) = summaries(rows);
    let pick = |s: &Option<Summary>, f: fn(&Summary) -> f64| s.as_ref().map(f);
    print_row("mean", None, pick(&r, |s| s.mean), pick(&n, |s| s.mean));
    print_row(
        "median",
        None,
        pick(&r, |s| s.median),
        pick(&n, |s| s.median),
    );
    print_row("min", None, pick(&r, |s| s.min), pick(&n, |s| s.min));
}
