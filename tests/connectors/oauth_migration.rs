//! An employee-bound OAuth connection: reported, and migrated to the dedicated user only when
//! the spec opts in, in stages.

use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use trackvia_operator::api::{CredentialRotation, WorkatoConnection};

use super::{input_of, world};
use crate::support::evidence::operator_saw_spec;
use crate::support::operator::Operator;
use crate::support::world::*;

/// Connection 130, authorized by OAuth in Workato's UI by the admin, an employee.
const OAUTH: &str = "        - {id: 130, name: TV employee, provider: trackvia, authorizationStatus: success, input: {auth_type: oauth, oauth_user: admin@acme.example}}\n";
/// Recipe 1301, running on it.
const RECIPE: &str = "        - {id: 1301, name: Employee recipe, running: true, connections: [130]}\n";

/// Connection 130 was authorized by OAuth in Workato's UI by the admin (an employee); recipe
/// 1301 runs on it. Stated as OAuth but not opted in: reported (`EmployeeBoundAuth`), nothing
/// written, the recipe keeps running. Opted in: a takeover rotation stops the recipe, updates
/// the connection with the Auth Token type and the dedicated user's credentials, Workato tests
/// it, and the recipe starts again; the connection then authenticates as the dedicated user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn an_oauth_connection_is_migrated_in_stages_only_when_opted_in() {
    let (client, ns, emu) = world("oauth", OAUTH, RECIPE, "", |_| {}).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    emu.reset_calls().await;
    connection_with(
        &client,
        &ns,
        "employee",
        json!({"connection": {"id": 130}, "migrateFromOAuth": false}),
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

    // The plan first: a dry-run takeover names what the migration would stop, and does nothing.
    crate::support::create::<CredentialRotation>(
        &client,
        &ns,
        json!({
            "apiVersion": crate::support::API, "kind": "CredentialRotation", "metadata": {"name": "plan"},
            "spec": {"integrationAccountRef": {"name": "sf"}, "takeOver": {"name": "employee"},
                     "strategy": "StopAndRestart", "dryRun": true}
        }),
    )
    .await;
    let plan = wait_rotation(&client, &ns, "the dry run finished", |r| {
        r["metadata"]["name"] == "plan" && !phase(r).is_empty() && r["status"]["outcome"].is_string()
    })
    .await;
    let summary = plan["status"]["planSummary"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    println!("dry run: {} {summary}", plan["status"]["outcome"]);
    assert!(
        summary.contains("1 running recipe") || summary.contains("1301"),
        "{}",
        plan["status"]
    );
    assert!(calls_of(&emu, "PUT /api/connections/{id}").await.is_empty());
    assert!(calls_of(&emu, "PUT /api/recipes/{id}/stop").await.is_empty());
    assert!(running(&emu).await[&1301]);

    Api::<WorkatoConnection>::namespaced(client.clone(), &ns)
        .patch(
            "employee",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"migrateFromOAuth": true}})),
        )
        .await
        .unwrap();
    let r = wait_rotation(&client, &ns, "the migration succeeded", |r| {
        !r["spec"]["takeOver"].is_null() && r["spec"]["dryRun"] != true && phase(r) == "Succeeded"
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
    assert_staged(&emu, 1301, 130).await;
}

/// The migration's test fails in Workato (here: spec.authType names a value the connector does
/// not know). The employee's OAuth grant cannot be put back (Workato
/// never returns it), so nothing is "restored": the recipe the migration stopped stays stopped,
/// named on the rotation and the WorkatoConnection, with Workato's error, and Ready False.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn a_failed_migration_leaves_the_recipes_stopped_and_named() {
    let (client, ns, emu) = world("oauthfail", OAUTH, RECIPE, "", |_| {}).await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await;
    connection_with(
        &client,
        &ns,
        "employee",
        json!({"connection": {"id": 130}, "migrateFromOAuth": true, "authType": {"value": "api_token"}}),
    )
    .await;
    let r = wait_rotation(&client, &ns, "the migration finished", |r| {
        !r["spec"]["takeOver"].is_null() && r["status"]["outcome"].is_string()
    })
    .await;
    assert_ne!(r["status"]["outcome"], "Succeeded", "{}", r["status"]);
    let (status, reason, message) = condition(&r, "RecipesRestarted").unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RecipesLeftStopped")
    );
    assert!(message.contains("1301"), "{message}");
    assert!(!running(&emu).await[&1301]);
    let o = wait_condition::<WorkatoConnection>(&client, &ns, "employee", "RecipesHealthy", |c| {
        c.1 == "LeftStoppedByRotation" && c.2.contains("1301")
    })
    .await;
    let (status, _, message) = condition(&o, "Verified").unwrap();
    assert_eq!(status, "False");
    assert!(message.contains("unknown authentication type"), "{message}");
    assert_eq!(condition(&o, "Ready").unwrap().0, "False");
}
