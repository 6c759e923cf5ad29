//! The page's component: its state, the messages that change it, and the layout. The models
//! run in a worker (`client`), the one of the backend `backend::decide` picks at start; the
//! views are in `model_panel`, `case_table` and `viewer`.
//!
//! Machine-readable state for automated tests: `#status[data-state]` (loading, ready, running,
//! done, error), `[data-backend]` (webgpu or cpu), one `[data-case]` row per case with
//! `data-dsc` (4 decimals; the first ticked model's) when its masks were given, and in it one
//! `[data-model]` cell per ticked model (`data-dsc`) and one `[data-pair]` cell per two models
//! (`data-agreement`: the DSC between their masks).

use super::client::WorkerClient;
use super::render::{self, Channels, Layer, OverlayStyle};
use super::startup::{ModelEntry, forced_backend, forced_batch, forced_threads, list_models};
use super::{case_table, dom, drop_zone, export, model_panel, viewer};
use crate::backend::{self, Choice};
use crate::protocol::{FromWorker, Loaded, ToWorker};
use crate::state::CaseTable;
use brainseg::ingest::FileIssue;
use brainseg::manifest::Manifest;
use js_sys::Array;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{HtmlCanvasElement, KeyboardEvent};
use yew::prelude::*;

/// The loaded models as the page shows them.
pub struct ModelView {
    pub loaded: Loaded,
    /// Each loaded model's manifests, in `loaded.models` order.
    pub manifests: Vec<Vec<Manifest>>,
}

pub enum Msg {
    Listed(Result<Vec<ModelEntry>, String>),
    /// The backend, decided from `?backend=` and the adapter before any worker starts.
    Decided(Result<Choice, String>),
    Worker(Result<FromWorker, String>),
    /// A model ticked (true) or unticked for running.
    Tick(String, bool),
    /// A model's outline shown (true) or hidden in the slice view.
    Show(String, bool),
    /// The model whose masks and DSC table the downloads export.
    ExportModel(String),
    Files(Vec<(String, web_sys::File)>),
    /// The files of drop `.0` not yet sent to the worker.
    MoreFiles(u32, Vec<(String, web_sys::File)>),
    Sample,
    Cancel,
    Select(usize),
    Slice(usize),
    Key(KeyboardEvent),
    Channels(Channels),
    Style(OverlayStyle),
    Opacity(f32),
    SortDsc,
    DownloadSlice,
    DownloadZip,
    DownloadCsv,
}

pub struct App {
    pub(super) models: Vec<ModelEntry>,
    /// The models to run, in listing order (at least one once listed).
    pub(super) ticked: Vec<String>,
    pub(super) model: Option<ModelView>,
    /// Ticked models whose outlines the slice view leaves out.
    pub(super) hidden: Vec<String>,
    pub(super) export_model: Option<String>,
    /// Loaded models' weights: true when read from this browser's cache, false downloaded.
    pub(super) weights_cached: Vec<(String, bool)>,
    pub(super) fatal: Option<String>,
    pub(super) loading: bool,
    pub(super) table: CaseTable,
    pub(super) issues: Vec<FileIssue>,
    pub(super) warnings: Vec<FileIssue>,
    pub(super) channels: Channels,
    pub(super) style: OverlayStyle,
    pub(super) opacity: f32,
    pub(super) canvas: NodeRef,
    pub(super) file_input: NodeRef,
    /// The backend and its worker, once decided (`Msg::Decided`).
    choice: Option<Choice>,
    worker: Option<WorkerClient>,
    /// Messages held until the worker says it is ready (before that it would drop them).
    outbox: Option<Vec<(ToWorker, Option<Array>)>>,
    base: String,
    /// The number of the next drop of files.
    next_drop: u32,
}

/// File handles a message to the worker carries at most: posting a handle costs the page's
/// thread ~0.3 ms (a structured clone; 120 in one message took 38 ms), several times that while
/// the worker's threads take the cores, so a large drop goes over in parts, one task each.
const FILES_A_MESSAGE: usize = 16;

/// Sends `files` of drop `drop` to the worker from a later task (`Msg::MoreFiles`).
fn send_files_later(ctx: &Context<App>, drop: u32, files: Vec<(String, web_sys::File)>) {
    ctx.link().send_future(async move {
        // A timer, not a resolved promise: a promise's callback runs in the same task.
        gloo_timers::future::TimeoutFuture::new(0).await;
        Msg::MoreFiles(drop, files)
    });
}

