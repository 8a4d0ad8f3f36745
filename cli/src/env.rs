//! `-e` and `--env-file` as Docker reads them on the client side: a bare `KEY` takes the
//! host's value (or is dropped when unset); env files are KEY=VALUE lines with # comments.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// The `KEY=VALUE` entries of `files` (in order), then of `entries`.
pub fn collect(files: &[PathBuf], entries: &[String]) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for file in files {
        env.extend(read_env_file(file)?);
    }
    env.extend(entries.iter().filter_map(|e| expand_env(e)));
    Ok(env)
}

/// Reads an env file: KEY=VALUE lines; a bare KEY takes the host's value; # comments.
pub fn read_env_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read env file {}", path.display()))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(expand_env)
        .collect())
}

/// `KEY=VALUE` stays; a bare `KEY` becomes the host's `KEY=value` or is dropped if unset.
pub fn expand_env(entry: &str) -> Option<String> {
    if entry.contains('=') {
        return Some(entry.to_string());
    }
    std::env::var(entry)
        .ok()
        .map(|value| format!("{entry}={value}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_skip_comments_and_blank_lines() {
        let path = std::env::temp_dir().join(format!("hull-env-{}", std::process::id()));
        std::fs::write(
            &path,
            "# comment\nA=1\n\n  B=two words \nHULL_SURELY_UNSET_VARIABLE\n",
        )
        .unwrap();
        assert_eq!(read_env_file(&path).unwrap(), ["A=1", "B=two words"]);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn bare_env_keys_take_the_hosts_value_or_vanish() {
        assert_eq!(expand_env("A=1").as_deref(), Some("A=1"));
        assert!(expand_env("HULL_SURELY_UNSET_VARIABLE").is_none());
        assert!(expand_env("PATH").unwrap().starts_with("PATH="));
    }
}
