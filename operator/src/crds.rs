//! Whether the API server serves the prometheus-operator CRDs (ServiceMonitor, PrometheusRule).
//!
//! One discovery call every [`POLL`], shared by every reconcile, instead of one per reconcile:
//! the answer changes when someone installs or removes prometheus-operator, not per object. When
//! the CRDs appear, the poller asks the controller to reconcile every ModelService once, so the
//! resources waiting for them do not need a short requeue of their own.

use crate::error::Error;
use futures::channel::mpsc;
use kube::Client;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

/// How often the poller asks discovery.
pub const POLL: Duration = Duration::from_secs(30);

const UNKNOWN: u8 = 0;
const MISSING: u8 = 1;
const SERVED: u8 = 2;

/// The last answer of discovery; unknown until the first poll.
#[derive(Debug, Default)]
pub struct MonitoringCrds(AtomicU8);

impl MonitoringCrds {
    /// `Some(served)` once discovery answered; `None` before.
    pub fn known(&self) -> Option<bool> {
        match self.0.load(Ordering::Relaxed) {
            UNKNOWN => None,
            v => Some(v == SERVED),
        }
    }

    /// Record an answer; true when it turned from "not served" (or unknown) to served.
    pub fn set(&self, served: bool) -> bool {
        let before = self.0.swap(if served { SERVED } else { MISSING }, Ordering::Relaxed);
        served && before != SERVED
    }
}

/// Whether the API server serves ServiceMonitor and PrometheusRule (one discovery call).
pub async fn served(client: &Client) -> Result<bool, Error> {
    match client.list_api_group_resources("monitoring.coreos.com/v1").await {
        Ok(list) => {
            let has = |n: &str| list.resources.iter().any(|r| r.name == n);
            Ok(has("servicemonitors") && has("prometheusrules"))
        }
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(false),
        Err(e) => Err(Error::Kube { action: "discover monitoring.coreos.com/v1", source: e }),
    }
}

/// Poll discovery every [`POLL`] into `state`; send on `appeared` whenever the CRDs turn served
/// after having been missing (not on the first answer: the controller's first pass sees it).
pub async fn poll(client: Client, state: std::sync::Arc<MonitoringCrds>, appeared: mpsc::UnboundedSender<()>) {
    loop {
        match served(&client).await {
            Ok(now) => {
                let first = state.known().is_none();
                if state.set(now) && !first {
                    tracing::info!("prometheus-operator CRDs are served now; reconciling every ModelService");
                    let _ = appeared.unbounded_send(());
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot tell whether the prometheus-operator CRDs are served"),
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_unknown_until_the_first_answer() {
        let s = MonitoringCrds::default();
        assert_eq!(s.known(), None);
        s.set(false);
        assert_eq!(s.known(), Some(false));
    }

    #[test]
    fn only_a_turn_to_served_reports_an_appearance() {
        let s = MonitoringCrds::default();
        assert!(!s.set(false));
        assert!(s.set(true), "missing → served");
        assert!(!s.set(true), "served → served");
        assert!(!s.set(false));
        assert!(s.set(true));
    }
}