impl App {
    fn post(&mut self, msg: ToWorker, files: Option<Array>) {
        if let Some(outbox) = &mut self.outbox {
            outbox.push((msg, files));
            return;
        }
        let sent = match &self.worker {
            Some(w) => w.send(&msg, files.as_ref()),
            None => Err("the worker is not running".into()),
        };
        if let Err(e) = sent {
            self.fail(e);
        }
    }

    /// Sends the worker the first `FILES_A_MESSAGE` files of drop `drop` now, the rest from
    /// later tasks.
    fn send_files(
        &mut self,
        ctx: &Context<Self>,
        drop: u32,
        mut files: Vec<(String, web_sys::File)>,
    ) {
        let rest = files.split_off(files.len().min(FILES_A_MESSAGE));
        let last = rest.is_empty();
        let (names, handles): (Vec<String>, Vec<web_sys::File>) = files.into_iter().unzip();
        let handles: Array = handles.into_iter().collect();
        self.post(ToWorker::Files { drop, names, last }, Some(handles));
        if !last {
            send_files_later(ctx, drop, rest);
        }
    }

    /// Something failed that stops the page (it says what in its status line).
    fn fail(&mut self, e: String) {
        self.loading = false;
        self.fatal = Some(e);
    }

    /// Loads the ticked models in the worker; before the backend is decided, `Msg::Decided`
    /// does.
    fn load_models(&mut self) {
        self.loading = true;
        let threads = match forced_threads() {
            Ok(t) => t,
            Err(e) => return self.fail(e),
        };
        if let Some(choice) = self.choice.clone() {
            let (names, base) = (self.ticked.clone(), self.base.clone());
            self.post(
                ToWorker::Load {
                    names,
                    choice,
                    base,
                    threads,
                },
                None,
            );
        }
    }

    /// Where model `name` is in the listing: its colour.
    pub(super) fn model_colour(&self, name: &str) -> [u8; 3] {
        render::model_rgb(self.models.iter().position(|m| m.name == name).unwrap_or(0))
    }

    /// The model the downloads export: the one picked, else the first ticked.
    pub(super) fn export_target(&self) -> Option<String> {
        self.export_model
            .clone()
            .filter(|m| self.table.models.contains(m))
            .or_else(|| self.table.primary().map(String::from))
    }

    /// Starts the worker program of the chosen backend, then loads the model picked so far.
    fn start_worker(&mut self, ctx: &Context<Self>, choice: Choice) {
        let program = choice.backend.worker_program();
        match WorkerClient::spawn(program, ctx.link().callback(Msg::Worker)) {
            Ok(worker) => {
                self.worker = Some(worker);
                self.choice = Some(choice);
                if !self.ticked.is_empty() {
                    self.load_models();
                }
            }
            Err(e) => self.fail(e),
        }
    }

