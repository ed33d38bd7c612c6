//! Redirect policy (`RedirectChecker(false)`): same hostname followed up to
//! 10 hops, another hostname not followed and counted as success.

use super::run_http_get;
use super::testserver::{
    action, client, container, header_lines, local, reply, request_line, TestServer,
};
use crate::spec::model::IntOrString;

/// A server that redirects `hops` times (relative `Location`s) and then answers 200.
async fn chain(hops: usize) -> TestServer {
    TestServer::http(move |i, _| {
        if i < hops {
            let location = format!("/hop/{}", i + 1);
            reply("HTTP/1.1 302 Found", &[("Location", &location)])
        } else {
            reply("HTTP/1.1 200 OK", &[])
        }
    })
    .await
}

#[tokio::test]
async fn same_host_chain_is_followed() {
    let server = chain(3).await;
    let report = run_http_get(
        &client(),
        &local(server.port(), "/start"),
        &container(&[]),
        None,
    )
    .await;
    assert_eq!(report.result, Ok(()));
    assert_eq!(report.status_line.as_deref(), Some("HTTP/1.1 200 OK"));
    let heads = server.heads();
    let lines: Vec<&str> = heads.iter().map(|h| request_line(h)).collect();
    assert_eq!(
        lines,
        [
            "GET /start HTTP/1.1",
            "GET /hop/1 HTTP/1.1",
            "GET /hop/2 HTTP/1.1",
            "GET /hop/3 HTTP/1.1"
        ]
    );
    // Go's client copies the first request's headers and adds a Referer.
    let second = header_lines(&heads[1]);
    assert!(second.contains(&"Accept: */*"), "{second:?}");
    let referer = format!("Referer: http://127.0.0.1:{}/start", server.port());
    assert!(second.contains(&referer.as_str()), "{second:?}");
}

/// Go stops "after 10 consecutive requests": 9 redirects are followed …
#[tokio::test]
async fn nine_redirects_are_followed_in_ten_requests() {
    let server = chain(9).await;
    let report = run_http_get(&client(), &local(server.port(), "/"), &container(&[]), None).await;
    assert_eq!(report.result, Ok(()));
    assert_eq!(server.heads().len(), 10);
}

/// … and the 10th redirect response is the error, quoting its raw `Location`.
#[tokio::test]
async fn the_tenth_redirect_stops() {
    for hops in [10, usize::MAX] {
        let server = chain(hops).await;
        let report =
            run_http_get(&client(), &local(server.port(), "/"), &container(&[]), None).await;
        assert_eq!(
            report.result,
            Err(r#"Get "/hop/10": stopped after 10 redirects"#.into())
        );
        assert_eq!(report.status_line.as_deref(), Some("HTTP/1.1 302 Found"));
        assert_eq!(server.heads().len(), 10);
    }
}

#[tokio::test]
async fn another_hostname_is_not_followed_and_counts_as_success() {
    let other = TestServer::http(|_, _| reply("HTTP/1.1 200 OK", &[])).await;
    let target = format!("http://localhost:{}/elsewhere", other.port());
    let server =
        TestServer::http(move |_, _| reply("HTTP/1.1 302 Found", &[("Location", &target)])).await;
    let mut a = local(server.port(), "/");
    a.fail_on_http_error = true;
    let report = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(report.result, Ok(()));
    assert_eq!(report.status_line.as_deref(), Some("HTTP/1.1 302 Found"));
    assert_eq!(server.heads().len(), 1);
    assert!(other.heads().is_empty());
}

#[tokio::test]
async fn same_hostname_may_change_port_and_scheme() {
    let tls = TestServer::https(|_, _| reply("HTTP/1.1 200 OK", &[])).await;
    let to_tls = format!("https://127.0.0.1:{}/secure", tls.port());
    let plain = TestServer::http(move |_, _| {
        reply("HTTP/1.1 301 Moved Permanently", &[("Location", &to_tls)])
    })
    .await;
    let report = run_http_get(&client(), &local(plain.port(), "/"), &container(&[]), None).await;
    assert_eq!(report.result, Ok(()));
    assert_eq!(request_line(&tls.heads()[0]), "GET /secure HTTP/1.1");
}

#[tokio::test]
async fn custom_host_header_is_kept_only_for_relative_locations() {
    let server = TestServer::http(|i, _| match i {
        0 => reply(
            "HTTP/1.1 307 Temporary Redirect",
            &[("Location", "/relative")],
        ),
        _ => reply("HTTP/1.1 200 OK", &[]),
    })
    .await;
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server.port().into()),
        "/",
        "HTTP",
        &[("Host", "vhost.test")],
    );
    assert_eq!(
        run_http_get(&client(), &a, &container(&[]), None)
            .await
            .result,
        Ok(())
    );
    assert_eq!(header_lines(&server.heads()[1])[0], "Host: vhost.test");

    let absolute = format!("http://127.0.0.1:{}/absolute", server.port());
    let server2 = TestServer::http(move |i, _| match i {
        0 => reply("HTTP/1.1 302 Found", &[("Location", &absolute)]),
        _ => reply("HTTP/1.1 200 OK", &[]),
    })
    .await;
    let a = action(
        Some("127.0.0.1"),
        IntOrString::Int(server2.port().into()),
        "/",
        "HTTP",
        &[("Host", "vhost.test")],
    );
    assert_eq!(
        run_http_get(&client(), &a, &container(&[]), None)
            .await
            .result,
        Ok(())
    );
    assert_eq!(
        header_lines(&server.heads()[2])[0],
        format!("Host: 127.0.0.1:{}", server.port())
    );
}

#[tokio::test]
async fn redirect_without_location_or_with_300_is_the_final_response() {
    let server = TestServer::http(|i, _| match i {
        0 => reply("HTTP/1.1 302 Found", &[]),
        _ => reply("HTTP/1.1 300 Multiple Choices", &[("Location", "/x")]),
    })
    .await;
    let a = local(server.port(), "/");
    let first = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(
        (first.result, first.status_line.as_deref()),
        (Ok(()), Some("HTTP/1.1 302 Found"))
    );
    let second = run_http_get(&client(), &a, &container(&[]), None).await;
    assert_eq!(second.result, Ok(()));
    assert_eq!(server.heads().len(), 2);
}

#[tokio::test]
async fn unparseable_location_is_an_error() {
    let server =
        TestServer::http(|_, _| reply("HTTP/1.1 302 Found", &[("Location", "http://h:x/")])).await;
    let report = run_http_get(
        &client(),
        &local(server.port(), "/p"),
        &container(&[]),
        None,
    )
    .await;
    let want = format!(
        r#"Get "http://127.0.0.1:{}/p": failed to parse Location header "http://h:x/": parse "http://h:x/": invalid port ":x" after host"#,
        server.port()
    );
    assert_eq!(report.result, Err(want));
}

#[tokio::test]
async fn failure_on_a_later_hop_names_that_hop() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_port = closed.local_addr().unwrap().port();
    drop(closed);
    let target = format!("http://127.0.0.1:{dead_port}/gone");
    let server =
        TestServer::http(move |_, _| reply("HTTP/1.1 302 Found", &[("Location", &target)])).await;
    let report = run_http_get(&client(), &local(server.port(), "/"), &container(&[]), None).await;
    let want = format!(
        r#"Get "http://127.0.0.1:{dead_port}/gone": dial tcp 127.0.0.1:{dead_port}: connect: connection refused"#
    );
    assert_eq!(report.result, Err(want));
}
