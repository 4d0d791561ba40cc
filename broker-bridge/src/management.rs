//! The RabbitMQ management HTTP API (cargo feature `management`): what AMQP cannot tell, such as
//! which queues exist and how deep they are. Operators' tools and the test support use it.

use anyhow::Context;
use base64::Engine;
use serde::Deserialize;

/// Where `deploy/setup-broker.sh` enables the management API.
pub const DEFAULT_MANAGEMENT_URL: &str = "http://guest:guest@127.0.0.1:15672";

/// A queue as the management API reports it.
#[derive(Debug, Clone, Deserialize)]
pub struct QueueInfo {
    pub name: String,
    #[serde(default)]
    pub messages: u64,
    #[serde(default)]
    pub consumers: u64,
}

/// A client of the RabbitMQ management HTTP API. Blocking: call it from `spawn_blocking` in async code.
#[derive(Clone)]
pub struct Management {
    base: String,
    /// The user the API is called as.
    pub user: String,
    authorization: String,
}

impl Management {
    /// From `RABBITMQ_MANAGEMENT_URL`, by default [`DEFAULT_MANAGEMENT_URL`].
    pub fn from_env() -> anyhow::Result<Self> {
        let url = std::env::var("RABBITMQ_MANAGEMENT_URL")
            .unwrap_or_else(|_| DEFAULT_MANAGEMENT_URL.to_owned());
        Self::new(&url)
    }

    /// From a URL like `http://user:password@host:15672` (guest/guest if it names no user).
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let (scheme, rest) = url
            .split_once("://")
            .context("the management URL needs a scheme (http://...)")?;
        let (user, password, host) = match rest.split_once('@') {
            Some((userinfo, host)) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                (user.to_owned(), password.to_owned(), host)
            }
            None => ("guest".to_owned(), "guest".to_owned(), rest),
        };
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Ok(Self {
            base: format!("{scheme}://{}", host.trim_end_matches('/')),
            user,
            authorization: format!("Basic {token}"),
        })
    }

    /// The same API, as the URL's user with the password in the file `path` (a mounted secret),
    /// so the password need not be in the URL or the environment.
    pub fn with_password_file(self, path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the management password file {}", path.display()))?;
        let password = text.trim_end();
        anyhow::ensure!(
            !password.is_empty(),
            "the management password file {} is empty",
            path.display()
        );
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{password}", self.user));
        Ok(Self {
            authorization: format!("Basic {token}"),
            ..self
        })
    }

    pub fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let mut response = ureq::get(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .call()
            .with_context(|| format!("GET {path}"))?;
        Ok(response.body_mut().read_json()?)
    }

    pub fn put(&self, path: &str, body: serde_json::Value) -> anyhow::Result<()> {
        ureq::put(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .send_json(body)
            .with_context(|| format!("PUT {path}"))?;
        Ok(())
    }

    pub fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        body: serde_json::Value,
    ) -> anyhow::Result<T> {
        let mut response = ureq::post(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .send_json(body)
            .with_context(|| format!("POST {path}"))?;
        Ok(response.body_mut().read_json()?)
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<()> {
        ureq::delete(format!("{}{path}", self.base))
            .header("Authorization", &self.authorization)
            .header("X-Reason", "instadash")
            .call()
            .with_context(|| format!("DELETE {path}"))?;
        Ok(())
    }

    /// Every queue of `vhost`.
    /// Creates the virtual host `vhost` and gives the API's user every permission in it: a
    /// space of its own for a test or a benchmark run, removed with [`Management::delete_vhost`].
    pub fn create_vhost(&self, vhost: &str) -> anyhow::Result<()> {
        self.put(
            &format!("/api/vhosts/{}", enc(vhost)),
            serde_json::json!({}),
        )?;
        self.put(
            &format!("/api/permissions/{}/{}", enc(vhost), enc(&self.user)),
            serde_json::json!({"configure": ".*", "write": ".*", "read": ".*"}),
        )
    }

    /// Deletes the virtual host `vhost` with everything in it.
    pub fn delete_vhost(&self, vhost: &str) -> anyhow::Result<()> {
        self.delete(&format!("/api/vhosts/{}", enc(vhost)))
    }

    pub fn queues(&self, vhost: &str) -> anyhow::Result<Vec<QueueInfo>> {
        self.get(&format!("/api/queues/{}", enc(vhost)))
    }
}

/// `base` with its vhost replaced by `vhost`.
pub fn with_vhost(base: &str, vhost: &str) -> anyhow::Result<String> {
    let (scheme, rest) = base.split_once("://").context("AMQP_URL needs a scheme")?;
    let (authority, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let authority = authority.split('/').next().unwrap_or(authority);
    let mut url = format!("{scheme}://{authority}/{}", enc(vhost));
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// Percent-encodes a path segment (vhost and queue names contain `/` and `.`).
pub fn enc(segment: &str) -> String {
    crate::config::percent_encode(segment)
}
