//! The slice viewer: slice slider, channel and overlay controls, the canvas (drawn by
//! `App::draw` through `render`), the legend (a colour and a show/hide toggle per ticked model),
//! each model's slice DSC, and mask downloads of the model picked for export.

use super::app::{App, Msg, select_value};
use super::render::{Channels, DISAGREE_RGB, OverlayStyle, TRUTH_RGB, css};
use web_sys::HtmlInputElement;
use yew::html::Scope;
use yew::prelude::*;

pub fn view(app: &App, link: &Scope<App>) -> Html {
    let Some(entry) = app.table.current() else {
        return html! {};
    };
    let n = entry.case.slices.len();
    let k = entry.slice.min(n - 1);
    let models = &app.table.models;
    let several = models.len() > 1;
    let slice_dsc: Vec<String> = models
        .iter()
        .filter_map(|m| {
            let d = entry.result(m)?.slice_dsc.get(k).copied()?;
            Some(if several {
                format!("{m} {d:.4}")
            } else {
                format!("{d:.4}")
            })
        })
        .collect();
    let export = app.export_target();
    html! {
        <div class="viewer" tabindex="0" onkeydown={link.callback(Msg::Key)}>
            <div class="controls">
                <label>{ format!("slice {} ({} of {n})", entry.case.slices[k].number, k + 1) }
                    <input id="slice" type="range" min="0" max={(n - 1).to_string()} value={k.to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::Slice(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(0)))} />
                </label>
                <label>{ "channels " }
                    <select onchange={link.callback(|e: Event| Msg::Channels(if select_value(&e) == "rgb" { Channels::Rgb } else { Channels::Flair }))}>
                        <option value="flair" selected={app.channels == Channels::Flair}>{ "FLAIR" }</option>
                        <option value="rgb" selected={app.channels == Channels::Rgb}>{ "RGB (pre, FLAIR, post)" }</option>
                    </select>
                </label>
                <label>{ "overlay " }
                    <select id="overlay" onchange={link.callback(|e: Event| Msg::Style(OverlayStyle::from_attr(&select_value(&e))))}>
                        <option value="fill" selected={app.style == OverlayStyle::Fill}>{ "filled" }</option>
                        <option value="contour" selected={app.style == OverlayStyle::Contour}>{ "contour" }</option>
                        if several {
                            <option value="disagreement" selected={app.style == OverlayStyle::Disagreement}>{ "where models disagree" }</option>
                        }
                    </select>
                </label>
                <label>{ "opacity " }
                    <input type="range" min="0" max="100" value={((app.opacity * 100.0) as u32).to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::Opacity(e.target_unchecked_into::<HtmlInputElement>().value().parse::<f32>().unwrap_or(45.0) / 100.0))} />
                </label>
            </div>
            <canvas ref={app.canvas.clone()} class="slice"></canvas>
            <div class="legend">
                { for models.iter().map(|m| {
                    let name = m.clone();
                    let on_show = link.callback(move |e: Event| {
                        Msg::Show(name.clone(), e.target_unchecked_into::<HtmlInputElement>().checked())
                    });
                    html! {
                        <label class="legend-model" data-model={m.clone()}>
                            if several {
                                <input type="checkbox" checked={!app.hidden.contains(m)} onchange={on_show} />
                            }
                            <span style={format!("color: {}", css(app.model_colour(m)))}>{ "■ " }</span>
                            { if several { m.clone() } else { "prediction".to_string() } }
                        </label>
                    }
                }) }
                if entry.case.has_masks() {
                    <span class="truth"><span style={format!("color: {}", css(TRUTH_RGB))}>{ "■ " }</span>{ "ground truth (contour)" }</span>
                }
                if several && app.style == OverlayStyle::Disagreement {
                    <span class="disagree"><span style={format!("color: {}", css(DISAGREE_RGB))}>{ "■ " }</span>{ "models disagree" }</span>
                }
                if !slice_dsc.is_empty() { <span id="slice-dsc">{ format!("slice DSC {}", slice_dsc.join(" · ")) }</span> }
                { " · ←/→ to move through slices" }
            </div>
            if let Some(model) = export.filter(|m| entry.result(m).is_some()) {
                <div class="downloads">
                    if several {
                        <label>{ "masks of " }
                            <select id="export-model" onchange={link.callback(|e: Event| Msg::ExportModel(select_value(&e)))}>
                                { for models.iter().map(|m| html! {
                                    <option value={m.clone()} selected={*m == model}>{ m }</option>
                                }) }
                            </select>
                        </label>
                    }
                    <button onclick={link.callback(|_| Msg::DownloadSlice)}>{ "Download this slice's mask (TIFF)" }</button>
                    <button onclick={link.callback(|_| Msg::DownloadZip)}>{ "Download all masks of the case (zip)" }</button>
                </div>
            }
        </div>
    }
}
