//! The drop zone: drag-and-drop of files or folders (walked recursively), the file and folder
//! pickers, the sample case and Cancel.

use super::app::{App, Msg};
use super::dom;
use web_sys::{DragEvent, HtmlInputElement};
use yew::html::Scope;
use yew::prelude::*;

pub fn view(app: &App, link: &Scope<App>) -> Html {
    let on_input = {
        let input = app.file_input.clone();
        link.callback(move |_: Event| {
            let files = input
                .cast::<HtmlInputElement>()
                .and_then(|i| i.files())
                .map(|l| dom::file_list(&l))
                .unwrap_or_default();
            Msg::Files(files)
        })
    };
    let on_folder = link.callback(|e: Event| {
        let input: HtmlInputElement = e.target_unchecked_into();
        Msg::Files(
            input
                .files()
                .map(|l| dom::file_list(&l))
                .unwrap_or_default(),
        )
    });
    let on_drop = {
        let link = link.clone();
        Callback::from(move |e: DragEvent| {
            e.prevent_default();
            let Some(dt) = e.data_transfer() else { return };
            let items = dt.items();
            let entries: Vec<web_sys::FileSystemEntry> = (0..items.length())
                .filter_map(|i| items.get(i))
                .filter_map(|it| it.webkit_get_as_entry().ok().flatten())
                .collect();
            if entries.is_empty() {
                let files = dt.files().map(|l| dom::file_list(&l)).unwrap_or_default();
                link.send_message(Msg::Files(files));
            } else {
                link.send_future(async move { Msg::Files(dom::walk_entries(entries).await) });
            }
        })
    };
    html! {
        <section class="drop" ondragover={Callback::from(|e: DragEvent| e.prevent_default())} ondrop={on_drop}>
            <p>{ "Drop .tif slices, their _mask.tif files, or whole case folders here, or:" }</p>
            <input id="file-input" type="file" multiple=true accept=".tif,.tiff" ref={app.file_input.clone()} onchange={on_input} />
            <label class="button">{ "Choose a folder" }
                <input id="folder-input" type="file" webkitdirectory=true onchange={on_folder} hidden=true />
            </label>
            <button id="sample" onclick={link.callback(|_| Msg::Sample)}>{ "Try a sample case" }</button>
            if app.state() == "running" { <button id="cancel" onclick={link.callback(|_| Msg::Cancel)}>{ "Cancel" }</button> }
        </section>
    }
}
