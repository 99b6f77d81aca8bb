//! Grouped bar charts of results.json, written as SVG by hand (no plotting dependency): messages
//! per broker-CPU-second per scenario (one chart per placement), and the fixed-rate latency
//! percentiles.

use std::fmt::Write as _;

use serde_json::Value;

use super::table::{axes, format_number, scenarios, value};

/// One group of bars: a label and one value per series (None: missing).
#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) label: String,
    pub(crate) values: Vec<Option<f64>>,
}

/// A grouped bar chart.
#[derive(Debug, Clone)]
pub(crate) struct Chart {
    pub(crate) title: String,
    pub(crate) y_label: String,
    pub(crate) series: Vec<String>,
    pub(crate) groups: Vec<Group>,
}

fn color(series: &str, i: usize) -> &'static str {
    match series {
        "mosquitto" => "#3b75af",
        "rumqttd" => "#ef8636",
        "ours" => "#3a923a",
        _ => ["#8c564b", "#9467bd", "#7f7f7f"]
            .get(i % 3)
            .copied()
            .unwrap_or("#7f7f7f"),
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The smallest 1, 2 or 5 times a power of ten at or above `max`, so the axis ends on a round
/// number.
fn nice_ceiling(max: f64) -> f64 {
    if max <= 0.0 || !max.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|v| *v >= max * 0.999_999)
        .unwrap_or(10.0 * p)
}

