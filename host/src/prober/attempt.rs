//! What one probe attempt found, whatever its handler kind.

/// `probe.Result`, with an error folded in as its own case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    Success,
    /// Healthy, with a `ProbeWarning` event (a redirect to another host).
    Warning,
    Failure,
    /// The probe could not run (an error, `Unknown`): retried, then discarded.
    Error,
}

/// What one attempt found.
#[derive(Debug, Clone)]
pub(super) struct Attempt {
    pub verdict: Verdict,
    /// The probe's output: the failure reason, warning text or error.
    pub output: String,
    /// A wasm probe's plugin and the fuel it used.
    pub wasm_fuel: Option<(String, u64)>,
}

impl Attempt {
    pub fn new(verdict: Verdict, output: String) -> Self {
        Attempt { verdict, output, wasm_fuel: None }
    }

    pub fn errored(error: String) -> Self {
        Attempt::new(Verdict::Error, error)
    }
}
