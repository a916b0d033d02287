//! The secret ledger, for the secret scan of `make test` (scripts/secret-scan.sh): with
//! `TVO_SECRET_LEDGER=<file>` set, every credential value the emulators know is appended to that
//! file, one per line, once per process: the seed's API keys, auth tokens, API tokens and
//! connection inputs, every token minted through the control API, and every credential presented
//! to them (query `user_key`/`access_token`, `Authorization: Bearer`, connection `input`), which
//! covers the literal tokens tests put in Secrets for the operator to send. The scan then looks
//! for each value in the operator's logs, events and statuses. Unset (the default): nothing is
//! recorded. A test aid, like the control API: it writes credentials to a file in clear.

use std::collections::{HashMap, HashSet};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use axum::extract::Query;
use axum::http::{HeaderMap, Uri};
use serde_json::{Map, Value};

use super::sync::lock;
use crate::bearer::bearer_token;
use crate::seed::Seed;

/// The environment variable naming the ledger file.
pub const ENV: &str = "TVO_SECRET_LEDGER";

#[derive(Debug)]
struct Ledger {
    path: PathBuf,
    recorded: HashSet<String>,
}

static LEDGER: OnceLock<Option<Mutex<Ledger>>> = OnceLock::new();

fn ledger() -> Option<&'static Mutex<Ledger>> {
    LEDGER
        .get_or_init(|| {
            std::env::var_os(ENV).filter(|p| !p.is_empty()).map(|path| {
                Mutex::new(Ledger {
                    path: path.into(),
                    recorded: HashSet::new(),
                })
            })
        })
        .as_ref()
}

/// Appends the values not recorded yet (empty values and values spanning lines are skipped).
pub fn record<'a>(values: impl IntoIterator<Item = &'a str>) {
    let Some(ledger) = ledger() else { return };
    let mut ledger = lock(ledger);
    let mut lines = String::new();
    for value in values {
        if value.is_empty() || value.contains(['\n', '\r']) {
            continue;
        }
        if ledger.recorded.insert(value.to_owned()) {
            lines.push_str(value);
            lines.push('\n');
        }
    }
    if lines.is_empty() {
        return;
    }
    if let Err(error) = append(&ledger.path, &lines) {
        tracing::warn!(path = %ledger.path.display(), %error, "cannot write the secret ledger");
    }
}

fn append(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    // One write of whole lines to a file opened for appending: lines of several processes
    // (test binaries, the demo's emulator) never interleave.
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .write_all(text.as_bytes())
}

/// The seed's credentials: account API keys, auth tokens, workspace API tokens, connection inputs.
pub fn record_seed(seed: &Seed) {
    if ledger().is_none() {
        return;
    }
    let trackvia =
        seed.trackvia.accounts.iter().flat_map(|a| {
            std::iter::once(a.api_key.as_str()).chain(a.tokens.iter().map(|t| t.value.as_str()))
        });
    let workato = seed.workato.workspaces.iter().flat_map(|w| {
        w.api_tokens
            .iter()
            .map(String::as_str)
            .chain(w.connections.iter().flat_map(|c| input_values(&c.input)))
    });
    record(trackvia.chain(workato));
}

/// The credentials a vendor call presents: query `user_key` and `access_token`, and the
/// `Authorization: Bearer` token (TrackVia's and Workato's).
pub fn record_request(uri: &Uri, headers: &HeaderMap) {
    if ledger().is_none() {
        return;
    }
    let query = Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    record(
        [
            query.get("user_key").map(String::as_str),
            query.get("access_token").map(String::as_str),
            bearer,
        ]
        .into_iter()
        .flatten(),
    );
}

/// The string values of a connection `input` (the connector's credentials).
pub fn record_input(input: Option<&Map<String, Value>>) {
    if let Some(input) = input {
        record(input_values(input));
    }
}

/// Input fields that select or describe, never authenticate: the authentication type (its
/// default names), the TrackVia host, and the OAuth stand-in's employee email.
const NOT_CREDENTIALS: [&str; 4] = ["auth_type", "authentication_type", "custom_domain", "oauth_user"];

fn input_values(input: &Map<String, Value>) -> impl Iterator<Item = &str> {
    input
        .iter()
        .filter(|(k, _)| !NOT_CREDENTIALS.contains(&k.as_str()))
        .filter_map(|(_, v)| v.as_str())
}
