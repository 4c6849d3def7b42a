//! Cluster metadata: topics, their ids, partition counts and configs. Readers take an
//! immutable [`Image`]; changes go through the [`MetadataStore`], which persists them and
//! swaps in a new image.

pub mod config_description;
pub mod image;
pub mod store;
pub mod topic_config;
pub mod topic_name;

pub use image::{Image, TopicMetadata};
pub use store::{MetadataError, MetadataStore};
