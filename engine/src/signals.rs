//! SIGINT and SIGTERM both mean "stop gracefully": sources stop reading,
//! everything read is processed, sinks are flushed and offsets committed.
//! A second signal quits at once.
//!
//! SIGTERM is how Kubernetes, systemd and Docker stop a process, and a
//! process started in the background of a script inherits SIGINT as
//! *ignored*: installing the handlers (signal-hook, through `sigaction`)
//! replaces whatever disposition the parent left, so both signals work
//! however Weir was started. SIGHUP is left alone, so `nohup` still works.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Installs the handlers; returns the flag the first signal raises. `what`
/// says what stopping does, for the message printed then.
pub(crate) fn stop_on_signals(what: &'static str) -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("installing the SIGINT and SIGTERM handlers")?;
    let flag = Arc::clone(&stop);
    std::thread::Builder::new()
        .name("weir signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                let name = signal_hook::low_level::signal_name(signal).unwrap_or("a signal");
                if flag.swap(true, Ordering::SeqCst) {
                    eprintln!("weir: {name} again; quitting at once");
                    std::process::exit(128 + signal);
                }
                eprintln!("weir: {name} received; {what} (send it again to quit at once)");
            }
        })
        .context("starting the signal thread")?;
    Ok(stop)
}
