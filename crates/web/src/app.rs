//! The page: model status, file input and drop zone, case table, slice viewer, downloads.
//!
//! Machine-readable state for automated tests: `#status[data-state]` (loading, ready, running,
//! done, error), `[data-backend]` (webgpu or cpu), and one `[data-case]` row per case with
//! `data-dsc` (4 decimals) when its masks were given.

use crate::dom;
use crate::engine::{self, BackendKind, CaseResult, ModelEntry};
use crate::export;
use crate::render::{self, Channels, OverlayStyle};
use brainseg::ingest::{Case, FileIssue, InputFile, ingest_files};
use brainseg::manifest::Manifest;
use brainseg::model::Model;
use brainseg::scores::ScoreRow;
use burn::prelude::Device;
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::{Clamped, JsCast};
use web_sys::{DragEvent, HtmlCanvasElement, HtmlInputElement, KeyboardEvent};
use yew::prelude::*;

/// The loaded model (an ensemble: its models, first one first) and the device it runs on.
pub struct Engine {
    device: Device,
    models: Vec<(Manifest, Model)>,
}

#[derive(Debug, Clone, PartialEq)]
enum CaseStatus {
    Queued,
    Running { done: usize, total: usize },
    Done,
    Cancelled,
    Failed(String),
}

struct CaseEntry {
    case: Rc<Case>,
    status: CaseStatus,
    result: Option<CaseResult>,
    slice: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Sort {
    Input,
    DscAscending,
    DscDescending,
}

pub enum Msg {
    Listed(Result<Vec<ModelEntry>, String>),
    Loaded(Result<(Rc<Engine>, BackendKind, Option<String>, f64), String>),
    PickModel(String),
    Files(Vec<(String, web_sys::File)>),
    Read(dom::ReadFiles),
    Sample,
    Progress(usize, usize, usize),
    CaseDone(usize, Result<Option<CaseResult>, String>),
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
    Error(String),
}

pub struct App {
    models: Vec<ModelEntry>,
    model_name: Option<String>,
    engine: Option<Rc<Engine>>,
    backend: Option<BackendKind>,
    backend_note: Option<String>,
    load_ms: Option<f64>,
    fatal: Option<String>,
    loading: bool,
    cases: Vec<CaseEntry>,
    issues: Vec<FileIssue>,
    warnings: Vec<FileIssue>,
    selected: Option<usize>,
    running: Option<usize>,
    cancel: Rc<Cell<bool>>,
    channels: Channels,
    style: OverlayStyle,
    opacity: f32,
    sort: Sort,
    canvas: NodeRef,
    file_input: NodeRef,
}

fn forced_backend() -> Result<Option<BackendKind>, String> {
    match dom::query_param("backend").as_deref() {
        None | Some("") => Ok(None),
        Some("cpu") => Ok(Some(BackendKind::Cpu)),
        Some("webgpu") => Ok(Some(BackendKind::WebGpu)),
        Some(other) => Err(format!("unknown ?backend={other} (use webgpu or cpu)")),
    }
}

impl App {
    fn load_model(&mut self, ctx: &Context<Self>, name: String) {
        self.loading = true;
        self.engine = None;
        self.model_name = Some(name.clone());
        ctx.link().send_future(async move {
            let run = async {
                let forced = forced_backend()?;
                let start = engine::now_ms();
                let (device, kind, note) = engine::init_device(forced).await?;
                let models = engine::load(&name, &device).await?;
                Ok((
                    Rc::new(Engine { device, models }),
                    kind,
                    note,
                    engine::now_ms() - start,
                ))
            };
            Msg::Loaded(run.await)
        });
    }

    /// Starts the next queued case, if the model is ready and nothing is running.
    fn pump(&mut self, ctx: &Context<Self>) {
        if self.running.is_some() {
            return;
        }
        let Some(engine) = self.engine.clone() else {
            return;
        };
        let Some(idx) = self
            .cases
            .iter()
            .position(|c| c.status == CaseStatus::Queued)
        else {
            return;
        };
        self.running = Some(idx);
        self.cases[idx].status = CaseStatus::Running { done: 0, total: 0 };
        let case = Rc::clone(&self.cases[idx].case);
        let link = ctx.link().clone();
        let cancel = Rc::clone(&self.cancel);
        ctx.link().send_future(async move {
            let progress = |done: usize, total: usize| {
                link.send_message(Msg::Progress(idx, done, total));
                let cancel = Rc::clone(&cancel);
                // Yield to the browser between slices so the page stays responsive.
                async move {
                    gloo_timers::future::TimeoutFuture::new(0).await;
                    !cancel.get()
                }
            };
            let r = engine::run_case(&engine.models, &engine.device, &case, progress).await;
            Msg::CaseDone(idx, r)
        });
    }

