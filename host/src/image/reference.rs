//! Image references, normalised the way Docker and the kubelet do: `busybox`,
//! `busybox:latest` and `docker.io/library/busybox:latest` are the same image.

use std::fmt;

use super::error::ImageError;

/// The registry of names without one.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The tag of names without a tag or digest.
const DEFAULT_TAG: &str = "latest";

/// A normalised image reference: `DOMAIN/PATH[:TAG][@sha256:HEX]`, with at least a tag
/// or a digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `docker.io/library/busybox`.
    pub repository: String,
    /// `latest`; `None` for a digest-only reference.
    pub tag: Option<String>,
    /// `sha256:…` of the manifest, when given.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and normalises `image` (a pod's `image` field, an archive's annotation, a
    /// CLI argument). Refuses what Docker refuses, with its wording.
    pub fn parse(image: &str) -> Result<Reference, ImageError> {
        let invalid = |why: &str| ImageError::InvalidName { image: image.to_string(), why: why.to_string() };
        if image.is_empty() {
            return Err(invalid("the image name is empty"));
        }
        let (rest, digest) = match image.split_once('@') {
            Some((rest, digest)) => {
                if !is_sha256_digest(digest) {
                    return Err(invalid("the digest must be sha256: followed by 64 lowercase hex digits"));
                }
                (rest, Some(digest.to_string()))
            }
            None => (image, None),
        };
        // A tag is after the last ':' that follows the last '/' (a ':' before it is a port).
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            if !is_tag(tag) {
                return Err(invalid("a tag has at most 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'"));
            }
        }
        let mut components: Vec<&str> = name.split('/').collect();
        let domain = if components.len() > 1 && is_domain(components[0]) {
            Some(components.remove(0))
        } else {
            None
        };
        if components.iter().any(|c| c.chars().any(|ch| ch.is_ascii_uppercase())) {
            return Err(invalid("repository name must be lowercase"));
        }
        if !components.iter().all(|c| is_path_component(c)) {
            return Err(invalid(
                "each part of the repository name is lowercase letters and digits, separated by '.', '_', '__' or dashes",
            ));
        }
        if let Some(domain) = domain.filter(|d| !is_registry(d)) {
            return Err(invalid(&format!(
                "the registry {domain:?} is not a host name (letters, digits and '-' between dots) or [IPv6 address], with an optional :PORT of digits"
            )));
        }
        let domain = match domain {
            None | Some("index.docker.io") => DEFAULT_DOMAIN,
            Some(domain) => domain,
        };
        if domain == DEFAULT_DOMAIN && components.len() == 1 {
            components.insert(0, "library");
        }
        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_string()),
        };
        Ok(Reference { repository: format!("{domain}/{}", components.join("/")), tag, digest })
    }

    /// The registry, `HOST[:PORT]` (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        self.repository.split_once('/').map_or(self.repository.as_str(), |(registry, _)| registry)
    }

    /// The repository path in its registry (`library/busybox`).
    pub fn path(&self) -> &str {
        self.repository.split_once('/').map_or("", |(_, path)| path)
    }

    /// Whether a stored image known as `self` (a tagged reference) with manifest digest
    /// `manifest_digest` is what `wanted` asks for.
    pub fn satisfies(&self, manifest_digest: &str, wanted: &Reference) -> bool {
        self.repository == wanted.repository
            && wanted.tag.as_ref().is_none_or(|tag| self.tag.as_ref() == Some(tag))
            && wanted.digest.as_ref().is_none_or(|digest| digest == manifest_digest)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// `sha256:` and 64 lowercase hex digits.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
}

/// A first component that names a registry: has a '.' or a ':' (port), or is `localhost`.
fn is_domain(component: &str) -> bool {
    component.contains('.') || component.contains(':') || component == "localhost"
}

/// Docker's `domain`: DNS labels (letters, digits, '-' not at either end) separated by
/// '.', or a bracketed IPv6 address, then an optional `:PORT` of digits.
fn is_registry(domain: &str) -> bool {
    let (host, port) = match domain.rsplit_once(':') {
        Some((host, port)) if !domain.ends_with(']') => (host, Some(port)),
        _ => (domain, None),
    };
    if port.is_some_and(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    if let Some(ipv6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return !ipv6.is_empty() && ipv6.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

fn is_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    tag.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        match &component[sep..i] {
            "." | "_" | "__" => {}
            s if s.bytes().all(|b| b == b'-') => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn short_names_get_the_default_registry_library_and_tag() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(norm("docker.io/library/busybox:latest"), "docker.io/library/busybox:latest");
        assert_eq!(norm("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("nginx:1.27-alpine"), "docker.io/library/nginx:1.27-alpine");
        assert_eq!(norm("bitnami/redis"), "docker.io/bitnami/redis:latest");
    }

    #[test]
    fn registries_ports_and_digests_are_kept() {
        assert_eq!(norm("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(norm("registry.k8s.io/pause:3.10"), "registry.k8s.io/pause:3.10");
        assert_eq!(norm("localhost/a/b:v1"), "localhost/a/b:v1");
        let digest = format!("sha256:{}", "a".repeat(64));
        assert_eq!(norm(&format!("busybox@{digest}")), format!("docker.io/library/busybox@{digest}"));
        assert_eq!(norm(&format!("busybox:1@{digest}")), format!("docker.io/library/busybox:1@{digest}"));
    }

    #[test]
    fn invalid_names_are_refused_with_the_kubelet_reason() {
        for bad in ["", "Busybox", "busy box", "busybox:", "busybox:-x", "a//b", "busybox@sha256:12", "-a"] {
            let err = Reference::parse(bad).unwrap_err();
            assert_eq!(err.reason(), "InvalidImageName", "{bad:?}");
            assert!(err.to_string().contains("invalid reference format"), "{err}");
        }
        assert!(Reference::parse("Busybox").unwrap_err().to_string().ends_with("repository name must be lowercase"));
    }

    /// Found writing the fuzz target `image_reference` (FUZZING.md): any first component with a '.' or a ':' was
    /// taken as the registry, spaces, empty ports and all.
    #[test]
    fn a_registry_that_is_not_a_host_is_refused() {
        for bad in ["ex ample.com/busybox", "a:b/c", "host:/c", "-x.io/y", "x-.io/y", "a..b/c", "[zz:1]/a", "[]:5000/a", "é.io/a"] {
            let err = Reference::parse(bad).unwrap_err();
            assert_eq!(err.reason(), "InvalidImageName", "{bad:?}");
            assert!(err.to_string().contains("is not a host name") && err.to_string().contains(":PORT"), "{bad:?}: {err}");
        }
        for good in ["localhost:5000/a", "[::1]:5000/a", "[fe80::1]/a", "Registry.Example.com/a", "1.2.3.4:443/a/b"] {
            assert!(Reference::parse(good).is_ok(), "{good:?}");
        }
    }

    #[test]
    fn satisfies_matches_repository_tag_and_digest() {
        let stored = Reference::parse("busybox:latest").unwrap();
        let manifest = format!("sha256:{}", "b".repeat(64));
        assert!(stored.satisfies(&manifest, &Reference::parse("busybox").unwrap()));
        assert!(stored.satisfies(&manifest, &Reference::parse(&format!("busybox@{manifest}")).unwrap()));
        assert!(!stored.satisfies(&manifest, &Reference::parse("busybox:1.36").unwrap()));
        assert!(!stored.satisfies(&manifest, &Reference::parse(&format!("busybox@sha256:{}", "c".repeat(64))).unwrap()));
        assert!(!stored.satisfies(&manifest, &Reference::parse("other/busybox").unwrap()));
    }
}
