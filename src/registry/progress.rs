//! Progress of blob transfers on stderr: one bar per blob when stderr is a terminal, one line
//! per finished blob otherwise (CI logs must not fill up with redraws). stdout stays for data.

use std::io::{IsTerminal, Read};
use std::time::Instant;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::oci::Digest;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars when stderr is a terminal, lines otherwise.
    #[default]
    Auto,
    Bars,
    Lines,
    Quiet,
}

/// Progress for one push or pull, shared by its worker threads.
pub(crate) struct Progress {
    mode: ProgressMode,
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let mode = match mode {
            ProgressMode::Auto if std::io::stderr().is_terminal() => ProgressMode::Bars,
            ProgressMode::Auto => ProgressMode::Lines,
            other => other,
        };
        let multi = (mode == ProgressMode::Bars)
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
        Progress { mode, multi }
    }

    /// Start tracking one blob transfer, e.g. `push sha256:1234abcd…` of `size` bytes.
    pub fn blob(&self, verb: &'static str, digest: &Digest, size: u64) -> Blob {
        let label = format!("{verb} {}", short(digest));
        let bar = self.multi.as_ref().map(|multi| {
            let style = ProgressStyle::with_template(
                "{msg:24} [{bar:30}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec}",
            )
            .expect("static template is valid")
            .progress_chars("=> ");
            multi.add(
                ProgressBar::new(size)
                    .with_style(style)
                    .with_message(label.clone()),
            )
        });
        Blob {
            bar,
            lines: self.mode == ProgressMode::Lines,
            label,
            size,
            started: Instant::now(),
        }
    }
}

/// The first 12 hex digits: enough to tell layers apart, as `docker` prints them.
pub(crate) fn short(digest: &Digest) -> String {
    format!("sha256:{}", &digest.hex()[..12])
}

pub(crate) struct Blob {
    bar: Option<ProgressBar>,
    lines: bool,
    label: String,
    size: u64,
    started: Instant,
}

impl Blob {
    /// Count bytes read through `reader` into this blob's bar.
    pub fn wrap<'a>(&self, reader: Box<dyn Read + Send + 'a>) -> Box<dyn Read + Send + 'a> {
        match &self.bar {
            Some(bar) => Box::new(bar.wrap_read(reader)),
            None => reader,
        }
    }

    /// Back to `position` after a retry, so the bar does not count bytes twice.
    pub fn rewind(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// Done: `outcome` says how (`pushed`, `exists`, `mounted from …`, `cached`).
    pub fn finish(&self, outcome: &str) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(format!("{} {outcome}", self.label));
        } else if self.lines {
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!(
                "{}: {outcome} ({}, {secs:.1}s)",
                self.label,
                human(self.size)
            );
        }
    }
}

pub(crate) fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human_and_digests_short() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(3 << 20), "3.0 MiB");
        assert_eq!(short(&Digest::of(b"")), "sha256:e3b0c44298fc");
    }

    #[test]
    fn quiet_and_lines_modes_draw_no_bars() {
        let p = Progress::new(ProgressMode::Quiet);
        let blob = p.blob("push", &Digest::of(b"x"), 1);
        let mut out = Vec::new();
        blob.wrap(Box::new(&b"x"[..]))
            .read_to_end(&mut out)
            .unwrap();
        blob.finish("pushed");
        assert_eq!(out, b"x");
        assert!(Progress::new(ProgressMode::Lines).multi.is_none());
    }
}
