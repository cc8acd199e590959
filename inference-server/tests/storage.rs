//! Model packages from a real S3-compatible server: SeaweedFS (`weed`, built from its pinned Go
//! module by scripts/build-seaweedfs.sh), started by the test on loopback with credentials.
//! Loads, health, metrics, a corrupted package, and the store killed and brought back.

mod common;

use common::{error_of, free_port, models_dir, Server};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjPath;
use object_store::ObjectStore;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "inferwatch-test";
const SECRET_KEY: &str = "inferwatch-test-secret";

/// A real SeaweedFS (master + volume + filer + S3 gateway) on loopback. Killed on drop.
struct SeaweedFs {
    child: Option<Child>,
    dir: PathBuf,
    ports: [u16; 4],
}

fn weed() -> PathBuf {
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
        if p < 55000 && std::net::TcpListener::bind(("127.0.0.1", p + 10000)).is_ok() {
            return p;
        }
    }
}

impl SeaweedFs {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("iw-seaweed-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = json!({"identities": [{"name": "inferwatch",
            "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
            "actions": ["Admin", "Read", "List", "Write"]}]});
        std::fs::write(dir.join("s3.json"), config.to_string()).unwrap();
        let mut s = SeaweedFs { child: None, dir, ports: [low_port(), low_port(), low_port(), low_port()] };
        s.spawn();
        s
    }

    fn s3_port(&self) -> u16 {
        self.ports[3]
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port())
    }

    fn spawn(&mut self) {
        let [master, volume, filer, s3] = self.ports;
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).unwrap();
        let log = std::fs::File::create(self.dir.join("weed.log")).unwrap();
        let child = Command::new(weed())
            .arg("server")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-volume.max=4", "-master.volumeSizeLimitMB=64"])
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
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", s3)).is_err() {
            assert!(
                Instant::now() < deadline,
                "SeaweedFS S3 did not start; see {}",
                self.dir.join("weed.log").display()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn client(&self) -> impl ObjectStore {
        AmazonS3Builder::new()
            .with_bucket_name("models")
            .with_region("us-east-1")
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_access_key_id(ACCESS_KEY)
            .with_secret_access_key(SECRET_KEY)
            .build()
            .unwrap()
    }

    /// Create the bucket through the S3 API (a signed PUT through the gateway), retrying while
    /// the cluster elects its master and allocates volumes.
    async fn create_bucket(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let out = Command::new(weed())
                .args(["shell", &format!("-master=127.0.0.1:{}", self.ports[0])])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    use std::io::Write;
                    c.stdin.take().unwrap().write_all(b"s3.bucket.create -name models\nexit\n")?;
                    c.wait_with_output()
                })
                .unwrap();
            let store = self.client();
            let probe = store.put(&ObjPath::from("probe"), b"ok".to_vec().into()).await;
            if probe.is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "cannot create the bucket: {} {probe:?}",
                String::from_utf8_lossy(&out.stderr)
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Upload a built-in package under `prefix/name/` (golden.json left out).
    async fn upload(&self, prefix: &str, name: &str, corrupt: bool) {
        let store = self.client();
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
            store.put(&ObjPath::from(format!("{prefix}/{name}/{file}")), bytes.into()).await.unwrap();
        }
    }
}

