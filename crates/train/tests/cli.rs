//! The `train` binary end to end on synthetic cases (and on lgg-mini when it is present).

mod common;

use brainseg::preprocess::LATEST_VERSION;
use brainseg::synthetic::synthetic_case;
use common::{
    eval_rows, manifest, run_ok, run_refused, synthetic_data, temp_dir, tiny_fit, train, write_case,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// `train average` of two models into `out`.
fn average(a: &Path, b: &Path, out: &Path) -> Command {
    let mut cmd = train();
    cmd.args(["average", "--model"])
        .arg(a)
        .arg("--model")
        .arg(b)
        .arg("--out")
        .arg(out);
    cmd
}

/// One small model trained once and shared by the tests that need a model.
fn trained() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let out = temp_dir("run");
        run_ok(&mut tiny_fit(&out, 30, &[]));
        out
    })
}

#[test]
fn a_tiny_model_learns_synthetic_lesions_and_the_run_folder_is_complete() {
    let run = trained();
    for f in [
        "config.json",
        "metrics.csv",
        "curves.png",
        "best.bpk",
        "best.json",
        "model.bpk",
        "model.json",
        "last.bpk",
        "last.json",
        "state.json",
    ] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    // The last epoch's weights, whichever epoch was best.
    let last = manifest(&run.join("last.json"));
    assert_eq!(last["training"]["epoch"], 30);
    assert_eq!(last["precision"], "f32");
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 31, "{csv}");
    assert!(csv.lines().next().unwrap().ends_with(",dsc_SYN_3"));
    let m = manifest(&run.join("model.json"));
    assert_eq!(m["precision"], "f16");
    assert_eq!(m["model"]["arch"], "unet");
    // Runs of this configuration differ slightly (a CI run scored 0.890 where the bound was
    // 0.9); an untrained model scores about 0.
    let best = m["validation"]["mean"].as_f64().unwrap();
    assert!(best > 0.8, "validation DSC only {best}");
    assert_eq!(m["validation"]["cases"][0]["case"], "SYN_3");
    assert!(m["training"]["command"].as_str().unwrap().contains("fit"));
    // Half precision export: about half the size of the f32 weights.
    let (f16, f32) = (
        std::fs::metadata(run.join("model.bpk")).unwrap().len(),
        std::fs::metadata(run.join("best.bpk")).unwrap().len(),
    );
    assert!(f16 < f32 * 7 / 10, "{f16} vs {f32}");
}

#[test]
fn a_killed_run_resumes_where_it_stopped() {
    let out = temp_dir("resume");
    run_ok(&mut tiny_fit(&out, 2, &[]));
    let again = tiny_fit(&out, 2, &[]).output().unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--resume"));
    let text = run_ok(&mut tiny_fit(&out, 4, &["--resume"]));
    assert!(
        text.contains("resuming") && text.contains("epoch   3/4") && !text.contains("epoch   1/4"),
        "{text}"
    );
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let epochs: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs, ["1", "2", "3", "4"]);
    // Only the last checkpoint is kept.
    assert_eq!(
        std::fs::read_dir(out.join("checkpoints")).unwrap().count(),
        2
    );
}

/// A run's metrics.csv without its timing columns (speed and seconds differ between any two
/// runs).
fn metrics_without_timing(run: &Path) -> Vec<Vec<String>> {
    let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let mut lines = csv
        .lines()
        .map(|l| l.split(',').map(String::from).collect::<Vec<_>>());
    let header = lines.next().unwrap();
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| header[i] != "images_per_s" && header[i] != "seconds")
        .collect();
    assert_eq!(keep.len(), header.len() - 2, "{header:?}");
    lines
        .map(|row| keep.iter().map(|&i| row[i].clone()).collect())
        .collect()
}

#[test]
fn two_runs_with_one_seed_train_the_same_model_and_another_seed_does_not() {
    // The initial weights come from --seed too, not only the sampler and augmentation: before
    // they did, two runs of one recipe and seed differed by up to 0.05 DSC on a fold.
    let fit = |name: &str, seed: &str| {
        let out = temp_dir(name);
        let extra = ["--aug-scale", "0.1", "--aug-rotate", "10", "--seed", seed];
        run_ok(&mut tiny_fit(&out, 2, &extra));
        metrics_without_timing(&out)
    };
    let (ma, mb) = (fit("seed-a", "7"), fit("seed-b", "7"));
    assert_eq!(ma, mb);
    let mc = fit("seed-c", "8");
    assert_ne!(
        ma[0][1], mc[0][1],
        "the first epoch's training loss of seeds 7 and 8"
    );
}

#[test]
fn a_run_on_preprocessing_2_records_it_and_mixing_versions_is_refused() {
    let out = temp_dir("prep2");
    run_ok(&mut tiny_fit(&out, 1, &["--preprocessing", "2"]));
    let m = manifest(&out.join("model.json"));
    assert_eq!(m["preprocessing_version"], 2);
    assert_eq!(m["training"]["config"]["preprocessing"], 2);
    // Weights of two preprocessing versions do not average.
    let err = run_refused(&mut average(
        &out.join("model.bpk"),
        &trained().join("model.bpk"),
        &out.join("soup"),
    ));
    assert!(err.contains("their weights do not average"), "{err}");
    // The version after the latest, so the test need not change when a version is added.
    let unknown = (LATEST_VERSION + 1).to_string();
    let err = run_refused(&mut tiny_fit(
        &temp_dir("prep-unknown"),
        1,
        &["--preprocessing", &unknown],
    ));
    assert!(err.contains(&format!("--preprocessing {unknown}")), "{err}");
}

