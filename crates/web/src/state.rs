//! The page's case table: the cases the worker read, their status and results, the sort order,
//! the selection and the slice shown. No DOM here, so it is unit-tested (wasm, in Node).

use crate::protocol::{CaseResult, Outcome};
use brainseg::ingest::Case;
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

#[derive(Debug, Clone)]
pub struct CaseEntry {
    /// The worker's job number for this case.
    pub job: u32,
    pub case: Rc<Case>,
    pub status: CaseStatus,
    pub result: Option<CaseResult>,
    /// The slice shown (position in the case).
    pub slice: usize,
}

impl CaseEntry {
    pub fn dsc(&self) -> Option<f64> {
        self.result.as_ref().and_then(|r| r.dsc)
    }
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
    pub sort: Sort,
}

/// The slice with the largest ground-truth lesion, else the middle one: a useful first view.
pub fn first_view_slice(case: &Case) -> usize {
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
    pub fn add(&mut self, job: u32, case: Case) {
        let entry = CaseEntry {
            job,
            slice: first_view_slice(&case),
            case: Rc::new(case),
            status: CaseStatus::Queued,
            result: None,
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
            Outcome::Done(r) => {
                e.status = CaseStatus::Done;
                e.result = Some(r);
            }
            Outcome::Cancelled => e.status = CaseStatus::Cancelled,
            Outcome::Failed(why) => e.status = CaseStatus::Failed(why),
        }
    }

    /// Another model was loaded: the worker runs every case again (but the one it is running).
    pub fn requeue(&mut self) {
        for e in &mut self.entries {
            if !matches!(e.status, CaseStatus::Running { .. }) {
                e.status = CaseStatus::Queued;
                e.result = None;
            }
        }
    }

    /// Some case is queued or running.
    pub fn busy(&self) -> bool {
        self.entries.iter().any(|e| e.status.pending())
    }

    /// Row order: input order, or by DSC (cases without one last).
    pub fn rows(&self) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.entries.len()).collect();
        let key = |i: &usize| self.entries[*i].dsc();
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

    /// Mean DSC over the scored cases.
    pub fn mean_dsc(&self) -> Option<f64> {
        let scored: Vec<f64> = self.entries.iter().filter_map(|e| e.dsc()).collect();
        (!scored.is_empty()).then(|| scored.iter().sum::<f64>() / scored.len() as f64)
    }

    pub fn any_result(&self) -> bool {
        self.entries.iter().any(|e| e.result.is_some())
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

    /// The DSC table as `train eval --csv` writes it (reference protocol cells empty).
    pub fn score_rows(&self) -> Vec<ScoreRow> {
        self.entries
            .iter()
            .map(|e| ScoreRow {
                case: e.case.id.clone(),
                slices: Some(e.case.slices.len()),
                dsc_reference: None,
                dsc_native: e.dsc(),
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

    fn done(dsc: Option<f64>) -> Outcome {
        Outcome::Done(CaseResult {
            mask: Vec::new(),
            dsc,
            slice_dsc: Vec::new(),
            millis: 1.0,
        })
    }

    fn table() -> CaseTable {
        let mut t = CaseTable::default();
        for (job, id) in ["A", "B", "C"].iter().enumerate() {
            t.add(job as u32, synthetic_case(id, 6, 16, 16, job as u64));
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
        assert_eq!(t.entries[0].dsc(), Some(0.8));
        assert_eq!(t.entries[2].status, CaseStatus::Failed("bad".into()));
        t.requeue();
        assert!(t.entries.iter().all(|e| e.status == CaseStatus::Queued));
        assert!(!t.any_result());
    }

    #[wasm_bindgen_test]
    fn a_case_given_again_replaces_its_row() {
        let mut t = table();
        t.finish(1, done(Some(0.5)));
        t.add(7, synthetic_case("B", 4, 16, 16, 9));
        assert_eq!(t.entries.len(), 3);
        assert_eq!(t.entries[1].job, 7);
        assert_eq!(t.entries[1].status, CaseStatus::Queued);
        assert_eq!(t.entries[1].case.slices.len(), 4);
        // The old job's late answer no longer lands anywhere.
        t.finish(1, done(Some(0.1)));
        assert_eq!(t.entries[1].result, None);
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
        assert!((t.mean_dsc().unwrap() - 0.8).abs() < 1e-12);
        let csv = t.score_rows();
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
