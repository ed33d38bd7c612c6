//! Mode `answer`: the plugin answers, logs and prints the bytes that config `script`
//! spells (hex), valid UTF-8 or not, as hooklet's fuzz target `wasm_outcome` drives it
//! (`fuzz/`, FUZZING.md). The script is a list of operations, each a byte and its operands:
//!
//! | byte | operation |
//! |---|---|
//! | 0 | `log` a line: a level byte (mod 5), a length byte, that many bytes |
//! | 1, 2 | write a length byte's worth of bytes to stdout (1) or stderr (2) |
//! | 3 | append a length byte's worth of bytes to the answer |
//! | 4 | repeat the answer a byte's worth of times (to at most 4 MiB) |
//! | 5 | return the answer as `ok` (a probe's message; a hook just succeeds) |
//! | other | return the answer as `err` |
//!
//! A script that ends without returning returns the answer as `err`.

use hooklet_guest::probe_bindings::hooklet::hook::log::{self, Level};

/// The most bytes the answer grows to.
const MAX_ANSWER: usize = 4 << 20;

/// The bytes as a string, unchecked: the point is to hand hooklet invalid UTF-8 too.
fn unchecked(bytes: Vec<u8>) -> String {
    // SAFETY: not safe for Rust code that reads the string; this one only passes it to
    // the host, which must refuse invalid UTF-8 (the canonical ABI checks it).
    unsafe { String::from_utf8_unchecked(bytes) }
}

fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect::<Option<_>>()
        .ok_or_else(|| format!("hostile: config `script` = `{text}` is not hex"))
}

/// Reads a script front to back; past its end every byte is `None`.
struct Ops<'a>(&'a [u8]);

impl Ops<'_> {
    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }

    /// A length byte and that many bytes (fewer at the end of the script).
    fn payload(&mut self) -> Vec<u8> {
        let len = self.next().unwrap_or(0);
        (0..len).map_while(|_| self.next()).collect()
    }
}

/// Runs `script` (hex); `Ok` holds the answer for an `ok`.
pub fn run(script: &str) -> Result<String, String> {
    let bytes = unhex(script)?;
    let mut ops = Ops(&bytes);
    let mut answer = Vec::new();
    while let Some(op) = ops.next() {
        match op {
            0 => {
                let levels = [Level::Trace, Level::Debug, Level::Info, Level::Warn, Level::Error];
                let level = levels[usize::from(ops.next().unwrap_or(0) % 5)];
                log::log(level, &unchecked(ops.payload()));
            }
            1 => drop(std::io::Write::write_all(&mut std::io::stdout(), &ops.payload())),
            2 => drop(std::io::Write::write_all(&mut std::io::stderr(), &ops.payload())),
            3 => answer.extend(ops.payload()),
            4 => {
                let times = usize::from(ops.next().unwrap_or(0)).min(MAX_ANSWER / answer.len().max(1));
                answer = answer.repeat(times.max(1));
            }
            5 => return Ok(unchecked(answer)),
            _ => return Err(unchecked(answer)),
        }
    }
    Err(unchecked(answer))
}
