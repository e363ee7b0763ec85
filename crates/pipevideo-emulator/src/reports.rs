//! Reports: what the emulator tells about past generations, computed from the store on demand.
//!
//! `usage` is the body of `GET /v1/usage` for one organization (balance, totals, daily usage, usage
//! by route, the 20 most recent requests); `model_metrics` is the `metrics` of
//! `GET /v1/models/{slug}` (success rate and latency percentiles over every organization). Both
//! are read-only and derive every number from the generations and the clock at `now`, so a
//! report never disagrees with a retrieve made at the same instant. Days are UTC civil dates
//! (`utc_date`). The request log and the webhook log are kept by `server` and `webhook` (their
//! entry types are in `log`), and read through the `Emulator` handle.

use std::time::Instant;

use serde_json::{Value, json};

use crate::state::{Api, Generation, Phase, State};

/// Civil date (YYYY-MM-DD) of a Unix time in milliseconds, UTC.
pub(crate) fn utc_date(unix_ms: u64) -> String {
    let days = (unix_ms / 86_400_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[derive(Default)]
struct Tally {
    requests: u64,
    completed: u64,
    failed: u64,
    cost: i64,
    duration_s: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    latency_sum: u64,
}

impl Tally {
    fn add(&mut self, g: &Generation, phase: Phase) {
        self.requests += 1;
        match phase {
            Phase::Completed => {
                self.completed += 1;
                self.cost += g.price_cents;
                self.duration_s += g.latency_ms as f64 / 1000.0;
                self.prompt_tokens += g.prompt_tokens;
                self.completion_tokens += g.completion_tokens;
                self.latency_sum += g.latency_ms;
            }
            Phase::Failed => {
                self.failed += 1;
                self.latency_sum += g.latency_ms;
            }
            _ => {}
        }
    }
}

/// The body of `GET /v1/usage` for `org`.
pub(crate) fn usage(st: &State, org: &str, now: Instant) -> Value {
    let gens: Vec<&Generation> = st.generations_in_order().filter(|g| g.org == org).collect();
    let mut totals = Tally::default();
    let mut daily: Vec<(String, Tally)> = Vec::new();
    let mut routes: Vec<(String, String, String, String, Tally)> = Vec::new();
    for g in &gens {
        let phase = g.phase(now);
        totals.add(g, phase);
        let date = utc_date(g.created_unix_ms);
        match daily.iter_mut().find(|(d, _)| *d == date) {
            Some((_, t)) => t.add(g, phase),
            None => {
                let mut t = Tally::default();
                t.add(g, phase);
                daily.push((date.clone(), t));
            }
        }
        let engine = g.engine.clone().unwrap_or_else(|| "legacy".to_owned());
        match routes
            .iter_mut()
            .find(|r| r.0 == date && r.1 == engine && r.2 == g.model && r.3 == g.provider)
        {
            Some(r) => r.4.add(g, phase),
            None => {
                let mut t = Tally::default();
                t.add(g, phase);
                routes.push((date, engine, g.model.clone(), g.provider.clone(), t));
            }
        }
    }
    let daily_usage: Vec<Value> = daily
        .iter()
        .map(|(date, t)| {
            json!({
                "date": date,
                "request_count": t.requests,
                "completed_count": t.completed,
                "failed_count": t.failed,
                "total_cost_cents": t.cost,
                "total_duration_seconds": (t.duration_s * 10.0).round() / 10.0,
            })
        })
        .collect();
    let by_route: Vec<Value> = daily
        .iter()
        .map(|(date, _)| {
            let rs: Vec<Value> = routes
                .iter()
                .filter(|r| &r.0 == date)
                .map(|(_, engine, model, provider, t)| {
                    let terminal = t.completed + t.failed;
                    json!({
                        "engine": engine,
                        "model": model,
                        "provider": provider,
                        "request_count": t.requests,
                        "completed_count": t.completed,
                        "failed_count": t.failed,
                        "total_cost_cents": t.cost,
                        "total_prompt_tokens": t.prompt_tokens,
                        "total_completion_tokens": t.completion_tokens,
                        "avg_latency_ms": t.latency_sum.checked_div(terminal).unwrap_or(0),
                    })
                })
                .collect();
            json!({ "date": date, "routes": rs })
        })
        .collect();
    let recent: Vec<Value> = gens
        .iter()
        .rev()
        .take(20)
        .map(|g| {
            let phase = g.phase(now);
            let terminal = matches!(phase, Phase::Completed | Phase::Failed);
            json!({
                "id": g.id,
                "status": phase.word(Api::Responses),
                "model_name": g.model,
                "engine": g.engine,
                "cost_cents": g.cost_cents(phase),
                "latency_ms": terminal.then_some(g.latency_ms),
                "created_at": g.created_unix_ms,
                "completed_at": terminal.then(|| g.completed_unix_ms()),
            })
        })
        .collect();
    json!({
        "credit_balance": st.balance(org, now),
        "totals": {
            "total_requests": totals.requests,
            "completed_requests": totals.completed,
            "failed_requests": totals.failed,
            "total_cost_cents": totals.cost,
        },
        "daily_usage": daily_usage,
        "daily_usage_by_route": by_route,
        "recent_requests": recent,
    })
}

/// The `metrics` object of `GET /v1/models/{slug}`.
pub(crate) fn model_metrics(st: &State, slug: &str, now: Instant) -> Value {
    let mut latencies: Vec<u64> = Vec::new();
    let (mut total, mut completed, mut failed) = (0u64, 0u64, 0u64);
    for g in st.generations().filter(|g| g.model == slug) {
        total += 1;
        match g.phase(now) {
            Phase::Completed => {
                completed += 1;
                latencies.push(g.latency_ms);
            }
            Phase::Failed => failed += 1,
            _ => {}
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> Option<u64> {
        if latencies.is_empty() {
            return None;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied()
    };
    let avg =
        (!latencies.is_empty()).then(|| latencies.iter().sum::<u64>() / latencies.len() as u64);
    let terminal = completed + failed;
    json!({
        "totalRequests": total,
        "completedRequests": completed,
        "failedRequests": failed,
        "successRate": if terminal == 0 { 0.0 } else { completed as f64 / terminal as f64 },
        "avgLatencyMs": avg,
        "p50LatencyMs": pct(0.5),
        "p95LatencyMs": pct(0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_709_827_200_000), "2024-03-07");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
    }
}
