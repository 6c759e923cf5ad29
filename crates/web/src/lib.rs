//! brainseg in the browser. Three wasm programs built from this crate by trunk (index.html):
//! the page (`src/main.rs`: yew components in `ui`) and the worker that owns the model, one
//! program per backend (`src/bin/brainseg-worker.rs` with WebGPU, `brainseg-worker-cpu.rs`
//! with the CPU path; both run `worker`). The page picks the backend (`backend`) and starts that worker;
//! they talk through `protocol`'s typed messages, carried by `transport`. `state` is the page's
//! case table (per-model results, agreement between models) and `model_card` what the page says
//! of a model from its manifest, both kept free of the DOM so they can be tested. Cargo features choose what each program
//! carries: none for the page (no burn), `cpu` (the worker with burn's CPU backend), `webgpu`
//! (the worker with burn's WebGPU backend); the default, both, is for lints.

pub mod backend;
pub mod model_card;
pub mod net;
pub mod protocol;
pub mod state;
pub mod transport;
pub mod ui;
#[cfg(feature = "worker")]
pub mod worker;

/// Runs the static constructors once; each program calls it first thing in `main`.
///
/// Why: burn's GPU compiler (cubecl) registers its IR dialects through static constructors
/// (`inventory`). wasm-ld links a program (a `bin`, a "command" module) that never calls
/// `__wasm_call_ctors` itself by wrapping *every* export so that each call from JavaScript into
/// the wasm runs all constructors again first: ~200 ms per event handler, message and timer
/// here (measured with Chromium's profiler: `__wasm_call_ctors` under every
/// `*.command_export`). One explicit call anywhere in the program turns the wrapping off.
pub fn run_static_constructors() {
    #[cfg(target_arch = "wasm32")]
    {
        unsafe extern "C" {
            fn __wasm_call_ctors();
        }
        // SAFETY: the linker's own constructor runner, called once before any other code of
        // the program runs; the constructors only register items in `inventory` lists.
        unsafe { __wasm_call_ctors() };
    }
}

/// Milliseconds since the page (or worker) started.
pub fn now_ms() -> f64 {
    js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .and_then(|p| wasm_bindgen::JsCast::dyn_into::<web_sys::Performance>(p).ok())
        .map(|p| p.now())
        .unwrap_or(0.0)
}
