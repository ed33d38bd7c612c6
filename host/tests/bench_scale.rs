//! Smoke test of the scale benchmark (`cargo bench -p hooklet --bench scale`): the same
//! code with 5 pods per hook kind, so it cannot rot. Only completion and sensible
//! fields are checked; the numbers are not.

use std::path::PathBuf;
use std::time::Duration;

use hooklet::bench::report;
use hooklet::bench::scale::{self, Config, HookKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_bench_runs_with_a_few_pods() {
    let work = tempfile::tempdir().unwrap();
    let hooklet = std::env::var("HOOKLET_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_hooklet").to_string());
    let base = Config {
        hooklet: PathBuf::from(hooklet),
        plugins: hooklet::testing::example_plugins_dir(),
        work_dir: work.path().to_path_buf(),
        pods: 5,
        hook: HookKind::Wasm,
        grace_seconds: 1,
        poll: Duration::from_millis(50),
        timeout: Duration::from_secs(60),
        keep: false,
        kubectl: hooklet::bench::kubectl::find(),
        adopt: false,
        runc: false,
    };
    let mut reports = Vec::new();
    for hook in [HookKind::Wasm, HookKind::Exec] {
        // The exec run also crashes its daemon and has the next one adopt the pods.
        let adopt = hook == HookKind::Exec;
        let r = scale::run(&Config { hook, adopt, ..base.clone() }).await.unwrap();
        if let Some(a) = &r.adoption {
            assert!(a.restart_to_listening_s > 0.0 && a.restart_to_adopted_s >= a.restart_to_listening_s, "{a:?}");
        }
        assert_eq!(r.adoption.is_some(), adopt, "{r:?}");
        assert_eq!((r.pods, r.hook), (5, hook));
        for (phase, l) in [("PostStart", &r.post_start), ("PreStop", &r.pre_stop)] {
            assert_eq!((l.runs, l.failed), (5, 0), "{phase} runs of {hook:?}: {l:?}");
            assert!(l.p50_ms > 0.0 && l.p50_ms <= l.p99_ms && l.p99_ms <= l.max_ms, "{phase}: {l:?}");
        }
        assert!(r.apply_to_running_s > 0.0 && r.apply_to_last_post_start_s <= r.apply_to_running_s + 0.5, "{r:?}");
        assert!(r.delete_to_gone_s > 0.0, "{r:?}");
        assert!(r.idle_rss_mib > 1.0 && r.idle_rss_compiled_mib > 1.0 && r.peak_rss_mib >= r.idle_rss_mib, "{r:?}");
        assert_eq!(r.supervisors_running, 5, "one supervisor per container: {r:?}");
        assert!(r.threads_running >= 1 && r.fds_running >= 3 && r.nofile_limit > 0, "{r:?}");
        if let Some(k) = &r.kubectl {
            // Timed against the 5 pods (kubectl checked that it listed them all).
            assert!(k.get_pods_s > 0.0 && k.get_pods_json_s > 0.0 && k.get_pods_cpu_s >= 0.0 && k.hooklet_get_pods_s > 0.0, "{k:?}");
        }
        reports.push(r);
    }
    let table = report::table(&reports);
    assert!(table.contains("apply → all Running") && table.contains("wasm / exec"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&report::json(&reports)).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
}
