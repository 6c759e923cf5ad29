//! `model.json`: what the exported weights are and how well they did. The trainer writes it,
//! the web app and `train eval` read it.

use crate::model_config::{ModelConfig, ModelError};
use crate::postprocess::Components;
use serde::{Deserialize, Serialize};

/// Largest input side a manifest may ask for: 4× the data set's 256² slices. A larger side
/// would make one slice's activations gigabytes; refused before anything is allocated.
pub const MAX_INPUT_SIDE: usize = 1024;
/// Most scale-TTA sides or ensemble members one manifest may name: each is one more pass over
/// every slice.
pub const MAX_EXTRA_PASSES: usize = 8;

/// Why a manifest (or a setting applied to it) is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("invalid model manifest: {0}")]
    Json(String),
    #[error(
        "model was trained with preprocessing version {found}, this build has versions 1 to {latest}"
    )]
    PreprocessingVersion { found: u32, latest: u32 },
    #[error("model: {0}")]
    Model(#[from] ModelError),
    #[error("input size {size}: {reason}")]
    InputSize { size: usize, reason: SideError },
    #[error("tta_sizes: {0}")]
    TtaSizes(String),
    #[error("ensemble: {0}")]
    Ensemble(String),
    #[error("an ensemble member cannot name members of its own")]
    NestedEnsemble,
    #[error("weights_sha256 {0:?} is not 64 lowercase hexadecimal digits")]
    Digest(String),
}

/// The SHA-256 of `bytes` as 64 lowercase hexadecimal digits (a manifest's `weights_sha256`).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Why a side (input or scale-TTA) does not suit a model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SideError {
    #[error("this model takes sides that are positive multiples of {0} (2^levels)")]
    NotMultiple(usize),
    #[error("sides above {MAX_INPUT_SIDE} are not supported")]
    TooLarge,
}

/// Stored precision of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    /// Convolution kernels as 8-bit integers with per-channel scales (`quantized`).
    Q8,
    /// Convolution kernels as 4-bit integers with an f16 step per group of 64 (`quantized`).
    Q4,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseScore {
    pub case: String,
    pub dsc: f64,
}

/// Validation figures recorded with a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    /// `reference` or `native` (see the README's protocols).
    pub protocol: String,
    pub mean: f64,
    pub median: f64,
    pub min: f64,
    pub cases: Vec<CaseScore>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub model: ModelConfig,
    /// Side N of the model's input.
    pub input_size: usize,
    pub preprocessing_version: u32,
    pub precision: Precision,
    #[serde(default)]
    pub validation: Option<Validation>,
    /// The same validation in the native protocol, when measured (`train ship` does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation_native: Option<Validation>,
    /// Out-of-fold figures of the recipe that trained this model (`train cv`, recorded by
    /// `train ship --cv`), when it was cross-validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
    /// Inference setting the model ships with: flip test-time augmentation. The web app and
    /// `train eval`/`predict` apply it, so the figures above are the ones users get.
    #[serde(default)]
    pub flip_tta: bool,
    /// Inference setting: scale test-time augmentation. The model also runs on inputs of these
    /// sides; their probabilities, resized to `input_size`, are averaged with its own. Empty: off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tta_sizes: Vec<usize>,
    /// Inference setting: which 3-D components of the thresholded prediction the product keeps
    /// (the web app, `train eval`'s native protocol, `train predict`). Absent: the largest, as
    /// the protocols prescribe. The reference protocol always keeps the largest.
    #[serde(default, skip_serializing_if = "Components::is_largest")]
    pub components: Components,
    /// Further members of an ensemble shipped with this model: the names (file stems) of weights
    /// in the same folder, each with its own manifest (model, input size, TTA). Their
    /// probabilities, each at its own input size, are averaged with this model's on its grid
    /// (`inference::predict_ensemble`), and the validation figures above are the ensemble's.
    /// Empty: this model alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ensemble: Vec<String>,
    /// The training command and full configuration (free-form, from the trainer).
    #[serde(default)]
    pub training: serde_json::Value,
    /// SHA-256 of the weights file beside this manifest (`train ship` records it): loaders
    /// refuse weights that do not match, and the web app keys its cached copy by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights_sha256: Option<String>,
}

/// A recipe's k-fold cross-validation: k runs of it, each trained without one fold of cases and
/// scored on that fold, so every case's DSC comes from a model that never saw it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    pub folds: usize,
    /// Cases in the folds file (the figures cover those scored so far: `reference.cases`).
    pub cases: usize,
    /// Which weights of each fold's run were scored: `last` (nothing chosen on held-out cases)
    /// or `best` (the epoch best on them: optimistic).
    pub weights: String,
    /// The fold whose run this model is, when it is one of them: its own validation cases
    /// were then held out of its training.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_fold: Option<usize>,
    pub reference: Validation,
    pub native: Validation,
    /// Further cross-validations of the same recipe over the same folds, trained again with
    /// other seeds (`train ship --cv-draw`). One run's figure is one draw: initial weights and
    /// sampling move it by about 0.01 here, so a recipe's figure is the mean over its draws.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other_draws: Vec<CrossValidationDraw>,
    /// For an ensemble's cross-validation (`train cv-ensemble`): its members, one
    /// cross-validation per member recipe over the same folds, each with its own figures. The
    /// figures above are then the ensemble's: each fold's member models' probabilities averaged
    /// on that fold's held-out cases. Empty: one recipe's cross-validation.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<CrossValidationDraw>,
    /// The precision the fold models' weights were stored at before they were scored (`train
    /// cv-ensemble --precision`), so that the figure is of the weights as shipped. `None`: as
    /// trained (f32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<Precision>,
}

