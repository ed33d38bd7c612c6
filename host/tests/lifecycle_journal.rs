//! The pod worker journals every hook delivery around the hook run (D2), and exec
//! hooks see the delivery's id and attempt.

mod common;

use std::sync::Arc;
use std::time::Duration;

use hooklet::hooks::HookOutcome;
use hooklet::lifecycle::{MemoryJournal, Node};
use hooklet::runtime::process::ProcessRuntime;
use hooklet::spec::HookPhase;

use common::{pod, test_config, within};

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: journaled}
spec:
  terminationGracePeriodSeconds: 7
  containers:
  - name: app
    image: busybox
    command: [sleep, "60"]
    lifecycle:
      postStart:
        exec: {command: [sh, -c, 'echo "id=$HOOKLET_DELIVERY_ID attempt=$HOOKLET_ATTEMPT"']}
      preStop:
        exec: {command: [sh, -c, 'echo "id=$HOOKLET_DELIVERY_ID attempt=$HOOKLET_ATTEMPT"']}
"#;

#[tokio::test]
async fn deliveries_are_journaled_pending_before_and_done_after_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Arc::new(MemoryJournal::default());
    let runtime = Arc::new(ProcessRuntime::new(dir.path().join("logs")));
    let node = Node::with_journal(runtime, test_config(dir.path()), journal.clone()).unwrap();
    let handle = node.start_pod(pod(POD));
    within(10, "started", handle.wait_for(|s| s.containers[0].started)).await;
    handle.delete(None);
    let status = within(20, "finished", handle.finished()).await;

    let calls = journal.calls();
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let phases: Vec<(HookPhase, bool)> = calls.iter().map(|(e, run)| (e.phase, run.is_some())).collect();
    assert_eq!(
        phases,
        [(HookPhase::PostStart, false), (HookPhase::PostStart, true), (HookPhase::PreStop, false), (HookPhase::PreStop, true)]
    );
    for pair in calls.chunks(2) {
        let (pending, (done, run)) = (&pair[0].0, (&pair[1].0, pair[1].1.as_ref().unwrap()));
        assert_eq!(pending, done, "done refers to the same delivery");
        assert_eq!(pending.delivery.attempt, 1);
        assert_eq!(run.outcome, HookOutcome::Succeeded);
        assert_eq!(run.delivery, pending.delivery);
        // The exec hook saw the journaled id and attempt.
        assert_eq!(run.output.trim(), format!("id={} attempt=1", pending.delivery.id));
        assert_eq!(pending.pod_uid, handle.pod().uid());
        assert_eq!(pending.container, "app");
        assert_eq!(Some(format!("process://{}", pending.runtime_id)), status.containers[0].container_id);
    }
    assert_ne!(calls[0].0.delivery.id, calls[2].0.delivery.id, "each delivery has its own id");
    assert_eq!(calls[0].0.termination, None, "PostStart has no termination");
    let (began, grace) = calls[2].0.termination.expect("PreStop journals its termination");
    assert_eq!(Some(began), status.deletion_requested_at, "termination began at the delete");
    assert!(grace <= Duration::from_secs(7) && grace > Duration::from_millis(6_500), "{grace:?}");
}
