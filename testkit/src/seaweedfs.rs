//! A real SeaweedFS (master + volume + filer + S3 gateway, built from its pinned Go module by
//! scripts/build-seaweedfs.sh) on loopback, with credentials.

use crate::{free_port, models_dir, reserve};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::ObjectStore;
use object_store::{ClientOptions, RetryConfig};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test identity's access key.
pub const ACCESS_KEY: &str = "inferwatch-test";
/// The test identity's secret key.
pub const SECRET_KEY: &str = "inferwatch-test-secret";

/// Export the test credentials (same values for every test; servers inherit them).
pub fn credentials() {
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
}

/// A real SeaweedFS (master + volume + filer + S3 gateway). Killed on drop.
pub struct SeaweedFs {
    child: Option<Child>,
    dir: PathBuf,
    ports: [u16; 4],
    host: String,
}

pub fn weed() -> PathBuf {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-seaweedfs.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("scripts/build-seaweedfs.sh runs");
    assert!(out.status.success(), "building SeaweedFS failed");
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// A port whose gRPC companion (port + 10000) is also free and in range.
fn low_port() -> u16 {
    loop {
        let p = free_port();
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() && reserve(p + 10000) {
            return p;
        }
    }
}

impl SeaweedFs {
    /// On loopback.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1")
    }

    /// Listening on `host` (an address of this machine: the e2e node's bridge, so pods reach it).
    pub fn start_on(host: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("iw-seaweed-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = json!({"identities": [{"name": "inferwatch",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Write"]}]});
        std::fs::write(dir.join("s3.json"), config.to_string()).unwrap();
        let ports = [low_port(), low_port(), low_port(), low_port()];
        let mut s = SeaweedFs { child: None, dir, ports, host: host.to_string() };
        s.spawn();
        s
    }

    pub fn s3_port(&self) -> u16 {
        self.ports[3]
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}:{}", self.host, self.s3_port())
    }

    /// The server flags that load packages from `s3://models/<prefix>` here, cached on disk in
    /// `cache`.
    pub fn server_args(&self, prefix: &str, cache: &std::path::Path) -> Vec<String> {
        let uri = format!("s3://models/{prefix}");
        let cache = cache.display().to_string();
        ["--model-source", "s3", "--s3-uri", &uri, "--s3-endpoint", &self.endpoint(), "--model-cache-dir", &cache]
            .map(String::from)
            .to_vec()
    }

    pub fn spawn(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(self.dir.join("weed.log")).unwrap();
        let child = Command::new(weed())
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args([&format!("-ip={}", self.host), &format!("-ip.bind={}", self.host)])
            .args(["-volume.max=4", "-master.volumeSizeLimitMB=64"])
            // The default refuses writes below 1% free disk (2.7 GB on this machine's disk): a
            // test writes kilobytes, so only an actually full disk should stop it.
            .arg("-volume.minFreeSpace=100MiB")
            .arg(format!("-master.port={master}"))
            .arg(format!("-volume.port={volume}"))
            .args(["-filer=true", &format!("-filer.port={filer}")])
            .args([
                "-s3=true",
                &format!("-s3.port={s3}"),
                &format!("-s3.config={}", self.dir.join("s3.json").display()),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("weed starts");
        self.child = Some(child);
        let host = self.host.clone();
        crate::wait_until("SeaweedFS S3", &self.dir.join("weed.log"), Duration::from_secs(60), || {
            std::net::TcpStream::connect((host.as_str(), s3)).is_ok()
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn client(&self, bucket: &str) -> impl ObjectStore {
        self.builder(bucket).build().unwrap()
    }

    fn builder(&self, bucket: &str) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_bucket_name(bucket)
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
    }

    /// The last lines of the cluster's log, for a failure message.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("weed.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Create the bucket (`weed shell`) and probe it through the S3 API (a signed PUT through the
    /// gateway), retrying while the cluster elects its master and allocates volumes. Each probe
    /// has a short timeout and no client retries: a gateway that hangs on one attempt (seen once
    /// in CI, 180 s of object_store's own retries) is tried again instead of waited for.
    pub async fn create_bucket(&self, bucket: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let probe_client = self
            .builder(bucket)
            .with_client_options(ClientOptions::new().with_allow_http(true).with_timeout(Duration::from_secs(10)))
            .with_retry(RetryConfig { max_retries: 0, ..RetryConfig::default() })
            .build()
            .unwrap();
        loop {
            let out = Command::new(weed())
                .args(["shell", &format!("-master={}:{}", self.host, self.ports[0])])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(format!("s3.bucket.create -name {bucket}\nexit\n").as_bytes())?;
                    c.wait_with_output()
                })
                .unwrap();
            let probe = probe_client.put(&ObjPath::from("probe"), b"ok".to_vec().into()).await;
            if probe.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cannot create the bucket: {} {probe:?}\nweed.log:\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Upload a built-in package under `prefix/name/` (golden.json left out).
    pub async fn upload(&self, prefix: &str, name: &str, corrupt: bool) {
        self.upload_to(&format!("{prefix}/{name}"), name, corrupt, None).await;
    }

    /// Upload the built-in package `name` into the folder `folder`, its `model.json` saying
    /// `version` when given (a second version of the same graph).
    pub async fn upload_to(&self, folder: &str, name: &str, corrupt: bool, version: Option<&str>) {
        let store = self.client("models");
        for entry in std::fs::read_dir(models_dir().join(name)).unwrap() {
            let entry = entry.unwrap();
            let file = entry.file_name().to_string_lossy().into_owned();
            if file == "golden.json" {
                continue;
            }
            let mut bytes = std::fs::read(entry.path()).unwrap();
            if corrupt && file == "model.onnx" {
                let last = bytes.len() - 1;
                bytes[last] ^= 0xff;
            }
            if let (Some(v), "model.json") = (version, file.as_str()) {
                let mut meta: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                meta["version"] = v.into();
                bytes = serde_json::to_vec(&meta).unwrap();
            }
            store.put(&ObjPath::from(format!("{folder}/{file}")), bytes.into()).await.unwrap();
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
