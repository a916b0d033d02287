//! [`HttpWorkato`]: the Workato Developer API over reqwest.

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tracing::{debug, warn};

use super::budget::Bucket;
use super::error::start_errors;
use super::{
    Connection, ConnectionFilter, ConnectionUpdate, CustomConnector, JobPage, NewConnection, Recipe,
    RecipeQuery, StandardConnector, WorkatoApi, WorkatoBudget, WorkatoError,
};
use crate::external::http::{self, HttpSettings};
use crate::external::{Backoff, Idempotence, Observed, RequestObserver};
use crate::secret::Sensitive;

/// Everything one workspace's client needs.
#[derive(Clone, Debug)]
pub struct WorkatoConfig {
    /// Data center base URL without `/api`, e.g. `https://www.workato.com`.
    pub base_url: String,
    /// The API client token.
    pub api_token: Sensitive<String>,
    /// Embedded: address the managed user's workspace (`/api/managed_users/<id>/...`).
    pub managed_user_id: Option<String>,
    /// Timeouts.
    pub http: HttpSettings,
    /// Retries for transient failures.
    pub backoff: Backoff,
}

impl WorkatoConfig {
    /// A config with Workato's timeouts and the default retries.
    pub fn new(base_url: impl Into<String>, api_token: Sensitive<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_token,
            managed_user_id: None,
            http: HttpSettings::workato(),
            backoff: Backoff::default(),
        }
    }
}

/// The Workato API of one workspace.
#[derive(Clone, Debug)]
pub struct HttpWorkato {
    http: reqwest::Client,
    config: WorkatoConfig,
    budget: WorkatoBudget,
    /// `/api` or `/api/managed_users/<id>`.
    prefix: String,
    observer: Option<std::sync::Arc<dyn RequestObserver>>,
}

impl HttpWorkato {
    /// Builds a client that spends `budget`, shared with every other client of the workspace.
    pub fn new(config: WorkatoConfig, budget: WorkatoBudget) -> Result<Self, reqwest::Error> {
        let base = config
            .base_url
            .trim_end_matches('/')
            .trim_end_matches("/api")
            .to_owned();
        let prefix = match &config.managed_user_id {
            Some(id) => format!(
                "{base}/api/managed_users/{}",
                url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>()
            ),
            None => format!("{base}/api"),
        };
        Ok(Self {
            http: http::client(&config.http)?,
            config,
            budget,
            prefix,
            observer: None,
        })
    }

    /// Reports every request to `observer` (metrics).
    pub fn observed_by(mut self, observer: std::sync::Arc<dyn RequestObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn report(&self, req: &Req, outcome: &str, started: std::time::Instant, waited: std::time::Duration) {
        if let Some(o) = &self.observer {
            let budget = self.budget.limiter(req.bucket).name();
            o.observe(&Observed {
                system: "workato",
                operation: req.op,
                outcome,
                elapsed: started.elapsed(),
                budget,
                waited,
            });
        }
    }

    /// The budget this client spends.
    pub fn budget(&self) -> &WorkatoBudget {
        &self.budget
    }

    async fn call<T: DeserializeOwned>(&self, req: Req) -> Result<T, WorkatoError> {
        let op = req.op;
        let value = self
            .config
            .backoff
            .run_with(
                req.idempotence,
                || self.send_once(&req),
                |e, n, wait| warn!(op, attempt = n, wait_ms = wait.as_millis() as u64, error = %e, "retrying Workato call"),
            )
            .await?;
        serde_json::from_value(value).map_err(|e| WorkatoError::Decode {
            op,
            message: e.to_string(),
        })
    }

    async fn send_once(&self, req: &Req) -> Result<Value, WorkatoError> {
        let op = req.op;
        let limiter = self.budget.limiter(req.bucket);
        let waited = limiter.acquire().await;
        let mut request = self
            .http
            .request(req.method.clone(), format!("{}{}", self.prefix, req.path))
            .bearer_auth(self.config.api_token.expose())
            .header(reqwest::header::ACCEPT, "application/json");
        if !req.query.is_empty() {
            request = request.query(&req.query);
        }
        if let Some(b) = &req.body {
            request = request.json(b);
        }
        let secrets = self.secrets(req.body.as_ref());
        let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
        let started = std::time::Instant::now();
        let failed = |e| {
            let err = transport(op, e, &secrets);
            if let WorkatoError::Transport { failure, .. } = &err {
                self.report(req, failure.label(), started, waited);
            }
            err
        };
        let response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        let retry_after = http::retry_after(response.headers());
        let text = response.text().await.map_err(failed)?;
        self.report(req, &status.to_string(), started, waited);
        debug!(
            op,
            status,
            waited_ms = waited.as_millis() as u64,
            bucket = limiter.name(),
            "Workato call"
        );
        if !(200..300).contains(&status) {
            let err = WorkatoError::from_response(op, status, retry_after, &text, &secrets);
            if let WorkatoError::RateLimited {
                retry_after: Some(after),
                ..
            } = &err
            {
                limiter.pause_for(*after);
            }
            return Err(err);
        }
        let value: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| WorkatoError::Decode {
                op,
                message: format!("body is not JSON: {e}"),
            })?
        };
        if value.get("success") == Some(&Value::Bool(false)) {
            return Err(WorkatoError::StartFailed {
                op,
                errors: start_errors(&value, &secrets),
            });
        }
        Ok(value)
    }

    /// Every credential a request carries: the API token and each string of the input.
    fn secrets(&self, body: Option<&Value>) -> Vec<String> {
        let mut out = vec![self.config.api_token.expose().clone()];
        if let Some(input) = body.and_then(|b| b.get("input")).and_then(Value::as_object) {
            out.extend(input.values().filter_map(Value::as_str).map(str::to_owned));
        }
        out
    }
}

