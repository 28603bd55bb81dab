//! The documentation stays true to the tree: every relative link in README.md and docs/*.md
//! reaches a file (and, with `#anchor`, a heading of it), and docs/configuration.md documents
//! exactly the keys of config/default.toml. Plain file reads; no server is started.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Value};
use figment::Figment;

/// The project's root: every path below is read from it.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README.md and every docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root().join("README.md"));
    docs
}

/// The lines of a Markdown text outside fenced code blocks.
fn unfenced_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            out.push(line);
        }
    }
    out
}

/// The lines outside fenced code blocks with their `code` spans dropped: a link is never
/// inside one.
fn prose_lines(text: &str) -> Vec<String> {
    unfenced_lines(text)
        .into_iter()
        .map(|line| {
            line.split('`')
                .enumerate()
                .filter(|(i, _)| i % 2 == 0)
                .map(|(_, part)| part)
                .collect()
        })
        .collect()
}

/// Every link target in a Markdown text: `[text](target)` and `<img src="target">`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for line in prose_lines(text) {
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            targets.push(after[..end].trim().to_owned());
            rest = &after[end..];
        }
        let mut rest = line.as_str();
        while let Some(at) = rest.find("src=\"") {
            let after = &rest[at + 5..];
            let end = after.find('"').unwrap_or(after.len());
            targets.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    targets
}

/// The anchor GitHub gives a heading: lower case, spaces to `-`, punctuation dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings.
fn anchors(text: &str) -> BTreeSet<String> {
    unfenced_lines(text)
        .into_iter()
        .filter(|l| l.starts_with('#'))
        .map(|l| slug(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_and_the_docs_reaches_a_file_and_its_heading() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        let dir = doc.parent().unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                doc.clone()
            } else {
                dir.join(file)
            };
            let name = doc.strip_prefix(root()).unwrap().display().to_string();
            if !path.exists() {
                broken.push(format!("{name}: {target} (no such file)"));
                continue;
            }
            if let Some(anchor) = anchor {
                let is_md = path.extension().is_some_and(|x| x == "md");
                if !is_md || !anchors(&read(&path)).contains(anchor) {
                    broken.push(format!("{name}: {target} (no such heading)"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The dotted paths of every value in a TOML dictionary (`sandbox.faults.garbage_rate`).
fn leaf_keys(prefix: &str, dict: &Dict, keys: &mut BTreeSet<String>) {
    for (name, value) in dict {
        let key = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        match value {
            Value::Dict(_, inner) => leaf_keys(&key, inner, keys),
            _ => {
                keys.insert(key);
            }
        }
    }
}

/// The keys of config/default.toml: those with a value, and those shown commented out
/// (`# prune_tick = "0 30 3 * * *"`: a key with no default, its line valid TOML alone).
fn default_toml_keys() -> BTreeSet<String> {
    let text = read(&root().join("config/default.toml"));
    let dict: Dict = Figment::from(Toml::string(&text)).extract().unwrap();
    let mut keys = BTreeSet::new();
    leaf_keys("", &dict, &mut keys);
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_owned();
            continue;
        }
        let Some(commented) = line.strip_prefix("# ") else {
            continue;
        };
        let Some((name, _)) = commented.split_once(" = ") else {
            continue;
        };
        let is_key = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        let parses = Figment::from(Toml::string(commented))
            .extract::<Dict>()
            .is_ok_and(|d| d.len() == 1);
        if is_key && parses {
            keys.insert(format!("{section}.{name}"));
        }
    }
    keys
}

/// The keys docs/configuration.md documents: a table row whose first cell is one
/// `` `section.key` ``.
fn documented_keys() -> BTreeSet<String> {
    read(&root().join("docs/configuration.md"))
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(key, _)| key.to_owned())
        .filter(|key| {
            key.contains('.')
                && key
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.')
        })
        .collect()
}

#[test]
fn the_configuration_manual_documents_every_key_of_the_default_file_and_no_other() {
    let defaults = default_toml_keys();
    let documented = documented_keys();
    assert!(
        defaults.contains("api.bind") && defaults.contains("retention.prune_tick"),
        "the default file's keys were not all read: {defaults:?}"
    );
    let missing: Vec<&String> = defaults.difference(&documented).collect();
    let unknown: Vec<&String> = documented.difference(&defaults).collect();
    assert!(
        missing.is_empty(),
        "keys of config/default.toml not in docs/configuration.md: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "docs/configuration.md documents keys config/default.toml does not have: {unknown:?}"
    );
}

#[test]
fn a_heading_anchor_is_the_one_github_makes() {
    assert_eq!(slug(" Listener limits"), "listener-limits");
    assert_eq!(
        slug(" 4.1 `update-qrcode`: bind a bill to a QR code"),
        "41-update-qrcode-bind-a-bill-to-a-qr-code"
    );
}
