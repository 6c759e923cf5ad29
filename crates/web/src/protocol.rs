//! What the page (UI thread) and its worker say to each other. Every message is one of the two
//! enums below, serialized with postcard into one byte buffer that is transferred (moved, not
//! copied) to the other side; dropped files travel beside it as `File` handles, which the
//! browser passes without copying their bytes (see `transport`).

use crate::backend::Choice;
use brainseg::ingest::{Case, FileIssue, Slice};
use brainseg::tiff_io::{Mask, RgbImage, unit_to_u8};
use serde::{Deserialize, Serialize};

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BackendKind {
    WebGpu,
    Cpu,
}

impl BackendKind {
    /// The value of `?backend=` and of the page's `data-backend`.
    pub fn attr(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "webgpu",
            BackendKind::Cpu => "cpu",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            BackendKind::WebGpu => "WebGPU",
            BackendKind::Cpu => "CPU (wasm)",
        }
    }
    /// Parses `?backend=`.
    pub fn from_attr(s: &str) -> Result<Self, String> {
        match s {
            "webgpu" => Ok(BackendKind::WebGpu),
            "cpu" => Ok(BackendKind::Cpu),
            other => Err(format!("unknown ?backend={other} (use webgpu or cpu)")),
        }
    }
}

/// Page → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Run the shipped models `names` (each `BASE/models/NAME.json` + `.bpk`), in this order,
    /// on the backend the page chose (the one this worker program was started for): models
    /// loaded before are kept, the others fetched, those not named dropped. Cases already given
    /// run again with the set (a model's result for a case is computed once). `base` is the
    /// page's folder URL: the worker's own address is a blob: URL, against which no relative
    /// URL resolves.
    Load {
        names: Vec<String>,
        choice: Choice,
        base: String,
        /// Threads for the CPU path's forward passes (`?threads=`); `None`: one per core, at
        /// most `MAX_THREADS`. The worker starts helper workers for the others on its first load.
        threads: Option<u32>,
    },
    /// Part of the files of drop `drop` (dropped or picked): their names (paths inside a
    /// dropped folder), in the order of the `File` handles sent beside this message. A large
    /// drop comes in several parts (the page's thread clones a `File` handle in ~0.3 ms), read
    /// together once the `last` has come.
    Files {
        drop: u32,
        names: Vec<String>,
        last: bool,
    },
    /// Fetch and segment the sample case shipped in `BASE/samples/`.
    Sample { base: String },
    /// Stop the running case at the next slice and drop the queued ones.
    Cancel,
}

/// The result of one case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseResult {
    /// Predicted mask on the original grid (slices × height × width), post-processed.
    #[serde(with = "serde_bytes")]
    pub mask: Vec<u8>,
    /// Native-protocol DSC, when the case has masks.
    pub dsc: Option<f64>,
    pub slice_dsc: Vec<f64>,
    pub millis: f64,
}

/// One model's result for a case.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model's name (`models/index.json`).
    pub model: String,
    pub result: CaseResult,
}

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// Every model's result, in the order of the models loaded.
    Done(Vec<ModelResult>),
    Cancelled,
    Failed(String),
}

/// A loaded model: its name and its manifests (an ensemble's, first model first) as JSON: a
/// manifest carries free-form training records that postcard, a format without field names,
/// cannot hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedModel {
    pub name: String,
    pub manifests: Vec<String>,
    /// Fetched by this load: whether its weights came from this browser's cache (true) or
    /// were downloaded; `None`: loaded before and kept.
    pub weights_cached: Option<bool>,
}

/// The loaded models and where they run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loaded {
    /// Where the models run, and why there.
    pub choice: Choice,
    /// Download and set-up time of the models fetched by this load.
    pub millis: f64,
    /// In the order asked for.
    pub models: Vec<LoadedModel>,
    /// Threads running forward passes: the worker and its helpers (1 on WebGPU).
    pub threads: u32,
    /// Why fewer threads run than were asked for, if so (a helper that did not start or load).
    pub threads_note: Option<String>,
}

/// The most threads the CPU path uses by default: each holds its own copy of the models, and
/// the page's own thread needs a core to draw.
pub const MAX_THREADS: u32 = 4;

/// Worker → helper worker (a worker it started to run forward passes on another core: wasm
/// has one thread per worker). A helper answers every message with one `FromHelper`, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ToHelper {
    /// Hold the shipped models `names`, as the worker does (kept ones are reused).
    Load { base: String, names: Vec<String> },
    /// Probabilities `[B, 1, N, N]` of `input` (`[B, 3, N, N]`, N = `size`) under member
    /// `member` of model `model`'s ensemble.
    Run {
        model: String,
        member: usize,
        size: usize,
        flip_tta: bool,
        input: Vec<f32>,
    },
}

/// Helper worker → worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromHelper {
    /// Its wasm runs and takes messages (sent once, first).
    Ready,
    Loaded(Result<(), String>),
    Probabilities(Result<Vec<f32>, String>),
}

