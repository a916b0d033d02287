//! An employee-bound OAuth connection: reported, and migrated to the dedicated user only when
//! the spec opts in, in stages.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::WorkatoConnection;

use super::{input_of, world};
use crate::support::evidence::operator_saw_spec;
use crate::support::operator::Operator;
use crate::support::world::*;

/// Connection 130 was authorized by OAuth in Workato's UI by the admin (an employee); recipe
/// 1301 runs on it. Stated as OAuth but not opted in: reported (`EmployeeBoundAuth`), nothing
/// written, the recipe keeps running. Opted in: a takeover rotation stops the recipe, updates
/// the connection with the Auth Token type and the dedicated user's credentials, Workato tests
/// it, and the recipe starts again; the connection then authenticates as the dedicated user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn an_oauth_connection_is_migrated_in_stages_only_when_opted_in() {
    let oauth = "        - {id: 130, name: TV employee, provider: trackvia, authorizationStatus: success, input: {auth_type: oauth, oauth_user: admin@acme.example}}\n";
    let recipes = "        - {id: 1301, name: Employee recipe, running: true, connections: [130]}\n";
    let (client, ns, emu) = world("oauth", oauth, recipes, "", false).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    crate::support::create::<WorkatoConnection>(
        &client,
        &ns,
        json!({
            "apiVersion": crate::support::API, "kind": "WorkatoConnection", "metadata": {"name": "employee"},
            "spec": {"workspaceRef": {"name": "dev"}, "integrationAccountRef": {"name": "sf"},
                     "connection": {"id": 130}, "migrateFromOAuth": false}
        }),
    )
    .await;
    let o = wait_condition::<WorkatoConnection>(&client, &ns, "employee", "DedicatedCredentials", |c| {
        c.0 == "False" && c.1 == "EmployeeBoundAuth"
    })
    .await;
    let (_, _, message) = condition(&o, "DedicatedCredentials").unwrap();
    assert!(message.contains("migrateFromOAuth: true"), "{message}");
    assert_eq!(condition(&o, "CredentialsCurrent").unwrap().1, "AdoptionPending");
    operator_saw_spec::<WorkatoConnection>(&client, &ns, "employee", json!({"folderId": 4})).await;
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(
        writes.is_empty(),
        "nothing written without the opt-in: {writes:?}"
    );
    assert!(running(&emu).await[&1301]);
    assert_eq!(input_of(&emu, 130).await["auth_type"], "oauth");

    Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .patch(
            "employee",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"migrateFromOAuth": true}})),
        )
        .await
        .unwrap();
    let r = wait_rotation(&client, &ns, "the migration succeeded", |r| {
        !r["spec"]["takeOver"].is_null() && phase(r) == "Succeeded"
    })
    .await;
    assert!(
        r["spec"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("from OAuth"),
        "{}",
        r["spec"]
    );
    let o = wait_condition::<WorkatoConnection>(&client, &ns, "employee", "DedicatedCredentials", |c| {
        c.0 == "True" && c.1 == "AuthToken"
    })
    .await;
    assert_eq!(condition(&o, "Verified").unwrap().0, "True");
    let input = input_of(&emu, 130).await;
    assert_eq!(input["auth_type"], "auth_token");
    assert_eq!(input["access_token"], OLD);
    assert!(running(&emu).await[&1301]);
    let calls = emu.calls().await;
    let at = |route: &str, path: &str| {
        calls
            .iter()
            .position(|c| c["route"] == route && c["path"] == path)
            .unwrap_or_else(|| panic!("no {route} {path}"))
    };
    let stop = at("PUT /api/recipes/{id}/stop", "/api/recipes/1301/stop");
    let push = at("PUT /api/connections/{id}", "/api/connections/130");
    let start = at("PUT /api/recipes/{id}/start", "/api/recipes/1301/start");
    assert!(stop < push && push < start, "stop, update, start in that order");
}
