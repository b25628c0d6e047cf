//! The live view (`ned-prompt --top`, or `top` at the prompt): a
//! full-screen table of ned's tasks — state, pid, uptime, CPU %, RSS, log
//! lines per second — refreshed every second, sortable, with a key to kill
//! the selected task (docs/prompt-helpers.md).
//!
//! Each refresh is one round trip: a chunk that returns
//! `require("ned.prompt").rows()`, a compact text sample, from which rates
//! are computed here against the previous sample; ned only reads
//! `/proc/<pid>/stat` once per task. The fetch is behind [`Source`], so the
//! view is tested with fixed samples. When stdout is not a terminal the view
//! prints one plain table of two samples a second apart instead.

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout};
use ratatui::style::{Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState};
use ratatui::{Frame, Terminal};

use ned_prompt::wire::Conn;

/// How often the view asks ned for a sample.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The chunk that fetches one sample.
pub const SAMPLE_CHUNK: &str = "return require('ned.prompt').rows()";

/// Where samples come from and kills go to: ned, or fixed rows in tests.
pub trait Source {
    /// The text of one `rows()` sample.
    fn sample(&mut self) -> Result<String>;
    /// Sends `signal` (a name: `TERM`, `KILL`) to the task with `pid`.
    fn kill(&mut self, pid: i32, signal: &str) -> Result<()>;
    /// The last `n` lines of the log of the task with `pid`.
    fn logs(&mut self, pid: i32, n: usize) -> Result<Vec<String>>;
}

/// ned over a connection: one request per sample, one per kill.
pub struct Ned<'a>(pub &'a mut Conn);

impl Source for Ned<'_> {
    fn sample(&mut self) -> Result<String> {
        let r = self.0.call(SAMPLE_CHUNK.as_bytes(), None)?;
        if r.status != 0 {
            bail!("ned refused the sample ({}): {}", r.status, r.text);
        }
        Ok(r.text)
    }

    fn kill(&mut self, pid: i32, signal: &str) -> Result<()> {
        let chunk = format!("return require('ned.prompt').kill({pid}, {signal:?})");
        let r = self.0.call(chunk.as_bytes(), None)?;
        if r.status != 0 {
            bail!("{}", r.text);
        }
        Ok(())
    }

    fn logs(&mut self, pid: i32, n: usize) -> Result<Vec<String>> {
        let chunk = format!("return require('ned.prompt').logs({pid}, {n})");
        let r = self.0.call(chunk.as_bytes(), None)?;
        if r.status != 0 {
            bail!("{}", r.text);
        }
        Ok(r.text.lines().map(str::to_owned).collect())
    }
}

/// `--top`, or `top` at the prompt: the full-screen view when stdout is a
/// terminal, else one plain table. Returns the exit status.
pub fn run(conn: &mut Conn) -> u8 {
    let mut src = Ned(conn);
    let r = if rustix::termios::isatty(rustix::stdio::stdout()) {
        run_terminal(&mut src)
    } else {
        run_plain(&mut src, &mut std::io::stdout().lock())
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ned-prompt: top: {e:#}");
            crate::NO_NED
        }
    }
}

/// One task as a sample gives it.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub pid: i32,
    pub tag: String,
    pub state: String,
    pub uptime: f64,
    /// CPU seconds so far.
    pub cpu: f64,
    pub rss: u64,
    /// Log lines so far.
    pub lines: u64,
    pub exit: String,
}

