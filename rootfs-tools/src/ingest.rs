//! Bringing one layer blob into a work directory: store the blob, verify its digest, decode
//! it (gzip/zstd/plain), apply it safely to a staging dir, verify the diff id, and build the
//! read-only block image. Nothing here touches the store itself; `Store::commit` publishes.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::PathBuf;
use std::time::Instant;

use crate::apply::{apply_layer, ApplyLimits};
use crate::blockimage::{build_layer_image, FsType};
use crate::digest::{is_limit_exceeded, sha256_hex, HashingReader, HashingWriter};
use crate::error::{IoContext, Result, StoreError};
use crate::fsutil::{remove_any, unique_path};
use crate::index::LayerRecord;
use crate::layer_erofs::build_erofs_layer;
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

/// A layer blob to ingest.
pub(crate) enum LayerBlob<'a> {
    /// Bytes to copy into the store (an archive member, a stream).
    Stream(Box<dyn Read + 'a>),
    /// A file of the caller's own, on the store's filesystem (a pull's download, a layer hull
    /// just wrote), that the store may take as it is: hard-linked, not copied; its digest is
    /// checked in the same pass that decodes it.
    Owned(PathBuf),
    /// An owned file whose bytes the caller has already checked against the layer's blob
    /// digest (a pull's download, verified as it arrived): taken as `Owned`, without hashing
    /// it a second time. The diff id is still checked as it decodes.
    Verified(PathBuf),
}

/// The blob in `work`, before its digest is known to be right.
struct Incoming {
    path: PathBuf,
    /// Digest and size, when already verified (copied streams); an owned file's are
    /// computed while it is decoded.
    verified: Option<(String, u64)>,
}

/// Stores `blob` in `work/blobs/`, converts it into `work/layers/` unless the store or the
/// work dir already has that layer, and returns its record.
pub(crate) fn ingest_layer(
    store: &Store,
    work: &WorkDir,
    blob: LayerBlob<'_>,
    spec: &LayerSpec<'_>,
    progress: &dyn Progress,
) -> Result<LayerRecord> {
    let blobs = work.path().join("blobs");
    let layers = work.path().join("layers");
    for dir in [&blobs, &layers] {
        fs::create_dir_all(dir).io("create", dir)?;
    }
    if let Some(known) = stored_layer(store, spec)? {
        // Content-addressed: the store's own blob and image are this layer (Docker's
        // "Already exists"); the offered bytes are not read.
        tracing::debug!(layer = spec.label, "layer already in the store");
        return Ok(known);
    }
    let started = Instant::now();
    let incoming = take_blob(store, work, blob, spec)?;
    let result = convert(store, work, &incoming, spec, progress, started);
    if result.is_err() {
        let _ = fs::remove_file(&incoming.path);
    }
    result
}

/// The store's record of the layer `spec` names by both its blob digest and its diff id,
/// when the store holds that blob and its image (in the layer's filesystem type).
fn stored_layer(store: &Store, spec: &LayerSpec<'_>) -> Result<Option<LayerRecord>> {
    let (Some(blob_digest), Some(diff_id)) = (spec.blob_digest, spec.diff_id) else {
        return Ok(None);
    };
    let fstype = store.options.fstype;
    let index = store.read_index()?;
    let known = index
        .images
        .values()
        .flat_map(|image| &image.layers)
        .find(|l| l.blob_digest == blob_digest && l.diff_id == diff_id && l.fstype == fstype)
        .filter(|_| store.has_layer(diff_id) && store.blob_file(blob_digest).is_some())
        .cloned();
    Ok(known)
}

/// Step 1: the blob into `work`. A stream is copied and hashed, and verified before anything
/// decodes it; an owned file is linked (copied only across filesystems).
fn take_blob(
    store: &Store,
    work: &WorkDir,
    blob: LayerBlob<'_>,
    spec: &LayerSpec<'_>,
) -> Result<Incoming> {
    let incoming = unique_path(work.path(), "incoming");
    let (owned, verified_digest) = match blob {
        LayerBlob::Owned(path) => (path, None),
        LayerBlob::Verified(path) => (path, spec.blob_digest),
        LayerBlob::Stream(source) => return copy_blob(store, source, spec, incoming),
    };
    if fs::hard_link(&owned, &incoming).is_err() {
        fs::copy(&owned, &incoming).io("copy", &owned)?;
    }
    let verified = match verified_digest {
        Some(digest) => {
            let size = fs::metadata(&incoming).io("inspect", &incoming)?.len();
            Some((digest.to_owned(), size))
        }
        None => None,
    };
    Ok(Incoming {
        path: incoming,
        verified,
    })
}

