//! Go-style error texts.
//!
//! The kubelet's httpGet errors are Go error values printed with `%v`. These
//! helpers render the same texts from Rust values: `strconv.Quote`, `*url.Error`,
//! `*net.OpError` around a syscall errno.

pub(crate) use crate::gostr::go_quote;
use std::io;
use std::net::SocketAddr;

/// `*url.Error{Op: "Get", URL, Err}` as Go prints it: `Get "<url>": <err>`.
pub(crate) fn url_error(url: &str, err: &str) -> String {
    format!("Get {}: {}", go_quote(url), err)
}

/// The text of a syscall errno as Go's `syscall.Errno.Error()` spells it
/// (lower-case first letter, no `(os error N)` suffix).
pub(crate) fn errno_text(err: &io::Error) -> String {
    let Some(code) = err.raw_os_error() else {
        return match err.kind() {
            io::ErrorKind::ConnectionRefused => "connection refused".into(),
            io::ErrorKind::ConnectionReset => "connection reset by peer".into(),
            io::ErrorKind::BrokenPipe => "broken pipe".into(),
            io::ErrorKind::TimedOut => "connection timed out".into(),
            _ => err.to_string(),
        };
    };
    let text = io::Error::from_raw_os_error(code).to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) => text[..i].to_string(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// `dial tcp <addr>: connect: <errno>` (`*net.OpError` around `connect(2)`).
pub(crate) fn dial_error(addr: SocketAddr, err: &io::Error) -> String {
    format!("dial tcp {addr}: connect: {}", errno_text(err))
}

/// `read tcp <local>-><remote>: read: <errno>` (or `write … write:` for a broken pipe).
pub(crate) fn conn_io_error(
    local: Option<SocketAddr>,
    remote: SocketAddr,
    err: &io::Error,
) -> String {
    let op = if err.kind() == io::ErrorKind::BrokenPipe {
        "write"
    } else {
        "read"
    };
    let addrs = match local {
        Some(local) => format!("{local}->{remote}"),
        None => remote.to_string(),
    };
    format!("{op} tcp {addrs}: {op}: {}", errno_text(err))
}

/// Go's `*net.DNSError` text for a failed lookup of `host`:
/// `lookup <host> on <nameserver>:53: no such host`, naming the first
/// nameserver of `/etc/resolv.conf` as Go's resolver does.
pub(crate) fn lookup_error_text(host: &str, err: &io::Error) -> String {
    let text = err.to_string();
    let not_found = [
        "not known",
        "No address associated",
        "nodename nor servname",
    ];
    let why = if not_found.iter().any(|m| text.contains(m)) {
        "no such host".to_string()
    } else {
        text.rsplit(": ").next().unwrap_or(&text).to_string()
    };
    let server = std::fs::read_to_string("/etc/resolv.conf")
        .ok()
        .and_then(|conf| {
            conf.lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .filter_map(|ns| ns.trim().parse::<std::net::IpAddr>().ok())
                .map(|ip| format!(" on {}", SocketAddr::new(ip, 53)))
                .next()
        });
    format!("lookup {host}{}: {why}", server.unwrap_or_default())
}

/// Go's text for a failure between sending the request and reading the response head.
pub(crate) fn response_error(
    err: &hyper::Error,
    seen: &[u8],
    local: Option<SocketAddr>,
    remote: SocketAddr,
) -> String {
    const BROKEN: &str = "net/http: HTTP/1.x transport connection broken";
    let eof = || {
        if seen.is_empty() {
            "EOF".to_string()
        } else {
            format!("{BROKEN}: unexpected EOF")
        }
    };
    let mut source = std::error::Error::source(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            return if io.kind() == io::ErrorKind::UnexpectedEof {
                eof()
            } else {
                conn_io_error(local, remote, io)
            };
        }
        source = e.source();
    }
    if err.is_incomplete_message() {
        return eof();
    }
    if err.is_parse_too_large() {
        let limit = super::client::GO_MAX_RESPONSE_HEADER_BYTES;
        return format!("net/http: server response headers exceeded {limit} bytes; aborted");
    }
    if err.is_parse() || err.is_parse_status() {
        let first = seen.split(|&c| c == b'\n').next().unwrap_or(b"");
        let line = String::from_utf8_lossy(first.strip_suffix(b"\r").unwrap_or(first)).into_owned();
        if let Some(text) = go_status_line_error(&line) {
            return format!("{BROKEN}: {text}");
        }
    }
    format!("{BROKEN}: {err}")
}

/// The checks of Go's `ReadResponse` on the status line, with their texts.
fn go_status_line_error(line: &str) -> Option<String> {
    let Some((proto, status)) = line.split_once(' ') else {
        return Some(format!("malformed HTTP response {}", go_quote(line)));
    };
    let status = status.trim_start_matches(' ');
    let code = status.split_once(' ').map_or(status, |(code, _)| code);
    if code.len() != 3 || !code.bytes().all(|c| c.is_ascii_digit()) {
        return Some(format!("malformed HTTP status code {}", go_quote(code)));
    }
    let version = proto.as_bytes();
    let version_ok = version.len() == 8
        && proto.starts_with("HTTP/")
        && version[5].is_ascii_digit()
        && version[6] == b'.'
        && version[7].is_ascii_digit();
    if !version_ok {
        return Some(format!("malformed HTTP version {}", go_quote(proto)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(go_quote("foo"), r#""foo""#);
        assert_eq!(go_quote(""), r#""""#);
        assert_eq!(go_quote("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(go_quote("x\ny\t\u{1}"), r#""x\ny\t\x01""#);
        assert_eq!(go_quote("ünï"), "\"ünï\"");
    }

    #[test]
    fn url_error_shape() {
        assert_eq!(
            url_error("http://127.0.0.1:1/x", "EOF"),
            r#"Get "http://127.0.0.1:1/x": EOF"#
        );
    }

    #[test]
    fn errno_texts_are_go_spelled() {
        let refused = io::Error::from_raw_os_error(111);
        assert_eq!(errno_text(&refused), "connection refused");
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(
            dial_error(addr, &refused),
            "dial tcp 127.0.0.1:1: connect: connection refused"
        );
        let reset = io::Error::from_raw_os_error(104);
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        assert_eq!(
            conn_io_error(Some(local), addr, &reset),
            "read tcp 127.0.0.1:5000->127.0.0.1:1: read: connection reset by peer"
        );
    }

    #[test]
    fn status_line_checks_match_read_response() {
        assert_eq!(
            go_status_line_error("garbage").unwrap(),
            r#"malformed HTTP response "garbage""#
        );
        assert_eq!(
            go_status_line_error("HTTP/1.1 2000 OK").unwrap(),
            r#"malformed HTTP status code "2000""#
        );
        assert_eq!(
            go_status_line_error("HTTPS/1 200 OK").unwrap(),
            r#"malformed HTTP version "HTTPS/1""#
        );
        assert_eq!(go_status_line_error("HTTP/1.1 200 OK"), None);
    }
}
