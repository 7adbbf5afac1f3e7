//! (being written)
pub mod transport;
