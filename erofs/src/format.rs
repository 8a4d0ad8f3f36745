//! The on-disk structures this writer emits (the kernel's `fs/erofs/erofs_fs.h`), little
//! endian, serialised by hand: only the uncompressed subset (flat plain and flat inline data,
//! extended inodes, inline xattrs, classic directory blocks).

/// Block size: the guest kernel (6.1) mounts only images whose block size is its page size.
pub const BLOCK_SIZE: u64 = 4096;
/// [`BLOCK_SIZE`] as a buffer length.
pub(crate) const BLOCK_BYTES: usize = 4096;
pub(crate) const BLOCK_SIZE_BITS: u8 = 12;
/// Offset of the superblock in block 0.
pub(crate) const SUPERBLOCK_OFFSET: usize = 1024;
pub(crate) const MAGIC: u32 = 0xE0F5_E1E2;
/// Inodes are addressed in 32-byte slots (`nid`) from the metadata area's start.
pub(crate) const INODE_SLOT: u64 = 32;
pub(crate) const EXTENDED_INODE_SIZE: usize = 64;
pub(crate) const XATTR_HEADER_SIZE: usize = 12;
pub(crate) const DIRENT_SIZE: usize = 12;
/// Longest name a directory entry holds.
pub const MAX_NAME_LEN: usize = 255;

/// Data layout in `i_format` bits 1-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataLayout {
    /// Whole blocks from `raw_blkaddr`.
    FlatPlain = 0,
    /// Whole blocks, then the last partial block right after the inode and its xattrs.
    FlatInline = 2,
}

/// Directory entry file types (the kernel's generic `FT_*`).
pub(crate) mod file_type {
    pub(crate) const REGULAR: u8 = 1;
    pub(crate) const DIRECTORY: u8 = 2;
    pub(crate) const CHAR_DEVICE: u8 = 3;
    pub(crate) const BLOCK_DEVICE: u8 = 4;
    pub(crate) const FIFO: u8 = 5;
    pub(crate) const SOCKET: u8 = 6;
    pub(crate) const SYMLINK: u8 = 7;
}

/// The superblock fields this writer sets; everything else is zero.
pub(crate) struct Superblock {
    pub(crate) root_nid: u16,
    pub(crate) inodes: u64,
    pub(crate) build_time: u64,
    pub(crate) blocks: u32,
    pub(crate) meta_blkaddr: u32,
    pub(crate) uuid: [u8; 16],
}

impl Superblock {
    pub(crate) fn to_bytes(&self) -> [u8; 128] {
        let mut b = [0u8; 128];
        put(&mut b, 0, &MAGIC.to_le_bytes());
        // checksum (4) and feature_compat (8) stay 0: no superblock checksum.
        b[12] = BLOCK_SIZE_BITS;
        put(&mut b, 14, &self.root_nid.to_le_bytes());
        put(&mut b, 16, &self.inodes.to_le_bytes());
        put(&mut b, 24, &self.build_time.to_le_bytes());
        put(&mut b, 36, &self.blocks.to_le_bytes());
        put(&mut b, 40, &self.meta_blkaddr.to_le_bytes());
        // xattr_blkaddr (44): no shared xattrs.
        put(&mut b, 48, &self.uuid);
        // volume_name (64..80), feature_incompat (80): none.
        b
    }
}

/// An extended (64-byte) inode.
pub(crate) struct ExtendedInode {
    pub(crate) layout: DataLayout,
    /// Bytes of inline xattrs after the inode (0 or a header plus entries).
    pub(crate) xattr_size: usize,
    pub(crate) mode: u16,
    pub(crate) size: u64,
    /// Block address of the data, or the device number of a device node.
    pub(crate) raw_blkaddr_or_rdev: u32,
    pub(crate) ino: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mtime: u64,
    pub(crate) mtime_nsec: u32,
    pub(crate) nlink: u32,
}

impl ExtendedInode {
    pub(crate) fn to_bytes(&self) -> [u8; EXTENDED_INODE_SIZE] {
        let mut b = [0u8; EXTENDED_INODE_SIZE];
        let format = 1u16 | ((self.layout as u16) << 1);
        put(&mut b, 0, &format.to_le_bytes());
        put(&mut b, 2, &xattr_icount(self.xattr_size).to_le_bytes());
        put(&mut b, 4, &self.mode.to_le_bytes());
        put(&mut b, 8, &self.size.to_le_bytes());
        put(&mut b, 16, &self.raw_blkaddr_or_rdev.to_le_bytes());
        put(&mut b, 20, &self.ino.to_le_bytes());
        put(&mut b, 24, &self.uid.to_le_bytes());
        put(&mut b, 28, &self.gid.to_le_bytes());
        put(&mut b, 32, &self.mtime.to_le_bytes());
        put(&mut b, 40, &self.mtime_nsec.to_le_bytes());
        put(&mut b, 44, &self.nlink.to_le_bytes());
        b
    }
}

