//! The worker that owns the model: it decodes dropped files, queues their cases, runs them one
//! at a time and streams progress, so the page's thread only draws. Messages: `protocol`.

mod engine;
mod files;
#[cfg(feature = "cpu")]
mod helper;
mod lanes;
mod weights_cache;

use crate::backend::Choice;
use crate::now_ms;
use crate::protocol::{
    BackendKind, CaseResult, CaseView, FromWorker, Loaded, LoadedModel, MAX_THREADS, ModelResult,
    Outcome, ToWorker,
};
use crate::transport::{receive, send};
use brainseg::ingest::{Case, FileIssue, ingest_files};
use burn::prelude::Device;
use engine::Engine;
use files::ReadFiles;
use lanes::{Helper, Lanes};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::spawn_local;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

#[derive(Default)]
struct State {
    /// The device of the backend chosen, set up by the first load.
    device: Option<Device>,
    /// Slices a forward pass (the backend choice's; the core takes at least one).
    batch: usize,
    /// The models every case runs with, by name, in the page's order (empty while loading).
    engines: Vec<(String, Rc<Engine>)>,
    /// Each model's result per job, so that a case runs again only with models added since.
    results: HashMap<(u32, String), CaseResult>,
    /// Every case given, to run again when another model is loaded.
    cases: Vec<(u32, Rc<Case>)>,
    queue: VecDeque<u32>,
    running: Option<u32>,
    cancel: bool,
    next_job: u32,
    /// The CPU path's helper workers (`lanes`), started by the first load; `None` before.
    helpers: Option<Vec<Rc<Helper>>>,
    /// Why fewer threads run than were asked for, if so.
    threads_note: Option<String>,
    /// The parts of each drop received so far (names, `File` handles), until its last part.
    drops: HashMap<u32, (Vec<String>, js_sys::Array)>,
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

/// Starts the worker: from here on it answers the page's messages. Started as a helper (by
/// another worker, `lanes`), it runs forward passes for that worker instead.
pub fn start() {
    if scope().name() == lanes::HELPER_NAME {
        #[cfg(feature = "cpu")]
        helper::start();
        #[cfg(not(feature = "cpu"))]
        web_sys::console::error_1(&"helpers run the CPU path, not built into this program".into());
        return;
    }
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
        ToWorker::Load {
            names,
            choice,
            base,
            threads,
        } => {
            // Nothing starts until the new set is loaded; models kept are reused.
            let kept = std::mem::take(&mut state.borrow_mut().engines);
            let state = Rc::clone(state);
            spawn_local(async move {
                let reply = match load(&state, &base, &names, choice, threads, kept).await {
                    Ok((engines, info)) => {
                        let mut s = state.borrow_mut();
                        s.results
                            .retain(|(_, model), _| engines.iter().any(|(n, _)| n == model));
                        s.engines = engines;
                        // Everything given so far runs again with this set.
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
        ToWorker::Files { drop, names, last } => {
            let files = files.unwrap_or_default();
            let (names, files) = {
                let mut s = state.borrow_mut();
                let part = s
                    .drops
                    .entry(drop)
                    .or_insert_with(|| (Vec::new(), js_sys::Array::new()));
                part.0.extend(names);
                for f in files.iter() {
                    part.1.push(&f);
                }
                if !last {
                    return;
                }
                s.drops.remove(&drop).unwrap_or_default()
            };
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

type Engines = Vec<(String, Rc<Engine>)>;

/// Sets up the device (once) and the models `names`: those in `kept` as they are, the others
/// fetched.
async fn load(
    state: &Shared,
    base: &str,
    names: &[String],
    choice: Choice,
    threads: Option<u32>,
    mut kept: Engines,
) -> Result<(Engines, Loaded), String> {
    let start = now_ms();
    let set_up = state.borrow().device.clone();
    let device = match set_up {
        Some(d) => d,
        None => engine::init_device(choice.backend).await?,
    };
    {
        let mut s = state.borrow_mut();
        s.device = Some(device.clone());
        s.batch = choice.batch as usize;
    }
    let mut engines = Engines::new();
    let mut models = Vec::new();
    for name in names {
        let (engine, weights_cached) = match kept.iter().position(|(n, _)| n == name) {
            Some(i) => (kept.swap_remove(i).1, None),
            None => {
                let (models, cached) = engine::load(base, name, &device).await?;
                let engine = Engine {
                    device: device.clone(),
                    models,
                };
                (Rc::new(engine), Some(cached))
            }
        };
        let manifests = engine
            .models
            .iter()
            .map(|(m, _)| serde_json::to_string(m).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        models.push(LoadedModel {
            name: name.clone(),
            manifests,
            weights_cached,
        });
        engines.push((name.clone(), engine));
    }
    let helpers = if choice.backend == BackendKind::Cpu {
        load_helpers(state, base, names, threads).await
    } else {
        Vec::new()
    };
    let info = Loaded {
        choice,
        millis: now_ms() - start,
        models,
        threads: 1 + helpers.len() as u32,
        threads_note: state.borrow().threads_note.clone(),
    };
    Ok((engines, info))
}

/// The CPU path's helpers, holding models `names`: started by the first load (`threads` in
/// all, this worker included; by default one per core up to `MAX_THREADS`). A helper that does
/// not start or load is dropped and the page told why (`threads_note`): the others still run.
async fn load_helpers(
    state: &Shared,
    base: &str,
    names: &[String],
    threads: Option<u32>,
) -> Vec<Rc<Helper>> {
    let started = state.borrow().helpers.clone();
    let (helpers, mut failed) = match started {
        Some(h) => (h, Vec::new()),
        None => {
            let cores = scope().navigator().hardware_concurrency() as u32;
            let want = threads.unwrap_or(cores.clamp(1, MAX_THREADS)).max(1);
            lanes::start(base, BackendKind::Cpu.worker_program(), want as usize - 1).await
        }
    };
    let asked = helpers.len() + failed.len();
    let (helpers, more) = lanes::load(helpers, base, names).await;
    failed.extend(more);
    let mut s = state.borrow_mut();
    if !failed.is_empty() {
        let note = format!(
            "{} of {} threads: {}",
            1 + helpers.len(),
            1 + asked,
            failed.join("; ")
        );
        web_sys::console::warn_1(&note.clone().into());
        s.threads_note = Some(note);
    }
    s.helpers = Some(helpers.clone());
    helpers
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
        s.results.retain(|(j, _), _| !old.contains(j));
        post(&FromWorker::Case {
            job,
            case: CaseView::new(&case),
        });
        s.cases.push((job, Rc::new(case)));
        s.queue.push_back(job);
    }
    pump(state);
}

/// Starts the next queued case, if the models are ready and nothing is running.
fn pump(state: &Shared) {
    let (job, case, engines) = {
        let mut s = state.borrow_mut();
        if s.running.is_some() || s.engines.is_empty() {
            return;
        }
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
        (job, case, s.engines.clone())
    };
    let state = Rc::clone(state);
    spawn_local(async move {
        let outcome = run_job(&state, job, &case, &engines).await;
        post(&FromWorker::Finished { job, outcome });
        {
            let mut s = state.borrow_mut();
            s.running = None;
            s.cancel = false;
        }
        pump(&state);
    });
}

/// Runs a case with every model that has no result for it yet, streaming progress over all of
/// them; the results of models that finished are kept even when a later one is cancelled.
async fn run_job(state: &Shared, job: u32, case: &Case, engines: &Engines) -> Outcome {
    let cached = |name: &String| state.borrow().results.get(&(job, name.clone())).cloned();
    let todo = engines.iter().filter(|(n, _)| cached(n).is_none()).count();
    let total = todo * case.slices.len();
    let start = now_ms();
    let mut offset = 0;
    let mut results = Vec::new();
    for (name, engine) in engines {
        if let Some(result) = cached(name) {
            results.push(ModelResult {
                model: name.clone(),
                result,
            });
            continue;
        }
        let progress = |done: usize, _: usize| {
            let done = offset + done;
            let elapsed = now_ms() - start;
            post(&FromWorker::Progress {
                job,
                done,
                total,
                ms_per_slice: if done > 0 { elapsed / done as f64 } else { 0.0 },
            });
            let state = Rc::clone(state);
            // Yield between passes so that a Cancel message is handled before the next one.
            async move {
                gloo_timers::future::TimeoutFuture::new(0).await;
                !state.borrow().cancel
            }
        };
        let lanes = Lanes {
            helpers: state.borrow().helpers.clone().unwrap_or_default(),
            model: name.clone(),
        };
        let batch = state.borrow().batch;
        match engine::run_case(engine, case, batch, &lanes, progress).await {
            Ok(Some(result)) => {
                state
                    .borrow_mut()
                    .results
                    .insert((job, name.clone()), result.clone());
                results.push(ModelResult {
                    model: name.clone(),
                    result,
                });
            }
            Ok(None) => return Outcome::Cancelled,
            // With several models, say which one failed.
            Err(e) if engines.len() > 1 => return Outcome::Failed(format!("{name}: {e}")),
            Err(e) => return Outcome::Failed(e),
        }
        offset += case.slices.len();
    }
    Outcome::Done(results)
}
