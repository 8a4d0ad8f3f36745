//! The instructions that only change the image config (ENV, LABEL, EXPOSE, VOLUME, USER,
//! WORKDIR, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER), applied
//! to a stage's config with their arguments already expanded: pure functions, so each rule
//! is tested here without a VM.

use super::dockerfile::CommandForm;
use oci_spec::image::Config;
use serde_json::{json, Map, Value};

/// Docker's default SHELL.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

/// A command's argv: exec form as is, shell form through `shell`.
pub fn argv(command: &CommandForm, shell: &[String]) -> Vec<String> {
    match command {
        CommandForm::Exec(args) => args.clone(),
        CommandForm::Shell(text) => shell.iter().cloned().chain([text.clone()]).collect(),
    }
}

/// `KEY=VALUE` words (ENV, LABEL), or ENV's legacy `KEY VALUE...` form (`legacy`: the raw
/// words after the key, expanded and joined).
pub fn pairs(words: &[String], what: &str) -> Result<Vec<(String, String)>, String> {
    words
        .iter()
        .map(|word| match word.split_once('=') {
            Some(("", _)) => Err(format!("{what} names must not be empty")),
            Some((key, value)) => Ok((key.to_string(), value.to_string())),
            None => Err(format!("{what} {word:?} must be KEY=VALUE")),
        })
        .collect()
}

/// ENV: each pair replaces or adds its variable.
pub fn set_env(config: &mut Config, pairs: &[(String, String)]) {
    let mut env = config.env().clone().unwrap_or_default();
    for (key, value) in pairs {
        env.retain(|entry| entry.split_once('=').map_or(entry.as_str(), |(k, _)| k) != key);
        env.push(format!("{key}={value}"));
    }
    config.set_env(Some(env));
}

/// The value of `name` in the config's environment.
pub fn env_value(config: &Config, name: &str) -> Option<String> {
    config.env().as_ref()?.iter().rev().find_map(|entry| {
        let (key, value) = entry.split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}

/// LABEL.
pub fn add_labels(config: &mut Config, pairs: &[(String, String)]) {
    let mut labels = config.labels().clone().unwrap_or_default();
    labels.extend(pairs.iter().cloned());
    config.set_labels(Some(labels));
}

/// EXPOSE: `80` is `80/tcp`.
pub fn expose(config: &mut Config, ports: &[String]) -> Result<(), String> {
    let mut exposed = config.exposed_ports().clone().unwrap_or_default();
    for port in ports {
        let (number, proto) = port.split_once('/').unwrap_or((port, "tcp"));
        let valid_number = number
            .split('-')
            .all(|n| n.parse::<u16>().is_ok_and(|n| n > 0));
        if !valid_number || !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("EXPOSE: invalid port {port:?}"));
        }
        let key = format!("{number}/{}", proto.to_ascii_lowercase());
        if !exposed.contains(&key) {
            exposed.push(key);
        }
    }
    exposed.sort();
    config.set_exposed_ports(Some(exposed));
    Ok(())
}

/// VOLUME.
pub fn add_volumes(config: &mut Config, paths: &[String]) -> Result<(), String> {
    let mut volumes = config.volumes().clone().unwrap_or_default();
    for path in paths {
        if path.is_empty() {
            return Err("VOLUME specified can not be an empty string".into());
        }
        if !volumes.contains(path) {
            volumes.push(path.clone());
        }
    }
    volumes.sort();
    config.set_volumes(Some(volumes));
    Ok(())
}

/// WORKDIR: a relative path is relative to the current one.
pub fn workdir(config: &Config, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        let current = config.working_dir().clone().unwrap_or_default();
        format!("{}/{dir}", current.trim_end_matches('/'))
    };
    let cleaned = super::ignore::clean(&joined);
    format!("/{cleaned}")
}

/// HEALTHCHECK as Docker's config stores it (durations in nanoseconds); `Null` for NONE.
pub fn healthcheck(
    options: &[(String, String)],
    command: Option<&CommandForm>,
) -> Result<Value, String> {
    let Some(command) = command else {
        return Ok(json!({ "Test": ["NONE"] }));
    };
    let test = match command {
        CommandForm::Exec(args) => std::iter::once("CMD".to_string())
            .chain(args.iter().cloned())
            .collect::<Vec<_>>(),
        CommandForm::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
    };
    let mut check = Map::new();
    check.insert("Test".into(), json!(test));
    for (name, value) in options {
        let key = match name.as_str() {
            "interval" => "Interval",
            "timeout" => "Timeout",
            "start-period" => "StartPeriod",
            "start-interval" => "StartInterval",
            "retries" => {
                let retries: u32 = value
                    .parse()
                    .map_err(|_| format!("HEALTHCHECK --retries {value:?} is not a number"))?;
                check.insert("Retries".into(), json!(retries));
                continue;
            }
            other => return Err(format!("HEALTHCHECK does not take --{other}")),
        };
        let duration = humantime::parse_duration(value)
            .map_err(|e| format!("HEALTHCHECK --{name} {value:?}: {e}"))?;
        check.insert(key.into(), json!(duration.as_nanos()));
    }
    Ok(Value::Object(check))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_replaces_a_variable_in_place_of_adding_it_twice() {
        let mut config = Config::default();
        set_env(
            &mut config,
            &[("A".into(), "1".into()), ("B".into(), "x y".into())],
        );
        set_env(&mut config, &[("A".into(), "2".into())]);
        assert_eq!(config.env().clone().unwrap(), ["B=x y", "A=2"]);
        assert_eq!(env_value(&config, "A").as_deref(), Some("2"));
    }

    #[test]
    fn expose_defaults_to_tcp_and_rejects_bad_ports() {
        let mut config = Config::default();
        expose(&mut config, &["80".into(), "53/UDP".into()]).unwrap();
        assert_eq!(
            config.exposed_ports().clone().unwrap(),
            ["53/udp", "80/tcp"]
        );
        assert!(expose(&mut config, &["http".into()]).is_err());
    }

    #[test]
    fn workdir_is_relative_to_the_current_one() {
        let mut config = Config::default();
        assert_eq!(workdir(&config, "app"), "/app");
        config.set_working_dir(Some("/srv".into()));
        assert_eq!(workdir(&config, "app/../web/"), "/srv/web");
        assert_eq!(workdir(&config, "/opt"), "/opt");
    }

    #[test]
    fn commands_run_through_the_shell_in_shell_form() {
        let shell = default_shell();
        assert_eq!(
            argv(&CommandForm::Shell("echo hi".into()), &shell),
            ["/bin/sh", "-c", "echo hi"]
        );
        assert_eq!(argv(&CommandForm::Exec(vec!["ls".into()]), &shell), ["ls"]);
    }

    #[test]
    fn healthcheck_is_stored_as_docker_does() {
        let options = [
            ("interval".to_string(), "5s".to_string()),
            ("retries".into(), "3".into()),
        ];
        let check = healthcheck(&options, Some(&CommandForm::Shell("true".into()))).unwrap();
        assert_eq!(check["Test"], json!(["CMD-SHELL", "true"]));
        assert_eq!(check["Interval"], json!(5_000_000_000u64));
        assert_eq!(check["Retries"], json!(3));
        assert_eq!(healthcheck(&[], None).unwrap()["Test"], json!(["NONE"]));
    }
}
