//! `hull exec -u USER[:GROUP]`, resolved inside the running container with its own
//! /etc/passwd and /etc/group, as Docker resolves an exec's user (the container may have
//! added users since it started). Numeric ids work without those files.

use crate::error::SetupError;
use std::io::Read;
use std::path::Path;

/// Longest /etc/passwd or /etc/group read: the container's files are untrusted.
const MAX_ACCOUNT_FILE: u64 = 1 << 20;

/// The ids a process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids.
    pub additional_gids: Vec<u32>,
}

/// (name, uid, gid) of each well-formed /etc/passwd line.
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 {
            return None;
        }
        Some((fields[0], fields[2].parse().ok()?, fields[3].parse().ok()?))
    })
}

/// (name, gid, members) of each well-formed /etc/group line.
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, Vec<&str>)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 4 {
            return None;
        }
        let members = fields[3].split(',').filter(|m| !m.is_empty()).collect();
        Some((fields[0], fields[2].parse().ok()?, members))
    })
}

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`, ...) with the contents of
/// /etc/passwd and /etc/group (empty when the container has none). Docker's rules: a numeric
/// uid without a passwd entry gets gid 0; a user without an explicit group also gets the
/// groups that list it as a member.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, SetupError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let (uid, mut gid, name) = match user_part.parse::<u32>() {
        Ok(uid) => match passwd_entries(passwd).find(|(_, u, _)| *u == uid) {
            Some((name, _, gid)) => (uid, gid, Some(name)),
            None => (uid, 0, None),
        },
        Err(_) => match passwd_entries(passwd).find(|(n, _, _)| *n == user_part) {
            Some((name, uid, gid)) => (uid, gid, Some(name)),
            None => {
                return Err(SetupError::Spec(format!(
                    "unable to find user {user_part}: no matching entries in the container's /etc/passwd (a numeric uid always works)"
                )))
            }
        },
    };
    if let Some(group_part) = group_part {
        gid = match group_part.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match group_entries(group).find(|(n, _, _)| *n == group_part) {
                Some((_, gid, _)) => gid,
                None => {
                    return Err(SetupError::Spec(format!(
                        "unable to find group {group_part}: no matching entries in the container's /etc/group"
                    )))
                }
            },
        };
    }
    let additional_gids = match (name, group_part) {
        (Some(name), None) => group_entries(group)
            .filter(|(_, g, members)| *g != gid && members.contains(&name))
            .map(|(_, g, _)| g)
            .collect(),
        _ => Vec::new(),
    };
    Ok(Identity {
        uid,
        gid,
        additional_gids,
    })
}

/// Reads an account file of the current root, at most [`MAX_ACCOUNT_FILE`] bytes; a missing
/// or unreadable file reads as empty (numeric ids still resolve).
pub fn read_account_file(path: &Path) -> String {
    let mut text = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(MAX_ACCOUNT_FILE).read_to_end(&mut text);
    }
    String::from_utf8_lossy(&text).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbroken\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www\n";

    #[test]
    fn names_and_ids_resolve_like_docker() {
        let www = resolve("www", PASSWD, GROUP).unwrap();
        assert_eq!((www.uid, www.gid), (33, 33));
        assert_eq!(www.additional_gids, [50]);
        let by_id = resolve("33", PASSWD, GROUP).unwrap();
        assert_eq!(by_id, www);
        let staff = resolve("www:staff", PASSWD, GROUP).unwrap();
        assert_eq!((staff.gid, staff.additional_gids.len()), (50, 0));
        assert_eq!(resolve("", PASSWD, GROUP).unwrap().uid, 0);
    }

    #[test]
    fn numeric_ids_need_no_files() {
        let plain = resolve("1000", "", "").unwrap();
        assert_eq!((plain.uid, plain.gid), (1000, 0));
        let both = resolve("1000:1001", "", "").unwrap();
        assert_eq!((both.uid, both.gid), (1000, 1001));
    }

    #[test]
    fn unknown_names_are_setup_errors() {
        let err = resolve("nobody2", PASSWD, GROUP).unwrap_err();
        assert_eq!(err.exit_code(), 125);
        assert!(
            err.to_string().contains("unable to find user nobody2"),
            "{err}"
        );
        assert!(resolve("www:nogroup", PASSWD, GROUP).is_err());
    }
}
