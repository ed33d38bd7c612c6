//! The monitor's command line:
//! `hooklet-monitor process --dir DIR --log LOG [--workdir D] [--log-max-size BYTES]
//! [--log-max-files N] -- ARGV…`.

use std::ffi::OsString;
use std::path::PathBuf;

use crate::cri::{Rotation, DEFAULT_ROTATION};

/// What to run and where to keep its state.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessArgs {
    /// The container's state directory (monitor, pid, exit.json).
    pub dir: PathBuf,
    /// The container's CRI log.
    pub log: PathBuf,
    pub rotation: Rotation,
    /// The container's working directory.
    pub workdir: Option<PathBuf>,
    /// The container's command and arguments.
    pub argv: Vec<OsString>,
}

/// The usage line of errors.
pub const USAGE: &str = "usage: hooklet-monitor process --dir DIR --log LOG [--workdir DIR] [--log-max-size BYTES] [--log-max-files N] -- COMMAND [ARG...]";

/// Parses the arguments after the program name.
pub fn parse(args: Vec<OsString>) -> Result<ProcessArgs, String> {
    let mut it = args.into_iter();
    match it.next().as_ref().and_then(|m| m.to_str()) {
        Some("process") => {}
        Some(other) => return Err(format!("unknown mode {other:?}; {USAGE}")),
        None => return Err(USAGE.to_string()),
    }
    let (mut dir, mut log, mut workdir) = (None, None, None);
    let mut rotation = DEFAULT_ROTATION;
    while let Some(flag) = it.next() {
        let flag = flag.to_str().ok_or_else(|| format!("bad flag {flag:?}; {USAGE}"))?.to_string();
        if flag == "--" {
            break;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
        let number = |v: &OsString| v.to_str().and_then(|s| s.parse::<u64>().ok()).ok_or_else(|| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--dir" => dir = Some(PathBuf::from(value)),
            "--log" => log = Some(PathBuf::from(value)),
            "--workdir" => workdir = Some(PathBuf::from(value)),
            "--log-max-size" => rotation.max_size = number(&value)?.max(1),
            "--log-max-files" => {
                rotation.max_files = u32::try_from(number(&value)?).ok().filter(|n| *n >= 2).ok_or_else(|| format!("--log-max-files must be at least 2, not {value:?}"))?
            }
            _ => return Err(format!("unknown flag {flag}; {USAGE}")),
        }
    }
    let argv: Vec<OsString> = it.collect();
    if argv.is_empty() {
        return Err(format!("no command after `--`; {USAGE}"));
    }
    Ok(ProcessArgs {
        dir: dir.ok_or_else(|| format!("--dir is required; {USAGE}"))?,
        log: log.ok_or_else(|| format!("--log is required; {USAGE}"))?,
        rotation,
        workdir,
        argv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<OsString> {
        s.split(' ').map(OsString::from).collect()
    }

    #[test]
    fn parses_the_process_mode() {
        let a = parse(args("process --dir /d --log /l --log-max-size 100 --log-max-files 3 --workdir /w -- sh -c true")).unwrap();
        assert_eq!((a.dir, a.log, a.workdir), ("/d".into(), "/l".into(), Some("/w".into())));
        assert_eq!(a.rotation, Rotation { max_size: 100, max_files: 3 });
        assert_eq!(a.argv, args("sh -c true"));
        assert_eq!(parse(args("process --dir /d --log /l -- x")).unwrap().rotation, DEFAULT_ROTATION);
    }

    #[test]
    fn bad_arguments_name_the_flag() {
        for (line, says) in [
            ("process --dir /d -- x", "--log is required"),
            ("process --dir /d --log /l", "no command"),
            ("process --dir /d --log /l --log-max-files 1 -- x", "--log-max-files must be at least 2"),
            ("process --dir /d --log /l --log-max-size ten -- x", "--log-max-size"),
            ("process --bogus 1 -- x", "unknown flag --bogus"),
            ("runc", "unknown mode"),
        ] {
            let err = parse(args(line)).unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }
}
