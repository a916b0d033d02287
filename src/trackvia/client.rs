//! [`HttpTrackvia`]: the TrackVia API over reqwest, as the official SDKs speak it.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tracing::{debug, warn};

use super::{App, AuthToken, NewUser, TrackviaApi, TrackviaError, User, UserPage, View};
use crate::external::http::{self, HttpSettings};
use crate::external::{Backoff, Idempotence, Observed, RateLimiter, RequestObserver};
use crate::secret::Sensitive;

/// How the auth token travels. Both forms appear in public clients
/// (docs/vendors.md#trackvia-authentication, open question 7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenPlacement {
    /// Query parameter `access_token` (.NET SDK, Workato's auth-token connector). Default.
    #[default]
    Query,
    /// `Authorization: Bearer <token>` (Python SDK).
    BearerHeader,
}

/// Everything one account's client needs.
#[derive(Clone, Debug)]
pub struct TrackviaConfig {
    /// `https://go.trackvia.com` or the account's subdomain.
    pub base_url: String,
    /// Sent as the `account-id` header when set.
    pub account_id: Option<String>,
    /// The account API key (`user_key`).
    pub api_key: Sensitive<String>,
    /// Where the token goes.
    pub token_placement: TokenPlacement,
    /// Page size for user listings (`max`).
    pub page_size: u64,
    /// Timeouts.
    pub http: HttpSettings,
    /// Retries for transient failures.
    pub backoff: Backoff,
}

impl TrackviaConfig {
    /// A config with the defaults: token as query parameter, pages of 100, TrackVia timeouts.
    pub fn new(base_url: impl Into<String>, api_key: Sensitive<String>) -> Self {
        Self {
            base_url: base_url.into(),
            account_id: None,
            api_key,
            token_placement: TokenPlacement::default(),
            page_size: 100,
            http: HttpSettings::trackvia(),
            backoff: Backoff::default(),
        }
    }

    /// TrackVia publishes no rate limit; this conservative default budget (5 requests per second
    /// per account) is what the operator uses unless configured otherwise.
    pub fn default_limiter() -> RateLimiter {
        RateLimiter::new("trackvia", 5, Duration::from_secs(1))
    }
}

/// The TrackVia API of one account.
#[derive(Clone, Debug)]
pub struct HttpTrackvia {
    http: reqwest::Client,
    config: TrackviaConfig,
    limiter: RateLimiter,
    observer: Option<Arc<dyn RequestObserver>>,
}

impl HttpTrackvia {
    /// Builds a client with its own request budget.
    pub fn new(config: TrackviaConfig) -> Result<Self, reqwest::Error> {
        Self::with_limiter(config, TrackviaConfig::default_limiter())
    }

    /// Builds a client that shares `limiter` with other clients of the same account.
    pub fn with_limiter(config: TrackviaConfig, limiter: RateLimiter) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: http::client(&config.http)?,
            config,
            limiter,
            observer: None,
        })
    }

    /// Reports every request to `observer` (metrics).
    pub fn observed_by(mut self, observer: Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn report(&self, op: &'static str, outcome: &str, started: std::time::Instant, waited: Duration) {
        if let Some(o) = &self.observer {
            o.observe(&Observed {
                system: "trackvia",
                operation: op,
                outcome,
                elapsed: started.elapsed(),
                budget: self.limiter.name(),
                waited,
            });
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.config.base_url.trim_end_matches('/'), path)
    }

    /// Sends one request with retries and returns the JSON body of a 2xx answer.
    async fn call(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        token: &AuthToken,
        idempotence: Idempotence,
    ) -> Result<Value, TrackviaError> {
        self.config
            .backoff
            .run_with(
                idempotence,
                || self.send_once(op, method.clone(), path, params, token),
                |e, n, wait| warn!(op, attempt = n, wait_ms = wait.as_millis() as u64, error = %e, "retrying TrackVia call"),
            )
            .await
    }

    async fn send_once(
        &self,
        op: &'static str,
        method: Method,
        path: &str,
        params: &[(&str, &str)],
        token: &AuthToken,
    ) -> Result<Value, TrackviaError> {
        let waited = self.limiter.acquire().await;
        let mut query: Vec<(&str, &str)> = vec![("user_key", self.config.api_key.expose().as_str())];
        let mut request = self.http.request(method, self.url(path));
        match self.config.token_placement {
            TokenPlacement::Query => query.push(("access_token", token.expose().as_str())),
            TokenPlacement::BearerHeader => request = request.bearer_auth(token.expose()),
        }
        query.extend_from_slice(params);
        request = request
            .query(&query)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(id) = &self.config.account_id {
            request = request.header("account-id", id);
        }
        let secrets = [self.config.api_key.expose().as_str(), token.expose().as_str()];
        let started = std::time::Instant::now();
        let failed = |e| {
            let err = transport(op, e, &secrets);
            if let TrackviaError::Transport { failure, .. } = &err {
                self.report(op, failure.label(), started, waited);
            }
            err
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let body = response.text().await.map_err(failed)?;
        self.report(op, &status.to_string(), started, waited);
        debug!(op, status, waited_ms = waited.as_millis() as u64, "TrackVia call");
        if !(200..300).contains(&status) {
            let err = TrackviaError::from_response(op, status, retry_after, &body, &secrets);
            if let TrackviaError::RateLimited {
                retry_after: Some(after),
                ..
            } = &err
            {
                self.limiter.pause_for(*after);
            }
            return Err(err);
        }
        if body.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&body).map_err(|e| TrackviaError::Decode {
            op,
            message: format!("body is not JSON: {e}"),
        })
    }
}

