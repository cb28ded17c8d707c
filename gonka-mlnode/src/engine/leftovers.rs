//! The agent's state directory: held with an exclusive lock while the agent runs, and swept at
//! start for engines a previous agent left running (it was killed with SIGKILL and its engine
//! ignored the parent-death signal, or the signal could not be set).
//!
//! For every `engine-*.pid` file ([`super::pidfile`]): when the recorded process still runs with
//! the recorded start time on this boot and belongs to the agent's user, its process group gets
//! SIGTERM, then SIGKILL after the grace period; when the engine itself is gone but processes of
//! its group remain (workers it forked), they are stopped the same way (a pid number is not
//! reused while a process group of that number exists). A recycled pid (other start time) and a
//! file from an earlier boot are left alone. Each file is removed once handled.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use super::pidfile::{self, group_members, owned_by_us, PidRecord, ProcStat};

/// Name of the lock file in the state directory.
const LOCK_FILE: &str = "agent.lock";
/// How long to wait for processes to vanish after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Pause between checks whether stopped processes are gone.
const POLL: Duration = Duration::from_millis(50);

/// The state directory, locked for this agent.
#[derive(Debug)]
pub(crate) struct StateDir {
    dir: PathBuf,
    _lock: Flock<File>,
}

/// Why the state directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateDirError {
    #[error("cannot use state directory {dir}: {error}")]
    Io { dir: PathBuf, error: std::io::Error },
    #[error("state directory {dir} is in use by another gonka-mlnode (its {LOCK_FILE} is locked)")]
    Locked { dir: PathBuf },
}

/// What the sweep did about one pid file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Leftover {
    /// The engine (or its group's remaining workers) was stopped.
    Stopped { record: PidRecord, members: usize },
    /// Nothing of the engine runs any more (or the pid was recycled, or the file is from an
    /// earlier boot): the file was removed.
    Gone,
}

impl StateDir {
    /// Creates `dir` (mode 0700) and takes its lock for as long as the value lives.
    pub(crate) fn open(dir: &Path) -> Result<Self, StateDirError> {
        let io = |error| StateDirError::Io {
            dir: dir.to_owned(),
            error,
        };
        pidfile::create_private_dir(dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(LOCK_FILE))
            .map_err(io)?;
        let lock = Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            if e == nix::errno::Errno::EWOULDBLOCK {
                StateDirError::Locked {
                    dir: dir.to_owned(),
                }
            } else {
                io(std::io::Error::from(e))
            }
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// Stops every engine a previous agent left (see the module docs), logging each; `grace` is
    /// the SIGTERM → SIGKILL delay. Returns what was found, per pid file.
    pub(crate) async fn stop_leftovers(&self, grace: Duration) -> Vec<Leftover> {
        let mut found = Vec::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return found;
        };
        let files: Vec<PathBuf> = entries
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("engine-") && n.ends_with(".pid"))
            })
            .collect();
        for path in files {
            let leftover = match pidfile::read(&path) {
                Some(record) => stop(record, grace).await,
                None => {
                    tracing::warn!(file = %path.display(), "unreadable engine pid file removed");
                    Leftover::Gone
                }
            };
            if let Leftover::Stopped { record, members } = &leftover {
                tracing::warn!(
                    file = %path.display(),
                    pid = record.pid,
                    port = record.port,
                    members,
                    command = %record.command,
                    "stopped an engine left running by a previous agent"
                );
            }
            let _ = std::fs::remove_file(&path);
            found.push(leftover);
        }
        found
    }
}

/// The processes a record stands for, if any still run: the engine's group when the engine runs
/// with the recorded start time, or the rest of its group when it is gone.
enum Target {
    Group(i32),
    Process(u32),
}

fn target(record: &PidRecord) -> Option<Target> {
    if record.boot_id.is_some() && record.boot_id != pidfile::boot_id() {
        return None;
    }
    let pid = i32::try_from(record.pid).ok()?;
    match ProcStat::read(record.pid).filter(ProcStat::running) {
        Some(stat) if stat.start_time != record.start_time => None, // recycled pid
        Some(stat) => {
            if !owned_by_us(record.pid) {
                tracing::warn!(
                    pid = record.pid,
                    "engine left by a previous agent belongs to another user: not stopped"
                );
                return None;
            }
            Some(if stat.pgid == pid {
                Target::Group(pid)
            } else {
                Target::Process(record.pid)
            })
        }
        None => {
            let members = group_members(pid);
            (!members.is_empty() && members.iter().all(|&m| owned_by_us(m)))
                .then_some(Target::Group(pid))
        }
    }
}

