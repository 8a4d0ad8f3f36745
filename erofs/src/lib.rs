//! A streaming writer of uncompressed erofs images.
//!
//! mkfs.erofs builds an image from a directory: a layer tarball would have to be unpacked to
//! disk first, and every byte is then written twice and read once more. Here a file's content
//! goes from the reader straight into the image's data area as it arrives (all-zero blocks
//! stay holes in the image file), and only the tree (names, metadata, small files) is held in
//! memory; [`ImageBuilder::finish`] lays out directories and inodes after the data.
//!
//! Layout: block 0 holds the superblock; file data follows from block 1, in arrival order;
//! then directory blocks (and small files that could not be inlined); then the metadata area
//! with every inode (64-byte extended form), its inline xattrs and, when it fits in the same
//! block, its inline tail (small files, symlink targets, small directories). The root inode
//! comes first, so its nid is 0. The image depends only on the calls made, so equal input
//! gives equal bytes.

mod format;
mod layout;
mod tree;

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

pub use format::{BLOCK_SIZE, MAX_NAME_LEN};
pub use tree::{DeviceKind, Metadata, NodeId};

use format::{encode_device, xattr_entry_size, xattr_prefix, BLOCK_BYTES};
use tree::{FileData, Node, NodeKind, Tree};

/// Small files are kept in memory (to be placed inline after their inode) up to this many
/// bytes in all; beyond it they take blocks of their own, so a hostile layer of millions of
/// small files cannot make the writer hold gigabytes.
const INLINE_BUDGET: u64 = 64 << 20;
/// Longest symlink target (Linux's PATH_MAX less the NUL).
const MAX_SYMLINK_LEN: usize = 4095;

