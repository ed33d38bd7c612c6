//! The monitor's command line:
//! `hooklet-monitor process --dir DIR --log LOG [--workdir D] [--log-max-size BYTES]
//! [--log-max-files N] -- ARGV…`, or
//! `hooklet-monitor runc --dir DIR --log LOG [--log-max-size BYTES] [--log-max-files N]
//! --runc RUNC --root ROOT --bundle BUNDLE --id ID`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cri::{Rotation, DEFAULT_ROTATION};

/// What every mode has: where to keep the state and the log.
#[derive(Debug, Clone, PartialEq)]
pub struct Common {
    /// The container's state directory (monitor, pid, exit.json).
    pub dir: PathBuf,
    /// The container's CRI log.
    pub log: PathBuf,
    pub rotation: Rotation,
}

/// What to run as a host process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessArgs {
    pub common: Common,
    /// The container's working directory.
    pub workdir: Option<PathBuf>,
    /// The container's command and arguments.
    pub argv: Vec<OsString>,
}

/// Which runc container to create (the caller runs `runc start` once it is reported).
#[derive(Debug, Clone, PartialEq)]
pub struct RuncArgs {
    pub common: Common,
    /// The runc binary.
    pub runc: PathBuf,
    /// `runc --root`.
    pub root: PathBuf,
    /// The OCI bundle.
    pub bundle: PathBuf,
    /// The container id.
    pub id: String,
}

/// A parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Process(ProcessArgs),
    Runc(RuncArgs),
}

/// The usage line of errors.
pub const USAGE: &str = "usage: hooklet-monitor process --dir DIR --log LOG [--workdir DIR] [--log-max-size BYTES] [--log-max-files N] -- COMMAND [ARG...]\n   or: hooklet-monitor runc --dir DIR --log LOG [--log-max-size BYTES] [--log-max-files N] --runc RUNC --root ROOT --bundle BUNDLE --id ID";

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<Mode, String> {
    let mut it = args.into_iter();
    let mode = match it.next().as_ref().and_then(|m| m.to_str()) {
        Some(m @ ("process" | "runc")) => m.to_string(),
        Some(other) => return Err(format!("unknown mode {other:?}; {USAGE}")),
        None => return Err(USAGE.to_string()),
    };
    let mut paths: std::collections::HashMap<&'static str, PathBuf> = Default::default();
    let mut rotation = DEFAULT_ROTATION;
    let mut id = None;
    let path_flags: &[&'static str] =
        if mode == "process" { &["--dir", "--log", "--workdir"] } else { &["--dir", "--log", "--runc", "--root", "--bundle"] };
    while let Some(flag) = it.next() {
        let flag = flag.to_str().ok_or_else(|| format!("bad flag {flag:?}; {USAGE}"))?.to_string();
        if flag == "--" && mode == "process" {
            break;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = |v: &OsString| v.to_str().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--log-max-size" => rotation.max_size = number(&value)?.max(1),
            "--log-max-files" => {
                rotation.max_files = u32::try_from(number(&value)?).ok().filter(|n| *n >= 2).ok_or_else(|| format!("--log-max-files must be at least 2, not {value:?}"))?
            }
            "--id" if mode == "runc" => id = Some(value.into_string().map_err(|v| format!("--id: {v:?} is not text"))?),
            f => match path_flags.iter().find(|p| **p == f) {
                Some(p) => drop(paths.insert(p, PathBuf::from(value))),
                None => return Err(format!("unknown flag {flag}; {USAGE}")),
            },
        }
    }
    let mut take = |flag: &str| paths.remove(flag).ok_or_else(|| format!("{flag} is required; {USAGE}"));
    let common = Common { dir: take("--dir")?, log: take("--log")?, rotation };
    if mode == "runc" {
        let (runc, root, bundle) = (take("--runc")?, take("--root")?, take("--bundle")?);
        let id = id.ok_or_else(|| format!("--id is required; {USAGE}"))?;
        return Ok(Mode::Runc(RuncArgs { common, runc, root, bundle, id }));
    }
    let argv: Vec<OsString> = it.collect();
    if argv.is_empty() {
        return Err(format!("no command after `--`; {USAGE}"));
    }
    Ok(Mode::Process(ProcessArgs { common, workdir: paths.remove("--workdir"), argv }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    fn process(s: &str) -> ProcessArgs {
        match parse(args(s)).unwrap() {
            Mode::Process(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parses_the_process_mode() {
        let a = process("process --dir /d --log /l --log-max-size 100 --log-max-files 3 --workdir /w -- sh -c true");
        assert_eq!((a.common.dir, a.common.log, a.workdir), ("/d".into(), "/l".into(), Some("/w".into())));
        assert_eq!(a.common.rotation, Rotation { max_size: 100, max_files: 3 });
        assert_eq!(a.argv, args("sh -c true"));
        assert_eq!(process("process --dir /d --log /l -- x").common.rotation, DEFAULT_ROTATION);
    }

    #[test]
    fn parses_the_runc_mode() {
        let Mode::Runc(a) = parse(args("runc --dir /b --log /l --runc /usr/bin/runc --root /r --bundle /b --id c1 --log-max-files 2")).unwrap() else {
            panic!("not runc")
        };
        assert_eq!((a.common.dir, a.runc, a.root, a.bundle, a.id), ("/b".into(), "/usr/bin/runc".into(), "/r".into(), "/b".into(), "c1".into()));
        assert_eq!(a.common.rotation.max_files, 2);
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        for (line, says) in [
            ("process --dir /d -- x", "--log is required"),
            ("process --dir /d --log /l", "no command"),
            ("process --dir /d --log /l --log-max-files 1 -- x", "--log-max-files must be at least 2"),
            ("process --dir /d --log /l --log-max-size ten -- x", "--log-max-size"),
            ("process --bogus 1 -- x", "unknown flag --bogus"),
            ("process --id x --dir /d --log /l -- x", "unknown flag --id"),
            ("runc --dir /d --log /l --runc r --root /r --bundle /b", "--id is required"),
            ("runc --dir /d --log /l --root /r --bundle /b --id x", "--runc is required"),
            ("runc --dir /d --log /l --workdir /w", "unknown flag --workdir"),
            ("crun", "unknown mode"),
        ] {
            let err = parse(args(line)).unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }
}
