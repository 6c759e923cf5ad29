//! The core crate compiled to wasm32 (run by wasm-bindgen-test-runner under Node): decoding,
//! preprocessing and its inverse, a model forward pass on the CPU backend, weights round trip,
//! post-processing and DSC — the same code paths the page uses, our CPU convolution kernels
//! (single-threaded, wasm SIMD) included.
#![cfg(target_arch = "wasm32")]

// The perturbation the native model tests use too (crates/brainseg/tests/models.rs).
#[path = "../../brainseg/tests/common/perturb.rs"]
mod perturb;

use brainseg::eval::{native_dice, native_mask};
use brainseg::inference::{InferOptions, predict_case, predict_volume};
use brainseg::ingest::{InputFile, ingest_files};
use brainseg::manifest::{Manifest, Precision};
use brainseg::model::{Arch, ModelConfig};
use brainseg::model_io::{load_model, weights_to_bytes};
use brainseg::postprocess::Components;
use brainseg::preprocess::{PrepOptions, preprocess};
use brainseg::synthetic::synthetic_case;
use brainseg::tiff_io::{encode_image, encode_mask};
use burn::module::Module;
use burn::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

fn files() -> Vec<InputFile> {
    let case = synthetic_case("WASM_1", 8, 40, 36, 3);
    let mut files = Vec::new();
    for s in &case.slices {
        files.push(InputFile::from_bytes(
            format!("WASM_1_{}.tif", s.number),
            encode_image(&s.image).unwrap(),
        ));
        files.push(InputFile::from_bytes(
            format!("WASM_1_{}_mask.tif", s.number),
            encode_mask(s.mask.as_ref().unwrap()).unwrap(),
        ));
    }
    files.push(InputFile::from_bytes(
        "WASM_1_3_mask.tif",
        b"duplicate".to_vec(),
    ));
    files
}

#[wasm_bindgen_test]
fn ingest_and_preprocessing_round_trip_in_wasm() {
    let got = ingest_files(files());
    assert_eq!(got.cases.len(), 1);
    assert_eq!(got.errors.len(), 1, "{:?}", got.errors);
    assert!(got.errors[0].message.contains("duplicate slice number 3"));
    let case = &got.cases[0];
    let prep = preprocess(case, PrepOptions::native(64)).unwrap();
    assert_eq!(
        prep.transform.mask_to_original(prep.mask.as_ref().unwrap()),
        case.mask_volume().unwrap()
    );
    let perfect: Vec<f32> = prep
        .mask
        .as_ref()
        .unwrap()
        .iter()
        .map(|&m| m as f32)
        .collect();
    assert!(native_dice(&native_mask(&perfect, &prep, Components::Largest), case).unwrap() > 0.99);
}

#[wasm_bindgen_test]
async fn a_model_runs_and_reloads_from_half_precision_bytes_in_wasm() {
    let device = Device::flex();
    let cfg = ModelConfig {
        arch: Arch::Unet,
        width: 4,
        levels: 2,
        cardinality: 4,
        context: 0,
        norm: Default::default(),
        max_width: 0,
    };
    let model = cfg.init(&device).unwrap();
    let case = &ingest_files(files()).cases[0];
    let prep = preprocess(case, PrepOptions::native(32)).unwrap();
    let mut calls = 0;
    let probs = predict_volume(
        &model,
        &prep,
        &device,
        InferOptions {
            batch: 3,
            flip_tta: false,
        },
        |_| {
            calls += 1;
            async { true }
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(probs.len(), prep.slices() * 32 * 32);
    assert_eq!(calls, prep.slices().div_ceil(3));
    assert!(probs.iter().all(|p| (0.0..=1.0).contains(p)));

    let manifest = Manifest::new(cfg, 32, Precision::F16);
    let reloaded = load_model(
        &manifest,
        weights_to_bytes(&model, Precision::F16).unwrap(),
        &device,
        "model.bpk",
    )
    .unwrap();
    let again = predict_volume(
        &reloaded,
        &prep,
        &device,
        InferOptions::default(),
        |_| async { true },
    )
    .await
    .unwrap()
    .unwrap();
    let max = probs
        .iter()
        .zip(&again)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(max < 1e-2, "f16 round trip changed probabilities by {max}");
    // Cancelling stops after the first batch.
    let cancelled = predict_volume(
        &model,
        &prep,
        &device,
        InferOptions {
            batch: 1,
            flip_tta: false,
        },
        |_| async { false },
    )
    .await
    .unwrap();
    assert!(cancelled.is_none());

    // The web app's path, with scale TTA: one map on the 32² grid, progress over both sides.
    let mut last = (0, 0);
    let (scaled, p) = predict_case(
        &model,
        case,
        PrepOptions::native(32),
        &[48],
        &device,
        InferOptions::default(),
        |done, total| {
            last = (done, total);
            async { true }
        },
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!((scaled.len(), p.size()), (probs.len(), 32));
    assert_eq!(last, (2 * prep.slices(), 2 * prep.slices()));
    assert!(scaled.iter().all(|p| (0.0..=1.0).contains(p)) && scaled != probs);
}

/// The page's CPU worker runs the models' convolutions, batch norms and ReLUs through our kernels
/// (`cpu_conv::conv_bn`: one thread, gemm's wasm SIMD kernels, several bands of rows at 96²):
/// every architecture's logits equal those of burn's own operations.
#[wasm_bindgen_test]
fn the_cpu_kernels_give_burns_logits_in_wasm() {
    use brainseg::model::cpu_conv;
    let device = Device::flex();
    let n = 96;
    let x: Vec<f32> = (0..2 * 3 * n * n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let x = Tensor::<4>::from_data(TensorData::new(x, [2, 3, n, n]), &device);
    for arch in [Arch::Unet, Arch::Resunet, Arch::ResnextUnet, Arch::Fpn] {
        let cfg = ModelConfig {
            levels: 2,
            ..ModelConfig::new(arch, 8)
        };
        let model = cfg.init(&device).unwrap().map(&mut perturb::Perturb);
        let run = |on: bool| {
            cpu_conv::set_enabled(on);
            let logits = model
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            cpu_conv::set_enabled(true);
            logits
        };
        let (ours, burns) = (run(true), run(false));
        let scale = burns.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let worst = ours
            .iter()
            .zip(&burns)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(
            worst < 1e-4 * scale,
            "{arch}: logits differ by {worst} (largest {scale})"
        );
    }
}
