//! The `trackvia-operator` binary.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    /// Print the CRDs as YAML, or write one file per CRD into a directory.
    Crds {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    match cli.command {
        Command::Crds { out } => {
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
    }
}