#[test]
fn a_final_run_trains_on_the_validation_cases_too_and_its_manifests_say_so() {
    let out = temp_dir("on-val");
    let text = run_ok(&mut tiny_fit(&out, 1, &["--train-on-val"]));
    // Four synthetic cases: three for training alone, all four with the validation case.
    assert!(text.contains("data: 4 training cases"), "{text}");
    assert!(text.contains("--train-on-val: the 1 validation cases are training cases too"));
    let m = manifest(&out.join("last.json"));
    assert_eq!(m["training"]["config"]["train_on_val"], true);
    let shipped = ship_synthetic(&out.join("last.bpk"), &out.join("models/final"), &[]);
    assert!(
        shipped.contains("trained on its validation cases"),
        "{shipped}"
    );
    let text = run_ok(&mut tiny_fit(&temp_dir("not-on-val"), 1, &[]));
    assert!(text.contains("data: 3 training cases"), "{text}");
    // Cross-validation scores folds on unseen cases only.
    let err = run_refused(
        train()
            .args(["cv", "--folds", "f.csv", "--data", "d", "--out", "o"])
            .arg("--train-on-val"),
    );
    assert!(err.contains("drop --train-on-val"), "{err}");
}

/// `train eval` of `model` on the synthetic validation cases, its per-case table in `csv`.
fn eval_synthetic(model: &Path, csv: &Path) -> String {
    let (data, val) = synthetic_data();
    run_ok(
        train()
            .args(["eval", "--model"])
            .arg(model)
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(val)
            .arg("--csv")
            .arg(csv),
    )
}

#[test]
fn a_2_5_d_run_records_its_context_and_eval_feeds_the_same_neighbours() {
    let out = temp_dir("context");
    run_ok(&mut tiny_fit(&out, 2, &["--context", "1"]));
    let m = manifest(&out.join("model.json"));
    assert_eq!(m["model"]["context"], 1);
    // A model of the slices alone says nothing about context (manifests stay as they were).
    assert!(
        manifest(&trained().join("model.json"))["model"]
            .get("context")
            .is_none()
    );
    // `train eval` builds the 5-channel inputs as training's validation did: same DSC.
    let csv = out.join("eval.csv");
    eval_synthetic(&out.join("model.bpk"), &csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let reference: f64 = text
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(2)
        .unwrap()
        .parse()
        .unwrap();
    let recorded = m["validation"]["mean"].as_f64().unwrap();
    assert!(
        (reference - recorded).abs() < 0.02,
        "eval {reference} vs recorded {recorded}"
    );
    // A model with context does not average with one without.
    let err = run_refused(&mut average(
        &out.join("model.bpk"),
        &trained().join("model.bpk"),
        &out.join("soup"),
    ));
    assert!(err.contains("only models of one configuration"), "{err}");
    let err = run_refused(&mut tiny_fit(&temp_dir("context9"), 1, &["--context", "9"]));
    assert!(err.contains("context 9"), "{err}");
}

#[test]
fn a_width_cap_reaches_the_manifest_and_the_model_loads_from_it() {
    let out = temp_dir("max-width");
    let cap = ["--arch", "fpn", "--levels", "3", "--max-width", "16"];
    run_ok(&mut tiny_fit(&out, 1, &cap));
    let m = manifest(&out.join("model.json"));
    assert_eq!(m["model"]["max_width"], 16);
    assert_eq!(m["model"]["levels"], 3);
    // `train eval` builds the capped layout from the manifest to read the weights.
    eval_synthetic(&out.join("model.bpk"), &out.join("eval.csv"));
    let err = run_refused(&mut tiny_fit(
        &temp_dir("max-width-4"),
        1,
        &["--max-width", "4"],
    ));
    assert!(err.contains("max width 4"), "{err}");
}

#[test]
fn a_uniform_share_is_refused_outside_the_mixed_sampler_or_outside_0_to_1() {
    let err = run_refused(&mut tiny_fit(
        &temp_dir("share-lesion"),
        1,
        &["--uniform-share", "0.3"],
    ));
    assert!(
        err.contains("--uniform-share 0.3 applies to --sampler mixed only"),
        "{err}"
    );
    let err = run_refused(&mut tiny_fit(
        &temp_dir("share-big"),
        1,
        &["--sampler", "mixed", "--uniform-share", "1.5"],
    ));
    assert!(err.contains("--uniform-share must be in [0, 1]"), "{err}");
}

#[test]
fn a_run_scheduled_by_time_ends_when_its_time_does() {
    // An epoch far too long for the budget: the run must cut it short, then validate and
    // export as after any epoch, with the schedule run down to its end.
    let out = temp_dir("by-time");
    let text = run_ok(&mut tiny_fit(
        &out,
        1000,
        &[
            "--samples-per-epoch",
            "1000000",
            "--max-minutes",
            "0.02",
            "--schedule-by-time",
        ],
    ));
    assert!(
        text.contains("spent during epoch 1") && text.contains("epoch   1/1000"),
        "{text}"
    );
    assert!(out.join("model.bpk").is_file() && out.join("best.json").is_file());
    let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 1, "{csv}");
    let lr: f64 = rows[0][header.iter().position(|h| *h == "lr").unwrap()]
        .parse()
        .unwrap();
    assert!(
        lr < 3e-4,
        "the cosine should have run down from 3e-3 with the time, ends at {lr}"
    );
    let refused = tiny_fit(&temp_dir("by-time-refused"), 1, &["--schedule-by-time"])
        .output()
        .unwrap();
    assert!(
        !refused.status.success()
            && String::from_utf8_lossy(&refused.stderr).contains("--max-minutes")
    );
}

