//! `hull save`: images to one tar that is both a `docker save` archive (`manifest.json`)
//! and an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), as Docker >= 25
//! writes, so `docker load`, `podman load` and `hull load` all accept it.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::digest::sha256_hex;
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{fsync_dir, unique_path};
use crate::oci::{
    Descriptor, DockerManifestEntry, ImageIndex, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME,
    MEDIA_OCI_INDEX, OCI_LAYOUT,
};
use crate::reference;
use crate::store::{resolve_id, Store};

impl Store {
    /// Writes the images `references` name to `out` (atomically: temp file + rename).
    /// Names given as `name:tag` are recorded as tags; images given by id get none (Docker).
    pub fn save(&self, references: &[&str], out: &Path) -> Result<()> {
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let tmp = unique_path(parent, ".hull-save");
        let result = (|| {
            let mut file = File::create(&tmp).io("create", &tmp)?;
            self.save_to_writer(references, &mut file)?;
            file.sync_all().io("sync", &tmp)?;
            fs::rename(&tmp, out).io("rename into place", out)?;
            fsync_dir(parent)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Writes the archive to any writer (e.g. stdout for `hull save IMAGE > file`).
    pub fn save_to_writer(&self, references: &[&str], writer: &mut dyn Write) -> Result<()> {
        let index = self.read_index()?;
        let mut chosen: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut order = Vec::new();
        for reference in references {
            let id = resolve_id(&index, reference)?;
            if !chosen.contains_key(&id) {
                order.push(id.clone());
            }
            let tags = chosen.entry(id).or_default();
            if let Ok(name) = reference::normalize(reference) {
                if index.refs.contains_key(&name) {
                    tags.insert(name);
                }
            }
        }

        let mut builder = tar::Builder::new(writer);
        let put_bytes = |builder: &mut tar::Builder<&mut dyn Write>, name: &str, bytes: &[u8]| {
            builder
                .append_data(&mut header(bytes.len() as u64), name, bytes)
                .io("write archive member", name)
        };
        put_bytes(&mut builder, "oci-layout", OCI_LAYOUT.as_bytes())?;
        let mut written = BTreeSet::new();
        let mut descriptors = Vec::new();
        let mut docker_entries = Vec::new();
        for id in &order {
            let record = &index.images[id];
            let mut blobs = vec![record.id.clone(), record.manifest_digest.clone()];
            blobs.extend(record.layers.iter().map(|l| l.blob_digest.clone()));
            for digest in blobs {
                if !written.insert(digest.clone()) {
                    continue;
                }
                let path = self.blob_path(&digest)?;
                let file = File::open(&path).io("open blob", &path)?;
                let size = file.metadata().io("inspect", &path)?.len();
                let name = format!("blobs/sha256/{}", sha256_hex(&digest).unwrap_or_default());
                builder
                    .append_data(&mut header(size), &name, file)
                    .io("write archive member", &name)?;
            }
            let manifest_size = fs::metadata(self.blob_path(&record.manifest_digest)?)
                .io("inspect", self.blob_path(&record.manifest_digest)?)?
                .len();
            let tags = &chosen[id];
            let descriptor = |annotations| Descriptor {
                media_type: record.manifest_media_type.clone(),
                digest: record.manifest_digest.clone(),
                size: manifest_size,
                annotations,
                platform: None,
            };
            if tags.is_empty() {
                descriptors.push(descriptor(None));
            }
            for tag in tags {
                let (_, bare_tag) = reference::split(tag);
                let annotations = BTreeMap::from([
                    (ANNOTATION_IMAGE_NAME.to_owned(), tag.clone()),
                    (ANNOTATION_REF_NAME.to_owned(), bare_tag.to_owned()),
                ]);
                descriptors.push(descriptor(Some(annotations)));
            }
            docker_entries.push(DockerManifestEntry {
                config: format!(
                    "blobs/sha256/{}",
                    sha256_hex(&record.id).unwrap_or_default()
                ),
                repo_tags: Some(tags.iter().cloned().collect()),
                layers: record
                    .layers
                    .iter()
                    .map(|l| {
                        format!(
                            "blobs/sha256/{}",
                            sha256_hex(&l.blob_digest).unwrap_or_default()
                        )
                    })
                    .collect(),
            });
        }
        let oci_index = ImageIndex {
            schema_version: 2,
            media_type: Some(MEDIA_OCI_INDEX.to_owned()),
            manifests: descriptors,
        };
        let json = |value: &dyn erased::Json, what: &str| {
            value.to_json().map_err(|source| StoreError::Json {
                what: what.to_owned(),
                source,
            })
        };
        put_bytes(&mut builder, "index.json", &json(&oci_index, "index.json")?)?;
        put_bytes(
            &mut builder,
            "manifest.json",
            &json(&docker_entries, "manifest.json")?,
        )?;
        builder
            .into_inner()
            .and_then(|w| w.flush())
            .io("finish archive", "(output)")
    }
}

/// A plain read-only file header with a fixed time, so saving twice gives identical bytes.
fn header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o644);
    header.set_size(size);
    header.set_mtime(0);
    header
}

/// Serialising two different types through one closure.
mod erased {
    pub(super) trait Json {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
            serde_json::to_vec(self)
        }
    }
}
