//! The engine processes a test left behind: the fake vLLM processes serving a marker model (by
//! their command line in `/proc`), and a guard that SIGKILLs them and the test's own processes
//! when the test ends. Linux only; included with `#[path = "common/orphans.rs"] mod orphans;`
//! next to `mod common;`.
#![allow(dead_code)]

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::common::alive;

/// The running fake-engine processes serving `marker` (by their command line in `/proc`).
pub fn engines(marker: &str) -> Vec<u32> {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `python3 …/fake_engine.py serve MARKER …` (not the agent, whose arguments name
            // both too).
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                let args: Vec<&str> = c.split('\0').collect();
                args.get(1).is_some_and(|a| a.ends_with("/fake_engine.py"))
                    && args.contains(&marker)
            })
        })
        .filter(|&pid| alive(pid))
        .collect();
    pids.sort_unstable();
    pids
}

/// SIGKILLs whatever is left of a test's processes when it ends, passed or failed.
pub struct Cleanup {
    /// The marker model of the test's engines.
    pub marker: String,
    /// The test's own processes (agents).
    pub pids: Vec<u32>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for pid in engines(&self.marker).into_iter().chain(self.pids.clone()) {
            let _ = kill(Pid::from_raw(i32::try_from(pid).unwrap()), Signal::SIGKILL);
        }
    }
}