    fn state(&self) -> &'static str {
        if self.fatal.is_some() {
            "error"
        } else if self.loading {
            "loading"
        } else if self.running.is_some()
            || self.cases.iter().any(|c| c.status == CaseStatus::Queued)
        {
            "running"
        } else if !self.cases.is_empty() {
            "done"
        } else {
            "ready"
        }
    }

    fn add_files(&mut self, files: Vec<InputFile>, read_errors: Vec<FileIssue>) {
        let got = ingest_files(files);
        self.issues.extend(read_errors);
        self.issues.extend(got.errors);
        self.warnings.extend(got.warnings);
        for case in got.cases {
            let entry = CaseEntry {
                case: Rc::new(case),
                status: CaseStatus::Queued,
                result: None,
                slice: 0,
            };
            // Dropping a case again replaces it (and runs it again).
            match self.cases.iter().position(|c| c.case.id == entry.case.id) {
                Some(i) if self.running != Some(i) => self.cases[i] = entry,
                _ => self.cases.push(entry),
            }
        }
        if self.selected.is_none() && !self.cases.is_empty() {
            self.selected = Some(0);
        }
        if let Some(i) = self.selected {
            let c = &mut self.cases[i];
            c.slice = middle_lesion_slice(&c.case);
        }
        self.cancel.set(false);
    }

    fn current(&self) -> Option<&CaseEntry> {
        self.selected.and_then(|i| self.cases.get(i))
    }

