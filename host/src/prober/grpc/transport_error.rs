//! Maps hyper/h2 transport failures during the RPC to the status grpc-go's
//! client would report, so the "health rpc probe failed" text does not
//! depend on which tonic features happen to be on.
//!
//! | failure | status (grpc-go) |
//! |---|---|
//! | the server reset the stream | `<code> stream terminated by RST_STREAM with error code: PROTOCOL_ERROR` (codes as grpc-go's `http2ErrConvTab`) |
//! | the connection closed (EOF, broken pipe) | `Unavailable error reading from server: EOF` |
//! | any other I/O or protocol error | `Unavailable error reading from server: <hyper's error chain>` (grpc-go: the Go `net` error, e.g. `read tcp a->b: read: connection reset by peer`) |

use std::error::Error as StdError;
use std::io::ErrorKind;

use h2::Reason;
use tonic::{Code, Status};

/// The status grpc-go would give for `err`, a transport failure.
pub(crate) fn transport_status(err: hyper::Error) -> Status {
    let remote_reset = find_source::<h2::Error>(&err)
        .filter(|h2| h2.is_reset() && h2.is_remote())
        .and_then(h2::Error::reason);
    if let Some(reason) = remote_reset {
        let message = format!(
            "stream terminated by RST_STREAM with error code: {}",
            reason_name(reason)
        );
        return Status::new(code_for_reason(reason), message);
    }
    let io_kind = find_source::<std::io::Error>(&err).map(std::io::Error::kind);
    let closed = matches!(
        io_kind,
        Some(ErrorKind::UnexpectedEof | ErrorKind::BrokenPipe)
    );
    if closed || err.is_closed() || err.is_canceled() {
        return eof();
    }
    Status::unavailable(format!("error reading from server: {}", error_chain(&err)))
}

fn eof() -> Status {
    Status::unavailable("error reading from server: EOF")
}

/// grpc-go's `http2ErrConvTab`.
fn code_for_reason(reason: Reason) -> Code {
    match reason {
        Reason::FLOW_CONTROL_ERROR | Reason::ENHANCE_YOUR_CALM => Code::ResourceExhausted,
        Reason::REFUSED_STREAM => Code::Unavailable,
        Reason::CANCEL => Code::Cancelled,
        Reason::INADEQUATE_SECURITY => Code::PermissionDenied,
        _ => Code::Internal,
    }
}

/// Go's `http2.ErrCode.String()`: the name, or `unknown error code 0x..`.
fn reason_name(reason: Reason) -> String {
    let code = u32::from(reason);
    if code <= 0xd {
        format!("{reason:?}")
    } else {
        format!("unknown error code 0x{code:x}")
    }
}

/// `err` and its sources, joined by `: `, without repeats (hyper's Display
/// sometimes already includes its source).
fn error_chain(err: &(dyn StdError + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.ends_with(&part) {
            text = format!("{text}: {part}");
        }
        source = e.source();
    }
    text
}

fn find_source<'a, E: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<E>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_like_grpc_go() {
        assert_eq!(code_for_reason(Reason::PROTOCOL_ERROR), Code::Internal);
        assert_eq!(code_for_reason(Reason::NO_ERROR), Code::Internal);
        assert_eq!(code_for_reason(Reason::REFUSED_STREAM), Code::Unavailable);
        assert_eq!(code_for_reason(Reason::CANCEL), Code::Cancelled);
        assert_eq!(
            code_for_reason(Reason::ENHANCE_YOUR_CALM),
            Code::ResourceExhausted
        );
        assert_eq!(reason_name(Reason::PROTOCOL_ERROR), "PROTOCOL_ERROR");
        assert_eq!(reason_name(Reason::HTTP_1_1_REQUIRED), "HTTP_1_1_REQUIRED");
        assert_eq!(reason_name(Reason::from(0x1f)), "unknown error code 0x1f");
    }

    #[derive(Debug)]
    struct Wrapper(&'static str, std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn chains_join_sources_once() {
        let err = Wrapper("connection error", std::io::Error::other("broken pipe"));
        assert_eq!(error_chain(&err), "connection error: broken pipe");
        let err = Wrapper(
            "send failed: broken pipe",
            std::io::Error::other("broken pipe"),
        );
        assert_eq!(error_chain(&err), "send failed: broken pipe");
        assert_eq!(
            find_source::<std::io::Error>(&err).map(|e| e.to_string()),
            Some("broken pipe".into())
        );
    }
}
