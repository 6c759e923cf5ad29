//! The page's case table: the cases the worker read, their status, each model's results and the
//! agreement between models, the sort order, the selection and the slice shown. No DOM here, so
//! it is unit-tested (wasm, in Node).

use crate::protocol::{CaseResult, CaseView, ModelResult, Outcome};
use brainseg::metrics::dice;
use brainseg::scores::ScoreRow;
use std::rc::Rc;

#[derive(Debug, Clone, PartialEq)]
pub enum CaseStatus {
    Queued,
    Running {
        done: usize,
        total: usize,
        ms_per_slice: f64,
    },
    Done,
    Cancelled,
    Failed(String),
}

impl CaseStatus {
    /// Queued or running: the worker still owes an answer.
    pub fn pending(&self) -> bool {
        matches!(self, CaseStatus::Queued | CaseStatus::Running { .. })
    }
}

/// How much two models' predictions of a case agree: the DSC between their masks.
#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    pub a: String,
    pub b: String,
    pub dsc: f64,
}

#[derive(Debug, Clone)]
pub struct CaseEntry {
    /// The worker's job number for this case.
    pub job: u32,
    /// The case as the worker read it (8-bit slices).
    pub case: Rc<CaseView>,
    pub status: CaseStatus,
    /// Each model's result, in the order the models run.
    pub results: Vec<ModelResult>,
    /// Between every two models with a result (`a` before `b` in that order).
    pub agreement: Vec<Agreement>,
    /// The slice shown (position in the case).
    pub slice: usize,
}

impl CaseEntry {
    pub fn result(&self, model: &str) -> Option<&CaseResult> {
        self.results
            .iter()
            .find(|r| r.model == model)
            .map(|r| &r.result)
    }

    /// Model `model`'s DSC against the ground truth, when the case has masks.
    pub fn dsc(&self, model: &str) -> Option<f64> {
        self.result(model).and_then(|r| r.dsc)
    }

    /// The DSC between the masks of models `a` and `b`.
    pub fn agreement(&self, a: &str, b: &str) -> Option<f64> {
        self.agreement
            .iter()
            .find(|g| (g.a == a && g.b == b) || (g.a == b && g.b == a))
            .map(|g| g.dsc)
    }

    /// Keeps only the results (and agreements) of `models`.
    fn keep_models(&mut self, models: &[String]) {
        self.results.retain(|r| models.contains(&r.model));
        self.agreement
            .retain(|g| models.contains(&g.a) && models.contains(&g.b));
    }
}

