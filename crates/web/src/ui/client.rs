//! The page's side of the worker: starts it and carries `protocol` messages both ways.

use super::dom::page_url;
use crate::protocol::{FromWorker, ToWorker};
use crate::transport::{receive, send};
use js_sys::Array;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, MessageEvent, Worker};
use yew::Callback;

pub struct WorkerClient {
    worker: Worker,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl WorkerClient {
    /// Starts worker program `program` (trunk's `PROGRAM.js` + `PROGRAM_bg.wasm`); `on_message`
    /// gets each of its messages, or why one could not be read or the worker failed.
    pub fn spawn(
        program: &str,
        on_message: Callback<Result<FromWorker, String>>,
    ) -> Result<Self, String> {
        // The worker starts from a blob: script that loads the program: a worker made from a
        // blob: URL runs under the page's Content-Security-Policy (only its own origin), one
        // made from a plain URL under that file's headers, which a static host leaves empty.
        let js = serde_json::to_string(&page_url(&format!("{program}.js"))?)
            .map_err(|e| e.to_string())?;
        let wasm = serde_json::to_string(&page_url(&format!("{program}_bg.wasm"))?)
            .map_err(|e| e.to_string())?;
        let src = format!("importScripts({js});\nwasm_bindgen({{ module_or_path: {wasm} }});\n");
        let opts = web_sys::BlobPropertyBag::new();
        opts.set_type("text/javascript");
        let blob =
            web_sys::Blob::new_with_str_sequence_and_options(&Array::of1(&src.into()), &opts)
                .map_err(|e| format!("cannot make the worker's script: {e:?}"))?;
        let url = web_sys::Url::create_object_url_with_blob(&blob)
            .map_err(|e| format!("cannot make the worker's script: {e:?}"))?;
        // The URL is not revoked: the worker fetches its script after the constructor returns.
        let worker = Worker::new(&url).map_err(|e| format!("cannot start the worker: {e:?}"))?;
        let cb = on_message.clone();
        let on_msg = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            cb.emit(receive::<FromWorker>(&e).map(|(m, _)| m));
        });
        let on_err = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            on_message.emit(Err(format!("the worker failed: {}", e.message())));
        });
        worker.set_onmessage(Some(on_msg.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_err.as_ref().unchecked_ref()));
        Ok(Self {
            worker,
            _on_message: on_msg,
            _on_error: on_err,
        })
    }

    pub fn send(&self, msg: &ToWorker, files: Option<&Array>) -> Result<(), String> {
        send(&self.worker, msg, files)
    }
}

impl Drop for WorkerClient {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}
