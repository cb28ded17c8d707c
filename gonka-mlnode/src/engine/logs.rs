//! Engine output capture: every stdout/stderr line goes to a size-capped rotating log file (when
//! a log dir is set) and into an in-memory tail, from which failure reasons quote the engine's
//! own last error line.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

/// Lines kept in memory.
pub const TAIL_LINES: usize = 50;

/// Rotation settings of an engine log file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileConfig {
    /// The active file; rotated copies get `.1`, `.2`, ... appended.
    pub path: PathBuf,
    /// Size after which the file is rotated.
    pub max_bytes: u64,
    /// Rotated copies kept (older ones are deleted).
    pub max_files: usize,
}

#[derive(Debug)]
struct RotatingFile {
    config: LogFileConfig,
    file: Option<File>,
    written: u64,
}

impl RotatingFile {
    fn write_line(&mut self, line: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.config.path.parent() {
                fs::create_dir_all(dir)?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.config.path)?;
            self.written = file.metadata().map_or(0, |m| m.len());
            self.file = Some(file);
        }
        if self.written > 0 && self.written + line.len() as u64 + 1 > self.config.max_bytes {
            self.rotate()?;
            return self.write_line(line);
        }
        if let Some(file) = self.file.as_mut() {
            file.write_all(line.as_bytes())?;
            file.write_all(b"\n")?;
            self.written += line.len() as u64 + 1;
        }
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        self.written = 0;
        let base = self.config.path.to_string_lossy().into_owned();
        if self.config.max_files == 0 {
            return fs::remove_file(&self.config.path);
        }
        let _ = fs::remove_file(format!("{base}.{}", self.config.max_files));
        for n in (1..self.config.max_files).rev() {
            let from = format!("{base}.{n}");
            if fs::metadata(&from).is_ok() {
                fs::rename(&from, format!("{base}.{}", n + 1))?;
            }
        }
        fs::rename(&self.config.path, format!("{base}.1"))
    }
}

/// The captured output of one engine (across its restarts).
#[derive(Debug)]
pub struct EngineLog {
    file: Mutex<Option<RotatingFile>>,
    tail: Mutex<VecDeque<String>>,
}

impl EngineLog {
    /// A log writing to `file` (if any) and keeping the last [`TAIL_LINES`] lines.
    pub fn new(file: Option<LogFileConfig>) -> Self {
        Self {
            file: Mutex::new(file.map(|config| RotatingFile {
                config,
                file: None,
                written: 0,
            })),
            tail: Mutex::new(VecDeque::with_capacity(TAIL_LINES)),
        }
    }

    /// Records one line of engine output.
    pub fn push(&self, line: &str) {
        {
            let mut tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.to_owned());
        }
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = file.as_mut() {
            if let Err(e) = f.write_line(line) {
                tracing::warn!(path = %f.config.path.display(), error = %e, "cannot write engine log");
            }
        }
    }

    /// The last lines, oldest first.
    pub fn tail(&self) -> Vec<String> {
        self.tail
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    /// The line that best explains a failure: the last one that mentions an error, else the last
    /// non-empty one.
    pub fn failure_line(&self) -> Option<String> {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        let keywords = ["error", "exception", "fatal", "failed", "panic", "killed"];
        tail.iter()
            .rev()
            .find(|l| {
                let lower = l.to_ascii_lowercase();
                keywords.iter().any(|k| lower.contains(k))
            })
            .or_else(|| tail.iter().rev().find(|l| !l.trim().is_empty()))
            .map(|l| l.trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_line_prefers_the_last_error_line() {
        let log = EngineLog::new(None);
        log.push("loading weights");
        log.push("ValueError: model not found");
        log.push("shutting down");
        assert_eq!(
            log.failure_line().as_deref(),
            Some("ValueError: model not found")
        );
        let plain = EngineLog::new(None);
        plain.push("bye");
        assert_eq!(plain.failure_line().as_deref(), Some("bye"));
    }

    #[test]
    fn tail_keeps_only_the_last_lines() {
        let log = EngineLog::new(None);
        for i in 0..(TAIL_LINES + 10) {
            log.push(&format!("line {i}"));
        }
        let tail = log.tail();
        assert_eq!(tail.len(), TAIL_LINES);
        assert_eq!(tail[0], "line 10");
    }

    #[test]
    fn log_file_rotates_at_the_size_cap_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.log");
        let log = EngineLog::new(Some(LogFileConfig {
            path: path.clone(),
            max_bytes: 100,
            max_files: 2,
        }));
        for i in 0..100 {
            log.push(&format!("line number {i:04}"));
        }
        let base = path.to_string_lossy().into_owned();
        assert!(fs::metadata(&path).unwrap().len() <= 100);
        assert!(fs::metadata(format!("{base}.1")).is_ok());
        assert!(fs::metadata(format!("{base}.2")).is_ok());
        assert!(fs::metadata(format!("{base}.3")).is_err());
        let last = fs::read_to_string(&path).unwrap();
        assert!(last.ends_with("line number 0099\n"), "{last}");
    }
}
