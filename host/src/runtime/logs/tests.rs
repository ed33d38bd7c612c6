use super::*;

const T1: &str = "2026-12-04T23:08:58.000666291Z";
const T2: &str = "2026-12-04T23:08:59.5+00:00";

fn log(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap()
}

#[test]
fn cri_entries_decode_to_the_output_with_partial_lines_joined() {
    let dir = tempfile::tempdir().unwrap();
    let body = format!("{T1} stdout P hel\n{T1} stderr F oops\n{T2} stdout F lo\n{T2} stdout P no newline\n");
    let path = log(dir.path(), "app.log", &body);
    let all = LogOptions::default();
    assert_eq!(text(read(&path, &all, 1 << 20).unwrap()), "oops\nhello\nno newline");
    let stamped = LogOptions { timestamps: true, ..all.clone() };
    assert_eq!(text(read(&path, &stamped, 1 << 20).unwrap()), format!("{T1} oops\n{T1} hello\n{T2} no newline"));
    let stderr = LogOptions { stream: Some(Stream::Stderr), ..all.clone() };
    assert_eq!(text(read(&path, &stderr, 1 << 20).unwrap()), "oops\n");
    let stdout = LogOptions { stream: Some(Stream::Stdout), tail_lines: Some(1), ..all };
    assert_eq!(text(read(&path, &stdout, 1 << 20).unwrap()), "no newline");
}

#[test]
fn rotated_files_are_read_oldest_first_and_tail_takes_the_last_lines() {
    let dir = tempfile::tempdir().unwrap();
    log(dir.path(), "app.log.2", &format!("{T1} stdout F one\n"));
    log(dir.path(), "app.log.1", &format!("{T1} stdout F two\n{T1} stdout F three\n"));
    let path = log(dir.path(), "app.log", &format!("{T1} stdout F four\n"));
    assert_eq!(text(read(&path, &LogOptions::default(), 1 << 20).unwrap()), "one\ntwo\nthree\nfour\n");
    let tail = LogOptions { tail_lines: Some(3), ..Default::default() };
    assert_eq!(text(read(&path, &tail, 1 << 20).unwrap()), "two\nthree\nfour\n");
    assert_eq!(text(read(&path, &LogOptions::default(), 12).unwrap()), "three\nfour\n", "whole lines from the end");
}

#[test]
fn raw_lines_pass_through_and_a_missing_log_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    let path = log(dir.path(), "app.log", "plain output\nnot 2026 a stdout F entry\n");
    assert_eq!(text(read(&path, &LogOptions::default(), 1 << 20).unwrap()), "plain output\nnot 2026 a stdout F entry\n");
    assert!(read(&dir.path().join("none.log"), &LogOptions::default(), 100).unwrap().is_empty());
}

#[test]
fn streams_are_named_as_pod_log_options_name_them() {
    assert_eq!(parse_stream("Stderr"), Ok(Some(Stream::Stderr)));
    assert_eq!(parse_stream("All"), Ok(None));
    assert!(parse_stream("both").unwrap_err().contains("Stdout, Stderr or All"));
}