#[test]
fn eval_scores_both_protocols_writes_csv_and_masks() {
    let (data, val) = synthetic_data();
    let out = temp_dir("eval");
    let csv = out.join("eval.csv");
    let text = run_ok(
        train()
            .args(["eval", "--model"])
            .arg(trained().join("model.bpk"))
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(val)
            .arg("--csv")
            .arg(&csv)
            .arg("--save-masks")
            .arg(out.join("masks")),
    );
    assert!(
        text.contains("SYN_3") && text.contains("mean") && text.contains("median"),
        "{text}"
    );
    let rows: Vec<Vec<String>> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    assert_eq!(rows[0], ["case", "slices", "dsc_reference", "dsc_native"]);
    assert_eq!(rows[1][0], "SYN_3");
    assert_eq!(rows[1][1], "12");
    let (reference, native): (f64, f64) =
        (rows[1][2].parse().unwrap(), rows[1][3].parse().unwrap());
    // The training test's bound (runs differ: a CI run scored 0.831 reference / 0.794 native);
    // the native protocol scores a few hundredths lower here; an untrained model scores about 0.
    assert!(reference > 0.8 && native > 0.75, "{reference} {native}");
    // The exported (f16) model scores what training recorded for it, within f16 noise.
    let recorded = manifest(&trained().join("model.json"))["validation"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        (reference - recorded).abs() < 0.02,
        "eval {reference} vs recorded {recorded}"
    );
    let masks = out.join("masks/SYN_3");
    assert_eq!(std::fs::read_dir(&masks).unwrap().count(), 12);
    assert!(masks.join("SYN_3_12_mask.tif").is_file());
}

#[test]
fn predict_writes_masks_for_slices_without_any() {
    let input = temp_dir("predict-in");
    write_case(&input, &synthetic_case("NEW_1", 6, 40, 40, 7), false);
    std::fs::write(input.join("NEW_1/garbage_x.tif"), b"nope").unwrap();
    let out = temp_dir("predict-out");
    let text = run_ok(
        train()
            .args(["predict", "--model"])
            .arg(trained().join("model.bpk"))
            .arg("--input")
            .arg(&input)
            .arg("--out")
            .arg(&out),
    );
    assert!(
        text.contains("garbage_x.tif") && text.contains("unparseable name"),
        "the bad file is named: {text}"
    );
    assert_eq!(std::fs::read_dir(out.join("NEW_1")).unwrap().count(), 6);
}

fn lgg_mini() -> Option<PathBuf> {
    let p = common::repo::repo_root().join("../shared/data/lgg-mini");
    p.is_dir().then_some(p)
}

#[test]
fn data_check_reports_lgg_mini() {
    let Some(dir) = lgg_mini() else {
        return eprintln!("lgg-mini not present: skipped");
    };
    let text = run_ok(train().arg("data-check").arg(&dir));
    assert!(
        text.contains("total: 3 cases, 60 slices, 21 lesion slices, 0 problems"),
        "{text}"
    );
}

#[test]
fn eval_runs_on_lgg_mini() {
    let Some(dir) = lgg_mini() else {
        return eprintln!("lgg-mini not present: skipped");
    };
    let csv = temp_dir("eval-mini").join("e.csv");
    run_ok(
        train()
            .args(["eval", "--model"])
            .arg(trained().join("model.bpk"))
            .arg("--data")
            .arg(&dir)
            .arg("--csv")
            .arg(&csv),
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(text.lines().count(), 1 + 3 + 2, "{text}");
    for line in text.lines().skip(1).take(3) {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[1], "20");
        for v in &f[2..] {
            let d: f64 = v.parse().unwrap();
            assert!((0.0..=1.0).contains(&d));
        }
    }
}

/// The wgpu backend trains, in f16 (`--mixed-precision`: recorded in config.json, the loss
/// scale in state.json), and a resume may go on in f32; flex refuses mixed precision and
/// lavapipe's WGSL refuses bf16, both before anything is written.
#[test]
fn the_wgpu_backend_trains_too_in_mixed_precision() {
    let out = temp_dir("wgpu");
    let wgpu = ["--backend", "wgpu", "--samples-per-epoch", "8"];
    let f16 = [&wgpu[..], &["--mixed-precision", "f16"]].concat();
    let text = run_ok(&mut tiny_fit(&out, 1, &f16));
    assert!(
        text.contains("backend Wgpu") && text.contains("epoch   1/1"),
        "{text}"
    );
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert_eq!(config["mixed_precision"], "f16");
    let scale = state_value(&out)["loss_scale"]
        .as_f64()
        .expect("a loss scale");
    assert!(scale >= 1.0 && scale.log2().fract() == 0.0, "{scale}");
    let resumed = [&wgpu[..], &["--resume"]].concat();
    let text = run_ok(&mut tiny_fit(&out, 2, &resumed));
    assert!(text.contains("epoch   2/2"), "{text}");
    assert!(state_value(&out)["loss_scale"].is_null());

    let refused = temp_dir("mixed-refused");
    let err = run_refused(&mut tiny_fit(&refused, 1, &["--mixed-precision", "f16"]));
    assert!(err.contains("GPU backends"), "{err}");
    let bf16 = [&wgpu[..], &["--mixed-precision", "bf16"]].concat();
    let err = run_refused(&mut tiny_fit(&refused, 1, &bf16));
    assert!(err.contains("no bf16 arithmetic"), "{err}");
    assert!(!refused.join("state.json").exists());
}

fn state_value(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap()
}

/// `train eval` of one model or an ensemble on the synthetic validation case, writing `csv`.
fn synthetic_eval(models: &[PathBuf], csv: &Path) -> Command {
    let (data, val) = synthetic_data();
    let mut cmd = train();
    cmd.arg("eval");
    for m in models {
        cmd.arg("--model").arg(m);
    }
    cmd.arg("--data")
        .arg(data)
        .arg("--cases")
        .arg(val)
        .arg("--csv")
        .arg(csv);
    cmd
}

/// Scores of `train eval` on the synthetic validation case (see `synthetic_eval`).
fn synthetic_scores(mut cmd: Command, csv: &Path) -> Vec<(String, f64, f64)> {
    run_ok(&mut cmd);
    eval_rows(csv)
}