/// [`take_blob`] of a stream: copied into `incoming`, hashed as it is copied and verified.
fn copy_blob(
    store: &Store,
    source: Box<dyn Read + '_>,
    spec: &LayerSpec<'_>,
    incoming: PathBuf,
) -> Result<Incoming> {
    let mut writer = HashingWriter::new(File::create(&incoming).io("create", &incoming)?);
    // The writer hashes; the reader only enforces the size limit.
    let mut limited = HashingReader::counting(source, store.options.max_layer_bytes).0;
    let copied = io::copy(&mut limited, &mut writer);
    let (file, blob_digest, blob_size) = writer.finish();
    drop(file);
    let checked = copied
        .map_err(|e| stream_error(store, spec, e))
        .and_then(|_| check_blob_digest(spec, &blob_digest));
    if let Err(e) = checked {
        let _ = fs::remove_file(&incoming);
        return Err(e);
    }
    Ok(Incoming {
        path: incoming,
        verified: Some((blob_digest, blob_size)),
    })
}

fn check_blob_digest(spec: &LayerSpec<'_>, actual: &str) -> Result<()> {
    match spec.blob_digest {
        Some(expected) if expected != actual => Err(StoreError::DigestMismatch {
            what: format!("layer blob {}", spec.label),
            expected: expected.to_owned(),
            actual: actual.to_owned(),
        }),
        _ => Ok(()),
    }
}

/// The digest of the file at `path`.
fn file_digest(path: &std::path::Path) -> io::Result<String> {
    let (mut reader, hash) = HashingReader::new(File::open(path)?, u64::MAX);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(hash.digest())
}

/// A read error of a layer's bytes: over the size limit, or a corrupt stream.
fn stream_error(store: &Store, spec: &LayerSpec<'_>, e: io::Error) -> StoreError {
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
}

