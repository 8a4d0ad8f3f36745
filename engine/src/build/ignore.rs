//! `.dockerignore` with Docker's rules (moby's `patternmatcher`): one pattern per line, `#`
//! comments, paths cleaned and relative to the context root, `*` and `?` within one path
//! component, `**` across any number of them, `!` re-including what an earlier pattern
//! excluded; the last matching pattern decides, and a pattern that matches a directory
//! matches everything under it.

use regex::Regex;

/// One compiled pattern.
#[derive(Debug)]
struct Pattern {
    regex: Regex,
    exclusion: bool,
}

/// The patterns of a `.dockerignore`.
#[derive(Debug, Default)]
pub struct IgnoreRules {
    patterns: Vec<Pattern>,
}

impl IgnoreRules {
    /// Parses a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclusion, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let cleaned = clean(pattern);
            if cleaned.is_empty() {
                continue;
            }
            let regex = Regex::new(&glob_regex(&cleaned, true))
                .map_err(|e| format!(".dockerignore: bad pattern {line:?}: {e}"))?;
            patterns.push(Pattern { regex, exclusion });
        }
        Ok(Self { patterns })
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(at, _)| &path[..at]).collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            // Only a pattern that could change the outcome is tried.
            if pattern.exclusion != excluded {
                continue;
            }
            let matched = pattern.regex.is_match(path)
                || parents.iter().any(|parent| pattern.regex.is_match(parent));
            if matched {
                excluded = !pattern.exclusion;
            }
        }
        excluded
    }
}

/// Go's `filepath.Clean` for a relative pattern: no leading `/`, no `.` or empty
/// components, `..` resolved where it can be.
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !path.starts_with('/') {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    parts.join("/")
}

/// A glob as an anchored regex: `*` and `?` stay within a component, `[...]` is a class,
/// `\` escapes; with `double_star`, `**` crosses components (`.dockerignore`; COPY's
/// sources match component by component as Go's `filepath.Match`).
pub fn glob_regex(pattern: &str, double_star: bool) -> String {
    let mut regex = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if double_star && chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    // `**/`: zero or more whole directories.
                    i += 1;
                    regex.push_str("(.*/)?");
                } else {
                    regex.push_str(".*");
                }
            }
            '*' => regex.push_str("[^/]*"),
            '?' => regex.push_str("[^/]"),
            '[' => {
                let close = chars[i + 1..].iter().position(|&c| c == ']');
                match close {
                    Some(len) => {
                        let class: String = chars[i + 1..i + 1 + len].iter().collect();
                        let class = class
                            .strip_prefix('^')
                            .map_or_else(|| class.clone(), |rest| format!("^{rest}"));
                        regex.push('[');
                        regex.push_str(&class.replace('\\', "\\\\"));
                        regex.push(']');
                        i += len + 1;
                    }
                    None => regex.push_str("\\["),
                }
            }
            '\\' if i + 1 < chars.len() => {
                i += 1;
                regex.push_str(&regex::escape(&chars[i].to_string()));
            }
            other => regex.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    regex.push('$');
    regex
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> IgnoreRules {
        IgnoreRules::parse(text).unwrap()
    }

    #[test]
    fn patterns_match_files_and_everything_under_a_matched_directory() {
        let r = rules("# comment\n\n*.log\n/build\nsecret?.txt\n");
        assert!(r.excludes("app.log"));
        assert!(!r.excludes("logs/app.log"), "* stays in one component");
        assert!(r.excludes("build"));
        assert!(r.excludes("build/out/a.o"));
        assert!(r.excludes("secret1.txt"));
        assert!(!r.excludes("secret12.txt"));
        assert!(!r.excludes("src/main.rs"));
    }

    #[test]
    fn double_star_crosses_directories() {
        let r = rules("**/*.tmp\ndocs/**\n");
        assert!(r.excludes("a.tmp"));
        assert!(r.excludes("x/y/z.tmp"));
        assert!(r.excludes("docs/a/b.md"));
        assert!(!r.excludes("src/a.rs"));
    }

    #[test]
    fn the_last_matching_pattern_wins_and_exceptions_re_include() {
        let r = rules("*.md\n!README.md\n");
        assert!(r.excludes("CHANGES.md"));
        assert!(!r.excludes("README.md"));
        let r = rules("!keep.txt\n*\n");
        assert!(r.excludes("keep.txt"), "a later exclusion wins again");
        let r = rules("data\n!data/keep\n");
        assert!(r.excludes("data/drop"));
        assert!(!r.excludes("data/keep"));
    }

    #[test]
    fn patterns_are_cleaned_as_paths() {
        let r = rules("./a/../b/\n");
        assert!(r.excludes("b/file"));
        assert_eq!(clean("/x//y/./z/"), "x/y/z");
        assert_eq!(clean("../up"), "../up");
    }
}