#[test]
fn fine_tuning_starts_from_the_given_weights() {
    let out = temp_dir("init");
    let best = trained().join("best.bpk");
    // A learning rate so small that one epoch barely moves the weights, so the first validation
    // scores close to what the given weights score. Not equal: the batch-norm running statistics
    // still follow the epoch's nine small batches (seen: 0.973 given, 0.936 after). At 1e-4 the
    // score after one epoch varied from run to run down to 0.816, and a fixed 0.85 bound was flaky.
    let text = run_ok(&mut tiny_fit(
        &out,
        1,
        &["--init", best.to_str().unwrap(), "--lr", "1e-7"],
    ));
    assert!(text.contains("initialised from"), "{text}");
    let given = manifest(&best.with_extension("json"))["validation"]["mean"]
        .as_f64()
        .unwrap();
    let first = manifest(&out.join("best.json"))["validation"]["mean"]
        .as_f64()
        .unwrap();
    // One epoch from a random start scores far below it (the shared run needs many epochs).
    let fresh = temp_dir("init-fresh");
    run_ok(&mut tiny_fit(&fresh, 1, &["--lr", "1e-7"]));
    let fresh_first = manifest(&fresh.join("best.json"))["validation"]["mean"]
        .as_f64()
        .unwrap();
    assert!(
        first > given - 0.2 && first > fresh_first + 0.3,
        "init {first} vs given {given} vs fresh {fresh_first}"
    );
    // Shipped, the manifest records both stages' commands, the first stage first.
    let stem = out.join("shipped");
    ship_synthetic(&out.join("model.bpk"), &stem, &[]);
    let stages = manifest(&stem.with_extension("json"))["training"]["stages"].clone();
    let given_command = manifest(&best.with_extension("json"))["training"]["command"].clone();
    assert_eq!(stages.as_array().map(|a| a.len()), Some(2), "{stages}");
    assert_eq!(stages[0]["command"], given_command);
    assert!(
        stages[1]["command"].as_str().unwrap().contains("--init"),
        "{stages}"
    );
    // A different architecture is refused, naming both.
    let wrong = tiny_fit(
        &temp_dir("init-wrong"),
        1,
        &["--init", best.to_str().unwrap(), "--width", "16"],
    )
    .output()
    .unwrap();
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert!(
        !wrong.status.success() && err.contains("--init") && err.contains("width: 16"),
        "{err}"
    );
}

/// `--threshold-sweep` scores every case at 19 thresholds; at 0.5 it is what eval scored.
#[test]
fn a_threshold_sweep_holds_every_case_at_19_thresholds_and_at_half_the_scores() {
    let dir = temp_dir("sweep");
    let best = trained().join("best.bpk");
    let (csv, sweep) = (dir.join("scores.csv"), dir.join("sweep.csv"));
    let mut cmd = synthetic_eval(std::slice::from_ref(&best), &csv);
    cmd.arg("--threshold-sweep").arg(&sweep);
    // The score CSV ends with its mean, median and min rows: the cases are the others.
    let scores: Vec<_> = synthetic_scores(cmd, &csv)
        .into_iter()
        .filter(|(case, ..)| !["mean", "median", "min"].contains(&case.as_str()))
        .collect();
    assert!(!scores.is_empty());
    let text = std::fs::read_to_string(&sweep).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("case,threshold,dsc_reference,dsc_native")
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 19 * scores.len(), "{text}");
    for (case, reference, native) in &scores {
        let mine: Vec<_> = rows.iter().filter(|r| r[0] == case).collect();
        let thresholds: Vec<&str> = mine.iter().map(|r| r[1]).collect();
        assert_eq!(thresholds.first(), Some(&"0.05"));
        assert_eq!(thresholds.last(), Some(&"0.95"));
        let half = mine.iter().find(|r| r[1] == "0.50").expect("a row at 0.50");
        let num = |s: &str| s.parse::<f64>().unwrap();
        assert!(
            (num(half[2]) - reference).abs() < 1e-4,
            "{half:?} vs {reference}"
        );
        assert!((num(half[3]) - native).abs() < 1e-4, "{half:?} vs {native}");
    }
}

/// `--components` changes what the native protocol keeps, never the reference protocol.
#[test]
fn other_component_selections_are_measured_in_the_native_protocol_only_and_ship() {
    let dir = temp_dir("components");
    let best = trained().join("best.bpk");
    let scores = |keep: &str| {
        let csv = dir.join(format!("{keep}.csv"));
        let mut cmd = synthetic_eval(std::slice::from_ref(&best), &csv);
        cmd.args(["--components", keep]);
        synthetic_scores(cmd, &csv)
    };
    let largest = scores("largest");
    let mut all = Vec::new();
    let mut relative = Vec::new();
    for keep in ["most-probable", "relative:0.3", "all"] {
        let other = scores(keep);
        assert_eq!(
            other[0].1, largest[0].1,
            "{keep}: reference protocol changed"
        );
        assert!((0.0..=1.0).contains(&other[0].2), "{keep}: {other:?}");
        if keep == "relative:0.3" {
            relative = other.clone();
        }
        all = other;
    }
    // The component table: the native DSC of keeping the first (largest) row, or every row,
    // computed from it, is what eval scored with `largest` and with `all`.
    let table = dir.join("components.csv");
    let mut cmd = synthetic_eval(std::slice::from_ref(&best), &dir.join("c.csv"));
    cmd.args(["--components-csv", table.to_str().unwrap()]);
    assert!(cmd.status().unwrap().success());
    let text = std::fs::read_to_string(&table).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "case,rank,voxels,prob_sum,prob_max,prob_mean,voxels_in_truth,truth_voxels,\
             first_slice,last_slice,slices"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let case = &largest[0].0;
    let mine: Vec<_> = rows.iter().filter(|r| r[0] == case).collect();
    assert!(!mine.is_empty(), "{text}");
    let num = |s: &str| s.parse::<f64>().unwrap();
    let truth = num(mine[0][7]);
    let dsc = |rows: &[&Vec<&str>]| {
        let (hit, voxels) = rows
            .iter()
            .fold((0.0, 0.0), |(h, v), r| (h + num(r[6]), v + num(r[2])));
        2.0 * hit / (voxels + truth)
    };
    assert!(
        (dsc(&mine[..1]) - largest[0].2).abs() < 1e-4,
        "{text} vs {largest:?}"
    );
    assert!((dsc(&mine) - all[0].2).abs() < 1e-4, "{text} vs {all:?}");
    let big: Vec<_> = mine
        .iter()
        .copied()
        .filter(|r| num(r[2]) >= 0.3 * num(mine[0][2]))
        .collect();
    assert!(
        (dsc(&big) - relative[0].2).abs() < 1e-4,
        "{text} vs {relative:?}"
    );
    assert!(
        mine.windows(2).all(|w| num(w[0][2]) >= num(w[1][2])),
        "largest first: {text}"
    );
    for (rule, says) in [
        (
            "biggest",
            "expected largest, most-probable, all or relative:F",
        ),
        ("relative:1.5", "above 0 and at most 1"),
    ] {
        let err = run_refused(
            synthetic_eval(std::slice::from_ref(&best), &dir.join("x.csv"))
                .args(["--components", rule]),
        );
        assert!(err.contains(says), "{rule}: {err}");
    }

    // Shipped with a rule: the manifest records it, eval applies it without a flag (and its
    // native validation figure is measured with it), `--components` still overrides it.
    let stem = dir.join("models/relative");
    let text = ship_synthetic(&best, &stem, &["--components", "relative:0.3"]);
    assert!(text.contains("components kept: relative:0.3"), "{text}");
    let m = manifest(&stem.with_extension("json"));
    assert_eq!(m["components"], "relative:0.3");
    let shipped = stem.with_extension("bpk");
    let csv = dir.join("shipped.csv");
    let applied = synthetic_scores(synthetic_eval(std::slice::from_ref(&shipped), &csv), &csv);
    assert_eq!(applied, relative);
    let native = m["validation_native"]["cases"][0]["dsc"].as_f64().unwrap();
    assert!(
        (native - relative[0].2).abs() < 1e-6,
        "{native} vs {relative:?}"
    );
    let mut cmd = synthetic_eval(std::slice::from_ref(&shipped), &csv);
    cmd.args(["--components", "largest"]);
    assert_eq!(synthetic_scores(cmd, &csv), largest);
    // A manifest naming no rule keeps the largest (the protocols').
    assert!(
        manifest(&best.with_extension("json"))
            .get("components")
            .is_none()
    );
}

