//! The `trackvia-operator` binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use trackvia_operator::api::integration_account::RotationStrategy;
use trackvia_operator::cli;
use trackvia_operator::controller::leader::LeaseConfig;
use trackvia_operator::controller::run::{RunConfig, run};
use trackvia_operator::reconcile::Settings;

/// jemalloc rather than glibc's malloc: less memory for the caches' many small allocations, and
/// freed memory goes back to the system (docs/performance.md, "one timer per kind").
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Kubernetes operator for dedicated TrackVia API users, their Workato connections and staged
/// credential rotation.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The kubeconfig file of the helper commands (default: KUBECONFIG, else ~/.kube/config, else
    /// in-cluster).
    #[arg(long, global = true)]
    kubeconfig: Option<PathBuf>,
    /// The kubeconfig context of the helper commands (default: the current context).
    #[arg(long, global = true)]
    context: Option<String>,
    #[command(subcommand)]
    command: Command,
}

/// Which objects a helper command looks at, and how it prints them.
#[derive(Args, Debug)]
struct SelectArgs {
    /// Namespace (default: the kubeconfig's).
    #[arg(short, long)]
    namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    all_namespaces: bool,
    /// Label selector (`-l app=crm,team!=ops`).
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Output format: table (for people), json or yaml.
    #[arg(short = 'o', long, default_value = "table", value_parser = cli::scope::Output::parse)]
    output: cli::scope::Output,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controllers.
    Run(Box<RunArgs>),
    /// Request a rotation of an IntegrationAccount (creates a CredentialRotation).
    Rotate {
        /// The IntegrationAccount.
        name: String,
        /// Namespace (default: the kubeconfig's).
        #[arg(short, long)]
        namespace: Option<String>,
        /// Force a strategy.
        #[arg(long, value_parser = ["Overlap", "StopAndRestart"])]
        strategy: Option<String>,
        /// Check everything and change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Why, recorded in the rotation.
        #[arg(long)]
        reason: Option<String>,
        /// Set spec.rotation.requestedAt instead (declarative; the operator echoes it when handled).
        #[arg(long)]
        declarative: bool,
    },
    /// Approve a scheduled StopAndRestart CredentialRotation (it stops nothing before): run it when
    /// you are ready to regenerate the token in TrackVia.
    Approve {
        /// The CredentialRotation.
        name: String,
        /// Namespace (default: the kubeconfig's).
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// Show IntegrationAccounts, each with its TrackVia account, connections, recipes, rotations and
    /// the last five events of them.
    Status {
        /// The IntegrationAccounts.
        #[arg(required = true)]
        names: Vec<String>,
        /// Namespace (default: the kubeconfig's).
        #[arg(short, long)]
        namespace: Option<String>,
    },
    /// Ask the operator to run the periodic checks of objects now, e.g. after a step in TrackVia's
    /// or Workato's UI (sets the integrations.trackvia-operator.dev/recheck annotation).
    Recheck {
        /// Objects as KIND/NAME (`ia/sf wkc/sf-dev tva/acme`), or bare names with --kind.
        targets: Vec<String>,
        /// The kind of bare names, and of the objects `-l` selects (default with -l: every kind).
        #[arg(long)]
        kind: Option<String>,
        #[command(flatten)]
        select: SelectArgs,
    },
    /// The person's to-do list: every pending next action of IntegrationAccounts and every object
    /// that is not Ready, one line each.
    Todo {
        #[command(flatten)]
        select: SelectArgs,
    },
    /// Print a shell completion script (`source <(kubectl-trackvia completion bash)`).
    Completion {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the CRDs as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// A flag given twice takes its last value (chart `extraArgs` and tests override the defaults).
#[derive(Args, Debug)]
#[command(args_override_self = true)]
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
    /// How often an active user is read again, so that a deactivation in TrackVia is seen.
    #[arg(long, default_value = "5m", value_parser = duration)]
    user_recheck_interval: Duration,
    /// Budget of TrackVia calls per account per second (TrackVia publishes none).
    #[arg(long, default_value_t = 5)]
    trackvia_requests_per_second: u32,
    /// How often a rotation probes the old token until TrackVia rejects it (one TrackVia call per
    /// probe; 12 an hour per rotation at the default).
    #[arg(long, default_value = "5m", value_parser = duration)]
    revocation_probe_interval: Duration,
    /// How often a WorkatoConnection reads its dependent recipes' recent jobs, at most (one jobs
    /// call per recipe whose job counters moved, at most 20 per check; 0s: never).
    #[arg(long, default_value = "5m", value_parser = duration)]
    recipe_jobs_interval: Duration,
    /// Reconciles of one kind that run at once (0: no limit). Each holds its own requests to the
    /// API server; Workato's budget, not this, paces the connection updates.
    #[arg(long, default_value_t = 32)]
    max_concurrent_reconciles: u16,
    /// Timeout of each TrackVia and Workato request (default: 30s for TrackVia, 45s for Workato).
    #[arg(long, value_parser = duration)]
    vendor_request_timeout: Option<Duration>,
    /// Elect a leader through a Lease so that only one replica reconciles.
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the leader Lease (in the operator's namespace).
    #[arg(long, default_value = "trackvia-operator-leader")]
    lease_name: String,
    /// This replica's identity in the Lease (default: POD_NAME, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// How long the leader Lease lasts without renewal: a leader that dies without releasing it
    /// is replaced after this.
    #[arg(long, default_value = "15s", value_parser = duration)]
    lease_duration: Duration,
    /// How often the leader renews the Lease, and how often a standby tries to take it (shorter
    /// than --lease-duration).
    #[arg(long, default_value = "5s", value_parser = duration)]
    lease_renew_interval: Duration,
    /// How long the leader goes on leading when it cannot renew the Lease (a network partition, an
    /// API server that does not answer): longer than --lease-renew-interval, shorter than
    /// --lease-duration, so that it has stopped before a standby may take over. Default: two
    /// thirds of --lease-duration.
    #[arg(long, value_parser = duration)]
    lease_renew_deadline: Option<Duration>,
}

fn duration(s: &str) -> Result<Duration, String> {
    s.parse::<kube::core::Duration>()
        .map(Duration::from)
        .map_err(|e| format!("{e} (e.g. 90s, 10m, 1h)"))
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let conn = cli::connect::Connection {
        kubeconfig: cli.kubeconfig.clone(),
        context: cli.context.clone(),
    };
    let result = match cli.command {
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Installed as a kubectl plugin the binary is `kubectl-trackvia`.
            let name = std::env::args()
                .next()
                .and_then(|a| {
                    PathBuf::from(a)
                        .file_name()
                        .map(|f| f.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "trackvia-operator".into());
            clap_complete::generate(shell, &mut cmd, name, &mut std::io::stdout());
            Ok(())
        }
        Command::Recheck {
            targets,
            kind,
            select,
        } => recheck(&conn, targets, kind, select),
        Command::Todo { select } => {
            let output = select.output;
            helper(&conn, select.namespace.clone(), |client, ns| async move {
                let items = cli::todo::todo(&client, &scope(ns, &select)).await?;
                output.render(&items, cli::todo::table)
            })
        }
        Command::Crds { out } => crds(out),
        Command::Run(args) => serve(*args),
        Command::Rotate {
            name,
            namespace,
            strategy,
            dry_run,
            reason,
            declarative,
        } => helper(&conn, namespace, |client, ns| async move {
            let strategy = match strategy.as_deref() {
                Some("Overlap") => Some(RotationStrategy::Overlap),
                Some(_) => Some(RotationStrategy::StopAndRestart),
                None => None,
            };
            let opts = cli::RotateOptions {
                strategy,
                dry_run,
                reason,
                declarative,
            };
            cli::rotate(&client, &ns, &name, &opts).await
        }),
        Command::Approve { name, namespace } => helper(&conn, namespace, |client, ns| async move {
            cli::approve(&client, &ns, &name).await
        }),
        Command::Status { names, namespace } => helper(&conn, namespace, |client, ns| async move {
            let mut views = Vec::new();
            for name in &names {
                views.push(cli::status(&client, &ns, name).await?);
            }
            Ok(views.join("\n"))
        }),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Runs a helper against the current kubeconfig and prints its answer.
/// The scope of a helper command in namespace `ns`.
fn scope(ns: String, select: &SelectArgs) -> cli::scope::Scope {
    cli::scope::Scope {
        namespace: ns,
        all_namespaces: select.all_namespaces,
        selector: select.selector.clone(),
    }
}

fn recheck(
    conn: &cli::connect::Connection,
    targets: Vec<String>,
    kind: Option<String>,
    select: SelectArgs,
) -> Result<(), Box<dyn std::error::Error>> {
    use cli::kinds::{Kind, target};
    let kind = match kind.as_deref() {
        Some(k) => Some(Kind::parse(k).ok_or_else(|| format!("{k:?} is not a kind of this operator"))?),
        None => None,
    };
    let targets = targets
        .iter()
        .map(|t| target(t, kind))
        .collect::<Result<Vec<_>, _>>()?;
    let kinds: Vec<Kind> = kind.map_or_else(|| Kind::ALL.to_vec(), |k| vec![k]);
    let output = select.output;
    helper(conn, select.namespace.clone(), |client, ns| async move {
        let done = cli::recheck::recheck(&client, &scope(ns, &select), &targets, &kinds).await?;
        output.render(&done, cli::recheck::table)
    })
}

fn helper<F, Fut>(
    conn: &cli::connect::Connection,
    namespace: Option<String>,
    f: F,
) -> Result<(), Box<dyn std::error::Error>>
where
    F: FnOnce(kube::Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<String, cli::Error>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let out = runtime.block_on(async {
        let (client, default_ns) = cli::connect::connect(conn).await?;
        let ns = namespace.unwrap_or(default_ns);
        Ok::<_, Box<dyn std::error::Error>>(f(client, ns).await?)
    })?;
    use std::io::Write;
    std::io::stdout().lock().write_all(out.as_bytes())?;
    if !out.ends_with('\n') {
        std::io::stdout().lock().write_all(b"\n")?;
    }
    Ok(())
}

fn serve(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let lease = LeaseConfig {
        name: args.lease_name.clone(),
        namespace: args.operator_namespace.clone(),
        identity: args.identity.clone().unwrap_or_else(default_identity),
        duration: args.lease_duration,
        renew: args.lease_renew_interval,
        renew_deadline: args
            .lease_renew_deadline
            .unwrap_or_else(|| LeaseConfig::default_renew_deadline(args.lease_duration)),
    };
    lease.check().map_err(|e| {
        format!("{e}: set --lease-renew-interval, --lease-renew-deadline and --lease-duration accordingly")
    })?;
    init_logging(&args.log, args.log_json)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let kube_config = kube::Config::infer().await?;
        let config = RunConfig {
            namespace: args.namespace.clone(),
            operator_namespace: args.operator_namespace.clone(),
            admin_addr: args.admin_addr,
            settings: Settings {
                account_check_interval: args.account_check_interval,
                workspace_check_interval: args.workspace_check_interval,
                token_check_interval: args.token_check_interval,
                user_poll_interval: args.user_poll_interval,
                user_recheck_interval: args.user_recheck_interval,
                trackvia_requests_per_second: args.trackvia_requests_per_second,
                revocation_probe_interval: args.revocation_probe_interval,
                vendor_request_timeout: args.vendor_request_timeout,
                recipe_jobs_interval: args.recipe_jobs_interval,
            },
            concurrency: args.max_concurrent_reconciles,
            leader: args.leader_elect.then_some(lease),
        };
        run(kube_config, config).await?;
        Ok(())
    })
}

fn default_identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default();
    format!("{host}-{}", std::process::id())
}

fn init_logging(filter: &str, json: bool) -> Result<(), Box<dyn std::error::Error>> {
    // TrackVia credentials travel in query strings: keep the HTTP stack's own debug logs (which
    // may print request URLs) off unless a directive asks for them by name.
    let mut directives = filter.to_owned();
    for quiet in ["reqwest", "hyper_util", "hyper"] {
        if !filter.contains(quiet) {
            directives.push_str(&format!(",{quiet}=info"));
        }
    }
    let filter = tracing_subscriber::EnvFilter::try_new(directives)?;
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
