//! The Auth Token type is set on every push.

use serde_json::json;
use trackvia_operator::api::WorkatoConnection;

use super::{input_of, world};
use crate::support::operator::Operator;
use crate::support::world::*;

/// Workato's published metadata shows the TrackVia connector as OAuth only; if a connection
/// whose input names no type is OAuth, an operator that pushes only the key and token gets a
/// failing connection. The operator names the Auth Token type, so its connections pass Workato's
/// test with the dedicated user's credentials, and says what it pushed and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a kube-apiserver: run `make test`"]
async fn the_auth_token_type_is_set_on_push() {
    let (client, ns, emu) = world("authtype", "", "", "", |c| {
        c.trackvia_input_keys.auth_type.default_oauth = true
    })
    .await;
    let _op = Operator::start(&ns);
    setup(&client, &ns, &emu, None).await; // waits until conn-1..3 are Ready
    for id in [100, 101, 102] {
        let input = input_of(&emu, id).await;
        assert_eq!(input["auth_type"], "auth_token", "{id}");
        assert_eq!(input["access_token"], OLD, "{id}");
    }
    let wc = get_json::<WorkatoConnection>(&client, &ns, "conn-1")
        .await
        .unwrap();
    let (status, reason, message) = condition(&wc, "ConnectorCompatible").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "FieldsNotPublished"));
    assert!(message.contains("auth_type=auth_token"), "{message}");
    assert_eq!(wc["status"]["connector"]["kind"], "Standard");
    assert_eq!(wc["status"]["connector"]["oauth"], true);
    let (status, reason, _) = condition(&wc, "DedicatedCredentials").unwrap();
    assert_eq!((status.as_str(), reason.as_str()), ("True", "AuthToken"));
    // A connector Workato does not know is refused, with nothing pushed.
    emu.reset_calls().await;
    connection_with(
        &client,
        &ns,
        "nope",
        json!({"connection": {"name": "TV nope"}, "provider": "trackvia_typo"}),
    )
    .await;
    let o = wait_condition::<WorkatoConnection>(&client, &ns, "nope", "ConnectorCompatible", |c| {
        c.1 == "ConnectorNotFound"
    })
    .await;
    assert_eq!(condition(&o, "Ready").unwrap().0, "False");
    let writes = calls_of(&emu, "PUT /api/connections/{id}").await;
    assert!(writes.is_empty(), "nothing pushed: {writes:?}");
}
