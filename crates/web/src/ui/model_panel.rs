//! The model panel: the page's status line, the backend (which, on what adapter, and why), and
//! one card per shipped model (made from its manifest by `model_card`) with the tick that runs
//! it; the ticked models' outlines are compared on the slice view.

use super::app::{App, Msg};
use super::render::css;
use super::startup::ModelEntry;
use crate::model_card::card;
use brainseg::manifest::Manifest;
use web_sys::HtmlInputElement;
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
                data-adapter={loaded.and_then(|l| l.choice.adapter.clone()).unwrap_or_default()}
                data-threads={loaded.map(|l| l.threads.to_string()).unwrap_or_default()}
                data-batch={loaded.map(|l| l.choice.batch.to_string()).unwrap_or_default()}>
                { match loaded {
                    Some(l) => format!("Backend: {}{}{} · model(s) loaded in {:.0} ms",
                        l.choice.backend.label(), threads_label(l.threads),
                        batch_label(l.choice.batch), l.millis),
                    None => "Backend: –".to_string(),
                } }
                if let Some(l) = loaded {
                    <span class="note">{ format!(" ({})", l.choice.reason) }</span>
                }
                if let Some(note) = loaded.and_then(|l| l.threads_note.clone()) {
                    <div class="warning" data-threads-note="">{ note }</div>
                }
            </div>
            <div class="model-cards">
                { for app.models.iter().map(|m| model_card(app, link, m)) }
            </div>
        </section>
    }
}

fn batch_label(batch: u32) -> String {
    match batch {
        1 => String::new(),
        n => format!(", {n} slices a pass"),
    }
}

fn threads_label(threads: u32) -> String {
    match threads {
        1 => String::new(),
        n => format!(" on {n} threads"),
    }
}

/// A model's card: the tick that runs it, its colour, and what its manifest says.
fn model_card(app: &App, link: &Scope<App>, m: &ModelEntry) -> Html {
    let ticked = app.ticked.contains(&m.name);
    // The last ticked model stays; the set changes between cases.
    let locked = app.loading || app.table.busy() || (ticked && app.ticked.len() == 1);
    let name = m.name.clone();
    let on_tick = link.callback(move |e: Event| {
        Msg::Tick(
            name.clone(),
            e.target_unchecked_into::<HtmlInputElement>().checked(),
        )
    });
    let colour = css(app.model_colour(&m.name));
    // Once loaded, an ensemble's members are known too.
    let loaded = app.model.as_ref().and_then(|v| {
        let i = v.loaded.models.iter().position(|l| l.name == m.name)?;
        v.manifests.get(i)
    });
    let body = match (loaded, &m.manifest) {
        (Some(manifests), _) => card_lines(manifests),
        (None, Some(Ok(manifest))) => card_lines(std::slice::from_ref(manifest)),
        (None, Some(Err(e))) => html! { <p class="error">{ e.clone() }</p> },
        (None, None) => html! {},
    };
    let cached = app
        .weights_cached
        .iter()
        .find(|(n, _)| *n == m.name)
        .map(|(_, c)| *c);
    html! {
        <div class={classes!("model-card", ticked.then_some("ticked"))} data-model={m.name.clone()}
            data-weights={cached.map(|c| if c { "cache" } else { "network" })}
            style={format!("border-left-color: {colour}")}>
            <label>
                <input type="checkbox" class="tick" checked={ticked} disabled={locked} onchange={on_tick} />
                <span class="swatch" style={format!("background: {colour}")}></span>
                <strong>{ &m.name }</strong>
            </label>
            { body }
            if let Some(c) = cached {
                <p class="weights">{ if c { "weights: from this browser's cache" } else { "weights: downloaded" } }</p>
            }
        </div>
    }
}

fn card_lines(manifests: &[Manifest]) -> Html {
    let Some(c) = card(manifests) else {
        return html! {};
    };
    html! {
        <ul>
            <li class="arch">{ c.architecture }</li>
            <li class="recipe">{ c.recipe }</li>
            <li class="cv">{ c.cross_validated }</li>
            <li class="val">{ c.validation }</li>
        </ul>
    }
}
