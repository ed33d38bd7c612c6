//! Response bodies (JSON, text, a line stream) and bounded request bodies.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::{header, Request, Response, StatusCode};
use serde::Serialize;
use tokio::sync::mpsc;

use super::error::ApiError;

/// The response body type of every endpoint.
pub type Body = BoxBody<Bytes, Infallible>;

/// Largest request body accepted (a manifest), in bytes.
pub const MAX_BODY: usize = 1024 * 1024;

/// A body that is empty.
pub fn empty() -> Body {
    Full::new(Bytes::new()).boxed()
}

/// A response with `status` and a JSON body.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let bytes = serde_json::to_vec_pretty(value).expect("API types serialise");
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(bytes)).boxed())
        .expect("a valid response")
}

/// A 200 response with a text body of `content_type`.
pub fn text(content_type: &str, bytes: impl Into<Bytes>) -> Response<Body> {
    Response::builder()
        .header(header::CONTENT_TYPE, content_type)
        .body(Full::new(bytes.into()).boxed())
        .expect("a valid response")
}

/// The response for an error (JSON naming the field).
pub fn error(err: ApiError) -> Response<Body> {
    json(err.status, &err.body)
}

/// A streaming 200 response fed line by line through the returned sender
/// (newline-delimited JSON). The stream ends when the sender is dropped.
pub fn stream() -> (mpsc::Sender<Bytes>, Response<Body>) {
    let (tx, rx) = mpsc::channel(64);
    let response = Response::builder()
        .header(header::CONTENT_TYPE, "application/x-ndjson")
        .body(ChannelBody(rx).boxed())
        .expect("a valid response");
    (tx, response)
}

struct ChannelBody(mpsc::Receiver<Bytes>);

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// How long a request body may take to arrive (the API's read timeout, put in the
/// request's extensions by the server; a 408 past it).
#[derive(Debug, Clone, Copy)]
pub struct ReadTimeout(pub std::time::Duration);

impl ReadTimeout {
    /// When a request carries none (a request made in a test, say).
    pub const DEFAULT: std::time::Duration = std::time::Duration::from_secs(30);
}

/// Reads a request body of at most [`MAX_BODY`] bytes (413 beyond), within the
/// request's [`ReadTimeout`] (408 past it).
pub async fn read_limited(req: Request<Incoming>) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body larger than {MAX_BODY} bytes; split the manifest into several files"),
            Some("body"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let timeout = req.extensions().get::<ReadTimeout>().map_or(ReadTimeout::DEFAULT, |t| t.0);
    let read = tokio::time::timeout(timeout, Limited::new(req.into_body(), MAX_BODY).collect());
    let Ok(read) = read.await else {
        let message = format!("the request body did not arrive within {timeout:?} (--api-read-timeout); send it at once");
        return Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, message, Some("body")));
    };
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
        Err(err) => Err(ApiError::bad_request("body", format!("cannot read the request body: {err}"))),
    }
}
