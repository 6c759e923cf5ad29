//! The slice viewer: slice slider, channel and overlay controls, the canvas (drawn by
//! `App::draw` through `render`), legend, slice DSC and mask downloads.

use super::app::{App, Msg, select_value};
use super::render::{Channels, OverlayStyle};
use web_sys::HtmlInputElement;
use yew::html::Scope;
use yew::prelude::*;

pub fn view(app: &App, link: &Scope<App>) -> Html {
    let Some(entry) = app.table.current() else {
        return html! {};
    };
    let n = entry.case.slices.len();
    let k = entry.slice.min(n - 1);
    let slice_dsc = entry
        .result
        .as_ref()
        .and_then(|r| r.slice_dsc.get(k).copied());
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
                    <select onchange={link.callback(|e: Event| Msg::Style(if select_value(&e) == "contour" { OverlayStyle::Contour } else { OverlayStyle::Fill }))}>
                        <option value="fill" selected={app.style == OverlayStyle::Fill}>{ "filled" }</option>
                        <option value="contour" selected={app.style == OverlayStyle::Contour}>{ "contour" }</option>
                    </select>
                </label>
                <label>{ "opacity " }
                    <input type="range" min="0" max="100" value={((app.opacity * 100.0) as u32).to_string()}
                        oninput={link.callback(|e: InputEvent| Msg::Opacity(e.target_unchecked_into::<HtmlInputElement>().value().parse::<f32>().unwrap_or(45.0) / 100.0))} />
                </label>
            </div>
            <canvas ref={app.canvas.clone()} class="slice"></canvas>
            <div class="legend">
                <span class="pred">{ "■ prediction" }</span>
                if entry.case.has_masks() { <span class="truth">{ "■ ground truth (contour)" }</span> }
                if let Some(d) = slice_dsc { <span id="slice-dsc">{ format!("slice DSC {d:.4}") }</span> }
                { " · ←/→ to move through slices" }
            </div>
            if entry.result.is_some() {
                <div class="downloads">
                    <button onclick={link.callback(|_| Msg::DownloadSlice)}>{ "Download this slice's mask (TIFF)" }</button>
                    <button onclick={link.callback(|_| Msg::DownloadZip)}>{ "Download all masks of the case (zip)" }</button>
                </div>
            }
        </div>
    }
}
