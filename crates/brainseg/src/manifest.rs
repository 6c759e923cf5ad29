//! `model.json`: what the exported weights are and how well they did. The trainer writes it,
//! the web app and `train eval` read it.

use crate::model::{Model, ModelConfig};
use burn::prelude::*;
use burn::store::{BurnpackStore, HalfPrecisionAdapter, ModuleSnapshot};
use serde::{Deserialize, Serialize};

/// Stored precision of a weights file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
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
    /// Inference setting the model ships with: flip test-time augmentation. The web app and
    /// `train eval`/`predict` apply it, so the figures above are the ones users get.
    #[serde(default)]
    pub flip_tta: bool,
    /// Inference setting: scale test-time augmentation. The model also runs on inputs of these
    /// sides; their probabilities, resized to `input_size`, are averaged with its own. Empty: off.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tta_sizes: Vec<usize>,
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
            flip_tta: false,
            tta_sizes: Vec::new(),
            ensemble: Vec::new(),
            training: serde_json::Value::Null,
        }
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let mut m: Manifest =
            serde_json::from_str(text).map_err(|e| format!("invalid model manifest: {e}"))?;
        if m.preprocessing_version != crate::preprocess::PREPROCESSING_VERSION {
            return Err(format!(
                "model was trained with preprocessing version {}, this build has {}",
                m.preprocessing_version,
                crate::preprocess::PREPROCESSING_VERSION
            ));
        }
        let size = m.input_size;
        m.set_input_size(size)
            .map_err(|e| format!("input size {size}: {e}"))?;
        let sizes = std::mem::take(&mut m.tta_sizes);
        m.set_tta_sizes(sizes)
            .map_err(|e| format!("tta_sizes: {e}"))?;
        let members = std::mem::take(&mut m.ensemble);
        m.set_ensemble(members)
            .map_err(|e| format!("ensemble: {e}"))?;
        m.model.validate()?;
        Ok(m)
    }

    /// Sets the ensemble's further members (see `ensemble`): plain file stems beside this
    /// model's own file, so a manifest can only name files in its own folder.
    pub fn set_ensemble(&mut self, members: Vec<String>) -> Result<(), String> {
        for (i, name) in members.iter().enumerate() {
            let plain = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if name.is_empty() || name.starts_with('.') || !plain {
                return Err(format!(
                    "member {name:?} is not a plain file stem (letters, digits, '-', '_', '.')"
                ));
            }
            if members[..i].contains(name) {
                return Err(format!("member {name:?} is given twice"));
            }
        }
        self.ensemble = members;
        Ok(())
    }

    /// Checks that this manifest may be an ensemble's member: members are single models, so a
    /// shipped ensemble is one level deep (the trainer and the web app both load members).
    pub fn check_member(&self) -> Result<(), String> {
        if !self.ensemble.is_empty() {
            return Err("an ensemble member cannot name members of its own".into());
        }
        Ok(())
    }

    /// Sets the side the model runs at. Models are fully convolutional, so any side their
    /// down-sampling can take works, not only the one they were trained at.
    pub fn set_input_size(&mut self, size: usize) -> Result<(), String> {
        self.check_side(size)?;
        self.input_size = size;
        Ok(())
    }

    /// Sets the scale-TTA sides (see `tta_sizes`); each must be one the model takes.
    pub fn set_tta_sizes(&mut self, sizes: Vec<usize>) -> Result<(), String> {
        for (i, &s) in sizes.iter().enumerate() {
            self.check_side(s).map_err(|e| format!("{s}: {e}"))?;
            if sizes[..i].contains(&s) {
                return Err(format!("{s} is given twice"));
            }
        }
        self.tta_sizes = sizes;
        Ok(())
    }

    /// A side the model's down-sampling can take (input or scale-TTA side).
    fn check_side(&self, size: usize) -> Result<(), String> {
        let k = self.model.size_multiple();
        if size == 0 || size % k != 0 {
            return Err(format!(
                "this model takes sides that are positive multiples of {k} (2^levels)"
            ));
        }
        Ok(())
    }
}

/// Serialises weights to burnpack bytes (half precision for convolutions when asked; BatchNorm
/// stays f32 because its running variance underflows in f16).
pub fn weights_to_bytes(model: &Model, precision: Precision) -> Result<Vec<u8>, String> {
    let mut store = BurnpackStore::from_bytes(None);
    if precision == Precision::F16 {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    model
        .save_into(&mut store)
        .map_err(|e| format!("cannot serialise weights: {e}"))?;
    let bytes = store
        .get_bytes()
        .map_err(|e| format!("cannot serialise weights: {e}"))?;
    Ok(bytes.to_vec())
}

/// Builds the model a manifest describes and loads its weights from burnpack bytes.
pub fn load_model(manifest: &Manifest, weights: Vec<u8>, device: &Device) -> Result<Model, String> {
    let mut model = manifest.model.init(device)?;
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(weights)));
    if manifest.precision == Precision::F16 {
        store = store.with_from_adapter(HalfPrecisionAdapter::new());
    }
    let result = model
        .load_from(&mut store)
        .map_err(|e| format!("cannot load weights: {e}"))?;
    if !result.missing.is_empty() {
        return Err(format!(
            "weights do not match the manifest's model: {} tensors missing",
            result.missing.len()
        ));
    }
    Ok(model)
}