fn transport(op: &'static str, err: reqwest::Error, secrets: &[&str]) -> TrackviaError {
    let (failure, message) = http::transport_failure(err);
    TrackviaError::Transport {
        op,
        failure,
        message: crate::secret::scrub(&message, secrets),
    }
}

impl TrackviaApi for HttpTrackvia {
    async fn list_users(&self, admin: &AuthToken, start: u64, max: u64) -> Result<UserPage, TrackviaError> {
        let (start, max) = (start.to_string(), max.to_string());
        let body = self
            .call(
                "list users",
                Method::GET,
                "/openapi/users",
                &[("start", &start), ("max", &max)],
                admin,
                Idempotence::Idempotent,
            )
            .await?;
        let users = records(&body, "list users")?
            .iter()
            .map(|r| parse_user(r, "list users"))
            .collect::<Result<_, _>>()?;
        let total = body.get("totalCount").and_then(Value::as_u64);
        Ok(UserPage { users, total })
    }

    async fn create_user(&self, admin: &AuthToken, user: &NewUser) -> Result<User, TrackviaError> {
        let mut params = vec![
            ("email", user.email.as_str()),
            ("firstName", user.first_name.as_str()),
            ("lastName", user.last_name.as_str()),
        ];
        if let Some(tz) = &user.time_zone {
            params.push(("timeZone", tz.as_str()));
        }
        let body = self
            .call(
                "create user",
                Method::POST,
                "/openapi/users",
                &params,
                admin,
                Idempotence::NotIdempotent,
            )
            .await?;
        let first = records(&body, "create user")?
            .first()
            .ok_or(TrackviaError::Decode {
                op: "create user",
                message: "no user in the answer".into(),
            })?;
        parse_user(first, "create user")
    }

    async fn list_views(&self, token: &AuthToken) -> Result<Vec<View>, TrackviaError> {
        let body = self
            .call(
                "list views",
                Method::GET,
                "/openapi/views",
                &[],
                token,
                Idempotence::Idempotent,
            )
            .await?;
        array(&body, "list views")?
            .iter()
            .map(|v| {
                Ok(View {
                    id: int(v, &["id", "viewId"], "list views")?,
                    name: string(v, &["name"]).unwrap_or_default(),
                    app: string(v, &["applicationName", "application"]),
                })
            })
            .collect()
    }

    async fn list_apps(&self, token: &AuthToken) -> Result<Vec<App>, TrackviaError> {
        let body = self
            .call(
                "list apps",
                Method::GET,
                "/openapi/apps",
                &[],
                token,
                Idempotence::Idempotent,
            )
            .await?;
        array(&body, "list apps")?
            .iter()
            .map(|a| {
                Ok(App {
                    id: int(a, &["id"], "list apps")?,
                    name: string(a, &["name"]).unwrap_or_default(),
                })
            })
            .collect()
    }

    fn page_size(&self) -> u64 {
        self.config.page_size
    }
}

/// `data` of a record set (`{structure, data, totalCount}`).
fn records<'a>(body: &'a Value, op: &'static str) -> Result<&'a Vec<Value>, TrackviaError> {
    body.get("data")
        .and_then(Value::as_array)
        .ok_or(TrackviaError::Decode {
            op,
            message: "no `data` array in the record set".into(),
        })
}

/// A JSON array answer (apps, views); tolerates a record set wrapper.
fn array<'a>(body: &'a Value, op: &'static str) -> Result<&'a Vec<Value>, TrackviaError> {
    body.as_array()
        .or_else(|| body.get("data").and_then(Value::as_array))
        .ok_or(TrackviaError::Decode {
            op,
            message: "expected a JSON array".into(),
        })
}

/// The first present key among spellings seen in public clients
/// (docs/vendors.md#trackvia-users-endpoints, open question 2).
fn string(v: &Value, keys: &[&str]) -> Option<String> {
    keys.iter().find_map(|k| v.get(*k)).and_then(|x| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

fn int(v: &Value, keys: &[&str], op: &'static str) -> Result<i64, TrackviaError> {
    keys.iter()
        .find_map(|k| v.get(*k))
        .and_then(|x| x.as_i64().or_else(|| x.as_str().and_then(|s| s.parse().ok())))
        .ok_or(TrackviaError::Decode {
            op,
            message: format!("missing numeric `{}`", keys[0]),
        })
}

fn parse_user(r: &Value, op: &'static str) -> Result<User, TrackviaError> {
    Ok(User {
        id: int(r, &["id", "Record ID", "recordId"], op)?,
        email: string(r, &["Email", "email"]).ok_or(TrackviaError::Decode {
            op,
            message: "user without `Email`".into(),
        })?,
        first_name: string(r, &["First Name", "first_name", "firstName"]).unwrap_or_default(),
        last_name: string(r, &["Last Name", "last_name", "lastName"]).unwrap_or_default(),
        status: string(r, &["Status", "status"]).unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn users_parse_with_either_key_spelling() {
        let a = json!({"id": 7, "First Name": "Salesforce", "Last Name": "Integration", "Email": "s@x.io", "Status": "Unverified"});
        let b = json!({"Record ID": "7", "first_name": "Salesforce", "last_name": "Integration", "email": "s@x.io", "status": "Unverified"});
        assert_eq!(parse_user(&a, "t").unwrap(), parse_user(&b, "t").unwrap());
        assert!(parse_user(&a, "t").unwrap().is_unverified());
        assert!(parse_user(&json!({"id": 1}), "t").is_err());
    }
}
