//! A `kubectl describe pod`-style view, plus hooklet's hook records (D3, D4, D8).

use std::fmt::Write;
use std::time::SystemTime;

use super::format::{age, short_duration, table};
use crate::events::Event;
use crate::lifecycle::{ContainerState, ContainerStatus, PodStatus};
use crate::spec::{Container, Pod, Probe, ProbeType};

/// Lines of hook output shown per hook run.
const OUTPUT_LINES: usize = 6;
/// Characters of a handler's description shown in the hooks table.
const HANDLER_WIDTH: usize = 48;

/// Renders the describe view of `pod`.
pub fn describe_pod(pod: &Pod, status: &PodStatus, events: &[Event]) -> String {
    let mut out = String::new();
    let field = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "{:<14}{value}", format!("{name}:"));
    };
    field(&mut out, "Name", &pod.metadata.name);
    field(&mut out, "Namespace", pod.namespace());
    field(&mut out, "UID", pod.uid());
    let labels: Vec<String> = pod.metadata.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    field(&mut out, "Labels", if labels.is_empty() { "<none>" } else { "" });
    for l in labels {
        let _ = writeln!(out, "{:<14}{l}", "");
    }
    field(&mut out, "Priority", &crate::spec::priority::of(&pod.spec).to_string());
    if let Some(class) = &pod.spec.priority_class_name {
        field(&mut out, "Priority Class Name", class);
    }
    field(&mut out, "Status", &format!("{:?}", status.phase));
    if let Some(reason) = &status.reason {
        field(&mut out, "Reason", reason);
    }
    if let Some(message) = &status.message {
        field(&mut out, "Message", message);
    }
    if let (Some(at), Some(grace)) = (status.deletion_requested_at, status.deletion_grace_seconds) {
        field(&mut out, "Terminating", &format!("since {} ago (grace {grace}s)", age(at)));
    }
    field(&mut out, "IP", &status.pod_ip.map(|ip| ip.to_string()).unwrap_or_else(|| "<none>".into()));
    if !pod.spec.init_containers.is_empty() {
        let _ = writeln!(out, "Init Containers:");
        for (spec, c) in pod.spec.init_containers.iter().zip(&status.init_containers) {
            write_container(&mut out, pod, spec, c);
        }
    }
    let _ = writeln!(out, "Containers:");
    for (spec, c) in pod.spec.containers.iter().zip(&status.containers) {
        write_container(&mut out, pod, spec, c);
    }
    write_conditions(&mut out, status);
    let qos = status.qos_class.unwrap_or_else(|| crate::spec::qos::qos_class(&pod.spec));
    field(&mut out, "QoS Class", qos.as_str());
    write_events(&mut out, events);
    out
}

/// kubectl's probe line: `http-get http://:8080/healthz delay=0s timeout=1s period=10s
/// #success=1 #failure=3`.
pub fn probe_line(p: &Probe) -> String {
    let handler = if let Some(exec) = &p.exec {
        format!("exec [{}]", exec.command.join(" "))
    } else if let Some(http) = &p.http_get {
        let host = http.host.clone().unwrap_or_default();
        format!("http-get {}://{host}:{}{}", http.scheme.to_lowercase(), http.port, http.path)
    } else if let Some(tcp) = &p.tcp_socket {
        format!("tcp-socket {}:{}", tcp.host.clone().unwrap_or_default(), tcp.port)
    } else if let Some(grpc) = &p.grpc {
        format!("grpc <pod>:{} {}", grpc.port, grpc.service.clone().unwrap_or_default())
    } else if let Some(wasm) = &p.wasm {
        format!("wasm {}", wasm.plugin)
    } else {
        "<none>".to_string()
    };
    format!(
        "{handler} delay={}s timeout={}s period={}s #success={} #failure={}",
        p.initial_delay_seconds, p.timeout_seconds, p.period_seconds, p.success_threshold, p.failure_threshold
    )
}

/// kubectl's `Conditions:` table.
fn write_conditions(out: &mut String, status: &PodStatus) {
    if status.conditions.is_empty() {
        return;
    }
    let _ = writeln!(out, "Conditions:");
    let rows: Vec<Vec<String>> = std::iter::once(vec!["Type".to_string(), "Status".to_string()])
        .chain(status.conditions.iter().map(|c| vec![c.type_.clone(), c.status.clone()]))
        .collect();
    out.push_str(&table(&rows, "  "));
}

/// One container's section (kubectl's layout, plus its hooks and wasm fuel).
fn write_container(out: &mut String, pod: &Pod, spec: &Container, c: &ContainerStatus) {
    let _ = writeln!(out, "  {}:", c.name);
    let row = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "    {:<16}{value}", format!("{name}:"));
    };
    row(out, "Container ID", c.container_id.as_deref().unwrap_or(""));
    row(out, "Image", &c.image);
    if !spec.command.is_empty() {
        row(out, "Command", &spec.command.join(" "));
    }
    if !spec.args.is_empty() {
        row(out, "Args", &spec.args.join(" "));
    }
    if let Some(policy) = spec.restart_policy {
        row(out, "Restart Policy", &format!("{policy:?}"));
    }
    write_state(out, "State", &c.state);
    if let Some(last) = &c.last_state {
        write_state(out, "Last State", last);
    }
    row(out, "Ready", &c.ready.to_string());
    row(out, "Started", &c.started.to_string());
    row(out, "Restart Count", &c.restart_count.to_string());
    for kind in [ProbeType::Liveness, ProbeType::Readiness, ProbeType::Startup] {
        if let Some(probe) = spec.probe(kind) {
            row(out, kind.as_str(), &probe_line(probe));
        }
    }
    super::describe_env::write_env(out, pod, spec);
    if c.wasm_fuel_total > 0 || c.hooks.iter().any(|h| h.wasm.is_some()) {
        row(out, "Wasm Fuel", &format!("{} units (all wasm hooks of this container)", c.wasm_fuel_total));
    }
    write_hooks(out, c);
}

