//! Pod manifests (YAML, multi-document YAML and JSON) through `apply`'s reader:
//! `spec::parse_objects` decodes each document (Pod or Secret), applies defaults and
//! validates it; a Secret's image-pull credentials go through the real `Keyring::check`.
//! Whatever the bytes, the answer is a list of objects or a `ManifestError`, never a
//! panic, and an error's message is never empty.
#![no_main]

use hooklet::image::pull::Keyring;
use hooklet::spec::parse::parse_objects;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_objects(&text, "fuzz.yaml", &Keyring::check) {
        Ok(objects) => assert!(!objects.is_empty(), "an empty manifest is an error, not an empty list"),
        Err(err) => assert!(!err.to_string().is_empty()),
    }
});
