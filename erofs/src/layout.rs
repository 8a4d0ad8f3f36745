//! [`write`]: places directories and inodes after the file data and writes them.
//!
//! Order of work: walk the tree from the root (the order inodes are written in), size every
//! directory's entries, decide what goes inline after its inode (kept within one block, as
//! the kernel requires of tail data), place the inodes (32-byte slots; nids follow), and only
//! then encode directory entries, which need their children's nids.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use crate::format::{
    write_dirent, write_xattrs, DataLayout, ExtendedInode, Superblock, BLOCK_BYTES, BLOCK_SIZE,
    DIRENT_SIZE, EXTENDED_INODE_SIZE, INODE_SLOT, MAX_XATTR_SIZE, SUPERBLOCK_OFFSET,
};
use crate::tree::{FileData, NodeId, NodeKind, Tree};
use crate::{is_storable_xattr, xattr_body_size, Error, FinishOptions, Result, Summary};

/// One inode as it will be written.
struct Placed {
    node: NodeId,
    /// The directory it was first reached from (a directory's `..`).
    parent: NodeId,
    nlink: u32,
    xattr_size: usize,
    /// Where its content goes.
    content: Content,
    /// Byte offset in the metadata area.
    offset: u64,
}

enum Content {
    /// No data (device nodes, empty files) or whole blocks from `start`.
    Blocks { start: u32 },
    /// `len` bytes right after the inode and its xattrs.
    Inline { len: u64 },
}

/// A directory's entries, packed into blocks: each block lists its entries' indexes in
/// `entries` (sorted by name across blocks, as lookups binary-search them).
struct DirLayout {
    entries: Vec<(Vec<u8>, NodeId)>,
    blocks: Vec<std::ops::Range<usize>>,
    size: u64,
}

