//! Standard error behind a shared buffer: a log line is a copy into memory, and the buffer is
//! written out when it fills, every 100 ms, and at exit. At tens of thousands of audited
//! requests per second this saves a syscall (or a thread hand-off) per line. Nothing is dropped.

use std::io::{BufWriter, Stderr, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

const CAPACITY: usize = 64 * 1024;
const FLUSH_EVERY: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct BufferedStderr(Arc<Mutex<BufWriter<Stderr>>>);

impl Default for BufferedStderr {
    fn default() -> Self {
        Self(Arc::new(Mutex::new(BufWriter::with_capacity(
            CAPACITY,
            std::io::stderr(),
        ))))
    }
}

impl BufferedStderr {
    fn lock(&self) -> MutexGuard<'_, BufWriter<Stderr>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn flush(&self) {
        let _ = self.lock().flush();
    }

    /// Flushes every 100 ms from a thread of its own, for the life of the process.
    pub fn spawn_flusher(&self) {
        let me = self.clone();
        let _ = std::thread::Builder::new()
            .name("log-flush".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(FLUSH_EVERY);
                    me.flush();
                }
            });
    }
}

pub struct Line<'a>(MutexGuard<'a, BufWriter<Stderr>>);

/// Log lines that could not be written (standard error on a full disk, a closed pipe).
pub static DROPPED_LINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Write for Line<'_> {
    /// A line that cannot be written is dropped and counted, never an error: the formatter
    /// would report it with `eprintln!`, which panics when standard error itself fails — one
    /// full disk under the log file would then take down every request that logs.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.write(buf).is_err() {
            DROPPED_LINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        // Lines are flushed by the flusher, not one by one.
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        Line(self.lock())
    }
}

/// The text format of log lines, `2026-11-25T02:40:33.920430Z  INFO target: message key=value`,
/// written without the general formatter's per-field machinery: at one line per audited request
/// that formatting was the largest cost left. Control characters in fields are escaped, so a
/// value can never start a new line or drive a terminal.
pub struct LeanText;

struct FieldWriter<'a, 'w> {
    out: &'a mut tracing_subscriber::fmt::format::Writer<'w>,
    result: std::fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn put(&mut self, name: &str, value: std::fmt::Arguments<'_>) {
        use std::fmt::Write as _;
        if self.result.is_err() {
            return;
        }
        if name != "message" {
            self.result = write!(self.out, " {name}=");
            if self.result.is_err() {
                return;
            }
        }
        let mut clean = Escaping {
            out: &mut *self.out,
        };
        self.result = clean.write_fmt(value);
    }
}

/// Passes text through, escaping control characters.
struct Escaping<'a, 'w> {
    out: &'a mut tracing_subscriber::fmt::format::Writer<'w>,
}

impl std::fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if !s.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return self.out.write_str(s);
        }
        for c in s.chars() {
            if c.is_control() {
                write!(self.out, "\\u{{{:x}}}", u32::from(c))?;
            } else {
                self.out.write_char(c)?;
            }
        }
        Ok(())
    }
}

impl tracing::field::Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.put(field.name(), format_args!("{value}"));
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.put(field.name(), format_args!("{value:?}"));
    }
}

thread_local! {
    /// The formatted date and time of the current second, reused within it.
    static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
}

fn write_timestamp(w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != secs {
            let t = time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(0))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let format =
                time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
            *cached = (secs, t.format(&format).unwrap_or_default());
        }
        write!(w, "{}.{:06}Z", cached.1, now.subsec_micros())
    })
}

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for LeanText
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        write_timestamp(&mut writer)?;
        write!(writer, " {:>5} {}: ", meta.level().as_str(), meta.target())?;
        let mut fields = FieldWriter {
            out: &mut writer,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::LeanText;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_has_time_level_target_message_and_fields_and_never_breaks() {
        let out = Capture::default();
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .event_format(LeanText)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "tokenauth", "event=\"x\" user=alice");
            tracing::warn!(detail = "two\nlines\u{1b}[31m", "careful");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0].ends_with("  INFO tokenauth: event=\"x\" user=alice"),
            "{}",
            lines[0]
        );
        assert!(
            lines[0].as_bytes()[4] == b'-' && lines[0].contains('T') && lines[0].contains("Z ")
        );
        assert!(lines[1].contains(" WARN "));
        assert!(
            lines[1].ends_with("careful detail=two\\u{a}lines\\u{1b}[31m"),
            "{}",
            lines[1]
        );
    }
}
