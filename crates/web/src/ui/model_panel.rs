//! The model panel: the page's status line, the backend (which, on what adapter, and why), the
//! model picker and what the model's manifest says of it.

use super::app::{App, Msg, select_value};
use brainseg::manifest::Manifest;
use yew::html::Scope;
use yew::prelude::*;

pub fn view(app: &App, link: &Scope<App>) -> Html {
    let state = app.state();
    let status_text = match (&app.fatal, state) {
        (Some(e), _) => e.clone(),
        (None, "loading") => "Loading the model…".to_string(),
        (None, "running") => "Segmenting…".to_string(),
        (None, "done") => "Done.".to_string(),
        _ => "Ready: drop TIFF slices (with their _mask.tif files to get DSC) or try the sample case."
            .to_string(),
    };
    let loaded = app.model.as_ref().map(|m| &m.loaded);
    html! {
        <section class="model">
            <div id="status" data-state={state} class={classes!("status", state)}>{ status_text }</div>
            <div class="backend" data-backend={loaded.map(|l| l.choice.backend.attr()).unwrap_or("")}
                data-adapter={loaded.and_then(|l| l.choice.adapter.clone()).unwrap_or_default()}>
                { match loaded {
                    Some(l) => format!("Backend: {} · model loaded in {:.0} ms", l.choice.backend.label(), l.millis),
                    None => "Backend: –".to_string(),
                } }
                if let Some(l) = loaded {
                    <span class="note">{ format!(" ({})", l.choice.reason) }</span>
                }
            </div>
            if app.models.len() > 1 {
                <label>{ "Model: " }
                    <select onchange={link.callback(|e: Event| Msg::PickModel(select_value(&e)))}>
                        { for app.models.iter().map(|m| html! {
                            <option value={m.name.clone()} selected={app.model_name.as_deref() == Some(m.name.as_str())}>{ &m.label }</option>
                        }) }
                    </select>
                </label>
            }
            if let Some(m) = &app.model {
                <div class="model-info">{ summary(&m.manifests) }</div>
            }
        </section>
    }
}

/// What a model's manifests (an ensemble's, first model first) say of it, in one line.
pub fn summary(manifests: &[Manifest]) -> String {
    let Some((m, members)) = manifests.split_first() else {
        return String::new();
    };
    let mut s = format!(
        "{} f={} · input {}²",
        m.model.arch, m.model.width, m.input_size
    );
    for member in members {
        s.push_str(&format!(
            " + {} f={} · input {}²",
            member.model.arch, member.model.width, member.input_size
        ));
    }
    if !members.is_empty() {
        s.push_str(&format!(" (ensemble of {})", manifests.len()));
    }
    if let Some(v) = &m.validation {
        s.push_str(&format!(
            " · validation mean DSC {:.3} ({} protocol, {} cases)",
            v.mean,
            v.protocol,
            v.cases.len()
        ));
    }
    if m.flip_tta {
        s.push_str(" · flip TTA");
    }
    if !m.tta_sizes.is_empty() {
        let sides: Vec<String> = m.tta_sizes.iter().map(|n| format!("{n}²")).collect();
        s.push_str(&format!(" · scale TTA {}", sides.join(", ")));
    }
    s
}
