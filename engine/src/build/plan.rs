//! One build: the global ARGs, the stages the target needs (through `FROM stage` and
//! `COPY --from=stage`), built in order, then the `--label`s and the tags.

use super::cache::BuildCache;
use super::context::Context;
use super::dockerfile::{Dockerfile, Op, Stage};
use super::words;
use super::{BuildOutcome, BuildProgress, BuildRequest};
use crate::containers::Containers;
use crate::error::{Error, Result};
use crate::images::Images;
use std::collections::{BTreeMap, BTreeSet};

/// A build in progress.
pub(super) struct Build<'a> {
    pub containers: &'a Containers,
    pub images: Images,
    pub request: &'a BuildRequest,
    pub progress: &'a dyn BuildProgress,
    pub dockerfile: &'a Dockerfile,
    pub context: &'a Context,
    pub cache: BuildCache,
    /// `--build-arg`s.
    pub build_args: BTreeMap<String, String>,
    /// The ARGs declared before the first FROM, with their values.
    pub global_args: BTreeMap<String, String>,
    /// Build args some ARG declared.
    pub consumed: BTreeSet<String>,
    /// Built stages: index to image id.
    pub stage_images: BTreeMap<usize, String>,
    /// Steps numbered over the whole build.
    pub steps: usize,
    pub cached: usize,
    pub vms_booted: usize,
}

impl<'a> Build<'a> {
    pub fn new(
        containers: &'a Containers,
        request: &'a BuildRequest,
        progress: &'a dyn BuildProgress,
        dockerfile: &'a Dockerfile,
        context: &'a Context,
    ) -> Result<Self> {
        let mut build = Build {
            containers,
            images: Images::open(containers.root())?,
            request,
            progress,
            dockerfile,
            context,
            cache: BuildCache::open(containers.root()),
            build_args: request.build_args.iter().cloned().collect(),
            global_args: platform_args(),
            consumed: BTreeSet::new(),
            stage_images: BTreeMap::new(),
            steps: 0,
            cached: 0,
            vms_booted: 0,
        };
        for raw in &dockerfile.global_args {
            let globals = build.global_args.clone();
            let declared = build.declare_args(raw, &|name| build_lookup(&globals, name))?;
            build.global_args.extend(declared);
        }
        Ok(build)
    }

    /// `ARG NAME[=default] ...` with `lookup` for the defaults: each name's value (a
    /// build arg, else the default; a name without either has none).
    pub fn declare_args(
        &mut self,
        raw: &str,
        lookup: words::Lookup<'_>,
    ) -> Result<Vec<(String, String)>> {
        let declared = words::words(raw, self.dockerfile.escape, lookup).map_err(Error::Build)?;
        let mut values = Vec::new();
        for declaration in declared {
            let (name, default) = match declaration.split_once('=') {
                Some((name, default)) => (name.to_string(), Some(default.to_string())),
                None => (declaration.clone(), None),
            };
            if name.is_empty() {
                return Err(Error::Build(format!(
                    "ARG names must not be empty: {raw:?}"
                )));
            }
            self.consumed.insert(name.clone());
            let value = self
                .build_args
                .get(&name)
                .cloned()
                .or(default)
                .or_else(|| self.global_args.get(&name).cloned());
            if let Some(value) = value {
                values.push((name, value));
            }
        }
        Ok(values)
    }