/// Parses the text of `rows()`: a `ned\t<count>` line, then one line per
/// task with tab-separated fields.
pub fn parse(text: &str) -> Result<Vec<Sample>> {
    let mut lines = text.lines();
    let head = lines.next().unwrap_or_default();
    let count: usize = head
        .strip_prefix("ned\t")
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("not a task sample from ned: {head:?}"))?;
    let rows = lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 8 {
                bail!("bad task row {l:?}");
            }
            let bad = || format!("bad task row {l:?}");
            Ok(Sample {
                pid: f[0].parse().with_context(bad)?,
                tag: f[1].to_owned(),
                state: f[2].to_owned(),
                uptime: f[3].parse().with_context(bad)?,
                cpu: f[4].parse().with_context(bad)?,
                rss: f[5].parse().with_context(bad)?,
                lines: f[6].parse().with_context(bad)?,
                exit: f[7].to_owned(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if rows.len() != count {
        bail!("task sample cut short: {} of {count} rows", rows.len());
    }
    Ok(rows)
}

/// A task as the view shows it: its sample and the rates since the last.
#[derive(Clone, Debug, PartialEq)]
pub struct Shown {
    pub s: Sample,
    /// Percent of one CPU since the previous sample.
    pub cpu_pct: f64,
    pub lines_per_s: f64,
}

/// What the table is sorted by; the order of [`COLUMNS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    Tag,
    Pid,
    State,
    Uptime,
    Cpu,
    Rss,
    Lines,
}

const SORTS: [Sort; 7] = [
    Sort::Tag,
    Sort::Pid,
    Sort::State,
    Sort::Uptime,
    Sort::Cpu,
    Sort::Rss,
    Sort::Lines,
];

/// Column titles, in [`SORTS`] order, then the exit column.
const COLUMNS: [&str; 8] = [
    "TAG", "PID", "STATE", "UPTIME", "CPU%", "RSS", "LINES/s", "EXIT",
];

/// The keys, as the bottom line shows them.
const KEYS: &str = "q quit  ↑↓ select  ←→ sort  r reverse  l log  k kill (TERM)  K kill (KILL)";

/// Lines of the selected task's log that the log pane shows.
const LOG_LINES: usize = 8;

/// The view's state between frames: rows, selection, sort, last message.
pub struct View {
    rows: Vec<Shown>,
    /// CPU seconds and log lines of each pid at the previous sample.
    prev: HashMap<i32, (f64, u64)>,
    prev_at: Option<Instant>,
    pub sort: Sort,
    pub reverse: bool,
    table: TableState,
    /// What the last action did, or the last error.
    pub status: String,
    pub quit: bool,
    /// Ctrl-L asked for the whole screen to be drawn again (ned's own
    /// console may have printed over it).
    pub redraw: bool,
    /// Whether the log pane is open (`l`), and what it shows.
    pub show_log: bool,
    log: Vec<String>,
}

impl Default for View {
    fn default() -> View {
        View {
            rows: Vec::new(),
            prev: HashMap::new(),
            prev_at: None,
            sort: Sort::Cpu,
            reverse: true,
            table: TableState::default().with_selected(Some(0)),
            status: String::new(),
            quit: false,
            redraw: false,
            show_log: false,
            log: Vec::new(),
        }
    }
}

impl View {
    /// Takes a sample taken at `at`: rates against the previous one (zero
    /// for the first sample and for a new pid), sorted, the selection kept
    /// on the same pid when it is still there.
    pub fn update(&mut self, samples: Vec<Sample>, at: Instant) {
        let selected = self.selected().map(|r| r.s.pid);
        let secs = self
            .prev_at
            .map(|p| at.saturating_duration_since(p).as_secs_f64())
            .filter(|s| *s > 0.0);
        self.rows = samples
            .into_iter()
            .map(|s| {
                let (cpu_pct, lines_per_s) = match (secs, self.prev.get(&s.pid)) {
                    (Some(secs), Some(&(cpu, lines))) => (
                        ((s.cpu - cpu).max(0.0) / secs) * 100.0,
                        s.lines.saturating_sub(lines) as f64 / secs,
                    ),
                    _ => (0.0, 0.0),
                };
                Shown {
                    s,
                    cpu_pct,
                    lines_per_s,
                }
            })
            .collect();
        self.prev = self
            .rows
            .iter()
            .map(|r| (r.s.pid, (r.s.cpu, r.s.lines)))
            .collect();
        self.prev_at = Some(at);
        self.sort_rows(selected);
    }

    /// Sorts the rows; the selection stays on `selected` (a pid) when it
    /// is still there, else on the first row.
    fn sort_rows(&mut self, selected: Option<i32>) {
        let key = self.sort;
        self.rows.sort_by(|a, b| {
            let o = match key {
                Sort::Tag => a.s.tag.cmp(&b.s.tag),
                Sort::Pid => a.s.pid.cmp(&b.s.pid),
                Sort::State => a.s.state.cmp(&b.s.state),
                Sort::Uptime => a.s.uptime.total_cmp(&b.s.uptime),
                Sort::Cpu => a.cpu_pct.total_cmp(&b.cpu_pct),
                Sort::Rss => a.s.rss.cmp(&b.s.rss),
                Sort::Lines => a.lines_per_s.total_cmp(&b.lines_per_s),
            };
            let o = if self.reverse { o.reverse() } else { o };
            // Ties in start order (pids grow), so rows do not jump about.
            o.then(a.s.pid.cmp(&b.s.pid))
        });
        let at = selected
            .and_then(|pid| self.rows.iter().position(|r| r.s.pid == pid))
            .unwrap_or(0);
        self.table
            .select((!self.rows.is_empty()).then_some(at.min(self.rows.len().saturating_sub(1))));
    }

    /// The rows in the order shown.
    pub fn rows(&self) -> &[Shown] {
        &self.rows
    }

    pub fn selected(&self) -> Option<&Shown> {
        self.rows.get(self.table.selected()?)
    }

    /// Handles one key; kills go to `src`.
    pub fn key(&mut self, k: KeyEvent, src: &mut dyn Source) {
        if k.kind != KeyEventKind::Press {
            return;
        }
        let last = self.rows.len().saturating_sub(1);
        let at = self.table.selected().unwrap_or(0);
        let selected = self.selected().map(|r| r.s.pid);
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => self.quit = true,
            KeyCode::Char('l') if k.modifiers.contains(KeyModifiers::CONTROL) => self.redraw = true,
            KeyCode::Up => self.table.select(Some(at.saturating_sub(1))),
            KeyCode::Down => self.table.select(Some((at + 1).min(last))),
            KeyCode::PageUp => self.table.select(Some(at.saturating_sub(10))),
            KeyCode::PageDown => self.table.select(Some((at + 10).min(last))),
            KeyCode::Home => self.table.select(Some(0)),
            KeyCode::End => self.table.select(Some(last)),
            KeyCode::Left | KeyCode::Right => {
                let i = SORTS.iter().position(|s| *s == self.sort).unwrap_or(0);
                let n = SORTS.len();
                let i = if k.code == KeyCode::Left {
                    (i + n - 1) % n
                } else {
                    (i + 1) % n
                };
                self.sort = SORTS[i];
                self.sort_rows(selected);
            }
            KeyCode::Char('r') => {
                self.reverse = !self.reverse;
                self.sort_rows(selected);
            }
            KeyCode::Char('l') => self.show_log = !self.show_log,
            KeyCode::Char('k') => self.kill(src, "TERM"),
            KeyCode::Char('K') => self.kill(src, "KILL"),
            _ => {}
        }
    }

    /// Fetches the log pane's lines, when it is open, for the selected
    /// task; an error is shown in the pane.
    pub fn fetch_log(&mut self, src: &mut dyn Source) {
        let Some(pid) = self.selected().map(|r| r.s.pid).filter(|_| self.show_log) else {
            return;
        };
        self.log = src
            .logs(pid, LOG_LINES)
            .unwrap_or_else(|e| vec![format!("{e:#}")]);
    }

    fn kill(&mut self, src: &mut dyn Source, signal: &str) {
        let Some(r) = self.selected() else {
            return;
        };
        let (pid, tag) = (r.s.pid, r.s.tag.clone());
        if r.s.state != "running" {
            self.status = format!("{tag} (pid {pid}) is not running");
            return;
        }
        self.status = match src.kill(pid, signal) {
            Ok(()) => format!("sent {signal} to {tag} (pid {pid})"),
            Err(e) => format!("kill {tag} (pid {pid}): {e:#}"),
        };
    }

    /// Draws one frame.
    pub fn draw(&mut self, f: &mut Frame<'_>) {
        let pane = if self.show_log {
            LOG_LINES as u16 + 1
        } else {
            0
        };
        let [title, body, log, status, keys] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Min(1),
            Constraint::Length(pane),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(f.area());
        let running = self.rows.iter().filter(|r| r.s.state == "running").count();
        let cpu: f64 = self.rows.iter().map(|r| r.cpu_pct).sum();
        let rss: u64 = self.rows.iter().map(|r| r.s.rss).sum();
        f.render_widget(
            Paragraph::new(format!(
                "ned top — {} tasks, {running} running — CPU {cpu:.1}% — RSS {} — every {}s",
                self.rows.len(),
                bytes(rss),
                REFRESH.as_secs()
            ))
            .style(Style::new().add_modifier(Modifier::BOLD)),
            title,
        );
        let sorted = SORTS.iter().position(|s| *s == self.sort).unwrap_or(0);
        let arrow = if self.reverse { "▼" } else { "▲" };
        let header = Row::new(COLUMNS.iter().enumerate().map(|(i, c)| {
            let title = if i == sorted {
                format!("{c}{arrow}")
            } else {
                (*c).to_owned()
            };
            aligned(i, title)
        }))
        .style(Style::new().add_modifier(Modifier::REVERSED));
        let rows = self
            .rows
            .iter()
            .map(|r| Row::new(cells(r).into_iter().enumerate().map(|(i, c)| aligned(i, c))));
        let tag = self
            .rows
            .iter()
            .map(|r| r.s.tag.chars().count())
            .max()
            .unwrap_or(0);
        let widths = [
            Constraint::Length(tag.clamp(COLUMNS[0].len() + 1, 32) as u16),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Length(7),
            Constraint::Length(8),
            Constraint::Length(8),
            Constraint::Fill(1),
        ];
        let table = Table::new(rows, widths)
            .column_spacing(2)
            .header(header)
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED | Modifier::BOLD))
            .highlight_symbol("> ");
        f.render_stateful_widget(table, body, &mut self.table);
        if self.show_log {
            let tag = self.selected().map_or("", |r| r.s.tag.as_str());
            let lines: Vec<Line<'_>> = self.log.iter().map(|l| Line::from(l.as_str())).collect();
            let block = Block::new()
                .borders(Borders::TOP)
                .title(format!(" log of {tag} (l closes) "));
            f.render_widget(Paragraph::new(lines).block(block), log);
        }
        f.render_widget(Paragraph::new(self.status.as_str()), status);
        f.render_widget(
            Line::from(KEYS).style(Style::new().add_modifier(Modifier::DIM)),
            keys,
        );
    }
}