/// One more cross-validation of a recipe (see `CrossValidation::other_draws`), or one member of
/// an ensemble's (`CrossValidation::members`): its summary figures; the per-case rows stay in
/// its run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidationDraw {
    /// The `train cv` folder's name.
    pub run: String,
    /// Its `--seed`.
    pub seed: u64,
    pub reference: Figures,
    pub native: Figures,
}

/// A set of cases' DSC in one protocol, without the rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub mean: f64,
    pub median: f64,
    pub min: f64,
}

impl From<&Validation> for Figures {
    fn from(v: &Validation) -> Self {
        Figures {
            mean: v.mean,
            median: v.median,
            min: v.min,
        }
    }
}

/// A recipe's cross-validated mean DSC over its draws (reference protocol).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawSpread {
    pub draws: usize,
    pub mean: f64,
    /// Sample standard deviation between the draws' means (0 for one draw).
    pub sd: f64,
    pub lowest: f64,
    pub highest: f64,
}

impl CrossValidation {
    /// The reference-protocol means of this record and its other draws, summarised.
    pub fn spread(&self) -> DrawSpread {
        let means: Vec<f64> = std::iter::once(self.reference.mean)
            .chain(self.other_draws.iter().map(|d| d.reference.mean))
            .collect();
        let n = means.len() as f64;
        let mean = means.iter().sum::<f64>() / n;
        let sd = if means.len() > 1 {
            (means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        } else {
            0.0
        };
        DrawSpread {
            draws: means.len(),
            mean,
            sd,
            lowest: means.iter().copied().fold(f64::INFINITY, f64::min),
            highest: means.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        }
    }
}

impl Manifest {
    /// A manifest for `model` at `input_size`² inputs, without figures, TTA, members or training
    /// record: the fields a caller sets are the ones it knows.
    pub fn new(model: ModelConfig, input_size: usize, precision: Precision) -> Self {
        Manifest {
            model,
            input_size,
            preprocessing_version: crate::preprocess::PREPROCESSING_VERSION,
            precision,
            validation: None,
            validation_native: None,
            cross_validation: None,
            flip_tta: false,
            tta_sizes: Vec::new(),
            components: Components::Largest,
            ensemble: Vec::new(),
            training: serde_json::Value::Null,
            weights_sha256: None,
        }
    }

    /// Whether the model trained on its validation cases (`train fit --train-on-val`, in any
    /// stage or averaged run of its training record): its validation figures are then of seen
    /// cases, and what shows them must say so.
    pub fn trained_on_validation_cases(&self) -> bool {
        fn seen(training: &serde_json::Value) -> bool {
            let nested = |key: &str| {
                training
                    .get(key)
                    .and_then(serde_json::Value::as_array)
                    .is_some_and(|list| list.iter().any(seen))
            };
            training["config"]["train_on_val"].as_bool() == Some(true)
                || nested("stages")
                || nested("inputs_training")
        }
        seen(&self.training)
    }

    /// Parses and checks a manifest: every field is validated before it is used (the model's
    /// shape first, since the side checks derive from it), so a malformed file gives an error,
    /// never a panic or a huge allocation.
    pub fn from_json(text: &str) -> Result<Self, ManifestError> {
        let mut m: Manifest =
            serde_json::from_str(text).map_err(|e| ManifestError::Json(e.to_string()))?;
        if !crate::preprocess::supports_version(m.preprocessing_version) {
            return Err(ManifestError::PreprocessingVersion {
                found: m.preprocessing_version,
                latest: crate::preprocess::CENTRAL_STATISTICS,
            });
        }
        m.model.validate()?;
        m.set_input_size(m.input_size)?;
        let sizes = std::mem::take(&mut m.tta_sizes);
        m.set_tta_sizes(sizes)?;
        let members = std::mem::take(&mut m.ensemble);
        m.set_ensemble(members)?;
        if let Some(d) = &m.weights_sha256 {
            let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
            if d.len() != 64 || !d.chars().all(hex) {
                return Err(ManifestError::Digest(d.clone()));
            }
        }
        Ok(m)
    }

    /// Sets the ensemble's further members (see `ensemble`): plain file stems beside this
    /// model's own file, so a manifest can only name files in its own folder.
    pub fn set_ensemble(&mut self, members: Vec<String>) -> Result<(), ManifestError> {
        let err = |m: String| Err(ManifestError::Ensemble(m));
        if members.len() > MAX_EXTRA_PASSES {
            return err(format!(
                "{} members; at most {MAX_EXTRA_PASSES}",
                members.len()
            ));
        }
        for (i, name) in members.iter().enumerate() {
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if name.is_empty() || name.starts_with('.') || !plain {
                return err(format!(
                    "member {name:?} is not a plain file stem (letters, digits, '-', '_', '.')"
                ));
            }
            if members[..i].contains(name) {
                return err(format!("member {name:?} is given twice"));
            }
        }
        self.ensemble = members;
        Ok(())
    }

