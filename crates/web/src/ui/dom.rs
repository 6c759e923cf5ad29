//! Browser plumbing of the page: listing dropped or picked files (folders included; the worker
//! reads them), downloads, URL parameters.

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{File, FileSystemDirectoryEntry, FileSystemEntry, FileSystemFileEntry};

pub fn file_list(list: &web_sys::FileList) -> Vec<(String, File)> {
    (0..list.length())
        .filter_map(|i| list.get(i))
        .map(|f| {
            // webkitRelativePath is set for folder picks; the name alone is enough for grouping.
            let rel = js_sys::Reflect::get(&f, &"webkitRelativePath".into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default();
            (if rel.is_empty() { f.name() } else { rel }, f)
        })
        .collect()
}

fn entry_file(entry: &FileSystemFileEntry) -> Promise {
    let entry = entry.clone();
    Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move |f: JsValue| resolve.call1(&JsValue::NULL, &f));
        let err = Closure::once_into_js(move |e: JsValue| reject.call1(&JsValue::NULL, &e));
        entry.file_with_callback_and_callback(ok.unchecked_ref(), err.unchecked_ref());
    })
}

fn read_entries(reader: &web_sys::FileSystemDirectoryReader) -> Promise {
    let reader = reader.clone();
    Promise::new(&mut |resolve, reject| {
        let ok = Closure::once_into_js(move |a: JsValue| resolve.call1(&JsValue::NULL, &a));
        let err = Closure::once_into_js(move |e: JsValue| reject.call1(&JsValue::NULL, &e));
        // An exception here rejects through `err` as well; the promise reports it.
        let _ =
            reader.read_entries_with_callback_and_callback(ok.unchecked_ref(), err.unchecked_ref());
    })
}

/// Walks dropped entries, descending into folders (Chromium and Firefox expose them).
pub async fn walk_entries(roots: Vec<FileSystemEntry>) -> Vec<(String, File)> {
    let mut out = Vec::new();
    let mut stack = roots;
    while let Some(entry) = stack.pop() {
        if entry.is_file() {
            let fe: FileSystemFileEntry = entry.unchecked_into();
            if let Ok(f) = JsFuture::from(entry_file(&fe)).await {
                out.push((fe.full_path(), f.unchecked_into()));
            }
        } else if entry.is_directory() {
            let de: FileSystemDirectoryEntry = entry.unchecked_into();
            let reader = de.create_reader();
            // readEntries returns batches until an empty one.
            loop {
                let Ok(batch) = JsFuture::from(read_entries(&reader)).await else {
                    break;
                };
                let batch: Array = batch.unchecked_into();
                if batch.length() == 0 {
                    break;
                }
                stack.extend(batch.iter().map(|e| e.unchecked_into::<FileSystemEntry>()));
            }
        }
    }
    out
}

/// Offers bytes as a download named `name`.
pub fn download(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let array = Array::of1(&Uint8Array::from(bytes).into());
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&array, &opts)
        .map_err(|e| format!("{e:?}"))?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(|e| format!("{e:?}"))?;
    let doc = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = doc
        .create_element("a")
        .map_err(|e| format!("{e:?}"))?
        .unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// A URL query parameter of the page.
pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// `name` resolved against the page's address (the app may be served from a sub-folder);
/// `page_url("./")` is the page's folder.
pub fn page_url(name: &str) -> Result<String, String> {
    let base = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .ok_or("no document")?;
    web_sys::Url::new_with_base(name, &base)
        .map(|u| u.href())
        .map_err(|e| format!("{name}: {e:?}"))
}
