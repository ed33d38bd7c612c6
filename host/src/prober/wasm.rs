//! PLACEHOLDER until the wasm probe export lands.
use std::time::Duration;
use super::actions::Attempt;
use super::{ProbeTarget, Prober};
use crate::spec::{Probe, WasmAction};
pub(super) async fn probe(_p: &Prober, _t: &ProbeTarget, _a: &WasmAction, _probe: &Probe, _timeout: Duration) -> Attempt {
    Attempt::errored("wasm probes: not built yet".into())
}
