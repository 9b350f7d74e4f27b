//! `agora keys`: the file keyring (`agora_client::keyring`) from the
//! command line, as `wasmd keys` and `btcli wallet` users expect: add (or
//! recover from a mnemonic), list, show, delete.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;

use age::secrecy::{ExposeSecret, SecretString};
use agora_client::keyring::{KeyInfo, Keyring};
use clap::{Args, Subcommand};

use crate::error::{CliError, finish};

/// The environment variable a service sets instead of typing the passphrase.
pub const PASSPHRASE_ENV: &str = "AGORA_KEYRING_PASSPHRASE";

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// The keyring directory. Default: `$AGORA_HOME/keys`, or `agora/keys`
    /// under the user's config directory (`~/.config` on Linux).
    #[arg(long, global = true)]
    keyring_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Create a key from a fresh 24-word mnemonic (printed once: write it
    /// down), or with --recover from a mnemonic read from standard input.
    /// The passphrase comes from $AGORA_KEYRING_PASSPHRASE or a prompt.
    Add {
        name: String,
        #[arg(long)]
        recover: bool,
    },
    /// Every key, with its address.
    List {
        /// The chain's bech32 address prefix.
        #[arg(long, default_value = "wasm")]
        prefix: String,
        #[arg(long)]
        json: bool,
    },
    /// One key: name, address, public key.
    Show {
        name: String,
        /// Print the address alone.
        #[arg(long)]
        address: bool,
        /// The chain's bech32 address prefix.
        #[arg(long, default_value = "wasm")]
        prefix: String,
        /// Decrypt the key with the passphrase, to check both.
        #[arg(long)]
        check_passphrase: bool,
    },
    /// Remove a key (it cannot be recovered without its mnemonic).
    Delete {
        name: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

pub fn run(args: &KeysArgs) -> ExitCode {
    finish("keys", keys(args))
}

fn keyring_dir(args: &KeysArgs) -> Result<PathBuf, CliError> {
    if let Some(dir) = &args.keyring_dir {
        return Ok(dir.clone());
    }
    if let Some(home) = std::env::var_os("AGORA_HOME") {
        return Ok(PathBuf::from(home).join("keys"));
    }
    dirs::config_dir()
        .map(|config| config.join("agora").join("keys"))
        .ok_or_else(|| {
            CliError::Invalid("no config directory: pass --keyring-dir or set AGORA_HOME".into())
        })
}

/// The passphrase from the environment, or typed (twice when `confirm`).
pub(crate) fn passphrase(confirm: bool) -> Result<SecretString, CliError> {
    if let Ok(passphrase) = std::env::var(PASSPHRASE_ENV) {
        return Ok(SecretString::from(passphrase));
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::Invalid(format!(
            "no passphrase: set {PASSPHRASE_ENV} or run in a terminal"
        )));
    }
    let typed = rpassword::prompt_password("keyring passphrase: ")
        .map_err(CliError::io("reading the passphrase"))?;
    if typed.is_empty() {
        return Err(CliError::Invalid("the passphrase must not be empty".into()));
    }
    if confirm {
        let again = rpassword::prompt_password("repeat it: ")
            .map_err(CliError::io("reading the passphrase"))?;
        if again != typed {
            return Err(CliError::Invalid("the passphrases differ".into()));
        }
    }
    Ok(SecretString::from(typed))
}

/// A mnemonic from standard input: hidden when typed at a terminal.
fn read_mnemonic() -> Result<SecretString, CliError> {
    let phrase = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("mnemonic: ").map_err(CliError::io("reading the mnemonic"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(CliError::io("reading the mnemonic"))?;
        line
    };
    Ok(SecretString::from(phrase.trim().to_string()))
}

fn keys(args: &KeysArgs) -> Result<(), CliError> {
    let keyring = Keyring::open(keyring_dir(args)?);
    match &args.command {
        KeysCommand::Add { name, recover } => {
            if *recover {
                let mnemonic = read_mnemonic()?;
                let info = keyring.recover(name, &mnemonic, &passphrase(true)?)?;
                println!("recovered {} in {}", info.name, keyring.dir().display());
            } else {
                let (info, mnemonic) = keyring.add(name, &passphrase(true)?)?;
                println!("created {} in {}", info.name, keyring.dir().display());
                println!(
                    "\nWrite these words down and keep them safe: they are the only way to\nrecover the key, and they are not shown again.\n\n{}",
                    mnemonic.expose_secret()
                );
            }
        }
        KeysCommand::List { prefix, json } => {
            let keys = keyring.list()?;
            let rows: Vec<(&KeyInfo, String)> = keys
                .iter()
                .map(|key| Ok((key, key.address(prefix)?)))
                .collect::<Result<_, CliError>>()?;
            if *json {
                let json: Vec<_> = rows
                    .iter()
                    .map(|(key, address)| {
                        serde_json::json!({
                            "name": key.name,
                            "address": address,
                            "public_key": hex(&key.public_key),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&json)?);
            } else {
                for (key, address) in rows {
                    println!("{:<24} {address}", key.name);
                }
            }
        }
        KeysCommand::Show {
            name,
            address,
            prefix,
            check_passphrase,
        } => {
            let key = keyring.show(name)?;
            if *check_passphrase {
                keyring.signing_key(name, &passphrase(false)?)?;
            }
            if *address {
                println!("{}", key.address(prefix)?);
            } else {
                println!("name:       {}", key.name);
                println!("address:    {}", key.address(prefix)?);
                println!("public key: {}", hex(&key.public_key));
                println!("hd path:    {}", key.hd_path);
            }
        }
        KeysCommand::Delete { name, yes } => {
            keyring.show(name)?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Invalid(format!(
                        "deleting {name} needs --yes when not run in a terminal"
                    )));
                }
                eprint!("delete {name}? It cannot be recovered without its mnemonic [y/N] ");
                let mut answer = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut answer)
                    .map_err(CliError::io("reading the answer"))?;
                if !answer.trim().eq_ignore_ascii_case("y") {
                    return Err(CliError::Invalid("not deleted".into()));
                }
            }
            keyring.delete(name)?;
            println!("deleted {name}");
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
