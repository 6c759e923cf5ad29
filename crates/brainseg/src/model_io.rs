//! Weights (`.bpk`, burnpack) with their manifest (`.json`): serialising a model, and loading
//! one model or a shipped ensemble from bytes. The trainer reads the bytes from files, the web
//! app fetches them; both call [`load_ensemble`], so both load exactly the same way.

use crate::manifest::{Manifest, ManifestError, Precision, sha256_hex};
use crate::model::{Model, ModelError};
use crate::quantized;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use burn::store::{BurnpackStore, HalfPrecisionAdapter, ModuleSnapshot};
use std::future::Future;

/// Why weights could not be written or a model could not be loaded. Variants that concern a
/// file name it (`STEM.json`, `STEM.bpk`), as the reader was asked for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelIoError {
    #[error("{file}: {message}")]
    Read { file: String, message: String },
    #[error("{file}: {source}")]
    Manifest { file: String, source: ManifestError },
    #[error("{file}: {source}")]
    Model { file: String, source: ModelError },
    #[error("{file}: cannot load weights: {message}")]
    Weights { file: String, message: String },
    #[error(
        "{file}: weights do not match the manifest's model ({arch}): {missing} tensors missing, \
         e.g. {example} (weights of another architecture or size?)"
    )]
    Mismatch {
        file: String,
        arch: String,
        missing: usize,
        example: String,
    },
    #[error("ensemble member {member:?} of {stem}: {source}")]
    Member {
        stem: String,
        member: String,
        source: Box<ModelIoError>,
    },
    #[error("cannot serialise weights: {0}")]
    Serialise(String),
}

/// A model's float tensors (parameters and running statistics) in visiting order.
struct Collect(Vec<quantized::Tensor>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let data = param.val().into_data().convert::<f32>();
        self.0.push(quantized::Tensor {
            shape: data.shape().to_vec(),
            values: data.try_to_vec::<f32>().unwrap_or_default(),
        });
    }
}

/// A model's float tensors' shapes in visiting order. No data is read: a WebGPU tensor cannot
/// be read back synchronously in the browser.
struct Shapes(Vec<Vec<usize>>);

impl ModuleVisitor for Shapes {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.val().shape().to_vec());
    }
}

/// Replaces a model's float tensors, in visiting order, by given values (shapes checked before).
struct Replace(std::vec::IntoIter<quantized::Tensor>);

impl ModuleMapper for Replace {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        match self.0.next() {
            Some(t) => param.map(|old| {
                let device = old.device();
                Tensor::from_data(TensorData::new(t.values, t.shape), &device)
            }),
            None => param,
        }
    }
}

/// The quantised format of a precision's kernels, if it is one.
fn quantized_bits(precision: Precision) -> Option<quantized::Bits> {
    match precision {
        Precision::F32 | Precision::F16 => None,
        Precision::Q8 => Some(quantized::Bits::Eight),
        Precision::Q4 => Some(quantized::Bits::Four),
    }
}

/// Loads quantised weights (`quantized`) into a freshly built model, after checking that they
/// hold exactly its tensors.
fn load_quantized(
    model: Model,
    bytes: &[u8],
    bits: quantized::Bits,
    file: &str,
    arch: String,
) -> Result<Model, ModelIoError> {
    let tensors = quantized::decode(bytes, bits).map_err(|e| ModelIoError::Weights {
        file: file.to_string(),
        message: e.to_string(),
    })?;
    let mut expected = Shapes(Vec::new());
    model.visit(&mut expected);
    let expected = expected.0;
    let missing = expected.len().saturating_sub(tensors.len());
    let differ = expected
        .iter()
        .zip(&tensors)
        .position(|(want, got)| *want != got.shape);
    if tensors.len() != expected.len() || differ.is_some() {
        let i = differ.unwrap_or(tensors.len().min(expected.len()));
        let shape = expected.get(i).cloned().unwrap_or_default();
        return Err(ModelIoError::Mismatch {
            file: file.to_string(),
            arch,
            missing: missing.max(1),
            example: format!("tensor {i} of shape {shape:?}"),
        });
    }
    Ok(model.map(&mut Replace(tensors.into_iter())))
}

/// Serialises weights: burnpack bytes (half precision for convolutions when asked; BatchNorm
/// stays f32 because its running variance underflows in f16), or a quantised format.
pub fn weights_to_bytes(model: &Model, precision: Precision) -> Result<Vec<u8>, ModelIoError> {
    if let Some(bits) = quantized_bits(precision) {
        let mut c = Collect(Vec::new());
        model.visit(&mut c);
        return Ok(quantized::encode(&c.0, bits));
    }
    let mut store = BurnpackStore::from_bytes(None);
    if precision == Precision::F16 {
        store = store.with_to_adapter(HalfPrecisionAdapter::new());
    }
    let err = |e: &dyn std::fmt::Display| ModelIoError::Serialise(e.to_string());
    model.save_into(&mut store).map_err(|e| err(&e))?;
    let bytes = store.get_bytes().map_err(|e| err(&e))?;
    Ok(bytes.to_vec())
}

