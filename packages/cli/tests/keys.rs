//! `agora keys` as processes, on a keyring in a temporary directory with the
//! passphrase from the environment (as a service would set it).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PASSPHRASE: &str = "correct horse battery staple";
/// The Cosmos test mnemonic: its address on m/44'/118'/0'/0/0 is known.
const ABANDON: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                       abandon abandon about";

fn keys(home: &Path, passphrase: &str, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("keys")
        .args(args)
        .env("AGORA_HOME", home)
        .env("AGORA_KEYRING_PASSPHRASE", passphrase)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn ok(home: &Path, args: &[&str], stdin: Option<&str>) -> String {
    let out = keys(home, PASSPHRASE, args, stdin);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn refused(out: Output, reason: &str) {
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(reason), "{stderr}");
}

fn home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("agora-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn keys_are_added_recovered_listed_shown_and_deleted() {
    let home = home("story");
    // A new key: 24 words from the OS's generator, shown once.
    let added = ok(&home, &["add", "alice"], None);
    let words: Vec<&str> = added.lines().last().unwrap().split(' ').collect();
    assert_eq!(words.len(), 24, "{added}");

    // Recovered from a mnemonic on standard input: the known address.
    ok(&home, &["add", "bob", "--recover"], Some(ABANDON));
    let bob = ok(
        &home,
        &["show", "bob", "--address", "--prefix", "cosmos"],
        None,
    );
    assert_eq!(bob.trim(), "cosmos19rl4cm2hmr8afy4kldpxz3fka4jguq0auqdal4");

    // Alice recovered from her own words is the same key.
    let alice = ok(&home, &["show", "alice", "--address"], None);
    let again = home.join("again");
    let out = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args([
            "keys",
            "--keyring-dir",
            again.to_str().unwrap(),
            "add",
            "a2",
            "--recover",
        ])
        .env("AGORA_KEYRING_PASSPHRASE", PASSPHRASE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(words.join(" ").as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success());
    let a2 = ok(
        &home,
        &[
            "--keyring-dir",
            again.to_str().unwrap(),
            "show",
            "a2",
            "--address",
        ],
        None,
    );
    assert_eq!(a2, alice);
    assert!(alice.starts_with("wasm1"));

    // The list, as a table and as JSON.
    let list = ok(&home, &["list"], None);
    assert!(list.contains("alice") && list.contains("bob"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(&home, &["list", "--json"], None)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["name"], "bob");

    // The file holds the mnemonic encrypted, readable by its owner only.
    let file = std::fs::read_to_string(home.join("keys/bob.json")).unwrap();
    assert!(!file.contains("abandon"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(home.join("keys/bob.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The passphrase decrypts it; a wrong one is refused.
    ok(&home, &["show", "bob", "--check-passphrase"], None);
    refused(
        keys(&home, "wrong", &["show", "bob", "--check-passphrase"], None),
        "wrong passphrase",
    );

    // Refusals change nothing and exit 2.
    refused(
        keys(&home, PASSPHRASE, &["add", "alice"], None),
        "already exists",
    );
    refused(
        keys(&home, PASSPHRASE, &["add", "../x"], None),
        "invalid key name",
    );
    refused(
        keys(
            &home,
            PASSPHRASE,
            &["add", "carol", "--recover"],
            Some("not a mnemonic"),
        ),
        "invalid mnemonic",
    );
    refused(
        keys(&home, PASSPHRASE, &["delete", "bob"], None),
        "needs --yes",
    );
    assert!(home.join("keys/bob.json").exists());

    ok(&home, &["delete", "bob", "--yes"], None);
    refused(keys(&home, PASSPHRASE, &["show", "bob"], None), "not found");
    let _ = std::fs::remove_dir_all(&home);
}
