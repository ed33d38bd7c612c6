//! Per-delivery resource limits: the manifest's `[limits]`, the caps they resolve to (with
//! the node defaults of [`WasmConfig`]), and the limiter that enforces them on a store —
//! a memory cap with the peak recorded, and caps on instances, tables, memories and table
//! elements.

use serde::{Deserialize, Deserializer};
use wasmtime::ResourceLimiter;

use super::config::WasmConfig;

/// `[limits]`: resource limits for one delivery; each unset key takes the node default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ManifestLimits {
    /// Fuel budget per delivery, unless the handler sets `wasm.fuel`.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// Cap on linear memory in bytes (all memories together). In the file: a number of
    /// bytes or a string with a unit, `"64 MiB"` (`B`, `KiB`, `MiB`, `GiB`).
    #[serde(default, deserialize_with = "memory_size")]
    pub memory: Option<u64>,
    /// Timeout of a delivery when the handler sets no `timeoutSeconds`.
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Cap on core instances (a component is several).
    #[serde(default)]
    pub instances: Option<u64>,
    /// Cap on tables.
    #[serde(default)]
    pub tables: Option<u64>,
    /// Cap on linear memories.
    #[serde(default)]
    pub memories: Option<u64>,
    /// Cap on the elements of one table.
    #[serde(default)]
    pub table_elements: Option<u64>,
}

impl ManifestLimits {
    /// Refuses zeros, which would make every delivery fail. The error names the key.
    pub(crate) fn check(&self) -> Result<(), String> {
        let keys = [
            ("fuel", self.fuel),
            ("memory", self.memory),
            ("timeout-seconds", self.timeout_seconds),
            ("instances", self.instances),
            ("tables", self.tables),
            ("memories", self.memories),
            ("table-elements", self.table_elements),
        ];
        match keys.iter().find(|(_, value)| *value == Some(0)) {
            Some((key, _)) => Err(format!(
                "`limits.{key}` is 0, so the plugin could not run at all; set a positive \
                 value or remove it to use the node default"
            )),
            None => Ok(()),
        }
    }
}

/// Refuses `limits.instances`, `limits.tables` or `limits.memories` above the node's:
/// those are also the instance pool's size per delivery, which a plugin cannot raise.
pub(crate) fn check_pool_fit(limits: &ManifestLimits, config: &WasmConfig, manifest: &std::path::Path) -> Result<(), String> {
    let keys = [
        ("instances", limits.instances, config.max_instances),
        ("tables", limits.tables, config.max_tables),
        ("memories", limits.memories, config.max_memories),
    ];
    match keys.iter().find(|(_, asked, node)| asked.is_some_and(|asked| asked > *node)) {
        Some((key, Some(asked), node)) => Err(format!(
            "`limits.{key}` = {asked} in {} is above this node's {node} per delivery (the size \
             of one slot of the instance pool); lower it, or raise the node's cap",
            manifest.display()
        )),
        _ => Ok(()),
    }
}

/// Reads `limits.memory`: bytes, or a string such as `"64 MiB"`.
fn memory_size<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        Bytes(u64),
        Text(String),
    }
    match Size::deserialize(deserializer)? {
        Size::Bytes(bytes) => Ok(Some(bytes)),
        Size::Text(text) => parse_size(&text)
            .map(Some)
            .map_err(serde::de::Error::custom),
    }
}

/// `"64 MiB"`, `"512KiB"`, `"1 GiB"`, `"4096"` or `"4096 B"` in bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => 0,
    };
    number
        .parse::<u64>()
        .ok()
        .filter(|_| scale > 0)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(|| {
            format!(
                "`limits.memory` = {text:?} is not a size; write a number of bytes or a number \
                 with a unit B, KiB, MiB or GiB, like \"64 MiB\""
            )
        })
}

/// The caps one delivery runs under: the manifest's `[limits]` over the node defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceCaps {
    /// Linear memory, in bytes.
    pub memory: u64,
    /// Where the memory cap comes from, for messages.
    pub memory_source: String,
    pub instances: u64,
    pub tables: u64,
    pub memories: u64,
    pub table_elements: u64,
}

impl ResourceCaps {
    /// The caps for plugin `plugin` with manifest limits `limits`.
    pub fn new(config: &WasmConfig, plugin: &str, limits: Option<&ManifestLimits>) -> Self {
        let pick = |value: Option<u64>, default: u64| value.unwrap_or(default);
        let memory = limits.and_then(|l| l.memory);
        ResourceCaps {
            memory: pick(memory, config.max_memory_bytes),
            memory_source: match memory {
                Some(_) => format!("`limits.memory` in {plugin}.toml"),
                None => "the node default; a plugin raises it with `limits.memory` in its manifest"
                    .to_owned(),
            },
            instances: pick(limits.and_then(|l| l.instances), config.max_instances),
            tables: pick(limits.and_then(|l| l.tables), config.max_tables),
            memories: pick(limits.and_then(|l| l.memories), config.max_memories),
            table_elements: pick(
                limits.and_then(|l| l.table_elements),
                config.max_table_elements,
            ),
        }
    }
}

