//! The naming convention of integration users: First Name = the external system, Last Name =
//! [`LAST_NAME`], a shared-mailbox email.

/// The Last Name of every integration user.
pub const LAST_NAME: &str = "Integration";
