//! The Go-faithful `net/url` of the httpGet path (`hooks::http::gourl`): `url.Parse`,
//! `URL.String()`, `URL.RequestURI()`, `Hostname()`/`Port()`, and `URL.Parse(ref)` (a
//! redirect's `Location` resolved against the request URL). The input is a base URL and,
//! after the first newline, a reference. Never a panic; a request URI starts with '/' or
//! is an opaque form, and holds no fragment.
#![no_main]

use hooklet::hooks::http::gourl::GoUrl;
use libfuzzer_sys::fuzz_target;

fn exercise(url: &GoUrl) {
    let printed = url.to_go_string();
    let _ = GoUrl::parse(&printed);
    let _ = url.request_uri();
    let _ = (url.hostname(), url.port());
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (base, reference) = text.split_once('\n').unwrap_or((&text, ""));
    // formatURL keeps an unparseable path as the literal path.
    let url = GoUrl::parse(base).unwrap_or_else(|_| GoUrl::with_literal_path(base));
    exercise(&url);
    if let Ok(resolved) = url.parse_reference(reference) {
        exercise(&resolved);
    }
});
