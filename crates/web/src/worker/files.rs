//! Turning what the page handed over into the core's input files: dropped `File` handles read
//! here, in the worker, or the sample case fetched from `samples/`.

use crate::net::{fetch_bytes, fetch_text};
use brainseg::ingest::{FileIssue, InputFile};
use brainseg::naming::is_tiff_name;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::File;

/// What reading a drop gave: the `.tif` files, the files that could not be read, and the
/// other files, skipped (a dropped folder holds READMEs and CSVs) but named, so that nothing
/// given is ignored without a word.
#[derive(Default)]
pub struct ReadFiles {
    pub files: Vec<InputFile>,
    pub errors: Vec<FileIssue>,
    pub skipped: Vec<FileIssue>,
}

async fn read_file(file: &File) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| format!("cannot read ({e:?})"))?;
    Ok(Uint8Array::new(&buf).to_vec())
}

/// Reads the handles in `files`, named by `names` (same order).
pub async fn read_files(names: Vec<String>, files: &Array) -> ReadFiles {
    let mut out = ReadFiles::default();
    for (i, name) in names.into_iter().enumerate() {
        if !is_tiff_name(&name) {
            out.skipped.push(FileIssue {
                file: name,
                message: "not a .tif file: skipped".into(),
            });
            continue;
        }
        let read = match files.get(i as u32).dyn_into::<File>() {
            Ok(f) => read_file(&f).await,
            Err(_) => Err("the page sent no file for this name".into()),
        };
        match read {
            Ok(bytes) => out.files.push(InputFile::from_bytes(name, bytes)),
            Err(message) => out.errors.push(FileIssue {
                file: name,
                message,
            }),
        }
    }
    out
}

/// The sample case: `BASE/samples/index.json` lists its files. Errors name files as the page's
/// folder sees them (`samples/…`), as the model's do.
pub async fn fetch_sample(base: &str) -> Result<Vec<InputFile>, String> {
    let fetch = async {
        let names: Vec<String> =
            serde_json::from_str(&fetch_text(&format!("{base}samples/index.json")).await?)
                .map_err(|e| format!("samples/index.json: {e}"))?;
        let mut files = Vec::new();
        for n in names {
            let url = format!("{base}samples/{n}");
            let bytes = fetch_bytes(&url).await.map_err(|e| format!("{url}: {e}"))?;
            files.push(InputFile::from_bytes(n, bytes));
        }
        Ok(files)
    };
    fetch.await.map_err(|e: String| e.replace(base, ""))
}
