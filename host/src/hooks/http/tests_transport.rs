//! Transport behaviour: TLS without verification, the HTTPS→HTTP fallback,
//! body discarding, and Go's error texts for transport failures.

use std::time::Duration;

use super::run_http_get;
use super::testserver::{
    action, client, container, head, header_lines, local, reply, request_line, Reply, TestServer,
    UA,
};
use crate::spec::model::IntOrString;

/// Fails the test if the hook does not finish within a few seconds.
async fn within<T>(fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .expect("the hook should return promptly")
}

fn https(port: u16, path: &str, headers: &[(&str, &str)]) -> crate::spec::model::HttpGetAction {
    action(
        Some("127.0.0.1"),
        IntOrString::Int(port.into()),
        path,
        "HTTPS",
        headers,
    )
}

#[tokio::test]
async fn https_with_a_self_signed_certificate_succeeds() {
    let server = TestServer::https(|_, _| reply("HTTP/1.1 200 OK", &[])).await;
    let report = within(run_http_get(
        &client(),
        &https(server.port(), "/tls", &[]),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()), "{report:?}");
    assert_eq!(
        report.url,
        format!("https://127.0.0.1:{}/tls", server.port())
    );
    assert_eq!(report.fallback, None);
    assert_eq!(request_line(&server.heads()[0]), "GET /tls HTTP/1.1");
}

#[tokio::test]
async fn https_to_a_plain_http_server_falls_back_without_authorization() {
    let server = TestServer::http(|_, _| reply("HTTP/1.1 200 OK", &[])).await;
    let headers = [("Authorization", "Bearer secret"), ("X-Keep", "yes")];
    let report = within(run_http_get(
        &client(),
        &https(server.port(), "/fb", &headers),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()), "{report:?}");
    assert_eq!(
        report.fallback,
        Some(format!("127.0.0.1:{}", server.port()))
    );
    assert_eq!(
        report.url,
        format!("https://127.0.0.1:{}/fb", server.port())
    );
    assert_eq!(report.status_line.as_deref(), Some("HTTP/1.1 200 OK"));
    let heads = server.heads();
    assert_eq!(heads.len(), 1, "only the HTTP retry is an HTTP request");
    let lines = header_lines(&heads[0]);
    assert!(
        !lines.iter().any(|l| l.starts_with("Authorization")),
        "{lines:?}"
    );
    assert!(lines.contains(&"X-Keep: yes"), "{lines:?}");
    let ua = format!("User-Agent: {UA}");
    assert!(
        lines.contains(&ua.as_str()) && lines.contains(&"Accept: */*"),
        "{lines:?}"
    );
}

#[tokio::test]
async fn failed_fallback_returns_the_https_error() {
    // Answers TLS with plain HTTP, then drops the HTTP retry without a response.
    let server = TestServer::http(|_, _| Reply::Close(Vec::new())).await;
    let report = within(run_http_get(
        &client(),
        &https(server.port(), "/", &[]),
        &container(&[]),
        None,
    ))
    .await;
    let want = format!(
        r#"Get "https://127.0.0.1:{}/": http: server gave HTTP response to HTTPS client"#,
        server.port()
    );
    assert_eq!(report.result, Err(want));
    assert_eq!(report.fallback, None);
    assert_eq!(server.heads().len(), 1, "the retry reached the server");
}

#[tokio::test]
async fn connection_refused_text() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let report = within(run_http_get(
        &client(),
        &local(port, "/x"),
        &container(&[]),
        None,
    ))
    .await;
    let want = format!(
        r#"Get "http://127.0.0.1:{port}/x": dial tcp 127.0.0.1:{port}: connect: connection refused"#
    );
    assert_eq!(report.result, Err(want));
    assert_eq!(report.status_line, None);
}