pub(crate) fn write(
    file: File,
    tree: &Tree,
    data_end: u64,
    options: &FinishOptions,
) -> Result<Summary> {
    let order = walk(tree)?;
    let index: HashMap<NodeId, usize> =
        order.iter().enumerate().map(|(i, p)| (p.node, i)).collect();
    let dirs: HashMap<NodeId, DirLayout> = order
        .iter()
        .filter_map(|p| Some((p.node, dir_layout(tree, p.node, p.parent)?)))
        .collect();

    // What is inline, what takes blocks after the data.
    let mut placed = order;
    let mut next_block = data_end;
    for p in &mut placed {
        let node = &tree.nodes[p.node.0];
        if p.xattr_size > MAX_XATTR_SIZE {
            return Err(Error::Invalid("an inode's xattrs exceed 256 KiB".into()));
        }
        let tail_len = match &node.kind {
            NodeKind::File(FileData::Blocks { start, size }) => {
                p.content = Content::Blocks {
                    start: if *size == 0 { 0 } else { *start },
                };
                continue;
            }
            NodeKind::Device(..) => continue,
            NodeKind::File(FileData::Inline(bytes)) => bytes.len() as u64,
            NodeKind::Symlink(target) => target.len() as u64,
            NodeKind::Directory(_) => dirs[&p.node].size,
        };
        if (EXTENDED_INODE_SIZE + p.xattr_size) as u64 + tail_len <= BLOCK_SIZE {
            p.content = Content::Inline { len: tail_len };
        } else {
            p.content = Content::Blocks {
                start: u32::try_from(next_block).map_err(|_| Error::TooLarge)?,
            };
            next_block += tail_len.div_ceil(BLOCK_SIZE);
        }
    }
    let meta_blkaddr = u32::try_from(next_block).map_err(|_| Error::TooLarge)?;

    // Inode offsets: 32-byte aligned; an inline tail never crosses a block boundary.
    let mut offset = 0u64;
    for p in &mut placed {
        let inline = match p.content {
            Content::Inline { len } => Some(len),
            Content::Blocks { .. } => None,
        };
        let record = (EXTENDED_INODE_SIZE + p.xattr_size) as u64 + inline.unwrap_or(0);
        if inline.is_some() && offset % BLOCK_SIZE + record > BLOCK_SIZE {
            offset = offset.div_ceil(BLOCK_SIZE) * BLOCK_SIZE;
        }
        p.offset = offset;
        offset = (offset + record).div_ceil(INODE_SLOT) * INODE_SLOT;
    }
    let meta_len = offset;
    let nid = |node: NodeId| placed[index[&node]].offset / INODE_SLOT;

    let mut out = BufWriter::with_capacity(1 << 20, &file);
    let meta_start = u64::from(meta_blkaddr) * BLOCK_SIZE;
    out.seek(SeekFrom::Start(meta_start))
        .map_err(Error::Write)?;
    let mut written = 0u64;
    let mut record = Vec::with_capacity(BLOCK_BYTES);
    for (i, p) in placed.iter().enumerate() {
        let node = &tree.nodes[p.node.0];
        let tail: Cow<'_, [u8]> = match &node.kind {
            NodeKind::File(FileData::Inline(bytes)) => Cow::Borrowed(bytes),
            NodeKind::Symlink(target) => Cow::Borrowed(target),
            NodeKind::Directory(_) => Cow::Owned(encode_dir(tree, &dirs[&p.node], &nid)),
            _ => Cow::Borrowed(&[]),
        };
        let size = match &node.kind {
            NodeKind::File(FileData::Blocks { size, .. }) => *size,
            NodeKind::Device(..) => 0,
            _ => tail.len() as u64,
        };
        let (layout, raw) = match (&p.content, &node.kind) {
            (_, NodeKind::Device(_, rdev)) => (DataLayout::FlatPlain, *rdev),
            (Content::Inline { .. }, _) => (DataLayout::FlatInline, 0),
            (Content::Blocks { start }, _) => {
                if !matches!(node.kind, NodeKind::File(FileData::Blocks { .. })) {
                    // Content placed after the data (big directories, small files whose
                    // xattrs left no room inline).
                    file.write_all_at(&tail, u64::from(*start) * BLOCK_SIZE)
                        .map_err(Error::Write)?;
                }
                (DataLayout::FlatPlain, *start)
            }
        };
        let inode = ExtendedInode {
            layout,
            xattr_size: p.xattr_size,
            mode: node.type_bits() | (node.meta.permissions & 0o7777),
            size,
            raw_blkaddr_or_rdev: raw,
            ino: u32::try_from(i + 1).unwrap_or(u32::MAX),
            uid: node.meta.uid,
            gid: node.meta.gid,
            mtime: u64::try_from(node.meta.mtime).unwrap_or(0),
            mtime_nsec: node.meta.mtime_nsec.min(999_999_999),
            nlink: p.nlink,
        };
        record.clear();
        record.extend_from_slice(&inode.to_bytes());
        write_xattrs(&mut record, &node.meta.xattrs);
        if matches!(p.content, Content::Inline { .. }) {
            record.extend_from_slice(&tail);
        }
        pad_to(&mut out, &mut written, p.offset)?;
        out.write_all(&record).map_err(Error::Write)?;
        written += record.len() as u64;
    }
    pad_to(&mut out, &mut written, meta_len)?;
    out.flush().map_err(Error::Write)?;
    drop(out);

    let blocks = u64::from(meta_blkaddr) + meta_len.div_ceil(BLOCK_SIZE);
    let superblock = Superblock {
        root_nid: 0,
        inodes: placed.len() as u64,
        build_time: options.build_time,
        blocks: u32::try_from(blocks).map_err(|_| Error::TooLarge)?,
        meta_blkaddr,
        uuid: options.uuid,
    };
    file.write_all_at(&superblock.to_bytes(), SUPERBLOCK_OFFSET as u64)
        .map_err(Error::Write)?;
    file.set_len(blocks * BLOCK_SIZE).map_err(Error::Write)?;
    Ok(Summary {
        inodes: placed.len() as u64,
        bytes: blocks * BLOCK_SIZE,
    })
}

