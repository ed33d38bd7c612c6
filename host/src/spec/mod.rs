//! Pod manifests: the data model, parsing (YAML/JSON, multi-document, defaults,
//! warnings for fields hooklet does not act on) and apiserver-style validation.
//!
//! | module | what it is |
//! |---|---|
//! | [`model`] | the Pod subset hooklet reads, plus its extension fields |
//! | [`parse`] | [`parse::parse_manifests`], [`parse::parse_manifest_file`], defaults, warnings, [`parse::ManifestError`] |
//! | [`validate`] | [`validate::validate_pod`]: apiserver rules and messages |
//! | [`env`] | `env` / `envFrom`: model, defaults, validation (values: [`crate::envvars`]) |
//! | [`fieldpath`] | the downward API's field paths (`fieldRef.fieldPath`) |
//! | [`probe`] | `livenessProbe` / `readinessProbe` / `startupProbe`: model, defaults, validation |
//! | [`resources`] | `resources` requests/limits and Kubernetes quantities |
//! | [`priority`] | pod priority: the built-in critical classes, `priority`, critical pods |
//! | [`qos`] | the QoS class (Guaranteed / Burstable / BestEffort) and effective requests |
//! | [`secret`] | `v1` Secrets (`kind: Secret`): the image-pull types, apiserver validation, values redacted |
//! | [`names`] | apimachinery's name / port / header format checks |

pub mod env;
mod error;
mod field_error;
pub mod fieldpath;
mod handler;
pub mod model;
pub mod names;
pub mod parse;
pub mod probe;
pub mod priority;
pub mod qos;
pub mod resources;
pub mod secret;
pub mod validate;

#[cfg(test)]
mod env_tests;
#[cfg(test)]
mod parse_tests;
#[cfg(test)]
mod validate_tests;

pub use model::*;
