//! One task's engine instance: its launch, its engine (a [`gonka_core::InferenceBackend`] with
//! its own supervisor), the state the API reports and the operations that move it (start,
//! sleep, wake). Sleep and wake are serialised per instance and reconcile what was asked (the
//! recorded state) with what the engine is (asleep or not), so a wake that arrives before the
//! sleep it follows leaves the engine awake.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gonka_core::mlnode_api::{SleepMode, TaskInstance, TaskLaunch, TaskState};
use gonka_core::{EngineHealth, InferenceBackend, LaunchSpec};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::engine::EngineKind;

/// Unix time in milliseconds.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[derive(Debug)]
struct Status {
    state: TaskState,
    since_ms: u64,
    error: Option<String>,
    /// The engine sleeps now (its own sleep mode done, or its process stopped).
    asleep: bool,
    /// When the wake in progress was asked for.
    wake_started: Option<Instant>,
}

/// A task's engine instance. See the module docs.
pub(crate) struct Instance {
    pub(crate) task_id: String,
    pub(crate) launch: TaskLaunch,
    pub(crate) kind: EngineKind,
    spec: LaunchSpec,
    pub(crate) backend: Arc<dyn InferenceBackend>,
    pub(crate) sleep_mode: SleepMode,
    status: Mutex<Status>,
    pub(crate) in_flight: Arc<AtomicUsize>,
    pub(crate) last_request_ms: Arc<AtomicU64>,
    ops: tokio::sync::Mutex<()>,
    pub(crate) cancel: CancellationToken,
    changes: Arc<watch::Sender<u64>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Instance")
            .field("task_id", &self.task_id)
            .field("model", &self.launch.model)
            .finish_non_exhaustive()
    }
}

/// What a finished wake reports: how long it took, for the wake histogram.
pub(crate) type WakeObserver = Arc<dyn Fn(Duration) + Send + Sync>;

