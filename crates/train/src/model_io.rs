//! Model files for the subcommands: `.bpk` weights with their `.json` manifest beside them,
//! read through the core's loader (the one the web app uses too) and written atomically.

use crate::atomic::write_atomic;
use crate::backend::{self, Backend};
use anyhow::{Context, Result, anyhow};
use brainseg::manifest::{Manifest, Precision};
use brainseg::model::Model;
use brainseg::model_io::{ReadRequest, load_ensemble, load_one, parse_manifest, weights_to_bytes};
use burn::prelude::Device;
use std::path::{Path, PathBuf};

/// `FILE` without its extension, as the core's loader names models.
fn stem(path: &Path) -> Result<String> {
    path.with_extension("")
        .to_str()
        .map(String::from)
        .with_context(|| format!("{}: the path is not UTF-8", path.display()))
}

fn read_file(req: ReadRequest) -> std::future::Ready<Result<Vec<u8>, String>> {
    std::future::ready(std::fs::read(&req.name).map_err(|e| e.to_string()))
}

/// Reads the manifest `FILE.json` of weights `FILE.bpk`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let json = path.with_extension("json");
    let bytes =
        std::fs::read(&json).with_context(|| format!("model manifest {}", json.display()))?;
    Ok(parse_manifest(&bytes, &json.display().to_string())?)
}

/// Loads `FILE.bpk` with its manifest `FILE.json` and, when the manifest names ensemble
/// members (a shipped ensemble), those beside it: first model first.
pub fn load_with_members(path: &Path, device: &Device) -> Result<Vec<(Manifest, Model)>> {
    let stem = stem(path)?;
    pollster::block_on(load_ensemble(&stem, device, read_file)).map_err(|e| anyhow!(e))
}

/// Loads one model (`FILE.bpk` + `FILE.json`), without the members its manifest may name.
pub fn load_single(path: &Path, device: &Device) -> Result<(Manifest, Model)> {
    let stem = stem(path)?;
    pollster::block_on(load_one(&stem, device, &mut read_file)).map_err(|e| anyhow!(e))
}

/// The bytes of the weights `path` (stored at `stored`, its manifest's precision) as they are
/// stored at `wanted`: the file itself when it is stored so already, else the model loaded and
/// written at `wanted`. What `train ship --precision` ships and `train cv-ensemble --precision`
/// scores, so that the two store a model alike.
pub fn weights_at(path: &Path, stored: Precision, wanted: Precision) -> Result<Vec<u8>> {
    if stored == wanted {
        return std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    }
    let (_, model) = load_single(path, &backend::device(Backend::Flex)?)?;
    weights_to_bytes(&model, wanted)
        .with_context(|| format!("storing {} at {wanted:?}", path.display()))
}

/// Writes weights (already serialised) and their manifest as `STEM.bpk` + `STEM.json`, creating
/// the folder; returns the weights' path.
pub fn write_model(stem: &Path, weights: &[u8], manifest: &Manifest) -> Result<PathBuf> {
    let (bpk, json) = (stem.with_extension("bpk"), stem.with_extension("json"));
    if let Some(dir) = bpk.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_atomic(&bpk, weights)?;
    write_atomic(&json, serde_json::to_string_pretty(manifest)?.as_bytes())?;
    Ok(bpk)
}
