//! `hull load`: docker-save tarballs and OCI image layouts (dir or tar) into the store.
//! Every digest is verified; nothing becomes visible unless the whole archive succeeds.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use oci_spec::image::ImageConfiguration;

use crate::assemble::assemble_image;
use crate::digest::{is_sha256_hex, sha256_digest, sha256_hex};
use crate::error::{from_json, IoContext, Result, StoreError};
use crate::image::Image;
use crate::ingest::{LayerBlob, LayerSpec};
use crate::ingest_parallel::{ingest_layers, PendingLayer};
use crate::oci::{
    Descriptor, DockerManifestEntry, ImageIndex, Manifest, ANNOTATION_IMAGE_NAME,
    ANNOTATION_REF_NAME, MEDIA_DOCKER_MANIFEST_LIST, MEDIA_OCI_INDEX,
};
use crate::progress::Progress;
use crate::reference;
use crate::source::Source;
use crate::store::{NewImage, Store};
use crate::workdir::WorkDir;

/// One image found in an archive, before any layer is read.
struct Plan {
    config_member: String,
    config_digest: Option<String>,
    layers: Vec<PlanLayer>,
    /// Original manifest bytes and media type (OCI layouts).
    manifest: Option<(Vec<u8>, String)>,
    tags: Vec<String>,
}

struct PlanLayer {
    member: String,
    blob_digest: Option<String>,
    media_type: Option<String>,
}

/// Nested indexes deeper than this are refused (a hostile layout could loop).
const MAX_INDEX_DEPTH: usize = 4;

/// A layout that is the caller's own (see [`Store::load_owned_layout`]).
#[derive(Clone, Copy)]
struct Owned<'a> {
    /// Blocks until a member is whole in the layout (true) or never will be (false).
    arrived: &'a (dyn Fn(&str) -> bool + Sync),
    /// The layer blobs were checked against their names by the caller.
    verified: bool,
}

impl Store {
    /// Imports every image of a `docker save` tar, an OCI layout directory or an OCI layout
    /// tar (optionally gzip/zstd-compressed as a whole). Returns the images, tagged as the
    /// archive says.
    pub fn load(&self, path: &Path, progress: &dyn Progress) -> Result<Vec<Image>> {
        let work = self.work_dir()?;
        self.load_in(&work, path, None, progress)
    }

    /// [`Store::load`] of an OCI layout directory that is the caller's own scratch on the
    /// store's filesystem (a pull's download), possibly still filling: `arrived(member)`
    /// blocks until that layer blob is in the layout, whole (true), or will never be
    /// (false), so each layer converts as soon as it is there. Its blobs are taken by hard
    /// link instead of copied (and still verified), and must not change afterwards.
    pub fn load_owned_layout(
        &self,
        layout: &Path,
        arrived: &(dyn Fn(&str) -> bool + Sync),
        progress: &dyn Progress,
    ) -> Result<Vec<Image>> {
        self.load_owned(
            layout,
            Owned {
                arrived,
                verified: false,
            },
            progress,
        )
    }

    /// [`Store::load_owned_layout`] of a layout whose layer blobs the caller wrote only
    /// after checking each one's bytes against the digest it is named by (a pull: the
    /// registry client verifies every download): they are not hashed a second time. The
    /// image config and the manifests are still checked, and every layer's content against
    /// its diff id as it decodes.
    pub fn load_verified_layout(
        &self,
        layout: &Path,
        arrived: &(dyn Fn(&str) -> bool + Sync),
        progress: &dyn Progress,
    ) -> Result<Vec<Image>> {
        self.load_owned(
            layout,
            Owned {
                arrived,
                verified: true,
            },
            progress,
        )
    }

    fn load_owned(
        &self,
        layout: &Path,
        owned: Owned<'_>,
        progress: &dyn Progress,
    ) -> Result<Vec<Image>> {
        let work = self.work_dir()?;
        self.load_in(&work, layout, Some(owned), progress)
    }

    /// [`Store::load`] from a stream (`hull load` without `-i` reads stdin): the stream is
    /// spooled into the store's work area first, since archives need random access.
    pub fn load_reader(
        &self,
        reader: &mut dyn Read,
        progress: &dyn Progress,
    ) -> Result<Vec<Image>> {
        let work = self.work_dir()?;
        let spool = work.path().join("stdin.tar");
        let mut file = File::create(&spool).io("create", &spool)?;
        io::copy(reader, &mut file).io("write", &spool)?;
        drop(file);
        self.load_in(&work, &spool, None, progress)
    }