    /// The stage `reference` names (`AS` name or index), if any.
    pub fn stage_named(&self, reference: &str) -> Option<&'a Stage> {
        let lower = reference.to_lowercase();
        let dockerfile: &'a Dockerfile = self.dockerfile;
        dockerfile
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                reference
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| dockerfile.stages.get(i))
            })
    }

    /// The stage `FROM` expands to, with the global ARGs.
    pub fn base_of(&self, stage: &Stage) -> Result<String> {
        words::word(&stage.base, self.dockerfile.escape, &|name| {
            build_lookup(&self.global_args, name)
        })
        .map_err(|e| Error::Build(format!("line {}: FROM: {e}", stage.line)))
    }

    /// The stages `target` needs, itself last, each once, in file order.
    fn needed(&self, target: &'a Stage) -> Result<Vec<&'a Stage>> {
        let mut needed = BTreeSet::new();
        let mut pending = vec![target];
        while let Some(stage) = pending.pop() {
            if !needed.insert(stage.index) {
                continue;
            }
            let mut references = vec![self.base_of(stage)?];
            for step in &stage.steps {
                if let Op::Copy(copy) = &step.op {
                    if let Some(from) = &copy.from {
                        references.push(from.clone());
                    }
                }
            }
            for reference in references {
                if let Some(dependency) = self.stage_named(&reference) {
                    if dependency.index >= stage.index {
                        return Err(Error::Build(format!(
                            "line {}: stage {reference:?} is used before it is defined",
                            stage.line
                        )));
                    }
                    pending.push(dependency);
                }
            }
        }
        Ok(self
            .dockerfile
            .stages
            .iter()
            .filter(|s| needed.contains(&s.index))
            .collect())
    }

    /// Builds the target and everything it needs; labels and tags the result.
    pub fn run(mut self) -> Result<BuildOutcome> {
        let target = match &self.request.target {
            Some(name) => self
                .dockerfile
                .stages
                .iter()
                .find(|s| s.name.as_deref() == Some(name.to_lowercase().as_str()))
                .ok_or_else(|| {
                    Error::Build(format!("target stage \"{name}\" could not be found"))
                })?,
            None => self
                .dockerfile
                .stages
                .last()
                .expect("parse refuses a file without FROM"),
        };
        let stages = self.needed(target)?;
        let mut image = String::new();
        for stage in stages {
            let is_target = stage.index == target.index;
            image = super::stage::StageBuilder::new(&mut self, stage, is_target).run()?;
            self.stage_images.insert(stage.index, image.clone());
        }
        if !self.request.labels.is_empty() {
            image = self.labelled(&image)?;
        }
        let store = self.images.store();
        for tag in &self.request.tags {
            store.tag(&image, tag)?;
        }
        let unused: Vec<&String> = self
            .build_args
            .keys()
            .filter(|name| !self.consumed.contains(*name))
            .collect();
        if !unused.is_empty() {
            let names: Vec<&str> = unused.iter().map(|s| s.as_str()).collect();
            self.progress.warning(&format!(
                "One or more build-args [{}] were not consumed",
                names.join(" ")
            ));
        }
        Ok(BuildOutcome {
            image: store.resolve(&image)?,
            steps: self.steps,
            cached: self.cached,
            vms_booted: self.vms_booted,
        })
    }

    /// `--label`s on the final image (a config-only image, cached as any step).
    fn labelled(&mut self, image: &str) -> Result<String> {
        let labels = self.request.labels.clone();
        let text: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let text = format!("LABEL {}", text.join(" "));
        let key = BuildCache::key(&[image, &text]);
        if let Some(id) = self
            .cache
            .get(&key)
            .filter(|id| self.images.store().exists(id).unwrap_or(false))
        {
            return Ok(id);
        }
        let info = super::stage::commit_info(&text);
        let labelled = self.images.store().commit_config(
            image,
            &info,
            |config| {
                let mut runtime = config.config().clone().unwrap_or_default();
                super::config_steps::add_labels(&mut runtime, &labels);
                config.set_config(Some(runtime));
            },
            None,
        )?;
        self.cache.put(&key, &labelled.id);
        Ok(labelled.id)
    }
}

/// BuildKit's automatic platform ARGs, in the global scope (FROM can use them; a stage
/// gets one by declaring `ARG NAME`): hull builds linux/amd64 on linux/amd64.
fn platform_args() -> BTreeMap<String, String> {
    [
        ("BUILDPLATFORM", "linux/amd64"),
        ("BUILDOS", "linux"),
        ("BUILDARCH", "amd64"),
        ("BUILDVARIANT", ""),
        ("TARGETPLATFORM", "linux/amd64"),
        ("TARGETOS", "linux"),
        ("TARGETARCH", "amd64"),
        ("TARGETVARIANT", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Looks `name` up in `values`.
pub(super) fn build_lookup(values: &BTreeMap<String, String>, name: &str) -> Option<String> {
    values.get(name).cloned()
}
