//! Deleting a rotation, or its IntegrationAccount, mid-way.

use kube::api::{Api, DeleteParams};
use trackvia_operator::api::{CredentialRotation, IntegrationAccount};

use super::all_running;
use crate::support::operator::eventually;
use crate::support::world::*;

/// Deleting a rotation, or its IntegrationAccount, mid-way restarts what it stopped before the
/// rotation goes (I4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn deleting_a_rotation_or_its_account_mid_way_restarts_what_it_stopped_first() {
    let (client, ns, emu, _op) = set_up("delete", 0, None).await;
    let rots: Api<CredentialRotation> = Api::namespaced(client.clone(), &ns);
    for (name, delete_account) in [("regen", false), ("regen-2", true)] {
        stopped_for_token(&client, &ns, name).await;
        assert!(running(&emu).await.values().filter(|r| **r).count() == 0);
        if delete_account {
            Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
                .delete("sf", &DeleteParams::default())
                .await
                .unwrap();
        } else {
            rots.delete(name, &DeleteParams::default()).await.unwrap();
        }
        eventually(WAIT, &format!("{name} gone"), || async {
            rots.get_opt(name).await.ok()?.is_none().then_some(())
        })
        .await;
        assert!(
            all_running(&emu).await,
            "{name}: every recipe runs again before it goes"
        );
        assert!(!running(&emu).await[&1010]);
    }
    eventually(WAIT, "the IntegrationAccount gone", || async {
        Api::<IntegrationAccount>::namespaced(client.clone(), &ns)
            .get_opt("sf")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
}
