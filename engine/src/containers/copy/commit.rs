//! `hull commit`: the container's changes become a new image. hull-init writes them as an
//! OCI layer tar inside the VM (a helper VM for a stopped container; a running one's
//! processes are frozen meanwhile unless `pause` is off), and the image store ingests the
//! tar as it ingests any loaded layer: the host never mounts what the guest wrote.

use super::session_io::SessionOutput;
use crate::container::state::now_rfc3339;
use crate::container::Container;
use crate::containers::commit_changes::{self, ConfigChange};
use crate::containers::Containers;
use crate::error::Result;
use crate::images::Images;
use hull_protocol::ArchiveRequest;
use hull_rootfs::{CommitInfo, Image};
use oci_spec::image::ImageConfiguration;

/// What `hull commit` was asked.
#[derive(Debug, Clone, Default)]
pub struct CommitRequest {
    /// `REPO[:TAG]` (None: a dangling image).
    pub repository: Option<String>,
    /// `-m`.
    pub message: Option<String>,
    /// `-a`.
    pub author: Option<String>,
    /// `-c` instructions.
    pub changes: Vec<String>,
    /// `-p` (Docker's default: true): freeze a running container while it is read.
    pub pause: bool,
}

/// Which changes of a container become a layer, and on what.
pub(crate) struct LayerExport<'a> {
    /// The image the layer goes on: the container's own, or (a build step in a VM that
    /// ran earlier steps) the previous step's image.
    pub base: &'a str,
    /// Freeze a running container while it is read.
    pub pause: bool,
    /// Only the changes since the previous export.
    pub since_last: bool,
}

impl Containers {
    /// Commits the container `reference` names as a new image.
    pub fn commit(&self, reference: &str, request: &CommitRequest) -> Result<Image> {
        let edits: Vec<ConfigChange> = request
            .changes
            .iter()
            .map(|c| commit_changes::parse(c))
            .collect::<Result<_>>()?;
        let container = self.find(reference)?;
        let info = CommitInfo {
            author: request.author.clone(),
            comment: request.message.clone(),
            created_by: container.command.join(" "),
            created: now_rfc3339(),
            config_extensions: Default::default(),
        };
        let export = LayerExport {
            base: &container.image_id,
            pause: request.pause,
            since_last: false,
        };
        let image = self.commit_with(
            &container,
            &export,
            &info,
            |config| commit_changes::apply(config, &container, &edits),
            request.repository.as_deref(),
        )?;
        self.store.record_event("commit", &container, &[]);
        Ok(image)
    }

    /// `container`'s changes as a new image on `export.base` whose config is the base's
    /// after `edit` (`hull commit`, and each RUN and COPY of `hull build`).
    pub(crate) fn commit_with(
        &self,
        container: &Container,
        export: &LayerExport<'_>,
        info: &CommitInfo,
        edit: impl FnOnce(&mut ImageConfiguration),
        tag: Option<&str>,
    ) -> Result<Image> {
        let images = Images::open(&self.root)?;
        let vm = self.copy_vm(container)?;
        let request = ArchiveRequest::ExportChanges {
            freeze: export.pause && container.is_running(),
            since_last: export.since_last,
        };
        let mut output = SessionOutput::new(self.archive_session(container, &vm.socket, request)?);
        let committed = images
            .store()
            .commit_layer(export.base, &mut output, info, edit, tag, &());
        let (status, errors) = output.finish();
        let finished = vm.finish();
        self.archive_status(&container.id, "/", status, &errors)?;
        finished?;
        Ok(committed?)
    }
}
