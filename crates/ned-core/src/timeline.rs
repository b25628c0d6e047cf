//! The boot timeline: when each task started, became ready, was restarted
//! and ended, drawn as an SVG in the manner of `systemd-analyze plot`.
//!
//! The supervisor feeds it every [`Fact`] through
//! [`crate::supervisor::Supervisor`]'s one `record` call site, so any other
//! consumer of these facts (ned's event log) can hook in at the same place.
//! A restart is a start whose name (the task's log tag, else its program's
//! file name) was started before. The record keeps at most [`MAX_ROWS`]
//! starts, so a crash loop cannot make it grow without end; later starts
//! are counted and the picture says how many it leaves out.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use crate::supervisor::TaskId;
use crate::task::Ended;

/// Starts recorded at most.
pub const MAX_ROWS: usize = 2000;

/// Something that happened to a task.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fact {
    /// The task started; `restart` counts the earlier starts of its name.
    Started {
        name: String,
        pid: i32,
        restart: u32,
    },
    /// It sent `READY=1`.
    Ready,
    /// It missed its watchdog and is being killed.
    WatchdogMissed,
    /// It ended.
    Exited(Ended),
}

/// One start of a task.
#[derive(Clone, Debug)]
pub struct Row {
    pub id: TaskId,
    pub name: String,
    pub pid: i32,
    pub restart: u32,
    pub start: Duration,
    pub ready: Option<Duration>,
    pub watchdog: Option<Duration>,
    pub end: Option<(Duration, Ended)>,
}

pub struct Timeline {
    t0: Instant,
    rows: Vec<Row>,
    index: HashMap<TaskId, usize>,
    starts: HashMap<String, u32>,
    left_out: u64,
}

impl Timeline {
    /// A timeline whose zero is now (ned's start).
    pub fn new() -> Timeline {
        Timeline {
            t0: Instant::now(),
            rows: Vec::new(),
            index: HashMap::new(),
            starts: HashMap::new(),
            left_out: 0,
        }
    }

    /// How many times `name` was started before: the `restart` number of
    /// its next start.
    pub fn starts_of(&self, name: &str) -> u32 {
        self.starts.get(name).copied().unwrap_or(0)
    }

    /// Records `fact` about task `id` at `at`.
    pub fn record(&mut self, id: TaskId, at: Instant, fact: Fact) {
        let t = at.saturating_duration_since(self.t0);
        if let Fact::Started { name, pid, restart } = fact {
            if self.rows.len() >= MAX_ROWS {
                // Names seen before still count their starts; new ones are
                // not remembered, so unique names without end cannot grow
                // the record either.
                if let Some(n) = self.starts.get_mut(&name) {
                    *n += 1;
                }
                self.left_out += 1;
                return;
            }
            *self.starts.entry(name.clone()).or_insert(0) += 1;
            self.index.insert(id, self.rows.len());
            self.rows.push(Row {
                id,
                name,
                pid,
                restart,
                start: t,
                ready: None,
                watchdog: None,
                end: None,
            });
            return;
        }
        let Some(row) = self.index.get(&id).map(|&i| &mut self.rows[i]) else {
            return;
        };
        match fact {
            Fact::Started { .. } => {}
            Fact::Ready => row.ready = Some(t),
            Fact::WatchdogMissed => row.watchdog = Some(t),
            Fact::Exited(e) => {
                row.end = Some((t, e));
                self.index.remove(&id);
            }
        }
    }

    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The picture as an SVG document, drawn up to `now`.
    pub fn svg(&self, now: Instant) -> String {
        let span = now.saturating_duration_since(self.t0);
        let total_ms = (span.as_secs_f64() * 1000.0).max(1.0);
        let step = tick_step(total_ms);
        let ticks = (total_ms / step).ceil().max(1.0);
        let chart_ms = ticks * step;
        let (left, width, row_h, top) = (230.0, 800.0, 22.0, 60.0);
        let x = |d: Duration| left + d.as_secs_f64() * 1000.0 / chart_ms * width;
        let height = top + row_h * self.rows.len() as f64 + 50.0;
        let mut s = String::new();
        let _ = write!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{height}\" \
             font-family=\"sans-serif\" font-size=\"12\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"10\" y=\"20\" font-size=\"16\">ned boot timeline: {n} start(s), {ms:.1} ms</text>\n",
            w = left + width + 120.0,
            n = self.rows.len() as u64 + self.left_out,
            ms = total_ms,
        );
        for i in 0..=ticks as u64 {
            let tx = left + i as f64 / ticks * width;
            let _ = writeln!(
                s,
                "<line x1=\"{tx:.1}\" y1=\"{y1}\" x2=\"{tx:.1}\" y2=\"{y2}\" stroke=\"#ddd\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty}\" text-anchor=\"middle\" fill=\"#666\">{}</text>",
                fmt_ms(i as f64 * step),
                y1 = top - 10.0,
                y2 = height - 35.0,
                ty = top - 14.0,
            );
        }
        for (i, r) in self.rows.iter().enumerate() {
            let y = top + row_h * i as f64;
            let end = r.end.map_or(span, |(t, _)| t);
            let label = if r.restart > 0 {
                format!("{} (restart {})", r.name, r.restart)
            } else {
                r.name.clone()
            };
            let _ = writeln!(
                s,
                "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{} [{}]</text>",
                escape(&label),
                r.pid,
                lx = left - 8.0,
                ty = y + 15.0,
            );
            // Starting (until ready, for a task that notifies) in a light
            // colour, running in a dark one, as systemd-analyze does.
            let run_from = r.ready.unwrap_or(r.start);
            if r.ready.is_some() {
                bar(&mut s, x(r.start), x(run_from), y, "#f4c7c3");
            }
            let colour = if r.restart > 0 { "#e8a33c" } else { "#4a7bd0" };
            bar(&mut s, x(run_from), x(end), y, colour);
            if let Some(t) = r.watchdog {
                let _ = writeln!(
                    s,
                    "<line x1=\"{wx:.1}\" y1=\"{y}\" x2=\"{wx:.1}\" y2=\"{y2}\" stroke=\"red\" stroke-width=\"2\"/>",
                    wx = x(t),
                    y2 = y + row_h - 4.0,
                );
            }
            let what = match r.end {
                None => "running".to_owned(),
                Some((_, Ended::Code(c))) => format!("exit {c}"),
                Some((_, Ended::Signal(sig))) => format!("signal {sig}"),
                Some((_, Ended::Lost)) => "ended".to_owned(),
            };
            let ready = r.ready.map_or(String::new(), |t| {
                format!(", ready at {}", fmt_ms(t.as_secs_f64() * 1000.0))
            });
            let _ = writeln!(
                s,
                "<text x=\"{tx:.1}\" y=\"{ty:.1}\" fill=\"#333\">{what}{ready}</text>",
                tx = x(end) + 4.0,
                ty = y + 15.0,
            );
        }
        let ly = height - 15.0;
        let _ = writeln!(
            s,
            "<rect x=\"{left}\" y=\"{ry}\" width=\"12\" height=\"12\" fill=\"#f4c7c3\"/>\
             <text x=\"{l1}\" y=\"{ly}\">starting (until READY=1)</text>\
             <rect x=\"{l2}\" y=\"{ry}\" width=\"12\" height=\"12\" fill=\"#4a7bd0\"/>\
             <text x=\"{l3}\" y=\"{ly}\">running</text>\
             <rect x=\"{l4}\" y=\"{ry}\" width=\"12\" height=\"12\" fill=\"#e8a33c\"/>\
             <text x=\"{l5}\" y=\"{ly}\">restarted</text>\
             <line x1=\"{l6}\" y1=\"{ry}\" x2=\"{l6}\" y2=\"{ly}\" stroke=\"red\" stroke-width=\"2\"/>\
             <text x=\"{l7}\" y=\"{ly}\">watchdog missed</text>",
            ry = ly - 10.0,
            l1 = left + 16.0,
            l2 = left + 200.0,
            l3 = left + 216.0,
            l4 = left + 300.0,
            l5 = left + 316.0,
            l6 = left + 410.0,
            l7 = left + 416.0,
        );
        if self.left_out > 0 {
            let _ = writeln!(
                s,
                "<text x=\"10\" y=\"{ly}\">{} later start(s) not shown</text>",
                self.left_out
            );
        }
        s.push_str("</svg>\n");
        s
    }
}

