//! Distillation (`--teacher`, `--distill W`): the student also fits the averaged probabilities
//! of trained models (say, an ensemble's members) on each training batch, as it sees the batch
//! after augmentation: its loss is the run's loss against the masks plus W × the binary
//! cross-entropy between its probabilities and the teachers' mean. Cross-entropy against a soft
//! target is smallest where the student's probability equals the teachers', so the term passes
//! on where the teachers are unsure; a Dice term would round their mean to a mask.

use super::config::FitConfig;
use crate::model_io::load_with_members;
use anyhow::{Context, Result, bail};
use brainseg::model::Model;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;

/// The teacher models of a run (on the inference device: no gradients) and the term's weight.
pub struct Teachers {
    models: Vec<Model>,
    pub weight: f64,
    device: Device,
}

impl Teachers {
    /// The run's teachers, or `None` when it has none. A shipped ensemble given as a teacher
    /// brings its members. Refused: teachers without a weight or a weight without teachers, and
    /// teachers whose inputs differ from the run's (side, preprocessing, 2.5-D context): they
    /// are fed the student's batch as it is.
    pub fn load(cfg: &FitConfig, device: &Device) -> Result<Option<Teachers>> {
        let weight = match (cfg.teacher.is_empty(), cfg.distill) {
            (true, None) => return Ok(None),
            (false, Some(w)) => w,
            (true, Some(_)) => bail!(
                "--distill needs teachers: --teacher MODEL (or, in `train cv`, --teacher-cv CV)"
            ),
            (false, None) => {
                bail!("--teacher needs --distill W, the weight of the teachers' term")
            }
        };
        if !(weight.is_finite() && weight > 0.0) {
            bail!("--distill must be a positive number, not {weight}");
        }
        let mut models = Vec::new();
        for path in &cfg.teacher {
            let what = || format!("--teacher {}", path.display());
            for (m, model) in load_with_members(path, device).with_context(what)? {
                let mismatch = if m.input_size != cfg.size {
                    Some(format!("input {}², the run's {}²", m.input_size, cfg.size))
                } else if m.preprocessing_version != cfg.preprocessing {
                    Some(format!(
                        "preprocessing {}, the run's {}",
                        m.preprocessing_version, cfg.preprocessing
                    ))
                } else if m.model.context != cfg.context {
                    Some(format!(
                        "context {}, the run's {}",
                        m.model.context, cfg.context
                    ))
                } else {
                    None
                };
                if let Some(why) = mismatch {
                    bail!(
                        "{}: the teacher sees other inputs than the student ({why})",
                        what()
                    );
                }
                models.push(model);
            }
        }
        eprintln!(
            "distilling: {} teacher model(s), weight {weight}",
            models.len()
        );
        Ok(Some(Teachers {
            models,
            weight,
            device: device.clone(),
        }))
    }

    /// The teachers' mean probability on a batch (`x` as the student gets it, `shape` its
    /// `[B, C, H, W]`), placed on `out` (the student's device) as a constant.
    pub fn target(&self, x: &[f32], shape: [usize; 4], out: &Device) -> Result<Tensor<4>> {
        let input = Tensor::<4>::from_data(TensorData::new(x.to_vec(), shape), &self.device);
        let mut sum: Option<Tensor<4>> = None;
        for model in &self.models {
            let p = sigmoid(model.forward(input.clone()));
            sum = Some(match sum {
                None => p,
                Some(s) => s + p,
            });
        }
        let mean = sum.context("no teacher model")? / self.models.len() as f32;
        Ok(Tensor::from_data(mean.into_data(), out))
    }
}
