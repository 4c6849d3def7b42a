//! Kafka's RecordBatch v2 format as the broker sees it: headers, checks and offset stamping.
//! Records inside a batch stay opaque bytes on the produce and fetch paths.

pub mod batch;
pub mod codec;
pub mod control;
pub mod encode;
pub mod fields;
pub mod raw;
pub mod stamps;

pub use batch::{batch_size, stamped_header, AppendStamp, BatchError, BatchView};
