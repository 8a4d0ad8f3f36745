//! `hull commit`: a new image made of an existing image's layers and one more layer (the
//! container's changes, a tar the guest wrote: ingested exactly as a loaded layer is, so
//! every check `load` makes applies), with an edited config and a history entry.

use std::io::Read;

use oci_spec::image::{HistoryBuilder, ImageConfiguration};

use crate::assemble::assemble_image;
use crate::error::{from_json, IoContext, Result, StoreError};
use crate::image::Image;
use crate::ingest::{ingest_layer, LayerBlob, LayerSpec};
use crate::oci::MEDIA_OCI_LAYER_TAR;
use crate::progress::Progress;
use crate::reference;
use crate::store::{resolve_id, NewImage, Store};

/// What the new image says about how it was made.
#[derive(Debug, Clone, Default)]
pub struct CommitInfo {
    /// `-a`: the author.
    pub author: Option<String>,
    /// `-m`: the history entry's comment.
    pub comment: Option<String>,
    /// The history entry's `created_by` (the container's command).
    pub created_by: String,
    /// RFC 3339 time of the commit.
    pub created: String,
    /// Docker's config keys the OCI config has no field for ([`DOCKER_CONFIG_EXTENSIONS`]),
    /// set in the new image's `config` (`Null` removes one); the base's are kept otherwise.
    pub config_extensions: serde_json::Map<String, serde_json::Value>,
}

/// Docker's image config keys outside the OCI spec that a build sets and keeps:
/// `HEALTHCHECK`, `ONBUILD`, `SHELL`.
pub const DOCKER_CONFIG_EXTENSIONS: [&str; 3] = ["Healthcheck", "OnBuild", "Shell"];

impl Store {
    /// A new image: `base`'s layers, then `layer` (a tar, possibly with OCI whiteouts); its
    /// config is `base`'s after `edit`, with the new layer and a history entry. Tagged `tag`
    /// when given (normalised as any reference), dangling otherwise.
    pub fn commit_layer(
        &self,
        base: &str,
        layer: impl Read,
        info: &CommitInfo,
        edit: impl FnOnce(&mut ImageConfiguration),
        tag: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Image> {
        self.new_image(base, Some(&mut { layer }), info, edit, tag, progress)
    }

    /// A new image with `base`'s layers and config after `edit`, and a history entry
    /// without a layer (a build's CMD, ENV, LABEL...).
    pub fn commit_config(
        &self,
        base: &str,
        info: &CommitInfo,
        edit: impl FnOnce(&mut ImageConfiguration),
        tag: Option<&str>,
    ) -> Result<Image> {
        self.new_image(base, None::<&mut &[u8]>, info, edit, tag, &())
    }

    fn new_image(
        &self,
        base: &str,
        layer: Option<&mut impl Read>,
        info: &CommitInfo,
        edit: impl FnOnce(&mut ImageConfiguration),
        tag: Option<&str>,
        progress: &dyn Progress,
    ) -> Result<Image> {
        let tags = match tag {
            Some(tag) => vec![reference::normalize(tag)?],
            None => Vec::new(),
        };
        let work = self.work_dir()?;
        let index = self.read_index()?;
        let base_id = resolve_id(&index, base)?;
        let base_record = index
            .images
            .get(&base_id)
            .ok_or_else(|| StoreError::ImageNotFound(base.to_owned()))?
            .clone();
        let config_path = self.blob_path(&base_record.id)?;
        let base_config = std::fs::read(&config_path).io("read image config", &config_path)?;
        let mut config: ImageConfiguration =
            from_json(&base_config, &format!("image config {}", base_record.id))?;
        let spec = LayerSpec {
            label: "the container's changes",
            blob_digest: None,
            media_type: Some(MEDIA_OCI_LAYER_TAR),
            diff_id: None,
        };
        let added = match layer {
            Some(layer) => {
                let blob = LayerBlob::Stream(Box::new(layer));
                Some(ingest_layer(self, &work, blob, &spec, progress)?)
            }
            None => None,
        };
        edit(&mut config);
        if let Some(added) = &added {
            let mut diff_ids = config.rootfs().diff_ids().clone();
            diff_ids.push(added.diff_id.clone());
            config.rootfs_mut().set_diff_ids(diff_ids);
        }
        let mut history = config.history().clone().unwrap_or_default();
        let mut entry = HistoryBuilder::default()
            .created(info.created.clone())
            .created_by(info.created_by.clone())
            .empty_layer(added.is_none());
        if let Some(author) = &info.author {
            entry = entry.author(author.clone());
        }
        if let Some(comment) = &info.comment {
            entry = entry.comment(comment.clone());
        }
        history.push(entry.build().map_err(|e| StoreError::Corrupt {
            what: "the new history entry".into(),
            source: std::io::Error::other(e.to_string()),
        })?);
        config.set_history(Some(history));
        config.set_created(Some(info.created.clone()));
        if info.author.is_some() {
            config.set_author(info.author.clone());
        }
        let config_bytes = with_extensions(&config, &base_config, &info.config_extensions)?;
        let mut layers = base_record.layers;
        layers.extend(added);
        let mut record = assemble_image(&work, &config_bytes, layers, None)?;
        record.parent = Some(base_id);
        let mut images = self.commit(&work, vec![NewImage { record, tags }])?;
        images
            .pop()
            .ok_or_else(|| StoreError::ConcurrentChange("the committed image vanished".into()))
    }
}

/// `config` as JSON with [`DOCKER_CONFIG_EXTENSIONS`] from `base_config` (the base image's
/// JSON), then `extensions`, in its `config` object.
fn with_extensions(
    config: &ImageConfiguration,
    base_config: &[u8],
    extensions: &serde_json::Map<String, serde_json::Value>,
) -> Result<Vec<u8>> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        what: "the new image config".into(),
        source: std::io::Error::other(e),
    };
    let mut value = serde_json::to_value(config).map_err(corrupt)?;
    let base: serde_json::Value = serde_json::from_slice(base_config).unwrap_or_default();
    let mut merged = serde_json::Map::new();
    for key in DOCKER_CONFIG_EXTENSIONS {
        if let Some(kept) = base.get("config").and_then(|c| c.get(key)) {
            merged.insert(key.to_owned(), kept.clone());
        }
    }
    for (key, extension) in extensions {
        merged.insert(key.clone(), extension.clone());
    }
    merged.retain(|_, v| !v.is_null());
    if !merged.is_empty() {
        if let Some(root) = value.as_object_mut() {
            let runtime = root
                .entry("config")
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(runtime) = runtime.as_object_mut() {
                runtime.extend(merged);
            }
        }
    }
    serde_json::to_vec(&value).map_err(corrupt)
}
