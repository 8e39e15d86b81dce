//! Local Redis servers the tests start themselves: a standalone server on a free port (for fault
//! tests), the same over TLS only (with a throwaway certificate authority made by `openssl`), and
//! a three-master Redis Cluster.
//!
//! Every server is a child of a small `sh` wrapper that holds a pipe from the test process on its
//! standard input: when the guard is dropped (also on panic) or the test process dies, the pipe
//! closes and the wrapper kills the server with SIGKILL. Nothing outlives the test binary, not even
//! a cluster kept in a `static` shared by the tests of one binary.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `true` when `bin arg` runs and succeeds.
fn runs(bin: &str, arg: &str) -> bool {
    Command::new(bin)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `true` when `redis-server` and `redis-cli` can be run.
pub fn binaries_available() -> bool {
    runs("redis-server", "--version") && runs("redis-cli", "--version")
}

/// `true` when `redis-server` and `openssl` can be run: what [`RedisServer::start_tls`] needs.
pub fn tls_binaries_available() -> bool {
    runs("redis-server", "--version") && runs("openssl", "version")
}

fn pseudo_random() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = nanos
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER.fetch_add(0x9e37_79b9, Ordering::Relaxed);
    // splitmix64
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A loopback port that is free now, whose cluster bus port (`+10000`) is free too.
pub fn free_port() -> u16 {
    for _ in 0..1_000 {
        let port = 20_000 + (pseudo_random() % 20_000) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
    panic!("no free loopback port pair found");
}

/// A fresh directory under the system temp dir, removed by its owner's `Drop`.
fn temp_dir(tag: &str) -> PathBuf {
    sweep_stale_dirs(tag);
    let dir = std::env::temp_dir().join(format!(
        "dedup-{tag}-{}-{:x}",
        std::process::id(),
        pseudo_random()
    ));
    std::fs::create_dir_all(&dir).expect("cannot create a temp dir");
    dir
}

/// Removes the directories of test processes that have ended. The servers shared by a whole
/// test binary live in statics, which are never dropped, so their directories outlive the run;
/// the next run cleans up. A directory is named after its process (see [`temp_dir`]), and only
/// one whose process is gone is touched (on Linux, where `/proc` tells).
fn sweep_stale_dirs(tag: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    let prefix = format!("dedup-{tag}-");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

const WRAPPER: &str = r#"
redis-server "$@" &
pid=$!
# The test process holds our standard input: when it closes it (or dies), the server goes.
cat > /dev/null
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0
"#;

/// One `redis-server` child process.
#[derive(Debug)]
struct Process {
    wrapper: Child,
}

impl Process {
    fn spawn(args: &[String]) -> Process {
        let wrapper = Command::new("sh")
            .arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start sh for redis-server");
        Process { wrapper }
    }

    /// Kills the server (SIGKILL: no shutdown, no save) and waits until it is gone.
    fn kill(&mut self) {
        drop(self.wrapper.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.wrapper.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.wrapper.kill();
        let _ = self.wrapper.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client of the server on loopback `port`: over TLS, trusting `tls`'s CA, when it speaks TLS.
/// `None` only in a build that cannot speak TLS, which never starts a TLS server.
fn client(tls: Option<&TlsFiles>, port: u16) -> Option<redis::Client> {
    match tls {
        #[cfg(feature = "redis-tls")]
        Some(tls) => Some(tls.client(port)),
        #[cfg(not(feature = "redis-tls"))]
        Some(_) => None,
        None => redis::Client::open(format!("redis://127.0.0.1:{port}")).ok(),
    }
}

/// `true` when the server on `port` answers `PING` (see [`client`]).
fn ping(tls: Option<&TlsFiles>, port: u16) -> bool {
    client(tls, port).is_some_and(|client| ping_with(&client))
}

/// The URL scheme of a server that speaks TLS when it has `tls`.
fn scheme(tls: Option<&TlsFiles>) -> &'static str {
    if tls.is_some() { "rediss" } else { "redis" }
}

fn ping_with(client: &redis::Client) -> bool {
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    redis::cmd("PING")
        .query::<String>(&mut conn)
        .is_ok_and(|pong| pong == "PONG")
}

fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if ready() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = what;
    false
}

fn common_args(port: u16, dir: &Path) -> Vec<String> {
    let mut args = vec!["--port".into(), port.to_string()];
    args.extend(process_args(dir, &format!("redis-{port}.log")));
    args
}

/// Loopback only, files in `dir`, no snapshots, in the foreground.
fn process_args(dir: &Path, log: &str) -> Vec<String> {
    vec![
        "--bind".into(),
        "127.0.0.1".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--logfile".into(),
        dir.join(log).display().to_string(),
        "--save".into(),
        String::new(),
        "--daemonize".into(),
        "no".into(),
    ]
}

/// The `openssl` configuration of [`TlsFiles`]: a CA, and a server certificate whose subject
/// alternative names are the addresses the tests connect to (clients check those, not the CN).
/// The certificate also serves for client authentication: the nodes of a TLS cluster present it
/// to each other on the cluster bus, which always verifies peers (`tls-auth-clients` is only
/// about clients).
const OPENSSL_CONFIG: &str = "\
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
";

/// A throwaway certificate authority (`ca.crt`) and a server certificate it signed for
/// `127.0.0.1` and `localhost` (`server.crt`, `server.key`), made by the `openssl` command in a
/// server's directory. Valid for two days; the CA's key is never used again.
#[derive(Debug, Clone)]
struct TlsFiles {
    ca_pem: Vec<u8>,
}

impl TlsFiles {
    fn make(dir: &Path) -> TlsFiles {
        std::fs::write(dir.join("openssl.cnf"), OPENSSL_CONFIG).expect("cannot write openssl.cnf");
        // No argument has a space: each command is written as one line.
        let openssl = |command: &str| {
            let output = Command::new("openssl")
                .args(command.split_whitespace())
                .current_dir(dir)
                .stdin(Stdio::null())
                .output()
                .expect("cannot run openssl");
            assert!(
                output.status.success(),
                "`openssl {command}` failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let new_key = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        openssl(&format!(
            "req -config openssl.cnf -x509 -new {new_key} -keyout ca.key -out ca.crt -days 2 \
             -subj /CN=dedup-test-CA -extensions ca"
        ));
        openssl(&format!(
            "req -config openssl.cnf -new {new_key} -keyout server.key -out server.csr \
             -subj /CN=localhost"
        ));
        openssl(&format!(
            "x509 -req -in server.csr -CA ca.crt -CAkey ca.key -set_serial 0x{:x} -days 2 \
             -out server.crt -extfile openssl.cnf -extensions server",
            pseudo_random() >> 1
        ));
        TlsFiles {
            ca_pem: std::fs::read(dir.join("ca.crt")).expect("cannot read ca.crt"),
        }
    }

    /// A client of the server on `port` that trusts this CA (besides the system's roots).
    #[cfg(feature = "redis-tls")]
    fn client(&self, port: u16) -> redis::Client {
        let certificates = redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(self.ca_pem.clone()),
        };
        redis::Client::build_with_tls(format!("rediss://127.0.0.1:{port}"), certificates)
            .expect("cannot build a TLS client for the test's redis-server")
    }

    /// Listening on `port` with TLS only (`--port 0`: no plain TCP), clients not asked for a
    /// certificate.
    fn server_args(port: u16, dir: &Path) -> Vec<String> {
        let file = |name: &str| dir.join(name).display().to_string();
        let mut args = vec![
            "--port".into(),
            "0".into(),
            "--tls-port".into(),
            port.to_string(),
            "--tls-cert-file".into(),
            file("server.crt"),
            "--tls-key-file".into(),
            file("server.key"),
            "--tls-ca-cert-file".into(),
            file("ca.crt"),
            "--tls-auth-clients".into(),
            "no".into(),
        ];
        args.extend(process_args(dir, &format!("redis-tls-{port}.log")));
        args
    }
}

/// A standalone `redis-server` on a free loopback port, for tests that kill and restart it, or
/// that need it to speak TLS.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    durable: bool,
    tls: Option<TlsFiles>,
    process: Option<Process>,
}

impl RedisServer {
    /// Starts a server. With `durable`, every write is in the append-only file before it is
    /// acknowledged (`appendfsync always`), so a killed server restarts with what it confirmed.
    pub fn start(durable: bool) -> RedisServer {
        Self::start_in(temp_dir("redis"), durable, None)
    }

    /// Starts a server that speaks TLS only, with a certificate for `127.0.0.1` and `localhost`
    /// signed by a CA made for it ([`ca_pem`](Self::ca_pem)); clients need no certificate.
    /// [`tls_binaries_available`] tells whether it can run.
    #[cfg(feature = "redis-tls")]
    pub fn start_tls() -> RedisServer {
        let dir = temp_dir("redis-tls");
        let tls = TlsFiles::make(&dir);
        Self::start_in(dir, false, Some(tls))
    }

    fn start_in(dir: PathBuf, durable: bool, tls: Option<TlsFiles>) -> RedisServer {
        let needs = if tls.is_some() {
            "; a TLS server needs a redis-server built with TLS"
        } else {
            ""
        };
        for _ in 0..5 {
            let mut server = RedisServer {
                port: free_port(),
                dir: dir.clone(),
                durable,
                tls: tls.clone(),
                process: None,
            };
            if server.try_start() {
                return server;
            }
            // The port was taken in between: try another one.
            server.dir = PathBuf::new();
        }
        panic!(
            "redis-server did not start (see the logs under {}{needs})",
            dir.display()
        );
    }

    fn try_start(&mut self) -> bool {
        let mut args = if self.tls.is_some() {
            TlsFiles::server_args(self.port, &self.dir)
        } else {
            common_args(self.port, &self.dir)
        };
        if self.durable {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"].map(String::from));
        } else {
            args.extend(["--appendonly", "no"].map(String::from));
        }
        self.process = Some(Process::spawn(&args));
        wait_until("redis-server", Duration::from_secs(15), || self.answers())
    }

    /// `true` when the server answers `PING` (over TLS, trusting its CA, when it speaks TLS).
    fn answers(&self) -> bool {
        ping(self.tls.as_ref(), self.port)
    }

    /// The server's URL: `redis://127.0.0.1:P`, or `rediss://127.0.0.1:P` over TLS.
    pub fn url(&self) -> String {
        format!("{}://127.0.0.1:{}", scheme(self.tls.as_ref()), self.port)
    }

    /// The PEM certificate of the CA that signed a TLS server's certificate.
    pub fn ca_pem(&self) -> &[u8] {
        &self.tls.as_ref().expect("not a TLS server").ca_pem
    }

    /// A client of a TLS server that trusts its CA (besides the system's roots).
    #[cfg(feature = "redis-tls")]
    pub fn tls_client(&self) -> redis::Client {
        self.tls
            .as_ref()
            .expect("not a TLS server")
            .client(self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port (and the same data directory).
    pub fn restart(&mut self) {
        self.kill();
        // The port may linger briefly after the kill.
        assert!(
            wait_until("a free port", Duration::from_secs(15), || {
                TcpListener::bind(("127.0.0.1", self.port)).is_ok()
            }),
            "port {} did not become free",
            self.port
        );
        assert!(
            self.try_start(),
            "redis-server did not restart on port {}",
            self.port
        );
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A Redis Cluster of three masters (no replicas) on free loopback ports, plaintext or TLS only.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    dir: PathBuf,
    tls: Option<TlsFiles>,
    processes: Vec<Process>,
}

impl RedisCluster {
    /// Starts three `redis-server --cluster-enabled yes` nodes, joins them with
    /// `redis-cli --cluster create`, and waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        Self::start_with(false)
    }

    /// The same cluster speaking TLS only, clients and cluster bus alike (`--tls-cluster yes`),
    /// with a certificate signed by a CA made for it (see [`RedisServer::start_tls`]).
    #[cfg(feature = "redis-tls")]
    pub fn start_tls() -> RedisCluster {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> RedisCluster {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start(tls) {
                Ok(cluster) => return cluster,
                Err(err) => last = err,
            }
        }
        panic!("could not start a local Redis Cluster: {last}");
    }

    fn try_start(tls: bool) -> Result<RedisCluster, String> {
        let dir = temp_dir(if tls {
            "redis-tls-cluster"
        } else {
            "redis-cluster"
        });
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 3 {
            let port = free_port();
            if !ports.contains(&port) {
                ports.push(port);
            }
        }
        let mut cluster = RedisCluster {
            ports: ports.clone(),
            dir: dir.clone(),
            tls: tls.then(|| TlsFiles::make(&dir)),
            processes: Vec::new(),
        };
        for &port in &ports {
            let mut args = match &cluster.tls {
                Some(_) => {
                    let mut args = TlsFiles::server_args(port, &dir);
                    args.extend(["--tls-cluster", "yes"].map(String::from));
                    args
                }
                None => common_args(port, &dir),
            };
            args.extend([
                "--cluster-enabled".to_owned(),
                "yes".to_owned(),
                "--cluster-config-file".to_owned(),
                dir.join(format!("nodes-{port}.conf")).display().to_string(),
                "--appendonly".to_owned(),
                "no".to_owned(),
            ]);
            cluster.processes.push(Process::spawn(&args));
        }
        for &port in &ports {
            if !wait_until("a cluster node", Duration::from_secs(15), || {
                ping(cluster.tls.as_ref(), port)
            }) {
                return Err(format!(
                    "node {port} did not answer PING (logs in {})",
                    dir.display()
                ));
            }
        }
        let tls_args = match &cluster.tls {
            Some(_) => vec![
                "--tls".to_owned(),
                "--cacert".to_owned(),
                dir.join("ca.crt").display().to_string(),
            ],
            None => Vec::new(),
        };
        let output = Command::new("redis-cli")
            .args(&tls_args)
            .arg("--cluster")
            .arg("create")
            .args(ports.iter().map(|p| format!("127.0.0.1:{p}")))
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run redis-cli: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        let all_ok = || {
            ports.iter().all(|&port| {
                client(cluster.tls.as_ref(), port).is_some_and(|c| cluster_state_ok(&c))
            })
        };
        if !wait_until("cluster_state:ok", Duration::from_secs(30), all_ok) {
            return Err("the cluster never reported cluster_state:ok".to_owned());
        }
        Ok(cluster)
    }

    /// The node addresses, as `redis://127.0.0.1:P`, or `rediss://127.0.0.1:P` over TLS.
    pub fn nodes(&self) -> Vec<String> {
        let scheme = scheme(self.tls.as_ref());
        self.ports
            .iter()
            .map(|p| format!("{scheme}://127.0.0.1:{p}"))
            .collect()
    }
}

fn cluster_state_ok(client: &redis::Client) -> bool {
    let Ok(mut conn) = client.get_connection_with_timeout(Duration::from_millis(500)) else {
        return false;
    };
    let _ = conn.set_read_timeout(Some(Duration::from_secs(2)));
    redis::cmd("CLUSTER")
        .arg("INFO")
        .query::<String>(&mut conn)
        .is_ok_and(|info| info.lines().any(|line| line.trim() == "cluster_state:ok"))
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for process in &mut self.processes {
            process.kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