/// Steps 2 and 3: decode `incoming`, apply it to a staging dir, verify the digests, build
/// the block image, and put the blob in `work/blobs/`.
fn convert(
    store: &Store,
    work: &WorkDir,
    incoming: &Incoming,
    spec: &LayerSpec<'_>,
    progress: &dyn Progress,
    started: Instant,
) -> Result<LayerRecord> {
    let blobs = work.path().join("blobs");
    let layers = work.path().join("layers");
    let copied = started.elapsed();
    // 2. Decode, hashing the tar stream (and an owned blob's bytes); apply it unless the
    // layer is already converted.
    let fstype = store.options.fstype;
    let known = |diff_id: &str| -> Option<PathBuf> {
        let hex = sha256_hex(diff_id)?;
        let in_work = layers.join(format!("{hex}.{}", fstype.as_str()));
        (store.has_layer(diff_id) || in_work.exists()).then_some(in_work)
    };
    let skip_apply = spec.diff_id.and_then(known).is_some();

    let path = &incoming.path;
    let file = File::open(path).io("open", path)?;
    let file_size = file.metadata().io("inspect", path)?.len();
    progress.start(
        &format!("converting {}", short(spec.label)),
        Some(file_size),
    );
    // A copied stream was hashed as it was copied: count only.
    let read_blob = match incoming.verified {
        Some(_) => HashingReader::counting,
        None => HashingReader::new,
    };
    let (raw, blob_hash) = read_blob(
        ProgressReader::new(file, progress),
        store.options.max_layer_bytes,
    );
    let mut buffered = BufReader::with_capacity(1 << 20, raw);
    let compression = Compression::sniff(
        buffered
            .fill_buf()
            .map_err(|e| stream_error(store, spec, e))?,
    );
    let decoder: Box<dyn Read + '_> = match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => {
            Box::new(zstd::Decoder::with_buffer(buffered).io("decode zstd", path)?)
        }
    };
    let (diff_reader, diff_hash) = HashingReader::new(decoder, store.options.max_layer_bytes);
    let staging = unique_path(work.path(), "staging");
    let image_tmp = unique_path(work.path(), "image");
    let limits = ApplyLimits {
        max_bytes: store.options.max_layer_bytes,
        max_entries: store.options.max_layer_entries,
    };
    let decoded = (|| {
        let (mut rest, pending) = if skip_apply {
            (diff_reader, None)
        } else if fstype == FsType::Erofs {
            // Straight from the tar stream into the image: nothing is unpacked.
            let (rest, pending) = build_erofs_layer(diff_reader, &image_tmp, spec.label, limits)?;
            (rest, Some(pending))
        } else {
            fs::create_dir(&staging).io("create", &staging)?;
            (
                apply_layer(diff_reader, &staging, spec.label, limits)?.0,
                None,
            )
        };
        // The tar end marker may precede padding: the diff id covers every byte.
        io::copy(&mut rest, &mut io::sink()).map_err(|e| stream_error(store, spec, e))?;
        drop(rest);
        progress.finish();
        let (blob_digest, blob_size) = match &incoming.verified {
            Some(verified) => verified.clone(),
            None => {
                // The decoders read to the end of their input: every byte was hashed.
                if blob_hash.count() != file_size {
                    return Err(StoreError::Corrupt {
                        what: format!("layer {}", spec.label),
                        source: io::Error::new(
                            io::ErrorKind::InvalidData,
                            "data after the end of the compressed stream",
                        ),
                    });
                }
                let digest = blob_hash.digest();
                check_blob_digest(spec, &digest)?;
                (digest, file_size)
            }
        };
        let diff_id = diff_hash.digest();
        match spec.diff_id {
            Some(expected) if expected != diff_id => Err(StoreError::DigestMismatch {
                what: format!(
                    "uncompressed layer {} (diff_id in the image config)",
                    spec.label
                ),
                expected: expected.to_owned(),
                actual: diff_id,
            }),
            _ => Ok((blob_digest, blob_size, diff_id, diff_hash.count(), pending)),
        }
    })();
    let (blob_digest, blob_size, diff_id, diff_size, pending) = match decoded {
        Ok(done) => done,
        Err(e) => {
            let _ = remove_any(&staging);
            let _ = remove_any(&image_tmp);
            // Bytes that are not what the manifest promised say so, rather than how they
            // failed to decode.
            if incoming.verified.is_none() {
                if let Ok(digest) = file_digest(path) {
                    check_blob_digest(spec, &digest)?;
                }
            }
            return Err(e);
        }
    };
    let blob_hex = sha256_hex(&blob_digest).unwrap_or_default();
    let blob_path = blobs.join(blob_hex);
    // Synced here, on this layer's worker while later layers still download, rather than by
    // the commit, which would write all of them back one after another at the end.
    let synced = File::open(path).and_then(|f| {
        f.sync_all()?;
        // Nothing reads the blob again soon (a push, maybe): its pages go back now, for the
        // next layers' writes to reuse, instead of growing the page cache by all of them.
        let _ = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
        Ok(())
    });
    synced.io("sync", path)?;
    fs::rename(path, &blob_path).io("rename", &blob_path)?;

    let applied = started.elapsed();
    // 3. Build the block image (named by diff id) unless it exists.
    if !skip_apply {
        let hex = sha256_hex(&diff_id).unwrap_or_default();
        let out = layers.join(format!("{hex}.{}", fstype.as_str()));
        let built = if !store.has_layer(&diff_id) && !out.exists() {
            progress.message(&format!(
                "building {} image of layer {}",
                fstype.as_str(),
                short(&diff_id)
            ));
            match pending {
                Some(pending) => pending.finish(&image_tmp, hex),
                None => build_layer_image(work, fstype, &staging, &image_tmp, hex),
            }
            .and_then(|()| fs::rename(&image_tmp, &out).io("rename", &out))
        } else {
            Ok(())
        };
        remove_any(&staging)?;
        remove_any(&image_tmp)?;
        built?;
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