/// Worker → page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker's wasm is running and takes messages.
    Ready,
    Loaded(Result<Loaded, String>),
    /// A case read from given files, queued as job `job`; its slices come along for display.
    Case {
        job: u32,
        case: CaseView,
    },
    /// What a drop could not use (errors) or converted (warnings), each naming its file.
    Issues {
        errors: Vec<FileIssue>,
        warnings: Vec<FileIssue>,
    },
    /// `done` of `total` work units of job `job`, at `ms_per_slice` so far.
    Progress {
        job: u32,
        done: usize,
        total: usize,
        ms_per_slice: f64,
    },
    Finished {
        job: u32,
        outcome: Outcome,
    },
    /// Something failed outside any case (the sample download, say).
    Error(String),
}

/// A case as the page holds it: the slices at 8 bits a channel (the data set's own depth), a
/// quarter of the decoded floats' bytes, each a byte string (`serde_bytes`), so that the page's
/// thread takes a 20-slice case in about a millisecond and draws from it as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaseView {
    pub id: String,
    pub slices: Vec<SliceView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SliceView {
    pub number: u32,
    pub file: String,
    pub width: usize,
    pub height: usize,
    /// Interleaved RGB, 8 bits.
    #[serde(with = "serde_bytes")]
    pub rgb: Vec<u8>,
    pub mask: Option<Mask>,
}

impl CaseView {
    pub fn new(case: &Case) -> Self {
        let slices = case
            .slices
            .iter()
            .map(|s| SliceView {
                number: s.number,
                file: s.file.clone(),
                width: s.image.width,
                height: s.image.height,
                rgb: s.image.data.iter().map(|&v| unit_to_u8(v)).collect(),
                mask: s.mask.clone(),
            })
            .collect();
        Self {
            id: case.id.clone(),
            slices,
        }
    }

    /// Whether every slice has its ground-truth mask.
    pub fn has_masks(&self) -> bool {
        self.slices.iter().all(|s| s.mask.is_some())
    }

    /// The core's case again (intensities back in [0, 1]), for the mask export's files.
    pub fn to_case(&self) -> Case {
        let slices = self
            .slices
            .iter()
            .map(|s| Slice {
                number: s.number,
                file: s.file.clone(),
                image: RgbImage {
                    width: s.width,
                    height: s.height,
                    data: s.rgb.iter().map(|&v| f32::from(v) / 255.0).collect(),
                },
                mask: s.mask.clone(),
            })
            .collect();
        Case {
            id: self.id.clone(),
            slices,
        }
    }
}

pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, String> {
    postcard::to_allocvec(msg).map_err(|e| format!("cannot encode a message: {e}"))
}

pub fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|e| format!("cannot decode a message: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainseg::synthetic::synthetic_case;
    use wasm_bindgen_test::wasm_bindgen_test;

    #[wasm_bindgen_test]
    fn messages_survive_encoding() {
        let case = synthetic_case("SYN_1", 3, 16, 12, 7);
        let view = CaseView::new(&case);
        let back = view.to_case();
        assert!(view.has_masks() && back.has_masks());
        assert_eq!(back.id, case.id);
        assert_eq!(back.slices.len(), 3);
        for (a, b) in back.slices.iter().zip(&case.slices) {
            assert_eq!((a.number, &a.file, &a.mask), (b.number, &b.file, &b.mask));
            let worst = a
                .image
                .data
                .iter()
                .zip(&b.image.data)
                .map(|(x, y)| (x - y).abs());
            assert!(worst.fold(0.0, f32::max) <= 0.5 / 255.0 + 1e-6);
        }
        let msgs = vec![
            FromWorker::Ready,
            FromWorker::Case { job: 3, case: view },
            FromWorker::Finished {
                job: 3,
                outcome: Outcome::Done(vec![ModelResult {
                    model: "default".into(),
                    result: CaseResult {
                        mask: vec![0, 1, 1],
                        dsc: Some(0.5),
                        slice_dsc: vec![0.25],
                        millis: 12.5,
                    },
                }]),
            },
            FromWorker::Loaded(Err("no model".into())),
        ];
        for m in msgs {
            let back: FromWorker = decode(&encode(&m).unwrap()).unwrap();
            assert_eq!(back, m);
        }
        let load = ToWorker::Load {
            names: vec!["default".into(), "fpn-dice".into()],
            choice: Choice {
                backend: BackendKind::Cpu,
                adapter: Some("google swiftshader".into()),
                reason: "chosen by ?backend=cpu".into(),
                batch: 1,
            },
            base: "http://127.0.0.1:8080/".into(),
            threads: Some(2),
        };
        assert_eq!(decode::<ToWorker>(&encode(&load).unwrap()).unwrap(), load);
        assert!(decode::<ToWorker>(&[200, 1, 2]).is_err());
        // The helpers' messages: a slice's input and its probabilities survive the trip exactly.
        let input: Vec<f32> = (0..3 * 16 * 16).map(|i| (i as f32 * 0.37).sin()).collect();
        let run = ToHelper::Run {
            model: "default".into(),
            member: 1,
            size: 16,
            flip_tta: true,
            input: input.clone(),
        };
        assert_eq!(decode::<ToHelper>(&encode(&run).unwrap()).unwrap(), run);
        for m in [
            FromHelper::Ready,
            FromHelper::Loaded(Err("models/default.bpk: …".into())),
            FromHelper::Probabilities(Ok(input)),
        ] {
            assert_eq!(decode::<FromHelper>(&encode(&m).unwrap()).unwrap(), m);
        }
    }
}
