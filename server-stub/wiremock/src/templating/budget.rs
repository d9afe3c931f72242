//! The steps one response's rendering may take, counted while it runs (see the parent
//! module's note on the budget).

use std::cell::Cell;

use handlebars::RenderErrorReason;

/// Steps one response's rendering may take: `#each` iterations plus helper calls (a helper
/// that reads or makes `n` bytes costs `1 + n / 256`). A legitimate template over a 1 MiB body
/// stays far below it; a multiplying one stops within a fraction of a second.
pub const MAX_RENDER_STEPS: u64 = 1_000_000;

thread_local! {
    /// The steps the response being rendered on this thread has left. Rendering is
    /// synchronous and on one thread, so a thread-local is the render's own budget.
    static STEPS_LEFT: Cell<u64> = const { Cell::new(0) };
    /// Whether that budget ran out (the error handlebars hands back says only "helper failed").
    static EXHAUSTED: Cell<bool> = const { Cell::new(false) };
}

/// Spends `n` steps of the current render's budget.
pub(super) fn charge(n: u64) -> Result<(), handlebars::RenderError> {
    STEPS_LEFT.with(|left| {
        let l = left.get();
        if l < n {
            left.set(0);
            EXHAUSTED.with(|e| e.set(true));
            Err(helper_error(format!(
                "the template took more than {MAX_RENDER_STEPS} steps"
            )))
        } else {
            left.set(l - n);
            Ok(())
        }
    })
}

pub(super) fn bytes_cost(n: usize) -> u64 {
    1 + u64::try_from(n / 256).unwrap_or(u64::MAX)
}

/// A fresh budget for the response about to be rendered on this thread.
pub(super) fn start() {
    STEPS_LEFT.with(|s| s.set(MAX_RENDER_STEPS));
    EXHAUSTED.with(|e| e.set(false));
}

/// Whether the render that just failed failed because its budget ran out.
pub(super) fn exhausted() -> bool {
    EXHAUSTED.with(Cell::get)
}

pub(super) fn helper_error(msg: impl Into<String>) -> handlebars::RenderError {
    RenderErrorReason::Other(msg.into()).into()
}
