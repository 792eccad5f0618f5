//! `flowctl status`: a running pipeline's processors, their versions,
//! weights, traffic, events, error rates, circuit breakers and instances.

use std::process::ExitCode;

use super::admin_opts::{finish, AdminOptions};
use crate::admin::{ProcessorStatus, StatusReport};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the admin API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub admin: AdminOptions,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let json = args.json;
    finish(args.admin.client()?.status(), |report| {
        if json {
            println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
        } else {
            print!("{}", render(&report));
        }
    })
}

/// The table `flowctl status` prints.
pub fn render(report: &StatusReport) -> String {
    let mut out = format!("pipeline {}\n", report.pipeline);
    for p in &report.processors {
        out.push('\n');
        out.push_str(&processor_block(p));
    }
    out
}

fn processor_block(p: &ProcessorStatus) -> String {
    let mut out = format!(
        "processor {}  route_by {}  instances {} (pool_size {})  reloads {} ok, {} failed\n",
        p.id, p.route_by, p.instances, p.pool_size, p.reloads.ok, p.reloads.error
    );
    let mut guards = Vec::new();
    if let Some(r) = &p.rollback {
        guards.push(format!("rollback above {}% over {} events", r.max_error_rate * 100.0, r.min_events));
    }
    if let Some(b) = &p.circuit_breaker {
        guards.push(format!(
            "circuit breaker at {} restarts in {}ms, cooldown {}ms",
            b.max_restarts, b.window_ms, b.cooldown_ms
        ));
    }
    if !guards.is_empty() {
        out.push_str(&format!("  guards: {}\n", guards.join("; ")));
    }
    if !p.quotas.is_empty() {
        let quotas: Vec<String> = p
            .quotas
            .iter()
            .map(|q| {
                let state = if q.exceeded {
                    format!(" EXCEEDED ({} for {}s)", q.on_breach, q.resets_in_ms.div_ceil(1000))
                } else {
                    String::new()
                };
                format!("{} {:.2}/{}{state}", q.quota, q.used, q.limit)
            })
            .collect();
        out.push_str(&format!("  quotas (tenant {}): {}\n", p.tenant, quotas.join("; ")));
    }
    let header =
        ["version", "sha256", "weight", "traffic", "state", "circuit", "events", "errors", "error rate", "restarts"];
    let mut rows = vec![header.map(str::to_string).to_vec()];
    for v in &p.versions {
        rows.push(vec![
            v.name.clone(),
            v.sha256.clone(),
            v.weight.to_string(),
            format!("{:.1}%", v.traffic_percent),
            v.state.clone(),
            v.circuit.clone(),
            v.events.to_string(),
            v.errors.to_string(),
            format!("{:.2}% of {}", v.error_rate * 100.0, v.window_events),
            v.restarts.to_string(),
        ]);
    }
    out.push_str(&table(&rows));
    if let Some(error) = &p.reloads.last_error {
        out.push_str(&format!("  last failed reload: {error}\n"));
    }
    out
}

/// Left-aligned columns, two spaces apart, indented by two.
fn table(rows: &[Vec<String>]) -> String {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in rows {
        let cells: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        out.push_str(&format!("  {}\n", cells.join("  ").trim_end()));
    }
    out
}

/// One line with every version's weight and share, after a change.
pub fn print_split(p: &ProcessorStatus) {
    let split: Vec<String> =
        p.versions.iter().map(|v| format!("{}={} ({:.1}%)", v.name, v.weight, v.traffic_percent)).collect();
    println!("{}: {}", p.id, split.join("  "));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::report::{QuotaStatus, ReloadStatus, VersionStatus};

    #[test]
    fn renders_one_row_per_version() {
        let version = |name: &str, weight| VersionStatus {
            name: name.into(),
            sha256: "0123456789ab".into(),
            file: "m.wasm".into(),
            weight,
            traffic_percent: f64::from(weight),
            state: "active".into(),
            circuit: "closed".into(),
            events: 10,
            errors: 1,
            error_rate: 0.1,
            window_events: 10,
            restarts: 0,
        };
        let report = StatusReport {
            pipeline: "demo".into(),
            processors: vec![ProcessorStatus {
                id: "ttp".into(),
                route_by: "id".into(),
                pool_size: 2,
                instances: 2,
                rollback: None,
                circuit_breaker: None,
                reloads: ReloadStatus { ok: 1, error: 1, last_error: Some("m.wasm: not wasm".into()) },
                versions: vec![version("v1", 90), version("v2", 10)],
                tenant: "acme".into(),
                quotas: vec![QuotaStatus {
                    quota: "cpu_seconds_per_hour".into(),
                    used: 12.5,
                    limit: 10.0,
                    exceeded: true,
                    on_breach: "pause".into(),
                    resets_in_ms: 1500,
                }],
            }],
        };
        let text = render(&report);
        assert!(
            text.contains("processor ttp  route_by id  instances 2 (pool_size 2)  reloads 1 ok, 1 failed"),
            "{text}"
        );
        assert!(text.lines().any(|l| l.trim_start().starts_with("v2") && l.contains("10.0%")), "{text}");
        assert!(text.contains("last failed reload: m.wasm: not wasm"), "{text}");
        assert!(text.contains("quotas (tenant acme): cpu_seconds_per_hour 12.50/10 EXCEEDED (pause for 2s)"), "{text}");
    }
}
