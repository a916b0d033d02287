//! What the IntegrationAccount reconciler saw, as plain data: the input of the pure plan.

use jiff::Timestamp;

use crate::api::Environment;
use crate::api::credential_rotation::{RotationOutcome, RotationPhase};
use crate::domain::rotation::{Revocation, Trigger};
use crate::domain::secret_ref::SecretRefError;
use crate::trackvia::{Reach, TrackviaError, User};

/// The referenced TrackViaAccount.
#[derive(Debug)]
pub enum AccountState {
    /// No such TrackViaAccount.
    Missing {
        /// Its name.
        name: String,
    },
    /// It exists but is not Ready.
    NotReady {
        /// Its name.
        name: String,
        /// Its Ready reason.
        reason: String,
        /// Its Ready message.
        message: String,
    },
    /// Ready.
    Ready {
        /// Its name.
        name: String,
        /// Base URL.
        base_url: String,
        /// Account id, if any.
        account_id: Option<String>,
        /// Environment.
        environment: Environment,
    },
}

/// The TrackVia user, as far as it was looked up.
#[derive(Debug)]
pub enum UserLookup {
    /// Not looked up (no admin credentials to read the list with).
    Skipped,
    /// Found by email.
    Found(User),
    /// No user with the email.
    NotFound,
    /// The lookup failed.
    Failed(TrackviaError),
    /// The operator's create call failed (refused, or not answered).
    CreateFailed(TrackviaError),
    /// An earlier create call failed and its backoff has not passed: not called again yet.
    CreateBackingOff,
}

/// The token Secret.
#[derive(Debug)]
pub struct TokenSeen {
    /// Fingerprint of the token.
    pub fingerprint: String,
    /// Expiry from the Secret's annotation, else the spec.
    pub expires_at: Option<Timestamp>,
    /// The annotation was present but not an RFC 3339 time.
    pub bad_expiry_annotation: Option<String>,
}

/// Token validation against TrackVia.
#[derive(Debug)]
pub enum Validation {
    /// Not due (same token, validated within the interval), or no token / no account.
    NotDue,
    /// Skipped because the token's expiry has passed.
    LocallyExpired,
    /// TrackVia accepted the token; this is what it reaches.
    Valid(Reach),
    /// TrackVia refused it.
    Failed(TrackviaError),
    /// Refused here, but accepted by the other environment's account of that name.
    WrongEnvironment {
        /// The account that accepts it.
        account: String,
        /// Its environment.
        environment: Environment,
    },
}

/// The credentials Secret as it is now (what [`crate::api::integration_account::PublishedSecret`] names).
#[derive(Debug, PartialEq, Eq)]
pub enum SecretSeen {
    /// Not there.
    Absent,
    /// Ours; whether it already holds exactly the desired data.
    Ours {
        /// Data and metadata match what would be written.
        up_to_date: bool,
        /// The fingerprint it records of the token it holds.
        fingerprint: Option<String>,
    },
    /// A Secret of that name not controlled by this IntegrationAccount.
    Foreign,
}

/// Everything observed in one reconcile.
#[derive(Debug)]
pub struct Observed {
    /// The account.
    pub account: AccountState,
    /// Admin credentials problem, if the account is Ready but its Secret is not readable here.
    pub admin_error: Option<String>,
    /// The user.
    pub user: UserLookup,
    /// Another IntegrationAccount (older) that manages the same email in the same account.
    pub claimed_by: Option<String>,
    /// The token Secret.
    pub token: Result<TokenSeen, SecretRefError>,
    /// Validation.
    pub validation: Validation,
    /// The published Secret.
    pub published: SecretSeen,
    /// WorkatoConnections that already received this account's credentials.
    pub pushed_connections: usize,
    /// This account's CredentialRotations.
    pub rotations: Vec<RotationSeen>,
}

/// A CredentialRotation of the account, as far as the account cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationSeen {
    /// Its name.
    pub name: String,
    /// Whether it has finished.
    pub finished: bool,
    /// Its phase.
    pub phase: Option<RotationPhase>,
    /// Its outcome, once finished.
    pub outcome: Option<RotationOutcome>,
    /// When it finished.
    pub finished_time: Option<Timestamp>,
    /// When it was created.
    pub created: Option<Timestamp>,
    /// What started it.
    pub trigger: Trigger,
    /// Where the old token's revocation stands (Overlap rotations that published).
    pub revocation: Option<Revocation>,
    /// Recipes it stopped that are not running again.
    pub held_recipes: usize,
}

impl RotationSeen {
    /// Whether it still owns the account's credentials: unfinished, and not merely waiting for
    /// the old token's revocation (by then it has published and changes nothing more).
    pub fn owns_credentials(&self) -> bool {
        !self.finished && self.phase != Some(RotationPhase::AwaitingRevocation)
    }
}
