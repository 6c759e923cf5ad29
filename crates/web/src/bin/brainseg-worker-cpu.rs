//! The CPU-only worker program (`brainseg-worker-cpu.js` + `_bg.wasm`): the same worker as
//! `brainseg-worker` without burn's WebGPU backend, which the page starts when the browser has no
//! hardware GPU adapter or `?backend=cpu` asks for it (`backend::decide`).

fn main() {
    brainseg_web::run_static_constructors();
    brainseg_web::worker::start();
}
