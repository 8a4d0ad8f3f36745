//! `-u USER[:GROUP]` resolved against the image's /etc/passwd and /etc/group, as Docker
//! does before it starts the process. Numeric ids always work, even without those files.

use anyhow::{bail, Result};

/// A user and groups to run the container's process as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// uid.
    pub uid: u32,
    /// Primary gid.
    pub gid: u32,
    /// Supplementary gids from /etc/group.
    pub additional_gids: Vec<u32>,
    /// Home directory (for $HOME).
    pub home: String,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 7 {
                return None;
            }
            Some(PasswdEntry {
                name: fields[0].to_string(),
                uid: fields[2].parse().ok()?,
                gid: fields[3].parse().ok()?,
                home: fields[5].to_string(),
            })
        })
        .collect()
}

/// (name, gid, members) of each /etc/group line.
fn parse_group(text: &str) -> Vec<(String, u32, Vec<String>)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() < 4 {
                return None;
            }
            let members = fields[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .collect();
            Some((fields[0].to_string(), fields[2].parse().ok()?, members))
        })
        .collect()
}

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, ...; None or empty = root)
/// with the image's /etc/passwd and /etc/group contents (None when the image has none).
pub fn resolve(
    user: Option<&str>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser> {
    let spec = user.unwrap_or("").trim();
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let users = parse_passwd(passwd.unwrap_or(""));
    let groups = parse_group(group.unwrap_or(""));
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let (uid, mut gid, home, name) = match user_part.parse::<u32>() {
        Ok(uid) => match users.iter().find(|e| e.uid == uid) {
            Some(e) => (uid, e.gid, e.home.clone(), Some(e.name.clone())),
            None => (uid, 0, "/".to_string(), None),
        },
        Err(_) => match users.iter().find(|e| e.name == user_part) {
            Some(e) => (e.uid, e.gid, e.home.clone(), Some(e.name.clone())),
            None => bail!(
                "unable to find user {user_part}: no matching entries in the image's passwd file (a numeric -u UID always works)"
            ),
        },
    };
    if let Some(group_part) = group_part.filter(|g| !g.is_empty()) {
        gid = match group_part.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => match groups.iter().find(|(n, _, _)| n == group_part) {
                Some((_, gid, _)) => *gid,
                None => bail!(
                    "unable to find group {group_part}: no matching entries in the image's group file"
                ),
            },
        };
    }
    let additional_gids = match (&name, group_part) {
        (Some(name), None) => groups
            .iter()
            .filter(|(_, g, members)| *g != gid && members.contains(name))
            .map(|(_, g, _)| *g)
            .collect(),
        _ => Vec::new(),
    };
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str =
        "root:x:0:0:root:/root:/bin/sh\nwww:x:33:33:www:/var/www:/bin/false\nbroken\n";
    const GROUP: &str = "root:x:0:\nwww:x:33:\nstaff:x:50:www\n";

    #[test]
    fn names_and_ids_resolve() {
        let root = resolve(None, Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((root.uid, root.gid, root.home.as_str()), (0, 0, "/root"));
        let www = resolve(Some("www"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((www.uid, www.gid), (33, 33));
        assert_eq!(www.additional_gids, vec![50]);
        let staff = resolve(Some("www:staff"), Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!(staff.gid, 50);
        assert!(staff.additional_gids.is_empty());
    }

    #[test]
    fn numeric_ids_work_without_passwd() {
        let user = resolve(Some("1000:1000"), None, None).unwrap();
        assert_eq!((user.uid, user.gid, user.home.as_str()), (1000, 1000, "/"));
        let plain = resolve(Some("1000"), None, None).unwrap();
        assert_eq!(plain.gid, 0);
    }

    #[test]
    fn unknown_names_are_clear_errors() {
        let err = resolve(Some("nobody2"), Some(PASSWD), None).unwrap_err();
        assert!(err.to_string().contains("unable to find user nobody2"));
        assert!(resolve(Some("www:nogroup"), Some(PASSWD), Some(GROUP)).is_err());
    }
}
