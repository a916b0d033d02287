//! The `trackvia-operator` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use trackvia_operator::controller::Settings;
use trackvia_operator::controller::run::{RunConfig, run};

/// Kubernetes operator for dedicated TrackVia API users, their Workato connections and staged
/// credential rotation.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers.
    Run(RunArgs),
    /// Print the CRDs as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Watch only this namespace (default: every namespace).
    #[arg(long, env = "WATCH_NAMESPACE")]
    namespace: Option<String>,
    /// The operator's own namespace (holds the fingerprint key Secret).
    #[arg(long, env = "POD_NAMESPACE", default_value = "trackvia-operator")]
    operator_namespace: String,
    /// Address of the admin server (/metrics, /healthz, /readyz).
    #[arg(long, env = "ADMIN_ADDR", default_value = "0.0.0.0:8080")]
    admin_addr: SocketAddr,
    /// Log filter (tracing EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
    /// Log as JSON lines.
    #[arg(long, env = "LOG_JSON")]
    log_json: bool,
    /// Re-check of TrackViaAccount admin credentials when a spec sets none.
    #[arg(long, default_value = "10m", value_parser = duration)]
    account_check_interval: Duration,
    /// Re-check of WorkatoWorkspace tokens when a spec sets none.
    #[arg(long, default_value = "5m", value_parser = duration)]
    workspace_check_interval: Duration,
    /// Re-validation of each IntegrationAccount's token.
    #[arg(long, default_value = "15m", value_parser = duration)]
    token_check_interval: Duration,
    /// How often an account's user list is read while users wait for verification.
    #[arg(long, default_value = "1m", value_parser = duration)]
    user_poll_interval: Duration,
    /// Budget of TrackVia calls per account per second (TrackVia publishes none).
    #[arg(long, default_value_t = 5)]
    trackvia_requests_per_second: u32,
    /// How often a rotation probes the old token until TrackVia rejects it.
    #[arg(long, default_value = "1m", value_parser = duration)]
    revocation_probe_interval: Duration,
}

fn duration(s: &str) -> Result<Duration, String> {
    s.parse::<kube::core::Duration>()
        .map(Duration::from)
        .map_err(|e| format!("{e} (e.g. 90s, 10m, 1h)"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Crds { out } => crds(out),
        Command::Run(args) => serve(args),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn serve(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    init_logging(&args.log, args.log_json)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default().await?;
        let config = RunConfig {
            namespace: args.namespace,
            operator_namespace: args.operator_namespace,
            admin_addr: args.admin_addr,
            settings: Settings {
                account_check_interval: args.account_check_interval,
                workspace_check_interval: args.workspace_check_interval,
                token_check_interval: args.token_check_interval,
                user_poll_interval: args.user_poll_interval,
                trackvia_requests_per_second: args.trackvia_requests_per_second,
                revocation_probe_interval: args.revocation_probe_interval,
            },
        };
        run(client, config).await?;
        Ok(())
    })
}

fn init_logging(filter: &str, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    }
    .map_err(|e| e.to_string())?;
    Ok(())
}

fn crds(out: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let files = trackvia_operator::crdgen::render()?;
    match out {
        Some(dir) => {
            std::fs::create_dir_all(&dir)?;
            for f in files {
                std::fs::write(dir.join(&f.file_name), f.yaml)?;
            }
        }
        None => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            for f in files {
                stdout.write_all(f.yaml.as_bytes())?;
            }
        }
    }
    Ok(())
}
