//! `train eval` and `train predict`: run an exported model over a data folder.

use crate::backend::{self, Backend};
use anyhow::{Context, Result, anyhow, bail};
use brainseg::eval::{native_dice, native_mask, reference_dice};
use brainseg::inference::{InferOptions, predict_ensemble};
use brainseg::ingest::Case;
use brainseg::manifest::{Manifest, load_model};
use brainseg::metrics::summarize;
use brainseg::model::Model;
use brainseg::naming::mask_file_name;
use brainseg::preprocess::PrepOptions;
use brainseg::tiff_io::{Mask, encode_mask};
use burn::prelude::Device;
use std::path::{Path, PathBuf};

/// Reads the manifest `FILE.json` of weights `FILE.bpk`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let json = path.with_extension("json");
    let text = std::fs::read_to_string(&json)
        .with_context(|| format!("model manifest {}", json.display()))?;
    Manifest::from_json(&text).map_err(|e| anyhow!("{}: {e}", json.display()))
}

/// Loads `FILE.bpk` with its manifest `FILE.json`.
pub fn load(path: &Path, device: &Device) -> Result<(Manifest, Model)> {
    let manifest = read_manifest(path)?;
    let bytes = std::fs::read(path).with_context(|| format!("model weights {}", path.display()))?;
    let model =
        load_model(&manifest, bytes, device).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((manifest, model))
}

/// Inference sides given on the command line (`--input-size`, `--tta-sizes`), overriding the
/// manifest's.
#[derive(Debug, Clone, Default)]
pub struct Sizes {
    pub input: Option<usize>,
    pub tta: Option<Vec<usize>>,
}

impl Sizes {
    pub fn apply(&self, manifest: &mut Manifest) -> Result<()> {
        if let Some(n) = self.input {
            manifest
                .set_input_size(n)
                .map_err(|e| anyhow!("--input-size {n}: {e}"))?;
        }
        if let Some(t) = &self.tta {
            manifest
                .set_tta_sizes(t.clone())
                .map_err(|e| anyhow!("--tta-sizes: {e}"))?;
        }
        Ok(())
    }
}

/// Loads `FILE.bpk` and, when its manifest names ensemble members (a shipped ensemble), those
/// beside it, first model first.
pub fn load_with_members(path: &Path, device: &Device) -> Result<Vec<(Manifest, Model)>> {
    let first = load(path, device)?;
    let mut all = Vec::new();
    for name in &first.0.ensemble {
        let file = path.with_file_name(format!("{name}.bpk"));
        let member = load(&file, device)
            .with_context(|| format!("ensemble member {name:?} of {}", path.display()))?;
        member
            .0
            .check_member()
            .map_err(|e| anyhow!("{}: {e}", file.display()))?;
        all.push(member);
    }
    all.insert(0, first);
    Ok(all)
}

/// Loads the models of an ensemble (or one; a shipped ensemble brings its members), with the
/// command line's `sizes` applied to each.
fn load_all(paths: &[PathBuf], device: &Device, sizes: &Sizes) -> Result<Vec<(Manifest, Model)>> {
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
) -> Result<(Vec<f32>, brainseg::preprocess::Prepared)> {
    let run = predict_ensemble(models, case, prep, device, infer, |_, _| async { true });
    Ok(pollster::block_on(run)
        .map_err(anyhow::Error::msg)?
        .expect("never cancelled"))
}

/// Native-protocol prediction of a case on its original grid.
fn predict_native(
    models: &[(Manifest, Model)],
    case: &Case,
    device: &Device,
    infer: InferOptions,
) -> Result<Vec<u8>> {
    let (probs, prep) = probabilities(models, case, PrepOptions::native, device, infer)?;
    Ok(native_mask(&probs, &prep))
}

fn save_masks(dir: &Path, case: &Case, mask: &[u8]) -> Result<()> {
    let out = dir.join(&case.id);
    std::fs::create_dir_all(&out)?;
    let (h, w) = (case.height(), case.width());
    for (s, m) in case.slices.iter().zip(mask.chunks(h * w)) {
        let bytes = encode_mask(&Mask {
            width: w,
            height: h,
            data: m.to_vec(),
        })
        .map_err(anyhow::Error::msg)?;
        std::fs::write(out.join(mask_file_name(&case.id, s.number)), bytes)?;
    }
    Ok(())
}