    /// Loads `path`; with `owned`, its files are the caller's to give, arriving as that
    /// says (see `load_owned_layout`).
    fn load_in(
        &self,
        work: &WorkDir,
        path: &Path,
        owned: Option<Owned<'_>>,
        progress: &dyn Progress,
    ) -> Result<Vec<Image>> {
        let source = Source::open(path, work, self.options.max_layer_bytes)?;
        let mut plans = if source.has("index.json") {
            oci_plans(&source)?
        } else if source.has("manifest.json") {
            docker_plans(&source)?
        } else {
            return Err(
                source.bad("neither manifest.json (docker save) nor index.json (OCI layout) found")
            );
        };
        if source.has("index.json") && source.has("manifest.json") {
            // Docker >= 25 writes both; its manifest.json carries the RepoTags.
            for entry in docker_entries(&source)? {
                let Some(hex) = digest_in_name(&entry.config) else {
                    continue;
                };
                for plan in plans
                    .iter_mut()
                    .filter(|p| p.config_digest.as_deref().and_then(sha256_hex) == Some(hex))
                {
                    plan.tags.extend(normalized_tags(
                        entry.repo_tags.as_deref().unwrap_or_default(),
                    ));
                    plan.tags.sort();
                    plan.tags.dedup();
                }
            }
        }
        if plans.is_empty() {
            return Err(source.bad("the archive lists no images"));
        }

        let mut images = Vec::new();
        for plan in plans {
            let config_bytes = source.read_small(&plan.config_member)?;
            if let Some(expected) = &plan.config_digest {
                let actual = sha256_digest(&config_bytes);
                if *expected != actual {
                    return Err(StoreError::DigestMismatch {
                        what: format!("image config {}", plan.config_member),
                        expected: expected.clone(),
                        actual,
                    });
                }
            }
            let config: ImageConfiguration = from_json(
                &config_bytes,
                &format!("image config {}", plan.config_member),
            )?;
            let diff_ids = config.rootfs().diff_ids();
            if diff_ids.len() != plan.layers.len() {
                return Err(source.bad(format!(
                    "image config {} lists {} layers but the manifest {}",
                    plan.config_member,
                    diff_ids.len(),
                    plan.layers.len()
                )));
            }
            let pending: Vec<PendingLayer<'_>> = plan
                .layers
                .iter()
                .zip(diff_ids)
                .map(|(layer, diff_id)| PendingLayer {
                    spec: LayerSpec {
                        label: &layer.member,
                        blob_digest: layer.blob_digest.as_deref(),
                        media_type: layer.media_type.as_deref(),
                        diff_id: Some(diff_id),
                    },
                    open: Box::new(|| {
                        let Some(owned) = &owned else {
                            return Ok(LayerBlob::Stream(source.open_member(&layer.member)?.0));
                        };
                        if !(owned.arrived)(&layer.member) {
                            return Err(source.bad(format!("{} never arrived", layer.member)));
                        }
                        match source.member_file(&layer.member) {
                            Some(file) if owned.verified => Ok(LayerBlob::Verified(file)),
                            Some(file) => Ok(LayerBlob::Owned(file)),
                            None => Ok(LayerBlob::Stream(source.open_member(&layer.member)?.0)),
                        }
                    }),
                })
                .collect();
            let layers = ingest_layers(self, work, &pending, progress)?;
            let record = assemble_image(work, &config_bytes, layers, plan.manifest)?;
            images.push(NewImage {
                record,
                tags: plan.tags,
            });
        }
        self.commit(work, images)
    }
}

fn docker_entries(source: &Source) -> Result<Vec<DockerManifestEntry>> {
    from_json(&source.read_small("manifest.json")?, "manifest.json")
}

/// Plans from a `docker save` `manifest.json`.
fn docker_plans(source: &Source) -> Result<Vec<Plan>> {
    docker_entries(source)?
        .into_iter()
        .map(|entry| {
            Ok(Plan {
                config_digest: digest_in_name(&entry.config).map(|hex| format!("sha256:{hex}")),
                config_member: entry.config,
                layers: entry
                    .layers
                    .into_iter()
                    .map(|member| PlanLayer {
                        blob_digest: member
                            .strip_prefix("blobs/sha256/")
                            .filter(|hex| is_sha256_hex(hex))
                            .map(|hex| format!("sha256:{hex}")),
                        member,
                        media_type: None,
                    })
                    .collect(),
                manifest: None,
                tags: normalized_tags(entry.repo_tags.as_deref().unwrap_or_default()),
            })
        })
        .collect()
}

