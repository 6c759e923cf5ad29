//! The WebGPU worker program (`brainseg-worker.js` + `_bg.wasm`; burn's WebGPU backend only), which
//! the page starts when the browser offers a hardware GPU adapter or `?backend=webgpu` asks for
//! it (`backend::decide`; `ui::client` starts it).

fn main() {
    brainseg_web::run_static_constructors();
    brainseg_web::worker::start();
}
