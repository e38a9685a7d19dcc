//! Import progress: an indicatif bar with features/s on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
    plain: bool,
    layer: String,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    pub fn new(enabled: bool, total: Option<u64>, layer: &impl std::fmt::Display) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (enabled && terminal).then(|| {
            let bar = match total {
                Some(t) => ProgressBar::new(t),
                None => ProgressBar::new_spinner(),
            };
            let style = ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} features ({per_sec}, eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_message(format!("importing {layer}"));
            bar
        });
        Self {
            bar,
            plain: enabled && !terminal,
            layer: layer.to_string(),
            total,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    pub fn set(&mut self, written: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(written);
        } else if self.plain && self.last_line.elapsed() >= Duration::from_secs(2) {
            self.last_line = Instant::now();
            let rate = written as f64 / self.started.elapsed().as_secs_f64().max(1e-3);
            match self.total {
                Some(t) => eprintln!(
                    "cuulong: {}: {written}/{t} features ({rate:.0} features/s)",
                    self.layer
                ),
                None => eprintln!(
                    "cuulong: {}: {written} features ({rate:.0} features/s)",
                    self.layer
                ),
            }
        }
    }

    pub fn finish(&mut self, read: u64) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(read);
            bar.finish_and_clear();
        }
    }

    pub fn abandon(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.abandon();
        }
    }
}
