//! Carrying `protocol` messages across the worker boundary. A message goes as a JS array
//! `[bytes]` or `[bytes, files]`: `bytes` is a Uint8Array holding the postcard encoding, whose
//! buffer is transferred (the sender's copy is detached, nothing is cloned), and `files` an
//! array of `File` handles (structured clone passes the handle, not the bytes).

use crate::protocol::{decode, encode};
use js_sys::{Array, Uint8Array};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::MessageEvent;

/// Either end: the page's `Worker`, or the worker's global scope.
pub trait Port {
    fn post(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue>;
}

impl Port for web_sys::Worker {
    fn post(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue> {
        self.post_message_with_transfer(message, transfer)
    }
}

impl Port for web_sys::DedicatedWorkerGlobalScope {
    fn post(&self, message: &JsValue, transfer: &JsValue) -> Result<(), JsValue> {
        self.post_message_with_transfer(message, transfer)
    }
}

/// Posts `msg`, with `files` beside it when given.
pub fn send<T: Serialize>(port: &impl Port, msg: &T, files: Option<&Array>) -> Result<(), String> {
    let bytes = encode(msg)?;
    let array = Uint8Array::new_with_length(bytes.len() as u32);
    array.copy_from(&bytes);
    let payload = Array::of1(&array);
    if let Some(files) = files {
        payload.push(files);
    }
    port.post(&payload, &Array::of1(&array.buffer()))
        .map_err(|e| format!("postMessage failed: {e:?}"))
}

/// The message of `event`, and the files beside it.
pub fn receive<T: DeserializeOwned>(event: &MessageEvent) -> Result<(T, Option<Array>), String> {
    unpack(event.data())
}

/// The message in a message event's `data`, and the files beside it.
pub fn unpack<T: DeserializeOwned>(data: JsValue) -> Result<(T, Option<Array>), String> {
    let payload: Array = data
        .dyn_into()
        .map_err(|_| "a message that is not an array".to_string())?;
    let bytes: Uint8Array = payload
        .get(0)
        .dyn_into()
        .map_err(|_| "a message without its bytes".to_string())?;
    let msg = decode(&bytes.to_vec())?;
    let files = payload.get(1).dyn_into::<Array>().ok();
    Ok((msg, files))
}

/// Starts worker program `js` + `wasm` (trunk's `PROGRAM.js` and `PROGRAM_bg.wasm`, absolute
/// URLs) named `name`.
pub fn start_worker(js: &str, wasm: &str, name: &str) -> Result<web_sys::Worker, String> {
    let js = serde_json::to_string(js).map_err(|e| e.to_string())?;
    let wasm = serde_json::to_string(wasm).map_err(|e| e.to_string())?;
    spawn(
        &format!("importScripts({js});\nwasm_bindgen({{ module_or_path: {wasm} }});\n"),
        name,
    )
}

/// Starts another instance of the running worker program (`js`: its `PROGRAM.js`) named `name`,
/// from this instance's compiled module, which it posts there: nothing is downloaded or
/// compiled again.
pub fn start_twin(js: &str, name: &str) -> Result<web_sys::Worker, String> {
    let js = serde_json::to_string(js).map_err(|e| e.to_string())?;
    // The first message is the module; the program's own handler takes the later ones.
    let worker = spawn(
        &format!(
            "importScripts({js});\nself.onmessage = e => {{ self.onmessage = null; \
             wasm_bindgen({{ module_or_path: e.data }}); }};\n"
        ),
        name,
    )?;
    worker
        .post_message(&wasm_bindgen::module())
        .map_err(|e| format!("cannot pass the program to the worker: {e:?}"))?;
    Ok(worker)
}

/// A worker running script `src`, from a blob: URL: a worker made from a blob: URL runs under
/// its creator's Content-Security-Policy (the page's: only its own origin), one made from a
/// plain URL under that file's headers, which a static host leaves empty.
fn spawn(src: &str, name: &str) -> Result<web_sys::Worker, String> {
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type("text/javascript");
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&Array::of1(&src.into()), &opts)
        .map_err(|e| format!("cannot make the worker's script: {e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob)
        .map_err(|e| format!("cannot make the worker's script: {e:?}"))?;
    // The URL is not revoked: the worker fetches its script after the constructor returns.
    let options = web_sys::WorkerOptions::new();
    options.set_name(name);
    web_sys::Worker::new_with_options(&url, &options)
        .map_err(|e| format!("cannot start the worker: {e:?}"))
}
