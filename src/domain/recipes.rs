//! The recipes that depend on a connection, and the workspace listings (connections, recipes)
//! every WorkatoConnection and rotation of a workspace shares, each read at most once per interval.

use std::time::Duration;

use crate::api::WorkatoConnection;
use crate::domain::connector::{Connector, discover};
use crate::reconcile::cache::ListingCache;
use crate::workato::{Connection, ConnectionFilter, HttpWorkato, Recipe, WorkatoApi, WorkatoError};

/// Stop causes that mean Workato stopped a recipe for the task limit.
pub const QUOTA_STOP_CAUSES: [&str; 2] = ["txn_quota_limit", "action_quota_limit"];

/// The recipes that depend on the connection: those whose config names it, plus `include`,
/// minus `exclude`.
pub fn dependent<'a>(wc: &WorkatoConnection, connection_id: i64, recipes: &'a [Recipe]) -> Vec<&'a Recipe> {
    let sel = wc.spec.recipes.clone().unwrap_or_default();
    let include = sel.include.unwrap_or_default();
    let exclude = sel.exclude.unwrap_or_default();
    recipes
        .iter()
        .filter(|r| (r.uses_connection(connection_id) || include.contains(&r.id)) && !exclude.contains(&r.id))
        .collect()
}

/// Cache key of a workspace's recipe listing for one adapter.
pub fn recipes_key(ws_uid: &str, adapter: &str) -> String {
    format!("{ws_uid}|{adapter}")
}

/// The listings of each workspace: its connections (by workspace uid) and the recipes of each
/// connector (by [`recipes_key`]). Built once, before the controllers start.
#[derive(Default)]
pub struct Listings {
    connections: ListingCache<Vec<Connection>, WorkatoError>,
    recipes: ListingCache<Vec<Recipe>, WorkatoError>,
    connectors: ListingCache<Connector, WorkatoError>,
}

impl Listings {
    /// The workspace's connections, read at most once per `every` (`fresh` forces a read).
    pub async fn connections(
        &self,
        api: &HttpWorkato,
        ws_uid: &str,
        every: Duration,
        fresh: bool,
    ) -> Result<std::sync::Arc<Vec<Connection>>, WorkatoError> {
        let all = ConnectionFilter::default();
        self.connections
            .get_or_read(ws_uid, every, fresh, || api.list_connections(&all))
            .await
    }

    /// The workspace's recipes of connector `adapter`, read at most once per `every`.
    pub async fn recipes(
        &self,
        api: &HttpWorkato,
        ws_uid: &str,
        adapter: &str,
        every: Duration,
        fresh: bool,
    ) -> Result<std::sync::Arc<Vec<Recipe>>, WorkatoError> {
        self.recipes
            .get_or_read(&recipes_key(ws_uid, adapter), every, fresh, || {
                api.list_all_recipes(adapter)
            })
            .await
    }

    /// The connector `provider` names in the workspace, looked up at most once per `every`
    /// (`fresh` forces a lookup).
    pub async fn connector(
        &self,
        api: &HttpWorkato,
        ws_uid: &str,
        provider: &str,
        every: Duration,
        fresh: bool,
    ) -> Result<std::sync::Arc<Connector>, WorkatoError> {
        self.connectors
            .get_or_read(&recipes_key(ws_uid, provider), every, fresh, || {
                discover(api, provider)
            })
            .await
    }

    /// Forgets the workspace's connection listing (after a write of ours).
    pub fn forget_connections(&self, ws_uid: &str) {
        self.connections.forget(ws_uid);
    }

    /// Forgets the workspace's recipe listing of connector `adapter`.
    pub fn forget_recipes(&self, ws_uid: &str, adapter: &str) {
        self.recipes.forget(&recipes_key(ws_uid, adapter));
    }
}
