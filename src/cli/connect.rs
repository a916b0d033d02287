//! The client the plugin uses: the kubeconfig's current context, or `--context` of it, or of
//! `--kubeconfig`'s file.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

/// `--kubeconfig` and `--context`.
#[derive(Clone, Debug, Default)]
pub struct Connection {
    /// A kubeconfig file (default: `KUBECONFIG`, else `~/.kube/config`, else in-cluster).
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig (default: its current context).
    pub context: Option<String>,
}

/// The client and its default namespace.
pub async fn connect(c: &Connection) -> Result<(Client, String), Box<dyn std::error::Error>> {
    let opts = KubeConfigOptions {
        context: c.context.clone(),
        ..Default::default()
    };
    let config = match &c.kubeconfig {
        Some(path) => Config::from_custom_kubeconfig(Kubeconfig::read_from(path)?, &opts).await?,
        None if c.context.is_some() => Config::from_kubeconfig(&opts).await?,
        None => Config::infer().await?,
    };
    let ns = config.default_namespace.clone();
    Ok((Client::try_from(config)?, ns))
}
