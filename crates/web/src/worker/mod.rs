//! The worker that owns the model: it decodes dropped files, queues their cases, runs them one
//! at a time and streams progress, so the page's thread only draws. Messages: `protocol`.

mod engine;
mod files;

use crate::backend::Choice;
use crate::now_ms;
use crate::protocol::{CaseView, FromWorker, Loaded, Outcome, ToWorker};
use crate::transport::{receive, send};
use brainseg::ingest::{Case, FileIssue, ingest_files};
use engine::Engine;
use files::ReadFiles;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

#[derive(Default)]
struct State {
    engine: Option<Rc<Engine>>,
    /// Every case given, to run again when another model is loaded.
    cases: Vec<(u32, Rc<Case>)>,
    queue: VecDeque<u32>,
    running: Option<u32>,
    cancel: bool,
    next_job: u32,
}

type Shared = Rc<RefCell<State>>;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(msg: &FromWorker) {
    if let Err(e) = send(&scope(), msg, None) {
        web_sys::console::error_1(&e.into());
    }
}

/// Starts the worker: from here on it answers the page's messages.
pub fn start() {
    let state: Shared = Rc::default();
    let on_message =
        Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| {
            match receive::<ToWorker>(&e) {
                Ok((msg, files)) => handle(&state, msg, files),
                Err(e) => post(&FromWorker::Error(e)),
            }
        });
    scope().set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    on_message.forget();
    post(&FromWorker::Ready);
}

fn handle(state: &Shared, msg: ToWorker, files: Option<js_sys::Array>) {
    match msg {
        ToWorker::Load { name, choice, base } => {
            state.borrow_mut().engine = None;
            let state = Rc::clone(state);
            spawn_local(async move {
                let loaded = load(&base, &name, choice).await;
                let reply = match loaded {
                    Ok((engine, info)) => {
                        let mut s = state.borrow_mut();
                        s.engine = Some(Rc::new(engine));
                        // Everything given so far runs again with this model.
                        let running = s.running;
                        s.queue = s
                            .cases
                            .iter()
                            .map(|(job, _)| *job)
                            .filter(|job| Some(*job) != running)
                            .collect();
                        Ok(info)
                    }
                    Err(e) => Err(e),
                };
                post(&FromWorker::Loaded(reply));
                pump(&state);
            });
        }
        ToWorker::Files { names } => {
            let files = files.unwrap_or_default();
            let state = Rc::clone(state);
            spawn_local(async move {
                let read = files::read_files(names, &files).await;
                add(&state, read);
            });
        }
        ToWorker::Sample { base } => {
            let state = Rc::clone(state);
            spawn_local(async move {
                match files::fetch_sample(&base).await {
                    Ok(files) => add(
                        &state,
                        ReadFiles {
                            files,
                            ..ReadFiles::default()
                        },
                    ),
                    Err(e) => post(&FromWorker::Error(e)),
                }
            });
        }
        ToWorker::Cancel => {
            let mut s = state.borrow_mut();
            s.cancel = s.running.is_some();
            for job in std::mem::take(&mut s.queue) {
                post(&FromWorker::Finished {
                    job,
                    outcome: Outcome::Cancelled,
                });
            }
        }
    }
}

async fn load(base: &str, name: &str, choice: Choice) -> Result<(Engine, Loaded), String> {
    let start = now_ms();
    let device = engine::init_device(choice.backend).await?;
    let models = engine::load(base, name, &device).await?;
    let manifests = models
        .iter()
        .map(|(m, _)| serde_json::to_string(m).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    let info = Loaded {
        choice,
        millis: now_ms() - start,
        manifests,
    };
    Ok((Engine { device, models }, info))
}

/// Ingests what was read, hands each new case to the page and queues it.
fn add(state: &Shared, read: ReadFiles) {
    let ReadFiles {
        files,
        mut errors,
        skipped,
    } = read;
    if files.is_empty() && errors.is_empty() {
        errors.push(FileIssue {
            file: "(drop)".into(),
            message: "no .tif files in what was given".into(),
        });
    }
    let got = ingest_files(files);
    errors.extend(got.errors);
    let mut warnings = skipped;
    warnings.extend(got.warnings);
    post(&FromWorker::Issues { errors, warnings });
    for case in got.cases {
        let mut s = state.borrow_mut();
        let job = s.next_job;
        s.next_job += 1;
        // A case given again replaces the earlier one (and runs again).
        let old: Vec<u32> = s
            .cases
            .iter()
            .filter(|(_, c)| c.id == case.id)
            .map(|(j, _)| *j)
            .collect();
        s.cases.retain(|(j, _)| !old.contains(j));
        s.queue.retain(|j| !old.contains(j));
        post(&FromWorker::Case {
            job,
            case: CaseView::new(&case),
        });
        s.cases.push((job, Rc::new(case)));
        s.queue.push_back(job);
    }
    pump(state);
}

/// Starts the next queued case, if the model is ready and nothing is running.
fn pump(state: &Shared) {
    let (job, case, engine) = {
        let mut s = state.borrow_mut();
        if s.running.is_some() {
            return;
        }
        let Some(engine) = s.engine.clone() else {
            return;
        };
        let Some(job) = s.queue.pop_front() else {
            return;
        };
        let Some(case) = s
            .cases
            .iter()
            .find(|(j, _)| *j == job)
            .map(|(_, c)| c.clone())
        else {
            return;
        };
        s.running = Some(job);
        s.cancel = false;
        (job, case, engine)
    };
    let state = Rc::clone(state);
    spawn_local(async move {
        let start = now_ms();
        let progress = |done: usize, total: usize| {
            let elapsed = now_ms() - start;
            post(&FromWorker::Progress {
                job,
                done,
                total,
                ms_per_slice: if done > 0 { elapsed / done as f64 } else { 0.0 },
            });
            let state = Rc::clone(&state);
            // Yield between slices so that a Cancel message is handled before the next one.
            async move {
                gloo_timers::future::TimeoutFuture::new(0).await;
                !state.borrow().cancel
            }
        };
        let outcome = match engine::run_case(&engine, &case, progress).await {
            Ok(Some(r)) => Outcome::Done(r),
            Ok(None) => Outcome::Cancelled,
            Err(e) => Outcome::Failed(e),
        };
        post(&FromWorker::Finished { job, outcome });
        {
            let mut s = state.borrow_mut();
            s.running = None;
            s.cancel = false;
        }
        pump(&state);
    });
}
