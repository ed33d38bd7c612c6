//! `resources`: a container's requests and limits, and Kubernetes quantities.
//!
//! Runtimes that can enforce limits (runc) apply `limits.memory` and `limits.cpu`;
//! requests decide admission, the QoS class and eviction ranking under `hooklet serve`
//! (there is no scheduler). Quantities follow
//! `k8s.io/apimachinery/pkg/api/resource`: a decimal number with an optional suffix,
//! binary (`Ki`, `Mi`, `Gi`, `Ti`, `Pi`, `Ei`), decimal (`k`, `M`, `G`, `T`, `P`, `E`),
//! milli (`m`) or an exponent (`1e3`).
//!
//! ```
//! use hooklet::spec::resources::Quantity;
//! assert_eq!(Quantity::from("128Mi").bytes(), Ok(128 * 1024 * 1024));
//! assert_eq!(Quantity::from("500m").millis(), Ok(500));
//! assert_eq!(Quantity::from("2").millis(), Ok(2000));
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::field_error::FieldError;

/// `resources` of a container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// `limits`: `memory` and `cpu` are enforced where the runtime can.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub limits: BTreeMap<String, Quantity>,
    /// `requests`: admission, QoS and eviction ranking (`crate::spec::qos`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub requests: BTreeMap<String, Quantity>,
}

impl ResourceRequirements {
    /// `limits.memory` in bytes, if set and valid.
    pub fn memory_limit(&self) -> Option<u64> {
        self.limits.get("memory").and_then(|q| q.bytes().ok())
    }

    /// `limits.cpu` in millicores, if set and valid.
    pub fn cpu_limit_millis(&self) -> Option<u64> {
        self.limits.get("cpu").and_then(|q| q.millis().ok())
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty() && self.requests.is_empty()
    }
}

/// A Kubernetes quantity as written (`"128Mi"`, `"500m"`, `1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "QuantityInput", into = "String")]
pub struct Quantity(pub String);

/// A quantity may be written as a YAML/JSON string or number.
#[derive(Deserialize)]
#[serde(untagged)]
enum QuantityInput {
    Text(String),
    Integer(i64),
    Float(f64),
}

impl From<QuantityInput> for Quantity {
    fn from(input: QuantityInput) -> Self {
        match input {
            QuantityInput::Text(s) => Quantity(s),
            QuantityInput::Integer(n) => Quantity(n.to_string()),
            QuantityInput::Float(f) => Quantity(f.to_string()),
        }
    }
}

impl From<Quantity> for String {
    fn from(q: Quantity) -> String {
        q.0
    }
}

impl From<&str> for Quantity {
    fn from(s: &str) -> Self {
        Quantity(s.to_string())
    }
}

/// The apimachinery message for a malformed quantity.
pub const QUANTITY_FORMAT: &str = "must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

impl Quantity {
    /// The value as a number with its scale applied (`1Ki` → 1024, `500m` → 0.5).
    pub fn value(&self) -> Result<f64, String> {
        let s = self.0.trim();
        let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-')).unwrap_or(s.len());
        let (number, suffix) = s.split_at(split);
        let base: f64 = number.parse().map_err(|_| QUANTITY_FORMAT.to_string())?;
        if number.is_empty() || number.starts_with(['+', '-']) && number.len() == 1 {
            return Err(QUANTITY_FORMAT.to_string());
        }
        let scale = match suffix {
            "" => 1.0,
            "Ki" => 1024f64,
            "Mi" => 1024f64.powi(2),
            "Gi" => 1024f64.powi(3),
            "Ti" => 1024f64.powi(4),
            "Pi" => 1024f64.powi(5),
            "Ei" => 1024f64.powi(6),
            "n" => 1e-9,
            "u" => 1e-6,
            "m" => 1e-3,
            "k" => 1e3,
            "M" => 1e6,
            "G" => 1e9,
            "T" => 1e12,
            "P" => 1e15,
            "E" => 1e18,
            exp if exp.starts_with(['e', 'E']) => {
                let e: i32 = exp[1..].parse().map_err(|_| QUANTITY_FORMAT.to_string())?;
                10f64.powi(e)
            }
            _ => return Err(QUANTITY_FORMAT.to_string()),
        };
        Ok(base * scale)
    }

