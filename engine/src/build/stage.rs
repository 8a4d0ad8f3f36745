//! One stage: FROM, the base image's ONBUILD triggers, then each instruction. A step's
//! result is an image (config-only or with one more layer), found in the cache when the
//! same step already ran on the same parent.

use super::cache::BuildCache;
use super::config_steps as steps;
use super::dockerfile::{CommandForm, Op, Stage, Step};
use super::plan::Build;
use super::vm::{BuildVm, RunCommand};
use super::words;
use crate::container::state::now_rfc3339;
use crate::error::{Error, Result};
use hull_rootfs::CommitInfo;
use oci_spec::image::Config;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

/// A history entry's metadata for a step.
pub(super) fn commit_info(created_by: &str) -> CommitInfo {
    CommitInfo {
        created_by: created_by.to_string(),
        created: now_rfc3339(),
        ..CommitInfo::default()
    }
}

/// Builds one stage.
pub(super) struct StageBuilder<'b, 'a> {
    pub build: &'b mut Build<'a>,
    stage: &'a Stage,
    is_target: bool,
    /// The stage's image so far (an id).
    pub image: String,
    /// Its runtime config.
    pub config: Config,
    /// Its ARGs with values.
    pub args: BTreeMap<String, String>,
    /// SHELL.
    pub shell: Vec<String>,
    /// The image whose filesystem the stage has (config-only steps keep it).
    fs_image: String,
    /// The build VM of the stage's filesystem steps, while it runs.
    pub vm: Option<BuildVm<'a>>,
    /// The step being run, 1-based within the stage (FROM is 1).
    position: usize,
    total: usize,
}

impl<'b, 'a> StageBuilder<'b, 'a> {
    pub fn new(build: &'b mut Build<'a>, stage: &'a Stage, is_target: bool) -> Self {
        Self {
            build,
            stage,
            is_target,
            image: String::new(),
            config: Config::default(),
            args: BTreeMap::new(),
            shell: steps::default_shell(),
            fs_image: String::new(),
            vm: None,
            position: 0,
            total: stage.steps.len() + 1,
        }
    }

    /// Runs the stage; its image id.
    pub fn run(mut self) -> Result<String> {
        self.from()?;
        let triggers = self.onbuild_triggers()?;
        if !triggers.is_empty() {
            self.total += triggers.len();
            for step in &triggers {
                self.step(step)?;
            }
        }
        for step in &self.stage.steps {
            self.step(step)?;
        }
        Ok(self.image)
    }

    /// `[stage N/M] TEXT`; the target stage has no name in it, as Docker shows it.
    fn title(&self, text: &str) -> String {
        let position = format!("{}/{}", self.position, self.total);
        if self.is_target {
            format!("[{position}] {text}")
        } else {
            let name = self
                .stage
                .name
                .clone()
                .unwrap_or_else(|| format!("stage-{}", self.stage.index));
            format!("[{name} {position}] {text}")
        }
    }

    /// Announces the next step; its number.
    fn begin(&mut self, text: &str) -> usize {
        self.position += 1;
        self.build.steps += 1;
        let number = self.build.steps;
        self.build.progress.step_started(number, &self.title(text));
        number
    }

    /// A variable as the stage sees it: ENV, then ARG.
    fn lookup(&self, name: &str) -> Option<String> {
        steps::env_value(&self.config, name).or_else(|| self.args.get(name).cloned())
    }

    pub fn expand(&self, text: &str) -> Result<String> {
        words::word(text, self.build.dockerfile.escape, &|n| self.lookup(n)).map_err(Error::Build)
    }

    pub fn expand_words(&self, text: &str) -> Result<Vec<String>> {
        words::words(text, self.build.dockerfile.escape, &|n| self.lookup(n)).map_err(Error::Build)
    }

