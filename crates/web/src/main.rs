//! brainseg web app: yew, compiled to wasm by trunk (see index.html and trunk.toml).

mod app;
mod dom;
mod engine;
mod export;
mod render;

fn main() {
    yew::Renderer::<app::App>::new().render();
}
