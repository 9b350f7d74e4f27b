//! The TEXT graph's corpus. By default Debian's `fortunes` and
//! `fortunes-min` (about 2.6 MB of English, BSD, installed by
//! `scripts/setup.sh`); where they are absent, the licence texts every
//! Debian system has (`/usr/share/common-licenses`), with a warning; or the
//! user's own text (`--corpus PATH`, a file or a directory).
//!
//! Text is cut into units (a fortune, between `%` lines; elsewhere a
//! paragraph). Every tenth unit of every file is held out, so the held-out
//! text comes from every file and never repeats training text (a held-out
//! unit that also occurs in training is dropped). Peers specialise: a
//! shard is a set of whole files, balanced by size.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// Debian's `fortunes` and `fortunes-min`.
pub const FORTUNES_DIR: &str = "/usr/share/games/fortunes";
/// Debian's `base-files`: on every system, but small.
pub const FALLBACK_DIR: &str = "/usr/share/common-licenses";

/// Every tenth unit of a file is held out.
const HELD_OUT_EVERY: usize = 10;

#[derive(Clone, Debug)]
pub struct Corpus {
    /// The file or directory it was read from.
    pub source: PathBuf,
    /// Each source file's training text, in name order.
    pub files: Vec<(String, Vec<u8>)>,
    /// All training text.
    pub train: Vec<u8>,
    /// Text no training text repeats, from every file.
    pub held_out: Vec<u8>,
    /// Where each held-out unit lies in `held_out`.
    held_out_units: Vec<std::ops::Range<usize>>,
}

/// Where the corpus comes from: `user`'s path if given, else the fortunes,
/// else the licence texts, with a warning to show.
pub fn locate(user: Option<&Path>) -> (PathBuf, Option<String>) {
    if let Some(path) = user {
        return (path.to_path_buf(), None);
    }
    if Path::new(FORTUNES_DIR).is_dir() {
        return (PathBuf::from(FORTUNES_DIR), None);
    }
    (
        PathBuf::from(FALLBACK_DIR),
        Some(format!(
            "{FORTUNES_DIR} not found (Debian's fortunes, fortunes-min; scripts/setup.sh installs \
             them): training on the licence texts of {FALLBACK_DIR} instead, whose results differ \
             from the README's"
        )),
    )
}

impl Corpus {
    /// Reads the corpus [`locate`] names for `user`; returns it with the
    /// warning to show if it fell back. An error names the path.
    pub fn open(user: Option<&Path>) -> std::io::Result<(Self, Option<String>)> {
        let (source, warning) = locate(user);
        let corpus = Self::load(&source)
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", source.display())))?;
        Ok((corpus, warning))
    }

    /// Reads `path`: a file, or every text file of a directory (each once,
    /// symlinks followed, in name order; binary files such as fortune's
    /// `.dat` indexes skipped).
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let mut files = Vec::new();
        if path.is_dir() {
            let mut names: Vec<PathBuf> = std::fs::read_dir(path)?
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .collect();
            names.sort();
            let mut seen = BTreeSet::new();
            for name in names {
                let real = std::fs::canonicalize(&name)?;
                if real.is_file() && seen.insert(real.clone()) {
                    files.push((label(&real), std::fs::read(&real)?));
                }
            }
        } else {
            files.push((label(path), std::fs::read(path)?));
        }
        files.retain(|(name, text)| !name.ends_with(".dat") && !text.contains(&0));
        let corpus = Self::split(path, files);
        if corpus.train.is_empty() || corpus.held_out.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "{} holds too little text to train and hold some out",
                    path.display()
                ),
            ));
        }
        Ok(corpus)
    }

    /// Cuts each file into units and holds every tenth out.
    fn split(source: &Path, files: Vec<(String, Vec<u8>)>) -> Self {
        let mut train_files = Vec::new();
        let mut held_units = Vec::new();
        let mut seen = HashSet::new();
        for (name, text) in &files {
            let mut kept = Vec::new();
            for (index, unit) in units(text).into_iter().enumerate() {
                if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 {
                    held_units.push(unit);
                } else {
                    seen.insert(unit);
                    kept.extend_from_slice(unit);
                    kept.push(b'\n');
                }
            }
            if !kept.is_empty() {
                train_files.push((name.clone(), kept));
            }
        }
        let mut held_out = Vec::new();
        let mut held_out_units = Vec::new();
        for unit in held_units.into_iter().filter(|unit| !seen.contains(unit)) {
            let start = held_out.len();
            held_out.extend_from_slice(unit);
            held_out.push(b'\n');
            held_out_units.push(start..held_out.len());
        }
        let train = train_files.iter().flat_map(|(_, t)| t.clone()).collect();
        Self {
            source: source.to_path_buf(),
            files: train_files,
            train,
            held_out,
            held_out_units,
        }
    }

    /// The held-out units `keep` picks (by index), joined: a validator's
    /// own share, drawn with a secret so no neighbour knows it
    /// (whitepaper §9). All of the held-out text if `keep` picks none.
    pub fn held_out_share(&self, keep: impl Fn(u64) -> bool) -> Vec<u8> {
        let share: Vec<u8> = self
            .held_out_units
            .iter()
            .enumerate()
            .filter(|(index, _)| keep(*index as u64))
            .flat_map(|(_, range)| self.held_out[range.clone()].iter().copied())
            .collect();
        if share.is_empty() {
            return self.held_out.clone();
        }
        share
    }

    /// Shard `index` of `count`: whole files, each file given to the
    /// lightest shard so far, largest first (shards differ in subject and
    /// not much in size). With fewer files than shards, all of the text.
    pub fn shard(&self, index: usize, count: usize) -> Vec<u8> {
        let count = count.max(1);
        if self.files.len() < count {
            return self.train.clone();
        }
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        order.sort_by(|a, b| {
            self.files[*b]
                .1
                .len()
                .cmp(&self.files[*a].1.len())
                .then(a.cmp(b))
        });
        let mut sizes = vec![0usize; count];
        let mut owner = vec![0usize; self.files.len()];
        for file in order {
            let lightest = (0..count).min_by_key(|s| (sizes[*s], *s)).unwrap_or(0);
            sizes[lightest] += self.files[file].1.len();
            owner[file] = lightest;
        }
        self.files
            .iter()
            .zip(owner)
            .filter(|(_, shard)| *shard == index)
            .flat_map(|((_, text), _)| text.iter().copied())
            .collect()
    }
}

