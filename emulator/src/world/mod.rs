//! The world: everything the emulators remember, below the vendor routes and the control API.
//! Both vendors' data (TrackVia accounts, Workato workspaces), the clock, the call log, the
//! pending faults, the rate-limit buckets and the secret ledger, gathered in [`Shared`]. Nothing
//! here imports the vendor emulators, the control API or the server.

pub mod behaviour;
pub mod calls;
pub mod clock;
pub mod faults;
pub mod ledger;
pub mod shared;
pub mod sync;
pub mod token_bucket;
pub mod trackvia;
pub mod workato;
pub mod workato_limits;

pub use shared::{Shared, World};
