//! `images --filter KEY=VALUE` and `images [REPOSITORY[:TAG]]`, as Docker matches them:
//! `dangling`, `reference` (a glob over `name` and `name:tag`, `*` not crossing `/`),
//! `label` (`KEY` or `KEY=VALUE`, from the image config), `before`/`since` (another image,
//! by creation time). Filters with different keys must all match; several of one key, any.

use crate::error::{Error, Result};
use glob::{MatchOptions, Pattern};
use hull_rootfs::{Image, ImageSummary};

/// The keys `images --filter` takes.
const KEYS: &[&str] = &["dangling", "reference", "label", "before", "since"];

/// Parsed `--filter` terms (and the positional reference).
#[derive(Debug, Clone, Default)]
pub struct ImageFilter {
    terms: Vec<(String, String)>,
}

/// One listed row with what the filter needs to know about its image.
pub struct Candidate<'a> {
    /// The `images` row (one per tag).
    pub row: &'a ImageSummary,
    /// Its image.
    pub image: &'a Image,
}

impl ImageFilter {
    /// Parses `KEY=VALUE` terms; `reference` is the positional `REPOSITORY[:TAG]`, if any.
    pub fn parse(terms: &[String], reference: Option<&str>) -> Result<Self> {
        let mut parsed = Vec::new();
        for term in terms {
            let Some((key, value)) = term.split_once('=') else {
                return Err(Error::InvalidArgument(format!(
                    "bad format of filter (expected name=value): {term}"
                )));
            };
            let key = key.trim().to_ascii_lowercase();
            if !KEYS.contains(&key.as_str()) {
                return Err(Error::InvalidArgument(format!("invalid filter '{key}'")));
            }
            if key == "dangling" && !["true", "false", "1", "0"].contains(&value) {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter 'dangling={value}'"
                )));
            }
            if key == "reference" && Pattern::new(value).is_err() {
                return Err(Error::InvalidArgument(format!(
                    "invalid filter 'reference={value}'"
                )));
            }
            parsed.push((key, value.to_string()));
        }
        let mut filter = Self { terms: parsed };
        if let Some(reference) = reference {
            // Docker's positional argument is an exact repository (and tag) match.
            filter
                .terms
                .push(("positional".into(), reference.to_string()));
        }
        Ok(filter)
    }

    /// The images `before=`/`since=` name, resolved by the caller, as (key, created).
    pub fn bounds(&self) -> impl Iterator<Item = (&str, &str)> {
        self.terms
            .iter()
            .filter(|(k, _)| k == "before" || k == "since")
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether `candidate` passes; `bound_created(reference)` gives the creation time of
    /// an image a `before`/`since` term names.
    pub fn matches(
        &self,
        candidate: &Candidate<'_>,
        bound_created: &dyn Fn(&str) -> Option<String>,
    ) -> bool {
        let keys = KEYS.iter().copied().chain(["positional"]);
        keys.clone().all(|key| {
            let mut values = self.terms.iter().filter(|(k, _)| k == key).peekable();
            if values.peek().is_none() {
                return true;
            }
            values.any(|(_, value)| term_matches(candidate, key, value, bound_created))
        })
    }
}

fn term_matches(
    candidate: &Candidate<'_>,
    key: &str,
    value: &str,
    bound_created: &dyn Fn(&str) -> Option<String>,
) -> bool {
    let row = candidate.row;
    let dangling = row.repository == "<none>";
    match key {
        "dangling" => dangling == matches!(value, "true" | "1"),
        "reference" => !dangling && reference_matches(&row.repository, &row.tag, value),
        "positional" => {
            let (repository, tag) = split_reference(value);
            row.repository == repository && tag.is_none_or(|tag| row.tag == tag)
        }
        "label" => {
            let labels = candidate
                .image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.labels().clone())
                .unwrap_or_default();
            match value.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
                None => labels.contains_key(value),
            }
        }
        "before" | "since" => {
            let (Some(bound), Some(created)) = (bound_created(value), row.created.as_deref())
            else {
                return false;
            };
            // RFC 3339 times in UTC with the same precision compare as strings; parse to be
            // safe about differing fractions.
            let (Ok(bound), Ok(created)) = (
                humantime::parse_rfc3339_weak(&bound),
                humantime::parse_rfc3339_weak(created),
            ) else {
                return false;
            };
            if key == "before" {
                created < bound
            } else {
                created > bound
            }
        }
        _ => false,
    }
}

/// `name:tag` of a reference (a `:` after the last `/` starts the tag).
fn split_reference(reference: &str) -> (&str, Option<&str>) {
    match reference.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, Some(tag)),
        _ => (reference, None),
    }
}

/// Docker's reference filter: the glob against the familiar name, or name and tag.
fn reference_matches(repository: &str, tag: &str, pattern: &str) -> bool {
    let Ok(pattern) = Pattern::new(pattern) else {
        return false;
    };
    let options = MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    pattern.matches_with(repository, options)
        || pattern.matches_with(&format!("{repository}:{tag}"), options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_globs_match_name_or_name_and_tag_without_crossing_slashes() {
        assert!(reference_matches("ref1", "x", "ref1"));
        assert!(reference_matches("ref1", "x", "ref1:x"));
        assert!(!reference_matches("ref1", "x", "ref1:y"));
        assert!(reference_matches("busybox", "latest", "busy*"));
        assert!(reference_matches("busybox", "latest", "*:latest"));
        assert!(!reference_matches("library/busybox", "latest", "busy*"));
        assert!(reference_matches("library/busybox", "latest", "*/busy*"));
    }

    #[test]
    fn bad_filters_are_dockers_errors() {
        for (term, message) in [
            ("nope=1", "invalid filter 'nope'"),
            ("dangling=maybe", "invalid filter 'dangling=maybe'"),
            (
                "reference",
                "bad format of filter (expected name=value): reference",
            ),
        ] {
            let err = ImageFilter::parse(&[term.to_string()], None).unwrap_err();
            assert_eq!(err.to_string(), message);
        }
    }

    #[test]
    fn positional_references_split_at_the_tag_not_a_registry_port() {
        assert_eq!(split_reference("busybox"), ("busybox", None));
        assert_eq!(split_reference("busybox:1"), ("busybox", Some("1")));
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", None)
        );
    }
}
