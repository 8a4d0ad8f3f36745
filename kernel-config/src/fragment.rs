//! Kconfig fragments: which requested options did not make it into the final `.config`.
//!
//! `make olddefconfig` silently drops an option whose dependencies are unmet (or whose name
//! is a typo), so a fragment line can quietly mean nothing. `build.sh` refuses to publish
//! such a kernel with the same rule as [`missing_options`] (an awk copy, since it runs
//! before any Rust is built); the tests here pin the rule and check the cached build.

use std::collections::HashMap;

/// What a fragment asks for one option.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Wanted {
    /// `CONFIG_X=value` (`y`, a number, a quoted string...).
    Value(String),
    /// `# CONFIG_X is not set`.
    NotSet,
}

/// Parses one `.config`/fragment line into (name, wanted); comments and blanks give `None`.
fn parse_line(line: &str) -> Option<(&str, Wanted)> {
    let line = line.trim_end();
    if let Some(rest) = line.strip_prefix("# ") {
        let name = rest.strip_suffix(" is not set")?;
        return is_option_name(name).then_some((name, Wanted::NotSet));
    }
    let (name, value) = line.split_once('=')?;
    is_option_name(name).then(|| (name, Wanted::Value(value.to_owned())))
}

/// `CONFIG_` followed by at least one of `[A-Za-z0-9_]`.
fn is_option_name(name: &str) -> bool {
    name.strip_prefix("CONFIG_").is_some_and(|rest| {
        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// Every option `fragment` requests that `final_config` does not have, in fragment order,
/// written as the fragment line asked for it (`CONFIG_PVH=y`, `# CONFIG_PCI is not set`).
///
/// When fragments are concatenated (standard + compat), a later line for the same option
/// wins, as in `merge_config.sh`. An option absent from `final_config` counts as not set.
pub fn missing_options(fragment: &str, final_config: &str) -> Vec<String> {
    let have: HashMap<&str, Wanted> = final_config.lines().filter_map(parse_line).collect();

    let mut order: Vec<&str> = Vec::new();
    let mut wanted: HashMap<&str, Wanted> = HashMap::new();
    for (name, want) in fragment.lines().filter_map(parse_line) {
        if wanted.insert(name, want).is_none() {
            order.push(name);
        }
    }

    order
        .into_iter()
        .filter_map(|name| {
            let want = &wanted[name];
            let got = have.get(name).unwrap_or(&Wanted::NotSet);
            (want != got).then(|| match want {
                Wanted::Value(v) => format!("{name}={v}"),
                Wanted::NotSet => format!("# {name} is not set"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FINAL: &str = "\
#
# Automatically generated file; DO NOT EDIT.
#
CONFIG_64BIT=y
CONFIG_HZ=100
CONFIG_CMDLINE=\"\"
# CONFIG_PCI is not set
CONFIG_MODULES=y
";

    #[test]
    fn surviving_options_are_not_reported() {
        let fragment = "# why\nCONFIG_64BIT=y\nCONFIG_HZ=100\n# CONFIG_PCI is not set\n";
        assert!(missing_options(fragment, FINAL).is_empty());
    }

    #[test]
    fn dropped_changed_and_resurrected_options_are_reported_in_order() {
        let fragment = "\
CONFIG_PVH=y
CONFIG_HZ=250
# CONFIG_MODULES is not set
CONFIG_64BIT=y
# CONFIG_ACPI is not set
";
        assert_eq!(
            missing_options(fragment, FINAL),
            [
                "CONFIG_PVH=y",
                "CONFIG_HZ=250",
                "# CONFIG_MODULES is not set"
            ]
        );
    }

    #[test]
    fn requesting_y_for_an_option_that_is_not_set_is_missing() {
        assert_eq!(missing_options("CONFIG_PCI=y", FINAL), ["CONFIG_PCI=y"]);
    }

    #[test]
    fn later_lines_win_like_merge_config() {
        let fragments = "CONFIG_HZ=250\nCONFIG_PCI=y\n# second fragment\nCONFIG_HZ=100\n# CONFIG_PCI is not set\n";
        assert!(missing_options(fragments, FINAL).is_empty());
    }

    #[test]
    fn prose_comments_are_not_requests() {
        let fragment =
            "# `# CONFIG_X is not set` lines are requirements too\n#CONFIG_PVH=y\nCONFIG_=y\n";
        assert!(missing_options(fragment, FINAL).is_empty());
    }

    #[test]
    fn string_values_must_match_exactly() {
        assert!(missing_options("CONFIG_CMDLINE=\"\"", FINAL).is_empty());
        assert_eq!(
            missing_options("CONFIG_CMDLINE=\"quiet\"", FINAL),
            ["CONFIG_CMDLINE=\"quiet\""]
        );
    }
}
