//! What one hook request asks for: `GET /hooks/PLUGIN?phase=preStop&KEY=VALUE…`, as the
//! kubelet's `httpGet` handler sends it (any `User-Agent`, `Accept: */*`, the manifest's
//! `httpHeaders`; no body).

use std::time::Duration;

use hyper::HeaderMap;

use crate::api::routes::decode;
use crate::hooks::Delivery;
use crate::spec::HookPhase;

/// The query parameters the gateway reads itself; every other one is plugin config.
pub const RESERVED: [&str; 3] = ["phase", "container", "deadline"];

/// The request header that carries a delivery id, and the one that carries its attempt.
pub const DELIVERY_ID_HEADER: &str = "x-hooklet-delivery-id";
/// See [`DELIVERY_ID_HEADER`].
pub const ATTEMPT_HEADER: &str = "x-hooklet-attempt";

/// One parsed hook request.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRequest {
    /// The plugin: `PLUGIN.wasm` in the plugin directory.
    pub plugin: String,
    /// `phase=postStart` or `phase=preStop`.
    pub phase: HookPhase,
    /// `container=NAME`: whose hook this is (default `app`).
    pub container: String,
    /// `deadline=DURATION` (`500ms`, `10s`): when the plugin is stopped.
    pub deadline: Option<Duration>,
    /// Every other query parameter, in order: the handler's config.
    pub config: Vec<(String, String)>,
    /// From `X-Hooklet-Delivery-Id` / `X-Hooklet-Attempt`, else a fresh id, attempt 1
    /// (the kubelet never retries a hook).
    pub delivery: Delivery,
}

/// The container name when the request names none.
pub const DEFAULT_CONTAINER: &str = "app";

/// A request the gateway cannot serve, with the text of its 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadRequest {
    /// Not `/hooks/PLUGIN`: 404.
    NotFound(String),
    /// A bad query or header: 400.
    Invalid(String),
}

impl HookRequest {
    /// Parses `path` (which starts with `/hooks/`), `query` and `headers`.
    pub fn parse(path: &str, query: &str, headers: &HeaderMap) -> Result<HookRequest, BadRequest> {
        let plugin = path.strip_prefix("/hooks/").unwrap_or_default();
        let plugin = decode(plugin).unwrap_or_default();
        if plugin.is_empty() || plugin.contains('/') || plugin.starts_with('.') {
            return Err(BadRequest::NotFound(format!(
                "{path} names no plugin: hooks are served at /hooks/PLUGIN (PLUGIN.wasm in the plugin directory)\n"
            )));
        }
        let mut phase = None;
        let mut container = None;
        let mut deadline = None;
        let mut config = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(k), Some(v)) = (decode(k), decode(v)) else {
                return Err(BadRequest::Invalid(format!("bad percent-encoding in query parameter {pair:?}\n")));
            };
            match k.as_str() {
                "phase" => phase = Some(parse_phase(&v)?),
                "container" => container = Some(v),
                "deadline" => deadline = Some(parse_deadline(&v)?),
                _ => config.push((k, v)),
            }
        }
        let phase = phase.ok_or_else(|| {
            BadRequest::Invalid(
                "missing query parameter phase: end the hook's path with ?phase=postStart or ?phase=preStop\n".into(),
            )
        })?;
        Ok(HookRequest {
            plugin,
            phase,
            container: container.filter(|c| !c.is_empty()).unwrap_or_else(|| DEFAULT_CONTAINER.into()),
            deadline,
            config,
            delivery: delivery(headers)?,
        })
    }
}

fn parse_phase(value: &str) -> Result<HookPhase, BadRequest> {
    match value {
        "postStart" | "PostStart" => Ok(HookPhase::PostStart),
        "preStop" | "PreStop" => Ok(HookPhase::PreStop),
        other => Err(BadRequest::Invalid(format!(
            "query parameter phase={other:?} is neither postStart nor preStop\n"
        ))),
    }
}

