//! What the page reads as it starts: the choices forced in its address (`?backend=`,
//! `?threads=`, `?batch=`) and the shipped models' listing with each one's manifest.

use super::dom;
use crate::protocol::BackendKind;
use brainseg::manifest::Manifest;

/// A shipped model as listed in `models/index.json` (`[{"name": "default"}, …]`), with its
/// manifest (`models/NAME.json`), from which its card is made.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ModelEntry {
    pub name: String,
    /// The manifest, or why it cannot be read (loading that model then says so too).
    #[serde(skip)]
    pub manifest: Option<Result<Manifest, String>>,
}

pub(super) fn forced_backend() -> Result<Option<BackendKind>, String> {
    match dom::query_param("backend").as_deref() {
        None | Some("") => Ok(None),
        Some(other) => BackendKind::from_attr(other).map(Some),
    }
}

/// `?NAME=N` for a count from 1 to 16 (`what` says what it counts, for the error).
fn forced_count(name: &str, what: &str) -> Result<Option<u32>, String> {
    match dom::query_param(name).as_deref() {
        None | Some("") => Ok(None),
        Some(t) => match t.parse::<u32>() {
            Ok(n @ 1..=16) => Ok(Some(n)),
            _ => Err(format!("?{name}={t}: give a number of {what} from 1 to 16")),
        },
    }
}

/// `?threads=N`: how many threads the CPU path runs forward passes on.
pub(super) fn forced_threads() -> Result<Option<u32>, String> {
    forced_count("threads", "threads")
}

/// `?batch=N`: how many slices each forward pass takes (`backend::default_batch` otherwise).
pub(super) fn forced_batch() -> Result<Option<u32>, String> {
    forced_count("batch", "slices a forward pass")
}

pub(super) async fn list_models() -> Result<Vec<ModelEntry>, String> {
    let text = crate::net::fetch_text("models/index.json").await?;
    let mut list: Vec<ModelEntry> =
        serde_json::from_str(&text).map_err(|e| format!("models/index.json: {e}"))?;
    if list.is_empty() {
        return Err("no model yet: models/index.json lists none".into());
    }
    // Each model's card comes from its manifest (a few kB; the weights are fetched by the
    // worker only for the models ticked).
    for m in &mut list {
        let url = format!("models/{}.json", m.name);
        m.manifest = Some(
            crate::net::fetch_text(&url)
                .await
                .and_then(|t| Manifest::from_json(&t).map_err(|e| format!("{url}: {e}"))),
        );
    }
    Ok(list)
}
