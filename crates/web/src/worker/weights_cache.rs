//! Shipped weights kept in the browser's Cache API, so that a later visit loads them without a
//! download. A copy is keyed by its URL and the SHA-256 its manifest records, and checked
//! against that digest when read: a model shipped anew (another digest) is downloaded, never
//! served stale, and its older copies are deleted. (The HTTP cache would need the server's
//! validators and its revalidation requests; the manifests themselves are always fetched.)

use crate::net::fetch_bytes;
use brainseg::manifest::sha256_hex;
use js_sys::{Array, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, Request, Response, WorkerGlobalScope};

/// The cache's name; a change of the stored layout would change it.
const CACHE_NAME: &str = "brainseg-weights-v1";

/// Where a model's weights came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// This browser's cache (nothing downloaded).
    Cache,
    Network,
}

fn js_err(what: &str, e: JsValue) -> String {
    format!(
        "{what}: {}",
        e.as_string().unwrap_or_else(|| format!("{e:?}"))
    )
}

async fn open() -> Result<Cache, String> {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    let caches = scope.caches().map_err(|e| js_err("no Cache API here", e))?;
    let cache = JsFuture::from(caches.open(CACHE_NAME))
        .await
        .map_err(|e| js_err("cannot open the cache", e))?;
    Ok(cache.unchecked_into())
}

/// The cached bytes under `key`, if any.
async fn read(cache: &Cache, key: &str) -> Result<Option<Vec<u8>>, String> {
    let hit = JsFuture::from(cache.match_with_str(key))
        .await
        .map_err(|e| js_err("cache lookup failed", e))?;
    if hit.is_undefined() {
        return Ok(None);
    }
    let response: Response = hit.unchecked_into();
    let buffer = response
        .array_buffer()
        .map_err(|e| js_err("cached copy unreadable", e))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|e| js_err("cached copy unreadable", e))?;
    Ok(Some(Uint8Array::new(&buffer).to_vec()))
}

/// Stores `bytes` under `key` and deletes the other copies of `url` (earlier versions).
async fn store(cache: &Cache, url: &str, key: &str, bytes: &[u8]) -> Result<(), String> {
    let keys = JsFuture::from(cache.keys())
        .await
        .map_err(|e| js_err("cache listing failed", e))?;
    let prefix = format!("{url}?sha256=");
    for request in Array::from(&keys).iter() {
        let request: Request = request.unchecked_into();
        if request.url().starts_with(&prefix) && request.url() != key {
            // A failed delete leaves an unused copy behind, nothing worse.
            let _ = JsFuture::from(cache.delete_with_request(&request)).await;
        }
    }
    let body = Uint8Array::from(bytes);
    let response = Response::new_with_opt_buffer_source(Some(&body))
        .map_err(|e| js_err("cannot make a cache entry", e))?;
    JsFuture::from(cache.put_with_str(key, &response))
        .await
        .map_err(|e| js_err("cannot store in the cache", e))?;
    Ok(())
}

/// The weights at `url` (absolute): from the cache when a copy with digest `sha256` is there,
/// else downloaded and, when they match the digest, cached. Without a digest they are always
/// downloaded. A cache that cannot be used is reported on the console and the weights are
/// downloaded: the loader checks the digest of whatever this returns.
pub async fn fetch_weights(url: &str, sha256: Option<&str>) -> Result<(Vec<u8>, Source), String> {
    let Some(want) = sha256 else {
        return Ok((fetch_bytes(url).await?, Source::Network));
    };
    let key = format!("{url}?sha256={want}");
    let cache = match open().await {
        Ok(c) => Some(c),
        Err(e) => {
            web_sys::console::warn_1(&format!("weights not cached: {e}").into());
            None
        }
    };
    if let Some(cache) = &cache {
        match read(cache, &key).await {
            Ok(Some(bytes)) if sha256_hex(&bytes) == want => return Ok((bytes, Source::Cache)),
            Ok(Some(_)) => {
                // Damaged: drop it and download.
                let _ = JsFuture::from(cache.delete_with_str(&key)).await;
            }
            Ok(None) => {}
            Err(e) => web_sys::console::warn_1(&e.into()),
        }
    }
    let bytes = fetch_bytes(url).await?;
    if let Some(cache) = &cache
        && sha256_hex(&bytes) == want
        && let Err(e) = store(cache, url, &key, &bytes).await
    {
        web_sys::console::warn_1(&format!("weights not cached: {e}").into());
    }
    Ok((bytes, Source::Network))
}
