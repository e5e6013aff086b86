//! How long gantry's own stages take (`--timings`, `GANTRY_TIMINGS=1`): one line per stage on
//! stderr as it ends, and the list for the JSON summary.
//!
//! The recorder is process-wide, like a logger: the stages live deep in library code (a layer
//! being written, a publisher copying blobs), and threading a recorder through every signature
//! between the command and there would cost more than the measurement. A call site is one line,
//! `let _t = timings::stage("compile");`, and the stage ends when the guard is dropped. When
//! timings are off, a guard is one relaxed atomic load and nothing else: no clock read, no
//! allocation, no lock.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::settings::env;

static ENABLED: AtomicBool = AtomicBool::new(false);
static STAGES: Mutex<Vec<Stage>> = Mutex::new(Vec::new());

/// One finished stage.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub name: String,
    pub seconds: f64,
}

/// Turn recording on when `flag` (the command's `--timings`) is given or `GANTRY_TIMINGS` is
/// set to `1`/`true`/`yes`. Returns whether it is on.
pub fn init(flag: bool) -> bool {
    let on = flag || env_enabled(std::env::var(env::TIMINGS).ok().as_deref());
    ENABLED.store(on, Ordering::Relaxed);
    on
}

fn env_enabled(value: Option<&str>) -> bool {
    matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("1" | "true" | "yes" | "on")
    )
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Start timing `name`; the stage is recorded (and printed) when the guard is dropped.
#[must_use = "the stage ends when the guard is dropped; bind it to `_t`, not `_`"]
pub fn stage(name: impl Into<String>) -> Guard {
    Guard {
        running: enabled().then(|| (name.into(), Instant::now())),
    }
}

/// Time `f` as stage `name`.
pub fn time<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let _t = stage(name);
    f()
}

/// Record a stage measured elsewhere (e.g. a sum of intervals).
pub fn record(name: impl Into<String>, took: Duration) {
    if !enabled() {
        return;
    }
    let stage = Stage {
        name: name.into(),
        seconds: took.as_secs_f64(),
    };
    eprintln!("{}", line(&stage));
    STAGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(stage);
}

/// Every stage recorded so far, in the order they ended.
pub fn stages() -> Vec<Stage> {
    STAGES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone()
}

/// `  timing  compile        3.912s`: names padded so the numbers line up in a terminal.
pub fn line(stage: &Stage) -> String {
    format!("  timing  {:<28} {:>8.3}s", stage.name, stage.seconds)
}

/// The running stage; records itself when dropped.
pub struct Guard {
    running: Option<(String, Instant)>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some((name, started)) = self.running.take() {
            record(name, started.elapsed());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_aligns_name_and_prints_milliseconds() {
        let s = Stage {
            name: "compile".into(),
            seconds: 3.9124,
        };
        assert_eq!(line(&s), "  timing  compile                         3.912s");
    }

    #[test]
    fn env_values_that_turn_timings_on() {
        for on in ["1", "true", "YES", " on "] {
            assert!(env_enabled(Some(on)), "{on}");
        }
        for off in [None, Some(""), Some("0"), Some("false"), Some("no")] {
            assert!(!env_enabled(off), "{off:?}");
        }
    }

    #[test]
    fn a_guard_records_nothing_while_timings_are_off() {
        // Other unit tests never turn timings on, so the recorder stays off in this process.
        drop(stage("never"));
        assert!(stages().iter().all(|s| s.name != "never"));
    }
}
