//! The environment capability, `[capabilities.env]`: the environment variables a plugin
//! sees, each with an explicit value. hooklet's own environment is never inherited.
//!
//! ```toml
//! [capabilities.env]
//! REGION = "eu-west-1"
//! LOG_FORMAT = "json"
//! ```

use std::collections::BTreeMap;

use wasmtime_wasi::WasiCtxBuilder;

/// Checks the variable names and values: a name is non-empty and holds no `=`, and neither
/// holds a NUL byte (a C environment cannot represent them).
pub(super) fn check(env: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in env {
        if name.is_empty() || name.contains(['=', '\0']) {
            return Err(format!(
                "`capabilities.env` has the variable name {name:?}; a name must be non-empty \
                 and hold no `=` or NUL character, like `REGION`"
            ));
        }
        if value.contains('\0') {
            return Err(format!(
                "`capabilities.env.{name}` holds a NUL character; remove it from the value"
            ));
        }
    }
    Ok(())
}

/// Sets exactly the granted variables in `wasi`.
pub(super) fn grant(env: &BTreeMap<String, String>, wasi: &mut WasiCtxBuilder) {
    for (name, value) in env {
        wasi.env(name, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_and_values_must_fit_an_environment() {
        check(&env(&[("REGION", "eu"), ("EMPTY", "")])).unwrap();
        let err = check(&env(&[("A=B", "x")])).unwrap_err();
        assert!(err.contains("\"A=B\"") && err.contains("no `=`"), "{err}");
        let err = check(&env(&[("", "x")])).unwrap_err();
        assert!(err.contains("non-empty"), "{err}");
        let err = check(&env(&[("K", "a\0b")])).unwrap_err();
        assert!(err.contains("capabilities.env.K"), "{err}");
    }
}