#[test]
fn an_ensemble_averages_models_each_at_its_own_input_size() {
    let dir = temp_dir("ensemble");
    let (single, double) = (dir.join("single.csv"), dir.join("double.csv"));
    let one = synthetic_scores(
        synthetic_eval(&[trained().join("best.bpk")], &single),
        &single,
    );
    // The same weights twice average to themselves.
    let two = synthetic_scores(
        synthetic_eval(
            &[trained().join("best.bpk"), trained().join("best.bpk")],
            &double,
        ),
        &double,
    );
    assert_eq!(one, two);
    // A member at another input size (here the same weights, made to run at 40²) joins at its own
    // size; the probabilities are averaged on the first member's grid (the core's tests check the
    // average itself), so the order of the members decides the reference protocol's grid.
    let model = trained().join("model.bpk");
    let at40 = dir.join("at40.bpk");
    std::fs::copy(&model, &at40).unwrap();
    let mut m = manifest(&model.with_extension("json"));
    m["input_size"] = 40.into();
    std::fs::write(at40.with_extension("json"), m.to_string()).unwrap();
    let (mixed_csv, swapped_csv) = (dir.join("mixed.csv"), dir.join("swapped.csv"));
    let mixed = synthetic_scores(
        synthetic_eval(&[model.clone(), at40.clone()], &mixed_csv),
        &mixed_csv,
    );
    let swapped = synthetic_scores(synthetic_eval(&[at40, model], &swapped_csv), &swapped_csv);
    assert_ne!(swapped, mixed);
    for scores in [&mixed, &swapped] {
        assert!(scores[0].1 > 0.7 && scores[0].2 > 0.7, "{scores:?}");
    }
}

#[test]
fn report_tabulates_runs_and_draws_their_curves() {
    let (data, val) = synthetic_data();
    let dir = temp_dir("report");
    let run = dir.join("unet-dice");
    std::fs::create_dir_all(&run).unwrap();
    for f in ["config.json", "state.json"] {
        std::fs::copy(trained().join(f), run.join(f)).unwrap();
    }
    let ens = dir.join("ensemble");
    std::fs::create_dir_all(&ens).unwrap();
    for (target, csv) in [
        (&run, "eval.csv"),
        (&run, "eval-tta.csv"),
        (&ens, "eval.csv"),
    ] {
        let mut cmd = train();
        cmd.args(["eval", "--model"])
            .arg(trained().join("model.bpk"))
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(val);
        if csv.contains("tta") {
            cmd.arg("--tta");
        }
        run_ok(cmd.arg("--csv").arg(target.join(csv)));
    }
    let out = dir.join("out");
    run_ok(
        train()
            .arg("report")
            .arg(&run)
            .arg(&ens)
            .arg("--out")
            .arg(&out),
    );
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    let mean = eval_rows(&run.join("eval.csv"))[0].1;
    let line = table
        .lines()
        .find(|l| l.starts_with("| unet-dice |"))
        .expect("a row per run");
    assert!(
        line.contains("| unet | dice |")
            && line.contains(&format!("{mean:.4}"))
            && line.contains("| 30 ("),
        "{line}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("| ensemble | ensemble |")),
        "{table}"
    );
    assert_eq!(
        table.matches("| run | SYN_3 |").count(),
        2,
        "per-case tables: {table}"
    );
    assert!(std::fs::metadata(out.join("curves.png")).unwrap().len() > 10_000);
}

