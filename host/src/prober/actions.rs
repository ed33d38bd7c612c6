//! One probe attempt of any handler kind (`prober.runProbe`), with `timeoutSeconds`,
//! mapped to `pkg/probe`'s results (probe spec §1.4, §2).

use std::time::Duration;

use super::attempt::{Attempt, Verdict};
use super::{grpc, tcp, ProbeTarget, Prober};
use crate::hooks::http::{resolve_port, run_http_probe, HttpProbeResult};
use crate::runtime::ExecRequest;
use crate::spec::{EnvVar, ExecAction, Probe, ProbeType};

/// The kubelet's `maxReadLength`: exec probe output kept (stdout, then stderr).
pub(super) const EXEC_OUTPUT_LIMIT: usize = 10 * 1024;

/// Runs `probe` once against `target`.
pub(super) async fn run(prober: &Prober, target: &ProbeTarget, kind: ProbeType, probe: &Probe) -> Attempt {
    let timeout = prober.seconds(probe.timeout_seconds.max(1));
    let container = &target.container;
    if let Some(action) = &probe.exec {
        return exec(prober, target, action, timeout).await;
    }
    if let Some(action) = &probe.http_get {
        return match run_http_probe(&prober.http, action, container, target.pod_ip, timeout).await {
            HttpProbeResult::Success(body) => Attempt::new(Verdict::Success, body),
            HttpProbeResult::Warning(text) => Attempt::new(Verdict::Warning, text),
            HttpProbeResult::Failure(text) => Attempt::new(Verdict::Failure, text),
            HttpProbeResult::Error(text) => Attempt::errored(text),
        };
    }
    if let Some(action) = &probe.tcp_socket {
        let host = match (action.host.as_deref().filter(|h| !h.is_empty()), target.pod_ip) {
            (Some(host), _) => host.to_string(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Attempt::errored("the pod has no IP address yet".into()),
        };
        let port = match resolve_port(&action.port, container) {
            Ok(port) => port,
            Err(e) => return Attempt::errored(e),
        };
        return match tcp::probe(&host, port, timeout).await {
            Ok(()) => Attempt::new(Verdict::Success, String::new()),
            Err(text) => Attempt::new(Verdict::Failure, text),
        };
    }
    if let Some(action) = &probe.grpc {
        let Some(ip) = target.pod_ip else {
            return Attempt::errored("the pod has no IP address yet".into());
        };
        let service = action.service.as_deref().unwrap_or("");
        let port = u16::try_from(action.port).unwrap_or(0);
        let result = grpc::probe(&ip.to_string(), port, service, timeout, &prober.user_agent).await;
        let verdict = if result.healthy { Verdict::Success } else { Verdict::Failure };
        return Attempt::new(verdict, result.output);
    }
    if let Some(action) = &probe.wasm {
        return super::wasm::probe(prober, target, action, kind, timeout).await;
    }
    Attempt::errored("the probe has no handler".into())
}

/// An exec probe through the runtime (in the container under runc): exit 0 is
/// healthy; otherwise the output is the reason; past the timeout it is a failure
/// `command "…" timed out` (the `ExecProbeTimeout` behaviour).
async fn exec(prober: &Prober, target: &ProbeTarget, action: &ExecAction, timeout: Duration) -> Attempt {
    let argv = expand_static(&action.command, &target.container.env);
    let request = ExecRequest { argv: argv.clone(), extra_env: Vec::new(), output_limit: EXEC_OUTPUT_LIMIT, stdio: Default::default() };
    match tokio::time::timeout(timeout, prober.runtime.exec(&target.container_id, request)).await {
        Err(_) => Attempt::new(Verdict::Failure, format!("command {:?} timed out", argv.join(" "))),
        Ok(Err(err)) => Attempt::errored(format!("{err:#}")),
        Ok(Ok(result)) => {
            let mut output = result.stdout;
            output.extend_from_slice(&result.stderr);
            output.truncate(EXEC_OUTPUT_LIMIT);
            let output = String::from_utf8_lossy(&output).into_owned();
            let verdict = if result.exit_code == 0 { Verdict::Success } else { Verdict::Failure };
            Attempt::new(verdict, output)
        }
    }
}

/// `ExpandContainerCommandOnlyStatic`: `$(VAR)` from the container's literal `env`
/// values (a `valueFrom` variable counts as empty), `$$` for a literal `$`; an
/// unknown `$(VAR)` stays as written.
pub(super) fn expand_static(command: &[String], env: &[EnvVar]) -> Vec<String> {
    let literal: Vec<(String, String)> = env.iter().map(|e| (e.name.clone(), e.value.clone())).collect();
    crate::envvars::expansion::expand_all(command, &literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_literal_env_only() {
        let env = vec![EnvVar { name: "FILE".into(), value: "/tmp/health".into(), ..EnvVar::default() }];
        let argv = vec!["cat".to_string(), "$(FILE)".into(), "$(NOPE)".into(), "$$(FILE)".into(), "a$b".into()];
        assert_eq!(expand_static(&argv, &env), ["cat", "/tmp/health", "$(NOPE)", "$(FILE)", "a$b"]);
    }
}
