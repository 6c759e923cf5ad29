//! The model in the browser: device choice (WebGPU, or the CPU backend), model download, and
//! per-case inference with the core crate's preprocessing, post-processing and metrics.

use brainseg::eval::{native_dice, native_mask, per_slice_dice};
use brainseg::inference::{InferOptions, predict_ensemble};
use brainseg::ingest::Case;
use brainseg::manifest::Manifest;
use brainseg::model::Model;
use brainseg::model_io::load_ensemble;
use brainseg::preprocess::PrepOptions;
use burn::prelude::Device;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    WebGpu,
    Cpu,
}

impl BackendKind {
    pub fn attr(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "WebGPU",
            BackendKind::Cpu => "CPU (wasm)",
        }
    }
}

/// Picks the device. `forced` comes from `?backend=`: `cpu` never tries WebGPU, `webgpu` fails
/// when WebGPU is unavailable. Without it, WebGPU is tried and the CPU backend used if it fails,
/// with the reason returned so the page can say why.
pub async fn init_device(
    forced: Option<BackendKind>,
) -> Result<(Device, BackendKind, Option<String>), String> {
    if forced == Some(BackendKind::Cpu) {
        return Ok((Device::flex(), BackendKind::Cpu, None));
    }
    let has_gpu = web_sys::window()
        .map(|w| js_sys::Reflect::has(&w.navigator(), &"gpu".into()).unwrap_or(false))
        .unwrap_or(false);
    let attempt = if has_gpu {
        Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| format!("WebGPU initialisation failed: {e:?}"))
    } else {
        Err("this browser has no WebGPU (navigator.gpu is missing)".to_string())
    };
    match (attempt, forced) {
        (Ok(d), _) => Ok((d, BackendKind::WebGpu, None)),
        (Err(e), Some(BackendKind::WebGpu)) => Err(e),
        (Err(e), _) => Ok((Device::flex(), BackendKind::Cpu, Some(e))),
    }
}

/// GETs `url`; the error says what failed, not which URL (callers name it).
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let resp = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.binary().await.map_err(|e| e.to_string())
}

pub async fn fetch_text(url: &str) -> Result<String, String> {
    let bytes = fetch_bytes(url).await.map_err(|e| format!("{url}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("{url}: {e}"))
}

/// A shipped model as listed in `models/index.json`.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ModelEntry {
    pub name: String,
    pub label: String,
}

pub async fn list_models() -> Result<Vec<ModelEntry>, String> {
    let text = fetch_text("models/index.json").await?;
    let list: Vec<ModelEntry> =
        serde_json::from_str(&text).map_err(|e| format!("models/index.json: {e}"))?;
    if list.is_empty() {
        return Err("no model yet: models/index.json lists none".into());
    }
    Ok(list)
}

/// Loads shipped model `name` (`models/NAME.json` and `.bpk`) and, when its manifest names
/// ensemble members, theirs from the same folder: first model first. The same loader as the
/// trainer's (`brainseg::model_io`), here reading over HTTP.
pub async fn load(name: &str, device: &Device) -> Result<Vec<(Manifest, Model)>, String> {
    let read = |url: String| async move { fetch_bytes(&url).await };
    load_ensemble(&format!("models/{name}"), device, read)
        .await
        .map_err(|e| e.to_string())
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// Predicted mask on the original grid (slices × height × width), post-processed.
    pub mask: Vec<u8>,
    /// Native-protocol DSC, when the case has masks.
    pub dsc: Option<f64>,
    pub slice_dsc: Vec<f64>,
    pub millis: f64,
}

/// Runs a case: native preprocessing, inference (awaiting `progress` between batches; it
/// returns false to cancel), mapping back, largest component, DSC.
pub async fn run_case<F: std::future::Future<Output = bool>>(
    models: &[(Manifest, Model)],
    device: &Device,
    case: &Case,
    progress: impl FnMut(usize, usize) -> F,
) -> Result<Option<CaseResult>, String> {
    let start = now_ms();
    // Each model's manifest says its TTA; one model is an ensemble of one.
    let opts = InferOptions {
        batch: 1,
        flip_tta: false,
    };
    let Some((probs, prep)) =
        predict_ensemble(models, case, PrepOptions::native, device, opts, progress)
            .await
            .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    let mask = native_mask(&probs, &prep);
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

/// Milliseconds since page load.
pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}
