//! The kubelet's hook failure messages (spec sections 1.4, 4 and 5), bounded in size
//! (decision D3).

use crate::gostr::go_quote;

/// Bytes of handler output kept in a failure message (D3: "first KiB").
pub const MESSAGE_OUTPUT_LIMIT: usize = 1024;

/// `Exec lifecycle hook ([a b]) for Container "c" in Pod "p_ns(uid)" failed - error: E, message: "OUT"`.
pub fn exec_failure(argv: &[String], container: &str, pod: &str, error: &str, output: &str) -> String {
    format!(
        "Exec lifecycle hook ([{}]) for Container {} in Pod {} failed - error: {error}, message: {}",
        argv.join(" "),
        go_quote(container),
        go_quote(pod),
        go_quote(&truncate(output, MESSAGE_OUTPUT_LIMIT))
    )
}

/// `command 'a b' exited with N: STDERR` (the CRI's `CodeExitError` text).
pub fn exec_exit_error(argv: &[String], code: i32, stderr: &str) -> String {
    format!(
        "command '{}' exited with {code}: {}",
        argv.join(" "),
        truncate(stderr, MESSAGE_OUTPUT_LIMIT)
    )
}

/// `HTTP lifecycle hook (PATH) for Container "c" in Pod "p" failed - error: E`.
pub fn http_failure(path: &str, container: &str, pod: &str, error: &str) -> String {
    let (container, pod) = (go_quote(container), go_quote(pod));
    format!("HTTP lifecycle hook ({path}) for Container {container} in Pod {pod} failed - error: {error}")
}

/// `Sleep lifecycle hook (N) for Container "c" in Pod "p" failed - error: E`.
pub fn sleep_failure(seconds: i64, container: &str, pod: &str, error: &str) -> String {
    let (container, pod) = (go_quote(container), go_quote(pod));
    format!("Sleep lifecycle hook ({seconds}) for Container {container} in Pod {pod} failed - error: {error}")
}

/// hooklet's wasm handler, in the same shape: `WASM lifecycle hook (PLUGIN) … failed - error: E[, message: "OUT"]`.
pub fn wasm_failure(plugin: &str, container: &str, pod: &str, error: &str, output: &str) -> String {
    let (container, pod) = (go_quote(container), go_quote(pod));
    let mut message =
        format!("WASM lifecycle hook ({plugin}) for Container {container} in Pod {pod} failed - error: {error}");
    if !output.is_empty() {
        message.push_str(", message: ");
        message.push_str(&go_quote(&truncate(output, MESSAGE_OUTPUT_LIMIT)));
    }
    message
}

/// `Cannot run handler: invalid handler: DESC` (tcpSocket, or no action at all).
pub fn invalid_handler(description: &str) -> String {
    format!("Cannot run handler: invalid handler: {description}")
}

/// The fixed event text the kubelet has used since 1.26 (`--redact-hook-messages`).
pub fn redacted(phase: crate::spec::HookPhase) -> String {
    format!("{}Hook failed", phase.as_str())
}

/// Keeps the first `limit` bytes of `s` (on a char boundary), noting what was cut.
pub fn truncate(s: &str, limit: usize) -> String {
    if s.len() <= limit {
        return s.to_string();
    }
    let mut end = limit;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &s[..end], s.len() - end)
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failure_matches_the_kubelet_example() {
        // spec section 2.5 / 5: `badcommand` exiting 126 with the reason on stdout.
        let argv = vec!["badcommand".to_string()];
        let error = exec_exit_error(&argv, 126, "");
        let msg = exec_failure(
            &argv,
            "lifecycle-demo-container",
            "lifecycle-demo_default(uid)",
            &error,
            "OCI runtime exec failed: executable file not found in $PATH: unknown\r\n",
        );
        assert_eq!(
            msg,
            "Exec lifecycle hook ([badcommand]) for Container \"lifecycle-demo-container\" in Pod \
             \"lifecycle-demo_default(uid)\" failed - error: command 'badcommand' exited with 126: , \
             message: \"OCI runtime exec failed: executable file not found in $PATH: unknown\\r\\n\""
        );
    }

    #[test]
    fn other_handler_messages() {
        assert_eq!(
            http_failure("/x", "c", "p_ns(u)", "boom"),
            "HTTP lifecycle hook (/x) for Container \"c\" in Pod \"p_ns(u)\" failed - error: boom"
        );
        assert_eq!(
            sleep_failure(50, "c", "p_ns(u)", "container terminated before sleep hook finished"),
            "Sleep lifecycle hook (50) for Container \"c\" in Pod \"p_ns(u)\" failed - error: \
             container terminated before sleep hook finished"
        );
        assert_eq!(wasm_failure("m", "c", "p", "bad", ""), "WASM lifecycle hook (m) for Container \"c\" in Pod \"p\" failed - error: bad");
        assert!(wasm_failure("m", "c", "p", "bad", "[error] x\n").ends_with(", message: \"[error] x\\n\""));
        assert_eq!(redacted(crate::spec::HookPhase::PreStop), "PreStopHook failed");
    }

    #[test]
    fn output_in_messages_is_bounded() {
        let long = "x".repeat(5000);
        let msg = exec_failure(&["a".into()], "c", "p", "e", &long);
        assert!(msg.len() < 1200, "{}", msg.len());
        assert!(msg.ends_with("… (3976 more bytes)\""));
        // Never cuts inside a character.
        assert_eq!(truncate("ééé", 3), "é… (4 more bytes)");
    }
}
