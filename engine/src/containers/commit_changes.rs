//! `commit -c INSTRUCTION`: the Dockerfile instructions Docker's commit accepts (CMD,
//! ENTRYPOINT, ENV, EXPOSE, LABEL, USER, VOLUME, WORKDIR), parsed before any work starts,
//! and the new image's config: the container's own settings, then those instructions.

use crate::container::Container;
use crate::error::{Error, Result};
use oci_spec::image::{Config, ImageConfiguration};

/// One parsed `-c` instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// `CMD`.
    Cmd(Vec<String>),
    /// `ENTRYPOINT`.
    Entrypoint(Vec<String>),
    /// `ENV KEY=VALUE ...` or `ENV KEY VALUE`.
    Env(Vec<(String, String)>),
    /// `EXPOSE PORT[/PROTO] ...`.
    Expose(Vec<String>),
    /// `LABEL KEY=VALUE ...`.
    Label(Vec<(String, String)>),
    /// `USER`.
    User(String),
    /// `VOLUME PATH ...` or a JSON list.
    Volume(Vec<String>),
    /// `WORKDIR`.
    Workdir(String),
}

/// A JSON list (`["a","b"]`) as is; anything else as a shell command.
fn command_form(text: &str) -> Vec<String> {
    serde_json::from_str::<Vec<String>>(text)
        .unwrap_or_else(|_| vec!["/bin/sh".into(), "-c".into(), text.to_string()])
}

/// `K=V K2="v 2"` pairs (quotes removed), or Docker's legacy `K V` form.
fn pairs(text: &str, legacy_space_form: bool) -> Result<Vec<(String, String)>> {
    if legacy_space_form && !text.split_whitespace().next().unwrap_or("").contains('=') {
        let (key, value) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        return Ok(vec![(key.to_string(), value.trim().to_string())]);
    }
    text.split_whitespace()
        .map(|word| {
            let (key, value) = word
                .split_once('=')
                .ok_or_else(|| Error::InvalidArgument(format!("{word:?} must be KEY=VALUE")))?;
            Ok((key.to_string(), value.trim_matches('"').to_string()))
        })
        .collect()
}

/// Parses one `-c` value.
pub fn parse(instruction: &str) -> Result<ConfigChange> {
    let trimmed = instruction.trim();
    let (word, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let rest = rest.trim();
    let needs = |what: &str| {
        Error::InvalidArgument(format!(
            "{} requires at least one argument",
            what.to_uppercase()
        ))
    };
    if rest.is_empty() {
        return Err(needs(word));
    }
    Ok(match word.to_ascii_uppercase().as_str() {
        "CMD" => ConfigChange::Cmd(command_form(rest)),
        "ENTRYPOINT" => ConfigChange::Entrypoint(command_form(rest)),
        "ENV" => ConfigChange::Env(pairs(rest, true)?),
        "LABEL" => ConfigChange::Label(pairs(rest, false)?),
        "EXPOSE" => ConfigChange::Expose(
            rest.split_whitespace()
                .map(|port| {
                    if port.contains('/') {
                        port.to_string()
                    } else {
                        format!("{port}/tcp")
                    }
                })
                .collect(),
        ),
        "USER" => ConfigChange::User(rest.to_string()),
        "WORKDIR" => ConfigChange::Workdir(rest.to_string()),
        "VOLUME" => ConfigChange::Volume(
            serde_json::from_str::<Vec<String>>(rest)
                .unwrap_or_else(|_| rest.split_whitespace().map(str::to_string).collect()),
        ),
        _ => {
            return Err(Error::InvalidArgument(format!(
                "{word} is not a valid change command"
            )))
        }
    })
}

/// `image`'s config as `container` runs it (Docker commits the container's settings),
/// then `changes`.
pub fn apply(image: &mut ImageConfiguration, container: &Container, changes: &[ConfigChange]) {
    let mut config: Config = image.config().clone().unwrap_or_default();
    let process = &container.process;
    config.set_cmd(process.cmd.clone());
    config.set_entrypoint(process.entrypoint.clone());
    config.set_env((!process.env.is_empty()).then(|| process.env.clone()));
    config.set_working_dir((!process.working_dir.is_empty()).then(|| process.working_dir.clone()));
    config.set_user((!process.user.is_empty()).then(|| process.user.clone()));
    let mut labels = config.labels().clone().unwrap_or_default();
    labels.extend(container.config.labels.clone());
    let mut exposed = config.exposed_ports().clone().unwrap_or_default();
    exposed.extend(container.config.exposed_ports.iter().cloned());
    let mut volumes = config.volumes().clone().unwrap_or_default();
    let mut env = config.env().clone().unwrap_or_default();
    for change in changes {
        match change {
            ConfigChange::Cmd(cmd) => {
                config.set_cmd(Some(cmd.clone()));
            }
            ConfigChange::Entrypoint(entrypoint) => {
                config.set_entrypoint(Some(entrypoint.clone()));
            }
            ConfigChange::Env(pairs) => {
                for (key, value) in pairs {
                    env.retain(|entry| {
                        entry.split_once('=').map_or(entry.as_str(), |(k, _)| k) != key
                    });
                    env.push(format!("{key}={value}"));
                }
            }
            ConfigChange::Expose(ports) => exposed.extend(ports.iter().cloned()),
            ConfigChange::Label(pairs) => labels.extend(pairs.iter().cloned()),
            ConfigChange::User(user) => {
                config.set_user(Some(user.clone()));
            }
            ConfigChange::Volume(paths) => volumes.extend(paths.iter().cloned()),
            ConfigChange::Workdir(dir) => {
                config.set_working_dir(Some(dir.clone()));
            }
        }
    }
    exposed.sort();
    exposed.dedup();
    volumes.sort();
    volumes.dedup();
    config.set_env((!env.is_empty()).then_some(env));
    config.set_labels((!labels.is_empty()).then_some(labels));
    config.set_exposed_ports((!exposed.is_empty()).then_some(exposed));
    config.set_volumes((!volumes.is_empty()).then_some(volumes));
    image.set_config(Some(config));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instructions_parse_as_dockers_commit_reads_them() {
        assert_eq!(
            parse(r#"CMD ["cat", "/greeting"]"#).unwrap(),
            ConfigChange::Cmd(vec!["cat".into(), "/greeting".into()])
        );
        assert_eq!(
            parse("cmd echo hi").unwrap(),
            ConfigChange::Cmd(vec!["/bin/sh".into(), "-c".into(), "echo hi".into()])
        );
        assert_eq!(
            parse("ENV A=1 B=\"two\"").unwrap(),
            ConfigChange::Env(vec![("A".into(), "1".into()), ("B".into(), "two".into())])
        );
        assert_eq!(
            parse("ENV GREETING hello world").unwrap(),
            ConfigChange::Env(vec![("GREETING".into(), "hello world".into())])
        );
        assert_eq!(
            parse("EXPOSE 80 53/udp").unwrap(),
            ConfigChange::Expose(vec!["80/tcp".into(), "53/udp".into()])
        );
        assert!(parse("RUN rm -rf /")
            .unwrap_err()
            .to_string()
            .contains("not a valid change"));
        assert!(parse("CMD").is_err());
    }
}
