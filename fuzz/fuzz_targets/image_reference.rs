//! Image references (a pod's `image`, an archive's annotation, `hooklet plugin pull`):
//! `Reference::parse` refuses what Docker refuses, and what it accepts is normalised to a
//! fixed point: the printed form parses back to the same reference. Never a panic.
#![no_main]

use hooklet::image::reference::Reference;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(reference) = Reference::parse(&text) else {
        let _ = hooklet::wasm::oci::parse_reference(&text).expect_err("both readers refuse it");
        return;
    };
    let printed = reference.to_string();
    let again = Reference::parse(&printed).unwrap_or_else(|e| panic!("{text:?} normalised to {printed:?}, which is refused: {e}"));
    assert_eq!(again, reference, "{text:?} -> {printed:?} is not a fixed point");
    assert!(reference.satisfies(reference.digest.as_deref().unwrap_or(""), &reference));
    assert_eq!(format!("{}/{}", reference.registry(), reference.path()), reference.repository);
    // Docker's grammar for the registry host: DNS labels of letters, digits and '-'
    // (not at either end) separated by '.', or a bracketed IPv6 address, then :PORT.
    let registry = reference.registry();
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) if !registry.ends_with(']') => (host, Some(port)),
        _ => (registry, None),
    };
    assert!(port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())), "{text:?}: port of {registry:?}");
    let ipv6 = host.starts_with('[') && host.ends_with(']') && host.len() > 2
        && host[1..host.len() - 1].bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    let label = |l: &str| {
        !l.is_empty() && !l.starts_with('-') && !l.ends_with('-') && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    assert!(ipv6 || host.split('.').all(label), "{text:?}: the registry {registry:?} is not a host Docker accepts");
});