/// `i_xattr_icount`: the header counts as one 4-byte slot, each further 4 bytes as one more.
fn xattr_icount(xattr_size: usize) -> u16 {
    if xattr_size == 0 {
        0
    } else {
        u16::try_from((xattr_size - XATTR_HEADER_SIZE) / 4 + 1).unwrap_or(u16::MAX)
    }
}

/// Most bytes of inline xattrs an inode can describe (`i_xattr_icount` is 16 bits).
pub(crate) const MAX_XATTR_SIZE: usize = XATTR_HEADER_SIZE + (u16::MAX as usize - 1) * 4;

/// The erofs prefix index and the rest of an xattr name, for the namespaces erofs stores.
pub(crate) fn xattr_prefix(name: &[u8]) -> Option<(u8, &[u8])> {
    const PREFIXES: [(&[u8], u8); 6] = [
        (b"user.", 1),
        (b"system.posix_acl_access", 2),
        (b"system.posix_acl_default", 3),
        (b"trusted.", 4),
        (b"lustre.", 5),
        (b"security.", 6),
    ];
    PREFIXES
        .iter()
        .find_map(|(prefix, index)| Some((*index, name.strip_prefix(*prefix)?)))
}

/// Size of one xattr entry: 4-byte header, name suffix and value, padded to 4 bytes.
pub(crate) fn xattr_entry_size(suffix_len: usize, value_len: usize) -> usize {
    (4 + suffix_len + value_len).div_ceil(4) * 4
}

/// Appends the inline xattr body (header and entries) of `xattrs` (already checked to have
/// storable names) to `out`.
pub(crate) fn write_xattrs(out: &mut Vec<u8>, xattrs: &[(Vec<u8>, Vec<u8>)]) {
    if xattrs.is_empty() {
        return;
    }
    // h_name_filter 0 (no filter feature), no shared xattrs.
    out.extend_from_slice(&[0u8; XATTR_HEADER_SIZE]);
    for (name, value) in xattrs {
        let (index, suffix) = xattr_prefix(name).unwrap_or((0, name));
        let start = out.len();
        out.push(u8::try_from(suffix.len()).unwrap_or(u8::MAX));
        out.push(index);
        out.extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_le_bytes());
        out.extend_from_slice(suffix);
        out.extend_from_slice(value);
        out.resize(start + xattr_entry_size(suffix.len(), value.len()), 0);
    }
}

/// Appends one directory entry header.
pub(crate) fn write_dirent(out: &mut Vec<u8>, nid: u64, name_offset: u16, file_type: u8) {
    out.extend_from_slice(&nid.to_le_bytes());
    out.extend_from_slice(&name_offset.to_le_bytes());
    out.push(file_type);
    out.push(0);
}

/// Linux's `new_encode_dev`, the device number encoding erofs stores.
pub(crate) fn encode_device(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_counts_and_sizes_follow_the_kernel() {
        assert_eq!(xattr_icount(0), 0);
        assert_eq!(xattr_icount(12), 1);
        // "user.a" = "b": 4 + 1 + 1 -> 8 bytes.
        assert_eq!(xattr_entry_size(1, 1), 8);
        assert_eq!(xattr_icount(12 + 8), 3);
        let mut body = Vec::new();
        write_xattrs(
            &mut body,
            &[(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())],
        );
        assert_eq!(body.len(), 12 + xattr_entry_size(14, 1));
        assert_eq!(&body[12..16], &[14, 4, 1, 0]);
        assert_eq!(&body[16..31], b"overlay.opaquey");
    }

    #[test]
    fn device_numbers_use_the_new_encoding() {
        assert_eq!(encode_device(0, 0), 0);
        assert_eq!(encode_device(1, 3), 0x103);
        assert_eq!(encode_device(8, 0x123), 0x10_0823);
    }

    #[test]
    fn prefixes_map_to_their_indexes() {
        assert_eq!(
            xattr_prefix(b"security.capability"),
            Some((6, &b"capability"[..]))
        );
        assert_eq!(
            xattr_prefix(b"system.posix_acl_access"),
            Some((2, &b""[..]))
        );
        assert_eq!(xattr_prefix(b"system.other"), None);
    }
}
