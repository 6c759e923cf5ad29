//! The page: yew, compiled to wasm by trunk (see index.html and trunk.toml). The model runs in
//! the worker (`src/bin/brainseg-worker.rs`).

fn main() {
    brainseg_web::run_static_constructors();
    yew::Renderer::<brainseg_web::ui::App>::new().render();
}