fn transport(op: &'static str, err: reqwest::Error, secrets: &[&str]) -> WorkatoError {
    let (failure, message) = http::transport_failure(err);
    WorkatoError::Transport {
        op,
        failure,
        message: crate::secret::scrub(&message, secrets),
    }
}

/// One request: what it is for, which budget it spends, and whether it may be resent.
struct Req {
    op: &'static str,
    bucket: Bucket,
    method: Method,
    path: String,
    query: Vec<(&'static str, String)>,
    body: Option<Value>,
    idempotence: Idempotence,
}

impl Req {
    fn new(op: &'static str, bucket: Bucket, method: Method, path: impl Into<String>) -> Self {
        Self {
            op,
            bucket,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            idempotence: Idempotence::Idempotent,
        }
    }
    fn query(mut self, query: Vec<(&'static str, String)>) -> Self {
        self.query = query;
        self
    }
    fn body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }
    /// Must not run twice: resent only when the server cannot have acted.
    fn once(mut self) -> Self {
        self.idempotence = Idempotence::NotIdempotent;
        self
    }
}

/// Workato's `authorization_error` may quote what the connector's test got back, and TrackVia
/// echoes tokens in its 401 bodies: remove the credentials just sent.
fn scrubbed(mut c: Connection, input: Option<&Sensitive<Map<String, Value>>>) -> Connection {
    let secrets: Vec<&str> = input
        .into_iter()
        .flat_map(|i| i.expose().values().filter_map(Value::as_str))
        .collect();
    for field in [&mut c.authorization_error, &mut c.connection_lost_reason] {
        if let Some(text) = field.as_mut() {
            *text = crate::secret::scrub(text, &secrets);
        }
    }
    c
}

fn input_value(input: &Sensitive<Map<String, Value>>) -> Value {
    Value::Object(input.expose().clone())
}

impl WorkatoApi for HttpWorkato {
    async fn list_connections(&self, filter: &ConnectionFilter) -> Result<Vec<Connection>, WorkatoError> {
        let query = filter
            .folder_id
            .map(|f| ("folder_id", f.to_string()))
            .into_iter()
            .collect();
        self.call(
            Req::new(
                "list connections",
                Bucket::ConnectionList,
                Method::GET,
                "/connections",
            )
            .query(query),
        )
        .await
    }

    async fn create_connection(&self, new: &NewConnection) -> Result<Connection, WorkatoError> {
        let mut body = json!({
            "name": new.name,
            "provider": new.provider,
            "shell_connection": new.shell,
            "input": input_value(&new.input),
        });
        if let Some(f) = new.folder_id {
            body["folder_id"] = json!(f);
        }
        let req = Req::new(
            "create connection",
            Bucket::Connection,
            Method::POST,
            "/connections",
        );
        let created = self.call(req.body(body).once()).await?;
        Ok(scrubbed(created, Some(&new.input)))
    }

    async fn update_connection(
        &self,
        id: i64,
        update: &ConnectionUpdate,
    ) -> Result<Connection, WorkatoError> {
        let mut body = json!({ "shell_connection": false });
        if let Some(n) = &update.name {
            body["name"] = json!(n);
        }
        if let Some(f) = update.folder_id {
            body["folder_id"] = json!(f);
        }
        if let Some(input) = &update.input {
            body["input"] = input_value(input);
        }
        let req = Req::new(
            "update connection",
            Bucket::Connection,
            Method::PUT,
            format!("/connections/{id}"),
        );
        let updated = self.call(req.body(body)).await?;
        Ok(scrubbed(updated, update.input.as_ref()))
    }

    async fn disconnect_connection(&self, id: i64) -> Result<(), WorkatoError> {
        let path = format!("/connections/{id}/disconnect");
        let _: Value = self
            .call(Req::new(
                "disconnect connection",
                Bucket::Connection,
                Method::POST,
                path,
            ))
            .await?;
        Ok(())
    }

    async fn list_recipes(&self, query: &RecipeQuery) -> Result<Vec<Recipe>, WorkatoError> {
        #[derive(serde::Deserialize)]
        struct Items {
            items: Vec<Recipe>,
        }
        let mut q = vec![
            ("page", query.page.max(1).to_string()),
            ("per_page", query.per_page.clamp(1, 100).to_string()),
            ("exclude_code", "true".to_owned()),
        ];
        if let Some(a) = &query.adapter_names_any {
            q.push(("adapter_names_any", a.clone()));
        }
        let items: Items = self
            .call(Req::new("list recipes", Bucket::Recipe, Method::GET, "/recipes").query(q))
            .await?;
        Ok(items.items)
    }

