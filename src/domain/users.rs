//! The user directory of each TrackVia account: its user list, read at most once per poll
//! interval per account however many IntegrationAccounts wait for their users.

use std::time::Duration;

use crate::reconcile::cache::ListingCache;
use crate::trackvia::{AuthToken, HttpTrackvia, TrackviaApi, TrackviaError, User};

/// The cached user lists, by account uid.
#[derive(Default)]
pub struct Directory {
    users: ListingCache<Vec<User>, TrackviaError>,
}

impl Directory {
    /// Finds a user by email in the account's user list, read at most once per `every` per
    /// account (`fresh` forces a new read, e.g. after a create of ours).
    pub async fn find(
        &self,
        account_uid: &str,
        (api, admin): (&HttpTrackvia, &AuthToken),
        email: &str,
        every: Duration,
        fresh: bool,
    ) -> Result<Option<User>, TrackviaError> {
        let users = self
            .users
            .get_or_read(account_uid, every, fresh, || api.list_all_users(admin))
            .await?;
        Ok(users
            .iter()
            .find(|u| u.email.eq_ignore_ascii_case(email))
            .cloned())
    }

    /// Forgets the cached user list of an account.
    pub fn forget(&self, account_uid: &str) {
        self.users.forget(account_uid);
    }
}
