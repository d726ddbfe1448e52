//! The throughput chart of docs/benchmarks.md: an SVG written by hand, horizontal bars
//! per case, way and store, one per tool, on a logarithmic MiB/s axis (cases and links
//! differ by orders of magnitude). No charting crate: text is left to the viewer's fonts,
//! and xtask's build stays as it was.

use std::fmt::Write;

use crate::bench::measure::Tool;
use crate::bench::report::Measurement;

/// The tools drawn, in order, with their colours; ours stands out.
const TOOLS: [(Tool, &str); 3] = [
    (Tool::Ours, "#e8590c"),
    (Tool::Flytekit, "#1c7ed6"),
    (Tool::Rclone, "#868e96"),
];
const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 330.0;
const RIGHT_MARGIN: f64 = 70.0;
const BAR: f64 = 13.0;
const GROUP_GAP: f64 = 12.0;
const TOP: f64 = 70.0;

/// One bar: who, in which colour, how many MiB/s.
type Bar = (Tool, &'static str, f64);

/// The chart of every transfer in `all` as an SVG document.
pub fn throughput_svg(all: &[Measurement], title: &str) -> String {
    // One group per (case, way, store), in the order measured.
    let mut groups: Vec<(String, Vec<Bar>)> = Vec::new();
    for m in all {
        let (Some(way), Some(rate)) = (m.way, m.mib_per_second()) else {
            continue;
        };
        let Some(&(_, colour)) = TOOLS.iter().find(|(t, _)| *t == m.tool) else {
            continue;
        };
        let label = format!("{}, {}, {}", m.case, way.label(), m.store);
        match groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, bars)) => bars.push((m.tool, colour, rate)),
            None => groups.push((label, vec![(m.tool, colour, rate)])),
        }
    }
    for (_, bars) in &mut groups {
        bars.sort_by_key(|(tool, _, _)| *tool);
    }

    let largest = groups
        .iter()
        .flat_map(|(_, bars)| bars.iter().map(|b| b.2))
        .fold(1.0_f64, f64::max);
    let decades = largest.log10().ceil().max(1.0);
    let plot_width = WIDTH - LABEL_WIDTH - RIGHT_MARGIN;
    let x = |rate: f64| LABEL_WIDTH + plot_width * (rate.max(1.0).log10() / decades);
    let height = TOP
        + groups
            .iter()
            .map(|(_, bars)| bars.len() as f64 * BAR + GROUP_GAP)
            .sum::<f64>()
        + 40.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r##"<rect width="100%" height="100%" fill="#ffffff"/>
<text x="{}" y="22" font-size="15" font-weight="bold">{}</text>"##,
        10,
        escape(title)
    );
    // Legend.
    let mut legend_x = LABEL_WIDTH;
    for (tool, colour) in TOOLS {
        let _ = writeln!(
            svg,
            r#"<rect x="{legend_x}" y="34" width="12" height="12" fill="{colour}"/><text x="{}" y="45">{}</text>"#,
            legend_x + 16.0,
            tool.label()
        );
        legend_x += 90.0;
    }
    // Decade grid lines and their labels.
    let bottom = height - 30.0;
    for decade in 0..=decades as i32 {
        let rate = 10f64.powi(decade);
        let gx = x(rate);
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{}" x2="{gx:.1}" y2="{bottom}" stroke="#dee2e6"/><text x="{gx:.1}" y="{}" text-anchor="middle" fill="#495057">{}</text>"##,
            TOP - 8.0,
            bottom + 15.0,
            rate
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{}" y="{}" text-anchor="middle" fill="#495057">MiB/s at the median wall time (log scale; higher is better)</text>"##,
        LABEL_WIDTH + plot_width / 2.0,
        bottom + 28.0
    );
    // Bars.
    let mut y = TOP;
    for (label, bars) in &groups {
        let group_height = bars.len() as f64 * BAR;
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL_WIDTH - 8.0,
            y + group_height / 2.0 + 4.0,
            escape(label)
        );
        for (tool, colour, rate) in bars {
            let end = x(*rate);
            let bold = if *tool == Tool::Ours {
                r#" font-weight="bold""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{LABEL_WIDTH}" y="{y:.1}" width="{:.1}" height="{}" fill="{colour}"><title>{}: {rate:.1} MiB/s</title></rect><text x="{:.1}" y="{:.1}" font-size="10"{bold}>{}</text>"#,
                (end - LABEL_WIDTH).max(1.0),
                BAR - 2.0,
                tool.label(),
                end + 4.0,
                y + BAR - 3.0,
                format_rate(*rate)
            );
            y += BAR;
        }
        y += GROUP_GAP;
    }
    svg.push_str("</svg>\n");
    svg
}

fn format_rate(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::measure::Sample;
    use crate::bench::report::Way;

    fn measured(tool: Tool, store: &'static str, seconds: f64) -> Measurement {
        Measurement {
            case: "2 GiB FlyteFile".to_owned(),
            way: Some(Way::Write),
            store,
            tool,
            bytes: Some(2 << 30),
            samples: vec![Sample {
                seconds,
                peak_rss_kib: 1,
                cpu_seconds: 1.0,
                supervisor_kib: None,
                worker_kib: None,
                phases: None,
            }],
            failures: Vec::new(),
            cpu_floor: None,
        }
    }

    #[test]
    fn every_transfer_gets_a_bar_labelled_with_its_throughput() {
        let all = [
            measured(Tool::Flytekit, "S3 (moto)", 16.0),
            measured(Tool::Ours, "S3 (moto)", 8.0),
            measured(Tool::Rclone, "S3 (Garage)", 2.0),
        ];
        let svg = throughput_svg(&all, "throughput");
        assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
        for text in [
            ">128<",
            ">256<",
            ">1024<",
            "2 GiB FlyteFile, write, S3 (moto)",
        ] {
            assert!(svg.contains(text), "{text} missing from\n{svg}");
        }
        // Ours comes first in its group, whatever order it was measured in.
        let ours = svg.find("<title>ours").expect("a bar for ours");
        let flytekit = svg.find("<title>flytekit").expect("a bar for flytekit");
        assert!(ours < flytekit);
    }

    #[test]
    fn start_up_runs_and_the_floor_are_not_drawn() {
        let mut startup = measured(Tool::Ours, "local files", 1.0);
        startup.way = None;
        let floor = Measurement {
            tool: Tool::Floor,
            ..measured(Tool::Floor, "local files", 1.0)
        };
        let svg = throughput_svg(&[startup, floor], "t");
        assert!(!svg.contains("<title>"), "{svg}");
    }
}