#[test]
fn pack_and_unpack_round_trip() {
    use brainseg::ingest::{ingest_files, scan_dir};
    let (data, _) = synthetic_data();
    let load = |dir: &Path| {
        let got = ingest_files(scan_dir(dir).unwrap());
        assert!(got.errors.is_empty(), "{:?}", got.errors);
        got.cases
    };
    let original = load(data);
    for (mode, tolerance) in [("--lossless", 0.0f32), ("--quality=90", 0.04)] {
        let dir = temp_dir(&format!("pack{mode}"));
        let text = run_ok(
            train()
                .arg("pack")
                .arg("--data")
                .arg(data)
                .arg("--out")
                .arg(dir.join("pack"))
                .arg(mode),
        );
        assert!(text.contains("packed 4 cases, 48 slices"), "{text}");
        // A stray file is named and skipped; everything else unpacks.
        std::fs::write(dir.join("pack/SYN_0/notes.txt"), b"x").unwrap();
        let text = run_ok(
            train()
                .arg("unpack")
                .arg(dir.join("pack"))
                .arg("--out")
                .arg(dir.join("data")),
        );
        assert!(
            text.contains("notes.txt: not a pack file")
                && text.contains("unpacked 4 cases, 48 slices"),
            "{text}"
        );
        let back = load(&dir.join("data"));
        assert_eq!(back.len(), original.len());
        for (a, b) in original.iter().zip(&back) {
            assert_eq!(a.id, b.id);
            for (sa, sb) in a.slices.iter().zip(&b.slices) {
                assert_eq!(sa.number, sb.number);
                assert_eq!(sa.mask, sb.mask, "masks are exact ({mode})");
                let err = sa
                    .image
                    .data
                    .iter()
                    .zip(&sb.image.data)
                    .map(|(x, y)| (x - y).abs())
                    .sum::<f32>()
                    / sa.image.data.len() as f32;
                // Lossless: exact to the 8 bits the TIFFs hold.
                assert!(err <= tolerance + 1e-6, "{mode}: mean abs error {err}");
            }
        }
    }
}

#[test]
fn ship_records_the_inference_setting_and_what_it_measures() {
    let dir = temp_dir("ship");
    let stem = dir.join("models/default");
    let text = ship_synthetic(&trained().join("model.bpk"), &stem, &["--flip-tta"]);
    assert!(text.contains("flip TTA on"), "{text}");
    let m = manifest(&stem.with_extension("json"));
    assert_eq!(m["flip_tta"], true);
    assert!(
        m["training"]["ship_command"]
            .as_str()
            .unwrap()
            .contains("ship")
    );
    // The recorded figures are what train eval gives with TTA; the shipped manifest applies
    // TTA by itself, so eval of the shipped file needs no flag.
    let (with_flag, shipped) = (dir.join("with-flag.csv"), dir.join("shipped.csv"));
    let mut tta = synthetic_eval(&[trained().join("model.bpk")], &with_flag);
    tta.arg("--tta");
    let a = synthetic_scores(tta, &with_flag);
    let b = synthetic_scores(
        synthetic_eval(&[stem.with_extension("bpk")], &shipped),
        &shipped,
    );
    assert_eq!(a, b);
    let recorded = (
        m["validation"]["cases"][0]["dsc"].as_f64().unwrap(),
        m["validation_native"]["cases"][0]["dsc"].as_f64().unwrap(),
    );
    assert!(
        (recorded.0 - a[0].1).abs() < 1e-6 && (recorded.1 - a[0].2).abs() < 1e-6,
        "{recorded:?} vs {:?}",
        a[0]
    );
}

#[test]
fn average_writes_one_model_of_the_mean_weights() {
    let dir = temp_dir("average");
    let stem = dir.join("soup");
    // A model averaged with itself is itself: scored exactly as the run's own half-precision export.
    let best = trained().join("best.bpk");
    let out = run_ok(&mut average(&best, &best, &stem));
    assert!(out.contains("averaged 2 models"), "{out}");
    let m = manifest(&stem.with_extension("json"));
    assert_eq!(m["precision"], "f16");
    assert!(
        m["validation"].is_null(),
        "figures of the inputs must not be carried over"
    );
    assert_eq!(m["training"]["averaged"].as_array().unwrap().len(), 2);
    // Every input's training record is kept, in input order.
    let inputs = m["training"]["inputs_training"].as_array().unwrap();
    assert_eq!(inputs.len(), 2);
    assert!(
        inputs
            .iter()
            .all(|t| t["command"].as_str().unwrap().contains("fit")),
        "{inputs:?}"
    );
    let score =
        |model: PathBuf, csv: PathBuf| synthetic_scores(synthetic_eval(&[model], &csv), &csv);
    assert_eq!(
        score(stem.with_extension("bpk"), dir.join("soup.csv")),
        score(trained().join("model.bpk"), dir.join("model.csv"))
    );
    // --keep-checkpoints keeps every epoch's weights (the optimizer state only for the last).
    let kept = temp_dir("average-keep");
    run_ok(&mut tiny_fit(
        &kept,
        2,
        &["--keep-checkpoints", "--samples-per-epoch", "8"],
    ));
    let mut files: Vec<String> = std::fs::read_dir(kept.join("checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        ["epoch-0001.bpk", "epoch-0002.bpk", "epoch-0002.optim.bpk"]
    );
    // A checkpoint has no manifest of its own: it is refused unless --manifest describes it.
    let (c1, c2) = (
        kept.join("checkpoints/epoch-0001.bpk"),
        kept.join("checkpoints/epoch-0002.bpk"),
    );
    let bare = train()
        .args(["average", "--model"])
        .arg(&c1)
        .arg("--model")
        .arg(&c2)
        .arg("--out")
        .arg(&stem)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&bare.stderr);
    assert!(
        !bare.status.success() && err.contains("give --manifest"),
        "{err}"
    );
    run_ok(
        train()
            .args(["average", "--model"])
            .arg(&c1)
            .arg("--model")
            .arg(&c2)
            .arg("--manifest")
            .arg(kept.join("best.json"))
            .arg("--out")
            .arg(&stem),
    );
    // The export's manifest (half precision) describes them as well: checkpoints are read as f32.
    let soup = score(stem.with_extension("bpk"), dir.join("soup-best.csv"));
    run_ok(
        train()
            .args(["average", "--model"])
            .arg(&c1)
            .arg("--model")
            .arg(&c2)
            .arg("--manifest")
            .arg(kept.join("model.json"))
            .arg("--out")
            .arg(&stem),
    );
    assert_eq!(
        score(stem.with_extension("bpk"), dir.join("soup-model.csv")),
        soup
    );
    // Models of different configurations cannot be averaged.
    let other = temp_dir("average-w4");
    run_ok(&mut tiny_fit(
        &other,
        1,
        &["--width", "4", "--samples-per-epoch", "8"],
    ));
    let mixed = train()
        .args(["average", "--model"])
        .arg(&best)
        .arg("--model")
        .arg(other.join("best.bpk"))
        .arg("--out")
        .arg(&stem)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&mixed.stderr);
    assert!(
        !mixed.status.success() && err.contains("only models of one configuration"),
        "{err}"
    );
}

