//! The demo's plots, as SVG (plotters).

use std::collections::BTreeMap;
use std::path::Path;

use agora_peer::market::MarketReport;
use plotters::prelude::*;

use crate::error::CliError;

/// A role's group: `honest-2` → `honest`.
fn group(role: &str) -> &str {
    role.split('-').next().unwrap_or(role)
}

const COLOURS: [RGBColor; 5] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(44, 160, 44),
];

/// Stake share of each group of roles, epoch by epoch.
pub fn stake_share(report: &MarketReport, path: &Path) -> Result<(), CliError> {
    let roles: Vec<&str> = report.peers.iter().map(|p| group(&p.role)).collect();
    let mut series: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
    for record in &report.epochs {
        let mut sums: BTreeMap<&str, f64> = BTreeMap::new();
        for (share, role) in record.stake_share.iter().zip(&roles) {
            *sums.entry(role).or_default() += share;
        }
        for (role, share) in sums {
            series
                .entry(role)
                .or_default()
                .push((record.epoch as f64, share));
        }
    }
    // At least one epoch wide, so that a run stopped before its first
    // epoch still draws its axes.
    let epochs = report.epochs.len().max(2) as f64;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(CliError::plot)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Stake share by role", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..epochs - 1.0 + 1e-9, 0f64..1f64)
        .map_err(CliError::plot)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("share of stake")
        .draw()
        .map_err(CliError::plot)?;
    for (index, (role, points)) in series.into_iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))
            .map_err(CliError::plot)?
            .label(role)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], colour.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(CliError::plot)?;
    root.present().map_err(CliError::plot)
}

/// The consensus loss and the peg's `k`, epoch by epoch.
pub fn loss(report: &MarketReport, path: &Path) -> Result<(), CliError> {
    let losses: Vec<(f64, f64)> = report
        .epochs
        .iter()
        .map(|r| (r.epoch as f64, r.loss))
        .collect();
    let ks: Vec<(f64, f64)> = report
        .epochs
        .iter()
        .map(|r| (r.epoch as f64, f64::from(r.k)))
        .collect();
    let low = losses.iter().map(|p| p.1).fold(0.0, f64::min) - 0.05;
    let high = losses.iter().map(|p| p.1).fold(0.0, f64::max) + 0.05;
    let top_k = ks.iter().map(|p| p.1).fold(1.0, f64::max) + 1.0;
    let epochs = report.epochs.len().max(2) as f64;
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(CliError::plot)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Consensus loss and k", ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .right_y_label_area_size(40)
        .build_cartesian_2d(0f64..epochs - 1.0 + 1e-9, low..high)
        .map_err(CliError::plot)?
        .set_secondary_coord(0f64..epochs - 1.0 + 1e-9, 0f64..top_k);
    chart
        .configure_mesh()
        .x_desc("epoch")
        .y_desc("loss L = -Σ R (C - 1/2)")
        .draw()
        .map_err(CliError::plot)?;
    chart
        .configure_secondary_axes()
        .y_desc("k")
        .draw()
        .map_err(CliError::plot)?;
    chart
        .draw_series(LineSeries::new(losses, COLOURS[0].stroke_width(2)))
        .map_err(CliError::plot)?
        .label("loss")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], COLOURS[0].stroke_width(2)));
    chart
        .draw_secondary_series(LineSeries::new(ks, COLOURS[1].stroke_width(2)))
        .map_err(CliError::plot)?
        .label("k")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], COLOURS[1].stroke_width(2)));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(CliError::plot)?;
    root.present().map_err(CliError::plot)
}
