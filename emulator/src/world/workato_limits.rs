//! Workato's documented per-workspace rate limits, as token buckets keyed by the workspace of
//! the API token and the endpoint class.

use axum::http::Method;

/// The endpoint classes that share a limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LimitClass {
    /// `GET /api/connections`: 60 per minute.
    ListConnections,
    /// Every other connection endpoint: 1 per second, burst 1.
    Connection,
    /// Recipe endpoints: 60 per minute.
    Recipes,
    /// Job endpoints: 60 per minute.
    Jobs,
    /// Connector endpoints (`/api/integrations`, `/api/custom_connectors`): 60 per minute.
    Connectors,
}

/// Bucket key: the workspace the API token belongs to, and the class.
pub type LimitKey = (String, LimitClass);

impl LimitClass {
    /// The class of a route template (with or without the managed-user prefix).
    pub fn of(method: &Method, template: &str) -> Option<Self> {
        let path = strip_managed_prefix(template);
        if path == "/api/connections" && method == Method::GET {
            Some(Self::ListConnections)
        } else if path.starts_with("/api/connections") {
            Some(Self::Connection)
        } else if path.starts_with("/api/recipes/{id}/jobs") {
            Some(Self::Jobs)
        } else if path.starts_with("/api/recipes") {
            Some(Self::Recipes)
        } else if path.starts_with("/api/integrations") || path.starts_with("/api/custom_connectors") {
            Some(Self::Connectors)
        } else {
            None
        }
    }

    /// `(capacity, tokens per second)` of the class's bucket.
    pub fn bucket(self) -> (f64, f64) {
        match self {
            Self::ListConnections | Self::Recipes | Self::Jobs | Self::Connectors => (60.0, 1.0),
            Self::Connection => (1.0, 1.0),
        }
    }
}

/// The route template prefix addressing a managed user's workspace.
pub const MANAGED_PREFIX: &str = "/api/managed_users/{managed_user}";

/// `/api/managed_users/{managed_user}/x` -> `/api/x`; other templates unchanged.
pub fn strip_managed_prefix(template: &str) -> std::borrow::Cow<'_, str> {
    match template.strip_prefix(MANAGED_PREFIX) {
        Some(rest) => format!("/api{rest}").into(),
        None => template.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_the_documented_limits() {
        assert_eq!(
            LimitClass::of(&Method::GET, "/api/connections"),
            Some(LimitClass::ListConnections)
        );
        assert_eq!(
            LimitClass::of(&Method::POST, "/api/connections"),
            Some(LimitClass::Connection)
        );
        assert_eq!(
            LimitClass::of(&Method::PUT, "/api/managed_users/{managed_user}/connections/{id}"),
            Some(LimitClass::Connection)
        );
        assert_eq!(
            LimitClass::of(&Method::GET, "/api/recipes/{id}/jobs"),
            Some(LimitClass::Jobs)
        );
        assert_eq!(
            LimitClass::of(&Method::PUT, "/api/recipes/{id}/start"),
            Some(LimitClass::Recipes)
        );
        assert_eq!(LimitClass::of(&Method::GET, "/other"), None);
    }
}
