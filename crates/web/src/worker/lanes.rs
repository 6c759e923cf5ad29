//! The worker's other threads on the CPU path. A wasm program has one thread, so the worker
//! starts helper workers (the same program, named `HELPER_NAME`, run by `helper.rs`), one per
//! other core, has each hold the same models, and hands them a share of every case's forward
//! passes through the core's `Offload` (each round: one batch per thread, in order).

use crate::protocol::{FromHelper, ToHelper};
use crate::transport::{send, start_twin, unpack};
use brainseg::inference::{Offload, OffloadJob, Offloaded};
use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// The name a helper worker is started with; the program reads it to know its role.
pub const HELPER_NAME: &str = "brainseg-helper";

/// Answers awaited from a helper, oldest first (it answers in order), or why it stopped.
#[derive(Default)]
struct Waiting {
    queue: VecDeque<(Function, Function)>,
    failed: Option<String>,
}

/// One helper worker, and what is awaited from it.
pub struct Helper {
    worker: Worker,
    waiting: Rc<RefCell<Waiting>>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

type Answer = std::pin::Pin<Box<dyn Future<Output = Result<FromHelper, String>>>>;

impl Helper {
    /// Starts this program (`program`, its JS glue in `base`, the page's folder) again as a
    /// helper, from the module already compiled here; the future says when it runs.
    fn spawn(base: &str, program: &str) -> Result<(Self, Answer), String> {
        let worker = start_twin(&format!("{base}{program}.js"), HELPER_NAME)?;
        let waiting: Rc<RefCell<Waiting>> = Rc::default();
        let w = Rc::clone(&waiting);
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            let next = w.borrow_mut().queue.pop_front();
            if let Some((resolve, _)) = next {
                let _ = resolve.call1(&JsValue::NULL, &e.data());
            }
        });
        let w = Rc::clone(&waiting);
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            // A helper that failed answers nothing more: every wait ends, saying why.
            let why = format!("a helper worker failed: {}", e.message());
            let waits: Vec<_> = {
                let mut w = w.borrow_mut();
                w.failed = Some(why.clone());
                w.queue.drain(..).collect()
            };
            for (_, reject) in waits {
                let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&why));
            }
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        let helper = Self {
            worker,
            waiting,
            _on_message: on_message,
            _on_error: on_error,
        };
        let ready = helper.answer();
        Ok((helper, ready))
    }

    /// The next answer (its place in the queue taken now, before anything more is sent).
    fn answer(&self) -> Answer {
        let failed = self.waiting.borrow().failed.clone();
        if let Some(why) = failed {
            return Box::pin(async move { Err(why) });
        }
        let waiting = Rc::clone(&self.waiting);
        let promise = Promise::new(&mut |resolve, reject| {
            waiting.borrow_mut().queue.push_back((resolve, reject));
        });
        Box::pin(async move {
            let data = JsFuture::from(promise)
                .await
                .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))?;
            unpack::<FromHelper>(data).map(|(m, _)| m)
        })
    }

    /// Sends `msg`; resolves to its answer.
    fn ask(&self, msg: &ToHelper) -> Answer {
        let answer = self.answer();
        if let Err(e) = send(&self.worker, msg, None) {
            // Nothing will answer this one: give its place back.
            self.waiting.borrow_mut().queue.pop_back();
            return Box::pin(async move { Err(e) });
        }
        answer
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

fn label(msg: &FromHelper) -> &'static str {
    match msg {
        FromHelper::Ready => "Ready",
        FromHelper::Loaded(_) => "Loaded",
        FromHelper::Probabilities(_) => "Probabilities",
    }
}

/// Starts `count` helpers of program `program`, all at once; those that did not start are
/// named in the second list.
pub async fn start(base: &str, program: &str, count: usize) -> (Vec<Rc<Helper>>, Vec<String>) {
    let mut started = Vec::new();
    let mut failed = Vec::new();
    for i in 0..count {
        match Helper::spawn(base, program) {
            Ok(h) => started.push((i, h)),
            Err(e) => failed.push(format!("helper {}: {e}", i + 1)),
        }
    }
    let mut helpers = Vec::new();
    for (i, (helper, ready)) in started {
        match ready.await {
            Ok(FromHelper::Ready) => helpers.push(Rc::new(helper)),
            Ok(other) => failed.push(format!("helper {}: answered {}", i + 1, label(&other))),
            Err(e) => failed.push(format!("helper {}: {e}", i + 1)),
        }
    }
    (helpers, failed)
}

/// Has every helper hold models `names` (each keeps the ones it has), all at once; keeps the
/// helpers that did, and says why of the others.
pub async fn load(
    helpers: Vec<Rc<Helper>>,
    base: &str,
    names: &[String],
) -> (Vec<Rc<Helper>>, Vec<String>) {
    let msg = ToHelper::Load {
        base: base.to_string(),
        names: names.to_vec(),
    };
    // Sent to every helper before any answer is awaited.
    let answers: Vec<Answer> = helpers.iter().map(|h| h.ask(&msg)).collect();
    let mut kept = Vec::new();
    let mut failed = Vec::new();
    for (helper, answer) in helpers.into_iter().zip(answers) {
        match answer.await {
            Ok(FromHelper::Loaded(Ok(()))) => kept.push(helper),
            Ok(FromHelper::Loaded(Err(e))) | Err(e) => {
                failed.push(format!("a helper could not load the models: {e}"))
            }
            Ok(other) => failed.push(format!("a helper answered {} to Load", label(&other))),
        }
    }
    (kept, failed)
}

/// Forward passes of model `model` (a name the helpers hold) on the helpers.
pub struct Lanes {
    pub helpers: Vec<Rc<Helper>>,
    pub model: String,
}

impl Offload for Lanes {
    fn lanes(&self) -> usize {
        self.helpers.len()
    }

    fn start(&self, lane: usize, job: OffloadJob) -> Offloaded {
        let Some(helper) = self.helpers.get(lane) else {
            return Box::pin(async move { Err(format!("no helper {lane}")) });
        };
        let answer = helper.ask(&ToHelper::Run {
            model: self.model.clone(),
            member: job.model,
            size: job.size,
            flip_tta: job.flip_tta,
            input: job.input,
        });
        Box::pin(async move {
            match answer.await? {
                FromHelper::Probabilities(r) => r,
                other => Err(format!("a helper answered {} to Run", label(&other))),
            }
        })
    }
}
