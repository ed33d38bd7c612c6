//! Go's `net/url` escaping rules (`shouldEscape`, `escape`, `unescape`,
//! `validEncoded`) for the path, host, zone and fragment components.

use super::gotext::go_quote;
use crate::gostr::go_quote_bytes;

/// Which URL component a byte is escaped for (Go's `encoding`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Path,
    Host,
    Zone,
    Fragment,
}

/// Go's `shouldEscape`.
fn should_escape(c: u8, mode: Mode) -> bool {
    if c.is_ascii_alphanumeric() {
        return false;
    }
    if matches!(mode, Mode::Host | Mode::Zone)
        && matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'['
                | b']'
                | b'<'
                | b'>'
                | b'"'
        )
    {
        return false;
    }
    match c {
        b'-' | b'_' | b'.' | b'~' => return false,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@' => match mode {
            Mode::Path => return c == b'?',
            Mode::Fragment => return false,
            Mode::Host | Mode::Zone => {}
        },
        _ => {}
    }
    if mode == Mode::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    true
}

/// Go's `escape` for the non-query modes: `%XX` (upper-case hex) for every byte to escape.
pub(super) fn escape(s: &[u8], mode: Mode) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// Go's `unescape`; errors are `invalid URL escape "%zz"` or
/// `invalid character " " in host name`.
pub(super) fn unescape(s: &str, mode: Mode) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    // Go's `s[i:i+3]`: bytes, which may cut a character.
                    let end = (i + 3).min(b.len());
                    return Err(format!("invalid URL escape {}", go_quote_bytes(&b[i..end])));
                }
                let v = u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(0);
                if mode == Mode::Host && v < 0x80 && &s[i..i + 3] != "%25" {
                    return Err(format!("invalid URL escape {}", go_quote(&s[i..i + 3])));
                }
                out.push(v);
                i += 3;
            }
            c => {
                if matches!(mode, Mode::Host | Mode::Zone) && c < 0x80 && should_escape(c, mode) {
                    let bad = String::from_utf8_lossy(&b[i..i + 1]).into_owned();
                    return Err(format!("invalid character {} in host name", go_quote(&bad)));
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// Go's `validEncoded`: may `s` be kept as the escaped form?
fn valid_encoded(s: &str, mode: Mode) -> bool {
    s.bytes().all(|c| {
        matches!(
            c,
            b'!' | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'['
                | b']'
                | b'%'
        ) || !should_escape(c, mode)
    })
}

/// `setPath`/`setFragment` followed by `EscapedPath`/`EscapedFragment`: the
/// escaped form Go prints for a raw component.
pub(super) fn escaped_form(raw: &str, mode: Mode) -> Result<String, String> {
    let decoded = unescape(raw, mode)?;
    if mode == Mode::Path && decoded == b"*" {
        Ok("*".to_string())
    } else if valid_encoded(raw, mode) {
        Ok(raw.to_string())
    } else {
        Ok(escape(&decoded, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::super::gourl::GoUrl;

    /// Found by the fuzz target `go_url` (FUZZING.md): a `%` followed by a digit and a character of more than
    /// one byte cut that character when quoting the bad escape, and the parse panicked.
    /// Go quotes the three bytes, the cut one as `\xNN`.
    #[test]
    fn a_bad_escape_cutting_a_character_is_an_error() {
        let err = GoUrl::parse("http://h/%2é").unwrap_err();
        assert_eq!(err, r#"parse "http://h/%2é": invalid URL escape "%2\xc3""#);
        // The three bytes are the whole character: nothing to escape.
        let err = GoUrl::parse("/%é").unwrap_err();
        assert_eq!(err, r#"parse "/%é": invalid URL escape "%é""#);
    }
}
