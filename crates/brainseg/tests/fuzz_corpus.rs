//! The fuzz corpora on stable: every file under `fuzz/seeds/<target>/` (what fuzzing starts
//! from), `fuzz/corpus/<target>/` (what it found, minimised) and `fuzz/regressions/<target>/`
//! (inputs that once crashed) goes through the same entry point as the fuzz target
//! (`brainseg::untrusted`), so a crash found by fuzzing stays fixed.
//!
//! `write_fuzz_seeds` (ignored; `scripts/fuzz.sh` runs it) writes the seeds: synthetic and
//! hostile TIFFs (the page's bad-input test drops these too), a drop of named files, manifests
//! of every architecture, weights in both precisions, a DSC table.

mod common;

use brainseg::manifest::{Manifest, Precision};
use brainseg::model::{Arch, ModelConfig};
use brainseg::model_io::weights_to_bytes;
use brainseg::scores::{ScoreRow, write_csv};
use brainseg::synthetic::synthetic_case;
use brainseg::untrusted::{self, TARGETS};
use burn::prelude::Device;
use common::Format;
use std::path::PathBuf;

const KINDS: [&str; 3] = ["seeds", "corpus", "regressions"];

fn fuzz_dir() -> PathBuf {
    common::repo_root().join("fuzz")
}

#[test]
fn every_fuzz_corpus_file_runs_through_its_entry_point() {
    let device = Device::flex();
    let mut total = 0;
    for target in TARGETS {
        let mut files = 0;
        for kind in KINDS {
            let dir = fuzz_dir().join(kind).join(target);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                eprintln!("{}", path.display());
                assert!(untrusted::run(target, &bytes, &device));
                files += 1;
            }
        }
        assert!(files > 0, "fuzz/corpus/{target} is empty");
        total += files;
    }
    eprintln!("{total} corpus files replayed");
    for kind in KINDS {
        for entry in std::fs::read_dir(fuzz_dir().join(kind))
            .into_iter()
            .flatten()
        {
            let name = entry.unwrap().file_name();
            let name = name.to_string_lossy();
            assert!(
                TARGETS.contains(&&*name),
                "fuzz/{kind}/{name}: no such target"
            );
        }
    }
}

fn seed(target: &str, name: &str, bytes: &[u8]) {
    let dir = fuzz_dir().join("seeds").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
#[ignore = "writes fuzz/seeds; run by scripts/fuzz.sh"]
fn write_fuzz_seeds() {
    let case = synthetic_case("SEED_CASE", 3, 12, 10, 7);
    let formats = [
        ("rgb8", Format::Rgb8),
        ("rgb8-lzw", Format::Rgb8Lzw),
        ("rgb8-deflate-predictor", Format::Rgb8DeflatePredictor),
        ("rgba8", Format::Rgba8),
        ("gray8", Format::Gray8),
        ("rgb16", Format::Rgb16),
    ];
    for (name, format) in formats {
        seed(
            "slice_tiff",
            name,
            &common::encode_image(&case.slices[1].image, format),
        );
    }
    for (name, bytes, _) in common::hostile::hostile_tiffs() {
        // All but the 2000-page file (400 kB, too long for a fuzz input).
        if bytes.len() < 16 << 10 {
            seed("slice_tiff", name, &bytes);
        }
    }
    let mask = case.slices[1].mask.as_ref().unwrap();
    seed("mask_tiff", "gray8", &common::encode_mask(mask));
    seed(
        "mask_tiff",
        "rgb8",
        &common::encode_image(&case.slices[1].image, Format::Rgb8),
    );
    seed("file_drop", "case-of-two", &drop_seed(&case));
    for arch in Arch::ALL {
        let m = Manifest::new(
            ModelConfig {
                arch,
                ..untrusted::weights_model()
            },
            32,
            Precision::F16,
        );
        seed(
            "manifest",
            &arch.to_string(),
            serde_json::to_string(&m).unwrap().as_bytes(),
        );
    }
    let shipped = common::repo_root().join("web/models/default.json");
    seed("manifest", "shipped", &std::fs::read(shipped).unwrap());
    let device = Device::flex();
    let model = untrusted::weights_model().init(&device).unwrap();
    let precisions = [
        ("f32", Precision::F32),
        ("f16", Precision::F16),
        ("q8", Precision::Q8),
        ("q4", Precision::Q4),
    ];
    for (name, p) in precisions {
        seed("weights", name, &weights_to_bytes(&model, p).unwrap());
    }
    let row = |case: &str, r: f64| ScoreRow {
        case: case.into(),
        slices: Some(20),
        dsc_reference: Some(r),
        dsc_native: Some(r - 0.01),
    };
    let table = write_csv(&[row("TCGA_A_1", 0.91), row("TCGA_B_2", 0.5)]).unwrap();
    seed("scores_csv", "two-cases", table.as_bytes());
}

/// `untrusted::file_drop`'s layout: names, NUL, then the files' bytes in equal parts (each
/// padded to the longest; trailing bytes do not disturb a TIFF).
fn drop_seed(case: &brainseg::ingest::Case) -> Vec<u8> {
    let mut files = Vec::new();
    for s in &case.slices[..2] {
        files.push((s.file.clone(), common::encode_image(&s.image, Format::Rgb8)));
        let mask = s.mask.as_ref().unwrap();
        let name = brainseg::naming::mask_file_name(&case.id, s.number);
        files.push((name, common::encode_mask(mask)));
    }
    let longest = files.iter().map(|f| f.1.len()).max().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    let mut out = names.join("\n").into_bytes();
    out.push(0);
    for (_, mut bytes) in files {
        bytes.resize(longest, 0);
        out.extend(bytes);
    }
    out
}
