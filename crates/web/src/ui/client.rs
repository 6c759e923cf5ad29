//! The page's side of the worker: starts it and carries `protocol` messages both ways.

use super::dom::page_url;
use crate::protocol::{FromWorker, ToWorker};
use crate::transport::{receive, send, start_worker};
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
        let worker = start_worker(
            &page_url(&format!("{program}.js"))?,
            &page_url(&format!("{program}_bg.wasm"))?,
            program,
        )?;
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