    fn from(&mut self) -> Result<()> {
        let base = self.build.base_of(self.stage)?;
        let number = self.begin(&format!("FROM {base}"));
        let started = Instant::now();
        if let Some(platform) = &self.stage.platform {
            let platform = words::word(platform, self.build.dockerfile.escape, &|n| {
                super::plan::build_lookup(&self.build.global_args, n)
            })
            .map_err(Error::Build)?;
            if !matches!(
                platform.as_str(),
                "" | "linux/amd64" | "linux/x86_64" | "linux/amd64/v1"
            ) {
                return Err(Error::Build(format!(
                    "FROM --platform={platform}: hull builds linux/amd64 images only"
                )));
            }
        }
        let image = match self.build.stage_named(&base) {
            Some(stage) if stage.index < self.stage.index => self
                .build
                .stage_images
                .get(&stage.index)
                .cloned()
                .ok_or_else(|| Error::Build(format!("stage {base:?} was not built")))?,
            _ => {
                let policy = self.build.request.container.pull;
                let progress = self.build.progress;
                self.build.images.resolve_with(&base, policy, progress)?.id
            }
        };
        self.set_image(&image)?;
        self.fs_image = self.image.clone();
        self.build.progress.step_done(number, started.elapsed());
        Ok(())
    }

    /// The base image's ONBUILD triggers as steps (they run first, then the child image
    /// has none of its own).
    fn onbuild_triggers(&mut self) -> Result<Vec<Step>> {
        let raw = self.build.images.store().raw_config(&self.image)?;
        let triggers: Vec<String> = raw
            .get("config")
            .and_then(|c| c.get("OnBuild"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        if triggers.is_empty() {
            return Ok(Vec::new());
        }
        let text = format!("FROM scratch\n{}\n", triggers.join("\n"));
        let parsed = super::dockerfile::parse(&text, "ONBUILD").map_err(Error::Build)?;
        let steps = parsed
            .stages
            .into_iter()
            .next()
            .map(|s| s.steps)
            .unwrap_or_default();
        // The triggers are the base's: the child does not inherit them.
        let mut info = commit_info("ONBUILD triggers of the base image");
        info.config_extensions.insert("OnBuild".into(), Value::Null);
        let key = BuildCache::key(&[&self.image, "clear ONBUILD"]);
        let image = self.cached_or(&key, |this| {
            Ok(this
                .build
                .images
                .store()
                .commit_config(&this.image, &info, |_| {}, None)?
                .id)
        })?;
        self.set_image(&image)?;
        if steps.iter().any(|s| matches!(s.op, Op::Onbuild(_))) {
            return Err(Error::Build("ONBUILD may not trigger ONBUILD".into()));
        }
        Ok(steps)
    }

    /// Moves the stage to `image` and reads its config.
    pub fn set_image(&mut self, image: &str) -> Result<()> {
        let resolved = self.build.images.store().resolve(image)?;
        self.image = resolved.id;
        self.config = resolved.config.config().clone().unwrap_or_default();
        let raw = self.build.images.store().raw_config(&self.image)?;
        if let Some(shell) = raw
            .get("config")
            .and_then(|c| c.get("Shell"))
            .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
            .filter(|s| !s.is_empty())
        {
            self.shell = shell;
        }
        Ok(())
    }

    /// The image the cache has for `key`, or the one `make` makes (then cached).
    pub fn cached_or(
        &mut self,
        key: &str,
        make: impl FnOnce(&mut Self) -> Result<String>,
    ) -> Result<String> {
        if !self.build.request.no_cache {
            let hit = self
                .build
                .cache
                .get(key)
                .filter(|id| self.build.images.store().exists(id).unwrap_or(false));
            if let Some(id) = hit {
                self.build.cached += 1;
                return Ok(id);
            }
        }
        let id = make(self)?;
        self.build.cache.put(key, &id);
        Ok(id)
    }

    fn step(&mut self, step: &Step) -> Result<()> {
        let number = self.begin(&step.text);
        let started = Instant::now();
        let cached_before = self.build.cached;
        let changes_files = matches!(step.op, Op::Run(_) | Op::Copy(_));
        let image = match &step.op {
            Op::Arg(raw) => {
                let (config, args) = (self.config.clone(), self.args.clone());
                let lookup =
                    |n: &str| steps::env_value(&config, n).or_else(|| args.get(n).cloned());
                let declared = self.build.declare_args(raw, &lookup)?;
                self.args.extend(declared);
                None
            }
            Op::Run(command) => Some(self.run_step(number, command)?),
            Op::Copy(copy) => Some(super::copy_step::copy(self, copy, &step.text)?),
            op => Some(self.config_step(op, step)?),
        };
        if let Some(image) = image {
            self.set_image(&image)?;
            if changes_files {
                self.fs_image = self.image.clone();
            }
        }
        if self.build.cached > cached_before {
            self.build.progress.step_cached(number);
        } else {
            self.build.progress.step_done(number, started.elapsed());
        }
        Ok(())
    }

    /// The build args a RUN sees (those no ENV overrides), as `KEY=VALUE`.
    fn arg_env(&self) -> Vec<String> {
        self.args
            .iter()
            .filter(|(name, _)| steps::env_value(&self.config, name).is_none())
            .map(|(name, value)| format!("{name}={value}"))
            .collect()
    }

    fn run_step(&mut self, number: usize, command: &CommandForm) -> Result<String> {
        let args = steps::argv(command, &self.shell);
        let env = self.arg_env();
        let args_json = serde_json::to_string(&args).unwrap_or_default();
        let env_json = serde_json::to_string(&env).unwrap_or_default();
        let key = BuildCache::key(&[&self.image, "RUN", &args_json, &env_json]);
        self.cached_or(&key, |this| {
            let mut vm = this.take_vm()?;
            this.run_in(&vm, number, args.clone(), env.clone())?;
            let created_by = format!("RUN {} # buildkit", args.join(" "));
            let image = vm.commit(&this.image, &commit_info(&created_by))?.id;
            this.vm = Some(vm);
            Ok(image)
        })
    }

    /// The build VM for a filesystem step, taken from the stage (put it back after a
    /// commit): the running one while its filesystem is the stage's, else a new one on
    /// the stage's image. Its WORKDIR is made if missing.
    pub fn take_vm(&mut self) -> Result<BuildVm<'a>> {
        let vm = match self.vm.take() {
            Some(vm) if vm.fs_image == self.fs_image => vm,
            stale => {
                // A cached step moved the stage past what the VM holds: a new one.
                drop(stale);
                let build = &mut *self.build;
                let mut vm = BuildVm::boot(
                    build.containers,
                    &self.image,
                    &build.request.container,
                    build.progress,
                )?;
                build.vms_booted += 1;
                vm.fs_image = self.fs_image.clone();
                vm
            }
        };
        if let Some(dir) = self
            .config
            .working_dir()
            .clone()
            .filter(|d| d != "/" && !d.is_empty())
        {
            let missing = super::copy_step::missing_dirs(&vm, &dir)?;
            if !missing.is_empty() {
                let mut tar = super::import_tar::ImportTar::new()?;
                for dir in missing {
                    tar.directory(&dir, Default::default())?;
                }
                vm.extract(&mut tar.finish()?, "/")?;
            }
        }
        Ok(vm)
    }

    fn run_in(
        &self,
        vm: &BuildVm<'_>,
        number: usize,
        args: Vec<String>,
        env: Vec<String>,
    ) -> Result<()> {
        let progress = self.build.progress;
        let mut output = |bytes: &[u8]| progress.step_output(number, bytes);
        // The VM may have booted before this stage's latest ENV: the whole environment.
        let env = self
            .config
            .env()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .chain(env)
            .collect();
        let status = vm.run(RunCommand {
            args: args.clone(),
            env,
            user: self.config.user().clone(),
            cwd: self.config.working_dir().clone().filter(|d| !d.is_empty()),
            output: &mut output,
        })?;
        if status != 0 {
            return Err(Error::Build(format!(
                "process \"{}\" did not complete successfully: exit code: {status}",
                args.join(" ")
            )));
        }
        Ok(())
    }

    /// An instruction that changes only the config: a config-only image.
    fn config_step(&mut self, op: &Op, step: &Step) -> Result<String> {
        let mut config = self.config.clone();
        let mut extensions = serde_json::Map::new();
        let mut author = None;
        let fail = |e: String| Error::Build(format!("line {}: {e}", step.line));
        match op {
            Op::Env(raw) => {
                let words = self.expand_words(raw)?;
                let pairs = if words.first().is_some_and(|w| !w.contains('=')) {
                    // Docker's legacy `ENV KEY VALUE...`.
                    let (key, value) = raw
                        .trim()
                        .split_once(char::is_whitespace)
                        .unwrap_or((raw, ""));
                    vec![(key.to_string(), self.expand(value.trim())?)]
                } else {
                    steps::pairs(&words, "ENV").map_err(fail)?
                };
                steps::set_env(&mut config, &pairs);
            }
            Op::Label(raw) => {
                let pairs = steps::pairs(&self.expand_words(raw)?, "LABEL").map_err(fail)?;
                steps::add_labels(&mut config, &pairs);
            }
            Op::Expose(ports) => {
                let expanded = ports
                    .iter()
                    .map(|p| self.expand(p))
                    .collect::<Result<Vec<_>>>()?;
                steps::expose(&mut config, &expanded).map_err(fail)?;
            }
            Op::Volume(paths) => {
                let expanded = paths
                    .iter()
                    .map(|p| self.expand(p))
                    .collect::<Result<Vec<_>>>()?;
                steps::add_volumes(&mut config, &expanded).map_err(fail)?;
            }
            Op::User(user) => {
                config.set_user(Some(self.expand(user)?));
            }
            Op::Workdir(dir) => {
                let dir = steps::workdir(&config, &self.expand(dir)?);
                config.set_working_dir(Some(dir));
            }
            Op::Cmd(command) => {
                config.set_cmd(Some(steps::argv(command, &self.shell)));
            }
            Op::Entrypoint(command) => {
                config.set_entrypoint(Some(steps::argv(command, &self.shell)));
                // Docker: a new ENTRYPOINT resets the CMD the base image had.
                if self.stage.steps.iter().all(|s| !matches!(s.op, Op::Cmd(_))) {
                    config.set_cmd(None);
                }
            }
            Op::Shell(shell) => {
                if shell.is_empty() {
                    return Err(fail("SHELL requires the command in JSON form".into()));
                }
                self.shell = shell.clone();
                extensions.insert("Shell".into(), serde_json::json!(shell));
            }
            Op::StopSignal(signal) => {
                let signal = self.expand(signal)?;
                if crate::containers::signal_number(&signal).is_none() {
                    return Err(fail(format!("STOPSIGNAL: invalid signal {signal:?}")));
                }
                config.set_stop_signal(Some(signal));
            }
            Op::Healthcheck { options, command } => {
                let check = steps::healthcheck(options, command.as_ref()).map_err(fail)?;
                extensions.insert("Healthcheck".into(), check);
            }
            Op::Onbuild(trigger) => {
                let raw = self.build.images.store().raw_config(&self.image)?;
                let mut triggers: Vec<Value> = raw
                    .get("config")
                    .and_then(|c| c.get("OnBuild"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                triggers.push(Value::String(trigger.clone()));
                extensions.insert("OnBuild".into(), Value::Array(triggers));
            }
            Op::Maintainer(name) => author = Some(self.expand(name)?),
            Op::Arg(_) | Op::Run(_) | Op::Copy(_) => unreachable!("not a config step"),
        }
        let canonical = serde_json::json!({
            "config": serde_json::to_value(&config).unwrap_or_default(),
            "extensions": extensions,
            "author": author,
        })
        .to_string();
        let key = BuildCache::key(&[&self.image, &step.text, &canonical]);
        let mut info = commit_info(&step.text);
        info.author = author;
        info.config_extensions = extensions;
        self.cached_or(&key, move |this| {
            let image = this.build.images.store().commit_config(
                &this.image,
                &info,
                |image| {
                    image.set_config(Some(config));
                },
                None,
            )?;
            Ok(image.id)
        })
    }
}
