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
    let payload: Array = event
        .data()
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