impl Chart {
    /// The chart as a standalone SVG document.
    pub(crate) fn svg(&self) -> String {
        let bar_w = 26.0;
        let gap = 30.0;
        let group_w = bar_w * self.series.len().max(1) as f64 + gap;
        let (left, right, top, bottom) = (90.0, 20.0, 60.0, 110.0);
        let plot_h = 320.0;
        let width = left + right + group_w * self.groups.len().max(1) as f64;
        let height = top + plot_h + bottom;
        let max = self
            .groups
            .iter()
            .flat_map(|g| g.values.iter().flatten())
            .fold(0.0f64, |a, &b| a.max(b));
        let y_max = nice_ceiling(max);
        let y = |v: f64| top + plot_h - (v / y_max * plot_h).clamp(0.0, plot_h);

        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            s,
            r#"<rect x="0" y="0" width="{width:.0}" height="{height:.0}" fill="white"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.0}" y="24" text-anchor="middle" font-size="15" font-weight="bold">{}</text>"#,
            width / 2.0,
            escape(&self.title)
        );
        // Horizontal grid lines and their labels, at fifths of the axis.
        for i in 0..=5 {
            let v = y_max * f64::from(i) / 5.0;
            let yy = y(v);
            let _ = writeln!(
                s,
                r##"<line x1="{left:.0}" y1="{yy:.1}" x2="{:.0}" y2="{yy:.1}" stroke="#dddddd"/>"##,
                width - right
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.0}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                yy + 4.0,
                format_number(v)
            );
        }
        let _ = writeln!(
            s,
            r#"<text transform="translate(16 {:.0}) rotate(-90)" text-anchor="middle">{}</text>"#,
            top + plot_h / 2.0,
            escape(&self.y_label)
        );
        for (gi, group) in self.groups.iter().enumerate() {
            let x0 = left + gap / 2.0 + group_w * gi as f64;
            for (si, series) in self.series.iter().enumerate() {
                let x = x0 + bar_w * si as f64;
                match group.values.get(si).copied().flatten() {
                    Some(v) => {
                        let top_y = y(v);
                        let _ = writeln!(
                            s,
                            r#"<rect class="bar" data-series="{}" data-group="{}" x="{x:.1}" y="{top_y:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{}: {}</title></rect>"#,
                            escape(series),
                            escape(&group.label),
                            bar_w - 2.0,
                            top + plot_h - top_y,
                            color(series, si),
                            escape(series),
                            format_number(v)
                        );
                        let _ = writeln!(
                            s,
                            r#"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="10">{}</text>"#,
                            x + bar_w / 2.0 + 3.0,
                            top_y - 4.0,
                            format_number(v)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            s,
                            r##"<text transform="translate({:.1} {:.1}) rotate(-90)" font-size="10" fill="#aa0000">missing</text>"##,
                            x + bar_w / 2.0 + 3.0,
                            top + plot_h - 4.0
                        );
                    }
                }
            }
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.0}" text-anchor="middle">{}</text>"#,
                x0 + bar_w * self.series.len() as f64 / 2.0,
                top + plot_h + 18.0,
                escape(&group.label)
            );
        }
        let _ = writeln!(
            s,
            r##"<line x1="{left:.0}" y1="{:.0}" x2="{:.0}" y2="{:.0}" stroke="#333333"/>"##,
            top + plot_h,
            width - right,
            top + plot_h
        );
        // Legend, under the group labels.
        let ly = top + plot_h + 50.0;
        for (si, series) in self.series.iter().enumerate() {
            let lx = left + 130.0 * si as f64;
            let _ = writeln!(
                s,
                r#"<rect x="{lx:.0}" y="{:.0}" width="14" height="14" fill="{}"/><text x="{:.0}" y="{:.0}">{}</text>"#,
                ly - 11.0,
                color(series, si),
                lx + 20.0,
                ly,
                escape(series)
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

/// The per-CPU efficiency chart of one placement: the message scenarios (not the idle one).
pub(crate) fn efficiency(doc: &Value, placement: &str) -> Chart {
    let (_, brokers) = axes(doc);
    let groups = scenarios(doc)
        .into_iter()
        .filter(|(id, _)| !id.starts_with("idle"))
        .map(|(id, _)| Group {
            values: brokers
                .iter()
                .map(|b| value(doc, placement, b, &id, "msgs_per_cpu_s"))
                .collect(),
            label: id,
        })
        // Scenarios that did not run in this placement (the subscriptions one) are left out.
        .filter(|g: &Group| g.values.iter().any(Option::is_some))
        .collect();
    Chart {
        title: format!("Messages delivered per broker CPU-second ({placement}, higher is better)"),
        y_label: "messages / broker CPU-s".to_owned(),
        series: brokers,
        groups,
    }
}

/// The latency chart: p50 and p99 of the fixed-rate scenario, per placement.
pub(crate) fn latency(doc: &Value) -> Chart {
    let (placements, brokers) = axes(doc);
    let mut groups = Vec::new();
    for p in &placements {
        for (key, name) in [("p50_us", "p50"), ("p99_us", "p99")] {
            groups.push(Group {
                label: format!("{name} {p}"),
                values: brokers
                    .iter()
                    .map(|b| value(doc, p, b, "latency-q1", key).map(|us| us / 1000.0))
                    .collect(),
            });
        }
    }
    Chart {
        title: "Latency at a fixed rate, fan-in QoS 1 (lower is better)".to_owned(),
        y_label: "milliseconds".to_owned(),
        series: brokers,
        groups,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every tag is closed in order (enough to catch a malformed hand-written SVG),
    /// returning the element names in document order.
    fn elements(xml: &str) -> Vec<String> {
        let mut stack: Vec<String> = Vec::new();
        let mut names = Vec::new();
        let mut rest = xml;
        while let Some(i) = rest.find('<') {
            rest = &rest[i + 1..];
            let end = rest.find('>').expect("unclosed tag");
            let tag = &rest[..end];
            rest = &rest[end + 1..];
            assert_eq!(tag.matches('"').count() % 2, 0, "unbalanced quotes: {tag}");
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            } else {
                let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
                names.push(name.to_owned());
                if !tag.ends_with('/') {
                    stack.push(name.to_owned());
                }
            }
        }
        assert!(stack.is_empty(), "unclosed elements: {stack:?}");
        names
    }

    #[test]
    fn svg_is_well_formed_with_one_bar_per_value() {
        let doc = crate::compare::table::tests::sample();
        let chart = efficiency(&doc, "pinned");
        assert_eq!(chart.series, ["mosquitto", "ours"]);
        let svg = chart.svg();
        let names = elements(&svg);
        assert_eq!(names.first().map(String::as_str), Some("svg"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 2);
        assert!(svg.contains(r#"data-series="ours" data-group="fan-in-q1""#));
        assert!(svg.contains("125,000"));
        // The taller bar belongs to the larger value.
        let height = |series: &str| -> f64 {
            let at = svg.find(&format!(r#"data-series="{series}""#)).unwrap();
            let h = &svg[at..];
            let h = &h[h.find("height=\"").unwrap() + 8..];
            h[..h.find('"').unwrap()].parse().unwrap()
        };
        assert!(height("ours") > height("mosquitto") * 2.0);
    }

    #[test]
    fn missing_values_are_labelled_and_text_escaped() {
        let chart = Chart {
            title: "a < b & c".into(),
            y_label: "ms".into(),
            series: vec!["x".into(), "y".into()],
            groups: vec![Group {
                label: "g".into(),
                values: vec![Some(2.5), None],
            }],
        };
        let svg = chart.svg();
        elements(&svg);
        assert!(svg.contains("a &lt; b &amp; c"));
        assert_eq!(svg.matches(r#"class="bar""#).count(), 1);
        assert!(svg.contains(">missing<"));
        assert_eq!(nice_ceiling(7300.0), 10_000.0);
        assert_eq!(nice_ceiling(1500.0), 2000.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
