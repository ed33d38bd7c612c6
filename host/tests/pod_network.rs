//! The pod network end to end, as root: namespaces, addresses, a server in a pod
//! reached from the node, teardown, and the sweep after a crash.
//!
//! Each test has its own bridge (`hkt-netN`), subnet (`10.215.N.0/24`), state directory
//! and pod uids, so the tests run in parallel and never touch a real hooklet's bridge;
//! [`TestNet`] removes all of it when the test ends, failed or not. Without root the
//! tests print "skipped: needs root" and pass.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hooklet::runtime::network::{NetworkConfig, PodNamespaces, PodNetwork};
use hooklet::runtime::PodRef;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BUSYBOX: &str = "/bin/busybox";

fn skip_unless_root() -> bool {
    let root = nix::unistd::Uid::effective().is_root();
    if !root {
        eprintln!("skipped: needs root (creates namespaces, veths and a bridge)");
    }
    !root
}

/// One test's network; removed (pods, bridge, mounts) when dropped.
struct TestNet {
    config: NetworkConfig,
    _dir: tempfile::TempDir,
}

impl TestNet {
    fn new(n: u8) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = NetworkConfig::new(dir.path().join("network"));
        config.bridge = format!("hkt-net{n}");
        config.subnet = format!("10.215.{n}.0/24").parse().unwrap();
        // A bridge left by an earlier run that was killed goes first.
        let _ = Command::new("ip").args(["link", "del", "dev", &config.bridge]).output();
        TestNet { config, _dir: dir }
    }

    async fn open(&self) -> PodNetwork {
        PodNetwork::open(self.config.clone()).await.unwrap()
    }

    fn state(&self) -> PathBuf {
        self.config.state_dir.canonicalize().unwrap()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let config = self.config.clone();
        // On a thread of its own: this may run inside the test's runtime.
        let cleaned = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async { PodNetwork::open(config).await?.destroy().await })
        })
        .join();
        if !matches!(cleaned, Ok(Ok(_))) {
            eprintln!("cleanup of {} failed: {cleaned:?}", self.config.bridge);
            let _ = Command::new("ip").args(["link", "del", "dev", &self.config.bridge]).output();
        }
    }
}

/// Test `n`'s network, opened; `None` (the test is skipped) without root.
async fn start(n: u8) -> Option<(TestNet, PodNetwork)> {
    if skip_unless_root() {
        return None;
    }
    let t = TestNet::new(n);
    let net = t.open().await;
    Some((t, net))
}

fn pod(test: &str, name: &str) -> PodRef {
    PodRef { namespace: "default".into(), name: name.into(), uid: format!("0000-pod-network-{test}-{name}") }
}

fn link_exists(name: &str) -> bool {
    Command::new("ip").args(["link", "show", "dev", name]).output().unwrap().status.success()
}

fn mounted_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_str().unwrap();
    info.lines().filter(|l| l.contains(dir)).map(str::to_string).collect()
}

