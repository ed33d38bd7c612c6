//! Request shape and status handling against a real server (spec §4
//! "Request", kubelet `TestRunHTTPHandler` cases).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::testserver::{
    action, client, container, head, header_lines, local, reply, request_line, Reply, TestServer, UA,
};
use super::{run_http_get, HttpHookReport};
use crate::spec::model::IntOrString;

async fn ok_server() -> TestServer {
    TestServer::http(|_, _| reply("HTTP/1.1 200 OK", &[])).await
}

fn ok(report: &HttpHookReport) {
    assert_eq!(report.result, Ok(()), "{report:?}");
}

#[tokio::test]
async fn default_request_is_exactly_what_go_sends() {
    let server = ok_server().await;
    let report = run_http_get(
        &client(),
        &local(server.port(), "foo?k=v#frag"),
        &container(&[]),
        None,
    )
    .await;
    ok(&report);
    let port = server.port();
    assert_eq!(report.url, format!("http://127.0.0.1:{port}/foo?k=v#frag"));
    assert_eq!(report.status_line.as_deref(), Some("HTTP/1.1 200 OK"));
    assert_eq!(report.fallback, None);
    let heads = server.heads();
    assert_eq!(heads.len(), 1);
    assert_eq!(request_line(&heads[0]), "GET /foo?k=v HTTP/1.1");
    let host = format!("Host: 127.0.0.1:{port}");
    let ua = format!("User-Agent: {UA}");
    assert_eq!(
        header_lines(&heads[0]),
        vec![
            host.as_str(),
            ua.as_str(),
            "Accept: */*",
            "Accept-Encoding: gzip"
        ]
    );
}

#[tokio::test]
async fn path_with_and_without_leading_slash() {
    let server = ok_server().await;
    for path in ["/a/b", "a/b"] {
        ok(&run_http_get(
            &client(),
            &local(server.port(), path),
            &container(&[]),
            None,
        )
        .await);
    }
    ok(&run_http_get(&client(), &local(server.port(), ""), &container(&[]), None).await);
    let lines: Vec<String> = server
        .heads()
        .iter()
        .map(|h| request_line(h).to_string())
        .collect();
    assert_eq!(
        lines,
        ["GET /a/b HTTP/1.1", "GET /a/b HTTP/1.1", "GET / HTTP/1.1"]
    );
}

#[tokio::test]
async fn user_headers_are_added_in_order_with_repeats() {
    let server = ok_server().await;
    let headers = [
        ("x-custom", "one"),
        ("X-Custom", "two"),
        ("Authorization", "Bearer t"),
        ("X-Spaced", "  v  "),
    ];
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &headers,
    );
    ok(&run_http_get(&client(), &a, &container(&[]), None).await);
    let head = &server.heads()[0];
    let lines = header_lines(head);
    assert_eq!(
        &lines[2..],
        [
            "Accept: */*",
            "Authorization: Bearer t",
            "X-Custom: one",
            "X-Custom: two",
            "X-Spaced: v",
            "Accept-Encoding: gzip"
        ]
    );
}

#[tokio::test]
async fn user_agent_override_and_empty_accept_removal() {
    let server = ok_server().await;
    let headers = [("User-Agent", "my-agent/2"), ("Accept", "")];
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &headers,
    );
    ok(&run_http_get(&client(), &a, &container(&[]), None).await);
    let head = &server.heads()[0];
    let lines = header_lines(head);
    assert_eq!(
        &lines[1..],
        ["User-Agent: my-agent/2", "Accept-Encoding: gzip"]
    );

    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &[("Accept", "text/plain")],
    );
    ok(&run_http_get(&client(), &a, &container(&[]), None).await);
    assert!(header_lines(&server.heads()[1]).contains(&"Accept: text/plain"));
}

#[tokio::test]
async fn host_header_sets_virtual_host_while_connecting_to_url_host() {
    let server = ok_server().await;
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &[("Host", "from.header")],
    );
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    ok(&report);
    assert_eq!(report.url, format!("http://127.0.0.1:{}/", server.port()));
    let head = &server.heads()[0];
    let lines = header_lines(head);
    assert_eq!(lines[0], "Host: from.header");
    assert_eq!(lines.iter().filter(|l| l.starts_with("Host:")).count(), 1);
}

#[tokio::test]
async fn pod_ip_is_the_default_host_and_named_ports_resolve() {
    let server = ok_server().await;
    let a = action(None, IntOrString::String("web".into()), "/", "HTTP", &[]);
    let c = container(&[("metrics", 1), ("web", server.port())]);
    let report = run_http_get(&client(), &a, &c, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).await;
    ok(&report);
    assert_eq!(report.url, format!("http://127.0.0.1:{}/", server.port()));
    // An explicit empty host also means "use the pod IP".
    let a = action(
        Some(""),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &[],
    );
    ok(&run_http_get(&client(), &a, &c, Some(IpAddr::V4(Ipv4Addr::LOCALHOST))).await);
    assert_eq!(server.heads().len(), 2);
}

