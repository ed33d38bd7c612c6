//! The eviction manager's housekeeping pass at 1,000 pods (`HOOKLET_HOUSEKEEPING_PODS`):
//! real pods on the process runtime (one `sleep` process each), real signals from
//! this machine. Two passes are measured, CPU time of this process per pass (and
//! wall time):
//!
//! - **quiet**: no threshold met (the common case: observe, conditions);
//! - **ranking**: a threshold that is always met while every pod is critical, so
//!   each pass also measures every pod (one `/proc` scan, log sizes), ranks them all
//!   and finds none it may evict — the most a pass does short of killing a pod.
//!
//! `cargo bench -p hooklet --bench housekeeping`; under `cargo test` a smoke run with
//! 20 pods and a few passes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hooklet::eviction::manager::{ActivePods, EvictionParts};
use hooklet::eviction::signals::SignalSource;
use hooklet::eviction::thresholds::{parse_thresholds, EvictionFlags};
use hooklet::eviction::{hard_eviction_reserve, EvictionConfig, EvictionManager};
use hooklet::lifecycle::{Node, NodeConfig, PodHandle};
use hooklet::nodestatus::{NodeSettings, NodeState};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::spec::parse::parse_manifests;

fn cpu_time() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).unwrap();
    let t = |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    t(usage.user_time()) + t(usage.system_time())
}

async fn measure(name: &str, manager: &EvictionManager, passes: u32) -> (Duration, Duration) {
    manager.synchronize().await;
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    for _ in 0..passes {
        assert!(manager.synchronize().await.is_none(), "nothing may be evicted in the bench");
    }
    let (cpu, wall) = ((cpu_time() - cpu0) / passes, wall0.elapsed() / passes);
    println!("{name:<8} {:>10.2} ms CPU per pass {:>10.2} ms wall per pass", cpu.as_secs_f64() * 1e3, wall.as_secs_f64() * 1e3);
    (cpu, wall)
}

fn manager(node: &Arc<Node>, pods: Vec<PodHandle>, hard: &str, dir: &std::path::Path) -> Arc<EvictionManager> {
    let flags = EvictionFlags { hard: Some(hard.into()), ..EvictionFlags::default() };
    let thresholds = parse_thresholds(&flags).unwrap();
    let t = thresholds.clone();
    let state = Arc::new(NodeState::new(&NodeSettings::default(), dir, |c| hard_eviction_reserve(&t, c), node.events().clone()).unwrap());
    let config = EvictionConfig { thresholds, ..EvictionConfig::default() };
    let source = SignalSource { state_dir: dir.to_path_buf(), image_dir: dir.join("images") };
    let pods: ActivePods = Box::new(move || pods.clone());
    EvictionManager::new(EvictionParts { config, node: state, runtime: node.runtime().clone(), events: node.events().clone(), source, pods, reclaim: None })
}

#[tokio::main]
async fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let count: usize = std::env::var("HOOKLET_HOUSEKEEPING_PODS").ok().and_then(|s| s.parse().ok()).unwrap_or(if smoke { 20 } else { 1000 });
    let passes = if smoke { 3 } else { 50 };
    let dir = tempfile::tempdir().unwrap();
    // One descriptor per child at least: raise the soft limit as `serve` does.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let _ = nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard.min(1 << 20), hard);
    let node = Node::new(Arc::new(ProcessRuntime::new(dir.path().join("logs"))), NodeConfig::default()).unwrap();
    let mut pods = Vec::new();
    for i in 0..count {
        let yaml = format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  priority: 2000000000\n  containers:\n  - {{name: c, image: i, command: [sleep, '600'], resources: {{requests: {{memory: 1Ki}}}}}}\n"
        );
        pods.push(node.start_pod(parse_manifests(&yaml, "bench.yaml").unwrap().remove(0).pod));
    }
    for p in &pods {
        p.wait_for(|s| s.containers[0].started).await;
    }
    println!("{count} pods running; {passes} passes each");
    let (quiet, _) = measure("quiet", &manager(&node, pods.clone(), "memory.available<1Ki", dir.path()), passes).await;
    let (ranking, _) = measure("ranking", &manager(&node, pods.clone(), "memory.available<1000Ti", dir.path()), passes).await;
    println!("ranking / quiet CPU = {:.1}", ranking.as_secs_f64() / quiet.as_secs_f64().max(1e-9));
    for p in &pods {
        p.delete(Some(1));
    }
    for p in &pods {
        p.finished().await;
    }
}
