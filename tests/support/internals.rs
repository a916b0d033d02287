//! The operator's own items that tests use besides its API types (`trackvia_operator::api`):
//! the one place to change when they move.

use std::sync::Arc;

use kube::Client;
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::Event;
use trackvia_operator::api::{CredentialRotation, IntegrationAccount, WorkatoConnection};
use trackvia_operator::controller::{integration_account, run};
use trackvia_operator::domain::caches::Caches;
#[allow(unused_imports)] // each test binary uses a part of it
pub use trackvia_operator::domain::rotation::{APPROVED_ANNOTATION, TRIGGER_LABEL};
use trackvia_operator::reconcile::{Context, Scoped, Settings};

/// A synced cache holding exactly `objects`, whatever the API server holds.
fn frozen<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    writer.apply_watcher_event(&Event::Init);
    for o in objects {
        writer.apply_watcher_event(&Event::InitApply(o));
    }
    writer.apply_watcher_event(&Event::InitDone);
    reader
}

/// Runs one IntegrationAccount reconcile of `ia` in this process, as the operator would, with
/// caches of connections and rotations frozen at `connections` and `rotations` (a cache that lags
/// behind the API server).
pub async fn reconcile_account_with_caches(
    client: &Client,
    ns: &str,
    ia: &IntegrationAccount,
    connections: Vec<WorkatoConnection>,
    rotations: Vec<CredentialRotation>,
) {
    let key = run::fingerprint_key(client, ns).await.unwrap();
    let ctx = Context::new(
        client.clone(),
        Arc::new(trackvia_operator::clock::SystemClock),
        key,
        Settings::default(),
        Arc::new(trackvia_operator::metrics::Metrics::new()),
    );
    let ctx = Scoped {
        base: Arc::new(ctx),
        own: integration_account::Own {
            caches: Caches {
                integration_accounts: None,
                connections: Some(frozen(connections)),
                rotations: Some(frozen(rotations)),
                ..Default::default()
            },
            directory: Default::default(),
            timers: Default::default(),
        },
    };
    integration_account::reconcile(Arc::new(ia.clone()), Arc::new(ctx))
        .await
        .unwrap();
}