    /// Checks that this manifest may be an ensemble's member: members are single models, so a
    /// shipped ensemble is one level deep (the trainer and the web app both load members).
    pub fn check_member(&self) -> Result<(), ManifestError> {
        if !self.ensemble.is_empty() {
            return Err(ManifestError::NestedEnsemble);
        }
        Ok(())
    }

    /// Sets the side the model runs at. Models are fully convolutional, so any side their
    /// down-sampling can take works, not only the one they were trained at.
    pub fn set_input_size(&mut self, size: usize) -> Result<(), ManifestError> {
        self.check_side(size)
            .map_err(|reason| ManifestError::InputSize { size, reason })?;
        self.input_size = size;
        Ok(())
    }

    /// Sets the scale-TTA sides (see `tta_sizes`); each must be one the model takes.
    pub fn set_tta_sizes(&mut self, sizes: Vec<usize>) -> Result<(), ManifestError> {
        let err = |m: String| Err(ManifestError::TtaSizes(m));
        if sizes.len() > MAX_EXTRA_PASSES {
            return err(format!("{} sides; at most {MAX_EXTRA_PASSES}", sizes.len()));
        }
        for (i, &s) in sizes.iter().enumerate() {
            if let Err(e) = self.check_side(s) {
                return err(format!("{s}: {e}"));
            }
            if sizes[..i].contains(&s) {
                return err(format!("{s} is given twice"));
            }
        }
        self.tta_sizes = sizes;
        Ok(())
    }

    /// A side the model's down-sampling can take (input or scale-TTA side).
    fn check_side(&self, size: usize) -> Result<(), SideError> {
        let k = self.model.size_multiple();
        if size == 0 || !size.is_multiple_of(k) {
            return Err(SideError::NotMultiple(k));
        }
        if size > MAX_INPUT_SIDE {
            return Err(SideError::TooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Arch, ModelConfig};
    use serde_json::json;

    #[test]
    fn training_on_the_validation_cases_is_found_in_any_stage_or_averaged_run() {
        let model = ModelConfig {
            arch: Arch::Fpn,
            width: 8,
            levels: 4,
            cardinality: 8,
            context: 0,
            norm: Default::default(),
            max_width: 0,
        };
        let mut m = Manifest::new(model, 64, Precision::F32);
        let fit = |on_val: bool| json!({"config": {"loss": "dice", "train_on_val": on_val}});
        let cases = [
            (json!(null), false),
            (fit(false), false),
            (json!({"config": {"loss": "dice"}}), false),
            (fit(true), true),
            (
                json!({"config": {}, "stages": [fit(true), {"config": {}}]}),
                true,
            ),
            (
                json!({"config": {}, "stages": [fit(false), fit(false)]}),
                false,
            ),
            (
                json!({"averaged": ["a", "b"], "inputs_training": [fit(false), {"stages": [fit(true)]}]}),
                true,
            ),
            (
                json!({"averaged": ["a", "b"], "inputs_training": [fit(false), fit(false)]}),
                false,
            ),
        ];
        for (training, seen) in cases {
            m.training = training.clone();
            assert_eq!(m.trained_on_validation_cases(), seen, "{training}");
        }
    }

    #[test]
    fn a_recipes_spread_covers_its_record_and_every_other_draw() {
        let v = |mean: f64| Validation {
            protocol: "reference".into(),
            mean,
            median: mean,
            min: 0.0,
            cases: Vec::new(),
        };
        let mut cv = CrossValidation {
            folds: 5,
            cases: 100,
            weights: "last".into(),
            model_fold: None,
            reference: v(0.80),
            native: v(0.79),
            other_draws: Vec::new(),
            members: Vec::new(),
            precision: None,
        };
        let one = cv.spread();
        assert_eq!((one.draws, one.mean, one.sd), (1, 0.80, 0.0));
        for (i, mean) in [0.82, 0.78].into_iter().enumerate() {
            cv.other_draws.push(CrossValidationDraw {
                run: format!("draw-{i}"),
                seed: i as u64,
                reference: (&v(mean)).into(),
                native: (&v(0.5)).into(),
            });
        }
        let three = cv.spread();
        assert_eq!(three.draws, 3);
        assert!((three.mean - 0.80).abs() < 1e-12, "{three:?}");
        assert!((three.sd - 0.02).abs() < 1e-12, "{three:?}");
        assert_eq!((three.lowest, three.highest), (0.78, 0.82));
        // A manifest without the field reads as one draw; one with it keeps it.
        let text = serde_json::to_string(&cv).unwrap();
        let back: CrossValidation = serde_json::from_str(&text).unwrap();
        assert_eq!(back, cv);
        cv.other_draws.clear();
        let bare = serde_json::to_string(&cv).unwrap();
        assert!(!bare.contains("other_draws"), "{bare}");
    }
}
