//! `hull exec -u USER[:GROUP]`, resolved inside the running container with its own
//! /etc/passwd and /etc/group, as Docker resolves an exec's user (the container may have
//! added users since it started). Numeric ids work without those files.

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
    /// Home directory from /etc/passwd, "/" for a uid it does not list.
    pub home: String,
}

/// A name `-u` asked for that the account files do not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownAccount {
    /// No /etc/passwd entry with that name.
    #[error("unable to find user {0}")]
    User(String),
    /// No /etc/group entry with that name.
    #[error("unable to find group {0}")]
    Group(String),
}

/// (name, uid, gid, home) of each well-formed /etc/passwd line.
fn passwd_entries(text: &str) -> impl Iterator<Item = (&str, u32, u32, &str)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() < 7 {
            return None;
        }
        Some((
            fields[0],
            fields[2].parse().ok()?,
            fields[3].parse().ok()?,
            fields[5],
        ))
    })
}

/// The name /etc/passwd (its text) gives `uid`, if any.
pub fn user_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd_entries(passwd)
        .find(|(_, u, _, _)| *u == uid)
        .map(|(name, _, _, _)| name)
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

/// Resolves `spec` (`name`, `uid`, `name:group`, `uid:gid`, ...; empty = root) with the
/// contents of /etc/passwd and /etc/group (empty when there are none). Docker's rules: a
/// numeric uid without a passwd entry gets gid 0; a user without an explicit group also gets
/// the groups that list it as a member. The one implementation for both sides: hull
/// resolves `run -u` with the image's files, hull-init `exec -u` with the container's.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity, UnknownAccount> {
    let spec = spec.trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g).filter(|g| !g.is_empty())),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let (uid, mut gid, home, name) = match user_part.parse::<u32>() {
        Ok(uid) => match passwd_entries(passwd).find(|(_, u, _, _)| *u == uid) {
            Some((name, _, gid, home)) => (uid, gid, home, Some(name)),
            None => (uid, 0, "/", None),
        },
        Err(_) => match passwd_entries(passwd).find(|(n, _, _, _)| *n == user_part) {
            Some((name, uid, gid, home)) => (uid, gid, home, Some(name)),
            None => return Err(UnknownAccount::User(user_part.to_string())),
        },
    };
    if let Some(group_part) = group_part {
        gid = match group_part.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match group_entries(group).find(|(n, _, _)| *n == group_part) {
                Some((_, gid, _)) => gid,
                None => return Err(UnknownAccount::Group(group_part.to_string())),
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
        home: home.to_string(),
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
    fn unknown_names_are_named_in_the_error() {
        let err = resolve("nobody2", PASSWD, GROUP).unwrap_err();
        assert_eq!(err, UnknownAccount::User("nobody2".into()));
        assert_eq!(err.to_string(), "unable to find user nobody2");
        assert_eq!(
            resolve("www:nogroup", PASSWD, GROUP).unwrap_err(),
            UnknownAccount::Group("nogroup".into())
        );
    }

    #[test]
    fn home_comes_from_passwd() {
        assert_eq!(resolve("www", PASSWD, GROUP).unwrap().home, "/var/www");
        assert_eq!(resolve("", PASSWD, GROUP).unwrap().home, "/root");
        assert_eq!(resolve("4242", PASSWD, GROUP).unwrap().home, "/");
    }
}
