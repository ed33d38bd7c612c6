use super::*;

fn flags(hard: Option<&str>, soft: Option<&str>, grace: Option<&str>, reclaim: Option<&str>) -> EvictionFlags {
    let s = |v: Option<&str>| v.map(str::to_string);
    EvictionFlags { hard: s(hard), soft: s(soft), soft_grace_period: s(grace), minimum_reclaim: s(reclaim) }
}

#[test]
fn defaults_are_the_linux_hard_thresholds() {
    let t = parse_thresholds(&EvictionFlags::default()).unwrap();
    let names: Vec<&str> = t.iter().map(|t| t.signal.as_str()).collect();
    assert_eq!(names, ["memory.available", "nodefs.available", "imagefs.available", "nodefs.inodesFree"]);
    assert_eq!(t[0].value, ThresholdValue::Quantity { amount: 100 << 20, written: "100Mi".into() });
    assert_eq!(t[1].value.amount(1000), 100);
    assert!(t.iter().all(Threshold::is_hard));
}

#[test]
fn given_hard_thresholds_replace_the_defaults_and_zero_percent_disables() {
    let t = parse_thresholds(&flags(Some("memory.available<1Gi,nodefs.available<0%"), None, None, None)).unwrap();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].value.amount(0), 1 << 30);
}

#[test]
fn soft_thresholds_need_a_grace_period() {
    let t = parse_thresholds(&flags(Some("pid.available<10"), Some("memory.available<2Gi"), Some("memory.available=1m30s"), Some("memory.available=5%"))).unwrap();
    assert_eq!(t.len(), 2);
    assert_eq!(t[1].grace_period, Duration::from_secs(90));
    assert_eq!(t[1].min_reclaim, Some(ThresholdValue::Percentage(0.05)));
    let err = parse_thresholds(&flags(None, Some("memory.available<2Gi"), None, None)).unwrap_err();
    assert!(err.starts_with("--eviction-soft: grace period must be specified for the soft eviction threshold memory.available"), "{err}");
}

#[test]
fn malformed_input_gets_the_kubelet_errors_naming_the_flag() {
    let hard = |v: &str| parse_thresholds(&flags(Some(v), None, None, None)).unwrap_err();
    assert_eq!(hard("memory.free<1Gi"), "--eviction-hard: unsupported eviction signal memory.free");
    assert_eq!(hard("memory.available<0"), "--eviction-hard: eviction threshold memory.available must be positive: 0");
    assert_eq!(hard("memory.available<-1Gi"), "--eviction-hard: eviction threshold memory.available must be positive: -1Gi");
    assert_eq!(hard("nodefs.available<120%"), "--eviction-hard: eviction percentage threshold nodefs.available must be <= 100%: 120%");
    assert_eq!(hard("nodefs.available<-5%"), "--eviction-hard: eviction percentage threshold nodefs.available must be >= 0%: -5%");
    assert!(hard("memory.available<lots").starts_with("--eviction-hard: quantities must match the regular expression"));
    assert_eq!(hard("memory.available=1Gi"), "--eviction-hard: malformed pair, expect string<string");
    let grace = parse_thresholds(&flags(None, Some("memory.available<1Gi"), Some("memory.available=soon"), None)).unwrap_err();
    assert_eq!(grace, "--eviction-soft-grace-period: time: invalid duration \"soon\"");
    let reclaim = parse_thresholds(&flags(None, None, None, Some("memory.available=-1Mi"))).unwrap_err();
    assert_eq!(reclaim, "--eviction-minimum-reclaim: negative eviction minimum reclaim specified for memory.available");
}

#[test]
fn go_durations() {
    assert_eq!(parse_go_duration("1m30s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_go_duration("1.5h"), Ok(Duration::from_secs(5400)));
    assert!(parse_go_duration("10").is_err());
    assert!(parse_go_duration("-1s").unwrap_err().contains("must be a positive value"));
}
