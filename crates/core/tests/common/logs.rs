//! Captures `log` records per thread (a `#[tokio::test]` runs its futures on
//! its own thread, so parallel tests do not see each other's records).

use std::sync::{Mutex, OnceLock};
use std::thread::ThreadId;

#[derive(Debug, Clone)]
pub struct Captured {
    pub target: String,
    pub level: log::Level,
    pub message: String,
}

struct Capture(Mutex<Vec<(ThreadId, Captured)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        let c = Captured {
            target: r.target().to_owned(),
            level: r.level(),
            message: r.args().to_string(),
        };
        let mut v = self.0.lock().unwrap_or_else(|e| e.into_inner());
        v.push((std::thread::current().id(), c));
    }
    fn flush(&self) {}
}

fn logger() -> &'static Capture {
    static LOGGER: OnceLock<&'static Capture> = OnceLock::new();
    LOGGER.get_or_init(|| {
        let l: &'static Capture = Box::leak(Box::new(Capture(Mutex::new(Vec::new()))));
        let _ = log::set_logger(l);
        log::set_max_level(log::LevelFilter::Trace);
        l
    })
}

/// Starts capturing for this thread (drops what it captured before).
pub fn start() {
    take();
}

/// What this thread logged since [`start`].
pub fn take() -> Vec<Captured> {
    let me = std::thread::current().id();
    let mut all = logger().0.lock().unwrap_or_else(|e| e.into_inner());
    let (mine, rest): (Vec<_>, Vec<_>) = all.drain(..).partition(|(t, _)| *t == me);
    *all = rest;
    mine.into_iter().map(|(_, c)| c).collect()
}
