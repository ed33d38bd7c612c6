//! `hooklet run`: run pods in the foreground.

use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};

use super::describe::describe_pod;
use super::{RunArgs, RuntimeChoice, EXIT_BAD_INPUT, EXIT_POD_FAILED};
use crate::events::{Event, EventType};
use crate::lifecycle::{ContainerState, Node, PodHandle, PodStatus};
use crate::runtime::process::ProcessRuntime;
use crate::runtime::runc::{RuncConfig, RuncRuntime};
use crate::runtime::network::Ipv4Subnet;
use crate::runtime::Runtime;
use crate::spec::parse::parse_manifest_file;
use crate::spec::{Pod, RestartPolicy};

/// How a `hooklet run` ended: the exit code and, when not 0, a one-line reason.
#[derive(Debug)]
pub struct RunOutcome {
    pub exit_code: i32,
    pub reason: Option<String>,
}

/// Runs `hooklet run`, printing to stdout (events, describe) and stderr (warnings).
pub async fn run(args: RunArgs) -> RunOutcome {
    let parsed = match parse_manifest_file(&args.file) {
        Ok(p) => p,
        Err(err) => return bad_input(err.to_string()),
    };
    let mut pods = Vec::new();
    for p in parsed {
        for w in &p.warnings {
            eprintln!("Warning: {w}");
        }
        pods.push(p.pod);
    }
    match run_pods(&args, pods).await {
        Ok(outcome) => outcome,
        Err(err) => RunOutcome { exit_code: EXIT_POD_FAILED, reason: Some(format!("{err:#}")) },
    }
}

fn bad_input(reason: String) -> RunOutcome {
    RunOutcome { exit_code: EXIT_BAD_INPUT, reason: Some(reason) }
}

/// `hooklet run --runtime runc`'s own bridge and subnet, beside `serve`'s defaults.
const RUN_BRIDGE: &str = "hooklet1";
const RUN_SUBNET: Ipv4Subnet = Ipv4Subnet::from_octets([10, 214, 0, 0], 16);

async fn run_pods(args: &RunArgs, pods: Vec<Pod>) -> anyhow::Result<RunOutcome> {
    let log_dir = args.log_dir.clone().unwrap_or_else(|| std::env::temp_dir().join("hooklet-logs"));
    // Signal handlers before anything starts: a SIGTERM that arrives once a pod runs
    // must reach us, not the default action.
    let mut sigterm = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    // Checked whichever the runtime, as the kubelet checks its configuration.
    let images = args.node.images.manager_config().map_err(anyhow::Error::msg)?;
    let runtime: Arc<dyn Runtime> = match args.node.runtime_choice(RUN_BRIDGE, RUN_SUBNET) {
        RuntimeChoice::Process => Arc::new(ProcessRuntime::new(&log_dir)),
        RuntimeChoice::Runc(network) => {
            let state_dir = args.state_dir.clone().unwrap_or_else(super::client::default_state_dir);
            Arc::new(RuncRuntime::open(RuncConfig { images, ..RuncConfig::under(&state_dir, "run", log_dir.clone(), &network) }).await?)
        }
    };
    let node = Node::new(runtime, args.node.node_config()).context("starting the node agent")?;
    let printer = tokio::spawn(print_events(node.events().subscribe(), Instant::now()));
    let handles: Vec<PodHandle> = pods.into_iter().map(|p| node.start_pod(p)).collect();

    let all_done = futures_all(handles.iter().map(|h| {
        let h = h.clone();
        async move { h.wait_for(|s| s.finished || done_for_good(h.pod(), s)).await }
    }));
    let stop_after = async {
        match args.run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = sigint.recv() => println!("--- interrupted: deleting pods"),
        _ = sigterm.recv() => println!("--- SIGTERM: deleting pods"),
        _ = stop_after => println!("--- --for elapsed: deleting pods"),
        _ = all_done => println!("--- all containers finished"),
    }
    for h in &handles {
        if !h.status().finished {
            h.delete(args.grace_period);
        }
    }
    let finished = futures_all(handles.iter().map(|h| {
        let h = h.clone();
        async move { h.finished().await }
    }));
    tokio::select! {
        _ = finished => {}
        _ = async {
            // A second interrupt shortens the grace to the minimum.
            sigint.recv().await;
            println!("--- interrupted again: grace period shortened to 1s");
            for h in &handles { h.delete(Some(1)); }
            std::future::pending::<()>().await
        } => {}
    }
    printer.abort();
    let mut verdicts = Vec::new();
    for h in &handles {
        let status = h.status();
        let events = node.events().for_pod(h.pod().uid());
        println!("\n{}", describe_pod(h.pod(), &status, &events));
        if let Err(reason) = verdict(h.pod(), &status, &events) {
            verdicts.push(format!("pod {}: {reason}", h.pod().metadata.name));
        }
    }
    if let Some(plugins) = plugin_totals(&node.wasm().plugin_usage()) {
        println!("\n{plugins}");
    }
    let _ = std::io::stdout().flush();
    Ok(match verdicts.is_empty() {
        true => RunOutcome { exit_code: 0, reason: None },
        false => RunOutcome { exit_code: EXIT_POD_FAILED, reason: Some(verdicts.join("; ")) },
    })
}

