//! `train report`: the experiment table. Reads finished run folders (and the `eval*.csv` files
//! `scripts/experiments.sh` writes into them) and writes a Markdown table and the curves of all
//! runs side by side.

use crate::curves::{Series, draw_panels};
use crate::fit::FitConfig;
use crate::run::RunState;
use anyhow::{Context, Result, bail};
use brainseg::model::trainable_params;
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

/// `train eval --csv` output: per-case rows, then mean and median.
struct EvalCsv {
    cases: Vec<(String, f64, f64)>,
}

impl EvalCsv {
    fn read(path: &Path) -> Result<Option<Self>> {
        if !path.is_file() {
            return Ok(None);
        }
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut cases = Vec::new();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split(',').collect();
            if f.len() != 4 {
                bail!("{}: malformed line {line:?}", path.display());
            }
            if f[0] == "mean" || f[0] == "median" {
                continue;
            }
            let num = |s: &str| {
                s.parse::<f64>()
                    .with_context(|| format!("{}: {s:?} is not a number", path.display()))
            };
            cases.push((f[0].to_string(), num(f[2])?, num(f[3])?));
        }
        if cases.is_empty() {
            bail!("{}: no case rows", path.display());
        }
        Ok(Some(Self { cases }))
    }

    fn stats(&self, native: bool) -> brainseg::metrics::Summary {
        let v: Vec<f64> = self
            .cases
            .iter()
            .map(|c| if native { c.2 } else { c.1 })
            .collect();
        brainseg::metrics::summarize(&v).expect("non-empty")
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
    let state = crate::run::RunDir {
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
    let device = Device::flex();
    let mut md = String::new();
    writeln!(
        md,
        "| run | arch | loss | params | FLOPs/slice | train min | epochs (best) | val mean | median | min | native mean | flip-TTA mean | TTA median | TTA min |"
    )?;
    writeln!(
        md,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )?;
    for r in &rows {
        let (arch, loss, params, flops) = match &r.config {
            Some(c) => {
                let m = c.model_config();
                let model = m.init(&device).map_err(anyhow::Error::msg)?;
                (
                    c.arch.to_string(),
                    clap::ValueEnum::to_possible_value(&c.loss)
                        .map_or_else(|| format!("{:?}", c.loss), |v| v.get_name().to_string()),
                    fmt_count(trainable_params(&model) as f64),
                    fmt_count(m.flops_per_slice(c.size) as f64),
                )
            }
            None => ("ensemble".into(), "–".into(), "–".into(), "–".into()),
        };
        let (minutes, epochs) = match &r.state {
            Some(s) => (
                format!(
                    "{:.1}",
                    s.history.iter().map(|h| h.seconds).sum::<f64>() / 60.0
                ),
                format!(
                    "{} ({})",
                    s.epochs_done,
                    s.best_epoch.map_or("–".into(), |b| b.to_string())
                ),
            ),
            None => ("–".into(), "–".into()),
        };
        let (e, n) = (r.eval.stats(false), r.eval.stats(true));
        let tta = r.tta.as_ref().map(|t| t.stats(false));
        let t = |f: fn(&brainseg::metrics::Summary) -> f64| {
            tta.as_ref().map_or("–".into(), |s| format!("{:.4}", f(s)))
        };
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
    // Per-case tables (no TTA), cases in the first run's order.
    let cases: Vec<String> = rows[0].eval.cases.iter().map(|c| c.0.clone()).collect();
    for (native, title) in [(false, "reference protocol"), (true, "native protocol")] {
        writeln!(md, "\nPer-case val DSC ({title}, no TTA):\n")?;
        writeln!(
            md,
            "| run | {} |",
            cases
                .iter()
                .map(|c| c.trim_start_matches("TCGA_"))
                .collect::<Vec<_>>()
                .join(" | ")
        )?;
        writeln!(md, "|---|{}", "---|".repeat(cases.len()))?;
        for r in &rows {
            let cells: Vec<String> = cases
                .iter()
                .map(|c| {
                    r.eval
                        .cases
                        .iter()
                        .find(|x| &x.0 == c)
                        .map_or("–".into(), |x| {
                            format!("{:.3}", if native { x.2 } else { x.1 })
                        })
                })
                .collect();
            writeln!(md, "| {} | {} |", r.name, cells.join(" | "))?;
        }
    }
    std::fs::write(args.out.join("table.md"), &md)?;
    print!("{md}");

    let trained: Vec<&Row> = rows.iter().filter(|r| r.state.is_some()).collect();
    let series = |f: fn(&crate::run::EpochRecord) -> f64| -> Vec<Series> {
        trained
            .iter()
            .map(|r| Series {
                name: &r.name,
                points: r
                    .state
                    .as_ref()
                    .expect("filtered")
                    .history
                    .iter()
                    .map(|h| (h.epoch as f64, f(h)))
                    .collect(),
            })
            .collect()
    };
    draw_panels(
        &args.out.join("curves.png"),
        &[
            (
                "training loss (each run's own loss)",
                series(|h| h.train_loss),
            ),
            ("val mean DSC (reference protocol)", series(|h| h.val_mean)),
        ],
        1400,
        500,
    )?;
    eprintln!(
        "wrote {} and {}",
        args.out.join("table.md").display(),
        args.out.join("curves.png").display()
    );
    Ok(())
}
