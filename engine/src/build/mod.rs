//! `hull build`: a Dockerfile and a context directory in, an ordinary OCI image out.
//!
//! - [`dockerfile`] parses the file (the `parse-dockerfile` crate) into stages of steps;
//!   [`words`] substitutes variables as Docker does when a step runs.
//! - Only the stages the target needs are built ([`plan`]), each by a [`stage::StageBuilder`]:
//!   config-only steps make an image without a VM ([`config_steps`]); RUN, COPY and ADD run
//!   in a build container ([`vm`]: a VM whose process hull-init holds), whose changes
//!   become the step's layer exactly as `hull commit` makes one.
//! - [`context`] reads the context under its `.dockerignore` ([`ignore`]) and digests COPY
//!   sources; [`import_tar`] writes what a COPY sends into the VM.
//! - [`cache`] maps a step's key to the image it made: an unchanged step is `CACHED` and
//!   boots nothing.

mod cache;
mod config_steps;
mod context;
mod copy_step;
mod dockerfile;
mod ignore;
mod import_tar;
mod plan;
mod stage;
mod vm;
mod words;

pub use context::{is_tar, unpack_context};
pub use vm::BUILD_LABEL;

use crate::containers::{Containers, CreateRequest};
use crate::error::{Error, Result};
use crate::images::ImageProgress;
use hull_rootfs::Image;
use std::path::PathBuf;
use std::time::Duration;

/// Where the Dockerfile comes from.
#[derive(Debug, Clone)]
pub enum DockerfileSource {
    /// `-f PATH` (or `CONTEXT/Dockerfile`).
    Path(PathBuf),
    /// `-f -`: its text.
    Text(String),
}

/// What `hull build` was asked.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory.
    pub context: PathBuf,
    /// The Dockerfile; None: `CONTEXT/Dockerfile`.
    pub dockerfile: Option<DockerfileSource>,
    /// `-t`: references the image gets.
    pub tags: Vec<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: Vec<(String, String)>,
    /// `--target`: the stage to build (the last one by default).
    pub target: Option<String>,
    /// `--no-cache`.
    pub no_cache: bool,
    /// `--label`: set on the final image.
    pub labels: Vec<(String, String)>,
    /// How build containers are made (engine, memory, network); its image and process
    /// are the build's.
    pub container: CreateRequest,
}

/// What a build reports as it goes (the CLI draws it as `docker build` does).
pub trait BuildProgress: ImageProgress + Sync {
    /// Step `number` (counted over the whole build) starts; `title` is
    /// `[stage N/M] INSTRUCTION`.
    fn step_started(&self, _number: usize, _title: &str) {}
    /// It was found in the cache.
    fn step_cached(&self, _number: usize) {}
    /// Output of its RUN command.
    fn step_output(&self, _number: usize, _bytes: &[u8]) {}
    /// It finished (not cached) after `elapsed`.
    fn step_done(&self, _number: usize, _elapsed: Duration) {}
    /// Something the user should know (unused build args, ...).
    fn warning(&self, _text: &str) {}
}

impl BuildProgress for () {}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildOutcome {
    /// The image.
    pub image: Image,
    /// Steps run or taken from the cache.
    pub steps: usize,
    /// Of those, taken from the cache.
    pub cached: usize,
    /// Build VMs booted.
    pub vms_booted: usize,
}

impl Containers {
    /// Builds `request`'s Dockerfile.
    pub fn build(
        &self,
        request: &BuildRequest,
        progress: &dyn BuildProgress,
    ) -> Result<BuildOutcome> {
        let (name, text) = match &request.dockerfile {
            Some(DockerfileSource::Text(text)) => ("Dockerfile".to_string(), text.clone()),
            Some(DockerfileSource::Path(path)) => (display_name(path), read_dockerfile(path)?),
            None => {
                let path = request.context.join("Dockerfile");
                ("Dockerfile".to_string(), read_dockerfile(&path)?)
            }
        };
        let dockerfile = dockerfile::parse(&text, &name).map_err(Error::Build)?;
        let context = context::Context::open(&request.context)?;
        plan::Build::new(self, request, progress, &dockerfile, &context)?.run()
    }
}

fn display_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

fn read_dockerfile(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::Build(format!(
            "failed to read dockerfile: open {}: {e}",
            path.display()
        ))
    })
}
