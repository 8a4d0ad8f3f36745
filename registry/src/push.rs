//! `hull push`: each blob the registry lacks is mounted from a sibling repository or
//! uploaded (HEAD first: what the registry has is skipped), then the manifest as stored, so
//! the pushed image keeps the digest it has locally.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use futures_util::{StreamExt, TryStreamExt};
use oci_client::RegistryOperation;

use crate::error::{RegistryError, Result};
use crate::name::ImageName;
use crate::observer::{short_digest, TransferEvent, TransferObserver};
use crate::session::{Session, PARALLEL_TRANSFERS};

/// One blob of an image to push.
#[derive(Debug, Clone)]
pub struct PushBlob {
    /// `sha256:...`.
    pub digest: String,
    /// Bytes.
    pub size: u64,
    /// The stored file.
    pub path: PathBuf,
}

/// A stored image as a push needs it.
#[derive(Debug, Clone)]
pub struct PushSource {
    /// The manifest's exact bytes.
    pub manifest: Vec<u8>,
    /// Its media type (the `Content-Type` of the upload).
    pub media_type: String,
    /// The image config.
    pub config: PushBlob,
    /// The layers, bottom first.
    pub layers: Vec<PushBlob>,
    /// Other repositories of the same registry the image is tagged in: blobs are mounted
    /// from them rather than uploaded again.
    pub mount_from: Vec<String>,
}

/// What a push left in the registry.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// `sha256:` of the manifest.
    pub digest: String,
    /// The manifest's size in bytes.
    pub size: usize,
}

/// How often a running upload reports its byte count.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);
/// Upload read size.
const CHUNK: usize = 1 << 20;

impl Session {
    /// Pushes `source` as `name` (which must carry a tag).
    pub fn push(
        &self,
        name: &ImageName,
        source: &PushSource,
        observer: &dyn TransferObserver,
    ) -> Result<Pushed> {
        self.block_on(async {
            let classify = |e| RegistryError::from_client(&self.registry, &name.to_string(), e);
            self.client
                .auth(name.reference(), &self.auth, RegistryOperation::Push)
                .await
                .map_err(classify)?;
            for layer in &source.layers {
                observer.blob(short_digest(&layer.digest), TransferEvent::Waiting);
            }
            let silent = ();
            let mut blobs: Vec<(&PushBlob, &dyn TransferObserver)> =
                source.layers.iter().map(|l| (l, observer)).collect();
            blobs.push((&source.config, &silent));
            futures_util::stream::iter(blobs)
                .map(|(blob, observer)| self.push_blob(name, blob, &source.mount_from, observer))
                .buffer_unordered(PARALLEL_TRANSFERS)
                .try_collect::<()>()
                .await?;
            let content_type = source
                .media_type
                .parse()
                .map_err(|_| RegistryError::Protocol {
                    registry: self.registry.clone(),
                    reason: format!("unusable manifest media type {:?}", source.media_type),
                })?;
            self.client
                .push_manifest_raw(name.reference(), source.manifest.clone(), content_type)
                .await
                .map_err(classify)?;
            Ok(Pushed {
                digest: crate::manifest::sha256_digest(&source.manifest),
                size: source.manifest.len(),
            })
        })
    }

    async fn push_blob(
        &self,
        name: &ImageName,
        blob: &PushBlob,
        mount_from: &[String],
        observer: &dyn TransferObserver,
    ) -> Result<()> {
        let id = short_digest(&blob.digest);
        let classify = |e| RegistryError::from_client(&self.registry, &blob.digest, e);
        if self
            .client
            .blob_exists(name.reference(), &blob.digest)
            .await
            .map_err(classify)?
        {
            observer.blob(id, TransferEvent::AlreadyExists);
            return Ok(());
        }
        for repository in mount_from.iter().filter(|r| *r != name.repository()) {
            let source = name.sibling(repository);
            if self
                .client
                .mount_blob(name.reference(), source.reference(), &blob.digest)
                .await
                .is_ok()
            {
                observer.blob(
                    id,
                    TransferEvent::Mounted {
                        from: repository.clone(),
                    },
                );
                return Ok(());
            }
        }
        let sent = Arc::new(AtomicU64::new(0));
        let file = File::open(&blob.path).map_err(|e| RegistryError::io("open", &blob.path, e))?;
        let stream = file_chunks(file, Arc::clone(&sent));
        let mut upload = pin!(self.client.push_blob_stream(
            name.reference(),
            stream,
            &blob.digest,
            Some(blob.size)
        ));
        let result = loop {
            let tick = pin!(tokio::time::sleep(PROGRESS_INTERVAL));
            match futures_util::future::select(upload.as_mut(), tick).await {
                Either::Left((result, _)) => break result,
                Either::Right(_) => observer.blob(
                    id,
                    TransferEvent::Progress {
                        done: sent.load(Ordering::Relaxed),
                        total: blob.size,
                    },
                ),
            }
        };
        result.map_err(classify)?;
        observer.blob(id, TransferEvent::Pushed);
        Ok(())
    }
}

/// A file as a stream of 1 MiB chunks, counting what was read into `sent`.
fn file_chunks(
    file: File,
    sent: Arc<AtomicU64>,
) -> impl futures_util::Stream<Item = oci_client::errors::Result<bytes::Bytes>> + Send + 'static {
    futures_util::stream::unfold(Some(file), move |file| {
        let sent = Arc::clone(&sent);
        async move {
            let mut file = file?;
            let mut buffer = vec![0; CHUNK];
            match file.read(&mut buffer) {
                Ok(0) => None,
                Ok(n) => {
                    buffer.truncate(n);
                    sent.fetch_add(n as u64, Ordering::Relaxed);
                    Some((Ok(bytes::Bytes::from(buffer)), Some(file)))
                }
                Err(e) => Some((Err(e.into()), None)),
            }
        }
    })
}