#[tokio::test]
async fn huge_declared_body_is_not_read() {
    let server = TestServer::http(|_, _| {
        Reply::Endless(head(
            "HTTP/1.1 200 OK",
            &[("Content-Length", "1000000000000")],
        ))
    })
    .await;
    let report = within(run_http_get(
        &client(),
        &local(server.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()));
}

#[tokio::test]
async fn unknown_length_body_is_read_up_to_10_kib_only() {
    let server = TestServer::http(|_, _| {
        Reply::Endless(head(
            "HTTP/1.1 200 OK",
            &[("Transfer-Encoding", "identity")],
        ))
    })
    .await;
    let report = within(run_http_get(
        &client(),
        &local(server.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()));
    let chunked = TestServer::http(|_, _| {
        let mut bytes = head("HTTP/1.1 200 OK", &[("Transfer-Encoding", "chunked")]);
        bytes.extend_from_slice(b"4000\r\n");
        bytes.extend(std::iter::repeat_n(b'x', 0x4000));
        bytes.extend_from_slice(b"\r\n");
        Reply::Hold(bytes)
    })
    .await;
    let report = within(run_http_get(
        &client(),
        &local(chunked.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()));
}

/// Like the kubelet, a small declared body is read in full: no internal timeout.
#[tokio::test]
async fn small_declared_body_is_awaited() {
    let server = TestServer::http(|_, _| {
        let mut bytes = head("HTTP/1.1 200 OK", &[("Content-Length", "100")]);
        bytes.extend_from_slice(b"only part");
        Reply::Hold(bytes)
    })
    .await;
    let (c, a, cont) = (client(), local(server.port(), "/"), container(&[]));
    let hook = run_http_get(&c, &a, &cont, None);
    assert!(tokio::time::timeout(Duration::from_millis(300), hook)
        .await
        .is_err());
}

#[tokio::test]
async fn closed_without_response_is_eof() {
    let server = TestServer::http(|_, _| Reply::Close(Vec::new())).await;
    let report = within(run_http_get(
        &client(),
        &local(server.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(
        report.result,
        Err(format!(r#"Get "http://127.0.0.1:{}/": EOF"#, server.port()))
    );
}

#[tokio::test]
async fn malformed_response_text() {
    let server = TestServer::http(|_, _| Reply::Close(b"garbage\r\n\r\n".to_vec())).await;
    let report = within(run_http_get(
        &client(),
        &local(server.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    let want = format!(
        r#"Get "http://127.0.0.1:{}/": net/http: HTTP/1.x transport connection broken: malformed HTTP response "garbage""#,
        server.port()
    );
    assert_eq!(report.result, Err(want));
}

#[tokio::test]
async fn unsupported_scheme_and_missing_host_texts() {
    let a = action(Some("127.0.0.1"), IntOrString::Int(8080), "/", "baz", &[]);
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        report.result,
        Err(r#"Get "baz://127.0.0.1:8080/": unsupported protocol scheme "baz""#.into())
    );
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(8080),
        "a:b",
        "HTTP",
        &[],
    );
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        report.result,
        Err(r#"Get "http:b": http: no Host in request URL"#.into())
    );
    let a = action(Some("bad host"), IntOrString::Int(8080), "/", "HTTP", &[]);
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        report.result,
        Err(r#"parse "http://bad%20host:8080/": invalid URL escape "%20""#.into())
    );
}

#[tokio::test]
async fn unknown_host_is_a_lookup_error() {
    let a = action(
        Some("no-such-host.invalid"),
        IntOrString::Int(80),
        "/",
        "HTTP",
        &[],
    );
    let report = within(run_http_get(&client(), &a, &container(&[]), None)).await;
    let err = report.result.unwrap_err();
    assert!(
        err.starts_with(
            r#"Get "http://no-such-host.invalid:80/": dial tcp: lookup no-such-host.invalid"#
        ),
        "{err}"
    );
}

#[tokio::test]
async fn many_response_headers_are_accepted_like_go() {
    let server = TestServer::http(|_, _| {
        let names: Vec<String> = (0..300).map(|i| format!("X-H{i}")).collect();
        let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        reply("HTTP/1.1 200 OK", &headers)
    })
    .await;
    let report = within(run_http_get(
        &client(),
        &local(server.port(), "/"),
        &container(&[]),
        None,
    ))
    .await;
    assert_eq!(report.result, Ok(()));
}
