//! A readable rendering of the experiment tree.

use std::fmt;

use crate::call::Outcome;
use crate::tree::{self, Experiment};

/// A snapshot of the experiment tree: every experiment and its ancestors,
/// with level, threshold and, when alamos's recorder is installed, call counts.
///
/// Its `Display` draws the tree:
///
/// ```text
/// experiment                     level  threshold      calls   errors
/// (root)                         -      prod
/// ├── distribution               -      debug
/// │   └── distribution.writer    debug  debug            120        3
/// └── storage                    prod   prod              40        0
/// ```
#[derive(Clone, Debug)]
pub struct TreeView {
    rows: Vec<Row>,
}

#[derive(Clone, Debug)]
struct Row {
    key: String,
    depth: usize,
    /// Whether each ancestor column (and this node) is the last child.
    last: Vec<bool>,
    experiment: Option<Experiment>,
    threshold: crate::LevelFilter,
    calls: Option<[u64; Outcome::ALL.len()]>,
}

/// Takes a snapshot of the experiment tree for display.
pub fn tree() -> TreeView {
    let experiments = crate::experiments();
    let counts = crate::prometheus::installed().map(|exporter| exporter.calls_by_experiment());
    let mut keys: Vec<String> = vec![String::new()];
    for experiment in &experiments {
        for ancestor in crate::key::lineage(experiment.key) {
            if !keys.iter().any(|k| k == ancestor) {
                keys.push(ancestor.to_owned());
            }
        }
    }
    keys.sort();
    let rows = keys
        .iter()
        .map(|key| {
            let depth = if key.is_empty() {
                0
            } else {
                key.split('.').count()
            };
            let last = crate::key::lineage(key)
                .filter(|k| !k.is_empty())
                .map(|k| is_last_child(&keys, k))
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Row {
                key: key.clone(),
                depth,
                last,
                experiment: experiments.iter().find(|e| e.key == key).cloned(),
                threshold: tree::threshold(key).unwrap_or_default(),
                calls: counts
                    .as_ref()
                    .and_then(|counts| counts.get(key.as_str()).copied()),
            }
        })
        .collect();
    TreeView { rows }
}

fn parent(key: &str) -> &str {
    key.rfind('.').map_or("", |dot| &key[..dot])
}

fn is_last_child(keys: &[String], key: &str) -> bool {
    let parent = parent(key);
    !keys
        .iter()
        .any(|other| other.as_str() > key && !other.is_empty() && parent_of(other) == parent)
}

fn parent_of(key: &str) -> &str {
    parent(key)
}

impl fmt::Display for TreeView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self
            .rows
            .iter()
            .map(|row| row.depth * 4 + row.key.len().max(6))
            .max()
            .unwrap_or(10)
            .max(10);
        writeln!(
            f,
            "{:<width$}  {:<5}  {:<9}  {:>10}  {:>8}  {:>8}  {:>9}",
            "experiment", "level", "threshold", "calls", "errors", "panics", "cancelled"
        )?;
        for row in &self.rows {
            let mut name = String::new();
            if row.key.is_empty() {
                name.push_str("(root)");
            } else {
                let (own, ancestors) = row.last.split_last().unwrap_or((&true, &[]));
                for ancestor_is_last in ancestors {
                    name.push_str(if *ancestor_is_last { "    " } else { "│   " });
                }
                name.push_str(if *own { "└── " } else { "├── " });
                name.push_str(&row.key);
            }
            let level = row.experiment.as_ref().map_or("-", |e| e.level.as_str());
            write!(
                f,
                "{name:<width$}  {level:<5}  {:<9}",
                row.threshold.as_str()
            )?;
            if let Some(calls) = row.calls {
                let total: u64 = calls.iter().sum();
                write!(
                    f,
                    "  {total:>10}  {:>8}  {:>8}  {:>9}",
                    calls[Outcome::Error as usize],
                    calls[Outcome::Panic as usize],
                    calls[Outcome::Cancelled as usize]
                )?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
