//! `hooklet serve`'s API flags: what one client of the control API may hold
//! ([`crate::api::guard`]).

use std::time::Duration;

use clap::Args;

use super::format::parse_positive_duration;
use crate::api::guard::ApiLimits;

/// The API's timeouts and caps.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// How long a request's headers, and then its body, may take to arrive; a
    /// client slower than that (or idle that long between requests) is
    /// disconnected, a slow body answered 408.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration, default_value = "30s")]
    pub api_read_timeout: Duration,

    /// Open API connections one client (a unix socket uid, a TCP address) may
    /// hold; watches and log follows hold one each. Past it, new ones are closed.
    #[arg(long, value_name = "N", default_value_t = ApiLimits::default().max_connections_per_client as u64, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections_per_client: u64,
}

impl ApiArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> ApiLimits {
        ApiLimits { read_timeout: self.api_read_timeout, max_connections_per_client: self.max_connections_per_client as usize }
    }
}
