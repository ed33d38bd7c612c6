//! # hooklet
//!
//! A node agent that runs a pod's containers and their Kubernetes lifecycle hooks
//! (PostStart, PreStop) the way the kubelet does, plus sandboxed WebAssembly hook
//! handlers. The crate reads like the architecture:
//!
//! | module | what it is |
//! |---|---|
//! | [`spec`] | Pod manifests: model, parsing with warnings, apiserver-style validation |
//! | [`runtime`] | the [`runtime::Runtime`] trait and the `process` runtime |
//! | [`hooks`] | one dispatch path for every handler kind: exec, httpGet, sleep, tcpSocket, wasm |
//! | [`image`] | the local image store: import (digests checked, layers unpacked), list, resolve, remove |
//! | [`wasm`] | the wasmtime engine: plugins, fuel, deadlines |
//! | [`events`] | a Kubernetes-style event recorder with aggregation |
//! | [`envvars`] | a container's environment as the kubelet builds it: `valueFrom`, `envFrom`, `$(VAR)` |
//! | [`lifecycle`] | the pod worker: container state machine, back-off, grace periods, conditions |
//! | [`prober`] | liveness, readiness and startup probes: workers, thresholds, every handler kind |
//! | [`promtext`] | the Prometheus text format shared by the daemon's and the prober's metrics |
//! | [`lifecycle`] | the pod worker: container state machine, back-off, grace periods |
//! | [`nodestatus`] | the node object: capacity, allocatable, conditions, its API view |
//! | [`admission`] | pod admission: resource fit, node pressure, critical-pod preemption |
//! | [`eviction`] | node-pressure eviction: signals, thresholds, ranking, the manager |
//! | [`gateway`] | `hooklet gateway`: wasm hooks for any cluster, served to the kubelet's `httpGet` from a sidecar |
//! | [`daemon`] | `hooklet serve`: the node daemon, re-adoption, redelivery, metrics |
//! | [`secret`] | the secret manager: applied Secrets, one 0600 file each in the state directory |
//! | [`store`] | durable state in SQLite: pods, events, hook output, the delivery journal |
//! | [`api`] | the control API (hyper, unix socket + HTTPS TCP with a bearer token): hooklet's `/v1` and the Kubernetes slice kubectl drives |
//! | [`printers`] | what kubectl's printers compute: `get pods` columns, ages |
//! | [`cli`] | the `hooklet` command line |
//! | [`bench`] | benchmarks that run the real daemon (scale), shared by `cargo bench` and a smoke test |

pub mod admission;
pub mod api;
pub mod bench;
pub mod cli;
pub mod daemon;
pub mod envvars;
pub mod events;
pub mod eviction;
pub mod gateway;
pub mod gostr;
pub mod hooks;
pub mod image;
pub mod lifecycle;
pub mod prober;
pub mod promtext;
pub mod nodestatus;
pub mod printers;
pub mod runtime;
pub mod secret;
pub mod spec;
pub mod store;
pub mod testing;
pub mod wasm;
