//! Quantities as `resource.Quantity.String()` prints them: bytes in the largest
//! binary suffix that divides them exactly (`24730224Ki`, `100Mi`, `512`), CPU as
//! cores or millicores (`2`, `1800m`), counts as plain numbers.

/// Bytes in `BinarySI` canonical form.
pub fn bytes(n: u64) -> String {
    const SUFFIXES: [&str; 6] = ["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    if n == 0 {
        return "0".into();
    }
    let mut value = n;
    let mut suffix = "";
    for s in SUFFIXES {
        if value % 1024 != 0 {
            break;
        }
        value /= 1024;
        suffix = s;
    }
    format!("{value}{suffix}")
}

/// Signed bytes (a usage minus a request may be negative).
pub fn signed_bytes(n: i64) -> String {
    if n < 0 {
        format!("-{}", bytes(n.unsigned_abs()))
    } else {
        bytes(n as u64)
    }
}

/// Millicores: whole cores without a suffix, else `m`.
pub fn cpu(millis: u64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn canonical_forms() {
        assert_eq!(super::bytes(100 << 20), "100Mi");
        assert_eq!(super::bytes(91012 * 1024), "91012Ki");
        assert_eq!(super::bytes(1500), "1500");
        assert_eq!(super::bytes(0), "0");
        assert_eq!(super::bytes(3 << 30), "3Gi");
        assert_eq!(super::signed_bytes(-2048), "-2Ki");
        assert_eq!(super::cpu(2000), "2");
        assert_eq!(super::cpu(1800), "1800m");
    }
}
