//! The image store and layer conversion.
