//! `GET /v1/usage`: balance and usage, for both APIs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Timestamp, null_default};
use crate::Status;

/// The body of `GET /v1/usage`.
///
/// ```
/// use pipevideo_core::model::Usage;
/// let u: Usage = serde_json::from_str(r#"{"credit_balance": 1250,
///     "totals": {"total_requests": 3, "completed_requests": 2, "failed_requests": 1, "total_cost_cents": 36}}"#).unwrap();
/// assert_eq!(u.credit_balance, Some(1250.0));
/// assert_eq!(u.totals.unwrap().failed_requests, Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Usage {
    /// Prepaid balance in US cents.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub credit_balance: Option<f64>,
    /// Totals over the account's history.
    #[serde(default)]
    pub totals: Option<UsageTotals>,
    /// One entry per day.
    #[serde(default, deserialize_with = "null_default")]
    pub daily_usage: Vec<DailyUsage>,
    /// Per day, per route (engine, model, provider).
    #[serde(default, deserialize_with = "null_default")]
    pub daily_usage_by_route: Vec<DailyRouteUsage>,
    /// The latest requests.
    #[serde(default, deserialize_with = "null_default")]
    pub recent_requests: Vec<RecentRequest>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `totals` of [`Usage`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UsageTotals {
    /// All requests.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub total_requests: Option<u64>,
    /// Completed requests.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub completed_requests: Option<u64>,
    /// Failed requests.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub failed_requests: Option<u64>,
    /// Total cost in US cents.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub total_cost_cents: Option<f64>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `daily_usage`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DailyUsage {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// Requests that day.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub request_count: Option<u64>,
    /// Completed that day.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub completed_count: Option<u64>,
    /// Failed that day.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub failed_count: Option<u64>,
    /// Cost in US cents.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub total_cost_cents: Option<f64>,
    /// Seconds of video.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub total_duration_seconds: Option<f64>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `daily_usage_by_route`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct DailyRouteUsage {
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub date: Option<String>,
    /// Usage per route that day.
    #[serde(default, deserialize_with = "null_default")]
    pub routes: Vec<RouteUsage>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One route of a [`DailyRouteUsage`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RouteUsage {
    /// Engine.
    #[serde(default)]
    pub engine: Option<String>,
    /// Model.
    #[serde(default)]
    pub model: Option<String>,
    /// Provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// Requests.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub request_count: Option<u64>,
    /// Completed.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub completed_count: Option<u64>,
    /// Failed.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub failed_count: Option<u64>,
    /// Cost in US cents.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub total_cost_cents: Option<f64>,
    /// Prompt tokens.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub total_prompt_tokens: Option<u64>,
    /// Completion tokens.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub total_completion_tokens: Option<u64>,
    /// Mean latency in milliseconds.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub avg_latency_ms: Option<f64>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One entry of `recent_requests` (times in Unix milliseconds on the wire).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RecentRequest {
    /// Generation id.
    pub id: String,
    /// Status (re-encoded in the responses API's wire words).
    #[serde(
        default,
        serialize_with = "super::wire_status::responses_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<Status>,
    /// Model name.
    #[serde(default)]
    pub model_name: Option<String>,
    /// Engine.
    #[serde(default)]
    pub engine: Option<String>,
    /// Cost in US cents.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub cost_cents: Option<f64>,
    /// Latency in milliseconds.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub latency_ms: Option<f64>,
    /// Creation time.
    #[serde(default, deserialize_with = "super::time::lenient")]
    pub created_at: Option<Timestamp>,
    /// Completion time.
    #[serde(default, deserialize_with = "super::time::lenient")]
    pub completed_at: Option<Timestamp>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
