//! Which backend runs the model. A software WebGPU adapter (SwiftShader, llvmpipe/lavapipe: what
//! a browser offers when it has no usable GPU) runs the model's convolutions far slower than the
//! wasm CPU path, so it is not taken unless `?backend=webgpu` asks for it; a hardware adapter
//! is. The page decides before it starts a worker, because each backend has its own worker
//! program (a CPU-only one is a fraction of the download), and shows the adapter and the reason.

use crate::protocol::BackendKind;
use js_sys::{Function, Promise, Reflect};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What WebGPU's adapter says of itself.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    /// `isFallbackAdapter`: the browser's own flag for a software or otherwise limited adapter.
    pub fallback: bool,
}

impl AdapterInfo {
    pub fn summary(&self) -> String {
        let mut parts: Vec<&str> = [&self.vendor, &self.architecture]
            .into_iter()
            .map(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .collect();
        if parts.is_empty() {
            parts.push("unnamed adapter");
        }
        let mut s = parts.join(" ");
        if !self.description.is_empty() {
            s.push_str(&format!(" ({})", self.description));
        }
        s
    }

    /// A CPU rasteriser posing as a GPU.
    pub fn is_software(&self) -> bool {
        const SOFTWARE: [&str; 5] = [
            "swiftshader",
            "llvmpipe",
            "lavapipe",
            "software",
            "basic render",
        ];
        let text =
            format!("{} {} {}", self.vendor, self.architecture, self.description).to_lowercase();
        self.fallback || SOFTWARE.iter().any(|s| text.contains(s))
    }
}

/// The backend to use and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub backend: BackendKind,
    /// The adapter WebGPU offered ("google swiftshader (SwiftShader Device)", say), if any.
    pub adapter: Option<String>,
    /// Forced by `?backend=`, or what the adapter check found.
    pub reason: String,
    /// Slices per forward pass (`?batch=`, else `default_batch`).
    pub batch: u32,
}

/// Slices per forward pass on a hardware GPU. One pass there takes milliseconds, so a slice at a
/// time leaves the GPU waiting on dispatch and readback; several slices share them (with flip
/// TTA, twice as many images) while a pass stays short enough for Cancel to act at once.
pub const GPU_BATCH: u32 = 4;

/// Slices per pass unless `?batch=` says: `GPU_BATCH` on a hardware GPU; one elsewhere. The CPU
/// path spreads slices over its threads a slice each, and a software adapter takes seconds a
/// slice, where one slice a pass keeps Cancel within a slice.
pub fn default_batch(backend: BackendKind, adapter: &Result<AdapterInfo, String>) -> u32 {
    match (backend, adapter) {
        (BackendKind::WebGpu, Ok(a)) if !a.is_software() => GPU_BATCH,
        _ => 1,
    }
}

impl BackendKind {
    /// The worker program that runs this backend (trunk's `NAME.js` + `NAME_bg.wasm`).
    pub fn worker_program(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "brainseg-worker",
            BackendKind::Cpu => "brainseg-worker-cpu",
        }
    }
}

/// Probes the adapter and decides (what the page does before it starts the worker).
pub async fn decide(forced: Option<BackendKind>, batch: Option<u32>) -> Result<Choice, String> {
    choose(forced, batch, &probe().await)
}

