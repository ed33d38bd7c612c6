//! `hostile`: a plugin that misbehaves on purpose, for hooklet's sandbox tests. Its `mode`
//! config key picks the misbehaviour; other keys tune it. It is both a lifecycle hook and
//! a probe (world `hooklet:hook/plugin@0.2.0`) and misbehaves the same way as either: a
//! probe whose mode finishes passes, with the message `hostile: mode MODE done`.
//!
//! | `mode` | what it does | other keys |
//! |---|---|---|
//! | `loop` (default) | burns CPU forever: only fuel or the deadline stops it | |
//! | `recurse` | recurses without bound until the call stack is exhausted | |
//! | `memory-bomb` | allocates 1 MiB blocks forever: only the memory cap stops it | |
//! | `trap` | executes `unreachable` | |
//! | `panic` | panics with a message | |
//! | `flood` | logs `lines` lines and writes `bytes` bytes to stdout and to stderr, then succeeds | `lines` (default 100000), `bytes` (default 4194304) |
//! | `read-file` | reads `path` and logs its size; fails saying why when it cannot | `path` (default `/etc/passwd`) |
//! | `http-get` | sends `GET url` through `wasi:http` and logs the status; fails with the error code | `url` |
//! | `sleep` | blocks in a host call (a clock wait) for `ms` milliseconds, then succeeds | `ms` (default 60000) |
//! | `env` | logs every environment variable it sees as `env NAME=value`, then succeeds | |
//! | `config` | logs every config pair it was given as `config KEY=value`, then succeeds | |
//! | `remember` | fails if memory shows a previous delivery (statics it set, a heap block it filled), then leaves those marks | |
//! | `answer` | answers (`ok` or `err`), logs and prints the bytes `script` spells, valid UTF-8 or not (`answer.rs`) | `script` (hex) |
//! | `log-v0.2` | logs one line, `logged through log@0.2.0`, through the 0.2.0 `log` import (the SDK's `log` uses 0.1.0's), then succeeds | |

mod answer;
mod http;

use std::hint::black_box;
use std::io::Write;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use hooklet_guest::{log, Event, Hook, Probe, ProbeEvent};

struct Hostile;

impl Hook for Hostile {
    fn handle(event: Event) -> Result<(), String> {
        misbehave(Config(&event.config)).map(drop)
    }
}

impl Probe for Hostile {
    fn check(event: ProbeEvent) -> Result<String, String> {
        misbehave(Config(&event.config))
    }
}

/// The handler's config pairs.
#[derive(Clone, Copy)]
struct Config<'a>(&'a [(String, String)]);

impl<'a> Config<'a> {
    /// The value of `key`, if set.
    fn get(self, key: &str) -> Option<&'a str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// The value of `key`, else `default`.
    fn or(self, key: &str, default: &'a str) -> &'a str {
        self.get(key).unwrap_or(default)
    }

    /// The value of `key` as a number, else `default`.
    fn number(self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .map_err(|_| format!("hostile: config `{key}` = `{text}` is not a number")),
        }
    }
}