/// Why an image could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the image file failed.
    #[error("cannot write the erofs image")]
    Write(#[source] io::Error),
    /// Reading a file's content from its source failed.
    #[error("cannot read the content of a file")]
    Read(#[source] io::Error),
    /// The input cannot be represented (a name too long, a directory linked twice, ...).
    #[error("{0}")]
    Invalid(String),
    /// More data than erofs's 32-bit block addresses reach.
    #[error("the image would exceed erofs's 16 TiB limit")]
    TooLarge,
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What [`ImageBuilder::finish`] needs besides the tree.
#[derive(Debug, Clone, Copy, Default)]
pub struct FinishOptions {
    /// The filesystem UUID.
    pub uuid: [u8; 16],
    /// The superblock's build time (seconds since the epoch).
    pub build_time: u64,
}

/// What an image holds, from [`ImageBuilder::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Inodes reachable from the root (each written once).
    pub inodes: u64,
    /// Length of the image file in bytes.
    pub bytes: u64,
}

/// Whether erofs can store an xattr of this name and value (one of its namespaces, a name
/// suffix of at most 255 bytes, a value under 64 KiB).
pub fn is_storable_xattr(name: &[u8], value: &[u8]) -> bool {
    xattr_prefix(name).is_some_and(|(_, suffix)| suffix.len() <= 255)
        && value.len() <= usize::from(u16::MAX)
}

/// Builds one image: nodes are added and linked into directories, file content is written
/// as it is added, [`ImageBuilder::finish`] writes the rest.
#[derive(Debug)]
pub struct ImageBuilder {
    file: File,
    tree: Tree,
    /// The next free block of the data area.
    next_block: u64,
    /// Bytes of small files held in memory.
    inline_held: u64,
}

impl ImageBuilder {
    /// Starts an image in `file` (empty, opened for writing) whose root directory has `root`.
    pub fn new(file: File, root: Metadata) -> Self {
        Self {
            file,
            tree: Tree::new(root),
            next_block: 1,
            inline_held: 0,
        }
    }

    /// The image file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The root directory.
    pub fn root(&self) -> NodeId {
        NodeId(0)
    }

    /// The node `name` in directory `dir`, if any.
    pub fn lookup(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        self.tree.children(dir)?.get(name).copied()
    }

    /// Whether `node` is a directory.
    pub fn is_directory(&self, node: NodeId) -> bool {
        self.tree.children(node).is_some()
    }

    /// Whether `node` is a symlink.
    pub fn is_symlink(&self, node: NodeId) -> bool {
        matches!(self.tree.nodes[node.0].kind, NodeKind::Symlink(_))
    }

    /// The metadata of `node`, to change.
    pub fn metadata_mut(&mut self, node: NodeId) -> &mut Metadata {
        &mut self.tree.nodes[node.0].meta
    }

    /// A new, empty directory (not yet linked anywhere).
    pub fn add_directory(&mut self, meta: Metadata) -> NodeId {
        self.tree.add(Node {
            meta,
            kind: NodeKind::Directory(Default::default()),
        })
    }

    /// A new symlink to `target` (1 to 4095 bytes, stored as is, never followed).
    pub fn add_symlink(&mut self, meta: Metadata, target: &[u8]) -> Result<NodeId> {
        if target.is_empty() || target.len() > MAX_SYMLINK_LEN {
            return Err(Error::Invalid(format!(
                "a symlink target must be 1 to {MAX_SYMLINK_LEN} bytes, not {}",
                target.len()
            )));
        }
        Ok(self.tree.add(Node {
            meta,
            kind: NodeKind::Symlink(target.to_vec()),
        }))
    }

    /// A new device node, fifo or socket.
    pub fn add_device(
        &mut self,
        meta: Metadata,
        kind: DeviceKind,
        major: u32,
        minor: u32,
    ) -> NodeId {
        let rdev = match kind {
            DeviceKind::Character | DeviceKind::Block => encode_device(major, minor),
            DeviceKind::Fifo | DeviceKind::Socket => 0,
        };
        self.tree.add(Node {
            meta,
            kind: NodeKind::Device(kind, rdev),
        })
    }

    /// A new regular file with everything `content` yields, written to the image as it is
    /// read. Returns the node and the content's length.
    pub fn add_file(&mut self, meta: Metadata, mut content: impl Read) -> Result<(NodeId, u64)> {
        let mut buf = vec![0u8; 128 * 1024];
        let first = read_full(&mut content, &mut buf).map_err(Error::Read)?;
        let small = first < BLOCK_BYTES;
        if small && first > 0 && self.inline_held + first as u64 <= INLINE_BUDGET {
            self.inline_held += first as u64;
            let data = FileData::Inline(buf[..first].to_vec());
            return Ok((self.add_file_node(meta, data), first as u64));
        }
        let start = self.next_block;
        let mut size = 0u64;
        let mut n = first;
        while n > 0 {
            // All-zero chunks are left as holes of the image file: they read back as zeros.
            if buf[..n].iter().any(|&b| b != 0) {
                self.file
                    .write_all_at(&buf[..n], start * BLOCK_SIZE + size)
                    .map_err(Error::Write)?;
            }
            size += n as u64;
            if (start * BLOCK_SIZE + size) / BLOCK_SIZE >= u64::from(u32::MAX) {
                return Err(Error::TooLarge);
            }
            if n < buf.len() {
                break;
            }
            n = read_full(&mut content, &mut buf).map_err(Error::Read)?;
        }
        self.next_block = start + size.div_ceil(BLOCK_SIZE);
        let start = u32::try_from(start).map_err(|_| Error::TooLarge)?;
        let data = FileData::Blocks { start, size };
        Ok((self.add_file_node(meta, data), size))
    }

    fn add_file_node(&mut self, meta: Metadata, data: FileData) -> NodeId {
        self.tree.add(Node {
            meta,
            kind: NodeKind::File(data),
        })
    }

    /// Links `node` into directory `dir` as `name`, replacing what was there (returned).
    /// A directory node may be linked only once.
    pub fn link(&mut self, dir: NodeId, name: &[u8], node: NodeId) -> Result<Option<NodeId>> {
        check_name(name)?;
        let children = self
            .tree
            .children_mut(dir)
            .ok_or_else(|| Error::Invalid("linking into a non-directory".into()))?;
        Ok(children.insert(name.to_vec(), node))
    }

    /// Removes `name` from directory `dir`, returning what it named.
    pub fn unlink(&mut self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        self.tree.children_mut(dir)?.remove(name)
    }

    /// Lays out directories and inodes after the data, writes them and the superblock, and
    /// syncs nothing (the caller decides).
    pub fn finish(self, options: &FinishOptions) -> Result<Summary> {
        layout::write(self.file, &self.tree, self.next_block, options)
    }
}

fn check_name(name: &[u8]) -> Result<()> {
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') {
        return Err(Error::Invalid(format!(
            "{:?} is not a file name",
            String::from_utf8_lossy(name)
        )));
    }
    if name.len() > MAX_NAME_LEN || name.contains(&0) {
        return Err(Error::Invalid(format!(
            "file name {:?} is longer than {MAX_NAME_LEN} bytes or holds a NUL",
            String::from_utf8_lossy(name)
        )));
    }
    Ok(())
}

/// Inline xattr body size of `meta` (0 without xattrs).
fn xattr_body_size(meta: &Metadata) -> usize {
    if meta.xattrs.is_empty() {
        return 0;
    }
    12 + meta
        .xattrs
        .iter()
        .map(|(name, value)| {
            let suffix = xattr_prefix(name).map_or(name.len(), |(_, s)| s.len());
            xattr_entry_size(suffix, value.len())
        })
        .sum::<usize>()
}

/// Reads until `buf` is full or the reader ends.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
