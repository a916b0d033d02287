//! State shared by every handler of both listeners.

use std::sync::{Arc, Mutex, MutexGuard};

use jiff::Timestamp;

use super::calls::CallLog;
use super::clock::Clock;
use super::faults::Faults;
use super::sync::lock;
use super::token_bucket::Buckets;
use super::trackvia::TrackviaState;
use super::workato::{Connection, WorkatoState};
use super::workato_limits::LimitKey;
use crate::config::{Config, CustomKeys, InputKeys};
use crate::error::SeedError;
use crate::seed::Seed;

/// Everything a request handler can reach. Lives behind an [`Arc`].
#[derive(Debug)]
pub struct Shared {
    /// The emulator's configuration.
    pub config: Config,
    /// The emulator's clock.
    pub clock: Clock,
    /// Both vendors' data, behind one lock so that Workato can test connections against
    /// TrackVia atomically. Never held across an `.await`.
    pub world: Mutex<World>,
    /// The vendor-call log.
    pub calls: CallLog,
    /// Pending fault injections.
    pub faults: Faults,
    /// Per-account TrackVia rate limits.
    pub trackvia_limits: Buckets<u64>,
    /// Per-workspace Workato rate limits.
    pub workato_limits: Buckets<LimitKey>,
}

/// The data of both emulated services.
#[derive(Debug)]
pub struct World {
    /// TrackVia accounts.
    pub trackvia: TrackviaState,
    /// Workato workspaces.
    pub workato: WorkatoState,
}

/// The Workato connector's connection test against the TrackVia state, as
/// `workato::probe::test_connection` runs it: given by the caller of [`Shared::new`] because
/// the state sits below the vendor emulators.
pub type ProbeFn = fn(&TrackviaState, Timestamp, &InputKeys, &Connection) -> Result<(), String>;

impl Shared {
    /// Builds the shared state from a seed; seeded connections are tested with `probe`.
    pub fn new(seed: &Seed, config: Config, probe: ProbeFn) -> Result<Arc<Self>, SeedError> {
        super::ledger::record_seed(seed);
        let clock = Clock::default();
        let now = clock.now();
        let trackvia = TrackviaState::from_seed(&seed.trackvia, now)?;
        let mut config = config;
        config.trackvia_input_keys.custom = seed
            .workato
            .workspaces
            .iter()
            .flat_map(|w| &w.custom_connectors)
            .map(|c| CustomKeys {
                provider: c.name.clone(),
                user_key: c.api_key_field.clone(),
                access_token: c.auth_token_field.clone(),
            })
            .collect();
        let keys = &config.trackvia_input_keys;
        let workato = WorkatoState::from_seed(&seed.workato, now, &|c| probe(&trackvia, now, keys, c))?;
        Ok(Arc::new(Self {
            config,
            clock,
            world: Mutex::new(World { trackvia, workato }),
            calls: CallLog::default(),
            faults: Faults::default(),
            trackvia_limits: Buckets::default(),
            workato_limits: Buckets::default(),
        }))
    }

    /// Locks the world.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }
}