/// The error a delivery traps with when it grows memory past the cap.
#[derive(Debug, thiserror::Error)]
#[error("linear memory would grow to {desired} bytes in total, past the cap of {cap} bytes")]
pub(crate) struct MemoryLimitExceeded {
    /// The cap in bytes.
    pub cap: u64,
    /// The total the growth asked for.
    pub desired: u64,
}

/// The error a delivery traps with when it grows a table past the cap.
#[derive(Debug, thiserror::Error)]
#[error("a table would grow to {desired} elements, past the cap of {cap}")]
pub(crate) struct TableLimitExceeded {
    /// The cap in elements.
    pub cap: u64,
    /// The size the growth asked for.
    pub desired: u64,
}

/// A [`ResourceLimiter`] that enforces [`ResourceCaps`] on a store and records the peak of
/// its total linear memory.
///
/// Growth past a cap traps (rather than making `memory.grow` return -1), so the hook fails
/// with a clear [`MemoryLimitExceeded`] instead of a guest-side allocation abort.
#[derive(Debug)]
pub(crate) struct MemoryLimiter {
    caps: ResourceCaps,
    total: u64,
    peak: u64,
}

impl MemoryLimiter {
    /// A limiter enforcing `caps`.
    pub fn new(caps: ResourceCaps) -> Self {
        MemoryLimiter {
            caps,
            total: 0,
            peak: 0,
        }
    }

    /// The most linear memory the store has had at once, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak
    }
}

/// `value` as a `usize` count for wasmtime, saturating.
fn count(value: u64) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // `current` is part of `total` already: memories only ever grow.
        let others = self.total.saturating_sub(current as u64);
        let wanted = others.saturating_add(desired as u64);
        if wanted > self.caps.memory {
            return Err(MemoryLimitExceeded {
                cap: self.caps.memory,
                desired: wanted,
            }
            .into());
        }
        self.total = wanted;
        self.peak = self.peak.max(wanted);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.caps.table_elements {
            return Err(TableLimitExceeded {
                cap: self.caps.table_elements,
                desired: desired as u64,
            }
            .into());
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        count(self.caps.instances)
    }

    fn tables(&self) -> usize {
        count(self.caps.tables)
    }

    fn memories(&self) -> usize {
        count(self.caps.memories)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(memory: u64) -> ResourceCaps {
        let config = WasmConfig {
            max_memory_bytes: memory,
            ..WasmConfig::default()
        };
        ResourceCaps::new(&config, "p", None)
    }

    #[test]
    fn tracks_the_peak_across_memories_and_refuses_past_the_cap() {
        let mut limiter = MemoryLimiter::new(caps(100));
        assert!(limiter.memory_growing(0, 40, None).unwrap());
        assert!(limiter.memory_growing(0, 30, None).unwrap());
        assert!(limiter.memory_growing(40, 60, None).unwrap());
        assert_eq!(limiter.peak(), 90);
        let err = limiter.memory_growing(30, 50, None).unwrap_err();
        let exceeded = err.downcast_ref::<MemoryLimitExceeded>().unwrap();
        assert_eq!((exceeded.cap, exceeded.desired), (100, 110));
        assert_eq!(limiter.peak(), 90);
    }

    #[test]
    fn manifest_limits_override_node_defaults_and_name_their_source() {
        let limits = ManifestLimits {
            memory: Some(1 << 20),
            tables: Some(3),
            ..ManifestLimits::default()
        };
        let config = WasmConfig::default();
        let caps = ResourceCaps::new(&config, "bomb", Some(&limits));
        assert_eq!((caps.memory, caps.tables), (1 << 20, 3));
        assert_eq!(caps.instances, config.max_instances);
        assert!(
            caps.memory_source.contains("bomb.toml"),
            "{}",
            caps.memory_source
        );
        assert!(ResourceCaps::new(&config, "p", None)
            .memory_source
            .contains("node default"));
    }

    #[test]
    fn memory_sizes_take_binary_units() {
        assert_eq!(parse_size("64 MiB"), Ok(64 << 20));
        assert_eq!(parse_size("512KiB"), Ok(512 << 10));
        assert_eq!(parse_size("1 GiB"), Ok(1 << 30));
        assert_eq!(parse_size("4096 B"), Ok(4096));
        for bad in ["64 MB", "lots", "MiB", "99999999999999 GiB"] {
            assert!(parse_size(bad).unwrap_err().contains("\"64 MiB\""), "{bad}");
        }
    }
}