/// Whether column `i` holds a number, shown right-aligned.
fn numeric(i: usize) -> bool {
    matches!(i, 1 | 3 | 4 | 5 | 6)
}

fn aligned(i: usize, text: String) -> Cell<'static> {
    let line = Line::from(text);
    Cell::from(if numeric(i) {
        line.right_aligned()
    } else {
        line
    })
}

/// The cells of a row, in [`COLUMNS`] order.
fn cells(r: &Shown) -> [String; 8] {
    let running = r.s.state == "running";
    [
        r.s.tag.clone(),
        r.s.pid.to_string(),
        r.s.state.clone(),
        duration(r.s.uptime),
        if running {
            format!("{:.1}", r.cpu_pct)
        } else {
            String::new()
        },
        if running {
            bytes(r.s.rss)
        } else {
            String::new()
        },
        format!("{:.1}", r.lines_per_s),
        r.s.exit.clone(),
    ]
}

/// `12s`, `4m07s`, `3h05m`, `1d02h`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// `812K`, `14.2M`, `1.1G`.
fn bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let f = b as f64;
    if f < K * K {
        format!("{}K", b / 1024)
    } else if f < K * K * K {
        format!("{:.1}M", f / (K * K))
    } else {
        format!("{:.1}G", f / (K * K * K))
    }
}

