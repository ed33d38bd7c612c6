//! What keeps one local client from holding up the API or reaching it uninvited:
//! read timeouts, a cap on connections per client, the unix socket's peer check,
//! and an audit line per mutating request.
//!
//! - **Timeouts.** A request's headers must arrive within [`ApiLimits::read_timeout`]
//!   (hyper closes the connection otherwise), and so must its body (a 408 otherwise):
//!   a client that sends a byte a minute (slowloris) holds no task past that.
//! - **Connections per client.** A client is a peer uid on the unix socket and a
//!   peer address on TCP. Past [`ApiLimits::max_connections_per_client`] open
//!   connections, a new one is closed at once with a warning. A watch or a log
//!   follow holds its connection, so the cap bounds a client's watches too.
//! - **Peer check.** The socket's mode (0600) already keeps other users out; the
//!   peer's uid (`SO_PEERCRED`) is checked as well, so a socket made reachable by
//!   mistake (a `chmod`, a bind mount) still serves only root and hooklet's own user.
//! - **Audit.** Every request that changes something (`POST`, `PUT`, `PATCH`,
//!   `DELETE`) gets a line on the `hooklet::audit` target: who, what, the result.
//!   Never a body or a token.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::Method;

/// The API's defences, from `hooklet serve`'s flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// How long a request's headers, and then its body, may take to arrive.
    pub read_timeout: Duration,
    /// Open connections one client may hold.
    pub max_connections_per_client: usize,
}

impl Default for ApiLimits {
    /// 30 s (hyper's own header timeout) and 64 connections.
    fn default() -> Self {
        ApiLimits { read_timeout: crate::api::body::ReadTimeout::DEFAULT, max_connections_per_client: 64 }
    }
}

/// Who is at the other end of a connection.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Client {
    /// A unix socket peer's uid.
    Uid(u32),
    /// A TCP peer's address (it has shown the token by the time it is audited).
    Address(IpAddr),
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Uid(uid) => write!(f, "uid {uid} (unix socket)"),
            Client::Address(addr) => write!(f, "{addr} (TCP, bearer token)"),
        }
    }
}

/// Whether a unix socket peer with `uid` may use the API: root and the user
/// hooklet runs as.
pub fn peer_allowed(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// Open connections per client, with the cap.
#[derive(Debug)]
pub struct Connections {
    open: Mutex<HashMap<Client, usize>>,
    limit: usize,
}

/// One admitted connection; dropping it (when the connection ends) frees its place.
#[derive(Debug)]
pub struct Admitted {
    connections: Arc<Connections>,
    client: Client,
}

impl Connections {
    /// No connection open yet; at most `limit` per client.
    pub fn new(limit: usize) -> Arc<Connections> {
        Arc::new(Connections { open: Mutex::new(HashMap::new()), limit })
    }

    /// A place for a new connection of `client`, or `None` when it holds `limit`.
    pub fn admit(self: &Arc<Self>, client: Client) -> Option<Admitted> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(client.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Admitted { connections: self.clone(), client })
    }

    /// The cap.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Admitted {
    /// The connection's client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.connections.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.client) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.client);
            }
        }
    }
}

/// Writes the audit line of a request, if it is one that changes something.
pub fn audit(client: &Client, method: &Method, path: &str, status: u16) {
    if matches!(*method, Method::POST | Method::PUT | Method::PATCH | Method::DELETE) {
        tracing::info!(target: "hooklet::audit", client = %client, %method, %path, status, "API request");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_client_gets_its_own_places_and_a_dropped_connection_frees_one() {
        let connections = Connections::new(2);
        let (a, b) = (Client::Uid(0), Client::Address("127.0.0.1".parse().unwrap()));
        let first = connections.admit(a.clone()).unwrap();
        let _second = connections.admit(a.clone()).unwrap();
        assert!(connections.admit(a.clone()).is_none(), "a third for the same client");
        assert!(connections.admit(b).is_some(), "another client is not held up");
        drop(first);
        assert!(connections.admit(a).is_some(), "a place was freed");
    }

    #[test]
    fn only_root_and_hooklets_own_user_are_served() {
        assert!(peer_allowed(0));
        assert!(peer_allowed(nix::unistd::geteuid().as_raw()));
        assert!(!peer_allowed(65534) || nix::unistd::geteuid().as_raw() == 65534);
    }
}
