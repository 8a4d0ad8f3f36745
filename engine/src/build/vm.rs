//! A build container: a VM booted on an image with its process held (hull-init sets the
//! container up and runs nothing), in which a step's RUN commands run as execs and its COPY
//! tars are extracted, and whose changes then become the step's layer: read by hull-init
//! inside the VM, as `hull commit` reads them, never mounted on the host.

use crate::container::{Container, ContainerConfig};
use crate::containers::{Containers, CreateRequest, LayerExport, SessionEvent};
use crate::containers::{CopyOptions, CopySource, CopyTarget};
use crate::error::{Error, Result};
use crate::images::ImageProgress;
use hull_protocol::{ExecRequest, PathStat};
use hull_rootfs::{CommitInfo, Image};
use std::io::Read;

/// Label on build containers (`hull ps -a` shows them while a build runs).
pub const BUILD_LABEL: &str = "io.hull.build";

/// How a RUN runs.
pub struct RunCommand<'a> {
    /// argv.
    pub args: Vec<String>,
    /// `KEY=VALUE` added to the image's environment (the build args).
    pub env: Vec<String>,
    /// USER.
    pub user: Option<String>,
    /// WORKDIR.
    pub cwd: Option<String>,
    /// Receives the output as it comes.
    pub output: &'a mut dyn FnMut(&[u8]),
}

/// A running build container. Dropping it removes it.
pub struct BuildVm<'c> {
    containers: &'c Containers,
    container: Container,
    /// The image whose filesystem the container's now is: it booted on it, or its last
    /// commit made it. A step may run here only if the stage's filesystem is this one.
    pub fs_image: String,
}

impl<'c> BuildVm<'c> {
    /// Creates and boots a build container on `image` (an id).
    pub fn boot(
        containers: &'c Containers,
        image: &str,
        request: &CreateRequest,
        progress: &dyn ImageProgress,
    ) -> Result<Self> {
        let mut request = request.clone();
        request.image = image.to_string();
        request.pull = crate::images::PullPolicy::Never;
        // Never run: hull-init holds the container. Named for `ps`.
        request.entrypoint = Some(String::new());
        request.command = vec!["hull-build".into()];
        request.hold = true;
        request.config = ContainerConfig {
            labels: [(BUILD_LABEL.to_string(), "true".to_string())].into(),
            ..request.config
        };
        let container = containers.create(&request, progress)?;
        let mut vm = BuildVm {
            containers,
            container,
            fs_image: image.to_string(),
        };
        containers.start_detached(&vm.container)?;
        vm.container = containers.find(&vm.container.id)?;
        Ok(vm)
    }

    /// Runs `command`; its exit status.
    pub fn run(&self, command: RunCommand<'_>) -> Result<i32> {
        let request = ExecRequest {
            args: command.args,
            env: command.env,
            cwd: command.cwd,
            user: command.user.filter(|u| !u.is_empty()),
            tty: false,
            stdin: false,
            console_size: None,
        };
        let mut session = self.containers.exec(&self.container.id, &request)?;
        while let Some(event) = session.next_event() {
            match event {
                SessionEvent::Started => {}
                SessionEvent::Stdout(bytes) | SessionEvent::Stderr(bytes) => {
                    (command.output)(&bytes)
                }
                SessionEvent::Exit(status) => return Ok(status),
            }
        }
        Err(self.containers.exec_lost(&self.container.id))
    }

    /// What is at `path`; None when nothing is.
    pub fn stat(&self, path: &str) -> Result<Option<PathStat>> {
        match self.containers.stat_path(&self.container.id, path) {
            Ok(stat) => Ok(Some(stat)),
            Err(Error::CopyNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Extracts `tar` (entries named from `/`) at the root, owners kept.
    pub fn extract(&self, tar: &mut dyn Read, dir: &str) -> Result<()> {
        let options = CopyOptions {
            archive: true,
            follow_link: false,
        };
        self.containers.copy_to_container(
            &self.container.id,
            CopySource::Stream(tar),
            dir,
            options,
        )?;
        Ok(())
    }

    /// The content of the file at `path`, if there is one (for `--chown` names).
    pub fn read_file(&self, path: &str) -> Result<Option<String>> {
        if self.stat(path)?.is_none_or(|s| !s.is_file()) {
            return Ok(None);
        }
        let mut tar = Vec::new();
        self.containers.copy_from_container(
            &self.container.id,
            path,
            CopyTarget::Stream(&mut tar),
            CopyOptions::default(),
        )?;
        let mut archive = tar::Archive::new(&tar[..]);
        let mut text = String::new();
        if let Some(entry) = archive.entries()?.next() {
            entry?.take(1 << 20).read_to_string(&mut text)?;
        }
        Ok(Some(text))
    }

    /// The changes since the previous commit (or the boot) as a layer on `base` (the
    /// stage's image, whose filesystem is [`Self::fs_image`]'s); the VM's filesystem is the
    /// new image's then.
    pub fn commit(&mut self, base: &str, info: &CommitInfo) -> Result<Image> {
        let export = LayerExport {
            base,
            pause: false,
            since_last: true,
        };
        let image = self
            .containers
            .commit_with(&self.container, &export, info, |_| {}, None)?;
        self.fs_image = image.id.clone();
        Ok(image)
    }
}

impl Drop for BuildVm<'_> {
    /// Stops and removes the container (best effort: a build that failed says why itself).
    fn drop(&mut self) {
        let _ = self.containers.remove(&self.container.id, true);
    }
}
