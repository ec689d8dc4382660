//! A progress line on stderr, shown only on a terminal.

use chancery_owner::progress::Progress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Runs `work` while a spinner shows the counters (when stderr is a terminal).
pub fn with_progress<T>(verb: &'static str, progress: &Progress, work: impl FnOnce() -> T) -> T {
    if !std::io::stderr().is_terminal() {
        return work();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_style(ProgressStyle::with_template("{spinner} {elapsed} {msg}").expect("valid template"));
    let done = Arc::new(AtomicBool::new(false));
    std::thread::scope(|scope| {
        let (bar2, done2) = (bar.clone(), done.clone());
        scope.spawn(move || {
            while !done2.load(Ordering::Relaxed) {
                bar2.set_message(message(verb, progress));
                bar2.tick();
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        bar.finish_and_clear();
        out
    })
}

fn message(verb: &str, p: &Progress) -> String {
    format!(
        "{verb}: {} entries, {} read, {} skipped unchanged, {} new, {} uploaded",
        Progress::get(&p.entries),
        crate::output::bytes(Progress::get(&p.bytes_read)),
        crate::output::bytes(Progress::get(&p.bytes_skipped)),
        crate::output::bytes(Progress::get(&p.new_bytes)),
        crate::output::bytes(Progress::get(&p.bytes_uploaded)),
    )
}
