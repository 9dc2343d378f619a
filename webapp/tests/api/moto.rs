//! An AWS-protocol emulator (`moto_server`) on loopback, shared by every test of this binary.
//!
//! `scripts/test.sh` installs moto into `<workspace>/.venv`; `IMGCAP_MOTO_SERVER` may name
//! another executable. Tests share one server and isolate themselves by giving every resource
//! (bucket, table, queue, secret) a unique name, so they can run in parallel without resets.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use imgcap_webapp::config::AwsConfig;

pub struct Moto {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Moto {
    /// The running emulator, started on first use.
    pub fn shared() -> &'static Moto {
        static MOTO: OnceLock<Moto> = OnceLock::new();
        MOTO.get_or_init(start)
    }

    /// AWS client settings that reach this emulator with fixed test credentials.
    pub fn aws_config(&self) -> AwsConfig {
        AwsConfig {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.endpoint.clone()),
            credentials: Some(Credentials::new("testing", "testing", None, None, "moto")),
            ..AwsConfig::default()
        }
    }
}

/// A name no other test uses, valid for buckets, tables, queues and secrets.
pub fn unique_name(prefix: &str) -> String {
    format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// The program and arguments that run the emulator: `scripts/moto_server.py` (moto serving
/// one request at a time, see there) with the venv's Python, or `IMGCAP_MOTO_SERVER`.
fn command() -> (PathBuf, Vec<PathBuf>) {
    if let Some(path) = std::env::var_os("IMGCAP_MOTO_SERVER") {
        return (path.into(), Vec::new());
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let python = root.join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} not found: run scripts/test.sh once (it installs the emulator into .venv) or set \
         IMGCAP_MOTO_SERVER",
        python.display()
    );
    (python, vec![root.join("scripts/moto_server.py")])
}

fn start() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (program, script) = command();
    let (started, spawned) = std::sync::mpsc::channel();
    // The child is tied to this thread's life (PR_SET_PDEATHSIG fires when the spawning thread
    // ends), so it is spawned from a thread that never ends: the emulator dies with the test
    // process, however that process ends.
    std::thread::spawn(move || {
        let mut command = Command::new(&program);
        command
            .args(&script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        match command.spawn() {
            Ok(mut child) => {
                started.send(Ok(())).unwrap();
                // Keeps this thread, and so the emulator, alive until the process ends.
                let _ = child.wait();
            }
            Err(e) => started
                .send(Err(format!("cannot start {}: {e}", program.display())))
                .unwrap(),
        }
    });
    spawned.recv().unwrap().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto_server did not listen on {endpoint} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Moto { endpoint }
}

/// The app's SDK configuration (endpoint override, fixed credentials, rustls/ring client)
/// reaches the emulator with a real signed request.
#[tokio::test]
async fn sdk_config_reaches_the_emulator() {
    let moto = Moto::shared();
    let sdk = imgcap_webapp::adapters::aws::sdk_config(&moto.aws_config()).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    let bucket = unique_name("sdk-check");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let listed = s3.list_buckets().send().await.unwrap();
    assert!(listed
        .buckets()
        .iter()
        .any(|b| b.name() == Some(bucket.as_str())));
}
