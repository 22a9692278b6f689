//! A real `redis-server` for the fleet tests: started by the test on a free loopback
//! port, in memory only (`--save '' --appendonly no`), stopped by its PID. Never a mock.
//!
//! A machine without `redis-server` fails the test (it is never skipped): install it
//! with `apt-get install -y redis-server` (`.ci/run` does).
#![allow(dead_code)]

pub mod proxy;
pub mod store_events;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `redis-server`; stopped (SIGKILL to its PID) when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        RedisServer::start_on(free_port())
    }

    /// Starts a server on `port` (e.g. again after [`RedisServer::kill`]).
    pub fn start_on(port: u16) -> RedisServer {
        let mut server = RedisServer { child: None, port };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL to its PID) and reaps it: Redis is gone, data and all.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let killed = Command::new("kill").args(["-9", &pid]).status();
            if !killed.is_ok_and(|s| s.success()) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty: it keeps nothing on disk).
    pub fn restart(&mut self) {
        self.kill();
        let spawned = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--enable-debug-command",
                "yes",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed, and the fleet tests need a real one: \
                 apt-get install -y redis-server"
            ),
            Err(e) => panic!("cannot start redis-server: {e}"),
        };
        self.child = Some(child);
        for _ in 0..500 {
            if self.ping() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "redis-server exited at start ({status}); is port {} free?",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "redis-server did not answer PING on port {} within 5 s",
            self.port
        );
    }

    /// Whether the server answers `PING` now.
    pub fn ping(&self) -> bool {
        self.command("PING\r\n")
            .is_some_and(|r| r.starts_with("+PONG"))
    }

    /// Sends one inline command and returns the first reply bytes, as text.
    pub fn command(&self, line: &str) -> Option<String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        stream.write_all(line.as_bytes()).ok()?;
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A loopback port nobody listens on now (`--port 0` would disable TCP in Redis).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}
