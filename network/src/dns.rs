//! The per-network DNS resolver (to be written).