impl Default for Timeline {
    fn default() -> Self {
        Timeline::new()
    }
}

fn bar(s: &mut String, x1: f64, x2: f64, y: f64, fill: &str) {
    let w = (x2 - x1).max(1.0);
    let _ = writeln!(
        s,
        "<rect x=\"{x1:.1}\" y=\"{ry:.1}\" width=\"{w:.1}\" height=\"16\" fill=\"{fill}\"/>",
        ry = y + 2.0
    );
}

/// A round tick interval (1, 2 or 5 times a power of ten ms) giving at most
/// about ten ticks over `total_ms`.
fn tick_step(total_ms: f64) -> f64 {
    let raw = total_ms / 10.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&st| st >= raw)
        .unwrap_or(10.0 * mag)
}

fn fmt_ms(ms: f64) -> String {
    if ms >= 1000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!("{ms:.0} ms")
    }
}

/// Text made safe for SVG character data.
fn escape(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    for c in t.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_names_every_start_and_its_fate() {
        let mut tl = Timeline::new();
        let t0 = tl.t0;
        let ms = |n| t0 + Duration::from_millis(n);
        let start = |name: &str, pid, restart| Fact::Started {
            name: name.into(),
            pid,
            restart,
        };
        tl.record(TaskId(0), ms(1), start("db<&>", 10, 0));
        tl.record(TaskId(0), ms(40), Fact::Ready);
        tl.record(TaskId(1), ms(41), start("worker", 11, 0));
        tl.record(TaskId(1), ms(60), Fact::Exited(Ended::Signal(9)));
        tl.record(TaskId(2), ms(61), start("worker", 12, 1));
        tl.record(TaskId(1), ms(70), Fact::Ready); // ended: ignored
        let svg = tl.svg(ms(100));
        assert!(svg.contains("db&lt;&amp;&gt; [10]"), "{svg}");
        assert!(svg.contains("worker (restart 1) [12]"), "{svg}");
        assert!(svg.contains("signal 9"), "{svg}");
        assert!(svg.contains("running, ready at 40 ms"), "{svg}");
        assert_eq!(tl.rows()[1].ready, None);
        assert_eq!(tl.starts_of("worker"), 2);
    }

    #[test]
    fn a_crash_loop_is_bounded() {
        let mut tl = Timeline::new();
        let now = Instant::now();
        for i in 0..(MAX_ROWS as u64 + 5) {
            let restart = tl.starts_of("c");
            let f = Fact::Started {
                name: "c".into(),
                pid: 1,
                restart,
            };
            tl.record(TaskId(i), now, f);
            tl.record(TaskId(i), now, Fact::Exited(Ended::Code(1)));
        }
        assert_eq!(tl.rows().len(), MAX_ROWS);
        assert!(tl.svg(now).contains("5 later start(s) not shown"));
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1000.0), 100.0);
        assert_eq!(tick_step(1300.0), 200.0);
        assert_eq!(tick_step(45.0), 5.0);
    }
}
