//! Faithful local emulators of the TrackVia and Workato REST APIs, built from the vendors'
//! documentation (see `docs/emulator.md`), with a control API under `/_emulator/` and fault
//! injection, for tests and demos.
//!
//! ```no_run
//! # async fn demo() -> Result<(), trackvia_emulator::Error> {
//! use trackvia_emulator::{Config, Emulator, Seed};
//! let seed = Seed::from_path(std::path::Path::new("seed.yaml"))?;
//! let emulator = Emulator::start(seed, Config::default()).await?;
//! println!("{} {}", emulator.trackvia_url(), emulator.workato_url());
//! emulator.shutdown().await;
//! # Ok(()) }
//! ```

pub mod bearer;
pub mod config;
pub mod control;
pub mod error;
pub mod seed;
pub mod server;
pub mod trackvia;
pub mod workato;
pub mod world;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{AuthTypeKeys, Config, CustomKeys, InputKeys};
pub use error::{Error, SeedError};
pub use seed::Seed;
pub use world::calls::Service;

use world::Shared;

/// How long [`RunningEmulator::shutdown`] waits for open connections before aborting them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Entry point of the library.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Loads the seed, binds both listeners and starts serving (and the recipe poller).
    /// Must be called inside a Tokio runtime.
    pub async fn start(seed: Seed, config: Config) -> Result<RunningEmulator, Error> {
        config.validate()?;
        let shared = Shared::new(&seed, config, workato::probe::test_connection)?;
        let trackvia = bind(shared.config.trackvia_addr).await?;
        let workato = bind(shared.config.workato_addr).await?;
        let trackvia_url = url_of(&trackvia, shared.config.trackvia_addr)?;
        let workato_url = url_of(&workato, shared.config.workato_addr)?;
        let (shutdown, receiver) = watch::channel(false);
        let mut tasks = vec![
            tokio::spawn(server::serve(
                trackvia,
                server::app(shared.clone(), Service::Trackvia),
                receiver.clone(),
            )),
            tokio::spawn(server::serve(
                workato,
                server::app(shared.clone(), Service::Workato),
                receiver.clone(),
            )),
        ];
        tasks.extend(workato::runtime::spawn(shared, receiver));
        tracing::info!(%trackvia_url, %workato_url, "emulator listening");
        Ok(RunningEmulator {
            trackvia_url,
            workato_url,
            shutdown,
            tasks,
        })
    }
}

/// A started emulator. Dropping it stops everything too (without waiting).
#[derive(Debug)]
pub struct RunningEmulator {
    trackvia_url: String,
    workato_url: String,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningEmulator {
    /// Base URL of the TrackVia emulator, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn trackvia_url(&self) -> &str {
        &self.trackvia_url
    }

    /// Base URL of the Workato emulator (no trailing slash; the API is under `/api`).
    pub fn workato_url(&self) -> &str {
        &self.workato_url
    }

    /// `{"trackvia":"http://...","workato":"http://..."}` (the ready-file content).
    pub fn urls_json(&self) -> String {
        serde_json::json!({"trackvia": self.trackvia_url, "workato": self.workato_url}).to_string()
    }

    /// Stops serving: waits up to 5 s for open requests, then aborts them.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        for mut task in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in &self.tasks {
            task.abort();
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

fn url_of(listener: &TcpListener, addr: SocketAddr) -> Result<String, Error> {
    let local = listener
        .local_addr()
        .map_err(|source| Error::Bind { addr, source })?;
    Ok(format!("http://{local}"))
}
