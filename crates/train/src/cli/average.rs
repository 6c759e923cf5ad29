//! `train average`: one model whose weights are the mean of several models' weights ("model
//! soup", stochastic weight averaging). Checkpoints of one run that lie in the same basin average
//! to a flatter, usually better point; the result is a single model, so it costs the web app
//! nothing (an ensemble would double its time and its download).
//!
//! Every float tensor is averaged, BatchNorm running statistics included (burn visits them as
//! float parameters). That is the usual approximation for checkpoints of one run; the averaged
//! model is measured afterwards like any other (`train eval`, `train ship`).

use crate::model_io::{read_manifest, write_model};
use anyhow::{Context, Result, bail};
use brainseg::manifest::{Manifest, Precision};
use brainseg::model::Model;
use brainseg::model_io::{load_model, weights_to_bytes};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct AverageArgs {
    /// Weights to average (`.bpk`), two or more. Each needs its manifest (`.json`) beside it,
    /// unless --manifest describes them (a run's checkpoints have none of their own).
    #[arg(long, required = true, num_args = 1)]
    model: Vec<PathBuf>,
    /// Manifest for inputs that have none beside them (a run's checkpoints, read as f32 as fit
    /// writes them), e.g. the run's best.json or model.json.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Output stem: writes STEM.bpk (half precision, as the trainer exports) and STEM.json.
    #[arg(long)]
    out: PathBuf,
}

/// Collects a model's float tensors in visiting order.
struct Collect(Vec<TensorData>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().into_data());
    }
}

/// Adds collected tensors (same visiting order) to a model's, or scales its tensors.
enum Op {
    Add(std::vec::IntoIter<TensorData>),
    Scale(f32),
}

impl ModuleMapper for Op {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self {
            Op::Add(others) => {
                let other = others
                    .next()
                    .expect("models of one configuration have the same tensors");
                param.map(|t| {
                    let device = t.device();
                    t + Tensor::from_data(other, &device)
                })
            }
            Op::Scale(s) => {
                let s = *s;
                param.map(|t| t * s)
            }
        }
    }
}

/// The element-wise mean of models built from one configuration.
pub fn average(models: Vec<Model>) -> Model {
    let n = models.len();
    let mut models = models.into_iter();
    let mut sum = models.next().expect("at least one model");
    for m in models {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        sum = sum.map(&mut Op::Add(c.0.into_iter()));
    }
    sum.map(&mut Op::Scale(1.0 / n as f32))
}

fn manifest_of(path: &Path, fallback: Option<&Manifest>) -> Result<Manifest> {
    if path.with_extension("json").exists() {
        return read_manifest(path);
    }
    // Bare files are fit's checkpoints, which it always writes in f32, whatever precision the
    // given manifest records (model.json says f16): reading them as f16 would fail.
    let m = fallback
        .with_context(|| format!("{}: no manifest beside it; give --manifest", path.display()))?;
    Ok(Manifest {
        precision: Precision::F32,
        // Not the checkpoint's digest: the given manifest's weights are another file.
        weights_sha256: None,
        ..m.clone()
    })
}

/// Loads the inputs, checking that they share one configuration: their manifests (first
/// input's first) and models.
fn load_inputs(args: &AverageArgs, device: &Device) -> Result<(Vec<Manifest>, Vec<Model>)> {
    let fallback = args.manifest.as_deref().map(read_manifest).transpose()?;
    let (mut manifests, mut models) = (Vec::<Manifest>::new(), Vec::new());
    for path in &args.model {
        let manifest = manifest_of(path, fallback.as_ref())?;
        if let Some(f) = manifests.first()
            && (f.model != manifest.model || f.input_size != manifest.input_size)
        {
            bail!(
                "{} holds {:?} at {}², but {} holds {:?} at {}²: only models of one configuration can be averaged",
                path.display(),
                manifest.model,
                manifest.input_size,
                args.model[0].display(),
                f.model,
                f.input_size
            );
        }
        if let Some(f) = manifests.first()
            && f.preprocessing_version != manifest.preprocessing_version
        {
            bail!(
                "{} was trained on preprocessing version {}, {} on {}: their weights do not average",
                path.display(),
                manifest.preprocessing_version,
                args.model[0].display(),
                f.preprocessing_version
            );
        }
        let bytes =
            std::fs::read(path).with_context(|| format!("model weights {}", path.display()))?;
        models.push(load_model(
            &manifest,
            bytes,
            device,
            &path.display().to_string(),
        )?);
        manifests.push(manifest);
    }
    Ok((manifests, models))
}

pub fn run(args: &AverageArgs) -> Result<()> {
    if args.model.len() < 2 {
        bail!("give at least two --model to average");
    }
    let device = crate::backend::device(crate::backend::Backend::Flex)?;
    let (manifests, models) = load_inputs(args, &device)?;
    // How each input was trained, in input order: a soup of different runs (a shipped model and
    // its fine-tuning on a GPU) keeps the record of all of them, not of the first only.
    let trainings: Vec<serde_json::Value> = manifests.iter().map(|m| m.training.clone()).collect();
    let base = manifests.into_iter().next().context("two or more models")?;
    let averaged = average(models);
    let manifest = Manifest {
        precision: Precision::F16,
        // Measured afresh: the inputs' figures do not carry over (`train eval` / `train ship`).
        validation: None,
        validation_native: None,
        cross_validation: None,
        weights_sha256: None,
        // An average is one model, whatever the first input shipped with.
        ensemble: Vec::new(),
        training: serde_json::json!({
            "command": super::command_line(),
            "averaged": args.model,
            "inputs_training": trainings,
        }),
        ..base
    };
    let weights = weights_to_bytes(&averaged, manifest.precision)?;
    let bpk = write_model(&args.out, &weights, &manifest)?;
    println!(
        "averaged {} models into {}",
        args.model.len(),
        bpk.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainseg::model::{Arch, ModelConfig};

    fn tensors(m: &Model) -> Vec<Vec<f32>> {
        let mut c = Collect(Vec::new());
        m.visit(&mut c);
        c.0.into_iter()
            .map(|d| d.try_to_vec::<f32>().expect("f32 weights"))
            .collect()
    }

    #[test]
    fn the_average_is_the_element_wise_mean_of_every_tensor() {
        let device = Device::flex();
        let cfg = ModelConfig {
            levels: 2,
            ..ModelConfig::new(Arch::Unet, 4)
        };
        // Three independently initialised models differ; their average is their mean everywhere.
        let models: Vec<Model> = (0..3).map(|_| cfg.init(&device).unwrap()).collect();
        let inputs: Vec<Vec<Vec<f32>>> = models.iter().map(tensors).collect();
        assert_ne!(inputs[0], inputs[1]);
        let avg = tensors(&average(models));
        assert_eq!(avg.len(), inputs[0].len());
        for (t, out) in avg.iter().enumerate() {
            for (i, v) in out.iter().enumerate() {
                let mean = (inputs[0][t][i] + inputs[1][t][i] + inputs[2][t][i]) / 3.0;
                assert!(
                    (v - mean).abs() < 1e-5,
                    "tensor {t} element {i}: {v} vs {mean}"
                );
            }
        }
    }
}
