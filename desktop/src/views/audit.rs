//! Admin: the audit log. Filters by time, user and action; pages with the server's keyset
//! cursor (each page one range scan, however deep); a chart of events over time from the
//! server's histogram; export to CSV or JSON streamed into a file. A row's "Details" opens the
//! whole event: every field, and each changed value before and after.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{RichText, Ui};
use egui_extras::{Column, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};
use tokenauth_core::audit::{AuditAction, Histogram};
use tokenauth_core::clock::{Clock, Millis, SystemClock, parse_rfc3339, to_rfc3339};
use tokenauth_core::scope::Scope;

use super::Env;
use super::widgets::{busy, error, labelled_field, notice, scope_label, short_time, submitted};
use crate::api::{AuditFilter, Event, EventPage, ExportFormat};
use crate::task::{Task, poll};

const PAGE: usize = 100;
const BUCKETS: usize = 60;

pub struct AuditView {
    loaded: bool,
    pub from: String,
    pub to: String,
    pub user: String,
    pub action: Option<String>,
    pub applied: AuditFilter,
    /// Cursors of the pages shown so far; the last is the current page's (`None`: newest).
    cursors: Vec<Option<String>>,
    pub page: EventPage,
    page_task: Option<Task<EventPage>>,
    pub histogram: Option<Histogram>,
    histogram_task: Option<Task<Histogram>>,
    pub export_path: String,
    exporting: Option<Task<(u64, PathBuf)>>,
    browsing: Option<Task<Option<PathBuf>>>,
    filter_error: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    /// The event opened from its row.
    pub opened: Option<Event>,
}

impl Default for AuditView {
    fn default() -> Self {
        let dir = directories::UserDirs::new()
            .map(|d| d.download_dir().unwrap_or(d.home_dir()).to_path_buf())
            .unwrap_or_else(std::env::temp_dir);
        Self {
            loaded: false,
            from: String::new(),
            to: String::new(),
            user: String::new(),
            action: None,
            applied: AuditFilter::default(),
            cursors: vec![None],
            page: EventPage::default(),
            page_task: None,
            histogram: None,
            histogram_task: None,
            opened: None,
            export_path: dir.join("tokenauth-audit.csv").display().to_string(),
            exporting: None,
            browsing: None,
            filter_error: None,
            error: None,
            notice: None,
        }
    }
}

/// A time as typed: RFC 3339, `YYYY-MM-DD HH:MM`, or a date (its start, or with `end`, its last
/// millisecond). Empty is no bound.
pub fn parse_time(text: &str, end: bool) -> Result<Option<Millis>, String> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let candidates = [
        t.to_owned(),
        format!("{}:00Z", t.replace(' ', "T")),
        format!("{t}T00:00:00Z"),
    ];
    for (i, c) in candidates.iter().enumerate() {
        if let Some(ms) = parse_rfc3339(c) {
            let day_end = i == 2 && end;
            return Ok(Some(if day_end { ms + 86_400_000 - 1 } else { ms }));
        }
    }
    Err(format!(
        "'{t}' is not a time: use 2026-11-25, 2026-11-25 14:30 or 2026-11-25T14:30:00Z"
    ))
}

impl AuditView {
    pub fn is_busy(&self) -> bool {
        self.page_task.is_some() || self.histogram_task.is_some() || self.exporting.is_some()
    }

    /// Checks the typed filters; on success they apply from the newest page.
    pub fn apply(&mut self, env: &Env<'_>) {
        let from = parse_time(&self.from, false);
        let to = parse_time(&self.to, true);
        match (from, to) {
            (Ok(from), Ok(to)) => {
                if let (Some(f), Some(t)) = (from, to)
                    && f > t
                {
                    self.filter_error = Some("the start is after the end".into());
                    return;
                }
                self.filter_error = None;
                self.applied = AuditFilter {
                    from: from.map(|m| m.to_string()),
                    to: to.map(|m| m.to_string()),
                    user: Some(self.user.trim().to_owned()).filter(|u| !u.is_empty()),
                    action: self.action.clone(),
                };
                self.cursors = vec![None];
                self.load_page(env);
                self.load_histogram(env);
            }
            (Err(e), _) | (_, Err(e)) => self.filter_error = Some(e),
        }
    }

