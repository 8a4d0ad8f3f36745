//! Bringing one layer blob into a work directory: store the blob, verify its digest, decode
//! it (gzip/zstd/plain), apply it safely to a staging dir, verify the diff id, and build the
//! read-only block image. Nothing here touches the store itself; `Store::commit` publishes.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use crate::apply::{apply_layer, ApplyLimits};
use crate::blockimage::build_layer_image;
use crate::digest::{is_limit_exceeded, sha256_hex, HashingReader, HashingWriter};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{remove_any, unique_path};
use crate::index::LayerRecord;
use crate::oci::{MEDIA_OCI_LAYER_GZIP, MEDIA_OCI_LAYER_TAR, MEDIA_OCI_LAYER_ZSTD};
use crate::progress::{Progress, ProgressReader};
use crate::store::Store;
use crate::workdir::WorkDir;

/// Compression of a layer blob, from its magic bytes (the media type is not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    fn sniff(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    fn media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_OCI_LAYER_TAR,
            Compression::Gzip => MEDIA_OCI_LAYER_GZIP,
            Compression::Zstd => MEDIA_OCI_LAYER_ZSTD,
        }
    }
}

/// What the archive says about a layer.
pub(crate) struct LayerSpec<'a> {
    /// For messages: archive member name or digest.
    pub(crate) label: &'a str,
    /// Digest of the blob, when the archive states one (OCI); `None` for legacy docker-save.
    pub(crate) blob_digest: Option<&'a str>,
    /// Media type, when the archive states one.
    pub(crate) media_type: Option<&'a str>,
    /// The diff id from the image config, when known.
    pub(crate) diff_id: Option<&'a str>,
}

/// Stores `source` as a blob in `work/blobs/`, converts it into `work/layers/` unless the
/// store or the work dir already has that layer, and returns its record.
pub(crate) fn ingest_layer(
    store: &Store,
    work: &WorkDir,
    source: impl Read,
    spec: &LayerSpec<'_>,
    progress: &dyn Progress,
) -> Result<LayerRecord> {
    let blobs = work.path().join("blobs");
    let layers = work.path().join("layers");
    for dir in [&blobs, &layers] {
        fs::create_dir_all(dir).io("create", dir)?;
    }

    let started = Instant::now();
    // 1. Copy the blob, hashing it; verify before decoding anything.
    let incoming = unique_path(work.path(), "incoming");
    let mut writer = HashingWriter::new(File::create(&incoming).io("create", &incoming)?);
    let mut limited = HashingReader::new(source, store.options.max_layer_bytes).0;
    io::copy(&mut limited, &mut writer).map_err(|e| {
        if is_limit_exceeded(&e) {
            StoreError::LayerTooLarge {
                layer: spec.label.to_owned(),
                limit: store.options.max_layer_bytes,
            }
        } else {
            StoreError::Corrupt {
                what: format!("layer {}", spec.label),
                source: e,
            }
        }
    })?;
    let (file, blob_digest, blob_size) = writer.finish();
    drop(file);
    if let Some(expected) = spec.blob_digest {
        if expected != blob_digest {
            return Err(StoreError::DigestMismatch {
                what: format!("layer blob {}", spec.label),
                expected: expected.to_owned(),
                actual: blob_digest,
            });
        }
    }
    let blob_hex = sha256_hex(&blob_digest).unwrap_or_default().to_owned();
    let blob_path = blobs.join(&blob_hex);
    fs::rename(&incoming, &blob_path).io("rename", &blob_path)?;

    let copied = started.elapsed();
    // 2. Decode, hashing the tar stream; apply it unless the layer is already converted.
    let fstype = store.options.fstype;
    let known = |diff_id: &str| -> Option<PathBuf> {
        let hex = sha256_hex(diff_id)?;
        let in_work = layers.join(format!("{hex}.{}", fstype.as_str()));
        (store.has_layer(diff_id) || in_work.exists()).then_some(in_work)
    };
    let skip_apply = spec.diff_id.and_then(known).is_some();

    let file = File::open(&blob_path).io("open", &blob_path)?;
    progress.start(
        &format!("converting {}", short(spec.label)),
        Some(blob_size),
    );
    let mut buffered = BufReader::with_capacity(1 << 20, ProgressReader::new(file, progress));
    let compression = Compression::sniff(buffered.fill_buf().io("read", &blob_path)?);
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(buffered).io("decode zstd", &blob_path)?)
        }
    };
    let (diff_reader, diff_hash) = HashingReader::new(decoder, store.options.max_layer_bytes);
    let staging = unique_path(work.path(), "staging");
    let stream_error = |e: io::Error| {
        if is_limit_exceeded(&e) {
            StoreError::LayerTooLarge {
                layer: spec.label.to_owned(),
                limit: store.options.max_layer_bytes,
            }
        } else {
            StoreError::Corrupt {
                what: format!("layer {}", spec.label),
                source: e,
            }
        }
    };
    let mut rest = if skip_apply {
        diff_reader
    } else {
        fs::create_dir(&staging).io("create", &staging)?;
        let limits = ApplyLimits {
            max_bytes: store.options.max_layer_bytes,
            max_entries: store.options.max_layer_entries,
        };
        apply_layer(diff_reader, &staging, spec.label, limits)?.0
    };
    // The tar end marker may precede padding: the diff id covers every byte.
    io::copy(&mut rest, &mut io::sink()).map_err(stream_error)?;
    drop(rest);
    progress.finish();
    let diff_id = diff_hash.digest();
    let diff_size = diff_hash.count();
    if let Some(expected) = spec.diff_id {
        if expected != diff_id {
            let _ = remove_any(&staging);
            return Err(StoreError::DigestMismatch {
                what: format!(
                    "uncompressed layer {} (diff_id in the image config)",
                    spec.label
                ),
                expected: expected.to_owned(),
                actual: diff_id,
            });
        }
    }

    let applied = started.elapsed();
    // 3. Build the block image (named by diff id) unless it exists.
    if !skip_apply {
        let hex = sha256_hex(&diff_id).unwrap_or_default();
        let out = layers.join(format!("{hex}.{}", fstype.as_str()));
        if !store.has_layer(&diff_id) && !out.exists() {
            progress.message(&format!(
                "building {} image of layer {}",
                fstype.as_str(),
                short(&diff_id)
            ));
            let tmp = unique_path(work.path(), "image");
            build_layer_image(work, fstype, &staging, &tmp, hex)?;
            fs::rename(&tmp, &out).io("rename", &out)?;
        }
        remove_any(&staging)?;
    }

    tracing::debug!(
        layer = spec.label,
        bytes = diff_size,
        copy_ms = copied.as_millis(),
        apply_ms = (applied - copied).as_millis(),
        mkfs_ms = (started.elapsed() - applied).as_millis(),
        reused = skip_apply,
        "layer ingested"
    );
    Ok(LayerRecord {
        blob_digest,
        blob_media_type: spec
            .media_type
            .map_or_else(|| compression.media_type().to_owned(), str::to_owned),
        blob_size,
        diff_id,
        diff_size,
        fstype,
    })
}

/// A digest or name shortened for progress lines.
fn short(label: &str) -> &str {
    let hex = label.strip_prefix("sha256:").unwrap_or(label);
    if sha256_hex(label).is_some() {
        &hex[..12]
    } else {
        label
    }
}
