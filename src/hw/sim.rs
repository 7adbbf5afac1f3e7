//! The sim board (being written).
