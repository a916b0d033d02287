//! The reasons of each condition type, one enum per type: a reason is a stable PascalCase word
//! (written to status, matched by people's tooling and by docs/conditions.md, which a test checks
//! against these lists). A [`Cond`](super::Cond) is built from a reason, which names its type, so
//! a reason cannot end up on a condition of another type.

use std::fmt::Debug;

use super::types;

/// The reasons of one condition type.
pub trait Reason: Copy + Debug + PartialEq + 'static {
    /// The condition type these reasons belong to.
    const TYPE: &'static str;
    /// Every reason, for the documentation check.
    const ALL: &'static [Self];
    /// The reason as written to status.
    fn as_str(self) -> &'static str;
    /// The reason written as `s`, if it is one of these.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|r| r.as_str() == s)
    }
}

macro_rules! reasons {
    ($( $(#[$doc:meta])* $name:ident for $ty:ident { $( $(#[$vdoc:meta])* $v:ident ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub enum $name {
                $( $(#[$vdoc])* $v, )*
            }
            impl Reason for $name {
                const TYPE: &'static str = types::$ty;
                const ALL: &'static [Self] = &[$(Self::$v),*];
                fn as_str(self) -> &'static str {
                    match self { $(Self::$v => stringify!($v)),* }
                }
            }
        )*
        /// Every condition type with its reasons, for the documentation check.
        pub fn all() -> Vec<(&'static str, Vec<&'static str>)> {
            vec![$( ($name::TYPE, $name::ALL.iter().map(|r| r.as_str()).collect()) ),*]
        }
    };
}

reasons! {
    /// `Ready` when a kind sets it itself (otherwise it carries the reason of the first condition
    /// that is not `True`).
    Ready for READY {
        /// Everything that applies is satisfied.
        Ready,
        /// A scheduled rotation waits for a person's approval.
        AwaitingApproval,
        /// A rotation being deleted restarts what it stopped first.
        Deleting,
        /// Deletion waits for recipes Workato refuses to start.
        DeletionBlocked,
        /// A rotation finished without an outcome.
        Finished,
        /// A rotation is under way.
        Rotating,
        /// A rotation lost its new token.
        TokenLost,
        /// Outcome.
        Succeeded,
        /// Outcome.
        RolledBack,
        /// Outcome.
        RollbackFailed,
        /// Outcome.
        NewTokenInvalid,
        /// Outcome.
        ConnectionTestFailed,
        /// Outcome.
        RecipeStartFailed,
        /// Outcome.
        RecipeStopFailed,
        /// Outcome.
        Aborted,
        /// Outcome.
        ApprovalExpired,
        /// Outcome.
        Cancelled,
        /// Outcome.
        NotSetUp,
        /// Outcome.
        IntegrationAccountNotFound,
        /// Outcome.
        WorkspaceNotReady,
        /// Outcome.
        DryRunPassed,
        /// Outcome.
        DryRunFailed,
    }

    /// `CredentialsValid` of TrackViaAccount and WorkatoWorkspace.
    CredentialsValid for CREDENTIALS_VALID {
        /// The vendor accepted the credentials.
        Accepted,
        /// The referenced Secret is missing.
        SecretMissing,
        /// The referenced key is missing.
        SecretKeyMissing,
        /// The referenced key is empty or not text.
        SecretKeyUnusable,
        /// The Secret could not be read.
        SecretUnreadable,
        /// TrackVia: the admin token expired.
        AdminTokenExpired,
        /// TrackVia: the admin token is deactivated, deleted or of another account.
        AdminTokenInvalid,
        /// TrackVia: the account API key was refused.
        ApiKeyInvalid,
        /// TrackVia: the admin user is inactive.
        AdminUserInactive,
        /// TrackVia: 401 without a recognised cause.
        Unauthorized,
        /// TrackVia: a 401 or 403 in wording the operator does not know; the message has it.
        Unrecognised,
        /// TrackVia: the token's user may not list users.
        NotAdmin,
        /// Not found: wrong base URL (or Workato data center / managed user).
        WrongBaseUrl,
        /// Workato: the API client token was refused.
        TokenRejected,
        /// Workato: the API client's role lacks a privilege.
        MissingPrivilege,
        /// Timeout, 5xx or 429: retried.
        Unreachable,
        /// Another 4xx answer.
        Rejected,
        /// An answer that could not be read.
        BadResponse,
    }

    /// `UserVerified` of IntegrationAccount.
    UserVerified for USER_VERIFIED {
        /// The user is active.
        Verified,
        /// The TrackViaAccount does not exist.
        AccountNotFound,
        /// The TrackViaAccount is not Ready.
        AccountNotReady,
        /// The TrackViaAccount's admin credentials cannot be read.
        AdminCredentialsUnreadable,
        /// Listing users failed transiently.
        LookupFailed,
        /// The invitation has not been accepted.
        Unverified,
        /// An older IntegrationAccount manages the same email.
        UserClaimed,
        /// TrackVia refused the create.
        UserCreateFailed,
        /// The operator creates the user.
        UserCreating,
        /// The user is inactive.
        UserInactive,
    }

    /// `TokenProvided` of IntegrationAccount.
    TokenProvided for TOKEN_PROVIDED {
        /// A token is in the token Secret.
        Provided,
        /// The token Secret is missing.
        TokenSecretMissing,
        /// The token key is missing.
        TokenKeyMissing,
        /// The token key is empty or not text.
        SecretKeyUnusable,
        /// The token Secret could not be read.
        SecretUnreadable,
    }

    /// `TokenValid` of IntegrationAccount.
    TokenValid for TOKEN_VALID {
        /// TrackVia accepts the token.
        Valid,
        /// Expired.
        TokenExpired,
        /// Deactivated, deleted or of another account.
        TokenInvalid,
        /// Accepted by another TrackViaAccount of the namespace.
        WrongEnvironment,
        /// The token's user is inactive or no longer an API user.
        UserInactive,
        /// The account API key was refused.
        ApiKeyInvalid,
        /// Timeout, 5xx or 429: retried.
        Unreachable,
        /// No token to check.
        NoToken,
        /// Not checked yet.
        Pending,
        /// 401 without a recognised cause.
        Unauthorized,
        /// A 401 or 403 in wording the operator does not know; the message has it.
        Unrecognised,
        /// 403.
        Forbidden,
        /// 404.
        NotFound,
        /// Another 4xx answer.
        Rejected,
        /// An answer that could not be read.
        BadResponse,
    }

    /// `AccessScoped` of IntegrationAccount.
    AccessScoped for ACCESS_SCOPED {
        /// The token reaches exactly `spec.access`.
        Scoped,
        /// `spec.access` lists nothing.
        NotSpecified,
        /// The token cannot reach some of `spec.access`.
        MissingAccess,
        /// The token reaches more than `spec.access`.
        ExcessAccess,
        /// No token.
        NoToken,
        /// Not checked yet.
        Pending,
        /// The token is not valid.
        TokenNotValid,
    }

    /// `CredentialsPublished` of IntegrationAccount.
    CredentialsPublished for CREDENTIALS_PUBLISHED {
        /// The Secret holds the current credentials.
        Published,
        /// A Secret of that name is someone else's.
        SecretConflict,
        /// Nothing is published until the token is valid.
        WaitingForValidToken,
        /// A rotation owns the credentials.
        Rotating,
        /// A rotation is being started for the new token.
        RotationPending,
        /// The rotation for the token in the token Secret failed.
        RotationFailed,
    }

    /// `RotationDue` of IntegrationAccount (healthy when `False`).
    RotationDue for ROTATION_DUE {
        /// Within `renewBefore` of the token's expiry.
        ExpiresSoon,
        /// Within `renewBefore` of the end of `rotation.interval`.
        IntervalElapsed,
        /// Not due yet.
        NotDue,
        /// No expiry known and no interval set.
        NoSchedule,
        /// No valid token.
        NoValidToken,
    }

    /// `NamingConvention` of IntegrationAccount (a warning only).
    NamingConvention for NAMING_CONVENTION {
        /// Name and email follow the convention.
        Conventional,
        /// The email does not.
        NonConventionalEmail,
        /// The user's name does not.
        NonConventionalName,
    }

    /// `OldTokenRevoked` of IntegrationAccount and CredentialRotation.
    OldTokenRevoked for OLD_TOKEN_REVOKED {
        /// TrackVia rejects the old token.
        Revoked,
        /// Deactivate the old token by the deadline.
        AwaitingRevocation,
        /// The old token still works past the deadline.
        RevocationOverdue,
        /// The old token was not kept: nobody can tell.
        OldTokenUnknown,
        /// The old token still works.
        OldTokenStillActive,
    }

    /// `EnvironmentMatched` of WorkatoConnection.
    EnvironmentMatched for ENVIRONMENT_MATCHED {
        /// Same environment.
        Matched,
        /// Different environments: nothing is pushed.
        EnvironmentMismatch,
        /// A referenced object is missing.
        ReferenceNotFound,
    }

    /// `ConnectionFound` of WorkatoConnection.
    ConnectionFound for CONNECTION_FOUND {
        /// The recorded or specified id.
        Found,
        /// Found by name.
        Adopted,
        /// Created by the operator.
        Created,
        /// Several connections have the name.
        AmbiguousName,
        /// The id does not exist.
        ConnectionNotFound,
        /// Neither id nor name.
        NoSelector,
        /// A connection of another connector.
        ProviderMismatch,
        /// The workspace is not Ready.
        WorkspaceNotReady,
    }

    /// `Verified` of WorkatoConnection.
    Verified for VERIFIED {
        /// Workato's test passed.
        Authorized,
        /// Workato's test failed.
        AuthorizationFailed,
        /// Never tested.
        NotTested,
        /// Workato could not be asked.
        WorkatoUnavailable,
        /// Workato lost the connection (`connection_lost_at`) after its last authorization.
        ConnectionLost,
    }

    /// `CredentialsCurrent` of WorkatoConnection.
    CredentialsCurrent for CREDENTIALS_CURRENT {
        /// The connection holds the published credentials.
        Current,
        /// Nothing published yet.
        CredentialsNotPublished,
        /// A rotation brings them together.
        RotationPending,
        /// A live connection waits for the takeover opt-in.
        AdoptionPending,
        /// A takeover rotation runs.
        TakingOver,
        /// The takeover rotation failed.
        TakeOverFailed,
    }

    /// `ConnectorCompatible` of WorkatoConnection.
    ConnectorCompatible for CONNECTOR_COMPATIBLE {
        /// The connector declares the configured fields.
        FieldsMatch,
        /// A standard connector: Workato does not publish its fields; the configured ones are used.
        FieldsNotPublished,
        /// The connector declares none of the fields the configured keys need.
        NoMatchingFields,
        /// The connector's authentication types do not include the configured one.
        AuthTypeNotOffered,
        /// Workato knows no connector of that name.
        ConnectorNotFound,
    }

    /// `DedicatedCredentials` of WorkatoConnection.
    DedicatedCredentials for DEDICATED_CREDENTIALS {
        /// The operator put the dedicated user's auth token on it.
        AuthToken,
        /// Authorized by OAuth as an employee (the person's statement).
        EmployeeBoundAuth,
        /// Workato does not show how a connection it did not set up authenticates.
        AuthNotShown,
    }

    /// `RecipesHealthy` of WorkatoConnection.
    RecipesHealthy for RECIPES_HEALTHY {
        /// None stopped by Workato.
        Healthy,
        /// Stopped by a rotation and not restarted.
        LeftStoppedByRotation,
        /// Stopped until the rotation restarts them.
        StoppedForRotation,
        /// Stopped by Workato after trigger errors.
        StoppedByErrors,
        /// Recent jobs failed with a TrackVia 401/403.
        AuthFailures,
        /// Stopped by Workato at the task limit.
        TaskLimitReached,
    }

    /// `Rotating` of CredentialRotation: its phase while it runs, its outcome once finished
    /// (never unhealthy).
    Rotating for ROTATING {
        /// Phase.
        Pending,
        /// Phase.
        Queued,
        /// Phase.
        AwaitingApproval,
        /// Phase.
        Stopping,
        /// Phase.
        WaitingForToken,
        /// Phase.
        Validating,
        /// Phase.
        Switching,
        /// Phase.
        RollingBack,
        /// Phase.
        Publishing,
        /// Phase.
        Restarting,
        /// Phase.
        Aborting,
        /// Phase.
        AwaitingRevocation,
        /// Finished without an outcome.
        Finished,
        /// Outcome.
        Succeeded,
        /// Outcome.
        RolledBack,
        /// Outcome.
        RollbackFailed,
        /// Outcome.
        NewTokenInvalid,
        /// Outcome.
        ConnectionTestFailed,
        /// Outcome.
        RecipeStartFailed,
        /// Outcome.
        RecipeStopFailed,
        /// Outcome.
        Aborted,
        /// Outcome.
        ApprovalExpired,
        /// Outcome.
        Cancelled,
        /// Outcome.
        NotSetUp,
        /// Outcome.
        IntegrationAccountNotFound,
        /// Outcome.
        WorkspaceNotReady,
        /// Outcome.
        DryRunPassed,
        /// Outcome.
        DryRunFailed,
    }

    /// `RecipesRestarted` of CredentialRotation.
    RecipesRestarted for RECIPES_RESTARTED {
        /// No recipe the rotation stopped is left stopped.
        Running,
        /// Stopped by the rotation and not running.
        RecipesLeftStopped,
        /// Stopped until the rotation restarts them.
        RecipesStopped,
    }
}
