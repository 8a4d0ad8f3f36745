//! The guest kernel: where it is built, how it is cached, and its command line.
