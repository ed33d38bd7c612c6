//! Validation of `lifecycle.postStart` / `lifecycle.preStop` handlers:
//! `validateLifecycle`, `validateHandler` and the per-action rules of the
//! apiserver (spec section 1.2), extended with hooklet's `wasm` action (which
//! counts as a handler type, after `sleep`) and `timeoutSeconds`.

use super::model::{
    ExecAction, HttpGetAction, IntOrString, Lifecycle, LifecycleHandler, WasmAction,
};
use super::names;
use super::validate::{FieldError, ValidationOptions};

/// `validateLifecycle`: validates `postStart` then `preStop` under `path`
/// (`…lifecycle`). `grace` is the pod's defaulted grace period, or `None`
/// when it is invalid (sleep bounds are then not checked).
pub(crate) fn validate_lifecycle(
    lifecycle: &Lifecycle,
    grace: Option<i64>,
    path: &str,
    opts: &ValidationOptions,
    errs: &mut Vec<FieldError>,
) {
    if let Some(handler) = &lifecycle.post_start {
        validate_handler(handler, grace, &format!("{path}.postStart"), opts, errs);
    }
    if let Some(handler) = &lifecycle.pre_stop {
        validate_handler(handler, grace, &format!("{path}.preStop"), opts, errs);
    }
}

/// One handler action, already checked to be present.
enum Action<'a> {
    Exec(&'a ExecAction),
    HttpGet(&'a HttpGetAction),
    TcpSocket(&'a IntOrString),
    Sleep(i64),
    Wasm(&'a WasmAction),
}

/// `validateHandler`: exactly one action type, counted in the order exec,
/// httpGet, tcpSocket, sleep, wasm. Every type after the first is `Forbidden`
/// and not validated further; none at all is `Required`.
fn validate_handler(
    handler: &LifecycleHandler,
    grace: Option<i64>,
    path: &str,
    opts: &ValidationOptions,
    errs: &mut Vec<FieldError>,
) {
    let actions: [(&str, Option<Action>); 5] = [
        ("exec", handler.exec.as_ref().map(Action::Exec)),
        ("httpGet", handler.http_get.as_ref().map(Action::HttpGet)),
        (
            "tcpSocket",
            handler
                .tcp_socket
                .as_ref()
                .map(|t| Action::TcpSocket(&t.port)),
        ),
        (
            "sleep",
            handler.sleep.as_ref().map(|s| Action::Sleep(s.seconds)),
        ),
        ("wasm", handler.wasm.as_ref().map(Action::Wasm)),
    ];
    let mut count = 0;
    for (name, action) in actions {
        let Some(action) = action else { continue };
        let action_path = format!("{path}.{name}");
        if count > 0 {
            errs.push(FieldError::forbidden(
                &action_path,
                "may not specify more than 1 handler type",
            ));
            continue;
        }
        count += 1;
        match action {
            Action::Exec(exec) => validate_exec(exec, &action_path, errs),
            Action::HttpGet(http) => validate_http_get(http, &action_path, errs),
            Action::TcpSocket(port) => {
                validate_port_num_or_name(port, &format!("{action_path}.port"), errs)
            }
            Action::Sleep(seconds) => validate_sleep(seconds, grace, &action_path, opts, errs),
            Action::Wasm(wasm) => validate_wasm(wasm, &action_path, errs),
        }
    }
    if count == 0 {
        errs.push(FieldError::required(path, "must specify a handler type"));
    }
    if let Some(timeout) = handler.timeout_seconds {
        if timeout < 1 {
            errs.push(FieldError::invalid_int(
                &format!("{path}.timeoutSeconds"),
                timeout.into(),
                "must be greater than 0; omit timeoutSeconds for no timeout",
            ));
        }
    }
}

/// `validateExecAction`: `command` must be non-empty.
pub(super) fn validate_exec(exec: &ExecAction, path: &str, errs: &mut Vec<FieldError>) {
    if exec.command.is_empty() {
        errs.push(FieldError::required(&format!("{path}.command"), ""));
    }
}

/// `validateHTTPGetAction`: path required, port number or name, scheme HTTP or
/// HTTPS, header names valid. Header errors carry the `httpHeaders` path
/// without an index, as the apiserver reports them.
pub(super) fn validate_http_get(http: &HttpGetAction, path: &str, errs: &mut Vec<FieldError>) {
    if http.path.is_empty() {
        errs.push(FieldError::required(&format!("{path}.path"), ""));
    }
    validate_port_num_or_name(&http.port, &format!("{path}.port"), errs);
    if http.scheme != "HTTP" && http.scheme != "HTTPS" {
        errs.push(FieldError::not_supported(
            &format!("{path}.scheme"),
            &http.scheme,
            &["HTTP", "HTTPS"],
        ));
    }
    for header in &http.http_headers {
        for msg in names::is_http_header_name(&header.name) {
            errs.push(FieldError::invalid_str(
                &format!("{path}.httpHeaders"),
                &header.name,
                &msg,
            ));
        }
    }
}

/// `ValidatePortNumOrName`: a number in 1–65535 or an IANA_SVC_NAME.
pub(super) fn validate_port_num_or_name(port: &IntOrString, path: &str, errs: &mut Vec<FieldError>) {
    match port {
        IntOrString::Int(n) => {
            for msg in names::is_valid_port_num(*n) {
                errs.push(FieldError::invalid_int(path, (*n).into(), &msg));
            }
        }
        IntOrString::String(s) => {
            for msg in names::is_valid_port_name(s) {
                errs.push(FieldError::invalid_str(path, s, &msg));
            }
        }
    }
}

/// `validateSleepAction`: `0 ≤ seconds ≤ grace` (or `1 ≤` without AllowZero).
/// Note the bound is inclusive although the message says "less than".
fn validate_sleep(
    seconds: i64,
    grace: Option<i64>,
    path: &str,
    opts: &ValidationOptions,
    errs: &mut Vec<FieldError>,
) {
    let Some(grace) = grace else { return };
    let (min, detail) = if opts.allow_zero_sleep {
        (
            0,
            format!("must be non-negative and less than terminationGracePeriodSeconds ({grace})"),
        )
    } else {
        (
            1,
            format!(
                "must be greater than 0 and less than terminationGracePeriodSeconds ({grace}). \
                 Enable AllowPodLifecycleSleepActionZeroValue feature gate for zero sleep."
            ),
        )
    };
    // The apiserver reports this on the `sleep` path itself, not on `seconds`.
    if seconds < min || seconds > grace {
        errs.push(FieldError::invalid_int(path, seconds.into(), &detail));
    }
}

/// hooklet's `wasm` action: a valid plugin name, and a positive fuel budget
/// when one is given.
pub(super) fn validate_wasm(wasm: &WasmAction, path: &str, errs: &mut Vec<FieldError>) {
    let plugin_path = format!("{path}.plugin");
    if wasm.plugin.is_empty() {
        errs.push(FieldError::required(
            &plugin_path,
            "must name a plugin: NAME for the file NAME.wasm in the plugin directory",
        ));
    } else {
        for msg in names::is_plugin_name(&wasm.plugin) {
            errs.push(FieldError::invalid_str(&plugin_path, &wasm.plugin, &msg));
        }
    }
    if wasm.fuel == Some(0) {
        errs.push(FieldError::invalid_int(
            &format!("{path}.fuel"),
            0,
            "must be greater than 0; omit fuel to use the plugin's or the node's default budget",
        ));
    }
}
