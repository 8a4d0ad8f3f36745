//! How `hull build`'s flags become the engine's `BuildRequest`: the context (a directory,
//! or a tar or a lone Dockerfile on stdin), the Dockerfile, build args, labels and the
//! network of the RUN steps.

use super::BuildArgs;
use crate::args::Globals;
use crate::exit::daemon_error;
use anyhow::{bail, Context, Result};
use hull_engine::build::{BuildRequest, DockerfileSource};
use hull_engine::container::network::NetworkConfig;
use hull_engine::containers::CreateRequest;
use std::io::Read;
use std::path::{Path, PathBuf};

impl BuildArgs {
    /// The engine's request; a context read from stdin is unpacked into `staging`.
    pub(super) fn request(&self, globals: &Globals, staging: &Path) -> Result<BuildRequest> {
        let (context, stdin_dockerfile) = self.context(staging)?;
        let dockerfile = match (self.file.as_deref(), stdin_dockerfile) {
            (Some("-"), _) => {
                if self.context == "-" {
                    bail!("cannot read both the Dockerfile and the context from stdin");
                }
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the Dockerfile from stdin")?;
                Some(DockerfileSource::Text(text))
            }
            (Some(path), _) => {
                // Docker: a relative -f is relative to the current directory.
                Some(DockerfileSource::Path(PathBuf::from(path)))
            }
            (None, Some(text)) => Some(DockerfileSource::Text(text)),
            (None, None) => None,
        };
        let network = match self.network.as_str() {
            "default" | "bridge" => "bridge",
            "none" => "none",
            other => bail!("--network {other:?}: hull build supports default, bridge and none"),
        };
        Ok(BuildRequest {
            context,
            dockerfile,
            tags: self.tag.clone(),
            build_args: self
                .build_arg
                .iter()
                .filter_map(|arg| match arg.split_once('=') {
                    Some((k, v)) => Some((k.to_string(), v.to_string())),
                    None => std::env::var(arg).ok().map(|v| (arg.clone(), v)),
                })
                .collect(),
            target: self.target.clone(),
            no_cache: self.no_cache,
            labels: self.label.iter().map(|l| crate::args::label(l)).collect(),
            container: CreateRequest {
                engine: globals.vmm,
                pull: self.pull.parse()?,
                config: hull_engine::container::ContainerConfig {
                    network: NetworkConfig {
                        mode: network.into(),
                        ..Default::default()
                    },
                    ..Default::default()
                },
                ..Default::default()
            },
        })
    }

    /// The context directory and, when stdin held a Dockerfile rather than a tar, its text.
    fn context(&self, staging: &Path) -> Result<(PathBuf, Option<String>)> {
        if self.context != "-" {
            return Ok((PathBuf::from(&self.context), None));
        }
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        if hull_engine::build::is_tar(&input) {
            hull_engine::build::unpack_context(&input[..], staging).map_err(daemon_error)?;
            Ok((staging.to_path_buf(), None))
        } else {
            let text = String::from_utf8(input).context("the Dockerfile on stdin is not UTF-8")?;
            Ok((staging.to_path_buf(), Some(text)))
        }
    }
}
