//! Whether a test that needs a real server may run.
//!
//! On a developer's machine without the server, the test passes without running and says so on
//! the real standard error (one line per service and test binary; `writeln!` on `io::stderr()`
//! is not captured by the test harness). With `CI` set, a missing server is a failure.
#![allow(dead_code)]

use std::io::Write;
use std::sync::Mutex;

/// The Redis the tests use: `REDIS_URL`, default `redis://127.0.0.1:6379`.
pub fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// The PostgreSQL the tests use: `DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`.
pub fn database_url() -> String {
    std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// `true` under CI (`CI` set to anything but empty, `0` or `false`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Returns `reachable`; when it is `false`, panics under CI and otherwise reports the skip once.
#[track_caller]
pub fn require(service: &str, url: &str, reachable: bool) -> bool {
    if reachable {
        return true;
    }
    assert!(
        !in_ci(),
        "{service} is not reachable at {url}: with CI set, a missing service is a failure"
    );
    static REPORTED: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut reported = REPORTED.lock().unwrap_or_else(|e| e.into_inner());
    if !reported.iter().any(|s| s == service) {
        reported.push(service.to_owned());
        let binary = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .map(|s| {
                s.rsplit_once('-')
                    .map_or(s.clone(), |(name, _hash)| name.to_owned())
            })
            .unwrap_or_default();
        let _ = writeln!(
            std::io::stderr(),
            "dedup: SKIPPED {service} tests ({binary}): {service} not reachable at {url} — start it \
             (scripts/services up) or set its URL; with CI=true this is a failure"
        );
    }
    false
}
