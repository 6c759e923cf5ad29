//! The per-case DSC table, `case,slices,dsc_reference,dsc_native`, one row a case, then `mean`
//! and `median` rows: what `train eval --csv` writes, `train report` and `scripts/` read, and the
//! page offers as a download (native protocol only: its reference cells are empty).

use crate::metrics::{Summary, summarize};
use serde::{Deserialize, Serialize};

/// One case's scores (or a summary row: `mean`, `median`, without a slice count).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    pub case: String,
    pub slices: Option<usize>,
    pub dsc_reference: Option<f64>,
    pub dsc_native: Option<f64>,
}

/// The names of the summary rows, which readers skip.
const SUMMARY_ROWS: [&str; 2] = ["mean", "median"];

#[derive(Debug, thiserror::Error)]
pub enum ScoresError {
    #[error("{0}")]
    Csv(#[from] csv::Error),
    #[error("no case rows")]
    Empty,
    #[error("CSV text is not UTF-8: {0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("cannot write the CSV: {0}")]
    Write(String),
}

/// Six decimals, as the table has always been written: enough for 1e-6 comparisons, short to read.
fn round6(x: Option<f64>) -> Option<f64> {
    x.map(|v| (v * 1e6).round() / 1e6)
}

/// Summaries of the reference and the native column, each over the cases that have it.
pub fn summaries(rows: &[ScoreRow]) -> (Option<Summary>, Option<Summary>) {
    let column =
        |f: fn(&ScoreRow) -> Option<f64>| summarize(&rows.iter().filter_map(f).collect::<Vec<_>>());
    (column(|r| r.dsc_reference), column(|r| r.dsc_native))
}

/// The `mean` and `median` rows of case rows.
pub fn summary_rows(rows: &[ScoreRow]) -> Vec<ScoreRow> {
    let (r, n) = summaries(rows);
    [
        ("mean", r.map(|s| s.mean), n.map(|s| s.mean)),
        ("median", r.map(|s| s.median), n.map(|s| s.median)),
    ]
    .into_iter()
    .map(|(case, dsc_reference, dsc_native)| ScoreRow {
        case: case.into(),
        slices: None,
        dsc_reference,
        dsc_native,
    })
    .collect()
}

/// The table of case rows followed by their summary rows.
pub fn write_csv(rows: &[ScoreRow]) -> Result<String, ScoresError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for row in rows.iter().chain(&summary_rows(rows)) {
        w.serialize(ScoreRow {
            dsc_reference: round6(row.dsc_reference),
            dsc_native: round6(row.dsc_native),
            ..row.clone()
        })?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| ScoresError::Write(e.to_string()))?;
    Ok(String::from_utf8(bytes)?)
}

/// The case rows of a table (summary rows skipped); an error names the line at fault.
pub fn read_csv(text: &str) -> Result<Vec<ScoreRow>, ScoresError> {
    let mut rows = Vec::new();
    for row in csv::Reader::from_reader(text.as_bytes()).deserialize() {
        let row: ScoreRow = row?;
        if !SUMMARY_ROWS.contains(&row.case.as_str()) {
            rows.push(row);
        }
    }
    if rows.is_empty() {
        return Err(ScoresError::Empty);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(case: &str, r: Option<f64>, n: Option<f64>) -> ScoreRow {
        ScoreRow {
            case: case.into(),
            slices: Some(20),
            dsc_reference: r,
            dsc_native: n,
        }
    }

    #[test]
    fn the_table_reads_back_what_was_written() {
        let rows = vec![
            row("TCGA_A_1", Some(0.9123456789), Some(0.5)),
            row("TCGA_B_2", Some(0.7), None),
        ];
        let text = write_csv(&rows).unwrap();
        assert_eq!(
            text.lines().collect::<Vec<_>>(),
            [
                "case,slices,dsc_reference,dsc_native",
                "TCGA_A_1,20,0.912346,0.5",
                "TCGA_B_2,20,0.7,",
                "mean,,0.806173,0.5",
                "median,,0.806173,0.5",
            ]
        );
        let back = read_csv(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].dsc_reference, Some(0.912346));
        assert_eq!(back[1], rows[1]);
    }

    #[test]
    fn malformed_tables_are_errors_not_panics() {
        for bad in [
            "",
            "case,slices,dsc_reference,dsc_native\n",
            "case,slices,dsc_reference,dsc_native\nA,20,x,0.5\n",
            "case,slices,dsc_reference,dsc_native\nA,20,0.5\n",
            "case,slices\nA,-3\n",
            "mean,,0.5,0.5\n",
        ] {
            assert!(read_csv(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