    pub(super) fn state(&self) -> &'static str {
        if self.fatal.is_some() {
            "error"
        } else if self.loading {
            "loading"
        } else if self.table.busy() {
            "running"
        } else if !self.table.entries.is_empty() {
            "done"
        } else {
            "ready"
        }
    }

    fn on_worker_message(&mut self, msg: FromWorker) {
        match msg {
            FromWorker::Ready => {
                for (m, files) in self.outbox.take().unwrap_or_default() {
                    self.post(m, files);
                }
            }
            FromWorker::Loaded(Ok(loaded)) => {
                self.loading = false;
                // A model that failed to load before (and was unticked) no longer stops the page.
                self.fatal = None;
                let manifests: Result<Vec<Vec<Manifest>>, _> = loaded
                    .models
                    .iter()
                    .map(|m| m.manifests.iter().map(|j| Manifest::from_json(j)).collect())
                    .collect();
                match manifests {
                    Ok(manifests) => {
                        for m in &loaded.models {
                            if let Some(cached) = m.weights_cached {
                                self.weights_cached.retain(|(n, _)| *n != m.name);
                                self.weights_cached.push((m.name.clone(), cached));
                            }
                        }
                        let names = loaded.models.iter().map(|m| m.name.clone()).collect();
                        self.table.set_models(names);
                        self.model = Some(ModelView { loaded, manifests });
                    }
                    Err(e) => self.fail(e.to_string()),
                }
            }
            FromWorker::Loaded(Err(e)) => self.fail(e),
            FromWorker::Case { job, case } => self.table.add(job, case),
            FromWorker::Issues { errors, warnings } => {
                self.issues.extend(errors);
                self.warnings.extend(warnings);
            }
            FromWorker::Progress {
                job,
                done,
                total,
                ms_per_slice,
            } => self.table.progress(job, done, total, ms_per_slice),
            FromWorker::Finished { job, outcome } => self.table.finish(job, outcome),
            FromWorker::Error(e) => self.issues.push(FileIssue {
                file: "(worker)".into(),
                message: e,
            }),
        }
    }

    fn download_issue(&mut self, r: Result<(), String>) {
        if let Err(message) = r {
            self.issues.push(FileIssue {
                file: "(download)".into(),
                message,
            });
        }
    }

    fn download(&mut self, whole_case: bool) {
        let Some(model) = self.export_target() else {
            return;
        };
        let Some(entry) = self.table.current() else {
            return;
        };
        let Some(result) = entry.result(&model) else {
            return;
        };
        let r = if whole_case {
            export::case_zip(&entry.case.to_case(), &result.mask).and_then(|bytes| {
                dom::download(
                    &format!("{}_masks_{model}.zip", entry.case.id),
                    &bytes,
                    "application/zip",
                )
            })
        } else {
            export::slice_mask_tiff(&entry.case.to_case(), &result.mask, entry.slice)
                .and_then(|(name, bytes)| dom::download(&name, &bytes, "image/tiff"))
        };
        self.download_issue(r);
    }

    fn draw(&self) {
        let Some(canvas) = self.canvas.cast::<HtmlCanvasElement>() else {
            return;
        };
        let Some(entry) = self.table.current() else {
            return;
        };
        let case = &entry.case;
        let k = entry.slice.min(case.slices.len() - 1);
        let slice = &case.slices[k];
        let (w, h) = (slice.width, slice.height);
        let plane = w * h;
        // The ticked models' masks of this slice, each in its colour, but those hidden.
        let layers: Vec<Layer> = self
            .table
            .models
            .iter()
            .filter(|m| !self.hidden.contains(m))
            .filter_map(|m| {
                let mask = entry.result(m)?.mask.get(k * plane..(k + 1) * plane)?;
                Some(Layer {
                    mask,
                    rgb: self.model_colour(m),
                })
            })
            .collect();
        let truth = slice.mask.as_ref().map(|m| m.data.as_slice());
        let pixels = render::compose(
            slice,
            &layers,
            truth,
            self.channels,
            self.style,
            self.opacity,
        );
        canvas.set_width(w as u32);
        canvas.set_height(h as u32);
        let Ok(Some(ctx2d)) = canvas.get_context("2d") else {
            return;
        };
        let ctx2d: web_sys::CanvasRenderingContext2d = ctx2d.unchecked_into();
        if let Ok(img) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            Clamped(&pixels),
            w as u32,
            h as u32,
        ) {
            let _ = ctx2d.put_image_data(&img, 0.0, 0.0);
        }
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link()
            .send_future(async { Msg::Listed(list_models().await) });
        let fatal = match forced_backend().and_then(|b| Ok((b, forced_batch()?))) {
            Ok((forced, batch)) => {
                ctx.link()
                    .send_future(async move { Msg::Decided(backend::decide(forced, batch).await) });
                None
            }
            Err(e) => Some(e),
        };
        Self {
            models: Vec::new(),
            ticked: Vec::new(),
            model: None,
            hidden: Vec::new(),
            export_model: None,
            weights_cached: Vec::new(),
            fatal,
            loading: true,
            table: CaseTable::default(),
            issues: Vec::new(),
            warnings: Vec::new(),
            channels: Channels::Flair,
            style: OverlayStyle::Fill,
            opacity: 0.45,
            canvas: NodeRef::default(),
            file_input: NodeRef::default(),
            choice: None,
            worker: None,
            outbox: Some(Vec::new()),
            base: dom::page_url("./").unwrap_or_default(),
            next_drop: 0,
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Decided(Ok(choice)) => self.start_worker(ctx, choice),
            Msg::Decided(Err(e)) | Msg::Listed(Err(e)) | Msg::Worker(Err(e)) => self.fail(e),
            Msg::Listed(Ok(models)) => {
                self.ticked = vec![models[0].name.clone()];
                self.models = models;
                self.load_models();
            }
            Msg::Worker(Ok(m)) => self.on_worker_message(m),
            Msg::Tick(name, on) => {
                // The set changes between cases; one model at least stays ticked.
                let ticked = self.ticked.contains(&name);
                if self.table.busy() || self.loading || ticked == on {
                    return false;
                }
                if on {
                    self.ticked.push(name);
                    // Listing order, so that the first listed model stays first.
                    let order = |n: &String| self.models.iter().position(|m| &m.name == n);
                    let mut ticked = std::mem::take(&mut self.ticked);
                    ticked.sort_by_key(order);
                    self.ticked = ticked;
                } else if self.ticked.len() > 1 {
                    self.ticked.retain(|n| *n != name);
                } else {
                    return false;
                }
                self.load_models();
            }
            Msg::Show(name, on) => {
                self.hidden.retain(|n| *n != name);
                if !on {
                    self.hidden.push(name);
                }
            }
            Msg::ExportModel(name) => self.export_model = Some(name),
            Msg::Files(files) => {
                if files.is_empty() {
                    self.issues.push(FileIssue {
                        file: "(drop)".into(),
                        message: "no .tif files in what was given".into(),
                    });
                    return true;
                }
                let drop = self.next_drop;
                self.next_drop += 1;
                // Nothing more in the event that brought the files (a drop, a picker's
                // `change`): the browser's own work on them runs in that task already.
                send_files_later(ctx, drop, files);
                return false;
            }
            Msg::MoreFiles(drop, files) => {
                self.send_files(ctx, drop, files);
                return false;
            }
            Msg::Sample => {
                let base = self.base.clone();
                self.post(ToWorker::Sample { base }, None);
            }
            Msg::Cancel => self.post(ToWorker::Cancel, None),
            Msg::Select(i) => self.table.select(i),
            Msg::Slice(k) => self.table.show_slice(k),
            Msg::Key(e) => {
                let delta = match e.key().as_str() {
                    "ArrowLeft" | "ArrowDown" => -1,
                    "ArrowRight" | "ArrowUp" => 1,
                    _ => return false,
                };
                e.prevent_default();
                self.table.step_slice(delta);
            }
            Msg::Channels(ch) => self.channels = ch,
            Msg::Style(s) => self.style = s,
            Msg::Opacity(o) => self.opacity = o,
            Msg::SortDsc => self.table.sort = self.table.sort.next(),
            Msg::DownloadSlice => self.download(false),
            Msg::DownloadZip => self.download(true),
            Msg::DownloadCsv => {
                let Some(model) = self.export_target() else {
                    return false;
                };
                let r = export::dsc_csv(&self.table.score_rows(&model)).and_then(|text| {
                    dom::download(
                        &format!("brainseg_dsc_{model}.csv"),
                        text.as_bytes(),
                        "text/csv",
                    )
                });
                self.download_issue(r);
            }
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first: bool) {
        self.draw();
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        html! {
            <main>
                <header>
                    <h1>{ "brainseg" }</h1>
                    <p class="tagline">{ "Brain-MRI FLAIR-abnormality segmentation, in your browser. Nothing is uploaded." }</p>
                </header>
                { model_panel::view(self, link) }
                { drop_zone::view(self, link) }
                if !self.issues.is_empty() || !self.warnings.is_empty() {
                    <section class="issues">
                        <p class="issues-count">{ format!(
                            "{} file(s) not used, {} warning(s)", self.issues.len(), self.warnings.len()
                        ) }</p>
                        <ul>
                            { for self.issues.iter().map(|i| html! { <li class="error">{ i.to_string() }</li> }) }
                            { for self.warnings.iter().map(|i| html! { <li class="warning">{ i.to_string() }</li> }) }
                        </ul>
                    </section>
                }
                if !self.table.entries.is_empty() {
                    <section class="results">
                        { case_table::view(self, link) }
                        { viewer::view(self, link) }
                    </section>
                }
                <footer>
                    { "Sample slices: LGG Segmentation Dataset (TCGA-LGG, The Cancer Imaging Archive), masks by M. Buda et al.: " }
                    <cite>{ "Buda, Saha, Mazurowski, “Association of genomic subtypes of lower-grade gliomas with shape features automatically extracted by a deep learning algorithm”, Computers in Biology and Medicine 109 (2019)." }</cite>
                    { " Research use only — not a medical device." }
                </footer>
            </main>
        }
    }
}

/// The value of the `<select>` that fired a change event.
pub(super) fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlSelectElement>()
        .value()
}