fn label(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into(),
    )
}

/// A fortune file's fortunes (between lines holding only `%`), else its
/// paragraphs (between blank lines); empty units dropped.
fn units(text: &[u8]) -> Vec<&[u8]> {
    let fortunes = text.starts_with(b"%\n") || text.windows(3).any(|w| w == b"\n%\n");
    let mut units = Vec::new();
    let mut start = 0;
    let mut line_start = 0;
    for (at, byte) in text.iter().enumerate() {
        if *byte != b'\n' {
            continue;
        }
        let line = &text[line_start..at];
        let boundary = if fortunes {
            line == b"%"
        } else {
            line.iter().all(u8::is_ascii_whitespace)
        };
        if boundary {
            units.push(&text[start..line_start]);
            start = at + 1;
        }
        line_start = at + 1;
    }
    units.push(&text[start..]);
    units
        .into_iter()
        .map(|unit| unit.trim_ascii())
        .filter(|unit| !unit.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corpus_of(files: &[(&str, &str)]) -> Corpus {
        let files = files
            .iter()
            .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec()))
            .collect();
        Corpus::split(Path::new("test"), files)
    }

    #[test]
    fn fortunes_are_units_and_every_tenth_of_each_file_is_held_out() {
        let fortunes: String = (0..20).map(|i| format!("fortune {i}\n%\n")).collect();
        let corpus = corpus_of(&[
            ("a", &fortunes),
            ("b", &fortunes.replace("fortune", "saying")),
        ]);
        let held = String::from_utf8(corpus.held_out.clone()).unwrap();
        assert_eq!(held, "fortune 9\nfortune 19\nsaying 9\nsaying 19\n");
        let train = String::from_utf8(corpus.train.clone()).unwrap();
        assert!(!train.contains("fortune 9\n") && train.contains("fortune 8\n"));
        assert!(!train.contains('%'));
    }

    #[test]
    fn a_held_out_share_is_whole_units_picked_by_index() {
        let fortunes: String = (0..40)
            .map(|i| format!("fortune {i}\nline two\n%\n"))
            .collect();
        let corpus = corpus_of(&[("a", &fortunes)]);
        let odd = String::from_utf8(corpus.held_out_share(|i| i % 2 == 1)).unwrap();
        assert_eq!(odd, "fortune 19\nline two\nfortune 39\nline two\n");
        assert_eq!(corpus.held_out_share(|_| false), corpus.held_out);
    }

    #[test]
    fn held_out_never_repeats_training_text() {
        let text: String = (0..10).map(|_| "same\n%\n").collect();
        let corpus = corpus_of(&[("a", &text)]);
        assert!(corpus.held_out.is_empty());
    }

    #[test]
    fn paragraphs_are_units_where_there_are_no_fortunes() {
        let text: String = (0..10).map(|i| format!("line {i}\nmore\n\n")).collect();
        let corpus = corpus_of(&[("a", &text)]);
        assert_eq!(corpus.held_out, b"line 9\nmore\n");
    }

    #[test]
    fn shards_are_whole_files_balanced_by_size() {
        let corpus = corpus_of(&[
            ("a", &"a".repeat(300)),
            ("b", &"b".repeat(200)),
            ("c", &"c".repeat(150)),
            ("d", &"d".repeat(100)),
        ]);
        let shards: Vec<Vec<u8>> = (0..2).map(|i| corpus.shard(i, 2)).collect();
        // a (300) to shard 0, b (200) to 1, c to 1 (350), d to 0 (400).
        assert_eq!(shards[0].iter().filter(|b| **b == b'a').count(), 300);
        assert_eq!(shards[0].iter().filter(|b| **b == b'd').count(), 100);
        assert_eq!(shards[1].iter().filter(|b| **b == b'c').count(), 150);
        assert_eq!(shards[0].len() + shards[1].len(), corpus.train.len());
        // Fewer files than shards: everyone trains on everything.
        assert_eq!(corpus.shard(3, 5), corpus.train);
    }
}
