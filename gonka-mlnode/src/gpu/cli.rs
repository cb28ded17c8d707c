//! The vendors' command-line tools: found on a `PATH`, run with a timeout, their output parsed.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use super::{ascend, musa, rocm, GpuDevice};

/// Most bytes of a tool's output read; the rest is ignored.
const MAX_OUTPUT: u64 = 4 * 1024 * 1024;

/// Pause between two checks whether a tool has exited.
const POLL: Duration = Duration::from_millis(10);

/// One vendor tool: how to run it and how to read what it prints.
struct Tool {
    program: &'static str,
    args: &'static [&'static str],
    parse: fn(&str) -> Vec<GpuDevice>,
}

/// ROCm flags shared by `hy-smi` and `rocm-smi`.
const ROCM_ARGS: &[&str] = &[
    "--showproductname",
    "--showmeminfo",
    "vram",
    "--showtemp",
    "--showuse",
    "--json",
];

/// In detection order: `hy-smi` before `rocm-smi`, which Hygon hosts also ship.
const TOOLS: [Tool; 4] = [
    Tool {
        program: "hy-smi",
        args: ROCM_ARGS,
        parse: rocm::parse_hy_smi,
    },
    Tool {
        program: "rocm-smi",
        args: ROCM_ARGS,
        parse: rocm::parse_rocm_smi,
    },
    Tool {
        program: "npu-smi",
        args: &["info"],
        parse: ascend::parse_npu_smi,
    },
    Tool {
        program: "mthreads-gmi",
        args: &[],
        parse: musa::parse_mthreads_gmi,
    },
];

/// How long an answer of the tools is reused for the same `PATH`: `/health` and
/// `/api/v1/gpu/devices` are polled, and some tools (Python `rocm-smi`, `hy-smi`) take a second.
pub(super) const CACHE_TTL: Duration = Duration::from_secs(5);

/// The last answer per `PATH`: when, which devices. Entries older than [`CACHE_TTL`] are dropped
/// at each insertion, so it holds only the `PATH`s asked about in the last few seconds.
static CACHE: Mutex<BTreeMap<OsString, (Instant, Vec<GpuDevice>)>> = Mutex::new(BTreeMap::new());

/// The devices of the first tool in `path` whose output lists any; empty when none does. An
/// answer for the same `path` younger than [`CACHE_TTL`] is reused; concurrent callers wait for
/// one run of the tools.
pub(super) fn detect(path: Option<&OsStr>, timeout: Duration) -> Vec<GpuDevice> {
    let Some(path) = path else {
        return Vec::new();
    };
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((at, devices)) = cache.get(path) {
        if at.elapsed() < CACHE_TTL {
            return devices.clone();
        }
    }
    let devices = run_tools(path, timeout);
    cache.retain(|_, (at, _)| at.elapsed() < CACHE_TTL);
    cache.insert(path.to_owned(), (Instant::now(), devices.clone()));
    devices
}

/// [`detect`] without the cache.
fn run_tools(path: &OsStr, timeout: Duration) -> Vec<GpuDevice> {
    for tool in &TOOLS {
        let Some(exe) = find(tool.program, path) else {
            continue;
        };
        match run(&exe, tool.args, timeout) {
            Ok(output) => {
                let devices = (tool.parse)(&output);
                if !devices.is_empty() {
                    return devices;
                }
                tracing::debug!(tool = tool.program, "vendor tool listed no device");
            }
            Err(e) => {
                tracing::warn!(tool = %exe.display(), error = %e, "vendor GPU tool failed")
            }
        }
    }
    Vec::new()
}

/// `program` in the first directory of `path` that holds it as an executable file.
fn find(program: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Why a tool gave no output.
#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error("cannot start: {0}")]
    Spawn(std::io::Error),
    #[error("cannot wait for it: {0}")]
    Wait(std::io::Error),
    #[error("no answer within {0:?}: killed")]
    Timeout(Duration),
}

/// What `exe args` prints on stdout (at most [`MAX_OUTPUT`] bytes, lossily decoded) once it
/// exits, whatever its exit status; killed after `timeout`.
fn run(exe: &Path, args: &[&str], timeout: Duration) -> Result<String, RunError> {
    let deadline = Instant::now() + timeout;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(RunError::Spawn)?;
    let (tx, rx) = mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stdout.take(MAX_OUTPUT).read_to_end(&mut buf);
            let _ = tx.send(buf);
        });
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Timeout(timeout));
            }
            Ok(None) => std::thread::sleep(POLL),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::Wait(e));
            }
        }
    };
    if !status.success() {
        tracing::debug!(tool = %exe.display(), %status, "vendor GPU tool exited with an error");
    }
    // A grandchild may hold stdout open: wait for the reader only until the deadline.
    let remaining = deadline.saturating_duration_since(Instant::now()).max(POLL);
    let buf = rx.recv_timeout(remaining).unwrap_or_default();
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn a_tool_that_hangs_is_killed_at_the_timeout() {
        let dir = tempfile::tempdir().unwrap();
        let exe = script(dir.path(), "rocm-smi", "exec sleep 30");
        let err = run(&exe, &[], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, RunError::Timeout(_)), "{err}");
    }

    #[test]
    fn only_executable_files_on_the_path_are_found() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("npu-smi"), "not executable").unwrap();
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(find("npu-smi", &path), None);
        let exe = script(dir.path(), "mthreads-gmi", "true");
        assert_eq!(find("mthreads-gmi", &path), Some(exe));
    }

    #[test]
    fn an_answer_is_reused_for_the_same_path_only() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        script(
            dir.path(),
            "mthreads-gmi",
            &format!(
                "echo run >> '{}'\necho '0    MTT S80        |00000000:04:00.0    |0%    2MiB(16384MiB)'",
                runs.display()
            ),
        );
        let path = std::env::join_paths([dir.path()]).unwrap();
        assert_eq!(detect(Some(&path), Duration::from_secs(5)).len(), 1);
        assert_eq!(detect(Some(&path), Duration::from_secs(5)).len(), 1);
        assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 1);
        let other = std::env::join_paths([dir.path(), Path::new("/nonexistent")]).unwrap();
        assert_eq!(detect(Some(&other), Duration::from_secs(5)).len(), 1);
        assert_eq!(std::fs::read_to_string(&runs).unwrap().lines().count(), 2);
    }

    #[test]
    fn a_failing_tool_gives_way_to_the_next_one() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "hy-smi", "echo 'no DCU found' >&2; exit 1");
        script(
            dir.path(),
            "rocm-smi",
            r#"echo '{"card0": {"Card Series": "Radeon RX 7900 XT", "VRAM Total Memory (B)": "21458059264", "VRAM Total Used Memory (B)": "27856896"}}'"#,
        );
        let path = std::env::join_paths([dir.path()]).unwrap();
        let devices = detect(Some(&path), Duration::from_secs(5));
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0].vendor.as_deref(), Some("amd"));
        assert_eq!(devices[0].total_memory_mb, 20464);
        assert_eq!(devices[0].used_memory_mb, 26);
    }
}