fn parse_deadline(value: &str) -> Result<Duration, BadRequest> {
    match humantime::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(BadRequest::Invalid("query parameter deadline=0 leaves the plugin no time; give a duration such as 500ms or 10s\n".into())),
        Err(err) => Err(BadRequest::Invalid(format!(
            "query parameter deadline={value:?} is not a duration ({err}); examples: 500ms, 10s\n"
        ))),
    }
}

/// The delivery of `headers`: their id and attempt, else a fresh one.
fn delivery(headers: &HeaderMap) -> Result<Delivery, BadRequest> {
    let text = |name: &str| -> Result<Option<String>, BadRequest> {
        match headers.get(name) {
            None => Ok(None),
            Some(value) => match value.to_str() {
                Ok(v) if !v.trim().is_empty() => Ok(Some(v.trim().to_string())),
                _ => Err(BadRequest::Invalid(format!("header {name} is empty or not text\n"))),
            },
        }
    };
    let mut delivery = Delivery::new();
    if let Some(id) = text(DELIVERY_ID_HEADER)? {
        delivery.id = id;
    }
    if let Some(attempt) = text(ATTEMPT_HEADER)? {
        delivery.attempt = attempt
            .parse()
            .ok()
            .filter(|a| *a >= 1)
            .ok_or_else(|| BadRequest::Invalid(format!("header {ATTEMPT_HEADER}: {attempt:?} is not a number from 1\n")))?;
    }
    Ok(delivery)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phase_container_deadline_and_config_come_from_the_query() {
        let r = HookRequest::parse("/hooks/marker", "phase=preStop&container=web&deadline=1500ms&dir=%2Fout&message=a+b", &HeaderMap::new()).unwrap();
        assert_eq!((r.plugin.as_str(), r.phase, r.container.as_str()), ("marker", HookPhase::PreStop, "web"));
        assert_eq!(r.deadline, Some(Duration::from_millis(1500)));
        assert_eq!(r.config, vec![("dir".into(), "/out".into()), ("message".into(), "a b".into())]);
        assert_eq!(r.delivery.attempt, 1);
        let default = HookRequest::parse("/hooks/noop", "phase=postStart", &HeaderMap::new()).unwrap();
        assert_eq!((default.container.as_str(), default.deadline), ("app", None));
    }

    #[test]
    fn the_delivery_comes_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(DELIVERY_ID_HEADER, "d-42".parse().unwrap());
        headers.insert(ATTEMPT_HEADER, "3".parse().unwrap());
        let r = HookRequest::parse("/hooks/noop", "phase=postStart", &headers).unwrap();
        assert_eq!((r.delivery.id.as_str(), r.delivery.attempt), ("d-42", 3));
        headers.insert(ATTEMPT_HEADER, "0".parse().unwrap());
        let err = HookRequest::parse("/hooks/noop", "phase=postStart", &headers).unwrap_err();
        assert!(matches!(err, BadRequest::Invalid(m) if m.contains("x-hooklet-attempt")));
    }

    #[test]
    fn bad_requests_say_what_to_fix() {
        let h = HeaderMap::new();
        let missing = HookRequest::parse("/hooks/noop", "", &h).unwrap_err();
        assert!(matches!(missing, BadRequest::Invalid(m) if m.contains("?phase=postStart")));
        let bad = HookRequest::parse("/hooks/noop", "phase=start", &h).unwrap_err();
        assert!(matches!(bad, BadRequest::Invalid(m) if m.contains("neither postStart nor preStop")));
        let deadline = HookRequest::parse("/hooks/noop", "phase=preStop&deadline=soon", &h).unwrap_err();
        assert!(matches!(deadline, BadRequest::Invalid(m) if m.contains("not a duration")));
        for path in ["/hooks/", "/hooks/a/b", "/hooks/..x"] {
            assert!(matches!(HookRequest::parse(path, "phase=preStop", &h), Err(BadRequest::NotFound(_))), "{path}");
        }
    }
}
