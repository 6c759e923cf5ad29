//! The model in the worker: device set-up for the chosen backend, model download, and per-case
//! inference with the core crate's preprocessing, post-processing and metrics.

use super::weights_cache::{Source, fetch_weights};
use crate::net::fetch_bytes;
use crate::now_ms;
use crate::protocol::{BackendKind, CaseResult};
use brainseg::eval::{native_dice, native_mask, per_slice_dice};
use brainseg::inference::{InferOptions, Offload, ensemble_components, predict_ensemble_with};
use brainseg::ingest::Case;
use brainseg::manifest::Manifest;
use brainseg::model::Model;
use brainseg::model_io::{ReadRequest, load_ensemble};
use brainseg::preprocess::PrepOptions;
use burn::prelude::Device;
use std::cell::Cell;
use std::rc::Rc;

/// A loaded model (an ensemble: its models, first one first) and the device it runs on.
pub struct Engine {
    pub device: Device,
    pub models: Vec<(Manifest, Model)>,
}

/// The device of `backend`. Each worker program has the one backend it was built with: WebGPU
/// in `brainseg-worker` (the `webgpu` feature), the CPU path in `brainseg-worker-cpu` (`cpu`).
pub async fn init_device(backend: BackendKind) -> Result<Device, String> {
    match backend {
        #[cfg(feature = "cpu")]
        BackendKind::Cpu => Ok(Device::flex()),
        #[cfg(not(feature = "cpu"))]
        BackendKind::Cpu => Err("this worker program was built without the CPU path".into()),
        #[cfg(feature = "webgpu")]
        BackendKind::WebGpu => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| format!("WebGPU initialisation failed: {e:?}")),
        #[cfg(not(feature = "webgpu"))]
        BackendKind::WebGpu => Err("this worker program was built without WebGPU".into()),
    }
}

/// Loads shipped model `name` (`BASE/models/NAME.json` and `.bpk`) and, when its manifest names
/// ensemble members, theirs from the same folder: first model first. The same loader as the
/// trainer's (`brainseg::model_io`), here reading over HTTP, weights through this browser's
/// cache (`weights_cache`). Also says whether every weights file came from the cache.
pub async fn load(
    base: &str,
    name: &str,
    device: &Device,
) -> Result<(Vec<(Manifest, Model)>, bool), String> {
    let from_cache = Rc::new(Cell::new(true));
    let read = |req: ReadRequest| {
        let from_cache = Rc::clone(&from_cache);
        async move {
            if req.name.ends_with(".bpk") {
                let (bytes, source) = fetch_weights(&req.name, req.sha256.as_deref()).await?;
                if source != Source::Cache {
                    from_cache.set(false);
                }
                Ok(bytes)
            } else {
                fetch_bytes(&req.name).await
            }
        }
    };
    // Errors name files as the page's folder sees them (`models/default.bpk`).
    let models = load_ensemble(&format!("{base}models/{name}"), device, read)
        .await
        .map_err(|e| e.to_string().replace(base, ""))?;
    Ok((models, from_cache.get()))
}

/// Runs a case: native preprocessing, inference (`batch` slices a forward pass, the passes
/// shared with `offload`'s threads; awaiting `progress` between rounds of passes, which returns
/// false to cancel), mapping back, the components the model keeps, DSC. `Ok(None)`: cancelled.
pub async fn run_case<F: std::future::Future<Output = bool>>(
    engine: &Engine,
    case: &Case,
    batch: usize,
    offload: &dyn Offload,
    progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<CaseResult>, String> {
    let start = now_ms();
    // Each model's manifest says its TTA; one model is an ensemble of one.
    let opts = InferOptions {
        batch,
        flip_tta: false,
    };
    let Some((probs, prep)) = predict_ensemble_with(
        &engine.models,
        case,
        PrepOptions::native,
        &engine.device,
        opts,
        offload,
        progress,
    )
    .await
    .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    // The same rule `train eval` applies, so the page's DSC stays the CLI's.
    let mask = native_mask(&probs, &prep, ensemble_components(&engine.models));
    let dsc = native_dice(&mask, case);
    let plane = case.height() * case.width();
    let slice_dsc = case
        .mask_volume()
        .map(|t| per_slice_dice(&mask, &t, plane))
        .unwrap_or_default();
    Ok(Some(CaseResult {
        mask,
        dsc,
        slice_dsc,
        millis: now_ms() - start,
    }))
}