    fn load_page(&mut self, env: &Env<'_>) {
        let (s, f) = (Arc::clone(env.session), self.applied.clone());
        let cursor = self.cursors.last().cloned().flatten();
        self.page_task = Some(
            env.bg
                .spawn(async move { s.api.events(&f, cursor.as_deref(), PAGE).await }),
        );
        self.loaded = true;
    }

    fn load_histogram(&mut self, env: &Env<'_>) {
        let (s, f) = (Arc::clone(env.session), self.applied.clone());
        self.histogram_task = Some(
            env.bg
                .spawn(async move { s.api.histogram(&f, BUCKETS).await }),
        );
    }

    fn poll(&mut self) {
        if let Some(r) = poll(&mut self.page_task) {
            match r {
                Ok(p) => {
                    self.error = None;
                    self.page = p;
                }
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.histogram_task) {
            match r {
                Ok(h) => self.histogram = Some(h),
                Err(e) => self.error = Some(e.message),
            }
        }
        if let Some(r) = poll(&mut self.exporting) {
            match r {
                Ok((bytes, path)) => {
                    self.notice = Some(format!("Exported {bytes} bytes to {}.", path.display()));
                }
                Err(e) => self.error = Some(format!("Export failed: {}", e.message)),
            }
        }
        if let Some(r) = poll(&mut self.browsing) {
            match r {
                Ok(Some(p)) => self.export_path = p.display().to_string(),
                Ok(None) => {
                    self.notice = Some(
                        "No file chosen. Without a file dialog on this desktop, type the path instead."
                            .into(),
                    );
                }
                Err(e) => self.error = Some(e.message),
            }
        }
    }

    fn quick_range(&mut self, env: &Env<'_>, hours: Option<i64>) {
        let now = SystemClock.now();
        self.from = hours.map_or(String::new(), |h| to_rfc3339(now - h * 3_600_000));
        self.to.clear();
        self.apply(env);
    }

    pub fn show(&mut self, ui: &mut Ui, env: &Env<'_>) {
        if !self.loaded {
            self.apply(env);
        }
        self.poll();
        ui.heading("Audit log");
        self.filters(ui, env);
        self.chart(ui);
        self.paging(ui, env);
        if let Some(e) = &self.error {
            error(ui, e);
        }
        if let Some(n) = &self.notice {
            notice(ui, n);
        }
        let height = (ui.available_height() - 40.0).max(120.0);
        let mut open = None;
        ui.allocate_ui(egui::vec2(ui.available_width(), height), |ui| {
            open = self.table(ui);
        });
        if let Some(i) = open {
            self.opened = self.page.events.get(i).cloned();
        }
        self.export(ui, env);
        self.details(ui);
    }

    /// The opened event, whole: every field it has and the values it changed.
    fn details(&mut self, ui: &mut Ui) {
        let Some(e) = &self.opened else {
            return;
        };
        let mut keep_open = true;
        let mut close = false;
        egui::Window::new(format!("Audit event {}", e.id))
            .open(&mut keep_open)
            .collapsible(false)
            .resizable(true)
            .default_width(560.0)
            .show(ui.ctx(), |ui| {
                let scope = e.scope.as_deref().and_then(Scope::parse).map(scope_label);
                let id = e.id.to_string();
                let fields: [(&str, Option<&str>); 14] = [
                    ("Event id", Some(&id)),
                    ("Time (UTC)", Some(&e.timestamp)),
                    ("Category", Some(&e.kind.category)),
                    ("Action", Some(&e.kind.action)),
                    ("Author", Some(&e.author.name)),
                    ("Affected user", e.affected_user.as_deref()),
                    ("Token id", e.token_id.as_deref()),
                    ("Token description", e.token_description.as_deref()),
                    ("Scope", scope),
                    ("Method", e.method.as_deref()),
                    ("Path", e.path.as_deref()),
                    ("Client IP", e.source.as_deref()),
                    ("Proxy IP", e.proxy_ip.as_deref()),
                    ("Reason", e.reason.as_deref()),
                ];
                egui::Grid::new("event-fields")
                    .num_columns(2)
                    .spacing([12.0, 4.0])
                    .striped(true)
                    .show(ui, |ui| {
                        for (name, value) in fields {
                            let l = ui.strong(name);
                            ui.label(value.filter(|v| !v.is_empty()).unwrap_or("—"))
                                .labelled_by(l.id);
                            ui.end_row();
                        }
                    });
                ui.add_space(6.0);
                if e.changed_values.is_empty() {
                    ui.label("No values changed.");
                } else {
                    ui.strong("Changed values");
                    egui::Grid::new("event-changes")
                        .num_columns(3)
                        .spacing([12.0, 4.0])
                        .striped(true)
                        .show(ui, |ui| {
                            ui.strong("Setting");
                            ui.strong("Before");
                            ui.strong("After");
                            ui.end_row();
                            for c in &e.changed_values {
                                ui.label(&c.key);
                                ui.label(if c.from.is_empty() { "—" } else { &c.from });
                                ui.label(if c.to.is_empty() { "—" } else { &c.to });
                                ui.end_row();
                            }
                        });
                }
                ui.add_space(6.0);
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        if close || !keep_open {
            self.opened = None;
        }
    }

    fn filters(&mut self, ui: &mut Ui, env: &Env<'_>) {
        let mut apply = false;
        ui.horizontal_wrapped(|ui| {
            let r = labelled_field(
                ui,
                "From",
                egui::TextEdit::singleline(&mut self.from)
                    .hint_text("2026-11-01")
                    .desired_width(150.0),
            );
            apply |= submitted(ui, &r);
            let r = labelled_field(
                ui,
                "To",
                egui::TextEdit::singleline(&mut self.to)
                    .hint_text("now")
                    .desired_width(150.0),
            );
            apply |= submitted(ui, &r);
            let r = labelled_field(
                ui,
                "User",
                egui::TextEdit::singleline(&mut self.user)
                    .hint_text("any")
                    .desired_width(110.0),
            );
            apply |= submitted(ui, &r);
            let before = self.action.clone();
            let l = ui.label("Action");
            egui::ComboBox::from_id_salt("Action")
                .selected_text(self.action.clone().unwrap_or_else(|| "any action".into()))
                .width(220.0)
                // Every action at once: fifteen lines need no scrolling.
                .height(400.0)
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.action, None, "any action");
                    for a in AuditAction::ALL {
                        ui.selectable_value(
                            &mut self.action,
                            Some(a.label().to_owned()),
                            a.label(),
                        );
                    }
                })
                .response
                .labelled_by(l.id);
            apply |= before != self.action;
            apply |= ui.button("Apply filters").clicked();
        });
        ui.horizontal(|ui| {
            ui.label("Show:");
            for (label, hours) in [
                ("Last hour", Some(1)),
                ("Last 24 hours", Some(24)),
                ("Last 7 days", Some(24 * 7)),
                ("All time", None),
            ] {
                if ui.small_button(label).clicked() {
                    self.quick_range(env, hours);
                }
            }
        });
        if let Some(e) = &self.filter_error {
            error(ui, e);
        }
        if apply {
            self.apply(env);
        }
    }