fn write_state(out: &mut String, label: &str, state: &ContainerState) {
    let line = |out: &mut String, name: &str, value: &str| {
        let _ = writeln!(out, "      {:<14}{value}", format!("{name}:"));
    };
    let _ = writeln!(out, "    {:<16}{}", format!("{label}:"), state.name());
    match state {
        ContainerState::Waiting { reason, message } => {
            line(out, "Reason", reason);
            if let Some(m) = message {
                line(out, "Message", m);
            }
        }
        ContainerState::Running { started_at } => line(out, "Started", &timestamp(*started_at)),
        ContainerState::Terminated { exit_code, signal, reason, message, started_at, finished_at } => {
            line(out, "Reason", reason);
            if let Some(m) = message {
                line(out, "Message", m);
            }
            line(out, "Exit Code", &exit_code.to_string());
            if let Some(s) = signal {
                line(out, "Signal", &s.to_string());
            }
            if let Some(t) = started_at {
                line(out, "Started", &timestamp(*t));
            }
            line(out, "Finished", &timestamp(*finished_at));
        }
    }
}

fn write_hooks(out: &mut String, c: &ContainerStatus) {
    if c.hooks.is_empty() {
        return;
    }
    let _ = writeln!(out, "    Hooks:");
    let mut rows = vec![["Phase", "Kind", "Handler", "Attempt", "Duration", "Usage", "Result"].map(String::from).to_vec()];
    for h in &c.hooks {
        rows.push(vec![
            h.phase.as_str().to_string(),
            h.kind.as_str().to_string(),
            ellipsize(&h.detail, HANDLER_WIDTH),
            h.delivery.attempt.to_string(),
            short_duration(h.duration),
            usage(h),
            h.outcome.summary().to_string(),
        ]);
    }
    out.push_str(&table(&rows, "      "));
    for h in &c.hooks {
        let detail = h.outcome.failure().map(str::to_string);
        if detail.is_none() && h.output.trim().is_empty() {
            continue;
        }
        let _ = writeln!(out, "      {} {} output:", h.phase.as_str(), h.kind.as_str());
        if let Some(d) = detail {
            let _ = writeln!(out, "        error: {d}");
        }
        let lines: Vec<&str> = h.output.lines().collect();
        for l in lines.iter().take(OUTPUT_LINES) {
            let _ = writeln!(out, "        | {l}");
        }
        if lines.len() > OUTPUT_LINES {
            let _ = writeln!(out, "        | … {} more lines", lines.len() - OUTPUT_LINES);
        }
    }
}

pub(super) fn write_events(out: &mut String, events: &[Event]) {
    if events.is_empty() {
        let _ = writeln!(out, "Events:       <none>");
        return;
    }
    let _ = writeln!(out, "Events:");
    let mut rows = vec![["Type", "Reason", "Age", "From", "Message"].map(String::from).to_vec()];
    rows.push(["----", "------", "----", "----", "-------"].map(String::from).to_vec());
    for e in events {
        rows.push(vec![
            e.event_type.to_string(),
            e.reason.clone(),
            event_age(e),
            e.source.to_string(),
            e.message.clone(),
        ]);
    }
    out.push_str(&table(&rows, "  "));
}

/// kubectl's Age column: `<last> (xN over <first>)` for merged events.
pub fn event_age(e: &Event) -> String {
    if e.count > 1 {
        format!("{} (x{} over {})", age(e.last_seen), e.count, age(e.first_seen))
    } else {
        age(e.first_seen)
    }
}

pub(super) fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// One line of at most `width` characters (whitespace runs, newlines included, fold to one space).
fn ellipsize(s: &str, width: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= width {
        return s;
    }
    let kept: String = s.chars().take(width - 1).collect();
    format!("{kept}…")
}

/// What a hook run consumed (D8): a wasm run's fuel, an exec's CPU time and peak
/// memory in its container's cgroup, or `-`.
fn usage(run: &crate::hooks::HookRun) -> String {
    match (&run.wasm, &run.exec) {
        (Some(w), _) => format!("fuel {}", w.fuel_consumed),
        (None, Some(e)) => {
            let cpu = format!("cpu {}", short_duration(std::time::Duration::from_nanos(e.cpu_nanos)));
            match e.memory_peak_bytes {
                Some(bytes) => format!("{cpu}, mem {}Ki", bytes.div_ceil(1024)),
                None => cpu,
            }
        }
        (None, None) => "-".into(),
    }
}
