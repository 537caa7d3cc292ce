//! Adds `#[::alamos::experiment("annot")]` to every `impl` block and every
//! free fn (not `const fn`) of each `.rs` file given, at module level (inline
//! modules included, fn bodies not), by inserting the text before the item's
//! first token, so the file otherwise stays byte for byte as written and
//! the compiler's messages still point at the crate's own lines.
//!
//! `cargo run --release -- src/lib.rs src/foo.rs ...`; prints how many items
//! it annotated. A file syn cannot parse is skipped with a message.

use quote::ToTokens;
use syn::visit::{self, Visit};

const ATTRIBUTE: &str = "#[::alamos::experiment(\"annot\")] ";

/// The items of one file to annotate, by where their first token starts.
#[derive(Default)]
struct Annotate {
    /// (line, column) of each item's first token; lines count from 1.
    at: Vec<(usize, usize)>,
    impls: usize,
    fns: usize,
}

fn start(item: &impl ToTokens) -> Option<(usize, usize)> {
    let first = item.to_token_stream().into_iter().next()?;
    let start = first.span().start();
    Some((start.line, start.column))
}

impl<'a> Visit<'a> for Annotate {
    fn visit_item(&mut self, item: &'a syn::Item) {
        match item {
            syn::Item::Fn(f) if f.sig.constness.is_none() => {
                self.at.extend(start(f));
                self.fns += 1;
            }
            syn::Item::Impl(i) => {
                self.at.extend(start(i));
                self.impls += 1;
            }
            syn::Item::Mod(_) => visit::visit_item(self, item),
            _ => {}
        }
    }
}

/// `text` with the attribute inserted at each of `at` (columns count chars).
fn insert(text: &str, mut at: Vec<(usize, usize)>) -> String {
    let mut lines: Vec<String> = text.split('\n').map(str::to_owned).collect();
    at.sort_unstable();
    // From the end, so earlier positions stay where they were.
    for (line, column) in at.into_iter().rev() {
        let line = &mut lines[line - 1];
        let byte = line
            .char_indices()
            .nth(column)
            .map_or(line.len(), |(i, _)| i);
        line.insert_str(byte, ATTRIBUTE);
    }
    lines.join("\n")
}

fn main() -> std::process::ExitCode {
    let (mut impls, mut fns, mut failed) = (0, 0, false);
    for path in std::env::args().skip(1) {
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) => {
                eprintln!("{path}: {err}");
                failed = true;
                continue;
            }
        };
        let file = match syn::parse_file(&text) {
            Ok(file) => file,
            Err(err) => {
                eprintln!("skip {path}: {err}");
                continue;
            }
        };
        let mut found = Annotate::default();
        for item in &file.items {
            found.visit_item(item);
        }
        impls += found.impls;
        fns += found.fns;
        if let Err(err) = std::fs::write(&path, insert(&text, found.at)) {
            eprintln!("{path}: {err}");
            failed = true;
        }
    }
    println!("annotated {impls} impl blocks and {fns} free fns");
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
