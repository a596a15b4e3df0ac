//! The README's walk-through, run as written: `pushgate serve --sandbox` in a fresh directory, then every
//! `sh` block from "A first walk-through with the CLI" up to "The API", in order, in one shell, with the built
//! binary on `PATH` as `pushgate`. A block preceded by `<!-- readme-test: skip (why) -->` is left out (it
//! needs a tool this machine may not have); nothing else is.
//!
//! The sandbox's vendor ports are the fixed defaults of `serve --sandbox` (8600-8608), as a reader gets them;
//! no other test uses them. The gRPC and admin ports are free ones, handed to the shell as
//! `PUSHGATE_ENDPOINT`, so a server already running on 50051 on a developer's machine does not interfere.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// Where the walk-through starts and ends in README.md.
const FIRST: &str = "## A first walk-through with the CLI";
const AFTER_LAST: &str = "## The API";
/// The marker of a block the test leaves out.
const SKIP: &str = "<!-- readme-test: skip";

/// The `sh` blocks between [`FIRST`] and [`AFTER_LAST`], without the skipped ones.
fn walk_through_blocks(readme: &str) -> Vec<String> {
    let start = readme.find(FIRST).expect("the walk-through heading");
    let end = start + readme[start..].find(AFTER_LAST).expect("the API heading");
    let mut blocks = Vec::new();
    let mut lines = readme[start..end].lines();
    let mut skip_next = false;
    while let Some(line) = lines.next() {
        if line.starts_with(SKIP) {
            skip_next = true;
        } else if line.trim() == "```sh" {
            let body: Vec<&str> = lines.by_ref().take_while(|l| l.trim() != "```").collect();
            if !std::mem::take(&mut skip_next) {
                blocks.push(body.join("\n"));
            }
        }
    }
    blocks
}

/// Kills the server when the test ends, passed or not.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for(file: &Path, server: &mut Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(file)
            && !text.trim().is_empty()
        {
            return text.trim().to_owned();
        }
        if let Ok(Some(status)) = server.0.try_wait() {
            panic!("`pushgate serve --sandbox` exited: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start in 60 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = walk_through_blocks(&readme);
    assert!(blocks.len() >= 3, "found only {} blocks", blocks.len());

    let dir = tempfile::tempdir().expect("temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_pushgate"), bin.join("pushgate")).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let address_file = dir.path().join("address");
    let server_out = dir.path().join("serve.out");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let mut server = Server(
        Command::new(bin.join("pushgate"))
            .args(["serve", "--sandbox"])
            .current_dir(&work)
            .env_clear()
            .env("PATH", &path)
            .env("RUST_LOG", "warn")
            .env("PUSHGATE_SERVER_LISTEN", "127.0.0.1:0")
            .env("PUSHGATE_SERVER_ADDRESS_FILE", &address_file)
            .env("PUSHGATE_ADMIN_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&server_out).unwrap())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn pushgate serve --sandbox"),
    );
    let address = wait_for(&address_file, &mut server);

    // Each command is echoed before it runs, so a failure names the README line.
    let script = format!("set -euo pipefail\nset -x\n{}\n", blocks.join("\n"));
    let output = Command::new("bash")
        .args(["-c", &script])
        .current_dir(&work)
        .env_clear()
        .env("PATH", &path)
        .env("HOME", dir.path())
        .env("PUSHGATE_ENDPOINT", format!("http://{address}"))
        .stdin(Stdio::null())
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the walk-through failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );

    // What the README promises the reader sees.
    // `send`'s row: USER DEVICE STATUS REASON CHANNEL VENDOR NOTIFIER ...
    let sent = stdout
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|row| row.len() > 6 && row[..2] == ["alice", "phone"] && row[4] == "vendor")
        .unwrap_or_else(|| panic!("no send row for alice's phone:\n{stdout}"));
    assert_eq!(
        sent[2..7],
        ["success", "-", "vendor", "FCM", "sandbox-fcm"],
        "{sent:?}"
    );
    assert!(
        stdout.contains("1 user removed from label vip; 1 user was not a member"),
        "{stdout}"
    );
    assert!(stdout.contains("completed"), "no task completed:\n{stdout}");
    // `serve --sandbox` says where things are in a few lines; the keys stay in its files.
    let said = std::fs::read_to_string(&server_out).unwrap();
    assert!(
        said.lines().count() <= 8,
        "serve --sandbox printed:\n{said}"
    );
    assert!(!said.contains("PRIVATE KEY"), "{said}");
    assert!(said.contains("pushgate-sandbox/notifiers.json"), "{said}");
    assert!(work.join("pushgate-sandbox/sandbox.txt").exists());
    for file in ["acme-chat.json", "hw.json", "more-users.txt"] {
        assert!(work.join(file).exists(), "{file} was not written");
    }
}

#[test]
fn skipped_blocks_are_only_the_marked_ones() {
    let readme = "## A first walk-through with the CLI\n```sh\na\n```\n<!-- readme-test: skip (x) -->\n```sh\nb\n```\n```text\nc\n```\n```sh\nd\ne\n```\n## The API\n```sh\nf\n```\n";
    assert_eq!(walk_through_blocks(readme), ["a", "d\ne"]);
}
