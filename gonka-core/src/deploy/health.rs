//! A running task's health as the gateway's continuous health checks see it (the group's
//! `health_check` against the task's engine instance): what `GET /api/v1/tasks/{id}` shows in
//! its `health` field.

/// Whether a task passes its checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Fewer than `unhealthy_threshold` failures in a row (also before the first check).
    #[default]
    Healthy,
    /// `unhealthy_threshold` failures in a row: the task takes no requests until a check passes.
    Unhealthy,
}

/// One task's health.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TaskHealth {
    /// Healthy or unhealthy.
    pub status: HealthStatus,
    /// Checks failed in a row (0 after a pass).
    pub consecutive_failures: u32,
    /// Why the last failed check failed (kept after a pass, for the record), when one failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// When the last check ended, Unix ms.
    pub checked_at_ms: u64,
}

impl TaskHealth {
    /// This health after one check ending at `now_ms`: `Ok` passes (healthy again at once),
    /// `Err` counts a failure, unhealthy from `threshold` (at least 1) failures in a row.
    pub fn after(&self, check: Result<(), String>, threshold: u32, now_ms: u64) -> Self {
        match check {
            Ok(()) => Self {
                status: HealthStatus::Healthy,
                consecutive_failures: 0,
                last_error: self.last_error.clone(),
                checked_at_ms: now_ms,
            },
            Err(e) => {
                let failures = self.consecutive_failures.saturating_add(1);
                Self {
                    status: if failures >= threshold.max(1) {
                        HealthStatus::Unhealthy
                    } else {
                        self.status
                    },
                    consecutive_failures: failures,
                    last_error: Some(e),
                    checked_at_ms: now_ms,
                }
            }
        }
    }

    /// Whether the task is unhealthy.
    pub fn is_unhealthy(&self) -> bool {
        self.status == HealthStatus::Unhealthy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_failures_in_a_row_make_it_unhealthy_and_one_pass_heals_it() {
        let mut h = TaskHealth::default();
        for n in 1..3 {
            h = h.after(Err("404".into()), 3, n);
            assert_eq!(h.status, HealthStatus::Healthy, "after {n} failures");
        }
        h = h.after(Err("404".into()), 3, 3);
        assert!(h.is_unhealthy());
        assert_eq!(h.consecutive_failures, 3);
        assert_eq!(h.last_error.as_deref(), Some("404"));
        h = h.after(Ok(()), 3, 4);
        assert_eq!(
            (h.status, h.consecutive_failures, h.checked_at_ms),
            (HealthStatus::Healthy, 0, 4)
        );
        // A threshold of 0 counts as 1.
        assert!(TaskHealth::default()
            .after(Err("x".into()), 0, 1)
            .is_unhealthy());
        let json = serde_json::to_value(&h).unwrap_or_default();
        assert_eq!(json["status"], "healthy");
    }
}