/// The 64-hex digest in a docker-save member name (`<hex>.json`, `blobs/sha256/<hex>`).
fn digest_in_name(name: &str) -> Option<&str> {
    let last = name.rsplit('/').next()?;
    let hex = last.strip_suffix(".json").unwrap_or(last);
    is_sha256_hex(hex).then_some(hex)
}

fn normalized_tags(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| match reference::normalize(t) {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(tag = %t, error = %e, "ignoring unusable tag in archive");
                None
            }
        })
        .collect()
}

fn blob_member(source: &Source, digest: &str) -> Result<String> {
    sha256_hex(digest)
        .map(|hex| format!("blobs/sha256/{hex}"))
        .ok_or_else(|| {
            source.bad(format!(
                "unsupported or malformed digest {digest:?} (only sha256)"
            ))
        })
}

/// Reads a blob named by a descriptor, checking size and digest.
fn read_descriptor(source: &Source, descriptor: &Descriptor) -> Result<Vec<u8>> {
    let bytes = source.read_small(&blob_member(source, &descriptor.digest)?)?;
    let actual = sha256_digest(&bytes);
    if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
        return Err(StoreError::DigestMismatch {
            what: format!(
                "blob {} (size {} expected {})",
                descriptor.digest,
                bytes.len(),
                descriptor.size
            ),
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Plans from an OCI layout's `index.json` (nested indexes: linux/amd64 is picked).
fn oci_plans(source: &Source) -> Result<Vec<Plan>> {
    let index: ImageIndex = from_json(&source.read_small("index.json")?, "index.json")?;
    let mut by_manifest: BTreeMap<String, Plan> = BTreeMap::new();
    for descriptor in index.manifests {
        let tags = oci_tags(&descriptor);
        let Some(manifest_descriptor) = pick_manifest(source, descriptor, 0)? else {
            continue;
        };
        if let Some(plan) = by_manifest.get_mut(&manifest_descriptor.digest) {
            plan.tags.extend(tags);
            continue;
        }
        let bytes = read_descriptor(source, &manifest_descriptor)?;
        let manifest: Manifest =
            from_json(&bytes, &format!("manifest {}", manifest_descriptor.digest))?;
        let plan = Plan {
            config_member: blob_member(source, &manifest.config.digest)?,
            config_digest: Some(manifest.config.digest.clone()),
            layers: manifest
                .layers
                .iter()
                .map(|l| {
                    Ok(PlanLayer {
                        member: blob_member(source, &l.digest)?,
                        blob_digest: Some(l.digest.clone()),
                        media_type: Some(l.media_type.clone()),
                    })
                })
                .collect::<Result<_>>()?,
            manifest: Some((bytes, manifest_descriptor.media_type.clone())),
            tags,
        };
        by_manifest.insert(manifest_descriptor.digest.clone(), plan);
    }
    let mut plans: Vec<Plan> = by_manifest.into_values().collect();
    for plan in &mut plans {
        plan.tags.sort();
        plan.tags.dedup();
    }
    Ok(plans)
}

/// Follows nested indexes down to the linux/amd64 image manifest descriptor.
fn pick_manifest(
    source: &Source,
    descriptor: Descriptor,
    depth: usize,
) -> Result<Option<Descriptor>> {
    if descriptor.media_type != MEDIA_OCI_INDEX
        && descriptor.media_type != MEDIA_DOCKER_MANIFEST_LIST
    {
        return Ok(Some(descriptor));
    }
    if depth >= MAX_INDEX_DEPTH {
        return Err(source.bad("image indexes nested too deeply"));
    }
    let bytes = read_descriptor(source, &descriptor)?;
    let nested: ImageIndex = from_json(&bytes, &format!("image index {}", descriptor.digest))?;
    let chosen = nested.manifests.into_iter().find(|m| {
        m.platform
            .as_ref()
            .is_none_or(|p| p.os == "linux" && p.architecture == "amd64")
    });
    match chosen {
        Some(d) => pick_manifest(source, d, depth + 1),
        None => {
            tracing::warn!(index = %descriptor.digest, "no linux/amd64 image in index; skipped");
            Ok(None)
        }
    }
}

/// Image names from a descriptor's annotations.
fn oci_tags(descriptor: &Descriptor) -> Vec<String> {
    let Some(annotations) = &descriptor.annotations else {
        return Vec::new();
    };
    let name = annotations.get(ANNOTATION_IMAGE_NAME).or_else(|| {
        // A bare ref.name is only a tag (no repository): unusable as a name.
        annotations
            .get(ANNOTATION_REF_NAME)
            .filter(|r| r.contains(':') || r.contains('/'))
    });
    name.map(|n| normalized_tags(std::slice::from_ref(n)))
        .unwrap_or_default()
}
