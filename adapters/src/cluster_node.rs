//! `kassa serve --cluster`: the node joins the cluster (`kassa_cluster::run`) and serves once it
//! owns every partition. Until then it is a standby: its listeners forward every connection to
//! the owner (`forward.rs`).

use std::sync::Arc;

use kassa_cluster::{Addresses, ClusterOptions, StandbyView};
use kassa_engine::runtime::{Engine, EngineConfig, RecoveryReport};

use crate::forward::{Forwarder, Protocol};
use crate::serve::ServeConfig;

/// Joins the cluster with the data directory of `engine_config`; `http` is the HTTP listener
/// (the standby forwards on it and on the TCP and ISO 8583 listeners it binds meanwhile).
pub async fn open(
    config: &ServeConfig,
    options: &ClusterOptions,
    engine_config: EngineConfig,
    http: std::net::TcpListener,
) -> Result<(Engine, RecoveryReport), String> {
    let bind = |address: std::net::SocketAddr| {
        std::net::TcpListener::bind(address).map_err(|error| format!("cannot listen on {address}: {error}"))
    };
    let view = Arc::new(StandbyView::default());
    let listeners = vec![
        (http, Protocol::Http { tls: config.tls.is_some() }),
        (bind(config.tcp)?, Protocol::Tcp),
        (bind(config.iso8583)?, Protocol::Iso8583),
    ];
    let forwarder = Forwarder::start(listeners, view.clone(), config.max_connections)?;
    let mut options = options.clone();
    let advertised = |address: std::net::SocketAddr| match config.advertise_host.as_deref() {
        Some(host) if host.contains(':') && !host.starts_with('[') => format!("[{host}]:{}", address.port()),
        Some(host) => format!("{host}:{}", address.port()),
        None => address.to_string(),
    };
    options.addresses = Some(Addresses {
        http: advertised(config.http),
        tcp: advertised(config.tcp),
        iso8583: advertised(config.iso8583),
    });
    let opened = tokio::task::spawn_blocking(move || {
        kassa_cluster::run(&options, engine_config, view, |reason| {
            // A node that lost a lease answers nothing more: its supervisor restarts it, and it
            // comes back as a standby of the new owner.
            tracing::error!(%reason, "a partition's lease was lost: this node stops answering");
            std::process::exit(3);
        })
    })
    .await;
    forwarder.stop().await;
    let (engine, report) =
        opened.map_err(|error| error.to_string())?.map_err(|error| format!("joining the cluster failed: {error}"))?;
    tracing::info!(node = %config.cluster.as_ref().map_or("", |options| options.node_id.as_str()), "this node owns every partition");
    Ok((engine, report))
}