/// The view on a terminal: full screen until `q`. The terminal is put back
/// on every way out, errors and panics included (ratatui's hooks).
pub fn run_terminal(src: &mut dyn Source) -> Result<()> {
    let mut term = ratatui::try_init().context("cannot set up the terminal")?;
    let r = run_loop(&mut term, src);
    ratatui::try_restore().context("cannot restore the terminal")?;
    r
}

fn run_loop<B: ratatui::backend::Backend>(
    term: &mut Terminal<B>,
    src: &mut dyn Source,
) -> Result<()>
where
    B::Error: Send + Sync + 'static,
{
    let mut view = View::default();
    let mut next = Instant::now();
    loop {
        if Instant::now() >= next {
            let at = Instant::now();
            // ned gone, or a bad reply: the view ends with the error.
            view.update(parse(&src.sample()?)?, at);
            view.fetch_log(src);
            next = at + REFRESH;
        }
        if std::mem::take(&mut view.redraw) {
            term.clear()?;
        }
        term.draw(|f| view.draw(f))?;
        let wait = next.saturating_duration_since(Instant::now());
        if event::poll(wait)? {
            match event::read()? {
                Event::Key(k) => {
                    view.key(k, src);
                    view.fetch_log(src);
                }
                Event::Resize(..) => {}
                _ => continue,
            }
            if view.quit {
                return Ok(());
            }
        }
    }
}

/// Not on a terminal: two samples [`REFRESH`] apart, printed as one plain
/// table (the rates need both).
pub fn run_plain(src: &mut dyn Source, out: &mut dyn Write) -> Result<()> {
    let mut view = View::default();
    view.update(parse(&src.sample()?)?, Instant::now());
    std::thread::sleep(REFRESH);
    view.update(parse(&src.sample()?)?, Instant::now());
    write_plain(&view, out)
}

