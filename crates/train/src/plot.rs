//! `curves.png`: training/validation loss and validation DSC per epoch (plotters).
//!
//! Text needs a TrueType font; plotters' `ab_glyph` backend takes one we load from the system
//! (Debian: fonts-dejavu-core), which avoids font-kit's fontconfig build dependency.

use crate::training::checkpoint::EpochRecord;
use anyhow::{Result, anyhow};
use plotters::prelude::*;
use std::path::Path;
use std::sync::OnceLock;

const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn ensure_font() -> Result<()> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let path = FONT_PATHS
            .iter()
            .find(|p| Path::new(p).exists())
            .ok_or_else(|| {
                format!(
                    "no DejaVuSans.ttf found (looked in {FONT_PATHS:?}); install fonts-dejavu-core"
                )
            })?;
        let bytes: &'static [u8] = Box::leak(
            std::fs::read(path)
                .map_err(|e| e.to_string())?
                .into_boxed_slice(),
        );
        plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
            .map_err(|_| "font not usable".to_string())
    })
    .clone()
    .map_err(|e| anyhow!(e))
}

/// One series per name, x = epoch.
pub struct Series<'a> {
    pub name: &'a str,
    pub points: Vec<(f64, f64)>,
}

fn panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    title: &str,
    series: &[Series],
) -> Result<()> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let (x0, x1) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::MAX, f64::MIN), |(a, b), y| (a.min(y), b.max(y)));
    if x0 > x1 {
        return Ok(());
    }
    let pad = ((y1 - y0) * 0.05).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(x0..x1.max(x0 + 1.0), (y0 - pad)..(y1 + pad))
        .map_err(|e| anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    let colors = [
        BLUE,
        RED,
        GREEN,
        MAGENTA,
        CYAN,
        BLACK,
        RGBColor(230, 140, 0),
        RGBColor(120, 60, 160),
    ];
    for (i, s) in series.iter().enumerate() {
        let c = colors[i % colors.len()];
        chart
            .draw_series(LineSeries::new(s.points.clone(), c.stroke_width(2)))
            .map_err(|e| anyhow!("{e}"))?
            .label(s.name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| anyhow!("{e}"))?;
    Ok(())
}

/// Draws side-by-side panels, each a titled set of series.
pub fn draw_panels(
    path: &Path,
    panels: &[(&str, Vec<Series>)],
    width: u32,
    height: u32,
) -> Result<()> {
    ensure_font()?;
    let tmp = path.with_extension("tmp.png");
    {
        let root = BitMapBackend::new(&tmp, (width, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{e}"))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (area, (title, series)) in areas.iter().zip(panels) {
            panel(area, title, series)?;
        }
        root.present().map_err(|e| anyhow!("{e}"))?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// The run's curves: losses and validation DSC.
pub fn draw_run(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let pts = |f: fn(&EpochRecord) -> f64| {
        history
            .iter()
            .map(|r| (r.epoch as f64, f(r)))
            .collect::<Vec<_>>()
    };
    draw_panels(
        path,
        &[
            (
                "loss",
                vec![
                    Series {
                        name: "train",
                        points: pts(|r| r.train_loss),
                    },
                    Series {
                        name: "val",
                        points: pts(|r| r.val_loss),
                    },
                ],
            ),
            (
                "validation DSC (reference protocol)",
                vec![
                    Series {
                        name: "mean",
                        points: pts(|r| r.val_mean),
                    },
                    Series {
                        name: "median",
                        points: pts(|r| r.val_median),
                    },
                ],
            ),
        ],
        1200,
        450,
    )
}
