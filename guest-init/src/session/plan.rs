//! What a `hull exec` process runs as: the container process's settings (environment,
//! working directory, user, umask, rlimits) with the request's overrides, validated before
//! anything is forked. The host is not trusted more than the spec is: every field is checked.

use crate::error::SetupError;
use crate::spec::ProcessPlan;
use hull_protocol::ExecRequest;
use std::path::PathBuf;

/// Longest `-u` value accepted.
const MAX_USER_SPEC: usize = 256;

/// A validated exec request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecPlan {
    /// The process: args, merged env, cwd, the container's user (replaced by `user` once
    /// resolved), umask, rlimits, terminal and its size.
    pub process: ProcessPlan,
    /// `-u`, to resolve with the container's /etc/passwd and /etc/group.
    pub user: Option<String>,
    /// Relay the host's stdin; otherwise the process reads EOF at once.
    pub stdin: bool,
}

/// `KEY` of a `KEY=value` entry.
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// The container's environment with `extra` added; an `extra` entry replaces the
/// container's entry with the same key (Docker's merge), order otherwise kept.
fn merge_env(container: &[String], extra: &[String]) -> Vec<String> {
    let mut env: Vec<String> = container
        .iter()
        .filter(|entry| !extra.iter().any(|e| env_key(e) == env_key(entry)))
        .cloned()
        .collect();
    for entry in extra {
        // A later -e for the same key wins.
        env.retain(|e| env_key(e) != env_key(entry));
        env.push(entry.clone());
    }
    env
}

impl ExecPlan {
    /// Checks `request` and applies it to the container process's settings.
    pub fn new(container: &ProcessPlan, request: &ExecRequest) -> Result<Self, SetupError> {
        let args = request.args.clone();
        if args.first().is_none_or(String::is_empty) {
            return Err(SetupError::Spec("exec needs a command".into()));
        }
        if args.iter().any(|a| a.contains('\0')) {
            return Err(SetupError::Spec("exec arguments contain a NUL byte".into()));
        }
        if let Some(bad) = request
            .env
            .iter()
            .find(|kv| !kv.contains('=') || kv.starts_with('=') || kv.contains('\0'))
        {
            return Err(SetupError::Spec(format!(
                "exec environment entry {bad:?} is not KEY=value"
            )));
        }
        let cwd = match &request.cwd {
            None => container.cwd.clone(),
            Some(dir) if dir.starts_with('/') && !dir.contains('\0') => PathBuf::from(dir),
            Some(dir) => {
                return Err(SetupError::Spec(format!(
                    "the working directory {dir:?} is invalid, it needs to be an absolute path"
                )))
            }
        };
        let user = request.user.clone().filter(|u| !u.is_empty());
        if let Some(user) = &user {
            if user.len() > MAX_USER_SPEC || user.contains('\0') || user.contains('\n') {
                return Err(SetupError::Spec(format!("invalid exec user {user:?}")));
            }
        }
        let mut extra = request.env.clone();
        if request.tty
            && !extra.iter().any(|e| env_key(e) == "TERM")
            && !container.env.iter().any(|e| env_key(e) == "TERM")
        {
            // Docker's default for a terminal session.
            extra.insert(0, "TERM=xterm".into());
        }
        let console_size = request
            .console_size
            .filter(|_| request.tty)
            .filter(|(rows, cols)| *rows > 0 && *cols > 0);
        Ok(Self {
            process: ProcessPlan {
                args,
                env: merge_env(&container.env, &extra),
                cwd,
                terminal: request.tty,
                console_size,
                stdin_closed: !request.stdin,
                ..container.clone()
            },
            user,
            stdin: request.stdin,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn container() -> ProcessPlan {
        ProcessPlan {
            args: vec!["sh".into()],
            env: vec!["PATH=/bin".into(), "HOME=/root".into(), "A=1".into()],
            cwd: "/srv".into(),
            uid: 5,
            gid: 6,
            additional_gids: vec![7],
            umask: Some(0o027),
            terminal: false,
            console_size: None,
            rlimits: Vec::new(),
            stdin_closed: true,
            bounding_capabilities: None,
        }
    }

    fn request(args: &[&str]) -> ExecRequest {
        ExecRequest {
            args: args.iter().map(|a| (*a).to_string()).collect(),
            ..ExecRequest::default()
        }
    }

    #[test]
    fn defaults_come_from_the_container_process() {
        let plan = ExecPlan::new(&container(), &request(&["ls", "-l"])).unwrap();
        assert_eq!(plan.process.args, ["ls", "-l"]);
        assert_eq!(plan.process.env, container().env);
        assert_eq!(plan.process.cwd, PathBuf::from("/srv"));
        assert_eq!((plan.process.uid, plan.process.gid), (5, 6));
        assert_eq!(plan.process.umask, Some(0o027));
        assert!(!plan.process.terminal);
        assert!(plan.process.stdin_closed && !plan.stdin);
        assert_eq!(plan.user, None);
    }

    #[test]
    fn overrides_apply_and_env_merges_by_key() {
        let mut req = request(&["env"]);
        req.env = vec!["A=2".into(), "B=3".into(), "B=4".into()];
        req.cwd = Some("/tmp".into());
        req.user = Some("1000".into());
        req.stdin = true;
        let plan = ExecPlan::new(&container(), &req).unwrap();
        assert_eq!(plan.process.env, ["PATH=/bin", "HOME=/root", "A=2", "B=4"]);
        assert_eq!(plan.process.cwd, PathBuf::from("/tmp"));
        assert_eq!(plan.user.as_deref(), Some("1000"));
        assert!(plan.stdin && !plan.process.stdin_closed);
    }

    #[test]
    fn a_terminal_gets_term_and_a_sane_size() {
        let mut req = request(&["sh"]);
        req.tty = true;
        req.console_size = Some((30, 100));
        let plan = ExecPlan::new(&container(), &req).unwrap();
        assert!(plan.process.terminal);
        assert_eq!(plan.process.console_size, Some((30, 100)));
        assert!(plan.process.env.contains(&"TERM=xterm".to_string()));
        req.console_size = Some((0, 80));
        req.env = vec!["TERM=vt100".into()];
        let plan = ExecPlan::new(&container(), &req).unwrap();
        assert_eq!(plan.process.console_size, None);
        assert!(!plan.process.env.contains(&"TERM=xterm".to_string()));
    }

    #[test]
    fn hostile_requests_are_setup_errors() {
        let mut bad = vec![request(&[]), request(&[""]), request(&["a\0b"])];
        let mut env = request(&["ls"]);
        env.env = vec!["NOEQUALS".into()];
        bad.push(env);
        let mut env = request(&["ls"]);
        env.env = vec!["=x".into()];
        bad.push(env);
        let mut cwd = request(&["ls"]);
        cwd.cwd = Some("relative".into());
        bad.push(cwd);
        let mut user = request(&["ls"]);
        user.user = Some("x".repeat(MAX_USER_SPEC + 1));
        bad.push(user);
        for req in bad {
            let err = ExecPlan::new(&container(), &req).unwrap_err();
            assert_eq!(err.exit_code(), 125, "{req:?}: {err}");
        }
    }
}
