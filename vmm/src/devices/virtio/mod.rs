//! virtio devices and their virtio-mmio transport.
