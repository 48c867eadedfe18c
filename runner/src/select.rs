//! Choosing which scenarios run: `--filter TEXT` by path, `--shard K/N`
//! for one of N disjoint parts that stay stable as scenarios are added
//! (a scenario's part depends on its path alone, not on its position).

use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shard {
    /// 1-based.
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes K/N with 1 ≤ K ≤ N, such as 2/4; got '{s}'");
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count) = (
            k.trim().parse::<u64>().map_err(|_| bad())?,
            n.trim().parse::<u64>().map_err(|_| bad())?,
        );
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    pub fn contains(&self, path: &Path) -> bool {
        fnv1a(&key(path)) % self.count == self.index - 1
    }
}

/// The path as the same text however it was named: without `./`.
fn key(path: &Path) -> String {
    let text = path.to_string_lossy();
    let mut t: &str = &text;
    while let Some(rest) = t.strip_prefix("./") {
        t = rest;
    }
    t.to_string()
}

/// FNV-1a: stable across Rust versions and machines, unlike std's hasher.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf29ce484222325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    })
}

/// The scenarios to run: those whose path contains one of `filters` (all
/// when there is none) and that fall in `shard`.
pub fn select(files: Vec<PathBuf>, filters: &[String], shard: Option<Shard>) -> Vec<PathBuf> {
    files
        .into_iter()
        .filter(|f| filters.is_empty() || filters.iter().any(|t| key(f).contains(t.as_str())))
        .filter(|f| shard.is_none_or(|s| s.contains(f)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "1/0", "x/2", "3", ""] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn shards_partition_and_do_not_depend_on_position() {
        let files: Vec<PathBuf> = (0..200)
            .map(|i| PathBuf::from(format!("scenarios/s{i}.rhai")))
            .collect();
        let parts: Vec<Vec<PathBuf>> = (1..=3)
            .map(|k| select(files.clone(), &[], Some(Shard { index: k, count: 3 })))
            .collect();
        let mut all: Vec<PathBuf> = parts.concat();
        all.sort();
        let mut expected = files.clone();
        expected.sort();
        assert_eq!(all, expected, "every scenario is in exactly one shard");
        assert!(
            parts.iter().all(|p| p.len() > 40),
            "shards are roughly even"
        );
        // Adding a scenario moves no other one.
        let mut more = files.clone();
        more.insert(0, PathBuf::from("scenarios/new.rhai"));
        let again = select(more, &[], Some(Shard { index: 1, count: 3 }));
        assert!(parts[0].iter().all(|f| again.contains(f)));
        assert_eq!(key(Path::new("./scenarios/a.rhai")), "scenarios/a.rhai");
    }

    #[test]
    fn filters_match_paths() {
        let files = vec![
            PathBuf::from("scenarios/article/04-dnat.rhai"),
            PathBuf::from("scenarios/article/02-x.rhai"),
        ];
        assert_eq!(select(files.clone(), &["article/04".into()], None).len(), 1);
        assert_eq!(
            select(files.clone(), &["04".into(), "02".into()], None).len(),
            2
        );
        assert_eq!(select(files, &[], None).len(), 2);
    }
}
