//! Live load through a gateway while a test changes something: clients ask for one model all
//! along, and each answer is noted with the phase that was current when its request started, so
//! a test can check every answer of every phase (none failed while a route moved, a check
//! failed, an update rolled back).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinHandle;

use super::client;
use super::deploy_fleet::{ask, Answer};

/// Clients asking one model until stopped (bounded per client).
pub struct PhasedLoad {
    phase: Arc<AtomicU8>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(u8, Answer)>>>,
    workers: Vec<JoinHandle<()>>,
}

impl PhasedLoad {
    /// `clients` clients asking `model` at `base` (the gateway's public URL), in phase `phase`;
    /// each sends at most `max_each` requests.
    pub fn start(base: &str, model: &str, clients: usize, max_each: usize, phase: u8) -> Self {
        let phase = Arc::new(AtomicU8::new(phase));
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<(u8, Answer)>>> = Arc::default();
        let workers = (0..clients)
            .map(|_| {
                let (phase, stop, seen) = (phase.clone(), stop.clone(), seen.clone());
                let (base, model) = (base.to_owned(), model.to_owned());
                tokio::spawn(async move {
                    let http = client();
                    for _ in 0..max_each {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let started_in = phase.load(Ordering::Acquire);
                        let a = ask(&http, &base, &model, None).await;
                        seen.lock().unwrap().push((started_in, a));
                    }
                })
            })
            .collect();
        Self {
            phase,
            stop,
            seen,
            workers,
        }
    }

    /// Requests starting from now belong to phase `p`.
    pub fn set_phase(&self, p: u8) {
        self.phase.store(p, Ordering::Release);
    }

    /// Answers so far of requests started in phase `p`.
    pub fn count(&self, p: u8) -> usize {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(q, _)| *q == p)
            .count()
    }

    /// Waits until phase `p` has `n` answers; panics after `limit` (polls every 20 ms).
    pub async fn wait_count(&self, p: u8, n: usize, limit: Duration) {
        let polls = (limit.as_millis() / 20).max(1);
        for _ in 0..polls {
            if self.count(p) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("fewer than {n} answers in phase {p} within {limit:?}");
    }

    /// Stops the clients (each finishes its request in flight) and returns every answer with
    /// its phase, in the order they came.
    pub async fn stop(self) -> Vec<(u8, Answer)> {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers {
            w.await.unwrap();
        }
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}