/// The rows as aligned text, header first.
pub fn write_plain(view: &View, out: &mut dyn Write) -> Result<()> {
    let rows: Vec<[String; 8]> = view.rows().iter().map(cells).collect();
    let mut width = COLUMNS.map(str::len);
    for r in &rows {
        for (w, c) in width.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            let pad = " ".repeat(w - c.chars().count());
            if numeric(i) {
                s.push_str(&format!("{pad}{c}  "));
            } else {
                s.push_str(&format!("{c}{pad}  "));
            }
        }
        s.trim_end().to_owned()
    };
    writeln!(out, "{}", line(&COLUMNS))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::backend::TestBackend;

    /// Fixed samples, in order; kills are recorded.
    #[derive(Default)]
    struct Fixed {
        samples: Vec<String>,
        killed: Vec<(i32, String)>,
    }

    impl Fixed {
        /// The fixed log of a pid: `<pid> line <i>`.
        fn log(pid: i32, n: usize) -> Vec<String> {
            (1..=n).map(|i| format!("{pid} line {i}")).collect()
        }
    }

    impl Source for Fixed {
        fn sample(&mut self) -> Result<String> {
            if self.samples.is_empty() {
                bail!("no more samples");
            }
            Ok(self.samples.remove(0))
        }
        fn kill(&mut self, pid: i32, signal: &str) -> Result<()> {
            self.killed.push((pid, signal.to_owned()));
            Ok(())
        }
        fn logs(&mut self, pid: i32, n: usize) -> Result<Vec<String>> {
            if pid == 103 {
                bail!("logs: no task with pid 103");
            }
            Ok(Fixed::log(pid, n))
        }
    }

    const FIRST: &str = "ned\t3\n\
        101\tweb\trunning\t10.0\t1.00\t4194304\t100\t\n\
        102\tdb\trunning\t10.0\t0.50\t1048576\t0\t\n\
        103\tcron\texited\t2.0\t0.00\t0\t5\tcode 1";
    const SECOND: &str = "ned\t3\n\
        101\tweb\trunning\t12.0\t1.50\t4194304\t300\t\n\
        102\tdb\trunning\t12.0\t1.50\t1048576\t10\t\n\
        103\tcron\texited\t2.0\t0.00\t0\t5\tcode 1";

    fn key(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }

    fn two_samples() -> View {
        let mut v = View::default();
        let t0 = Instant::now();
        v.update(parse(FIRST).unwrap(), t0);
        v.update(parse(SECOND).unwrap(), t0 + Duration::from_secs(2));
        v
    }

    #[test]
    fn samples_parse_and_bad_ones_are_refused() {
        let rows = parse(FIRST).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2].exit, "code 1");
        assert_eq!(
            (rows[0].pid, rows[0].rss, rows[0].lines),
            (101, 4194304, 100)
        );
        assert_eq!(parse("ned\t0").unwrap(), []);
        for bad in [
            "",
            "nil",
            "ned\t2\n1\ta\trunning\t1\t1\t1\t1\t",
            "ned\t1\n1\ta\tb",
            "ned\t1\nx\ta\trunning\t1\t1\t1\t1\t",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn rates_come_from_two_samples_and_sort_by_cpu_first() {
        let v = two_samples();
        let by_tag: HashMap<&str, &Shown> =
            v.rows().iter().map(|r| (r.s.tag.as_str(), r)).collect();
        // 0.5 s of CPU in 2 s: 25 %; 1 s in 2 s: 50 %; 200 lines in 2 s.
        assert!((by_tag["web"].cpu_pct - 25.0).abs() < 1e-9);
        assert!((by_tag["db"].cpu_pct - 50.0).abs() < 1e-9);
        assert!((by_tag["web"].lines_per_s - 100.0).abs() < 1e-9);
        let order: Vec<&str> = v.rows().iter().map(|r| r.s.tag.as_str()).collect();
        assert_eq!(order, ["db", "web", "cron"]);
    }

    #[test]
    fn keys_sort_reverse_select_and_kill_the_selected_task() {
        let mut v = two_samples();
        let mut src = Fixed::default();
        v.key(key(KeyCode::Left), &mut src); // CPU -> UPTIME
        assert_eq!(v.sort, Sort::Uptime);
        v.key(key(KeyCode::Char('r')), &mut src);
        assert!(!v.reverse);
        let order: Vec<i32> = v.rows().iter().map(|r| r.s.pid).collect();
        assert_eq!(order, [103, 101, 102]);
        // The selection stayed on its task: the first row of the first
        // sample (all CPU ties, so pid order).
        assert_eq!(v.selected().unwrap().s.pid, 101);
        v.key(key(KeyCode::Char('K')), &mut src);
        assert_eq!(src.killed, [(101, "KILL".to_owned())]);
        assert_eq!(v.status, "sent KILL to web (pid 101)");
        // The exited task cannot be killed.
        v.key(key(KeyCode::Home), &mut src);
        v.key(key(KeyCode::Char('k')), &mut src);
        assert!(v.status.contains("not running"), "{}", v.status);
        assert_eq!(src.killed.len(), 1);
        v.key(key(KeyCode::Down), &mut src);
        // The selection follows its pid through a new sample.
        v.update(
            parse(SECOND).unwrap(),
            Instant::now() + Duration::from_secs(5),
        );
        assert_eq!(v.selected().unwrap().s.pid, 101);
        v.key(
            KeyEvent::new(KeyCode::Char('l'), KeyModifiers::CONTROL),
            &mut src,
        );
        assert!(v.redraw && !v.show_log, "Ctrl-L redraws, l opens the log");
        v.key(key(KeyCode::Char('q')), &mut src);
        assert!(v.quit);
    }

    #[test]
    fn a_frame_shows_the_table_the_sort_and_the_keys() {
        let mut v = two_samples();
        let text = frame(&mut v, 90, 8);
        assert!(text.contains("ned top — 3 tasks, 2 running"), "{text}");
        assert!(text.contains("CPU%▼"), "{text}");
        // The selection followed the first sample's first row.
        assert!(text.contains("> web"), "{text}");
        assert!(text.contains("  db "), "{text}");
        assert!(text.contains("code 1"), "{text}");
        assert!(text.contains("k kill (TERM)"), "{text}");
    }

    #[test]
    fn plain_output_is_an_aligned_table() {
        let v = two_samples();
        let mut out = Vec::new();
        write_plain(&v, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[0].starts_with("TAG") && lines[0].ends_with("EXIT"),
            "{text}"
        );
        assert!(
            lines[1].starts_with("db ") && lines[1].contains("50.0"),
            "{text}"
        );
        assert!(
            lines[3].starts_with("cron") && lines[3].ends_with("code 1"),
            "{text}"
        );
    }

    #[test]
    fn a_source_error_ends_the_plain_view() {
        let mut src = Fixed::default();
        let mut out = Vec::new();
        let err = run_plain(&mut src, &mut out).unwrap_err();
        assert!(err.to_string().contains("no more samples"), "{err}");
    }

    #[test]
    fn durations_and_sizes_are_short() {
        assert_eq!(duration(12.7), "12s");
        assert_eq!(duration(247.0), "4m07s");
        assert_eq!(duration(11100.0), "3h05m");
        assert_eq!(duration(93600.0), "1d02h");
        assert_eq!(bytes(812 * 1024), "812K");
        assert_eq!(bytes(14 * 1024 * 1024 + 200 * 1024), "14.2M");
    }

    /// Renders a frame of `v` as text, one line per row.
    fn frame(v: &mut View, cols: u16, rows: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(cols, rows)).unwrap();
        term.draw(|f| v.draw(f)).unwrap();
        term.backend()
            .buffer()
            .content()
            .chunks(cols as usize)
            .map(|l| l.iter().map(|c| c.symbol()).collect::<String>() + "\n")
            .collect()
    }

    #[test]
    fn l_opens_the_selected_tasks_log_and_errors_show_in_it() {
        let mut v = two_samples();
        let mut src = Fixed::default();
        v.fetch_log(&mut src);
        assert!(!frame(&mut v, 90, 20).contains("log of"), "closed at first");
        v.key(key(KeyCode::Char('l')), &mut src);
        v.fetch_log(&mut src);
        let text = frame(&mut v, 90, 20);
        assert!(text.contains("log of web (l closes)"), "{text}");
        assert!(
            text.contains("101 line 1") && text.contains("101 line 8"),
            "{text}"
        );
        v.key(key(KeyCode::End), &mut src);
        v.fetch_log(&mut src);
        let text = frame(&mut v, 90, 20);
        assert!(
            text.contains("log of cron") && text.contains("no task with pid 103"),
            "{text}"
        );
        v.key(key(KeyCode::Char('l')), &mut src);
        assert!(!frame(&mut v, 90, 20).contains("log of"), "closed again");
    }
}
