//! Engine processes are forked by one long-lived thread, `engine-spawner`, and (on Linux) carry a
//! parent-death signal, so an engine dies with its agent even when the agent is killed with
//! SIGKILL.
//!
//! Linux sends the parent-death signal when the *thread* that forked the child exits, not the
//! process: an engine forked by a tokio worker or blocking-pool thread would be signalled when
//! that thread retires while the agent lives on. The spawner thread is started once per process
//! and never ends (its request channel lives in a `static`), so the signal fires only when the
//! process itself dies. A child that finds its parent already gone after setting the signal (the
//! agent died between fork and `prctl`) exits at once instead of running unsupervised.

use std::io;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use tokio::process::{Child, Command};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The signal an engine receives when its agent dies: SIGTERM, so an engine can still stop the
/// workers it forked and free the GPU; an engine that ignores it is found and stopped by the
/// next agent from its pid file (see [`super::pidfile`]).
#[cfg(target_os = "linux")]
pub(crate) const PARENT_DEATH_SIGNAL: nix::sys::signal::Signal = nix::sys::signal::Signal::SIGTERM;

struct Request {
    command: Command,
    runtime: Handle,
    reply: oneshot::Sender<io::Result<Child>>,
}

static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();

fn spawner() -> io::Result<mpsc::Sender<Request>> {
    if let Some(tx) = SPAWNER.get() {
        return Ok(tx.lock().unwrap_or_else(|e| e.into_inner()).clone());
    }
    let (tx, rx) = mpsc::channel::<Request>();
    std::thread::Builder::new()
        .name("engine-spawner".to_owned())
        .spawn(move || serve(&rx))?;
    // A racing caller may have installed its own thread first: use that one (ours then ends
    // when its channel closes, before it ever forked anything).
    let tx = SPAWNER.get_or_init(|| Mutex::new(tx));
    Ok(tx.lock().unwrap_or_else(|e| e.into_inner()).clone())
}

fn serve(rx: &mpsc::Receiver<Request>) {
    while let Ok(mut request) = rx.recv() {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // tokio registers the child with the caller's runtime (its reaper and SIGCHLD).
            let _runtime = request.runtime.enter();
            request.command.spawn()
        }))
        .unwrap_or_else(|_| Err(io::Error::other("engine spawn panicked")));
        let _ = request.reply.send(result);
    }
}

/// Spawns `command` from the `engine-spawner` thread, with the parent-death signal set on Linux
/// ([`PARENT_DEATH_SIGNAL`]) unless `parent_death_signal` is false. Must be called inside a
/// tokio runtime, which the child is registered with (as [`Command::spawn`]).
///
/// # Errors
/// The spawn error (program not found, not executable…), or an error when the spawner thread
/// cannot be started.
pub(crate) async fn spawn(mut command: Command, parent_death_signal: bool) -> io::Result<Child> {
    if parent_death_signal {
        set_parent_death_signal(&mut command);
    }
    let (reply, answer) = oneshot::channel();
    let request = Request {
        command,
        runtime: Handle::current(),
        reply,
    };
    spawner()?
        .send(request)
        .map_err(|_| io::Error::other("the engine-spawner thread is gone"))?;
    answer
        .await
        .map_err(|_| io::Error::other("the engine-spawner thread dropped the request"))?
}

// The one `unsafe` of the workspace: `pre_exec` is the only way to run code in the child between
// fork and exec, where the parent-death signal must be set.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn set_parent_death_signal(command: &mut Command) {
    let agent = nix::unistd::getpid();
    // SAFETY: the closure runs in the forked child before exec and calls only `prctl` and
    // `getppid`, both async-signal-safe system calls; it allocates nothing.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(PARENT_DEATH_SIGNAL)
                .map_err(|e| io::Error::from_raw_os_error(e as i32))?;
            // The agent died between fork and prctl: the signal will never come.
            if nix::unistd::getppid() != agent {
                return Err(io::Error::from_raw_os_error(nix::libc::ESRCH));
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn set_parent_death_signal(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawns_the_command_and_reports_a_missing_program() {
        let mut ok = Command::new("true");
        ok.kill_on_drop(true);
        let mut child = spawn(ok, true).await.unwrap();
        assert!(child.wait().await.unwrap().success());
        let err = spawn(Command::new("/nonexistent/engine"), true)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    /// The child's own parent-death signal (`prctl(PR_GET_PDEATHSIG)`, read by python3).
    #[cfg(target_os = "linux")]
    async fn child_pdeathsig(parent_death_signal: bool) -> i32 {
        let mut c = Command::new("python3");
        c.args([
            "-c",
            "import ctypes; s = ctypes.c_int(); ctypes.CDLL(None).prctl(2, ctypes.byref(s)); print(s.value)",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true);
        let child = spawn(c, parent_death_signal).await.unwrap();
        let out = child.wait_with_output().await.unwrap();
        assert!(out.status.success());
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn child_carries_the_parent_death_signal_only_when_asked() {
        assert_eq!(child_pdeathsig(true).await, PARENT_DEATH_SIGNAL as i32);
        assert_eq!(child_pdeathsig(false).await, 0);
    }
}