/// Does what config `mode` says; `Ok` holds the note a probe passes with.
fn misbehave(config: Config) -> Result<String, String> {
    let mode = config.or("mode", "loop");
    if mode == "answer" {
        return answer::run(config.or("script", ""));
    }
    let done = match mode {
        "loop" => spin(),
        "recurse" => {
            let depth = recurse(0);
            Err(format!("hostile: recursion ended at depth {depth}"))
        }
        "memory-bomb" => memory_bomb(),
        "trap" => {
            log::warn("about to execute `unreachable`");
            core::arch::wasm32::unreachable()
        }
        "panic" => panic!("hostile: panicking on purpose"),
        "flood" => flood(config),
        "read-file" => read_file(config.or("path", "/etc/passwd")),
        "http-get" => {
            let url = config
                .get("url")
                .ok_or("hostile: mode `http-get` needs config `url`")?;
            let (status, body) = http::get(url)?;
            log::info(format_args!(
                "GET {url}: {status}, {} body bytes",
                body.len()
            ));
            Ok(())
        }
        "sleep" => {
            let ms: u64 = config.number("ms", 60_000)?;
            log::info(format_args!("sleeping {ms} ms in a host call"));
            std::thread::sleep(Duration::from_millis(ms));
            Ok(())
        }
        "env" => {
            for (name, value) in std::env::vars() {
                log::info(format_args!("env {name}={value}"));
            }
            Ok(())
        }
        "config" => {
            for (key, value) in config.0 {
                log::info(format_args!("config {key}={value}"));
            }
            Ok(())
        }
        "remember" => remember(),
        "log-v0.2" => {
            use hooklet_guest::probe_bindings::hooklet::hook::log;
            log::log(log::Level::Info, "logged through log@0.2.0");
            Ok(())
        }
        other => Err(format!(
            "hostile: config `mode` = `{other}` is unknown; see plugins/hostile/src/lib.rs"
        )),
    };
    done.map(|()| format!("hostile: mode {mode} done"))
}

fn spin() -> ! {
    log::info("spinning until stopped");
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Recurses until the engine stops it; the addition after the call keeps it from being
/// turned into a loop.
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return depth;
    }
    black_box(recurse(depth + 1)).wrapping_add(1)
}

fn memory_bomb() -> Result<(), String> {
    const BLOCK: usize = 1 << 20;
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut block = vec![0u8; BLOCK];
        block[BLOCK - 1] = 1;
        hoard.push(black_box(block));
        if hoard.len() % 16 == 0 {
            log::info(format_args!("holding {} MiB", hoard.len()));
        }
    }
}

/// Marks the `remember` mode leaves: in zero-initialised memory, in initialised data.
static MARK: AtomicU32 = AtomicU32::new(0);
static DATA: AtomicU32 = AtomicU32::new(0x5eed);

/// Checks that this delivery starts from pristine memory — statics at their initial values
/// and a fresh 1 MiB heap block (taken from newly grown memory, which the allocator trusts
/// to be zero) all zeros — then marks all three for the next delivery to find.
fn remember() -> Result<(), String> {
    const BLOCK: usize = 1 << 20;
    let (mark, data) = (MARK.swap(1, Ordering::Relaxed), DATA.swap(0xdead, Ordering::Relaxed));
    let mut block = black_box(vec![0u8; BLOCK]);
    let dirty = block.iter().filter(|byte| **byte != 0).count();
    block.fill(0xab);
    std::mem::forget(black_box(block));
    if mark != 0 || data != 0x5eed || dirty != 0 {
        return Err(format!(
            "hostile: memory of a previous delivery survived: zeroed static {mark:#x}, \
             initialised static {data:#x}, {dirty} non-zero bytes in a fresh heap block"
        ));
    }
    Ok(())
}

fn flood(config: Config) -> Result<(), String> {
    let lines = config.number("lines", 100_000)?;
    let bytes = config.number("bytes", 4 << 20)?;
    for i in 0..lines {
        log::info(format_args!("flood line {i}"));
    }
    let chunk = [b'x'; 64 * 1024];
    let mut written = 0u64;
    while written < bytes {
        let n = chunk.len().min((bytes - written) as usize);
        let _ = std::io::stdout().write_all(&chunk[..n]);
        let _ = std::io::stderr().write_all(&chunk[..n]);
        written += n as u64;
    }
    Ok(())
}

fn read_file(path: &str) -> Result<(), String> {
    match std::fs::read(path) {
        Ok(contents) => {
            log::info(format_args!("read {path}: {} bytes", contents.len()));
            Ok(())
        }
        Err(err) => Err(format!("hostile: cannot read {path}: {err}")),
    }
}

hooklet_guest::export_plugin!(Hostile);
