//! The image's file tree while it is being built: an arena of inodes, directories mapping
//! names to inode ids (a hard link is a second name for the same id).

use std::collections::BTreeMap;

/// An inode in the tree being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub(crate) usize);

/// Owner, permissions, time and xattrs of an inode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits, set-id and sticky bits (`0o7777`); the file type comes from the node.
    pub permissions: u16,
    pub uid: u32,
    pub gid: u32,
    /// Seconds since the epoch (times before 1970 are stored as 0).
    pub mtime: i64,
    pub mtime_nsec: u32,
    /// Extended attributes, full names (`user.x`, `security.capability`, `trusted.overlay.opaque`).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Where a regular file's bytes are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FileData {
    /// `size` bytes in whole blocks from `start` in the data area (`size == 0`: none).
    Blocks { start: u32, size: u64 },
    /// A small file kept in memory, placed after its inode when the image is finished.
    Inline(Vec<u8>),
}

/// Device node kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Character,
    Block,
    Fifo,
    Socket,
}

#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Directory(BTreeMap<Vec<u8>, NodeId>),
    File(FileData),
    Symlink(Vec<u8>),
    /// A device node, fifo or socket; `rdev` in erofs's encoding.
    Device(DeviceKind, u32),
}

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) meta: Metadata,
    pub(crate) kind: NodeKind,
}

impl Node {
    /// The `S_IF*` file type bits.
    pub(crate) fn type_bits(&self) -> u16 {
        match &self.kind {
            NodeKind::Directory(_) => 0o040000,
            NodeKind::File(_) => 0o100000,
            NodeKind::Symlink(_) => 0o120000,
            NodeKind::Device(DeviceKind::Character, _) => 0o020000,
            NodeKind::Device(DeviceKind::Block, _) => 0o060000,
            NodeKind::Device(DeviceKind::Fifo, _) => 0o010000,
            NodeKind::Device(DeviceKind::Socket, _) => 0o140000,
        }
    }

    pub(crate) fn file_type(&self) -> u8 {
        use crate::format::file_type::*;
        match &self.kind {
            NodeKind::Directory(_) => DIRECTORY,
            NodeKind::File(_) => REGULAR,
            NodeKind::Symlink(_) => SYMLINK,
            NodeKind::Device(DeviceKind::Character, _) => CHAR_DEVICE,
            NodeKind::Device(DeviceKind::Block, _) => BLOCK_DEVICE,
            NodeKind::Device(DeviceKind::Fifo, _) => FIFO,
            NodeKind::Device(DeviceKind::Socket, _) => SOCKET,
        }
    }
}

/// The tree: node 0 is the root directory.
#[derive(Debug)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
}

impl Tree {
    pub(crate) fn new(root: Metadata) -> Self {
        Self {
            nodes: vec![Node {
                meta: root,
                kind: NodeKind::Directory(BTreeMap::new()),
            }],
        }
    }

    pub(crate) fn add(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        NodeId(self.nodes.len() - 1)
    }

    pub(crate) fn children(&self, dir: NodeId) -> Option<&BTreeMap<Vec<u8>, NodeId>> {
        match &self.nodes[dir.0].kind {
            NodeKind::Directory(children) => Some(children),
            _ => None,
        }
    }

    pub(crate) fn children_mut(&mut self, dir: NodeId) -> Option<&mut BTreeMap<Vec<u8>, NodeId>> {
        match &mut self.nodes[dir.0].kind {
            NodeKind::Directory(children) => Some(children),
            _ => None,
        }
    }
}