/// Scores of the shared trained model's export with extra `train eval` flags (CSV in `dir`).
fn trained_scores(dir: &Path, name: &str, flags: &[&str]) -> Vec<(String, f64, f64)> {
    let csv = dir.join(format!("{name}.csv"));
    let mut cmd = synthetic_eval(&[trained().join("model.bpk")], &csv);
    cmd.args(flags);
    synthetic_scores(cmd, &csv)
}

/// `train eval` of the shared trained model with `flags` that must be refused: its stderr.
fn trained_eval_refused(dir: &Path, flags: &[&str]) -> String {
    run_refused(
        synthetic_eval(&[trained().join("model.bpk")], &dir.join("refused.csv")).args(flags),
    )
}

/// Ships the shared trained model with extra `train ship` flags to `dir/models/default`: the
/// ship output, the written manifest, and the shipped files' `train eval` scores (no flags).
/// `train ship` of `model` to `stem` with `flags`, measured on the synthetic validation case:
/// its output.
fn ship_synthetic(model: &Path, stem: &Path, flags: &[&str]) -> String {
    let (data, val) = synthetic_data();
    run_ok(
        train()
            .arg("ship")
            .args(flags)
            .arg("--model")
            .arg(model)
            .arg("--out")
            .arg(stem)
            .arg("--data")
            .arg(data)
            .arg("--cases")
            .arg(val),
    )
}

fn ship_trained(
    dir: &Path,
    flags: &[&str],
) -> (String, serde_json::Value, Vec<(String, f64, f64)>) {
    let stem = dir.join("models/default");
    let text = ship_synthetic(&trained().join("model.bpk"), &stem, flags);
    let shipped = dir.join("shipped.csv");
    let scores = synthetic_scores(
        synthetic_eval(&[stem.with_extension("bpk")], &shipped),
        &shipped,
    );
    (text, manifest(&stem.with_extension("json")), scores)
}

#[test]
fn a_model_runs_and_ships_at_another_input_size() {
    let dir = temp_dir("input-size");
    let at_own = trained_scores(&dir, "own", &[]);
    let at_40 = trained_scores(&dir, "larger", &["--input-size", "40"]);
    // Another grid gives other scores, and the 32²-trained model still finds the lesion at 40².
    assert_ne!(at_own, at_40);
    assert!(
        at_40[0].1 > 0.7 && at_40[0].2 > 0.7,
        "{at_40:?} (own size: {at_own:?})"
    );
    // Shipped at 40²: the manifest says so, keeps the training size, and scores as above.
    let (text, m, shipped) = ship_trained(&dir, &["--input-size", "40"]);
    assert!(text.contains("40² inputs"), "{text}");
    assert_eq!(
        (
            m["input_size"].as_u64(),
            m["training"]["config"]["size"].as_u64()
        ),
        (Some(40), Some(32))
    );
    assert_eq!(shipped, at_40);
    // A side the down-sampling cannot take is refused, naming the rule.
    let err = trained_eval_refused(&dir, &["--input-size", "42"]);
    assert!(
        err.contains("--input-size 42") && err.contains("multiples of 4"),
        "{err}"
    );
}

#[test]
fn an_ensemble_ships_as_one_model_with_its_members_beside_it() {
    let dir = temp_dir("ship-ensemble");
    let model = trained().join("model.bpk");
    // Two members: the shared model at 32² (first, given here) and at 40² (added by the helper).
    let (text, m, shipped) = ship_trained(
        &dir,
        &["--model", model.to_str().unwrap(), "--input-size", "32,40"],
    );
    assert!(text.contains("default-2 (an ensemble)"), "{text}");
    assert_eq!(m["ensemble"], serde_json::json!(["default-2"]));
    let member_bpk = dir.join("models/default-2.bpk");
    let member = manifest(&member_bpk.with_extension("json"));
    assert_eq!(
        (m["input_size"].as_u64(), member["input_size"].as_u64()),
        (Some(32), Some(40))
    );
    // The ensemble's figures are in the first manifest only; a member names no members.
    assert!(
        m["validation"]["mean"].is_f64()
            && member["validation"].is_null()
            && member.get("ensemble").is_none(),
        "{member}"
    );
    // `train eval` of the shipped file runs both: the same scores as the two given to eval.
    let direct_csv = dir.join("direct.csv");
    let direct = synthetic_scores(
        synthetic_eval(&[model.clone(), member_bpk.clone()], &direct_csv),
        &direct_csv,
    );
    assert_eq!(shipped, direct);
    assert_ne!(shipped, trained_scores(&dir, "alone", &[]));
    // Sides for neither one model nor each model are refused.
    let (data, val) = synthetic_data();
    let out = train()
        .arg("ship")
        .args([
            "--model",
            model.to_str().unwrap(),
            "--model",
            model.to_str().unwrap(),
            "--input-size",
            "32,40,48",
        ])
        .arg("--out")
        .arg(dir.join("models/other"))
        .arg("--data")
        .arg(data)
        .arg("--cases")
        .arg(val)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("--input-size")
            && err.contains("3 sides for 2 models"),
        "{err}"
    );
    // A missing member is an error that names it.
    let kept = dir.join("kept-member");
    std::fs::copy(&member_bpk, kept.with_extension("bpk")).unwrap();
    std::fs::copy(
        member_bpk.with_extension("json"),
        kept.with_extension("json"),
    )
    .unwrap();
    std::fs::remove_file(&member_bpk).unwrap();
    let out = synthetic_eval(&[dir.join("models/default.bpk")], &dir.join("missing.csv"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("default-2"), "{err}");
    // One model shipped over the ensemble takes its members away with it.
    std::fs::copy(kept.with_extension("bpk"), &member_bpk).unwrap();
    std::fs::copy(
        kept.with_extension("json"),
        member_bpk.with_extension("json"),
    )
    .unwrap();
    let (text, m, _) = ship_trained(&dir, &[]);
    assert!(
        text.contains("removed")
            && m.get("ensemble")
                .is_none_or(|e| e.as_array().is_some_and(|a| a.is_empty())),
        "{text}\n{m}"
    );
    assert!(!member_bpk.exists() && !member_bpk.with_extension("json").exists());
}

