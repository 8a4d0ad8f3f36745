//! hull's image store: OCI images in, one read-only block image per layer out.
//!
//! # API (what the `hull` CLI calls)
//!
//! ```no_run
//! use hull_rootfs::{create_writable_disk, Store};
//! # fn main() -> Result<(), hull_rootfs::StoreError> {
//! let store = Store::open(&Store::default_root())?;          // HULL_ROOT or /var/lib/hull
//! // `hull run busybox`: implicit "pull" of offline base images (busybox, debian:bookworm, scratch)
//! let image = store.ensure_base_image("busybox", &())?.expect("busybox is a base image");
//! for (n, layer) in image.layers.iter().enumerate() {
//!     // disk `hull-layer-{n}`: layer.path, read-only, layer.fstype ("erofs")
//! }
//! create_writable_disk(std::path::Path::new("/tmp/rw.img"), 1 << 30)?; // `hull-rw`: ext4 with upper/ work/
//! # Ok(()) }
//! ```
//!
//! | verb | call | returns (all `Serialize`) |
//! |---|---|---|
//! | `images` | [`Store::list`] | `Vec<ImageSummary>` (one row per tag; `<none>` for dangling) |
//! | `load -i F` | [`Store::load`]`(path, &progress)` | `Vec<Image>` (docker-save tar, OCI dir or tar, gzip'd tar) |
//! | `load` (stdin) | [`Store::load_reader`]`(&mut stdin, &progress)` | `Vec<Image>` |
//! | `save -o F I..` | [`Store::save`]`(&refs, out)` / [`Store::save_to_writer`] | `()`; tar with `manifest.json` + OCI `index.json` |
//! | `rmi [-f] I` | [`Store::remove`]`(ref, force, &in_use)` | `Vec<Removed>` (Untagged / Deleted) |
//! | `tag S T` | [`Store::tag`] | `()` |
//! | `inspect I` | [`Store::inspect`] | [`ImageInspect`] (Docker's shape + `Hull`) |
//! | `history I` | [`Store::history`] | `Vec<HistoryEntry>`, newest first |
//! | `image prune [-a]` | [`Store::prune`]`(all, &in_use)` | [`PruneReport`] |
//! | `image bootstrap N` | [`Store::bootstrap`]`(name, &progress)` | [`Image`] |
//! | `run I` | [`Store::resolve`] / [`Store::ensure_base_image`] | [`Image`] / `Option<Image>` |
//!
//! `in_use` gets an image id and says whether a container uses it (the CLI owns containers).
//! Long work reports through [`Progress`] (`&()` is silent; every method has a default).
//! The CLI wraps an indicatif bar; a minimal reporter:
//!
//! ```
//! struct Stderr;
//! impl hull_rootfs::Progress for Stderr {
//!     fn start(&self, task: &str, total: Option<u64>) {
//!         eprintln!("{task} ({} bytes)", total.unwrap_or(0));
//!     }
//!     fn message(&self, line: &str) {
//!         eprintln!("{line}");
//!     }
//! }
//! let _reporter: &dyn hull_rootfs::Progress = &Stderr;
//! ```
//! Errors are [`StoreError`]: each message says what to do next.
//!
//! Concurrency and crashes: readers need no lock (`index.json` is replaced atomically);
//! writers convert in a private `tmp/work-*` dir and take the store flock only to commit.
//! A process killed at any point leaves the previous index intact; its temp data is removed
//! by the next [`Store::open`], unreferenced blobs by [`Store::prune`].

mod apply;
mod assemble;
mod blockimage;
mod bootstrap;
mod commit;
mod digest;
mod distribution;
mod error;
mod export;
mod fsutil;
mod image;
mod index;
mod ingest;
mod ingest_parallel;
mod layer_entry;
mod layer_erofs;
mod load;
mod oci;
mod progress;
mod reference;
mod source;
mod squash;
mod store;
mod tool;
mod treetar;
mod untrusted_tar;
mod workdir;

pub use blockimage::{create_writable_disk, create_writable_disk_from_template, FsType};
pub use bootstrap::BaseImage;
pub use commit::{CommitInfo, DOCKER_CONFIG_EXTENSIONS};
pub use distribution::{StoredBlob, StoredManifest};
pub use error::{Result, StoreError};
pub use image::{
    short_id, HistoryEntry, Image, ImageInspect, ImageSummary, InspectHull, InspectRootFs,
    LayerImage, PruneReport, Removed,
};
pub use progress::Progress;
pub use reference::{normalize as normalize_reference, DEFAULT_TAG};
pub use store::{Store, StoreOptions, DEFAULT_MAX_LAYER_BYTES, DEFAULT_ROOT};
pub use untrusted_tar::{ExtractError, ExtractLimits, Extractor, Rebase, Refiler};
