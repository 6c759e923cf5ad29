//! The case table: one row per case with its status (progress, pace and time left while it
//! runs), its DSC, a sortable DSC column, the mean, and the CSV download.

use super::app::{App, Msg};
use crate::state::{CaseStatus, CaseTable, Sort, eta_seconds};
use yew::html::Scope;
use yew::prelude::*;

pub fn view(table: &CaseTable, link: &Scope<App>) -> Html {
    html! {
        <>
        <table id="cases">
            <thead><tr>
                <th>{ "case" }</th><th>{ "slices" }</th><th>{ "status" }</th>
                <th class="sortable" onclick={link.callback(|_| Msg::SortDsc)}>{ match table.sort {
                    Sort::Input => "DSC ⇅", Sort::DscDescending => "DSC ↓", Sort::DscAscending => "DSC ↑" } }</th>
            </tr></thead>
            <tbody>
                { for table.rows().into_iter().map(|i| row(table, link, i)) }
            </tbody>
            if let Some(m) = table.mean_dsc() {
                <tfoot><tr><td>{ "mean" }</td><td></td><td></td><td id="mean-dsc">{ format!("{m:.4}") }</td></tr></tfoot>
            }
        </table>
        if table.any_result() { <button id="csv" onclick={link.callback(|_| Msg::DownloadCsv)}>{ "Download DSC table (CSV)" }</button> }
        </>
    }
}

fn row(table: &CaseTable, link: &Scope<App>, i: usize) -> Html {
    let c = &table.entries[i];
    let dsc = c.dsc();
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
            format!("done ({:.1} s)", c.result.as_ref().map(|r| r.millis / 1000.0).unwrap_or(0.0))
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
            <td>{ dsc.map(|d| format!("{d:.4}")).unwrap_or_else(|| if c.case.has_masks() { "…".into() } else { "no masks".into() }) }</td>
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
