//! The worker program: trunk builds it as `brainseg-worker.js` + `_bg.wasm` (index.html), and
//! the page starts it (`ui::client`).

fn main() {
    brainseg_web::run_static_constructors();
    brainseg_web::worker::start();
}
