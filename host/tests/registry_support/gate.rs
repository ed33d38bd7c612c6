//! A TCP gate in front of a registry: every connection made before the test opens
//! it is held (not forwarded), so a test sees how many pulls are connected at once;
//! once open, it forwards everything.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};

/// A running gate. Its threads end with the test process.
pub struct Gate {
    /// `127.0.0.1:PORT` to pull from instead of the registry's.
    pub addr: String,
    held: tokio::sync::watch::Receiver<usize>,
    open: Arc<(Mutex<bool>, Condvar)>,
}

impl Gate {
    /// A closed gate forwarding to `upstream` once opened.
    pub fn start(upstream: &str) -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let (count, held) = tokio::sync::watch::channel(0usize);
        let open = Arc::new((Mutex::new(false), Condvar::new()));
        let (upstream, gate) = (upstream.to_string(), open.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !*gate.0.lock().unwrap() {
                    count.send_modify(|n| *n += 1);
                }
                let (upstream, gate) = (upstream.clone(), gate.clone());
                std::thread::spawn(move || {
                    let (lock, opened) = &*gate;
                    drop(opened.wait_while(lock.lock().unwrap(), |open| !*open).unwrap());
                    if let Ok(server) = TcpStream::connect(&upstream) {
                        pipe(client, server);
                    }
                });
            }
        });
        Gate { addr, held, open }
    }

    /// Waits until `n` connections are held.
    pub async fn wait_held(&self, n: usize) {
        self.held.clone().wait_for(|held| *held >= n).await.unwrap();
    }

    /// How many connections were held so far.
    pub fn held(&self) -> usize {
        *self.held.borrow()
    }

    /// Forwards the held connections and every later one.
    pub fn open(&self) {
        let (lock, opened) = &*self.open;
        *lock.lock().unwrap() = true;
        opened.notify_all();
    }
}

/// Copies both ways until either side closes.
fn pipe(client: TcpStream, server: TcpStream) {
    let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
    let up = std::thread::spawn(move || copy(&mut c2, &mut s2));
    let (mut c, mut s) = (client, server);
    copy(&mut s, &mut c);
    let _ = up.join();
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) {
    let mut buf = [0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf) {
        if n == 0 || to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