impl Instance {
    /// A starting instance (nothing runs until [`Instance::start`]).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        task_id: &str,
        launch: TaskLaunch,
        kind: EngineKind,
        spec: LaunchSpec,
        backend: Arc<dyn InferenceBackend>,
        sleep_mode: SleepMode,
        changes: Arc<watch::Sender<u64>>,
    ) -> Self {
        Self {
            task_id: task_id.to_owned(),
            launch,
            kind,
            spec,
            backend,
            sleep_mode,
            status: Mutex::new(Status {
                state: TaskState::Starting,
                since_ms: now_ms(),
                error: None,
                asleep: false,
                wake_started: None,
            }),
            in_flight: Arc::new(AtomicUsize::new(0)),
            last_request_ms: Arc::new(AtomicU64::new(0)),
            ops: tokio::sync::Mutex::new(()),
            cancel: CancellationToken::new(),
            changes,
            client: crate::http_client(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Status> {
        self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The recorded state (what was asked, or where the engine got).
    pub(crate) fn state(&self) -> TaskState {
        self.lock().state
    }

    /// Moves to `state` (its `since_ms` restarts when it changes) and wakes the waiters.
    pub(crate) fn set(&self, state: TaskState, error: Option<String>) {
        {
            let mut s = self.lock();
            if s.state != state {
                s.since_ms = now_ms();
            }
            s.state = state;
            if error.is_some() {
                s.error = error;
            }
        }
        self.changes.send_modify(|n| *n += 1);
    }

    /// Moves from `from` to `to` when the instance is in `from`; the state it was in.
    pub(crate) fn transition(&self, from: TaskState, to: TaskState) -> TaskState {
        let was = {
            let mut s = self.lock();
            let was = s.state;
            if was == from {
                s.state = to;
                s.since_ms = now_ms();
                if to == TaskState::Waking {
                    s.wake_started = Some(Instant::now());
                }
            }
            was
        };
        if was == from {
            self.changes.send_modify(|n| *n += 1);
        }
        was
    }

    /// The instance as the API reports it: a running instance whose engine gave up is
    /// `failed`, one whose engine is restarting after a crash is `starting`.
    pub(crate) async fn report(&self) -> TaskInstance {
        let health = self.backend.health().await;
        let (mut state, since_ms, mut error) = {
            let s = self.lock();
            (s.state, s.since_ms, s.error.clone())
        };
        if state == TaskState::Running {
            match health {
                EngineHealth::Failed(reason) => {
                    state = TaskState::Failed;
                    error = Some(reason);
                }
                EngineHealth::Starting | EngineHealth::Stopped => {
                    state = TaskState::Starting;
                    error = self.backend.last_error().or(error);
                }
                _ => {}
            }
        }
        let mut report = TaskInstance::starting(&self.task_id, &self.launch, since_ms);
        report.engine = self.kind.as_str().to_owned();
        report.state = state;
        report.sleep_mode = self.sleep_mode;
        report.error = error;
        report.in_flight = u32::try_from(self.in_flight.load(Ordering::SeqCst)).unwrap_or(u32::MAX);
        report.last_request_ms = self.last_request_ms.load(Ordering::SeqCst);
        report
    }

    /// Starts the engine: `running` when it answers ready, `failed` with the engine's reason
    /// otherwise. A start overtaken by a stop leaves nothing running.
    pub(crate) async fn start(&self) {
        if self.cancel.is_cancelled() {
            return;
        }
        let result = self.backend.start(&self.spec).await;
        if self.cancel.is_cancelled() {
            let _ = self.backend.stop().await;
            return;
        }
        match result {
            Ok(()) => {
                tracing::info!(task_id = %self.task_id, model = %self.launch.model, port = self.launch.port, "task instance running");
                self.set(TaskState::Running, None);
            }
            Err(e) => {
                let reason = engine_reason(e);
                tracing::error!(task_id = %self.task_id, %reason, "task instance failed to start");
                let _ = self.backend.stop().await;
                self.set(TaskState::Failed, Some(reason));
            }
        }
    }

    /// Brings the engine to what the recorded state asks: asleep for `sleeping`, awake (then
    /// `running`) for `waking`. Serialised per instance; `observe` gets the time of a finished
    /// wake.
    pub(crate) async fn reconcile(&self, observe: &WakeObserver) {
        let _op = self.ops.lock().await;
        // At most one sleep and one wake per call: the state can flip once while we act.
        for _ in 0..4 {
            if self.cancel.is_cancelled() {
                return;
            }
            let (state, asleep) = {
                let s = self.lock();
                (s.state, s.asleep)
            };
            match (state, asleep) {
                (TaskState::Sleeping, false) => match self.engine_sleep().await {
                    Ok(()) => {
                        self.lock().asleep = true;
                        tracing::info!(task_id = %self.task_id, mode = ?self.sleep_mode, "task instance asleep");
                    }
                    Err(reason) => {
                        tracing::warn!(task_id = %self.task_id, %reason, "task instance did not sleep");
                        self.transition(TaskState::Sleeping, TaskState::Running);
                        self.set(self.state(), Some(format!("sleep failed: {reason}")));
                        return;
                    }
                },
                (TaskState::Waking, true) => match self.engine_wake().await {
                    Ok(()) => self.lock().asleep = false,
                    Err(reason) => {
                        tracing::error!(task_id = %self.task_id, %reason, "task instance did not wake");
                        self.set(TaskState::Failed, Some(format!("wake failed: {reason}")));
                        return;
                    }
                },
                (TaskState::Waking, false) => {
                    let started = self.lock().wake_started.take();
                    if self.transition(TaskState::Waking, TaskState::Running) == TaskState::Waking {
                        let took = started.map(|t| t.elapsed()).unwrap_or_default();
                        tracing::info!(task_id = %self.task_id, seconds = took.as_secs_f64(), "task instance awake");
                        observe(took);
                    }
                }
                _ => return,
            }
        }
    }

    async fn engine_sleep(&self) -> Result<(), String> {
        match self.sleep_mode {
            SleepMode::EngineSleep => self.engine_call("/sleep?level=1").await,
            SleepMode::Restart => self.backend.stop().await.map_err(|e| e.to_string()),
        }
    }

    async fn engine_wake(&self) -> Result<(), String> {
        match self.sleep_mode {
            SleepMode::EngineSleep => self.engine_call("/wake_up").await,
            SleepMode::Restart => {
                let result = self.backend.start(&self.spec).await;
                if self.cancel.is_cancelled() {
                    let _ = self.backend.stop().await;
                }
                result.map_err(engine_reason)
            }
        }
    }

    /// `POST {engine}{path}`, 2xx expected.
    async fn engine_call(&self, path: &str) -> Result<(), String> {
        let base = self
            .backend
            .base_url()
            .ok_or_else(|| "the engine does not answer (not ready)".to_owned())?;
        let response = self
            .client
            .post(format!("{base}{path}"))
            .timeout(Duration::from_secs(120))
            .send()
            .await
            .map_err(|e| format!("POST {path}: {}", e.without_url()))?;
        if response.status().is_success() {
            Ok(())
        } else {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Err(format!(
                "POST {path} answered {status}: {}",
                body.chars().take(300).collect::<String>()
            ))
        }
    }
}

fn engine_reason(e: gonka_core::Error) -> String {
    match e {
        gonka_core::Error::Engine(reason) => reason,
        other => other.to_string(),
    }
}
