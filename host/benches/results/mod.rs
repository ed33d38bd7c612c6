//! Machine-readable results of a bench: the rows it prints, collected and written as
//! JSON at the end (`HOOKLET_BENCH_OUT`, else `target/NAME-bench.json`; a smoke run
//! under `cargo test` writes to the temp directory instead).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

/// The rows of one bench run.
pub struct Results {
    bench: &'static str,
    rows: Vec<Value>,
}

impl Results {
    /// Results of bench `bench` (`hooks`, `wasm`).
    pub fn new(bench: &'static str) -> Results {
        Results { bench, rows: Vec::new() }
    }

    /// A latency row: p50, p99 and the ratio of p50 to the section's baseline.
    pub fn latency(&mut self, section: &str, name: &str, p50: Duration, p99: Duration, ratio: f64) {
        self.rows.push(json!({
            "section": section, "name": name,
            "p50_us": p50.as_secs_f64() * 1e6, "p99_us": p99.as_secs_f64() * 1e6, "ratio": ratio,
        }));
    }

    /// Any other figure, with its unit in the key (`per_second`, `seconds`, `ratio`).
    pub fn value(&mut self, section: &str, name: &str, fields: Value) {
        let mut row = json!({ "section": section, "name": name });
        if let (Some(row), Value::Object(fields)) = (row.as_object_mut(), fields) {
            row.extend(fields);
        }
        self.rows.push(row);
    }

    /// Writes the JSON and prints where.
    pub fn write(self, smoke: bool) {
        let out = std::env::var_os("HOOKLET_BENCH_OUT").map(PathBuf::from).unwrap_or_else(|| {
            let file = format!("{}-bench{}.json", self.bench, if smoke { "-smoke" } else { "" });
            match smoke {
                true => std::env::temp_dir().join(file),
                // target/release/deps/NAME-HASH → target/
                false => std::env::current_exe().ok().and_then(|e| e.ancestors().nth(3).map(|t| t.join(&file))).unwrap_or(file.into()),
            }
        });
        let text = serde_json::to_string_pretty(&json!({ "bench": self.bench, "smoke": smoke, "rows": self.rows })).unwrap();
        std::fs::write(&out, text).unwrap();
        println!("JSON: {}", out.display());
    }
}
