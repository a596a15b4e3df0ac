//! The `pushgate` binary run as a user runs it, for the CLI's end-to-end tests.

use std::{
    path::Path,
    process::{Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

/// What one run of the binary left behind.
pub struct Run {
    /// How it exited.
    pub status: ExitStatus,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

impl Run {
    /// The exit code (None when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics, with both outputs, unless the run exited with `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            Some(code),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the run exited 0.
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// Each stdout line parsed as JSON.
    pub fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
            .collect()
    }

    /// The one JSON document on stdout.
    pub fn json(&self) -> Value {
        let mut lines = self.json_lines();
        assert_eq!(lines.len(), 1, "{}", self.stdout);
        lines.remove(0)
    }

    /// The stdout line that starts with `start`.
    pub fn line(&self, start: &str) -> &str {
        self.stdout
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in\n{}", self.stdout))
    }
}

/// Runs `pushgate ARGS` in `dir` with nothing from this environment (no stray PUSHGATE_TOKEN), killing it
/// after 60 s.
pub fn pushgate_in(dir: &Path, args: &[&str]) -> Run {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let (out, err) = (out_dir.path().join("stdout"), out_dir.path().join("stderr"));
    let file = |p: &Path| std::fs::File::create(p).expect("output file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_pushgate"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(file(&out))
        .stderr(file(&err))
        .spawn()
        .expect("spawn pushgate");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("pushgate {args:?} did not exit within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status,
        stdout: std::fs::read_to_string(&out).expect("stdout"),
        stderr: std::fs::read_to_string(&err).expect("stderr"),
    }
}

/// Runs `pushgate ARGS` in an empty directory.
pub fn pushgate(args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temp dir");
    pushgate_in(dir.path(), args)
}

/// `pushgate ARGS --endpoint URL --token TOKEN`, off the async runtime (so that in-process sandbox vendors
/// keep answering while the binary runs).
pub async fn call(url: &str, token: &str, args: &[&str]) -> Run {
    let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    all.extend(["--endpoint", url, "--token", token].map(String::from));
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = all.iter().map(String::as_str).collect();
        pushgate(&args)
    })
    .await
    .expect("run pushgate")
}