    /// The quantity in bytes (rounded up, as Kubernetes does for memory).
    pub fn bytes(&self) -> Result<u64, String> {
        let v = self.value()?;
        if v < 0.0 {
            return Err("must be greater than or equal to 0".into());
        }
        Ok(ceil_exact(v))
    }

    /// The quantity in thousandths (CPU millicores), rounded up.
    pub fn millis(&self) -> Result<u64, String> {
        let v = self.value()?;
        if v < 0.0 {
            return Err("must be greater than or equal to 0".into());
        }
        Ok(ceil_exact(v * 1000.0))
    }
}

/// Rounds up, but not past a float error: `0.7 * 1000` is 700, not 701.
fn ceil_exact(v: f64) -> u64 {
    let nearest = v.round();
    if (v - nearest).abs() <= 1e-9 * nearest.max(1.0) { nearest as u64 } else { v.ceil() as u64 }
}

/// Validates `resources` at `path` (`spec.containers[0].resources`) as the apiserver
/// does for the resources hooklet knows: quantities parse and are not negative, and a
/// request is not above its limit.
pub fn validate(resources: &ResourceRequirements, path: &str, errs: &mut Vec<FieldError>) {
    for (section, map) in [("limits", &resources.limits), ("requests", &resources.requests)] {
        for (name, quantity) in map {
            let field = format!("{path}.{section}[{name}]");
            match quantity.value() {
                Err(msg) => errs.push(FieldError::invalid_str(&field, &quantity.0, &msg)),
                Ok(v) if v < 0.0 => {
                    errs.push(FieldError::invalid_str(&field, &quantity.0, "must be greater than or equal to 0"))
                }
                Ok(_) => {}
            }
        }
    }
    for (name, request) in &resources.requests {
        let (Some(limit), Ok(r)) = (resources.limits.get(name), request.value()) else { continue };
        if let Ok(l) = limit.value() {
            if r > l {
                let field = format!("{path}.requests");
                let detail = format!("must be less than or equal to {name} limit of {}", limit.0);
                errs.push(FieldError::invalid_str(&field, &request.0, &detail));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_scale_by_suffix() {
        assert_eq!(Quantity::from("1Ki").bytes(), Ok(1024));
        assert_eq!(Quantity::from("64M").bytes(), Ok(64_000_000));
        assert_eq!(Quantity::from("1.5Gi").bytes(), Ok(1_610_612_736));
        assert_eq!(Quantity::from("1e3").bytes(), Ok(1000));
        assert_eq!(Quantity::from("250m").millis(), Ok(250));
        assert_eq!(Quantity::from("0.1").millis(), Ok(100));
        assert_eq!(Quantity::from("700m").millis(), Ok(700));
        assert_eq!(Quantity::from("0.7").millis(), Ok(700));
        assert_eq!(Quantity::from("1.5m").millis(), Ok(2));
        assert!(Quantity::from("12 MB").value().is_err());
        assert!(Quantity::from("Mi").value().is_err());
        assert!(Quantity::from("").value().is_err());
    }

    #[test]
    fn numbers_and_strings_deserialize() {
        let r: ResourceRequirements = serde_json::from_str(r#"{"limits":{"cpu":1,"memory":"32Mi"}}"#).unwrap();
        assert_eq!(r.cpu_limit_millis(), Some(1000));
        assert_eq!(r.memory_limit(), Some(32 << 20));
    }

    #[test]
    fn validation_names_the_field() {
        let mut r = ResourceRequirements::default();
        r.limits.insert("memory".into(), Quantity::from("lots"));
        r.limits.insert("cpu".into(), Quantity::from("1"));
        r.requests.insert("cpu".into(), Quantity::from("2"));
        let mut errs = Vec::new();
        validate(&r, "spec.containers[0].resources", &mut errs);
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(text.len(), 2, "{text:?}");
        assert!(text[0].starts_with("spec.containers[0].resources.limits[memory]: Invalid value: \"lots\""), "{text:?}");
        assert!(text[1].contains("must be less than or equal to cpu limit of 1"), "{text:?}");
    }
}
