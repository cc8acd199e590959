//! Test certificates made by `openssl`: a private CA and a server certificate it signed for
//! 127.0.0.1 and localhost (Redis over TLS, Prometheus over TLS).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `openssl` with `args`, or the test fails with its output.
pub fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl").args(args).current_dir(dir).stdin(Stdio::null()).output().expect("openssl runs");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A CA (`<tag>-ca.pem`) and a server certificate it signed for 127.0.0.1 and localhost
/// (`<tag>-server.pem`, `<tag>-server.key`).
pub fn certificates(dir: &Path, tag: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (ca_key, ca, key, csr, cert) = [
        format!("{tag}-ca.key"),
        format!("{tag}-ca.pem"),
        format!("{tag}-server.key"),
        format!("{tag}-server.csr"),
        format!("{tag}-server.pem"),
    ]
    .into();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
            "-days",
            "2",
            "-subj",
            &format!("/CN=inferwatch test CA {tag}"),
        ],
    );
    openssl(dir, &["req", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj", "/CN=127.0.0.1"]);
    let ext = dir.join(format!("{tag}-san.ext"));
    std::fs::write(&ext, "subjectAltName=IP:127.0.0.1,DNS:localhost\n").expect("ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &cert,
            "-days",
            "2",
            "-extfile",
            ext.to_str().expect("path"),
        ],
    );
    (dir.join(ca), dir.join(cert), dir.join(key))
}
