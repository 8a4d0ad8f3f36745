//! One blob from the registry into the download cache: resumed from what an interrupted
//! pull left, checked against its descriptor's size and digest before it is kept.
//!
//! Cache layout (under the store, kept across pulls): `<hex>.partial` while bytes arrive,
//! renamed to `<hex>` only once every byte matched the digest.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use oci_client::client::BlobResponse;
use sha2::{Digest, Sha256};

use crate::error::{RegistryError, Result};
use crate::manifest::format_digest;
use crate::name::ImageName;
use crate::observer::{short_digest, TransferEvent, TransferObserver};
use crate::session::Session;

/// Bytes gathered before a write to the cache file.
const WRITE_BUFFER: usize = 1 << 20;

/// A blob to fetch: what the manifest promises about it.
pub(crate) struct Wanted<'a> {
    pub(crate) digest: &'a str,
    pub(crate) size: u64,
}

impl Session {
    /// Downloads `wanted` into `cache` (resuming a partial download) and returns the
    /// verified file. A digest or size mismatch deletes what was fetched.
    pub(crate) async fn download_blob(
        &self,
        name: &ImageName,
        wanted: &Wanted<'_>,
        cache: &Path,
        observer: &dyn TransferObserver,
    ) -> Result<PathBuf> {
        let hex = &wanted.digest["sha256:".len()..];
        let complete = cache.join(hex);
        if fs::metadata(&complete).is_ok_and(|m| m.len() == wanted.size) {
            observer.blob(short_digest(wanted.digest), TransferEvent::Downloaded);
            return Ok(complete);
        }
        let partial = cache.join(format!("{hex}.partial"));
        let (mut hasher, mut offset) = resume_point(&partial, wanted.size)?;
        if offset > 0 {
            observer.blob(
                short_digest(wanted.digest),
                TransferEvent::Resuming { offset },
            );
        }
        let response = self
            .client
            .pull_blob_stream_partial(name.reference(), wanted.digest, offset, None)
            .await
            .map_err(|e| RegistryError::from_client(&self.registry, wanted.digest, e))?;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)
            .map_err(|e| RegistryError::io("open", &partial, e))?;
        let mut stream = match response {
            BlobResponse::Partial(stream) => stream,
            BlobResponse::Full(stream) => {
                // The registry ignored the range: start over.
                file.set_len(0)
                    .map_err(|e| RegistryError::io("truncate", &partial, e))?;
                (hasher, offset) = (Sha256::new(), 0);
                stream
            }
        };
        // HTTP chunks are a few KiB: written one by one they cost a system call each.
        // Dropped on an early return, the buffer still flushes what arrived (kept for a
        // resume, which re-reads and re-hashes it).
        let mut file = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut done = offset;
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                // oci-client fails a full response whose digest is wrong at its end: judge
                // the bytes ourselves below, the same as a partial response.
                Err(_) if done == wanted.size => break,
                Err(error) => {
                    return Err(RegistryError::Interrupted {
                        registry: self.registry.clone(),
                        reason: format!(
                            "blob {} broke off after {done} of {} bytes ({error}); run the pull \
                             again to resume",
                            wanted.digest, wanted.size
                        ),
                    })
                }
            };
            done += chunk.len() as u64;
            if done > wanted.size {
                drop(fs::remove_file(&partial));
                return Err(self.blob_corrupt(
                    wanted,
                    format!("more than the {} bytes its descriptor states", wanted.size),
                ));
            }
            hasher.update(&chunk);
            file.write_all(&chunk)
                .map_err(|e| RegistryError::io("write", &partial, e))?;
            observer.blob(
                short_digest(wanted.digest),
                TransferEvent::Progress {
                    done,
                    total: wanted.size,
                },
            );
        }
        if done < wanted.size {
            return Err(RegistryError::Interrupted {
                registry: self.registry.clone(),
                reason: format!(
                    "blob {} ended after {done} of {} bytes; run the pull again to resume",
                    wanted.digest, wanted.size
                ),
            });
        }
        let actual = format_digest(&hasher.finalize());
        if actual != wanted.digest {
            drop(fs::remove_file(&partial));
            return Err(self.blob_corrupt(wanted, format!("its content hashes to {actual}")));
        }
        file.flush()
            .and_then(|()| file.get_ref().sync_all())
            .map_err(|e| RegistryError::io("sync", &partial, e))?;
        fs::rename(&partial, &complete).map_err(|e| RegistryError::io("rename", &partial, e))?;
        observer.blob(short_digest(wanted.digest), TransferEvent::Downloaded);
        Ok(complete)
    }

    fn blob_corrupt(&self, wanted: &Wanted<'_>, reason: String) -> RegistryError {
        RegistryError::Corrupt {
            registry: self.registry.clone(),
            what: format!("blob {}", wanted.digest),
            reason,
        }
    }
}

/// The hash state and length of a kept partial download (re-read: the cache is not trusted
/// more than the network), or a fresh start when there is none or it is too long.
fn resume_point(partial: &Path, size: u64) -> Result<(Sha256, u64)> {
    let mut hasher = Sha256::new();
    let mut file = match File::open(partial) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((hasher, 0)),
        Err(e) => return Err(RegistryError::io("open", partial, e)),
    };
    let length = file
        .metadata()
        .map_err(|e| RegistryError::io("inspect", partial, e))?
        .len();
    if length >= size {
        drop(fs::remove_file(partial));
        return Ok((hasher, 0));
    }
    let mut buffer = vec![0; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .map_err(|e| RegistryError::io("read", partial, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok((hasher, length))
}