/// Builds the model a manifest describes and loads its weights from burnpack bytes; `file`
/// names the weights in errors.
pub fn load_model(
    manifest: &Manifest,
    weights: Vec<u8>,
    device: &Device,
    file: &str,
) -> Result<Model, ModelIoError> {
    let mut model = manifest
        .model
        .init(device)
        .map_err(|source| ModelIoError::Model {
            file: file.to_string(),
            source,
        })?;
    if let Some(bits) = quantized_bits(manifest.precision) {
        let arch = manifest.model.arch.to_string();
        return load_quantized(model, &weights, bits, file, arch);
    }
    // Missing tensors come back in the result (not as burn's error listing every one), so the
    // error can say how many and name one.
    let mut store = BurnpackStore::from_bytes(Some(burn::tensor::Bytes::from_bytes_vec(weights)))
        .allow_partial(true);
    if manifest.precision == Precision::F16 {
        store = store.with_from_adapter(HalfPrecisionAdapter::new());
    }
    let result = model
        .load_from(&mut store)
        .map_err(|e| ModelIoError::Weights {
            file: file.to_string(),
            message: e.to_string(),
        })?;
    if let Some((first, _)) = result.missing.first() {
        return Err(ModelIoError::Mismatch {
            file: file.to_string(),
            arch: manifest.model.arch.to_string(),
            missing: result.missing.len(),
            example: first.clone(),
        });
    }
    Ok(model)
}

/// Parses a manifest's bytes; `file` names it in errors.
pub fn parse_manifest(bytes: &[u8], file: &str) -> Result<Manifest, ModelIoError> {
    let text = std::str::from_utf8(bytes).map_err(|e| ModelIoError::Read {
        file: file.to_string(),
        message: format!("not UTF-8 text: {e}"),
    })?;
    Manifest::from_json(text).map_err(|source| ModelIoError::Manifest {
        file: file.to_string(),
        source,
    })
}

/// What a loader asks its reader for: a file by name (a path natively, a URL in the browser)
/// and, for weights whose manifest records it, their SHA-256 (a reader that caches keys its
/// copy by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    pub name: String,
    pub sha256: Option<String>,
}

/// Loads model `stem` (`STEM.json` + `STEM.bpk`) through `read`, which returns the bytes of
/// the file asked for. Weights that do not match the manifest's `weights_sha256` are refused.
pub async fn load_one<F, Fut>(
    stem: &str,
    device: &Device,
    read: &mut F,
) -> Result<(Manifest, Model), ModelIoError>
where
    F: FnMut(ReadRequest) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    let (json, bpk) = (format!("{stem}.json"), format!("{stem}.bpk"));
    let fetch = |file: &str, r: Result<Vec<u8>, String>| {
        r.map_err(|message| ModelIoError::Read {
            file: file.to_string(),
            message,
        })
    };
    let ask = |name: &str, sha256: Option<String>| ReadRequest {
        name: name.to_string(),
        sha256,
    };
    let manifest = parse_manifest(&fetch(&json, read(ask(&json, None)).await)?, &json)?;
    let weights = fetch(&bpk, read(ask(&bpk, manifest.weights_sha256.clone())).await)?;
    if let Some(want) = &manifest.weights_sha256 {
        let got = sha256_hex(&weights);
        if got != *want {
            return Err(ModelIoError::Weights {
                file: bpk,
                message: format!(
                    "its SHA-256 is {got}, the manifest's weights_sha256 {want} (a truncated \
                     or replaced file?)"
                ),
            });
        }
    }
    let model = load_model(&manifest, weights, device, &bpk)?;
    Ok((manifest, model))
}

/// Loads model `stem` and, when its manifest names ensemble members (a shipped ensemble), those
/// beside it (in the same folder or URL path): first model first. Members must be single
/// models (one level deep).
pub async fn load_ensemble<F, Fut>(
    stem: &str,
    device: &Device,
    mut read: F,
) -> Result<Vec<(Manifest, Model)>, ModelIoError>
where
    F: FnMut(ReadRequest) -> Fut,
    Fut: Future<Output = Result<Vec<u8>, String>>,
{
    let first = load_one(stem, device, &mut read).await?;
    let mut all = Vec::with_capacity(1 + first.0.ensemble.len());
    for member in first.0.ensemble.clone() {
        let wrap = |source: ModelIoError| ModelIoError::Member {
            stem: stem.to_string(),
            member: member.clone(),
            source: Box::new(source),
        };
        let member_stem = sibling(stem, &member);
        let loaded = load_one(&member_stem, device, &mut read)
            .await
            .map_err(wrap)?;
        loaded.0.check_member().map_err(|source| {
            wrap(ModelIoError::Manifest {
                file: format!("{member_stem}.json"),
                source,
            })
        })?;
        all.push(loaded);
    }
    all.insert(0, first);
    Ok(all)
}

/// `member` in the folder of `stem` (`runs/a/model` + `model-2` → `runs/a/model-2`). Member
/// names are plain file stems (the manifest checks), so they cannot leave that folder.
pub fn sibling(stem: &str, member: &str) -> String {
    match stem.rfind(['/', '\\']) {
        Some(i) => format!("{}{member}", &stem[..=i]),
        None => member.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::sibling;

    #[test]
    fn members_resolve_in_the_folder_of_the_first_model() {
        assert_eq!(sibling("models/default", "default-2"), "models/default-2");
        assert_eq!(sibling("/a/b.c/model", "m"), "/a/b.c/m");
        assert_eq!(sibling("C:\\runs\\x", "y"), "C:\\runs\\y");
        assert_eq!(sibling("default", "default-2"), "default-2");
    }
}
