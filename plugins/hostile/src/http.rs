//! A minimal `wasi:http` client: one `GET` with no request body, reading at most
//! [`MAX_BODY`] bytes of the response.

mod bindings {
    wit_bindgen::generate!({
        world: "hooklet:hostile/http-client",
        path: "wit",
        generate_all,
        // cli.wit names an unstable-gated import; wit-parser 0.239 resolves it only when on.
        features: ["clocks-timezone"],
    });
}

use bindings::wasi::http::outgoing_handler;
use bindings::wasi::http::types::{Fields, Method, OutgoingRequest, Scheme};
use bindings::wasi::io::streams::StreamError;

/// The most response body bytes read.
const MAX_BODY: usize = 64 * 1024;

/// Sends `GET url` (`http://` or `https://`) and returns the status and the start of the
/// body, or the `wasi:http` error code as text.
pub fn get(url: &str) -> Result<(u16, Vec<u8>), String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else {
        return Err(format!(
            "hostile: url {url:?} must start with http:// or https://"
        ));
    };
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let fail = |what: &str| format!("hostile: GET {url}: {what}");

    let request = OutgoingRequest::new(Fields::new());
    request
        .set_method(&Method::Get)
        .map_err(|()| fail("bad method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| fail("bad scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| fail("bad authority"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| fail("bad path"))?;

    let pending = outgoing_handler::handle(request, None)
        .map_err(|code| fail(&format!("refused: {code:?}")))?;
    let response = loop {
        match pending.get() {
            Some(result) => break result,
            None => pending.subscribe().block(),
        }
    };
    let response = response
        .map_err(|()| fail("the response was already taken"))?
        .map_err(|code| fail(&format!("failed: {code:?}")))?;
    let status = response.status();
    let body = response.consume().map_err(|()| fail("no response body"))?;
    let stream = body.stream().map_err(|()| fail("no body stream"))?;
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match stream.blocking_read((MAX_BODY - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(err)) => {
                return Err(fail(&format!(
                    "reading the body: {}",
                    err.to_debug_string()
                )))
            }
        }
    }
    drop(stream);
    drop(body);
    Ok((status, bytes))
}
