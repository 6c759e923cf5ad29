//! `train ship`: makes a trained model the one the web app ships. Copies the weights, records
//! the inference setting (flip TTA or not) in the manifest, and measures the validation figures
//! with exactly that setting, in both protocols, into the manifest: the numbers shown beside
//! the model are then the ones `train eval` and the page give.

use crate::backend::Backend;
use crate::evaluate::{EvalArgs, EvalRow, eval};
use crate::run::{write_atomic, write_model};
use anyhow::{Context, Result, bail};
use brainseg::inference::InferOptions;
use brainseg::manifest::{CaseScore, Validation};
use brainseg::metrics::summarize;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ShipArgs {
    /// Trained weights (`.bpk`, manifest `.json` beside them), e.g. runs/NAME/model.bpk. Give it
    /// more than once to ship an ensemble: the first is written to STEM, the others to STEM-2,
    /// STEM-3, … and STEM.json names them; `train eval`, `train predict` and the web app then run
    /// them all and average their probabilities (each at its own input size) on the first one's grid.
    #[arg(long, required = true)]
    model: Vec<PathBuf>,
    /// Output stem: writes STEM.bpk and STEM.json (e.g. web/models/default).
    #[arg(long)]
    out: PathBuf,
    /// Ship with flip test-time augmentation (every model of an ensemble).
    #[arg(long)]
    flip_tta: bool,
    /// Ship the model to run on N² inputs instead of the size it was trained at (the U-Net
    /// family is fully convolutional; the training size stays in the manifest's `training`).
    /// For an ensemble: one side for every model, or one per model in `--model` order.
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    input_size: Option<Vec<usize>>,
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
        cases: rows
            .iter()
            .map(|r| CaseScore {
                case: r.case.clone(),
                dsc: pick(r),
            })
            .collect(),
    }
}

/// Side for model `i` of `n` from `--input-size` (one for all, or one per model).
fn input_size(sides: Option<&[usize]>, i: usize, n: usize) -> Result<Option<usize>> {
    match sides {
        None => Ok(None),
        Some([one]) => Ok(Some(*one)),
        Some(list) if list.len() == n => Ok(Some(list[i])),
        Some(list) => bail!(
            "--input-size gives {} sides for {n} models: give one for all, or one per --model",
            list.len()
        ),
    }
}

/// How a model was trained, stage by stage, first stage first: a `fit --init` run starts from
/// earlier weights whose manifest (beside them) says how they were trained, and so on back to a
/// random start. Each stage is its manifest's `training` without its own earlier stages. Where an
/// earlier manifest is gone, the list starts with a `missing` entry naming it.
fn stages(training: &serde_json::Value) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut t = training.clone();
    loop {
        if let Some(obj) = t.as_object_mut() {
            obj.remove("stages");
        }
        let init = t["config"]["init"]
            .as_str()
            .map(|p| Path::new(p).with_extension("json"));
        out.push(t);
        // A chain longer than this is a cycle of manifests, not a training history.
        let Some(json) = init.filter(|_| out.len() < 64) else {
            break;
        };
        match std::fs::read_to_string(&json)
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        {
            Some(m) => t = m["training"].clone(),
            None => {
                eprintln!(
                    "warning: {} (an earlier training stage's manifest) cannot be read; the recorded stages start after it",
                    json.display()
                );
                out.push(serde_json::json!({ "missing": json }));
                break;
            }
        }
    }
    out.reverse();
    out
}

pub fn run(args: &ShipArgs) -> Result<()> {
    let n = args.model.len();
    // The stem as `write_model` writes it (STEM.bpk), so the members' names resolve beside it.
    let bpk = args.out.with_extension("bpk");
    let stem = bpk
        .file_stem()
        .and_then(|s| s.to_str())
        .with_context(|| format!("--out {}: no file name", args.out.display()))?;
    let members: Vec<String> = (2..=n).map(|k| format!("{stem}-{k}")).collect();
    let mut manifest = None;
    for (i, path) in args.model.iter().enumerate() {
        let mut m = crate::evaluate::read_manifest(path)?;
        if !m.ensemble.is_empty() {
            bail!(
                "{} is a shipped ensemble: give its members' weights to --model one by one",
                path.display()
            );
        }
        m.flip_tta = args.flip_tta;
        let history = stages(&m.training);
        if history.len() > 1 {
            if let Some(t) = m.training.as_object_mut() {
                t.insert("stages".into(), history.into());
            }
        }
        crate::evaluate::Sizes {
            input: input_size(args.input_size.as_deref(), i, n)?,
            tta: args.tta_sizes.clone(),
        }
        .apply(&mut m)?;
        let weights = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        if i == 0 {
            m.set_ensemble(members.clone())
                .map_err(anyhow::Error::msg)?;
            write_model(&args.out, &weights, &m)?;
            manifest = Some(m);
        } else {
            // A member's own figures were measured alone; the ensemble's go in the first manifest.
            m.validation = None;
            m.validation_native = None;
            write_model(&args.out.with_file_name(&members[i - 1]), &weights, &m)?;
        }
    }
    let mut manifest = manifest.context("no --model given")?;
    // Members of an ensemble shipped here before and not part of this one: the web build would
    // carry them along, and a reader of the folder would take them for part of this model.
    for k in n + 1.. {
        let stale = args.out.with_file_name(format!("{stem}-{k}"));
        let files: Vec<PathBuf> = ["bpk", "json"]
            .iter()
            .map(|e| stale.with_extension(e))
            .filter(|f| f.is_file())
            .collect();
        if files.is_empty() {
            break;
        }
        for f in files {
            std::fs::remove_file(&f)
                .with_context(|| format!("removing the earlier ensemble member {}", f.display()))?;
            eprintln!(
                "removed {} (a member of the ensemble shipped there before)",
                f.display()
            );
        }
    }

    // Measured on the shipped files, so the manifest's own setting is what gets applied.
    println!(
        "{:<28} {:>6} {:>14} {:>11}",
        "case", "slices", "DSC reference", "DSC native"
    );
    let rows = eval(&EvalArgs {
        models: vec![bpk.clone()],
        data: args.data.clone(),
        cases: Some(args.cases.clone()),
        csv: None,
        save_masks: None,
        backend: args.backend,
        sizes: Default::default(),
        infer: InferOptions {
            batch: 8,
            flip_tta: false,
        },
    })?;
    manifest.validation = Some(validation(&rows, "reference", |r| r.reference));
    manifest.validation_native = Some(validation(&rows, "native", |r| r.native));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    if let Some(t) = manifest.training.as_object_mut() {
        t.insert("ship_command".into(), command.into());
    }
    // Only the manifest changes now: the weights stay as written above.
    write_atomic(
        &args.out.with_extension("json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    let (r, n) = (
        manifest.validation.as_ref().expect("set"),
        manifest.validation_native.as_ref().expect("set"),
    );
    println!(
        "shipped {}{} ({}² inputs, flip TTA {}): val mean DSC {:.4} reference (median {:.4}, min {:.4}), {:.4} native (median {:.4}, min {:.4})",
        bpk.display(),
        if manifest.ensemble.is_empty() {
            String::new()
        } else {
            format!(" with {} (an ensemble)", manifest.ensemble.join(", "))
        },
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