    fn draw(&self) {
        let Some(canvas) = self.canvas.cast::<HtmlCanvasElement>() else {
            return;
        };
        let Some(entry) = self.current() else { return };
        let case = &entry.case;
        let k = entry.slice.min(case.slices.len() - 1);
        let slice = &case.slices[k];
        let (w, h) = (slice.image.width, slice.image.height);
        let plane = w * h;
        let pred = entry
            .result
            .as_ref()
            .map(|r| &r.mask[k * plane..(k + 1) * plane]);
        let truth = slice.mask.as_ref().map(|m| m.data.as_slice());
        let pixels = render::compose(
            &slice.image,
            pred,
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

    fn rows(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.cases.len()).collect();
        let dsc = |i: &usize| {
            self.cases[*i]
                .result
                .as_ref()
                .and_then(|r| r.dsc)
                .unwrap_or(f64::NAN)
        };
        match self.sort {
            Sort::Input => {}
            Sort::DscAscending => idx.sort_by(|a, b| dsc(a).total_cmp(&dsc(b))),
            Sort::DscDescending => idx.sort_by(|a, b| dsc(b).total_cmp(&dsc(a))),
        }
        idx
    }
}

/// The slice with the largest ground-truth lesion, else the middle one: a useful first view.
fn middle_lesion_slice(case: &Case) -> usize {
    case.slices
        .iter()
        .enumerate()
        .max_by_key(|(_, s)| s.mask.as_ref().map(|m| m.lesion_pixels()).unwrap_or(0))
        .filter(|(_, s)| s.mask.as_ref().is_some_and(|m| m.lesion_pixels() > 0))
        .map(|(i, _)| i)
        .unwrap_or(case.slices.len() / 2)
}

async fn fetch_sample() -> Result<Vec<InputFile>, String> {
    let names: Vec<String> = serde_json::from_str(&engine::fetch_text("samples/index.json").await?)
        .map_err(|e| format!("samples/index.json: {e}"))?;
    let mut files = Vec::new();
    for n in names {
        let url = format!("samples/{n}");
        let bytes = engine::fetch_bytes(&url)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        files.push(InputFile::from_bytes(n, bytes));
    }
    Ok(files)
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        ctx.link()
            .send_future(async { Msg::Listed(engine::list_models().await) });
        Self {
            models: Vec::new(),
            model_name: None,
            engine: None,
            backend: None,
            backend_note: None,
            load_ms: None,
            fatal: None,
            loading: true,
            cases: Vec::new(),
            issues: Vec::new(),
            warnings: Vec::new(),
            selected: None,
            running: None,
            cancel: Rc::new(Cell::new(false)),
            channels: Channels::Flair,
            style: OverlayStyle::Fill,
            opacity: 0.45,
            sort: Sort::Input,
            canvas: NodeRef::default(),
            file_input: NodeRef::default(),
        }
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Listed(Ok(models)) => {
                let first = models[0].name.clone();
                self.models = models;
                self.load_model(ctx, first);
            }
            Msg::Listed(Err(e)) | Msg::Loaded(Err(e)) => {
                self.loading = false;
                self.fatal = Some(e);
            }
            Msg::Loaded(Ok((engine, kind, note, ms))) => {
                self.loading = false;
                self.engine = Some(engine);
                self.backend = Some(kind);
                self.backend_note = note;
                self.load_ms = Some(ms);
                for c in &mut self.cases {
                    if matches!(
                        c.status,
                        CaseStatus::Done | CaseStatus::Cancelled | CaseStatus::Failed(_)
                    ) {
                        c.status = CaseStatus::Queued;
                        c.result = None;
                    }
                }
                self.pump(ctx);
            }
            Msg::PickModel(name) => {
                if self.running.is_none() && self.model_name.as_deref() != Some(&name) {
                    self.load_model(ctx, name);
                }
            }
            Msg::Files(files) => {
                ctx.link()
                    .send_future(async move { Msg::Read(dom::read_files(files).await) });
                return false;
            }
            Msg::Read(read) => {
                if read.files.is_empty() && read.errors.is_empty() {
                    self.issues.push(FileIssue {
                        file: "(drop)".into(),
                        message: "no .tif files in what was given".into(),
                    });
                }
                self.warnings.extend(read.skipped);
                self.add_files(read.files, read.errors);
                self.pump(ctx);
            }
            Msg::Sample => {
                ctx.link().send_future(async {
                    match fetch_sample().await {
                        Ok(files) => Msg::Read(dom::ReadFiles {
                            files,
                            errors: Vec::new(),
                            skipped: Vec::new(),
                        }),
                        Err(e) => Msg::Error(e),
                    }
                });
                return false;
            }
            Msg::Progress(i, done, total) => {
                if let Some(c) = self.cases.get_mut(i) {
                    c.status = CaseStatus::Running { done, total };
                }
            }
            Msg::CaseDone(i, r) => {
                self.running = None;
                let c = &mut self.cases[i];
                match r {
                    Ok(Some(result)) => {
                        c.status = CaseStatus::Done;
                        c.result = Some(result);
                    }
                    Ok(None) => c.status = CaseStatus::Cancelled,
                    Err(e) => c.status = CaseStatus::Failed(e),
                }
                if self.cancel.get() {
                    for c in &mut self.cases {
                        if c.status == CaseStatus::Queued {
                            c.status = CaseStatus::Cancelled;
                        }
                    }
                }
                self.pump(ctx);
            }
            Msg::Cancel => self.cancel.set(true),
            Msg::Select(i) => {
                self.selected = Some(i);
                let c = &mut self.cases[i];
                c.slice = c.slice.min(c.case.slices.len() - 1);
            }
            Msg::Slice(k) => {
                if let Some(i) = self.selected {
                    self.cases[i].slice = k.min(self.cases[i].case.slices.len() - 1);
                }
            }
            Msg::Key(e) => {
                let Some(i) = self.selected else { return false };
                let c = &mut self.cases[i];
                let n = c.case.slices.len();
                match e.key().as_str() {
                    "ArrowLeft" | "ArrowDown" => c.slice = c.slice.saturating_sub(1),
                    "ArrowRight" | "ArrowUp" => c.slice = (c.slice + 1).min(n - 1),
                    _ => return false,
                }
                e.prevent_default();
            }
            Msg::Channels(ch) => self.channels = ch,
            Msg::Style(s) => self.style = s,
            Msg::Opacity(o) => self.opacity = o,
            Msg::SortDsc => {
                self.sort = match self.sort {
                    Sort::Input => Sort::DscDescending,
                    Sort::DscDescending => Sort::DscAscending,
                    Sort::DscAscending => Sort::Input,
                }
            }
            Msg::DownloadSlice | Msg::DownloadZip => {
                let Some(entry) = self.current() else {
                    return false;
                };
                let Some(result) = &entry.result else {
                    return false;
                };
                let r = if matches!(msg, Msg::DownloadSlice) {
                    export::slice_mask_tiff(&entry.case, &result.mask, entry.slice)
                        .and_then(|(name, bytes)| dom::download(&name, &bytes, "image/tiff"))
                } else {
                    export::case_zip(&entry.case, &result.mask).and_then(|bytes| {
                        dom::download(
                            &format!("{}_masks.zip", entry.case.id),
                            &bytes,
                            "application/zip",
                        )
                    })
                };
                if let Err(e) = r {
                    self.issues.push(FileIssue {
                        file: "(download)".into(),
                        message: e,
                    });
                }
            }
            Msg::DownloadCsv => {
                let rows: Vec<ScoreRow> = self
                    .cases
                    .iter()
                    .map(|c| ScoreRow {
                        case: c.case.id.clone(),
                        slices: Some(c.case.slices.len()),
                        dsc_reference: None,
                        dsc_native: c.result.as_ref().and_then(|r| r.dsc),
                    })
                    .collect();
                let csv = export::dsc_csv(&rows);
                if let Err(e) = csv
                    .and_then(|text| dom::download("brainseg_dsc.csv", text.as_bytes(), "text/csv"))
                {
                    self.issues.push(FileIssue {
                        file: "(download)".into(),
                        message: e,
                    });
                }
            }
            Msg::Error(e) => self.issues.push(FileIssue {
                file: "(sample)".into(),
                message: e,
            }),
        }
        true
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first: bool) {
        self.draw();
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let state = self.state();
        let status_text = match (&self.fatal, state) {
            (Some(e), _) => e.clone(),
            (None, "loading") => "Loading the model…".to_string(),
            (None, "running") => "Segmenting…".to_string(),
            (None, "done") => "Done.".to_string(),
            _ => "Ready: drop TIFF slices (with their _mask.tif files to get DSC) or try the sample case.".to_string(),
        };
        let on_input = {
            let input = self.file_input.clone();
            link.callback(move |_: Event| {
                let files = input
                    .cast::<HtmlInputElement>()
                    .and_then(|i| i.files())
                    .map(|l| dom::file_list(&l))
                    .unwrap_or_default();
                Msg::Files(files)
            })
        };
        let on_folder = link.callback(|e: Event| {
            let input: HtmlInputElement = e.target_unchecked_into();
            Msg::Files(
                input
                    .files()
                    .map(|l| dom::file_list(&l))
                    .unwrap_or_default(),
            )
        });
        let on_drop = {
            let link = link.clone();
            Callback::from(move |e: DragEvent| {
                e.prevent_default();
                let Some(dt) = e.data_transfer() else { return };
                let items = dt.items();
                let entries: Vec<web_sys::FileSystemEntry> = (0..items.length())
                    .filter_map(|i| items.get(i))
                    .filter_map(|it| it.webkit_get_as_entry().ok().flatten())
                    .collect();
                if entries.is_empty() {
                    let files = dt.files().map(|l| dom::file_list(&l)).unwrap_or_default();
                    link.send_message(Msg::Files(files));
                } else {
                    link.send_future(async move { Msg::Files(dom::walk_entries(entries).await) });
                }
            })
        };
        let scored: Vec<f64> = self
            .cases
            .iter()
            .filter_map(|c| c.result.as_ref().and_then(|r| r.dsc))
            .collect();
        let mean = (!scored.is_empty()).then(|| scored.iter().sum::<f64>() / scored.len() as f64);
        let any_done = self.cases.iter().any(|c| c.result.is_some());

        html! {
            <main>
                <header>
                    <h1>{ "brainseg" }</h1>
                    <p class="tagline">{ "Brain-MRI FLAIR-abnormality segmentation, in your browser. Nothing is uploaded." }</p>
                </header>
                <section class="model">
                    <div id="status" data-state={state} class={classes!("status", state)}>{ status_text }</div>
                    <div class="backend" data-backend={self.backend.map(|b| b.attr()).unwrap_or("")}>
                        { match (self.backend, self.load_ms) {
                            (Some(b), Some(ms)) => format!("Backend: {} · model loaded in {:.0} ms", b.label(), ms),
                            _ => "Backend: –".to_string(),
                        } }
                        if let Some(note) = &self.backend_note { <span class="note">{ format!(" ({note}; using the CPU backend)") }</span> }
                    </div>
                    if self.models.len() > 1 {
                        <label>{ "Model: " }
                            <select onchange={link.callback(|e: Event| Msg::PickModel(select_value(&e)))}>
                                { for self.models.iter().map(|m| html! {
                                    <option value={m.name.clone()} selected={self.model_name.as_deref() == Some(m.name.as_str())}>{ &m.label }</option>
                                }) }
                            </select>
                        </label>
                    }
                    if let Some(e) = &self.engine {
                        <div class="model-info">{ model_info(&e.models) }</div>
                    }
                </section>
                <section class="drop" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} ondrop={on_drop}>
                    <p>{ "Drop .tif slices, their _mask.tif files, or whole case folders here, or:" }</p>
                    <input id="file-input" type="file" multiple=true accept=".tif,.tiff" ref={self.file_input.clone()} onchange={on_input} />
                    <label class="button">{ "Choose a folder" }
                        <input id="folder-input" type="file" webkitdirectory=true onchange={on_folder} hidden=true />
                    </label>
                    <button id="sample" onclick={link.callback(|_| Msg::Sample)}>{ "Try a sample case" }</button>
                    if state == "running" { <button id="cancel" onclick={link.callback(|_| Msg::Cancel)}>{ "Cancel" }</button> }
                </section>
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
                if !self.cases.is_empty() {
                    <section class="results">
                        <table id="cases">
                            <thead><tr>
                                <th>{ "case" }</th><th>{ "slices" }</th><th>{ "status" }</th>
                                <th class="sortable" onclick={link.callback(|_| Msg::SortDsc)}>{ match self.sort {
                                    Sort::Input => "DSC ⇅", Sort::DscDescending => "DSC ↓", Sort::DscAscending => "DSC ↑" } }</th>
                            </tr></thead>
                            <tbody>
                                { for self.rows().into_iter().map(|i| self.case_row(ctx, i)) }
                            </tbody>
                            if let Some(m) = mean {
                                <tfoot><tr><td>{ "mean" }</td><td></td><td></td><td id="mean-dsc">{ format!("{m:.4}") }</td></tr></tfoot>
                            }
                        </table>
                        if any_done { <button id="csv" onclick={link.callback(|_| Msg::DownloadCsv)}>{ "Download DSC table (CSV)" }</button> }
                        { self.viewer(ctx) }
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
fn select_value(e: &Event) -> String {
    e.target_unchecked_into::<web_sys::HtmlSelectElement>()
        .value()
}

fn model_info(models: &[(Manifest, Model)]) -> String {
    let Some(((m, _), members)) = models.split_first() else {
        return String::new();
    };
    let mut s = format!(
        "{} f={} · input {}²",
        m.model.arch, m.model.width, m.input_size
    );
    for (member, _) in members {
        s.push_str(&format!(
            " + {} f={} · input {}²",
            member.model.arch, member.model.width, member.input_size
        ));
    }
    if !members.is_empty() {
        s.push_str(&format!(" (ensemble of {})", models.len()));
    }
    if let Some(v) = &m.validation {
        s.push_str(&format!(
            " · validation mean DSC {:.3} ({} protocol, {} cases)",
            v.mean,
            v.protocol,
            v.cases.len()
        ));
    }
    if m.flip_tta {
        s.push_str(" · flip TTA");
    }
    if !m.tta_sizes.is_empty() {
        let sides: Vec<String> = m.tta_sizes.iter().map(|n| format!("{n}²")).collect();
        s.push_str(&format!(" · scale TTA {}", sides.join(", ")));
    }
    s
}

impl App {
    fn case_row(&self, ctx: &Context<Self>, i: usize) -> Html {
        let c = &self.cases[i];
        let dsc = c.result.as_ref().and_then(|r| r.dsc);
        let status = match &c.status {
            CaseStatus::Queued => html! { "queued" },
            CaseStatus::Running { done, total } => html! {
                <progress max={total.max(&1).to_string()} value={done.to_string()}></progress>
            },
            CaseStatus::Done => {
                html! { format!("done ({:.1} s)", c.result.as_ref().map(|r| r.millis / 1000.0).unwrap_or(0.0)) }
            }
            CaseStatus::Cancelled => html! { "cancelled" },
            CaseStatus::Failed(e) => html! { <span class="error">{ e.clone() }</span> },
        };
        let selected = self.selected == Some(i);
        html! {
            <tr data-case={c.case.id.clone()} data-dsc={dsc.map(|d| format!("{d:.4}"))}
                class={classes!(selected.then_some("selected"))} onclick={ctx.link().callback(move |_| Msg::Select(i))}>
                <td>{ &c.case.id }</td>
                <td>{ c.case.slices.len() }</td>
                <td>{ status }</td>
                <td>{ dsc.map(|d| format!("{d:.4}")).unwrap_or_else(|| if c.case.has_masks() { "…".into() } else { "no masks".into() }) }</td>
            </tr>
        }
    }

    fn viewer(&self, ctx: &Context<Self>) -> Html {
        let link = ctx.link();
        let Some(entry) = self.current() else {
            return html! {};
        };
        let n = entry.case.slices.len();
        let k = entry.slice.min(n - 1);
        let slice_dsc = entry
            .result
            .as_ref()
            .and_then(|r| r.slice_dsc.get(k).copied());
        html! {
            <div class="viewer" tabindex="0" onkeydown={link.callback(Msg::Key)}>
                <div class="controls">
                    <label>{ format!("slice {} ({} of {n})", entry.case.slices[k].number, k + 1) }
                        <input id="slice" type="range" min="0" max={(n - 1).to_string()} value={k.to_string()}
                            oninput={link.callback(|e: InputEvent| Msg::Slice(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(0)))} />
                    </label>
                    <label>{ "channels " }
                        <select onchange={link.callback(|e: Event| Msg::Channels(if select_value(&e) == "rgb" { Channels::Rgb } else { Channels::Flair }))}>
                            <option value="flair" selected={self.channels == Channels::Flair}>{ "FLAIR" }</option>
                            <option value="rgb" selected={self.channels == Channels::Rgb}>{ "RGB (pre, FLAIR, post)" }</option>
                        </select>
                    </label>
                    <label>{ "overlay " }
                        <select onchange={link.callback(|e: Event| Msg::Style(if select_value(&e) == "contour" { OverlayStyle::Contour } else { OverlayStyle::Fill }))}>
                            <option value="fill" selected={self.style == OverlayStyle::Fill}>{ "filled" }</option>
                            <option value="contour" selected={self.style == OverlayStyle::Contour}>{ "contour" }</option>
                        </select>
                    </label>
                    <label>{ "opacity " }
                        <input type="range" min="0" max="100" value={((self.opacity * 100.0) as u32).to_string()}
                            oninput={link.callback(|e: InputEvent| Msg::Opacity(e.target_unchecked_into::<HtmlInputElement>().value().parse::<f32>().unwrap_or(45.0) / 100.0))} />
                    </label>
                </div>
                <canvas ref={self.canvas.clone()} class="slice"></canvas>
                <div class="legend">
                    <span class="pred">{ "■ prediction" }</span>
                    if entry.case.has_masks() { <span class="truth">{ "■ ground truth (contour)" }</span> }
                    if let Some(d) = slice_dsc { <span id="slice-dsc">{ format!("slice DSC {d:.4}") }</span> }
                    { " · ←/→ to move through slices" }
                </div>
                if entry.result.is_some() {
                    <div class="downloads">
                        <button onclick={link.callback(|_| Msg::DownloadSlice)}>{ "Download this slice's mask (TIFF)" }</button>
                        <button onclick={link.callback(|_| Msg::DownloadZip)}>{ "Download all masks of the case (zip)" }</button>
                    </div>
                }
            </div>
        }
    }
}