impl Target {
    fn members(&self, record: &PidRecord) -> usize {
        match self {
            Target::Group(pgid) => group_members(*pgid).len(),
            Target::Process(pid) => usize::from(
                ProcStat::read(*pid)
                    .is_some_and(|s| s.running() && s.start_time == record.start_time),
            ),
        }
    }

    fn signal(&self, signal: Signal) {
        // ESRCH: already gone.
        let _ = match self {
            Target::Group(pgid) => killpg(Pid::from_raw(*pgid), signal),
            Target::Process(pid) => match i32::try_from(*pid) {
                Ok(pid) => kill(Pid::from_raw(pid), signal),
                Err(_) => Ok(()),
            },
        };
    }

    /// Polls until no member runs, at most `limit`; whether they are gone.
    async fn wait_gone(&self, record: &PidRecord, limit: Duration) -> bool {
        let polls = limit.as_millis() / POLL.as_millis() + 1;
        for _ in 0..polls {
            if self.members(record) == 0 {
                return true;
            }
            tokio::time::sleep(POLL).await;
        }
        self.members(record) == 0
    }
}

async fn stop(record: PidRecord, grace: Duration) -> Leftover {
    let Some(target) = target(&record) else {
        return Leftover::Gone;
    };
    let members = target.members(&record);
    target.signal(Signal::SIGTERM);
    if !target.wait_gone(&record, grace).await {
        tracing::warn!(
            pid = record.pid,
            grace_s = grace.as_secs_f64(),
            "engine left by a previous agent ignored SIGTERM, sending SIGKILL"
        );
        target.signal(Signal::SIGKILL);
        if !target.wait_gone(&record, KILL_WAIT).await {
            tracing::error!(
                pid = record.pid,
                "engine left by a previous agent still runs after SIGKILL"
            );
        }
    }
    Leftover::Stopped { record, members }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt;

    fn sleeper() -> std::process::Child {
        std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap()
    }

    fn record_for(child: &std::process::Child, start_time_shift: u64) -> PidRecord {
        let stat = ProcStat::read(child.id()).unwrap();
        PidRecord {
            pid: child.id(),
            start_time: stat.start_time + start_time_shift,
            boot_id: pidfile::boot_id(),
            port: 5001,
            command: "sleep 30".into(),
        }
    }

    fn write(dir: &Path, name: &str, record: &PidRecord) {
        std::fs::write(dir.join(name), serde_json::to_vec(record).unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_live_engine_is_stopped_and_a_recycled_pid_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        let mut engine = sleeper();
        let mut stranger = sleeper();
        write(dir.path(), "engine-0.pid", &record_for(&engine, 0));
        write(dir.path(), "engine-1.pid", &record_for(&stranger, 1));
        std::fs::write(dir.path().join("engine-2.pid"), b"not json").unwrap();

        let mut found = state.stop_leftovers(Duration::from_secs(5)).await;
        found.sort_by_key(|l| matches!(l, Leftover::Gone));
        assert!(
            matches!(&found[..], [Leftover::Stopped { record, members: 1 }, Leftover::Gone, Leftover::Gone] if record.pid == engine.id()),
            "{found:?}"
        );
        // The engine was signalled (and is reaped here, its parent); the stranger still runs.
        assert!(!engine.wait().unwrap().success());
        assert!(
            stranger.try_wait().unwrap().is_none(),
            "a recycled pid was signalled"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "only agent.lock stays"
        );
        stranger.kill().unwrap();
        stranger.wait().unwrap();
    }

    #[test]
    fn a_second_agent_on_the_same_state_dir_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StateDir::open(dir.path()).unwrap();
        let err = StateDir::open(dir.path()).unwrap_err();
        assert!(matches!(err, StateDirError::Locked { .. }), "{err}");
        assert!(err.to_string().contains("another gonka-mlnode"), "{err}");
    }
}