    async fn get_recipe(&self, id: i64) -> Result<Recipe, WorkatoError> {
        self.call(Req::new(
            "get recipe",
            Bucket::Recipe,
            Method::GET,
            format!("/recipes/{id}"),
        ))
        .await
    }

    async fn start_recipe(&self, id: i64) -> Result<(), WorkatoError> {
        let req = Req::new(
            "start recipe",
            Bucket::Recipe,
            Method::PUT,
            format!("/recipes/{id}/start"),
        )
        .once();
        let _: Value = self.call(req).await?;
        Ok(())
    }

    async fn stop_recipe(&self, id: i64) -> Result<(), WorkatoError> {
        let req = Req::new(
            "stop recipe",
            Bucket::Recipe,
            Method::PUT,
            format!("/recipes/{id}/stop"),
        )
        .once();
        let _: Value = self.call(req).await?;
        Ok(())
    }

    async fn list_jobs(&self, recipe_id: i64) -> Result<JobPage, WorkatoError> {
        self.call(Req::new(
            "list jobs",
            Bucket::Job,
            Method::GET,
            format!("/recipes/{recipe_id}/jobs"),
        ))
        .await
    }

    async fn standard_connectors(&self, applications: &str) -> Result<Vec<StandardConnector>, WorkatoError> {
        #[derive(serde::Deserialize)]
        struct Items {
            #[serde(default)]
            items: Vec<StandardConnector>,
        }
        let q = vec![("applications", applications.to_owned())];
        let req = Req::new("list connectors", Bucket::Connector, Method::GET, "/integrations").query(q);
        let items: Items = self.call(req).await?;
        Ok(items.items)
    }

    async fn custom_connectors(&self) -> Result<Vec<CustomConnector>, WorkatoError> {
        #[derive(serde::Deserialize)]
        struct Listing {
            #[serde(default)]
            result: Vec<CustomConnector>,
        }
        let req = Req::new(
            "list custom connectors",
            Bucket::Connector,
            Method::GET,
            "/custom_connectors",
        );
        let r: Listing = self.call(req).await?;
        Ok(r.result)
    }

    async fn custom_connector_code(&self, id: i64) -> Result<String, WorkatoError> {
        #[derive(serde::Deserialize)]
        struct Data {
            data: Code,
        }
        #[derive(serde::Deserialize)]
        struct Code {
            #[serde(default)]
            code: String,
        }
        let req = Req::new(
            "read custom connector code",
            Bucket::Connector,
            Method::GET,
            format!("/custom_connectors/{id}/code"),
        );
        let d: Data = self.call(req).await?;
        Ok(d.data.code)
    }
}

impl<T: WorkatoApi> WorkatoApi for std::sync::Arc<T> {
    fn list_connections(
        &self,
        filter: &ConnectionFilter,
    ) -> impl Future<Output = Result<Vec<Connection>, WorkatoError>> + Send {
        (**self).list_connections(filter)
    }
    fn create_connection(
        &self,
        new: &NewConnection,
    ) -> impl Future<Output = Result<Connection, WorkatoError>> + Send {
        (**self).create_connection(new)
    }
    fn update_connection(
        &self,
        id: i64,
        update: &ConnectionUpdate,
    ) -> impl Future<Output = Result<Connection, WorkatoError>> + Send {
        (**self).update_connection(id, update)
    }
    fn disconnect_connection(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send {
        (**self).disconnect_connection(id)
    }
    fn list_recipes(
        &self,
        query: &RecipeQuery,
    ) -> impl Future<Output = Result<Vec<Recipe>, WorkatoError>> + Send {
        (**self).list_recipes(query)
    }
    fn get_recipe(&self, id: i64) -> impl Future<Output = Result<Recipe, WorkatoError>> + Send {
        (**self).get_recipe(id)
    }
    fn start_recipe(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send {
        (**self).start_recipe(id)
    }
    fn stop_recipe(&self, id: i64) -> impl Future<Output = Result<(), WorkatoError>> + Send {
        (**self).stop_recipe(id)
    }
    fn list_jobs(&self, recipe_id: i64) -> impl Future<Output = Result<JobPage, WorkatoError>> + Send {
        (**self).list_jobs(recipe_id)
    }
    fn standard_connectors(
        &self,
        applications: &str,
    ) -> impl Future<Output = Result<Vec<StandardConnector>, WorkatoError>> + Send {
        (**self).standard_connectors(applications)
    }
    fn custom_connectors(&self) -> impl Future<Output = Result<Vec<CustomConnector>, WorkatoError>> + Send {
        (**self).custom_connectors()
    }
    fn custom_connector_code(&self, id: i64) -> impl Future<Output = Result<String, WorkatoError>> + Send {
        (**self).custom_connector_code(id)
    }
}
