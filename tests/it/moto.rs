//! An S3-compatible server on loopback: moto's (PyPI `moto[server]`,
//! installed by `scripts/test.sh`), one per test on a free port, killed
//! when dropped. It keeps objects in memory and honours `If-None-Match`
//! on a put, which a checkpoint's manifest relies on.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The credentials every test uses (moto takes any).
pub(crate) const KEY: &str = "weir-test";

pub(crate) struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    pub(crate) fn start() -> Moto {
        let python = std::env::var("WEIR_PYTHON").unwrap_or_else(|_| "python3".into());
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let child = Command::new(python)
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the S3 tests need moto's server: run `bash scripts/test.sh`, which installs it (pip install 'moto[server]')");
        let mut moto = Moto { child, port };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto's server exited ({status}): is moto[server] installed? `bash scripts/test.sh` installs it");
            }
            assert!(started.elapsed() < Duration::from_secs(60), "moto's server did not listen on {port} within 60 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto.child.try_wait().ok();
        moto
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (S3's `PUT /bucket`).
    pub(crate) fn bucket(&self, name: &str) {
        let response = ureq::put(&format!("{}/{name}", self.endpoint())).send_empty().expect("PUT bucket");
        assert!(response.status().is_success(), "creating bucket {name}: {}", response.status());
    }

    /// The `SET` statements that reach this server.
    pub(crate) fn settings(&self) -> String {
        format!(
            "SET 's3.endpoint' = '{}'; SET 's3.access-key' = '{KEY}'; SET 's3.secret-key' = '{KEY}'; SET 's3.region' = 'us-east-1';",
            self.endpoint()
        )
    }

    /// The environment of a `weir` command that reaches this server
    /// without `SET`s (`weir checkpoints`).
    pub(crate) fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