pub struct EvalArgs {
    /// One model, or several whose probabilities are averaged (an ensemble).
    pub models: Vec<PathBuf>,
    pub data: PathBuf,
    pub cases: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub save_masks: Option<PathBuf>,
    pub backend: Backend,
    /// Overrides the models' inference sides.
    pub sizes: Sizes,
    pub infer: InferOptions,
}

pub struct EvalRow {
    pub case: String,
    pub slices: usize,
    pub reference: f64,
    pub native: f64,
}

pub fn eval(args: &EvalArgs) -> Result<Vec<EvalRow>> {
    let device = backend::device(args.backend)?;
    let models = load_all(&args.models, &device, &args.sizes)?;
    let wanted = args
        .cases
        .as_deref()
        .map(crate::pipeline::read_case_list)
        .transpose()?;
    let mut rows = Vec::new();
    for case in crate::pipeline::load_cases(&args.data, wanted)? {
        if !case.has_masks() {
            eprintln!(
                "warning: case {}: skipped, not every slice has a usable mask",
                case.id
            );
            continue;
        }
        let result = (|| -> Result<EvalRow> {
            let (probs, prep) =
                probabilities(&models, &case, PrepOptions::reference, &device, args.infer)?;
            let reference = reference_dice(&probs, &prep).expect("case has masks");
            let mask = predict_native(&models, &case, &device, args.infer)?;
            let native = native_dice(&mask, &case).expect("case has masks");
            if let Some(dir) = &args.save_masks {
                save_masks(dir, &case, &mask)?;
            }
            Ok(EvalRow {
                case: case.id.clone(),
                slices: case.slices.len(),
                reference,
                native,
            })
        })();
        match result {
            Ok(r) => {
                println!(
                    "{:<28} {:>6} {:>14.4} {:>11.4}",
                    r.case, r.slices, r.reference, r.native
                );
                rows.push(r);
            }
            Err(e) => eprintln!("warning: case {}: {e:#}", case.id),
        }
    }
    if rows.is_empty() {
        bail!(
            "no case with masks could be evaluated in {}",
            args.data.display()
        );
    }
    Ok(rows)
}

pub fn run_eval(args: &EvalArgs) -> Result<()> {
    println!(
        "{:<28} {:>6} {:>14} {:>11}",
        "case", "slices", "DSC reference", "DSC native"
    );
    let rows = eval(args)?;
    let r = summarize(&rows.iter().map(|r| r.reference).collect::<Vec<_>>()).expect("rows");
    let n = summarize(&rows.iter().map(|r| r.native).collect::<Vec<_>>()).expect("rows");
    println!("{:<28} {:>6} {:>14.4} {:>11.4}", "mean", "", r.mean, n.mean);
    println!(
        "{:<28} {:>6} {:>14.4} {:>11.4}",
        "median", "", r.median, n.median
    );
    println!("{:<28} {:>6} {:>14.4} {:>11.4}", "min", "", r.min, n.min);
    if let Some(csv) = &args.csv {
        let mut out = String::from("case,slices,dsc_reference,dsc_native\n");
        for row in &rows {
            out.push_str(&format!(
                "{},{},{:.6},{:.6}\n",
                row.case, row.slices, row.reference, row.native
            ));
        }
        out.push_str(&format!(
            "mean,,{:.6},{:.6}\nmedian,,{:.6},{:.6}\n",
            r.mean, n.mean, r.median, n.median
        ));
        std::fs::write(csv, out).with_context(|| format!("writing {}", csv.display()))?;
    }
    Ok(())
}

pub fn run_predict(
    model_path: &Path,
    input: &Path,
    out: &Path,
    backend: Backend,
    sizes: &Sizes,
    infer: InferOptions,
) -> Result<()> {
    let device = backend::device(backend)?;
    let models = load_all(
        std::slice::from_ref(&model_path.to_path_buf()),
        &device,
        sizes,
    )?;
    let mut done = 0;
    for case in crate::pipeline::load_cases(input, None)? {
        match predict_native(&models, &case, &device, infer)
            .and_then(|m| save_masks(out, &case, &m).map(|_| m))
        {
            Ok(m) => {
                let voxels = m.iter().filter(|&&v| v != 0).count();
                println!(
                    "{}: {} slices, {} lesion voxels predicted -> {}",
                    case.id,
                    case.slices.len(),
                    voxels,
                    out.join(&case.id).display()
                );
                done += 1;
            }
            Err(e) => eprintln!("warning: case {}: {e:#}", case.id),
        }
    }
    if done == 0 {
        bail!("no case could be predicted from {}", input.display());
    }
    Ok(())
}
