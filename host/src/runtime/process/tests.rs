use std::time::Duration;

use super::*;

fn pod() -> PodRef {
    PodRef {
        namespace: "default".into(),
        name: "web".into(),
        uid: "uid-1".into(),
    }
}

fn config(argv: &[&str]) -> ContainerConfig {
    ContainerConfig {
        pod: pod(),
        name: "app".into(),
        image: "busybox".into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        env: vec![("GREETING".into(), "hello".into())],
        working_dir: None,
        ..Default::default()
    }
}

fn exec(argv: &[&str]) -> ExecRequest {
    ExecRequest {
        argv: argv.iter().map(|s| s.to_string()).collect(),
        extra_env: vec![("HOOKLET_ATTEMPT".into(), "1".into())],
        output_limit: 1024,
        stdio: Default::default(),
    }
}

#[tokio::test]
async fn a_container_runs_logs_and_its_exit_is_observed() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(dir.path());
    let id = rt
        .create(config(&["sh", "-c", "echo $GREETING; echo oops >&2; exit 3"]))
        .await
        .unwrap();
    rt.start(&id).await.unwrap();
    let status = rt.wait(&id).await.unwrap();
    assert_eq!((status.exit_code, status.signal), (3, None));
    // A second waiter sees the same exit at once.
    assert_eq!(rt.wait(&id).await.unwrap(), status);
    let log = std::fs::read_to_string(rt.log_path(&pod(), "app")).unwrap();
    assert_eq!(log, "hello\noops\n");
    rt.remove(&id).await.unwrap();
}

#[tokio::test]
async fn signals_reach_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(dir.path());
    // The shell waits on a child; TERM to the group ends both.
    let id = rt.create(config(&["sh", "-c", "sleep 60 & wait"])).await.unwrap();
    rt.start(&id).await.unwrap();
    rt.signal(&id, Signal::SIGTERM).await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), rt.wait(&id))
        .await
        .expect("TERM ends the container")
        .unwrap();
    assert_eq!(status.signal, Some(libc_sigterm()));
    assert_eq!(status.exit_code, 128 + libc_sigterm());
}

fn libc_sigterm() -> i32 {
    Signal::SIGTERM as i32
}

#[tokio::test]
async fn a_container_without_a_command_cannot_be_created() {
    let rt = ProcessRuntime::new(std::env::temp_dir());
    let err = rt.create(config(&[])).await.unwrap_err().to_string();
    assert!(err.contains("has no command"), "{err}");
    assert!(err.contains("add `command:`"), "{err}");
}

#[tokio::test]
async fn a_missing_binary_fails_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(dir.path());
    let id = rt.create(config(&["/no/such/binary"])).await.unwrap();
    let err = rt.start(&id).await.unwrap_err().to_string();
    assert!(err.contains("\"/no/such/binary\""), "{err}");
}

#[tokio::test]
async fn exec_sees_the_container_env_and_collects_stdout_then_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(dir.path());
    let mut cfg = config(&["sleep", "60"]);
    cfg.working_dir = Some(dir.path().to_path_buf());
    let id = rt.create(cfg).await.unwrap();
    rt.start(&id).await.unwrap();
    let result = rt
        .exec(
            &id,
            exec(&["sh", "-c", "echo $GREETING $HOOKLET_ATTEMPT $(pwd); echo err >&2; exit 7"]),
        )
        .await
        .unwrap();
    assert_eq!(result.exit_code, 7);
    let expected = format!("hello 1 {}\n", dir.path().display());
    assert_eq!(String::from_utf8_lossy(&result.stdout), expected);
    assert_eq!(result.stderr, b"err\n");
    rt.remove(&id).await.unwrap();
}

#[tokio::test]
async fn exec_output_is_bounded() {
    let rt = ProcessRuntime::new(std::env::temp_dir());
    let id = rt.create(config(&["sleep", "60"])).await.unwrap();
    rt.start(&id).await.unwrap();
    let result = rt
        .exec(&id, exec(&["sh", "-c", "head -c 5000 /dev/zero"]))
        .await
        .unwrap();
    assert_eq!(result.stdout.len(), 1024);
    assert_eq!(result.dropped_bytes, 5000 - 1024);
    rt.remove(&id).await.unwrap();
}

#[tokio::test]
async fn exec_of_a_missing_binary_reports_126_like_runc() {
    let rt = ProcessRuntime::new(std::env::temp_dir());
    let id = rt.create(config(&["sleep", "60"])).await.unwrap();
    rt.start(&id).await.unwrap();
    let result = rt.exec(&id, exec(&["badcommand"])).await.unwrap();
    assert_eq!(result.exit_code, 126);
    assert_eq!(
        String::from_utf8_lossy(&result.stdout),
        "exec failed: unable to start container process: exec: \"badcommand\": \
         executable file not found in $PATH\n"
    );
    rt.remove(&id).await.unwrap();
}

#[tokio::test]
async fn dropping_an_exec_kills_its_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let rt = ProcessRuntime::new(dir.path());
    let id = rt.create(config(&["sleep", "60"])).await.unwrap();
    rt.start(&id).await.unwrap();
    let pidfile = dir.path().join("pid");
    let script = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
    let mut run = Box::pin(rt.exec(&id, exec(&["sh", "-c", &script])));
    // Run the exec until the grandchild has written its pid, then drop it.
    let pid: i32 = loop {
        tokio::select! {
            _ = &mut run => panic!("the exec cannot finish by itself"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        if let Some(pid) = std::fs::read_to_string(&pidfile)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            break pid;
        }
    };
    drop(run);
    // kill(pid, 0) fails with ESRCH once the grandchild is gone (it is reaped by init).
    let gone = async {
        while nix::sys::signal::kill(Pid::from_raw(pid), None).is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(20), gone)
        .await
        .expect("the hook's grandchild was killed with its group");
    rt.remove(&id).await.unwrap();
}