/// Decides from `?backend=`, `?batch=` and the adapter check (Err: why WebGPU is not
/// available).
pub fn choose(
    forced: Option<BackendKind>,
    batch: Option<u32>,
    adapter: &Result<AdapterInfo, String>,
) -> Result<Choice, String> {
    let summary = adapter.as_ref().ok().map(AdapterInfo::summary);
    let choice = |backend, reason: String| {
        Ok(Choice {
            backend,
            adapter: summary.clone(),
            reason,
            batch: batch.unwrap_or_else(|| default_batch(backend, adapter)),
        })
    };
    match (forced, adapter) {
        (Some(BackendKind::Cpu), _) => choice(BackendKind::Cpu, "chosen by ?backend=cpu".into()),
        (Some(BackendKind::WebGpu), Ok(_)) => {
            choice(BackendKind::WebGpu, "chosen by ?backend=webgpu".into())
        }
        (Some(BackendKind::WebGpu), Err(e)) => Err(format!("?backend=webgpu: {e}")),
        (None, Ok(a)) if a.is_software() => choice(
            BackendKind::Cpu,
            format!(
                "the WebGPU adapter ({}) is a software renderer, slower than the CPU path",
                a.summary()
            ),
        ),
        (None, Ok(_)) => choice(BackendKind::WebGpu, "a hardware GPU adapter".into()),
        (None, Err(e)) => choice(BackendKind::Cpu, e.clone()),
    }
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn text(obj: &JsValue, key: &str) -> String {
    get(obj, key).as_string().unwrap_or_default()
}

/// Asks `navigator.gpu` (the window's or the worker's) for its adapter and what it is.
pub async fn probe() -> Result<AdapterInfo, String> {
    let navigator = get(&js_sys::global(), "navigator");
    let gpu = get(&navigator, "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let request: Function = get(&gpu, "requestAdapter")
        .dyn_into()
        .map_err(|_| "navigator.gpu.requestAdapter is missing".to_string())?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter returned no promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU offers no adapter".into());
    }
    // `adapter.info` (Chromium 114+); `isFallbackAdapter` moved into it later.
    let info = get(&adapter, "info");
    let fallback = get(&info, "isFallbackAdapter").as_bool() == Some(true)
        || get(&adapter, "isFallbackAdapter").as_bool() == Some(true);
    Ok(AdapterInfo {
        vendor: text(&info, "vendor"),
        architecture: text(&info, "architecture"),
        description: text(&info, "description"),
        fallback,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn adapter(vendor: &str, architecture: &str, fallback: bool) -> AdapterInfo {
        AdapterInfo {
            vendor: vendor.into(),
            architecture: architecture.into(),
            description: String::new(),
            fallback,
        }
    }

    #[wasm_bindgen_test]
    fn software_adapters_lose_to_the_cpu_unless_forced() {
        let swiftshader = Ok(adapter("google", "swiftshader", false));
        let nvidia = Ok(adapter("nvidia", "hopper", false));
        let flagged = Ok(adapter("", "", true));
        let none: Result<AdapterInfo, String> = Err("no WebGPU".into());
        let pick = |f, a: &Result<AdapterInfo, String>| choose(f, None, a).map(|c| c.backend);
        assert_eq!(pick(None, &swiftshader), Ok(BackendKind::Cpu));
        assert_eq!(pick(None, &flagged), Ok(BackendKind::Cpu));
        assert_eq!(pick(None, &nvidia), Ok(BackendKind::WebGpu));
        assert_eq!(pick(None, &none), Ok(BackendKind::Cpu));
        assert_eq!(
            pick(Some(BackendKind::WebGpu), &swiftshader),
            Ok(BackendKind::WebGpu)
        );
        assert_eq!(pick(Some(BackendKind::Cpu), &nvidia), Ok(BackendKind::Cpu));
        assert!(pick(Some(BackendKind::WebGpu), &none).is_err());
        let why = choose(None, None, &swiftshader).unwrap().reason;
        assert!(
            why.contains("google swiftshader") && why.contains("software"),
            "{why}"
        );
    }

    #[wasm_bindgen_test]
    fn several_slices_a_pass_on_a_hardware_gpu_only_unless_asked() {
        let swiftshader = Ok(adapter("google", "swiftshader", false));
        let nvidia = Ok(adapter("nvidia", "hopper", false));
        let batch = |f, b, a: &Result<AdapterInfo, String>| choose(f, b, a).unwrap().batch;
        assert_eq!(batch(None, None, &nvidia), GPU_BATCH);
        assert_eq!(batch(Some(BackendKind::Cpu), None, &nvidia), 1);
        assert_eq!(batch(None, None, &swiftshader), 1);
        assert_eq!(batch(Some(BackendKind::WebGpu), None, &swiftshader), 1);
        assert_eq!(batch(Some(BackendKind::WebGpu), Some(6), &swiftshader), 6);
        assert_eq!(batch(None, Some(2), &nvidia), 2);
    }
}
