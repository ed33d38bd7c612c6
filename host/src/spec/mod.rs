//! Pod manifests: the data model, parsing (YAML/JSON, multi-document, defaults,
//! warnings for fields hooklet does not act on) and apiserver-style validation.

pub mod model;
pub mod parse;
pub mod validate;

pub use model::*;
