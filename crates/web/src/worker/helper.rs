//! A helper worker: the CPU worker program, started by the worker under the name
//! `lanes::HELPER_NAME` to run forward passes on another core. It holds the models it is told
//! to load (never dropping one: a case still running may use it) and answers each message with
//! one `FromHelper`, strictly in the order the messages came (`lanes` pairs them that way).

use super::engine;
use crate::protocol::{FromHelper, ToHelper};
use crate::transport::{receive, send};
use brainseg::inference::probabilities_of;
use brainseg::manifest::Manifest;
use brainseg::model::Model;
use burn::prelude::Device;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

type Ensemble = Rc<Vec<(Manifest, Model)>>;

struct State {
    device: Device,
    models: HashMap<String, Ensemble>,
    /// Messages not answered yet; one is handled at a time (a load awaits its downloads, and a
    /// later message must not be answered before it).
    queue: VecDeque<Result<ToHelper, String>>,
    busy: bool,
}

type Shared = Rc<RefCell<State>>;

fn post(msg: &FromHelper) {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    if let Err(e) = send(&scope, msg, None) {
        web_sys::console::error_1(&e.into());
    }
}

/// Starts the helper: from here on it answers the worker's messages.
pub fn start() {
    let state: Shared = Rc::new(RefCell::new(State {
        device: Device::flex(),
        models: HashMap::new(),
        queue: VecDeque::new(),
        busy: false,
    }));
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
        let msg = receive::<ToHelper>(&e).map(|(m, _)| m);
        let idle = {
            let mut s = state.borrow_mut();
            s.queue.push_back(msg);
            !std::mem::replace(&mut s.busy, true)
        };
        if idle {
            let state = Rc::clone(&state);
            spawn_local(drain(state));
        }
    });
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the helper.
    on_message.forget();
    post(&FromHelper::Ready);
}

/// Answers queued messages in order until none is left.
async fn drain(state: Shared) {
    loop {
        let next = state.borrow_mut().queue.pop_front();
        let Some(msg) = next else {
            state.borrow_mut().busy = false;
            return;
        };
        let reply = match msg {
            Ok(msg) => answer(&state, msg).await,
            // Answered all the same, so that the answers stay paired with the messages.
            Err(e) => FromHelper::Probabilities(Err(e)),
        };
        post(&reply);
    }
}

async fn answer(state: &Shared, msg: ToHelper) -> FromHelper {
    let device = state.borrow().device.clone();
    match msg {
        ToHelper::Load { base, names } => {
            for name in names {
                if state.borrow().models.contains_key(&name) {
                    continue;
                }
                match engine::load(&base, &name, &device).await {
                    Ok((models, _)) => {
                        state.borrow_mut().models.insert(name, Rc::new(models));
                    }
                    Err(e) => return FromHelper::Loaded(Err(e)),
                }
            }
            FromHelper::Loaded(Ok(()))
        }
        ToHelper::Run {
            model,
            member,
            size,
            flip_tta,
            input,
        } => {
            let ensemble = state.borrow().models.get(&model).cloned();
            let Some((_, m)) = ensemble.as_ref().and_then(|e| e.get(member)) else {
                return FromHelper::Probabilities(Err(format!(
                    "this helper holds no member {member} of model {model}"
                )));
            };
            let probs = probabilities_of(m, input, size, flip_tta, &device).await;
            FromHelper::Probabilities(probs.map_err(|e| e.to_string()))
        }
    }
}
