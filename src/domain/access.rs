//! The one comparison of what a token reaches with what `spec.access` lists.

use std::collections::BTreeSet;

use crate::api::integration_account::AccessSpec;
use crate::trackvia::Reach;

/// What `spec.access` lists that the token cannot reach, and what it reaches beyond the list, as
/// `app:<name>` and `view:<app>/<name>` (`view:<name>` for a view listed without its app). The one
/// comparison the IntegrationAccount and its rotations share.
pub fn access_diff(access: &AccessSpec, reach: &Reach) -> (Vec<String>, Vec<String>) {
    let view_key = |name: &str, app: Option<&str>| match app {
        Some(a) => format!("view:{a}/{name}"),
        None => format!("view:{name}"),
    };
    let have_apps: BTreeSet<String> = reach.apps.iter().map(|a| a.name.clone()).collect();
    let want_apps: BTreeSet<String> = access.apps.iter().flatten().cloned().collect();
    let mut missing: Vec<String> = want_apps
        .difference(&have_apps)
        .map(|a| format!("app:{a}"))
        .collect();
    let mut extra: Vec<String> = have_apps
        .difference(&want_apps)
        .map(|a| format!("app:{a}"))
        .collect();
    let wanted_views = access.views.iter().flatten();
    for w in wanted_views.clone() {
        let found = reach
            .views
            .iter()
            .any(|v| v.name == w.name && w.app.as_ref().is_none_or(|a| v.app.as_ref() == Some(a)));
        if !found {
            missing.push(view_key(&w.name, w.app.as_deref()));
        }
    }
    for v in &reach.views {
        let wanted = wanted_views
            .clone()
            .any(|w| w.name == v.name && w.app.as_ref().is_none_or(|a| v.app.as_ref() == Some(a)));
        if !wanted {
            extra.push(view_key(&v.name, v.app.as_deref()));
        }
    }
    (missing, extra)
}
