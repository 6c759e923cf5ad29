//! `train ship`: makes a trained model the one the web app ships. Copies the weights, records
//! the inference setting (flip TTA or not) in the manifest, and measures the validation figures
//! with exactly that setting, in both protocols, into the manifest: the numbers shown beside
//! the model are then the ones `train eval` and the page give.

use crate::backend::Backend;
use crate::evaluate::{EvalArgs, EvalRow, eval};
use crate::run::{write_atomic, write_model};
use anyhow::{Context, Result};
use brainseg::inference::InferOptions;
use brainseg::manifest::{CaseScore, Validation};
use brainseg::metrics::summarize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct ShipArgs {
    /// Trained weights (`.bpk`, manifest `.json` beside them), e.g. runs/NAME/model.bpk.
    #[arg(long)]
    model: PathBuf,
    /// Output stem: writes STEM.bpk and STEM.json (e.g. web/models/default).
    #[arg(long)]
    out: PathBuf,
    /// Ship with flip test-time augmentation.
    #[arg(long)]
    flip_tta: bool,
    /// Ship the model to run on N² inputs instead of the size it was trained at (the U-Net
    /// family is fully convolutional; the training size stays in the manifest's `training`).
    #[arg(long, value_name = "N")]
    input_size: Option<usize>,
    /// Ship with scale test-time augmentation at these further sides (see `train eval`).
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    tta_sizes: Option<Vec<usize>>,
    /// Data folder holding the validation cases.
    #[arg(long)]
    data: PathBuf,
    /// Validation cases (one ID a line), e.g. ../shared/data/patients-val.txt.
    #[arg(long)]
    cases: PathBuf,
    #[arg(long, value_enum, default_value = "flex")]
    backend: Backend,
}

fn validation(rows: &[EvalRow], protocol: &str, pick: fn(&EvalRow) -> f64) -> Validation {
    let values: Vec<f64> = rows.iter().map(pick).collect();
    let s = summarize(&values).expect("eval returns at least one row");
    Validation {
        protocol: protocol.into(),
        mean: s.mean,
        median: s.median,
        min: s.min,
        cases: rows.iter().map(|r| CaseScore { case: r.case.clone(), dsc: pick(r) }).collect(),
    }
}

pub fn run(args: &ShipArgs) -> Result<()> {
    let mut manifest = crate::evaluate::read_manifest(&args.model)?;
    manifest.flip_tta = args.flip_tta;
    crate::evaluate::Sizes { input: args.input_size, tta: args.tta_sizes.clone() }.apply(&mut manifest)?;
    let weights = std::fs::read(&args.model).with_context(|| format!("reading {}", args.model.display()))?;
    let bpk = write_model(&args.out, &weights, &manifest)?;

    // Measured on the shipped files, so the manifest's own setting is what gets applied.
    println!("{:<28} {:>6} {:>14} {:>11}", "case", "slices", "DSC reference", "DSC native");
    let rows = eval(&EvalArgs {
        models: vec![bpk.clone()],
        data: args.data.clone(),
        cases: Some(args.cases.clone()),
        csv: None,
        save_masks: None,
        backend: args.backend,
        sizes: Default::default(),
        infer: InferOptions { batch: 8, flip_tta: false },
    })?;
    manifest.validation = Some(validation(&rows, "reference", |r| r.reference));
    manifest.validation_native = Some(validation(&rows, "native", |r| r.native));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(t) = manifest.training.as_object_mut() {
        t.insert("ship_command".into(), command.into());
    }
    // Only the manifest changes now: the weights stay as written above.
    write_atomic(&args.out.with_extension("json"), serde_json::to_string_pretty(&manifest)?.as_bytes())?;
    let (r, n) = (manifest.validation.as_ref().expect("set"), manifest.validation_native.as_ref().expect("set"));
    println!(
        "shipped {} ({}² inputs, flip TTA {}): val mean DSC {:.4} reference (median {:.4}, min {:.4}), {:.4} native (median {:.4}, min {:.4})",
        bpk.display(),
        manifest.input_size,
        if args.flip_tta { "on" } else { "off" },
        r.mean,
        r.median,
        r.min,
        n.mean,
        n.median,
        n.min
    );
    Ok(())
}
