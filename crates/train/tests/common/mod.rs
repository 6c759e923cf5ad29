//! Helpers of the trainer's end-to-end tests: the `train` binary, temporary folders, and the
//! synthetic data set with the small training run they share.
#![allow(dead_code)]

use brainseg::ingest::Case;
use brainseg::synthetic::synthetic_case;
use brainseg::tiff_io::encode_image;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

#[path = "../../../brainseg/tests/common/repo.rs"]
pub mod repo;

pub fn train() -> Command {
    Command::new(env!("CARGO_BIN_EXE_train"))
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("train runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

/// Runs a command that must fail: its stderr (the error the user sees).
pub fn run_refused(cmd: &mut Command) -> String {
    let out = cmd.output().expect("train runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{cmd:?} was accepted:\n{err}");
    err
}

/// A fresh empty folder in the system's temp folder (earlier runs' folders are swept).
pub fn temp_dir(name: &str) -> PathBuf {
    brainseg::synthetic::scratch_dir("brainseg-cli", name)
}

pub fn write_case(root: &Path, case: &Case, masks: bool) {
    brainseg::synthetic::write_case(root, case, masks, |img| encode_image(img).unwrap()).unwrap();
}

/// Four synthetic cases (three to train on, one to validate) and the validation list.
pub fn synthetic_data() -> &'static (PathBuf, PathBuf) {
    static DATA: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DATA.get_or_init(|| {
        let root = temp_dir("data");
        let data = root.join("kaggle_3m");
        for i in 0..4 {
            write_case(
                &data,
                &synthetic_case(&format!("SYN_{i}"), 12, 48, 40, 100 + i),
                true,
            );
        }
        let val = root.join("val.txt");
        std::fs::write(&val, "# validation\nSYN_3\n").unwrap();
        (data, val)
    })
}

pub fn tiny_fit(out: &Path, epochs: usize, extra: &[&str]) -> Command {
    let (data, val) = synthetic_data();
    let mut cmd = train();
    cmd.arg("fit");
    // Defaults that `extra` may replace (clap refuses a flag given twice).
    let defaults = [
        ("--arch", "unet"),
        ("--width", "8"),
        ("--levels", "2"),
        ("--size", "32"),
        ("--batch", "4"),
        ("--lr", "3e-3"),
        ("--schedule", "cosine"),
        ("--aug-scale", "0"),
        ("--aug-rotate", "0"),
    ];
    for (flag, value) in defaults {
        if !extra.contains(&flag) {
            cmd.args([flag, value]);
        }
    }
    cmd.args(["--epochs", &epochs.to_string()])
        .arg("--data")
        .arg(data)
        .arg("--val-cases")
        .arg(val)
        .arg("--out")
        .arg(out)
        .args(extra);
    cmd
}

/// A JSON file (a manifest, a cross-validation record) as a value.
pub fn manifest(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Reads `train eval --csv` output as (case, reference, native) rows.
pub fn eval_rows(csv: &Path) -> Vec<(String, f64, f64)> {
    std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (
                f[0].to_string(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            )
        })
        .collect()
}