/// The `Wasm plugins:` section: deliveries, failures, fuel and peak memory per plugin
/// (D8), or `None` when no plugin ran.
fn plugin_totals(usage: &std::collections::HashMap<String, crate::wasm::PluginUsage>) -> Option<String> {
    if usage.is_empty() {
        return None;
    }
    let mut names: Vec<&String> = usage.keys().collect();
    names.sort();
    let mut rows = vec![["Plugin", "Deliveries", "Failed", "Fuel", "Peak Memory"].map(String::from).to_vec()];
    for name in names {
        let u = usage[name];
        rows.push(vec![
            name.clone(),
            u.deliveries.to_string(),
            u.failures.to_string(),
            u.fuel_consumed.to_string(),
            format!("{} KiB", u.peak_memory_bytes / 1024),
        ]);
    }
    Some(format!("Wasm plugins:\n{}", super::format::table(&rows, "  ")))
}

/// Every container ended and none will restart (Never / OnFailure pods that completed).
fn done_for_good(pod: &Pod, status: &PodStatus) -> bool {
    pod.spec.restart_policy != RestartPolicy::Always
        && status.containers.iter().all(|c| c.state.name() == "Terminated")
}

async fn futures_all<F: std::future::Future>(futures: impl Iterator<Item = F>) {
    let mut set = Vec::new();
    for f in futures {
        set.push(f);
    }
    for f in set {
        f.await;
    }
}

/// Did the pod run and terminate as its manifest asked? Err = a one-line reason.
pub fn verdict(pod: &Pod, status: &PodStatus, events: &[Event]) -> Result<(), String> {
    let first_warning = |reason: &str| events.iter().find(|e| e.event_type == EventType::Warning && e.reason == reason);
    if let Some(e) = first_warning("Failed") {
        return Err(format!("container {} failed to start: {}", e.object.container_name().unwrap_or("?"), e.message));
    }
    for reason in ["FailedPostStartHook", "FailedPreStopHook"] {
        if let Some(e) = first_warning(reason) {
            let hook = reason.trim_start_matches("Failed").trim_end_matches("Hook");
            return Err(format!("{hook} hook of container {} failed: {}", e.object.container_name().unwrap_or("?"), e.message));
        }
    }
    // A plain init container that failed for good (a stopped sidecar is no failure).
    let mut plain_init = pod.spec.init_containers.iter().zip(&status.init_containers).filter(|(spec, _)| !spec.is_sidecar());
    let init_failure = plain_init.find_map(|(_, c)| match &c.state {
        ContainerState::Terminated { exit_code, .. } if *exit_code != 0 && status.deletion_requested_at.is_none() => Some((c, exit_code)),
        _ => None,
    });
    if let Some((c, code)) = init_failure {
        return Err(format!("init container {} failed (exit code {code})", c.name));
    }
    if let Some(c) = status.containers.iter().find(|c| c.restart_count == 0 && c.state.name() == "Waiting") {
        return Err(format!("container {} never started", c.name));
    }
    if status.deletion_requested_at.is_none() && status.phase == crate::lifecycle::PodPhase::Failed {
        return Err(format!("pod {} failed (restartPolicy {:?})", pod.metadata.name, pod.spec.restart_policy));
    }
    Ok(())
}

async fn print_events(mut rx: tokio::sync::broadcast::Receiver<Event>, start: Instant) {
    loop {
        match rx.recv().await {
            Ok(e) => println!("{}", event_line(&e, start)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => println!("({n} events not shown)"),
            Err(_) => return,
        }
    }
}

fn event_line(e: &Event, start: Instant) -> String {
    let object = match (e.object.container_name(), e.object.kind.as_str()) {
        (Some(c), _) => format!("{}/{c}", e.object.name),
        (None, "Pod") => e.object.name.clone(),
        (None, kind) => format!("{}/{}", kind.to_ascii_lowercase(), e.object.name),
    };
    let count = if e.count > 1 { format!(" (x{})", e.count) } else { String::new() };
    format!(
        "{:>8.3}s  {:<7}  {:<20}  {object}: {}{count}",
        start.elapsed().as_secs_f64(),
        e.event_type.to_string(),
        e.reason,
        e.message
    )
}