    fn chart(&self, ui: &mut Ui) {
        let Some(h) = &self.histogram else {
            busy(ui, self.histogram_task.is_some(), "Counting events…");
            return;
        };
        let total: u64 = h.counts.iter().sum();
        let span = h.to.saturating_sub(h.from);
        let width_s = h.bucket_millis as f64 / 1000.0;
        let bars: Vec<Bar> = h
            .counts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                // The server's numbers, not trusted to stay in range.
                let offset = (i as i64).saturating_mul(h.bucket_millis);
                let start = h.from.saturating_add(offset) as f64 / 1000.0;
                Bar::new(start + width_s / 2.0, *c as f64).width(width_s * 0.9)
            })
            .collect();
        ui.label(format!(
            "{total} events from {} to {} ({} per bar)",
            short_time(Some(&to_rfc3339(h.from))),
            short_time(Some(&to_rfc3339(h.to))),
            duration_words(h.bucket_millis)
        ));
        Plot::new("events-over-time")
            .height(110.0)
            .allow_scroll(false)
            .allow_zoom(false)
            .allow_drag(false)
            .include_y(0.0)
            .x_axis_formatter(move |mark, _| axis_time((mark.value * 1000.0) as i64, span))
            .y_axis_label("events")
            .show(ui, |plot| plot.bar_chart(BarChart::new("events", bars)));
    }

    fn paging(&mut self, ui: &mut Ui, env: &Env<'_>) {
        ui.horizontal(|ui| {
            let page_no = self.cursors.len();
            if ui
                .add_enabled(
                    page_no > 1 && self.page_task.is_none(),
                    egui::Button::new("Newer"),
                )
                .clicked()
            {
                self.cursors.pop();
                self.load_page(env);
            }
            ui.label(format!(
                "Page {page_no} · {} events",
                self.page.events.len()
            ));
            if ui
                .add_enabled(
                    self.page.next_before.is_some() && self.page_task.is_none(),
                    egui::Button::new("Older"),
                )
                .clicked()
            {
                self.cursors.push(self.page.next_before.clone());
                self.load_page(env);
            }
            if ui.button("Refresh").clicked() {
                self.apply(env);
            }
            busy(ui, self.page_task.is_some(), "Loading…");
        });
    }

    /// The events as a table; answers the row whose "Details" was clicked.
    fn table(&self, ui: &mut Ui) -> Option<usize> {
        let events = &self.page.events;
        let mut open = None;
        TableBuilder::new(ui)
            .striped(true)
            .resizable(true)
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::auto().at_least(130.0))
            .column(Column::auto().at_least(170.0))
            .columns(Column::auto().at_least(70.0), 2)
            .column(Column::auto().at_least(120.0).clip(true))
            .column(Column::auto().at_least(70.0))
            .column(Column::remainder().at_least(160.0).clip(true))
            .column(Column::auto().at_least(90.0))
            .column(Column::auto().at_least(60.0))
            .header(22.0, |mut h| {
                for t in [
                    "Time (UTC)",
                    "Action",
                    "Author",
                    "Affected user",
                    "Token",
                    "Scope",
                    "Request",
                    "Client IP",
                    "",
                ] {
                    h.col(|ui| {
                        ui.strong(t);
                    });
                }
            })
            .body(|body| {
                body.rows(20.0, events.len(), |mut row| {
                    let e = &events[row.index()];
                    row.col(|ui| {
                        ui.label(short_time(Some(&e.timestamp)))
                            .on_hover_text(&e.timestamp);
                    });
                    row.col(|ui| {
                        ui.label(&e.kind.action)
                            .on_hover_text(e.reason.clone().unwrap_or_default());
                    });
                    row.col(|ui| {
                        ui.label(&e.author.name);
                    });
                    row.col(|ui| {
                        ui.label(e.affected_user.as_deref().unwrap_or("—"));
                    });
                    row.col(|ui| {
                        ui.label(e.token_description.as_deref().unwrap_or("—"))
                            .on_hover_text(e.token_id.clone().unwrap_or_default());
                    });
                    row.col(|ui| {
                        let scope = e
                            .scope
                            .as_deref()
                            .and_then(Scope::parse)
                            .map_or("—", scope_label);
                        ui.label(scope);
                    });
                    row.col(|ui| {
                        let req = match (&e.method, &e.path) {
                            (Some(m), Some(p)) => format!("{m} {p}"),
                            _ => "—".into(),
                        };
                        ui.label(req);
                    });
                    row.col(|ui| {
                        let ip = e.source.clone().unwrap_or_else(|| "—".into());
                        let r = ui.label(ip);
                        if let Some(p) = &e.proxy_ip {
                            r.on_hover_text(format!("via proxy {p}"));
                        }
                    });
                    let i = row.index();
                    row.col(|ui| {
                        if ui
                            .button("Details")
                            .on_hover_text("every field of the event and the values it changed")
                            .clicked()
                        {
                            open = Some(i);
                        }
                    });
                });
            });
        open
    }

    fn export(&mut self, ui: &mut Ui, env: &Env<'_>) {
        ui.horizontal(|ui| {
            labelled_field(
                ui,
                "Export to",
                egui::TextEdit::singleline(&mut self.export_path).desired_width(320.0),
            );
            if ui
                .add_enabled(self.browsing.is_none(), egui::Button::new("Browse…"))
                .clicked()
            {
                let name = PathBuf::from(&self.export_path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "tokenauth-audit.csv".into());
                self.browsing = Some(env.bg.spawn(async move {
                    Ok(rfd::AsyncFileDialog::new()
                        .set_file_name(name)
                        .add_filter("CSV", &["csv"])
                        .add_filter("JSON", &["json"])
                        .save_file()
                        .await
                        .map(|f| f.path().to_path_buf()))
                }));
            }
            for (label, format) in [
                ("Export CSV", ExportFormat::Csv),
                ("Export JSON", ExportFormat::Json),
            ] {
                if ui
                    .add_enabled(self.exporting.is_none(), egui::Button::new(label))
                    .clicked()
                {
                    let mut path = PathBuf::from(self.export_path.trim());
                    if path.extension().is_none_or(|e| e != format.as_str()) {
                        path.set_extension(format.as_str());
                        self.export_path = path.display().to_string();
                    }
                    self.notice = None;
                    self.error = None;
                    let (s, f) = (Arc::clone(env.session), self.applied.clone());
                    self.exporting = Some(env.bg.spawn(async move {
                        s.api.export(&f, format, &path).await.map(|n| (n, path))
                    }));
                }
            }
            busy(ui, self.exporting.is_some(), "Exporting…");
        });
        ui.label(
            RichText::new("The export holds the events that match the filters, all pages.").weak(),
        );
    }
}

/// A chart's time label, as precise as the chart's span needs.
fn axis_time(ms: Millis, span: Millis) -> String {
    let t = to_rfc3339(ms).replace('T', " ");
    let (from, to) = match span {
        s if s < 3_600_000 => (11, 19),
        s if s < 86_400_000 => (11, 16),
        _ => (5, 16),
    };
    t.get(from..to).map_or(t.clone(), str::to_owned)
}

fn duration_words(ms: i64) -> String {
    let s = ms / 1000;
    match s {
        0 => format!("{ms} ms"),
        1..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_typed_as_dates_minutes_or_rfc3339() {
        let day = parse_time("2026-11-25", false).unwrap().unwrap();
        assert_eq!(
            parse_time("2026-11-25", true).unwrap().unwrap(),
            day + 86_400_000 - 1
        );
        assert_eq!(parse_time("2026-11-25 00:00", false).unwrap().unwrap(), day);
        assert_eq!(
            parse_time("2026-11-25T00:00:00Z", false).unwrap().unwrap(),
            day
        );
        assert_eq!(parse_time("  ", false).unwrap(), None);
        assert!(
            parse_time("yesterday", false)
                .unwrap_err()
                .contains("not a time")
        );
    }
}