impl Drop for SeaweedFs {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn credentials() {
    // Same values for every test of this binary; the server processes inherit them.
    std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
}

fn cache_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iw-model-cache-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn metrics(s: &Server) -> String {
    s.text("/metrics").await.2
}

#[tokio::test]
async fn models_load_from_s3_survive_the_store_going_down_and_recover_without_restart() {
    credentials();
    let mut fs = SeaweedFs::start();
    fs.create_bucket().await;
    for m in ["sentiment", "topic", "email"] {
        fs.upload("prod", m, false).await;
    }
    let cache = cache_dir();
    let endpoint = fs.endpoint();
    let args = |preload: &'static str, cache: &PathBuf| -> Vec<String> {
        vec![
            "--model-source".into(),
            "s3".into(),
            "--s3-uri".into(),
            "s3://models/prod".into(),
            "--s3-endpoint".into(),
            endpoint.clone(),
            "--preload".into(),
            preload.into(),
            "--model-cache-dir".into(),
            cache.display().to_string(),
        ]
    };
    let a = args("sentiment", &cache);
    let s = Server::ready(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (status, body) = s.get("/v1/models").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["models"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["email", "sentiment", "topic"], "{body}");
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "what a lovely day"})).await;
    assert_eq!((status, body["label"].as_str()), (200, Some("positive")), "{body}");
    let (status, health) = s.get("/storage/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!((health["reachable"].as_bool(), health["bucket_readable"].as_bool()), (Some(true), Some(true)));
    let m = metrics(&s).await;
    assert!(m.contains(r#"source="s3://models/prod/sentiment""#), "model info names the store: {m}");
    assert!(m.contains(r#"inferwatch_dependency_up{dependency="storage",required="true"} 1"#));
    assert!(m.contains(r#"inferwatch_dependency_bytes_total{dependency="storage",direction="in"}"#));
    assert!(m.contains(r#"inferwatch_dependency_request_duration_seconds_count{dependency="storage",operation="get"}"#));
    assert!(cache.join("sentiment/model.json").exists(), "the package is cached on disk");

    // The store dies: the loaded model keeps serving, a new load fails clearly.
    fs.kill();
    let (status, health) = s.get("/storage/health").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["reachable"], false);
    assert!(health["error"].as_str().is_some());
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "still here"})).await;
    assert_eq!(status, 200, "a loaded model keeps serving");
    let (status, body) = s.post("/v1/models/topic/predict", json!({"text": "the rocket reached orbit"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("s3://models/prod/topic"), "{body}");
    let m = metrics(&s).await;
    assert!(m.contains(r#"inferwatch_model_load_failures_total{model="topic",reason="store"} 1"#), "{m}");
    assert!(m.contains(r#"inferwatch_dependency_errors_total{dependency="storage",operation="list"}"#), "{m}");

    // A restart while the store is down loads from the disk cache.
    let b = args("sentiment", &cache);
    let restarted = Server::ready(&b.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (status, body) = restarted.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    assert_eq!(status, 200, "{body}");
    drop(restarted);

    // The store returns: the failed load succeeds without a restart.
    fs.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = s.post("/v1/models/topic/predict", json!({"text": "the rocket reached orbit"})).await;
        if status == 200 {
            assert_eq!(body["top_k"][0]["label"], "sci.space", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "topic never loaded after the store came back: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (status, _) = s.get("/storage/health").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_corrupted_package_in_the_store_is_refused_by_its_checksum() {
    credentials();
    let fs = SeaweedFs::start();
    fs.create_bucket().await;
    fs.upload("bad", "email", true).await;
    let cache = cache_dir();
    let endpoint = fs.endpoint();
    let cache_s = cache.display().to_string();
    let s = Server::start(&[
        "--model-source",
        "s3",
        "--s3-uri",
        "s3://models/bad",
        "--s3-endpoint",
        &endpoint,
        "--preload",
        "email",
        "--model-cache-dir",
        &cache_s,
    ])
    .await;
    let (status, body) = s.post("/v1/models/email/predict", json!({"subject": "hi", "body": "hello"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("sha256"), "{body}");
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 503, "{body}");
}

#[test]
fn a_bad_storage_configuration_is_refused_at_start() {
    // Flag errors come from clap on stderr; start-up errors are logged as a JSON line on stdout.
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_inference-server")).args(args).output().expect("server binary runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, text) = run(&["--model-source", "s3"]);
    assert!(!ok && text.contains("--s3-uri"), "{text}");
    let (ok, text) = run(&["--model-source", "s3", "--s3-uri", "http://bucket/x", "--port", "0"]);
    assert!(!ok && text.contains("s3://bucket/prefix"), "{text}");
}
