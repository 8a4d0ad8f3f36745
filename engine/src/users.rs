//! `-u USER[:GROUP]` resolved against the image's /etc/passwd and /etc/group, as Docker
//! does before it starts the process. Numeric ids always work, even without those files.
//! The rules are hull-init's (`hull_guest_common::users`, which `hull exec -u` uses inside the
//! container): one implementation, the image's wording in errors.

use anyhow::Result;

/// A user and groups to run the container's process as, and its home (for $HOME).
pub use hull_guest_common::users::Identity as ResolvedUser;

/// Resolves `user` (`name`, `uid`, `name:group`, `uid:gid`, ...; None or empty = root)
/// with the image's /etc/passwd and /etc/group contents (None when the image has none).
pub fn resolve(
    user: Option<&str>,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser> {
    hull_guest_common::users::resolve(
        user.unwrap_or(""),
        passwd.unwrap_or(""),
        group.unwrap_or(""),
    )
    .map_err(|e| {
        anyhow::anyhow!(
            "{e}: no matching entries in the image's passwd or group file (a numeric -u UID always works)"
        )
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
