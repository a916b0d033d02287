//! Reading a failed Workato job's error: is it TrackVia refusing the connection's credentials
//! (401/403), or anything else? Workato's jobs API gives the error as free text, whose wording
//! for the built-in TrackVia connector is not published (docs/clients.md#recipe-jobs), so the
//! match is deliberately broad and the uncertainty documented.

use crate::workato::{Job, Recipe};

/// What a failed job's error says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// TrackVia refused the credentials or their role (401/403): the connection's business.
    Auth,
    /// Anything else (another application, bad data, a timeout, a 5xx): counted, not alarmed.
    Other,
}

impl FailureKind {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Other => "other",
        }
    }
}

/// Words that mark an authentication or authorization refusal, lowercase. They cover what
/// TrackVia answers (`{"error":"invalid_token"}`, `"name":"unauthorized"`, `accessDenied`), the
/// way Workato reports a failed TrackVia call (`401 Unauthorized: …`, as its connection test
/// does), TrackVia's own example (`HTTP GET failed: unauthorized (401)`) and Workato's HTTP error
/// types (`401 Unauthorized`, `403 Forbidden`, `HTTP 401 error`).
const AUTH_WORDS: [&str; 9] = [
    "unauthorized",
    "unauthorised",
    "forbidden",
    "invalid_token",
    "invalid access token",
    "access token expired",
    "authentication failed",
    "accessdenied",
    "access is denied",
];

/// Whether `text` holds the status code `code` as a number of its own (not inside a longer
/// number such as a record id `14013`).
fn has_status(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// Whether the error reads as an authentication or authorization refusal.
pub fn is_auth_error(error: &str) -> bool {
    let lower = error.to_lowercase();
    AUTH_WORDS.iter().any(|w| lower.contains(w)) || has_status(&lower, "401") || has_status(&lower, "403")
}

/// Classifies a failed job of `recipe`. An auth error counts as TrackVia's unless its text names
/// another application of the recipe and not TrackVia (a Salesforce 401 in a recipe that also
/// writes to TrackVia is not this connection's business). `provider` is the connection's
/// connector (`trackvia`, or a custom connector's name).
pub fn classify(job: &Job, recipe: &Recipe, provider: &str) -> FailureKind {
    let Some(error) = job.error.as_deref() else {
        return FailureKind::Other;
    };
    if !is_auth_error(error) {
        return FailureKind::Other;
    }
    let lower = error.to_lowercase();
    let names = |p: &str| !p.is_empty() && lower.contains(&p.to_lowercase());
    let ours = names(provider) || names("trackvia");
    let other_app = recipe
        .config
        .iter()
        .filter_map(|c| c.provider.as_deref())
        .filter(|p| !p.eq_ignore_ascii_case(provider) && !p.eq_ignore_ascii_case("trackvia"))
        .any(names);
    if other_app && !ours {
        FailureKind::Other
    } else {
        FailureKind::Auth
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workato::RecipeConnection;

    fn job(error: &str) -> Job {
        Job {
            is_error: true,
            error: Some(error.into()),
            ..Default::default()
        }
    }

    fn recipe(providers: &[&str]) -> Recipe {
        Recipe {
            id: 1,
            config: providers
                .iter()
                .map(|p| RecipeConnection {
                    provider: Some((*p).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn trackvia_refusals_read_as_auth_in_every_known_wording() {
        let r = recipe(&["trackvia"]);
        for e in [
            "401 Unauthorized: Invalid access token: <redacted>",
            "401 Unauthorized: Authentication failed: invalid user_key",
            "403 Forbidden: Access is denied",
            "HTTP GET failed: unauthorized (401)",
            "HTTP 403 error",
            r#"{"error":"invalid_token","error_description":"Access token expired: x"}"#,
            r#"{"errors":[],"message":"Access is denied","name":"accessDenied","code":"403"}"#,
            "Trigger poll error: 401",
        ] {
            assert_eq!(classify(&job(e), &r, "trackvia"), FailureKind::Auth, "{e}");
        }
    }

    #[test]
    fn other_failures_are_other() {
        let r = recipe(&["trackvia", "salesforce"]);
        for e in [
            "500 Internal Server Error",
            "Request timed out",
            "422 Unprocessable Entity: record 14013 is locked",
            "Field 'Email' is required (code 4010)",
            // Another application's refusal is not the TrackVia connection's.
            "Salesforce: 401 Unauthorized: INVALID_SESSION_ID",
        ] {
            assert_eq!(classify(&job(e), &r, "trackvia"), FailureKind::Other, "{e}");
        }
        // Named both: TrackVia's (the conservative reading).
        let both = job("TrackVia 401 Unauthorized after Salesforce step");
        assert_eq!(classify(&both, &r, "trackvia"), FailureKind::Auth);
        // No error text at all.
        let bare = Job {
            is_error: true,
            ..Default::default()
        };
        assert_eq!(classify(&bare, &r, "trackvia"), FailureKind::Other);
    }
}
