//! Benchmarks that need more than a function call: they run the real `hooklet serve`
//! and measure it from the outside. The `cargo bench` targets (`host/benches/`) are
//! thin drivers over these modules, so a quick smoke test can run the same code with
//! a handful of pods and keep it from rotting. Not a stable API.
//!
//! | module | what it measures |
//! |---|---|
//! | [`kubectl`] | the real `kubectl get pods` against the scale run's pods: wall time, the daemon's CPU |
//! | [`scale`] | many pods on the process runtime (or runc): apply → all Running, delete → all gone, the daemon's memory, CPU, threads and fds, hook latency under that load, idle memory, adoption after a daemon SIGKILL |
//! | [`runc`] | what runc pods need: root, runc, the busybox image imported, a pod network |

pub mod daemon;
pub mod kubectl;
pub mod procfs;
pub mod report;
pub mod runc;
pub mod scale;
