//! `train report`: the experiment table. Reads finished run folders (and the `eval*.csv` files
//! `scripts/experiments.sh` writes into them) and writes a Markdown table and the curves of all
//! runs side by side.

use crate::plot::{Series, draw_panels};
use crate::training::FitConfig;
use crate::training::checkpoint::{EpochRecord, RunDir, RunState};
use anyhow::{Context, Result};
use brainseg::metrics::Summary;
use brainseg::model::trainable_params;
use brainseg::scores::{ScoreRow, read_csv, summaries};
use burn::prelude::Device;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args)]
pub struct ReportArgs {
    /// Run folders, in table order. A folder without `config.json` (an ensemble's) is read for
    /// its `eval*.csv` only.
    #[arg(required = true)]
    runs: Vec<PathBuf>,
    /// Folder for `table.md` and `curves.png`.
    #[arg(long)]
    out: PathBuf,
}

/// `train eval --csv` output of a run (`eval.csv`, `eval-tta.csv`).
struct EvalCsv {
    rows: Vec<ScoreRow>,
}

impl EvalCsv {
    fn read(path: &Path) -> Result<Option<Self>> {
        if !path.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let rows = read_csv(&text).with_context(|| format!("{}", path.display()))?;
        Ok(Some(Self { rows }))
    }

    /// Summary of the reference or the native column.
    fn stats(&self, native: bool) -> Result<Summary> {
        let (r, n) = summaries(&self.rows);
        let which = if native { "native" } else { "reference" };
        if native { n } else { r }.with_context(|| format!("no {which} DSC in the table"))
    }

    fn case(&self, case: &str, native: bool) -> Option<f64> {
        let row = self.rows.iter().find(|r| r.case == case)?;
        if native {
            row.dsc_native
        } else {
            row.dsc_reference
        }
    }
}

struct Row {
    name: String,
    config: Option<FitConfig>,
    state: Option<RunState>,
    eval: EvalCsv,
    tta: Option<EvalCsv>,
}

fn read_row(dir: &Path) -> Result<Row> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("run")
        .to_string();
    let eval = EvalCsv::read(&dir.join("eval.csv"))?
        .with_context(|| format!("{}: no eval.csv (run train eval --csv)", dir.display()))?;
    let tta = EvalCsv::read(&dir.join("eval-tta.csv"))?;
    let config = match std::fs::read_to_string(dir.join("config.json")) {
        Ok(t) => Some(
            serde_json::from_str::<FitConfig>(&t)
                .with_context(|| format!("{}/config.json", dir.display()))?,
        ),
        Err(_) => None,
    };
    let state = RunDir {
        root: dir.to_path_buf(),
    }
    .load_state()?;
    Ok(Row {
        name,
        config,
        state,
        eval,
        tta,
    })
}

fn fmt_count(n: f64) -> String {
    if n >= 1e9 {
        format!("{:.2} G", n / 1e9)
    } else {
        format!("{:.2} M", n / 1e6)
    }
}

pub fn run(args: &ReportArgs) -> Result<()> {
    let rows = args
        .runs
        .iter()
        .map(|d| read_row(d))
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.out)?;
    let mut md = String::new();
    summary_table(&rows, &mut md)?;
    per_case_tables(&rows, &mut md)?;
    std::fs::write(args.out.join("table.md"), &md)?;
    print!("{md}");
    draw_curves(&rows, &args.out.join("curves.png"))?;
    eprintln!(
        "wrote {} and {}",
        args.out.join("table.md").display(),
        args.out.join("curves.png").display()
    );
    Ok(())
}

/// Architecture, loss, parameters and FLOPs of a run (dashes for an ensemble's folder).
fn model_cells(config: Option<&FitConfig>, device: &Device) -> Result<[String; 4]> {
    let Some(c) = config else {
        return Ok(["ensemble".into(), "–".into(), "–".into(), "–".into()]);
    };
    let m = c.model_config();
    let model = m.init(device)?;
    Ok([
        c.arch.to_string(),
        clap::ValueEnum::to_possible_value(&c.loss)
            .map_or_else(|| format!("{:?}", c.loss), |v| v.get_name().to_string()),
        fmt_count(trainable_params(&model) as f64),
        fmt_count(m.flops_per_slice(c.size) as f64),
    ])
}