/// `train ship --precision q8|q4`: the manifest names the precision, the 4-bit file is the
/// smaller, and the figures in the manifest are those of the stored weights (what `train eval`
/// of the shipped file gives): within 0.05 of the full-precision model's in 8 bits; in 4 bits
/// the lesion is still found (this model of width 8 loses about 0.1 there; the recipe's FPN of
/// width 16 0.006 out of fold, docs/cv/README.md).
#[test]
fn a_model_ships_in_eight_and_four_bits_with_the_stored_weights_figures() {
    let dir = temp_dir("precision");
    let full = trained_scores(&dir, "full", &[]);
    let mut sizes = Vec::new();
    for precision in ["q8", "q4"] {
        let (_, m, shipped) = ship_trained(&dir, &["--precision", precision]);
        assert_eq!(m["precision"], precision);
        let (case, reference, native) = &shipped[0];
        assert_eq!(m["validation"]["cases"][0]["case"], case.as_str());
        for (key, dsc) in [("validation", reference), ("validation_native", native)] {
            let recorded = m[key]["cases"][0]["dsc"].as_f64().unwrap();
            assert!(
                (recorded - dsc).abs() < 1e-4,
                "{precision} {key}: {recorded} vs {dsc}"
            );
        }
        let near = |a: f64, b: f64| (a - b).abs() < 0.05;
        let ok = match precision {
            "q8" => near(*reference, full[0].1) && near(*native, full[0].2),
            _ => *reference > 0.7 && *native > 0.7,
        };
        assert!(ok, "{precision}: {shipped:?} against {full:?}");
        sizes.push(
            std::fs::metadata(dir.join("models/default.bpk"))
                .unwrap()
                .len(),
        );
    }
    assert!(
        sizes[1] * 3 < sizes[0] * 2,
        "q8 {} bytes, q4 {}",
        sizes[0],
        sizes[1]
    );
}

#[test]
fn scale_tta_averages_other_sides_and_ships() {
    let dir = temp_dir("tta-sizes");
    let at_own = trained_scores(&dir, "own", &[]);
    let with_scales = trained_scores(&dir, "scaled", &["--tta-sizes", "40,24"]);
    // The other sides change the averaged probabilities, and the lesion is still found.
    assert_ne!(at_own, with_scales);
    assert!(
        with_scales[0].1 > 0.7 && with_scales[0].2 > 0.7,
        "{with_scales:?} (own size only: {at_own:?})"
    );
    // Shipped with them: the manifest lists them and eval applies them without the flag.
    let (_, m, shipped) = ship_trained(&dir, &["--tta-sizes", "40,24"]);
    assert_eq!(m["tta_sizes"], serde_json::json!([40, 24]));
    assert_eq!(m["input_size"].as_u64(), Some(32));
    assert_eq!(shipped, with_scales);
    // Sides the model cannot take, or given twice, are refused with the flag named.
    for (sides, why) in [("40,42", "multiples of 4"), ("40,40", "given twice")] {
        let err = trained_eval_refused(&dir, &["--tta-sizes", sides]);
        assert!(
            err.contains("--tta-sizes") && err.contains(why),
            "{sides}: {err}"
        );
    }
}

/// `train bench --profile` times each operation of a U-Net step (burn's convolutions and ours
/// side by side on flex); `--burn-conv` runs the model on burn's convolutions instead of ours.
#[test]
fn bench_profiles_the_operations_of_a_unet_training_step() {
    let small = [
        "bench", "--width", "4", "--size", "32", "--batch", "2", "--steps", "1",
    ];
    let ours = run_ok(train().args(small));
    let burns = run_ok(train().args(small).arg("--burn-conv"));
    assert!(ours.contains("our convolutions"), "{ours}");
    assert!(
        burns.contains("img/s") && !burns.contains("our convolutions"),
        "{burns}"
    );
    let text = run_ok(train().args([
        "bench",
        "--arch",
        "unet",
        "--width",
        "4",
        "--size",
        "32",
        "--batch",
        "2",
        "--steps",
        "1",
        "--profile",
    ]));
    assert!(text.contains("train") && text.contains("img/s"), "{text}");
    for op in [
        "3x3 convolution (burn), forward",
        "3x3 convolution (burn), input gradient",
        "3x3 convolution (burn), weight gradient",
        "3x3 convolution (our CPU kernels), forward",
        "3x3 convolution (our CPU kernels), input gradient",
        "3x3 convolution (our CPU kernels), weight gradient",
        "batch norm + ReLU",
        "max pooling",
        "transposed convolution (burn)",
        "transposed convolution (matrix product)",
        "im2col + matrix product, weight gradient",
        "skip concatenations",
        "Dice loss",
        "Adam update",
        "whole training step",
    ] {
        let row = text
            .lines()
            .find(|l| l.contains(op))
            .unwrap_or_else(|| panic!("{op}: {text}"));
        let ms: f64 = row.split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(ms >= 0.0 && ms.is_finite(), "{row}");
    }
    let other = train()
        .args(["bench", "--arch", "fpn", "--profile"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&other.stderr).contains("--profile covers the U-Net"));
}
