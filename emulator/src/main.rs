//! The `emulator` binary: serves the TrackVia and Workato emulators until SIGINT/SIGTERM.
//! Logs go to stderr; the bound URLs are printed on stdout as one JSON line (and written to
//! `--ready-file`).

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use trackvia_emulator::{AuthTypeKeys, Config, Emulator, InputKeys, Seed};

/// Local emulators of the TrackVia and Workato APIs, with a control API under /_emulator/.
#[derive(Debug, Parser)]
#[command(name = "emulator", version)]
struct Args {
    /// Seed file (YAML, or JSON when it ends in .json).
    #[arg(long, value_name = "FILE")]
    seed: PathBuf,
    /// TrackVia listen address (loopback only; port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    trackvia_addr: SocketAddr,
    /// Workato listen address (loopback only; port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    workato_addr: SocketAddr,
    /// Written once listening: {"trackvia":"http://...","workato":"http://..."}.
    #[arg(long, value_name = "FILE")]
    ready_file: Option<PathBuf>,
    /// Latency added to every vendor call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// How often running recipes poll their trigger; 0 = only on /_emulator/workato/tick.
    #[arg(long, default_value_t = 1000)]
    recipe_poll_interval_ms: u64,
    /// Consecutive trigger errors before Workato stops a recipe (0 = never).
    #[arg(long, default_value_t = 60)]
    auth_error_stop_threshold: u32,
    /// Connection input field names the emulated TrackVia connector reads: API key, auth token.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        default_value = "user_key,access_token"
    )]
    trackvia_input_keys: Vec<String>,
    /// The built-in TrackVia connector's authentication-type field and its two values (OAuth,
    /// Auth Token). Unpublished by Workato: see docs/emulator.md.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 1,
        default_value = "auth_type,oauth,auth_token"
    )]
    trackvia_auth_type: Vec<String>,
    /// The type of a TrackVia connection whose input names none: `oauth` or `auth_token`.
    #[arg(long, default_value = "auth_token")]
    trackvia_default_auth_type: String,
    /// Retry-After seconds on Workato 429 answers (0 = send no Retry-After).
    #[arg(long, default_value_t = 1)]
    workato_retry_after_secs: u64,
    /// stop_cause of recipes stopped by the task limit.
    #[arg(long, default_value = "txn_quota_limit")]
    task_limit_stop_cause: String,
}

impl Args {
    fn config(&self) -> Result<Config, String> {
        let [user_key, access_token] = self.trackvia_input_keys.as_slice() else {
            return Err("--trackvia-input-keys takes exactly two names, e.g. user_key,access_token".into());
        };
        let [field, oauth, auth_token] = self.trackvia_auth_type.as_slice() else {
            return Err(
                "--trackvia-auth-type takes a field and two values, e.g. auth_type,oauth,auth_token".into(),
            );
        };
        let default_oauth = match self.trackvia_default_auth_type.as_str() {
            "oauth" => true,
            "auth_token" => false,
            other => {
                return Err(format!(
                    "--trackvia-default-auth-type: {other:?} is neither oauth nor auth_token"
                ));
            }
        };
        Ok(Config {
            trackvia_addr: self.trackvia_addr,
            workato_addr: self.workato_addr,
            latency: Duration::from_millis(self.latency_ms),
            recipe_poll_interval: Duration::from_millis(self.recipe_poll_interval_ms),
            auth_error_stop_threshold: self.auth_error_stop_threshold,
            trackvia_input_keys: InputKeys {
                user_key: user_key.clone(),
                access_token: access_token.clone(),
                auth_type: AuthTypeKeys {
                    field: field.clone(),
                    oauth: oauth.clone(),
                    auth_token: auth_token.clone(),
                    default_oauth,
                },
                custom: Vec::new(),
            },
            workato_retry_after_secs: self.workato_retry_after_secs,
            task_limit_stop_cause: self.task_limit_stop_cause.clone(),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match run(Args::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            let _ = writeln!(std::io::stderr(), "emulator: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let config = args.config()?;
    let seed = Seed::from_path(&args.seed).map_err(|e| e.to_string())?;
    let emulator = Emulator::start(seed, config).await.map_err(|e| e.to_string())?;
    let urls = emulator.urls_json();
    if let Some(path) = &args.ready_file {
        write_ready_file(path, &urls).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{urls}")
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;
    drop(stdout);
    wait_for_signal().await;
    tracing::info!("shutting down");
    emulator.shutdown().await;
    Ok(())
}

/// Writes the file atomically (temporary file + rename) so readers never see half of it.
fn write_ready_file(path: &Path, content: &str) -> std::io::Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".tmp");
    std::fs::write(&temporary, format!("{content}\n"))?;
    std::fs::rename(&temporary, path)
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