/// Every inode reachable from the root, root first, each once (a hard-linked file at its
/// first name), with link counts.
fn walk(tree: &Tree) -> Result<Vec<Placed>> {
    let root = NodeId(0);
    let mut order: Vec<Placed> = Vec::new();
    let mut seen: HashMap<NodeId, usize> = HashMap::new();
    let mut stack = vec![(root, root)];
    while let Some((node, parent)) = stack.pop() {
        if let Some(&at) = seen.get(&node) {
            if tree.children(node).is_some() {
                return Err(Error::Invalid("a directory is linked twice".into()));
            }
            order[at].nlink += 1; // another name of a hard-linked file
            continue;
        }
        let meta = &tree.nodes[node.0].meta;
        if let Some((name, _)) = meta
            .xattrs
            .iter()
            .find(|(name, value)| !is_storable_xattr(name, value))
        {
            return Err(Error::Invalid(format!(
                "erofs cannot store xattr {:?}",
                String::from_utf8_lossy(name)
            )));
        }
        let nlink = match tree.children(node) {
            Some(children) => {
                let subdirs = children
                    .values()
                    .filter(|c| tree.children(**c).is_some())
                    .count();
                // Children in reverse so the stack visits them in name order.
                stack.extend(children.values().rev().map(|&child| (child, node)));
                u32::try_from(subdirs + 2).unwrap_or(u32::MAX)
            }
            None => 1,
        };
        seen.insert(node, order.len());
        order.push(Placed {
            node,
            parent,
            nlink,
            xattr_size: xattr_body_size(meta),
            content: Content::Blocks { start: 0 },
            offset: 0,
        });
    }
    Ok(order)
}

/// `dir`'s entries (with `.` and `..`) sorted by name and packed into blocks; `None` for a
/// non-directory.
fn dir_layout(tree: &Tree, dir: NodeId, parent: NodeId) -> Option<DirLayout> {
    let children = tree.children(dir)?;
    let mut entries: Vec<(Vec<u8>, NodeId)> = Vec::with_capacity(children.len() + 2);
    entries.push((b".".to_vec(), dir));
    entries.push((b"..".to_vec(), parent));
    entries.extend(children.iter().map(|(name, &node)| (name.clone(), node)));
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let mut blocks = Vec::new();
    let (mut start, mut used) = (0, 0usize);
    for (i, (name, _)) in entries.iter().enumerate() {
        let need = DIRENT_SIZE + name.len();
        if used + need > BLOCK_BYTES {
            blocks.push(start..i);
            (start, used) = (i, 0);
        }
        used += need;
    }
    blocks.push(start..entries.len());
    let size = (blocks.len() as u64 - 1) * BLOCK_SIZE + used as u64;
    Some(DirLayout {
        entries,
        blocks,
        size,
    })
}

/// A directory's bytes: each block its dirents then their names; every block but the last
/// zero-padded to the block size (a name ends where the next starts, or at a NUL).
fn encode_dir(tree: &Tree, dir: &DirLayout, nid: &dyn Fn(NodeId) -> u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(usize::try_from(dir.size).unwrap_or(0));
    for (b, range) in dir.blocks.iter().enumerate() {
        let block_start = out.len();
        let entries = &dir.entries[range.clone()];
        let mut name_offset = entries.len() * DIRENT_SIZE;
        for (name, node) in entries {
            let file_type = tree.nodes[node.0].file_type();
            write_dirent(
                &mut out,
                nid(*node),
                u16::try_from(name_offset).unwrap_or(u16::MAX),
                file_type,
            );
            name_offset += name.len();
        }
        for (name, _) in entries {
            out.extend_from_slice(name);
        }
        if b + 1 < dir.blocks.len() {
            out.resize(block_start + BLOCK_BYTES, 0);
        }
    }
    out
}

/// Writes zeros from `*written` up to `offset` (relative to the metadata area).
fn pad_to(out: &mut impl Write, written: &mut u64, offset: u64) -> Result<()> {
    const ZEROS: [u8; 4096] = [0; 4096];
    while *written < offset {
        let n = usize::try_from((offset - *written).min(ZEROS.len() as u64)).unwrap_or(0);
        out.write_all(&ZEROS[..n]).map_err(Error::Write)?;
        *written += n as u64;
    }
    Ok(())
}
