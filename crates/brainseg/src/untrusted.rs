//! Every way a user's bytes enter the core, one function each: the fuzz targets (`fuzz/`) call
//! these, and the test that replays the fuzz corpora on stable (`tests/fuzz_corpus.rs`) calls
//! the same ones, so a crash found once stays a regression test. Whatever the bytes, each
//! returns (an error is a fine outcome); a panic, an abort or an allocation the limits should
//! have stopped is a bug.

use crate::ingest::{InputFile, ingest_files};
use crate::manifest::Precision;
use crate::model::{Arch, ModelConfig};
use crate::preprocess::{PrepOptions, preprocess};
use burn::prelude::Device;

/// Side the fuzz paths preprocess to: small, so an execution stays fast; the arithmetic is the
/// same at every side.
const SIDE: usize = 16;

/// A dropped slice: decode it and, when it decodes, preprocess it as a one-slice case.
pub fn slice_tiff(bytes: &[u8]) {
    drop_files(vec![InputFile::from_bytes("FUZZ_1.tif", bytes.to_vec())]);
}

/// A mask file, decoded as a mask (any sample above half the range is lesion).
pub fn mask_tiff(bytes: &[u8]) {
    let _ = crate::tiff_io::decode_mask(bytes);
}

/// A whole drop: names and contents of several files, grouped into cases, loaded and
/// preprocessed. Layout: the bytes up to the first NUL are file names, one per line; the rest
/// is cut into as many equal parts as there are names, one per file.
pub fn file_drop(bytes: &[u8]) {
    let (names, contents) = match bytes.iter().position(|&b| b == 0) {
        Some(i) => (&bytes[..i], &bytes[i + 1..]),
        None => (bytes, &[][..]),
    };
    let names: Vec<String> = String::from_utf8_lossy(names)
        .lines()
        .take(64)
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return;
    }
    let part = contents.len() / names.len();
    let files = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| InputFile::from_bytes(name, contents[i * part..(i + 1) * part].to_vec()))
        .collect();
    drop_files(files);
}

fn drop_files(files: Vec<InputFile>) {
    for case in ingest_files(files).cases {
        let _ = preprocess(&case, PrepOptions::native(SIDE));
        let _ = preprocess(&case, PrepOptions::reference(SIDE));
    }
}

/// A model manifest (`model.json`), as the page fetches it or `train` reads it.
pub fn manifest(bytes: &[u8]) {
    let _ = crate::model_io::parse_manifest(bytes, "fuzz.json");
}

/// The model the weights target expects: small, so that well-formed inputs stay small.
pub fn weights_model() -> ModelConfig {
    ModelConfig {
        arch: Arch::Unet,
        width: 4,
        levels: 2,
        cardinality: 4,
        context: 0,
        norm: Default::default(),
        max_width: 0,
    }
}

/// Weights for [`weights_model`], read as full and half precision burnpack and as 8- and 4-bit
/// weights.
pub fn weights(bytes: &[u8], device: &Device) {
    for precision in [Precision::F32, Precision::F16, Precision::Q8, Precision::Q4] {
        let manifest = crate::manifest::Manifest::new(weights_model(), SIDE, precision);
        let _ = crate::model_io::load_model(&manifest, bytes.to_vec(), device, "fuzz.bpk");
    }
}

/// The per-case DSC table that `train report` reads back.
pub fn scores_csv(bytes: &[u8]) {
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = crate::scores::read_csv(text);
    }
}

/// The fuzz targets by name, as `fuzz/fuzz_targets/` and `fuzz/corpus/` name them.
pub const TARGETS: [&str; 6] = [
    "slice_tiff",
    "mask_tiff",
    "file_drop",
    "manifest",
    "weights",
    "scores_csv",
];

/// Runs target `name` on `bytes`; `false` for an unknown name.
pub fn run(name: &str, bytes: &[u8], device: &Device) -> bool {
    match name {
        "slice_tiff" => slice_tiff(bytes),
        "mask_tiff" => mask_tiff(bytes),
        "file_drop" => file_drop(bytes),
        "manifest" => manifest(bytes),
        "weights" => weights(bytes, device),
        "scores_csv" => scores_csv(bytes),
        _ => return false,
    }
    true
}
