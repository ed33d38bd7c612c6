//! `hooklet get nodes` and `hooklet describe node` in kubectl's layout:
//! Conditions, Capacity, Allocatable, Non-terminated Pods, Allocated resources,
//! Events (plus the last observed eviction signals).

use std::fmt::Write;

use super::describe::{timestamp, write_events};
use super::format::{age, table};
use crate::nodestatus::quantity;
use crate::nodestatus::{NodeView, ResourceList};

/// The `get nodes` header.
pub const NODE_HEADER: [&str; 5] = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"];

/// One `get nodes` row.
pub fn node_row(v: &NodeView) -> Vec<String> {
    let ready = v.conditions.iter().any(|c| c.condition_type == "Ready" && c.is_true());
    vec![
        v.name.clone(),
        if ready { "Ready" } else { "NotReady" }.into(),
        "<none>".into(),
        age(v.created_at),
        format!("v{}-hooklet", crate::lifecycle::KUBE_VERSION),
    ]
}

fn percent(part: u64, whole: u64) -> u64 {
    if whole == 0 { 0 } else { (part as f64 / whole as f64 * 100.0) as u64 }
}

fn with_percent(text: String, part: u64, whole: u64) -> String {
    format!("{text} ({}%)", percent(part, whole))
}

fn resources(out: &mut String, title: &str, list: &ResourceList) {
    let _ = writeln!(out, "{title}:");
    for (name, value) in list.to_map() {
        let _ = writeln!(out, "  {:<19} {value}", format!("{name}:"));
    }
}

/// The describe view of the node.
pub fn describe_node(v: &NodeView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:<20}{}", "Name:", v.name);
    let _ = writeln!(out, "{:<20}<none>", "Roles:");
    let _ = writeln!(out, "{:<20}{}", "CreationTimestamp:", timestamp(v.created_at));
    let _ = writeln!(out, "Conditions:");
    let mut rows = vec![["Type", "Status", "LastHeartbeatTime", "LastTransitionTime", "Reason", "Message"].map(String::from).to_vec()];
    rows.push(["----", "------", "-----------------", "------------------", "------", "-------"].map(String::from).to_vec());
    for c in &v.conditions {
        rows.push(vec![
            c.condition_type.clone(),
            c.status.clone(),
            timestamp(c.last_heartbeat_time),
            timestamp(c.last_transition_time),
            c.reason.clone(),
            c.message.clone(),
        ]);
    }
    out.push_str(&table(&rows, "  "));
    let _ = writeln!(out, "Addresses:");
    for a in &v.addresses {
        let _ = writeln!(out, "  {:<12} {}", format!("{}:", a.address_type), a.address);
    }
    resources(&mut out, "Capacity", &v.capacity);
    resources(&mut out, "Allocatable", &v.allocatable);
    let _ = writeln!(out, "System Info:");
    for (name, value) in [
        ("Kernel Version", v.node_info.kernel_version.as_str()),
        ("OS Image", v.node_info.os_image.as_str()),
        ("Operating System", v.node_info.operating_system.as_str()),
        ("Architecture", v.node_info.architecture.as_str()),
    ] {
        let _ = writeln!(out, "  {:<27} {value}", format!("{name}:"));
    }
    let a = &v.allocatable;
    let _ = writeln!(out, "{:<30}({} in total)", "Non-terminated Pods:", v.pods.len());
    let mut rows = vec![
        ["Namespace", "Name", "CPU Requests", "CPU Limits", "Memory Requests", "Memory Limits", "Age"].map(String::from).to_vec(),
        ["---------", "----", "------------", "----------", "---------------", "-------------", "---"].map(String::from).to_vec(),
    ];
    for p in &v.pods {
        rows.push(vec![
            p.namespace.clone(),
            p.name.clone(),
            with_percent(quantity::cpu(p.cpu_requests_millis), p.cpu_requests_millis, a.cpu_millis),
            with_percent(quantity::cpu(p.cpu_limits_millis), p.cpu_limits_millis, a.cpu_millis),
            with_percent(quantity::bytes(p.memory_requests), p.memory_requests, a.memory),
            with_percent(quantity::bytes(p.memory_limits), p.memory_limits, a.memory),
            age(p.applied_at),
        ]);
    }
    out.push_str(&table(&rows, "  "));
    let _ = writeln!(out, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)");
    let (r, l) = (&v.allocated_requests, &v.allocated_limits);
    let rows = vec![
        ["Resource", "Requests", "Limits"].map(String::from).to_vec(),
        ["--------", "--------", "------"].map(String::from).to_vec(),
        vec!["cpu".into(), with_percent(quantity::cpu(r.cpu_millis), r.cpu_millis, a.cpu_millis), with_percent(quantity::cpu(l.cpu_millis), l.cpu_millis, a.cpu_millis)],
        vec!["memory".into(), with_percent(quantity::bytes(r.memory), r.memory, a.memory), with_percent(quantity::bytes(l.memory), l.memory, a.memory)],
        vec![
            "ephemeral-storage".into(),
            with_percent(quantity::bytes(r.ephemeral_storage), r.ephemeral_storage, a.ephemeral_storage),
            with_percent(quantity::bytes(l.ephemeral_storage), l.ephemeral_storage, a.ephemeral_storage),
        ],
    ];
    out.push_str(&table(&rows, "  "));
    if !v.signals.is_empty() {
        let _ = writeln!(out, "Eviction Signals:");
        let mut rows = vec![["Signal", "Available", "Capacity"].map(String::from).to_vec()];
        for s in &v.signals {
            let bytes = !s.signal.contains("inodes") && !s.signal.starts_with("pid");
            let fmt = |n: u64| if bytes { quantity::bytes(n) } else { n.to_string() };
            rows.push(vec![s.signal.clone(), fmt(s.available), fmt(s.capacity)]);
        }
        out.push_str(&table(&rows, "  "));
    }
    write_events(&mut out, &v.events);
    out
}