/// Training minutes and "epochs (best)" of a run.
fn training_cells(state: Option<&RunState>) -> [String; 2] {
    match state {
        Some(s) => [
            format!("{:.1}", s.seconds_spent() / 60.0),
            format!(
                "{} ({})",
                s.epochs_done,
                s.best_epoch.map_or("–".into(), |b| b.to_string())
            ),
        ],
        None => ["–".into(), "–".into()],
    }
}

fn summary_table(rows: &[Row], md: &mut String) -> Result<()> {
    let device = Device::flex();
    writeln!(
        md,
        "| run | arch | loss | params | FLOPs/slice | train min | epochs (best) | val mean | median | min | native mean | flip-TTA mean | TTA median | TTA min |"
    )?;
    writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in rows {
        let [arch, loss, params, flops] = model_cells(r.config.as_ref(), &device)?;
        let [minutes, epochs] = training_cells(r.state.as_ref());
        let (e, n) = (r.eval.stats(false)?, r.eval.stats(true)?);
        let tta = r.tta.as_ref().map(|t| t.stats(false)).transpose()?;
        let t =
            |f: fn(&Summary) -> f64| tta.as_ref().map_or("–".into(), |s| format!("{:.4}", f(s)));
        writeln!(
            md,
            "| {} | {arch} | {loss} | {params} | {flops} | {minutes} | {epochs} | {:.4} | {:.4} | {:.4} | {:.4} | {} | {} | {} |",
            r.name,
            e.mean,
            e.median,
            e.min,
            n.mean,
            t(|s| s.mean),
            t(|s| s.median),
            t(|s| s.min)
        )?;
    }
    Ok(())
}

/// Per-case tables (no TTA), cases in the first run's order.
fn per_case_tables(rows: &[Row], md: &mut String) -> Result<()> {
    let Some(first) = rows.first() else {
        return Ok(());
    };
    let cases: Vec<&str> = first.eval.rows.iter().map(|c| c.case.as_str()).collect();
    for (native, title) in [(false, "reference protocol"), (true, "native protocol")] {
        writeln!(md, "\nPer-case val DSC ({title}, no TTA):\n")?;
        let names: Vec<&str> = cases
            .iter()
            .map(|c| c.trim_start_matches("TCGA_"))
            .collect();
        writeln!(md, "| run | {} |", names.join(" | "))?;
        writeln!(md, "|---|{}", "---|".repeat(cases.len()))?;
        for r in rows {
            let cells: Vec<String> = cases
                .iter()
                .map(|c| {
                    r.eval
                        .case(c, native)
                        .map_or("–".into(), |d| format!("{d:.3}"))
                })
                .collect();
            writeln!(md, "| {} | {} |", r.name, cells.join(" | "))?;
        }
    }
    Ok(())
}

/// Training loss and validation DSC per epoch of every trained run, side by side.
fn draw_curves(rows: &[Row], path: &Path) -> Result<()> {
    let trained: Vec<(&str, &RunState)> = rows
        .iter()
        .filter_map(|r| r.state.as_ref().map(|s| (r.name.as_str(), s)))
        .collect();
    let series = |f: fn(&EpochRecord) -> f64| -> Vec<Series> {
        trained
            .iter()
            .map(|(name, state)| Series {
                name,
                points: state
                    .history
                    .iter()
                    .map(|h| (h.epoch as f64, f(h)))
                    .collect(),
            })
            .collect()
    };
    draw_panels(
        path,
        &[
            (
                "training loss (each run's own loss)",
                series(|h| h.train_loss),
            ),
            ("val mean DSC (reference protocol)", series(|h| h.val_mean)),
        ],
        1400,
        500,
    )
}
