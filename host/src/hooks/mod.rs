//! Hook handlers and the one dispatch path they all run through.

pub mod http;