#[tokio::test]
async fn ipv6_pod_ip_is_bracketed() {
    let ip = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let Some(server) = TestServer::http_on(ip, |_, _| reply("HTTP/1.1 200 OK", &[])).await else {
        eprintln!("skipped: ::1 cannot be bound here");
        return;
    };
    let a = action(
        None,
        IntOrString::Int(server.port().into()),
        "/v6",
        "HTTP",
        &[],
    );
    let report = run_http_get(&client(), &a, &container(&[]), Some(ip)).await;
    ok(&report);
    assert_eq!(report.url, format!("http://[::1]:{}/v6", server.port()));
    assert_eq!(
        header_lines(&server.heads()[0])[0],
        format!("Host: [::1]:{}", server.port())
    );
}

#[tokio::test]
async fn missing_host_and_pod_ip_fails_before_any_request() {
    let a = action(None, IntOrString::Int(80), "/", "HTTP", &[]);
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        report.result,
        Err("failed to find networking container: the pod has no IP address".into())
    );
    assert_eq!((report.url.as_str(), report.status_line), ("", None));
}

#[tokio::test]
async fn port_errors_are_the_kubelet_texts() {
    let bad_name = action(
        Some("127.0.0.1"),
        IntOrString::String("nope".into()),
        "/",
        "HTTP",
        &[],
    );
    let report = run_http_get(&client(), &bad_name, &container(&[("web", 80)]), None).await;
    assert_eq!(
        report.result,
        Err(r#"strconv.Atoi: parsing "nope": invalid syntax"#.into())
    );
    let empty = action(
        Some("127.0.0.1"),
        IntOrString::String(String::new()),
        "/",
        "HTTP",
        &[],
    );
    let report = run_http_get(&client(), &empty, &container(&[("web", 80)]), None).await;
    assert_eq!(
        report.result,
        Err(r#"strconv.Atoi: parsing "": invalid syntax"#.into())
    );
    let zero = action(Some("127.0.0.1"), IntOrString::Int(0), "/", "HTTP", &[]);
    assert_eq!(
        run_http_get(&client(), &zero, &container(&[]), None)
            .await
            .result,
        Err("invalid port number: 0".into())
    );
}

#[tokio::test]
async fn any_status_is_success_by_default() {
    let server = TestServer::http(|i, _| match i {
        0 => reply("HTTP/1.1 404 Not Found", &[]),
        1 => reply("HTTP/1.1 500 Internal Server Error", &[]),
        _ => reply("HTTP/1.1 200 Fine By Me", &[]),
    })
    .await;
    let a = local(server.port(), "/");
    let first = run_http_get(&client(), &a, &container(&[]), None).await;
    ok(&first);
    assert_eq!(first.status_line.as_deref(), Some("HTTP/1.1 404 Not Found"));
    let second = run_http_get(&client(), &a, &container(&[]), None).await;
    ok(&second);
    assert_eq!(
        second.status_line.as_deref(),
        Some("HTTP/1.1 500 Internal Server Error")
    );
    let third = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        third.status_line.as_deref(),
        Some("HTTP/1.1 200 Fine By Me")
    );
}

#[tokio::test]
async fn fail_on_http_error_rejects_non_2xx_3xx() {
    let server = TestServer::http(|i, _| match i {
        0 => reply("HTTP/1.1 500 Internal Server Error", &[]),
        1 => reply("HTTP/1.1 404 Not Found", &[]),
        2 => reply("HTTP/1.1 304 Not Modified", &[]),
        _ => reply("HTTP/1.1 204 No Content", &[]),
    })
    .await;
    let mut a = local(server.port(), "/");
    a.fail_on_http_error = true;
    let (c, cont) = (client(), container(&[]));
    let run = || run_http_get(&c, &a, &cont, None);
    let report = run().await;
    assert_eq!(
        report.result,
        Err("HTTP request failed with statuscode: 500".into())
    );
    assert_eq!(
        report.status_line.as_deref(),
        Some("HTTP/1.1 500 Internal Server Error")
    );
    assert_eq!(
        run().await.result,
        Err("HTTP request failed with statuscode: 404".into())
    );
    ok(&run().await);
    ok(&run().await);
}

#[tokio::test]
async fn fail_on_http_error_puts_the_start_of_the_body_in_the_message() {
    let body = format!("the plugin failed the hook: not ready\n{}", "x".repeat(3000));
    let response = [head("HTTP/1.1 500 Internal Server Error", &[("Content-Length", &body.len().to_string())]), body.into_bytes()].concat();
    let server = TestServer::http(move |_, _| Reply::Close(response.clone())).await;
    let mut a = local(server.port(), "/");
    a.fail_on_http_error = true;
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    let error = report.result.unwrap_err();
    assert!(
        error.starts_with("HTTP request failed with statuscode: 500, body: \"the plugin failed the hook: not ready\\nxxx"),
        "{error}"
    );
    assert!(error.ends_with("… (2014 more bytes)\""), "the body is cut at 1 KiB: {error}");
}

/// The lead spawns hooks on the multi-threaded runtime: the future must be `Send`.
#[test]
fn run_http_get_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let (c, a, cont) = (client(), local(1, "/"), container(&[]));
    let fut = run_http_get(&c, &a, &cont, None);
    assert_send(&fut);
    fn assert_sync_client<T: Send + Sync + Clone>() {}
    assert_sync_client::<super::HttpHookClient>();
}
