//! Engine pid files: which process a running engine is, written by the supervisor into the state
//! directory while the engine runs, so that an agent started after a crash of its predecessor
//! can find and stop what it left (see [`super::leftovers`]).
//!
//! A pid file is one JSON object: `pid`, `start_time` (field 22 of `/proc/<pid>/stat`, clock
//! ticks after boot), `boot_id` (`/proc/sys/kernel/random/boot_id`), `port` and `command`. Pid
//! plus start time plus boot id name one process for good: a recycled pid has another start
//! time, so it is never mistaken for the engine.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// What a pid file records about one engine process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PidRecord {
    pub(crate) pid: u32,
    pub(crate) start_time: u64,
    #[serde(default)]
    pub(crate) boot_id: Option<String>,
    pub(crate) port: u16,
    #[serde(default)]
    pub(crate) command: String,
}

/// The pid file of a running engine; removed when dropped (the engine was reaped, or the
/// supervisor ended and `kill_on_drop` killed it).
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Records the engine `pid` (its start time read from `/proc` now, while it is our unreaped
    /// child) in `path`, replacing the file atomically; creates the directory (mode 0700).
    pub(crate) fn write(path: &Path, pid: u32, port: u16, command: &str) -> std::io::Result<Self> {
        let stat = ProcStat::read(pid).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::NotFound, format!("no /proc/{pid}/stat"))
        })?;
        let record = PidRecord {
            pid,
            start_time: stat.start_time,
            boot_id: boot_id(),
            port,
            command: command.to_owned(),
        };
        if let Some(dir) = path.parent() {
            create_private_dir(dir)?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec(&record).map_err(std::io::Error::other)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(Self {
            path: path.to_owned(),
        })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Creates `dir` and its parents (mode 0700 for the ones created).
pub(crate) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Reads a pid file (`None`: unreadable or not a pid file).
pub(crate) fn read(path: &Path) -> Option<PidRecord> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// This boot's id (`None` where `/proc` does not have it).
pub(crate) fn boot_id() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .ok()
        .map(|s| s.trim().to_owned())
}

/// The fields of `/proc/<pid>/stat` the agent uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    /// Field 3: `R`, `S`, `Z` (zombie), `X` (dead)…
    pub(crate) state: char,
    /// Field 5: process group.
    pub(crate) pgid: i32,
    /// Field 22: start time in clock ticks after boot.
    pub(crate) start_time: u64,
}

impl ProcStat {
    /// The stat of `pid`, `None` when there is no such process (or no `/proc`).
    pub(crate) fn read(pid: u32) -> Option<Self> {
        Self::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Parses a stat line; the command name (field 2) may hold spaces and parentheses, so the
    /// fields are counted after its last `)`.
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let (_, rest) = line.rsplit_once(')')?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `fields[0]` is field 3.
        Some(Self {
            state: fields.first()?.chars().next()?,
            pgid: fields.get(2)?.parse().ok()?,
            start_time: fields.get(19)?.parse().ok()?,
        })
    }

    /// Whether the process still runs (a zombie or dead entry does not).
    pub(crate) fn running(&self) -> bool {
        !matches!(self.state, 'Z' | 'X')
    }
}

/// Whether `/proc/<pid>` belongs to the user the agent runs as.
pub(crate) fn owned_by_us(pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}"))
        .map(|m| m.uid() == nix::unistd::geteuid().as_raw())
        .unwrap_or(false)
}

/// The running processes whose process group is `pgid` (a bounded scan of `/proc`).
pub(crate) fn group_members(pgid: i32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| ProcStat::read(pid).is_some_and(|s| s.pgid == pgid && s.running()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (python3 (vllm) x) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 987654 1000 10 18446744073709551615 0";
        let stat = ProcStat::parse(line).unwrap();
        assert_eq!(stat.state, 'S');
        assert_eq!(stat.pgid, 4242);
        assert_eq!(stat.start_time, 987_654);
        assert!(stat.running());
        assert!(
            !ProcStat::parse("4242 (x) Z 1 4242 4242 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5")
                .unwrap()
                .running()
        );
        assert_eq!(ProcStat::parse("garbage"), None);
    }

    #[test]
    fn pid_file_records_our_own_process_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/engine-0.pid");
        let me = std::process::id();
        let file = PidFile::write(&path, me, 5001, "vllm serve m --port 5001").unwrap();
        let record = read(&path).unwrap();
        assert_eq!(record.pid, me);
        assert_eq!(record.port, 5001);
        assert_eq!(record.start_time, ProcStat::read(me).unwrap().start_time);
        assert_eq!(record.boot_id, boot_id());
        drop(file);
        assert!(!path.exists());
    }
}