/// Runs `args` with `nsenter OPTION=FILE` and returns stdout.
fn nsenter(option: &str, file: &Path, args: &[&str]) -> String {
    let out = Command::new("nsenter").arg(format!("{option}={}", file.display())).args(args).output().unwrap();
    assert!(out.status.success(), "nsenter {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Checks the pod's `eth0` address and default route.
fn assert_eth0(ns: &PodNamespaces) {
    let eth0 = nsenter("--net", &ns.net, &["ip", "-4", "-o", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains(&format!("{}/{}", ns.ip, ns.prefix)), "{eth0}");
    let routes = nsenter("--net", &ns.net, &["ip", "route"]);
    assert!(routes.contains(&format!("default via {}", ns.gateway)), "{routes}");
}

/// The hostname in the pod's UTS namespace.
fn hostname(ns: &PodNamespaces) -> String {
    nsenter("--uts", &ns.uts, &["cat", "/proc/sys/kernel/hostname"]).trim().to_string()
}

fn inode(path: impl AsRef<Path>) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[tokio::test]
async fn setup_gives_distinct_stable_ips_in_range() {
    let Some((t, net)) = start(1).await else { return };
    let (a, b) = (pod("ips", "a"), pod("ips", "b"));
    let na = net.setup(&a).await.unwrap();
    let nb = net.setup(&b).await.unwrap();
    assert!(t.config.subnet.contains(na.ip) && t.config.subnet.contains(nb.ip), "{na:?} {nb:?}");
    assert_ne!(na.ip, nb.ip);
    assert_ne!(na.ip, t.config.subnet.gateway());
    assert_eq!((na.gateway, na.prefix), (t.config.subnet.gateway(), 24));
    assert_eq!(net.setup(&a).await.unwrap(), na, "a second setup returns the same");
    assert!(link_exists(&na.host_veth));
    assert_eth0(&na);
}

#[tokio::test]
async fn concurrent_setups_never_share_an_ip() {
    let Some((_t, net)) = start(2).await else { return };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..6 {
        let net = net.clone();
        tasks.spawn(async move { net.setup(&pod("concurrent", &format!("p{i}"))).await.unwrap().ip });
    }
    let ips: HashSet<_> = tasks.join_all().await.into_iter().collect();
    assert_eq!(ips.len(), 6, "{ips:?}");
}

/// `busybox httpd` serving `dir` on port 8080 in the pod's network namespace; killed
/// when dropped.
struct Httpd(Child);

impl Httpd {
    fn start(ns: &PodNamespaces, dir: &Path) -> Self {
        let child = Command::new("nsenter")
            .arg(format!("--net={}", ns.net.display()))
            .args([BUSYBOX, "httpd", "-f", "-p", "8080", "-h"])
            .arg(dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        Httpd(child)
    }
}

impl Drop for Httpd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// An HTTP/1.0 GET of `/index.html` at `ip:8080` over a real TCP connection, retried
/// until the server listens (5 s at most).
async fn http_get(ip: std::net::Ipv4Addr) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect((ip, 8080)).await?;
            s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await?;
            let mut body = String::new();
            s.read_to_string(&mut body).await?;
            std::io::Result::Ok(body)
        };
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Ok(body)) => return body,
            other if Instant::now() > deadline => panic!("GET http://{ip}:8080/ failed: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn a_server_in_the_pod_answers_the_node_at_the_pod_ip_and_on_loopback_inside() {
    let Some((_t, net)) = start(3).await else { return };
    assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} is missing: `apt-get install busybox-static` (.ci/run does)");
    let ns = net.setup(&pod("server", "web")).await.unwrap();
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from the pod\n").unwrap();
    let _httpd = Httpd::start(&ns, www.path());
    let response = http_get(ns.ip).await;
    assert!(response.contains("200 OK") && response.ends_with("hello from the pod\n"), "{response}");
    let inside = nsenter("--net", &ns.net, &[BUSYBOX, "wget", "-q", "-O-", "http://127.0.0.1:8080/index.html"]);
    assert_eq!(inside, "hello from the pod\n");
}

#[tokio::test]
async fn a_new_pod_that_reuses_an_ip_answers_at_once() {
    let Some((_t, net)) = start(8).await else { return };
    let www = tempfile::tempdir().unwrap();
    std::fs::write(www.path().join("index.html"), "hello from the pod\n").unwrap();
    // Another pod keeps the bridge's carrier up (else the kernel forgets neighbours).
    net.setup(&pod("reuse", "bystander")).await.unwrap();
    let old = pod("reuse", "old");
    let ns = net.setup(&old).await.unwrap();
    let httpd = Httpd::start(&ns, www.path());
    http_get(ns.ip).await; // the node now has a neighbour entry for the old pod's MAC
    drop(httpd);
    net.teardown(&old).await.unwrap();
    let new = net.setup(&pod("reuse", "new")).await.unwrap();
    assert_eq!(new.ip, ns.ip);
    let _httpd = Httpd::start(&new, www.path());
    let started = Instant::now();
    assert!(http_get(new.ip).await.ends_with("hello from the pod\n"));
    assert!(started.elapsed() < Duration::from_secs(2), "took {:?}", started.elapsed());
}

#[tokio::test]
async fn the_pod_has_its_hostname_and_its_own_ipc_and_net_namespaces() {
    let Some((_t, net)) = start(4).await else { return };
    let (a, b) = (pod("ns", "frontend-7f9c"), pod("ns", "backend"));
    let na = net.setup(&a).await.unwrap();
    let nb = net.setup(&b).await.unwrap();
    assert_eq!((hostname(&na).as_str(), hostname(&nb).as_str()), ("frontend-7f9c", "backend"));
    assert_ne!(inode(&na.ipc), inode("/proc/self/ns/ipc"));
    assert_ne!(inode(&na.ipc), inode(&nb.ipc));
    assert_ne!(inode(&na.net), inode("/proc/self/ns/net"));
    assert_ne!(inode(&na.uts), inode("/proc/self/ns/uts"));
    let lo = nsenter("--net", &na.net, &["ip", "-o", "link", "show", "dev", "lo"]);
    assert!(lo.contains(",UP"), "{lo}");
}

#[tokio::test]
async fn teardown_removes_veth_namespaces_and_allocation_and_is_idempotent() {
    let Some((t, net)) = start(5).await else { return };
    let p = pod("teardown", "gone");
    let ns = net.setup(&p).await.unwrap();
    let pod_dir = t.state().join("ns").join(&p.uid);
    let record = t.state().join("pods").join(format!("{}.json", p.uid));
    assert!(link_exists(&ns.host_veth) && ns.net.exists() && record.exists());
    assert_eq!(mounted_under(&pod_dir).len(), 3);
    net.teardown(&p).await.unwrap();
    assert!(!link_exists(&ns.host_veth), "veth {} left", ns.host_veth);
    assert!(!pod_dir.exists() && !record.exists());
    assert!(mounted_under(&pod_dir).is_empty(), "{:?}", mounted_under(&pod_dir));
    net.teardown(&p).await.unwrap();
    // The pod can come back, at the lowest free address again.
    assert_eq!(net.setup(&p).await.unwrap().ip, ns.ip);
}

#[tokio::test]
async fn sweep_after_a_crash_removes_leftovers_and_keeps_listed_pods_with_their_ip() {
    let Some((t, crashed)) = start(6).await else { return };
    let (dead, alive) = (pod("sweep", "dead"), pod("sweep", "alive"));
    let nd = crashed.setup(&dead).await.unwrap();
    let na = crashed.setup(&alive).await.unwrap();
    drop(crashed); // no teardown: what a crashed hooklet leaves

    let net = t.open().await;
    let keep: HashSet<String> = [alive.uid.clone()].into();
    assert_eq!(net.sweep(&keep).await.unwrap(), vec![dead.uid]);
    assert!(!link_exists(&nd.host_veth) && !nd.net.exists());
    assert!(link_exists(&na.host_veth));
    assert_eq!(net.setup(&alive).await.unwrap(), na, "the kept pod is adopted with its IP");
    // A new pod does not get the kept pod's address.
    assert_ne!(net.setup(&pod("sweep", "new")).await.unwrap().ip, na.ip);

    let mut all = net.sweep(&HashSet::new()).await.unwrap();
    all.sort();
    assert_eq!(all, [alive.uid.clone(), pod("sweep", "new").uid]);
    assert!(!link_exists(&na.host_veth));
    assert!(mounted_under(&t.state().join("ns")).len() == 1, "only the directory's own bind mount stays");
    assert!(net.sweep(&HashSet::new()).await.unwrap().is_empty());
}

#[tokio::test]
async fn setup_repairs_a_half_made_pod_network_keeping_its_ip() {
    let Some((_t, net)) = start(7).await else { return };
    let p = pod("repair", "fixme");
    let ns = net.setup(&p).await.unwrap();
    // The veth lost (a crash mid-setup): setup makes it again.
    assert!(Command::new("ip").args(["link", "del", "dev", &ns.host_veth]).status().unwrap().success());
    assert_eq!(net.setup(&p).await.unwrap(), ns);
    assert!(link_exists(&ns.host_veth));
    // The namespace files lost too (a reboot): setup makes new namespaces.
    assert!(Command::new("umount").arg(&ns.net).status().unwrap().success());
    assert_eq!(net.setup(&p).await.unwrap(), ns);
    assert_eth0(&ns);
    assert_eq!(hostname(&ns), "fixme");
}

#[tokio::test]
async fn a_bad_subnet_is_a_clear_error() {
    // Validation comes before the root check: this runs as any user.
    let mut config = NetworkConfig::new(std::env::temp_dir().join("hooklet-never-created"));
    config.subnet = "8.8.8.0/24".parse().unwrap();
    let e = format!("{:#}", PodNetwork::open(config.clone()).await.err().unwrap());
    assert!(e.contains("pod network `subnet` 8.8.8.0/24") && e.contains("private"), "{e}");
    let e = format!("{:#}", "10.215.0.1/24".parse::<hooklet::runtime::network::Ipv4Subnet>().unwrap_err());
    assert!(e.contains("did you mean 10.215.0.0/24"), "{e}");
    config.subnet = "10.0.0.0/30".parse().unwrap();
    let e = format!("{:#}", PodNetwork::open(config).await.err().unwrap());
    assert!(e.contains("between /16 and /29"), "{e}");
}