/// The DSC between every two results' masks, in their order (pairs whose masks differ in size,
/// which one case's results never do, are left out).
pub fn agreements(results: &[ModelResult]) -> Vec<Agreement> {
    let mut out = Vec::new();
    for (i, a) in results.iter().enumerate() {
        for b in &results[i + 1..] {
            if a.result.mask.len() == b.result.mask.len() {
                out.push(Agreement {
                    a: a.model.clone(),
                    b: b.model.clone(),
                    dsc: dice(&a.result.mask, &b.result.mask),
                });
            }
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Input,
    DscDescending,
    DscAscending,
}

impl Sort {
    /// The order after a click on the DSC header.
    pub fn next(self) -> Self {
        match self {
            Sort::Input => Sort::DscDescending,
            Sort::DscDescending => Sort::DscAscending,
            Sort::DscAscending => Sort::Input,
        }
    }
}

#[derive(Debug, Default)]
pub struct CaseTable {
    pub entries: Vec<CaseEntry>,
    pub selected: Option<usize>,
    /// By the first model's DSC.
    pub sort: Sort,
    /// The models the cases run with, in order; the first is the one the table sorts by.
    pub models: Vec<String>,
}

/// The slice with the largest ground-truth lesion, else the middle one: a useful first view.
pub fn first_view_slice(case: &CaseView) -> usize {
    case.slices
        .iter()
        .enumerate()
        .max_by_key(|(_, s)| s.mask.as_ref().map(|m| m.lesion_pixels()).unwrap_or(0))
        .filter(|(_, s)| s.mask.as_ref().is_some_and(|m| m.lesion_pixels() > 0))
        .map(|(i, _)| i)
        .unwrap_or(case.slices.len() / 2)
}

impl CaseTable {
    /// A case the worker queued as `job`. A case given again (same id) replaces its row.
    pub fn add(&mut self, job: u32, case: CaseView) {
        let entry = CaseEntry {
            job,
            slice: first_view_slice(&case),
            case: Rc::new(case),
            status: CaseStatus::Queued,
            results: Vec::new(),
            agreement: Vec::new(),
        };
        match self.entries.iter().position(|e| e.case.id == entry.case.id) {
            Some(i) => self.entries[i] = entry,
            None => self.entries.push(entry),
        }
        if self.selected.is_none() {
            self.selected = Some(0);
        }
    }

    fn by_job(&mut self, job: u32) -> Option<&mut CaseEntry> {
        self.entries.iter_mut().find(|e| e.job == job)
    }

    pub fn progress(&mut self, job: u32, done: usize, total: usize, ms_per_slice: f64) {
        if let Some(e) = self.by_job(job) {
            e.status = CaseStatus::Running {
                done,
                total,
                ms_per_slice,
            };
        }
    }

    pub fn finish(&mut self, job: u32, outcome: Outcome) {
        let Some(e) = self.by_job(job) else { return };
        match outcome {
            Outcome::Done(results) => {
                e.status = CaseStatus::Done;
                e.agreement = agreements(&results);
                e.results = results;
            }
            Outcome::Cancelled => e.status = CaseStatus::Cancelled,
            Outcome::Failed(why) => e.status = CaseStatus::Failed(why),
        }
    }

    /// Another set of models was loaded: the worker runs every case again (but the one it is
    /// running) with the models that have no result for it. Results of models still in the set
    /// stay on show meanwhile.
    pub fn set_models(&mut self, models: Vec<String>) {
        for e in &mut self.entries {
            e.keep_models(&models);
            if !matches!(e.status, CaseStatus::Running { .. }) {
                e.status = CaseStatus::Queued;
            }
        }
        self.models = models;
    }

    /// The model the table sorts by and reports first.
    pub fn primary(&self) -> Option<&str> {
        self.models.first().map(String::as_str)
    }

    /// Every two models, in order.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let m = &self.models;
        (0..m.len())
            .flat_map(|i| (i + 1..m.len()).map(move |j| (m[i].clone(), m[j].clone())))
            .collect()
    }

    /// Some case is queued or running.
    pub fn busy(&self) -> bool {
        self.entries.iter().any(|e| e.status.pending())
    }

    /// Row order: input order, or by the first model's DSC (cases without one last).
    pub fn rows(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        let primary = self.primary().unwrap_or_default();
        let key = |i: &usize| self.entries[*i].dsc(primary);
        let descending = match self.sort {
            Sort::Input => return idx,
            Sort::DscDescending => true,
            Sort::DscAscending => false,
        };
        idx.sort_by(|a, b| match (key(a), key(b)) {
            (Some(x), Some(y)) if descending => y.total_cmp(&x),
            (Some(x), Some(y)) => x.total_cmp(&y),
            (x, y) => y.is_some().cmp(&x.is_some()),
        });
        idx
    }

    /// Mean of `value` over the cases that have one.
    fn mean(&self, value: impl Fn(&CaseEntry) -> Option<f64>) -> Option<f64> {
        let scored: Vec<f64> = self.entries.iter().filter_map(value).collect();
        (!scored.is_empty()).then(|| scored.iter().sum::<f64>() / scored.len() as f64)
    }

    /// Model `model`'s mean DSC over the scored cases.
    pub fn mean_dsc(&self, model: &str) -> Option<f64> {
        self.mean(|e| e.dsc(model))
    }

    /// Mean DSC between models `a` and `b` over the cases both ran.
    pub fn mean_agreement(&self, a: &str, b: &str) -> Option<f64> {
        self.mean(|e| e.agreement(a, b))
    }

    pub fn any_result(&self) -> bool {
        self.entries.iter().any(|e| !e.results.is_empty())
    }

    pub fn current(&self) -> Option<&CaseEntry> {
        self.selected.and_then(|i| self.entries.get(i))
    }

    pub fn select(&mut self, i: usize) {
        if i < self.entries.len() {
            self.selected = Some(i);
        }
    }

    /// Shows slice `k` of the selected case (clamped).
    pub fn show_slice(&mut self, k: usize) {
        if let Some(e) = self.selected.and_then(|i| self.entries.get_mut(i)) {
            e.slice = k.min(e.case.slices.len().saturating_sub(1));
        }
    }

    /// Moves `delta` slices through the selected case (clamped).
    pub fn step_slice(&mut self, delta: isize) {
        if let Some(k) = self.current().map(|e| e.slice) {
            self.show_slice(k.saturating_add_signed(delta));
        }
    }

    /// Model `model`'s DSC table as `train eval --csv` writes it (reference protocol cells
    /// empty).
    pub fn score_rows(&self, model: &str) -> Vec<ScoreRow> {
        self.entries
            .iter()
            .map(|e| ScoreRow {
                case: e.case.id.clone(),
                slices: Some(e.case.slices.len()),
                dsc_reference: None,
                dsc_native: e.dsc(model),
            })
            .collect()
    }
}

/// Seconds left for a running case at its pace so far.
pub fn eta_seconds(done: usize, total: usize, ms_per_slice: f64) -> f64 {
    total.saturating_sub(done) as f64 * ms_per_slice / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use brainseg::synthetic::synthetic_case;
    use wasm_bindgen_test::wasm_bindgen_test;

    fn result(model: &str, mask: Vec<u8>, dsc: Option<f64>) -> ModelResult {
        ModelResult {
            model: model.into(),
            result: CaseResult {
                mask,
                dsc,
                slice_dsc: Vec::new(),
                millis: 1.0,
            },
        }
    }

    fn done(dsc: Option<f64>) -> Outcome {
        Outcome::Done(vec![result("m", Vec::new(), dsc)])
    }

    fn table() -> CaseTable {
        let mut t = CaseTable::default();
        t.set_models(vec!["m".into()]);
        for (job, id) in ["A", "B", "C"].iter().enumerate() {
            t.add(
                job as u32,
                CaseView::new(&synthetic_case(id, 6, 16, 16, job as u64)),
            );
        }
        t
    }

    #[wasm_bindgen_test]
    fn cases_move_from_queued_to_their_outcome() {
        let mut t = table();
        assert_eq!(t.selected, Some(0));
        assert!(t.busy());
        t.progress(1, 2, 6, 40.0);
        assert_eq!(
            t.entries[1].status,
            CaseStatus::Running {
                done: 2,
                total: 6,
                ms_per_slice: 40.0
            }
        );
        t.finish(0, done(Some(0.8)));
        t.finish(1, Outcome::Cancelled);
        t.finish(2, Outcome::Failed("bad".into()));
        t.finish(9, Outcome::Cancelled); // a job the table never had: ignored
        assert!(!t.busy());
        assert_eq!(t.entries[0].dsc("m"), Some(0.8));
        assert_eq!(t.entries[2].status, CaseStatus::Failed("bad".into()));
        // Another model joins: every case runs again; the first model's result stays on show.
        t.set_models(vec!["m".into(), "n".into()]);
        assert!(t.entries.iter().all(|e| e.status == CaseStatus::Queued));
        assert_eq!(t.entries[0].dsc("m"), Some(0.8));
        // A model dropped takes its results with it.
        t.set_models(vec!["n".into()]);
        assert!(!t.any_result());
    }

    #[wasm_bindgen_test]
    fn each_model_has_its_dsc_and_every_two_models_their_agreement() {
        let mut t = table();
        t.set_models(vec!["a".into(), "b".into(), "c".into()]);
        assert_eq!(
            t.pairs(),
            [("a", "b"), ("a", "c"), ("b", "c")].map(|(x, y)| (x.to_string(), y.to_string()))
        );
        t.finish(
            0,
            Outcome::Done(vec![
                result("a", vec![1, 1, 0, 0], Some(0.9)),
                result("b", vec![1, 0, 0, 0], Some(0.5)),
                result("c", vec![0, 0, 0, 0], Some(0.0)),
            ]),
        );
        t.finish(
            2,
            Outcome::Done(vec![
                result("a", vec![0, 0], Some(0.7)),
                result("b", vec![0, 0], Some(0.6)),
                result("c", vec![0, 0], None),
            ]),
        );
        let e = &t.entries[0];
        assert_eq!(
            (e.dsc("a"), e.dsc("b"), e.dsc("z")),
            (Some(0.9), Some(0.5), None)
        );
        // 2·1 / (2 + 1); a mask against an empty one: 0; the order of the pair does not matter.
        assert!((e.agreement("a", "b").unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(e.agreement("c", "a"), Some(0.0));
        // Two empty masks agree fully.
        assert_eq!(t.entries[2].agreement("b", "c"), Some(1.0));
        assert!((t.mean_dsc("a").unwrap() - 0.8).abs() < 1e-12);
        assert_eq!(t.mean_dsc("c"), Some(0.0));
        assert!((t.mean_agreement("a", "b").unwrap() - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12);
        // Sorting follows the first model; each model's CSV has its own column.
        t.sort = Sort::DscDescending;
        assert_eq!(t.rows(), [0, 2, 1]);
        t.set_models(vec!["b".into(), "a".into()]);
        assert_eq!(t.rows(), [2, 0, 1]);
        assert_eq!(t.score_rows("b")[0].dsc_native, Some(0.5));
        assert_eq!(t.score_rows("a")[0].dsc_native, Some(0.9));
        assert_eq!(t.entries[0].agreement("a", "c"), None);
    }

    #[wasm_bindgen_test]
    fn a_case_given_again_replaces_its_row() {
        let mut t = table();
        t.finish(1, done(Some(0.5)));
        t.add(7, CaseView::new(&synthetic_case("B", 4, 16, 16, 9)));
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.entries[1].job, 7);
        assert_eq!(t.entries[1].status, CaseStatus::Queued);
        assert_eq!(t.entries[1].case.slices.len(), 4);
        // The old job's late answer no longer lands anywhere.
        t.finish(1, done(Some(0.1)));
        assert!(t.entries[1].results.is_empty());
    }

    #[wasm_bindgen_test]
    fn rows_sort_by_dsc_with_unscored_cases_last() {
        let mut t = table();
        t.finish(0, done(Some(0.7)));
        t.finish(2, done(Some(0.9)));
        assert_eq!(t.rows(), [0, 1, 2]);
        t.sort = t.sort.next();
        assert_eq!(t.rows(), [2, 0, 1]);
        t.sort = t.sort.next();
        assert_eq!(t.rows(), [0, 2, 1]);
        t.sort = t.sort.next();
        assert_eq!(t.sort, Sort::Input);
        assert!((t.mean_dsc("m").unwrap() - 0.8).abs() < 1e-12);
        let csv = t.score_rows("m");
        assert_eq!(csv[1].dsc_native, None);
        assert_eq!(csv[2].slices, Some(6));
    }

    #[wasm_bindgen_test]
    fn the_slice_shown_stays_inside_the_case() {
        let mut t = table();
        // The first view is the slice with the largest lesion.
        let case = &t.entries[0].case;
        let k = t.entries[0].slice;
        let lesion = |i: usize| case.slices[i].mask.as_ref().unwrap().lesion_pixels();
        assert!((0..case.slices.len()).all(|i| lesion(i) <= lesion(k)));
        t.show_slice(99);
        assert_eq!(t.current().unwrap().slice, 5);
        t.step_slice(-2);
        assert_eq!(t.current().unwrap().slice, 3);
        t.step_slice(-10);
        assert_eq!(t.current().unwrap().slice, 0);
        t.select(2);
        assert_eq!(t.current().unwrap().case.id, "C");
        t.select(3);
        assert_eq!(t.selected, Some(2));
        assert_eq!(eta_seconds(2, 6, 500.0), 2.0);
    }
}
