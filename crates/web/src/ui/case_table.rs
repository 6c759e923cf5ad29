//! The case table: one row per case with its status (progress, pace and time left while it
//! runs), one DSC column per ticked model (the first sortable), with two or more models the DSC
//! between every two models' masks, the means, and the CSV download.

use super::app::{App, Msg};
use super::render::css;
use crate::state::{CaseStatus, CaseTable, Sort, eta_seconds};
use yew::html::Scope;
use yew::prelude::*;

pub fn view(app: &App, link: &Scope<App>) -> Html {
    let table = &app.table;
    let pairs = table.pairs();
    let cell = |v: Option<f64>| v.map(|d| format!("{d:.4}")).unwrap_or_default();
    let several = table.models.len() > 1;
    let swatch = |m: &str| html! { <span class="swatch" style={format!("background: {}", css(app.model_colour(m)))}></span> };
    html! {
        <>
        // Several models add a DSC column each and one per pair: wide tables scroll, not the page.
        <div class="table-scroll">
        <table id="cases">
            <thead><tr>
                <th>{ "case" }</th><th>{ "slices" }</th><th>{ "status" }</th>
                { for table.models.iter().enumerate().map(|(i, m)| {
                    let label = if several { format!("DSC {m}") } else { "DSC".into() };
                    if i == 0 {
                        html! { <th class="sortable" onclick={link.callback(|_| Msg::SortDsc)}>
                            if several { { swatch(m) } }
                            { format!("{label} {}", match table.sort {
                                Sort::Input => "⇅", Sort::DscDescending => "↓", Sort::DscAscending => "↑" }) }
                        </th> }
                    } else {
                        html! { <th>{ swatch(m) }{ label }</th> }
                    }
                }) }
                { for pairs.iter().map(|(a, b)| html! {
                    <th class="agree" title="DSC between the two models' masks">{ format!("{a} ↔ {b}") }</th>
                }) }
            </tr></thead>
            <tbody>
                { for table.rows().into_iter().map(|i| row(table, &pairs, link, i)) }
            </tbody>
            if table.models.iter().any(|m| table.mean_dsc(m).is_some()) || !pairs.is_empty() {
                <tfoot><tr><td>{ "mean" }</td><td></td><td></td>
                    { for table.models.iter().enumerate().map(|(i, m)| html! {
                        <td id={(i == 0).then_some("mean-dsc")} data-model={m.clone()}>{ cell(table.mean_dsc(m)) }</td>
                    }) }
                    { for pairs.iter().map(|(a, b)| html! { <td>{ cell(table.mean_agreement(a, b)) }</td> }) }
                </tr></tfoot>
            }
        </table>
        </div>
        if table.any_result() { <button id="csv" onclick={link.callback(|_| Msg::DownloadCsv)}>{
            match app.export_target() {
                Some(m) if several => format!("Download {m}'s DSC table (CSV)"),
                _ => "Download DSC table (CSV)".to_string(),
            }
        }</button> }
        </>
    }
}

fn row(table: &CaseTable, pairs: &[(String, String)], link: &Scope<App>, i: usize) -> Html {
    let c = &table.entries[i];
    let dsc = table.primary().and_then(|m| c.dsc(m));
    let status = match &c.status {
        CaseStatus::Queued => html! { "queued" },
        CaseStatus::Running {
            done,
            total,
            ms_per_slice,
        } => {
            let pace = if *done > 0 {
                format!(
                    " {done}/{total} · {ms_per_slice:.0} ms/slice · {:.0} s left",
                    eta_seconds(*done, *total, *ms_per_slice)
                )
            } else {
                format!(" 0/{total}")
            };
            html! {
                <span class="running">
                    <progress max={(*total).max(1).to_string()} value={done.to_string()}></progress>
                    { pace }
                </span>
            }
        }
        CaseStatus::Done => html! {
            format!("done ({:.1} s)", c.results.iter().map(|r| r.result.millis).sum::<f64>() / 1000.0)
        },
        CaseStatus::Cancelled => html! { "cancelled" },
        CaseStatus::Failed(e) => html! { <span class="error">{ e.clone() }</span> },
    };
    let selected = table.selected == Some(i);
    html! {
        <tr data-case={c.case.id.clone()} data-dsc={dsc.map(|d| format!("{d:.4}"))}
            data-status={status_attr(&c.status)}
            class={classes!(selected.then_some("selected"))} onclick={link.callback(move |_| Msg::Select(i))}>
            <td>{ &c.case.id }</td>
            <td>{ c.case.slices.len() }</td>
            <td>{ status }</td>
            { for table.models.iter().map(|m| {
                let d = c.dsc(m);
                html! {
                    <td data-model={m.clone()} data-dsc={d.map(|d| format!("{d:.4}"))}>{
                        d.map(|d| format!("{d:.4}")).unwrap_or_else(|| if c.case.has_masks() { "…".into() } else { "no masks".into() })
                    }</td>
                }
            }) }
            { for pairs.iter().map(|(a, b)| {
                let g = c.agreement(a, b);
                html! {
                    <td class="agree" data-pair={format!("{a}|{b}")} data-agreement={g.map(|g| format!("{g:.4}"))}>{
                        g.map(|g| format!("{g:.4}")).unwrap_or_else(|| "…".into())
                    }</td>
                }
            }) }
        </tr>
    }
}

/// The status as a word, for tests and styles.
fn status_attr(s: &CaseStatus) -> &'static str {
    match s {
        CaseStatus::Queued => "queued",
        CaseStatus::Running { .. } => "running",
        CaseStatus::Done => "done",
        CaseStatus::Cancelled => "cancelled",
        CaseStatus::Failed(_) => "failed",
    }
}
