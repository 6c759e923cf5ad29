//! GET requests to the page's own origin (models, samples), from the page or the worker.

/// GETs `url`; the error says what failed, not which URL (callers name it).
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let resp = gloo_net::http::Request::get(url)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    resp.binary().await.map_err(|e| e.to_string())
}

pub async fn fetch_text(url: &str) -> Result<String, String> {
    let bytes = fetch_bytes(url).await.map_err(|e| format!("{url}: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("{url}: {e}"))
}
