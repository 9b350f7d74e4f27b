//! The TEXT graph's corpus: English prose that every Debian system
//! installs offline, the licence texts of `base-files`
//! (`/usr/share/common-licenses`). Each peer trains on its own shard; the
//! last tenth is held out for every peer alike.

use std::collections::BTreeSet;
use std::path::Path;

pub const DEFAULT_DIR: &str = "/usr/share/common-licenses";

#[derive(Clone, Debug)]
pub struct Corpus {
    pub train: Vec<u8>,
    pub held_out: Vec<u8>,
}

impl Corpus {
    /// Every file of `dir` (each once, symlinks followed), in name order.
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        let mut seen = BTreeSet::new();
        let mut names: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .collect();
        names.sort();
        let mut text = Vec::new();
        for path in names {
            let real = std::fs::canonicalize(&path)?;
            if real.is_file() && seen.insert(real.clone()) {
                text.extend(std::fs::read(real)?);
                text.push(b'\n');
            }
        }
        let split = text.len() * 9 / 10;
        let held_out = text.split_off(split);
        Ok(Self {
            train: text,
            held_out,
        })
    }

    /// Shard `index` of `count` of the training text.
    pub fn shard(&self, index: usize, count: usize) -> &[u8] {
        let size = self.train.len() / count.max(1);
        let start = size * index;
        &self.train[start..(start + size).min(self.train.len())]
    }
}
