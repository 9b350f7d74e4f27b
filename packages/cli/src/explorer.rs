//! `agora explorer` and `agora demo --serve`: the market explorer page
//! (`clients/ts/explorer`, built into `clients/ts/dist` and compiled into
//! this binary), the networks it may read, and for the embedded chain the
//! part of a node's RPC the page uses ([`agora_client::comet`]) at `/rpc`.
//!
//! The page reads a node's RPC straight from the browser; the server only
//! tells it which networks and markets there are (`/networks.json`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use agora_client::{EmbeddedChain, Shared};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post};
use clap::Args;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio::task::LocalSet;

use crate::error::{CliError, finish};
use crate::network::{self, NetworkArgs};

/// The built page: `npm run build` in clients/ts writes these (fixed
/// names, see vite.config.ts); the test command checks they are fresh.
const INDEX_HTML: &str = include_str!("../../../clients/ts/dist/index.html");
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "explorer.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../../clients/ts/dist/assets/explorer.js"),
    ),
    (
        "explorer.css",
        "text/css; charset=utf-8",
        include_bytes!("../../../clients/ts/dist/assets/explorer.css"),
    ),
];

/// The network name of the embedded chain on the page.
pub const EMBEDDED: &str = "embedded";

#[derive(Debug, Args)]
pub struct ExplorerArgs {
    /// The port on 127.0.0.1 to serve on (0: any free port).
    #[arg(long, default_value_t = 8480)]
    port: u16,
    /// Offer the embedded chain of this `agora chain` state file, as it
    /// is now.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Offer these networks of agora.toml (`localnet` is built in), with
    /// the market `agora deploy` recorded for each. Repeatable.
    #[arg(long = "network", value_name = "NAME")]
    networks: Vec<String>,
    /// The networks file. Default: ./agora.toml, else $AGORA_HOME/agora.toml.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// A network the page may pick: its RPC (relative for the embedded chain,
/// which this server answers) and its market, if one is recorded.
#[derive(Clone, Debug, Serialize)]
pub struct NetworkEntry {
    pub name: String,
    pub rpc: String,
    pub contract: Option<String>,
}

/// A JSON-RPC request for the embedded chain, and where its answer goes.
type RpcCall = (Bytes, oneshot::Sender<serde_json::Value>);

/// What the server offers: the networks, and for an embedded chain where
/// its RPC requests go. That chain is not `Send` (cw-multi-test keeps
/// boxed closures), so they are answered by a task on the chain's own
/// thread.
#[derive(Clone, Default)]
pub struct Explorer {
    rpc: Option<mpsc::Sender<RpcCall>>,
    pub networks: Vec<NetworkEntry>,
}

/// Answers RPC requests until every [`Explorer`] handle is gone; each
/// answer locks the chain between two calls of whatever else uses it.
async fn answer_all(mut requests: mpsc::Receiver<RpcCall>, chain: Shared<EmbeddedChain>) {
    while let Some((body, reply)) = requests.recv().await {
        // The page may have gone: nothing to do with an unsent answer.
        let _ = reply.send(agora_client::comet::answer(&chain.lock(), &body));
    }
}

/// Requests waiting for the chain's thread; past this the page is told to
/// retry.
const QUEUE: usize = 64;

impl Explorer {
    /// The embedded `chain`, listed first. Its RPC is answered by a task
    /// spawned on `local`: run the chain's other work on that `LocalSet`
    /// too (the demo's market), or block on it.
    pub fn embedded(chain: &Shared<EmbeddedChain>, local: &LocalSet) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE);
        let contract = chain.lock().contract().to_string();
        local.spawn_local(answer_all(receiver, chain.clone()));
        Self {
            rpc: Some(sender),
            networks: vec![NetworkEntry {
                name: EMBEDDED.to_string(),
                rpc: "rpc".to_string(),
                contract: Some(contract),
            }],
        }
    }

    fn router(self) -> Router {
        Router::new()
            .route("/", get(index))
            .route("/index.html", get(index))
            .route("/assets/{file}", get(asset))
            .route("/networks.json", get(networks))
            .route("/rpc", post(rpc))
            .with_state(self)
    }

    /// Binds 127.0.0.1:`port`; returns the address and the server, to be
    /// spawned.
    pub async fn bind(
        self,
        port: u16,
    ) -> Result<(SocketAddr, impl Future<Output = std::io::Result<()>>), CliError> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(CliError::io(format!("binding 127.0.0.1:{port}")))?;
        let address = listener
            .local_addr()
            .map_err(CliError::io("reading the bound address"))?;
        let router = self.router();
        Ok((address, async move { axum::serve(listener, router).await }))
    }
}

async fn index() -> Response {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        INDEX_HTML,
    )
        .into_response()
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, kind, body)) => ([(header::CONTENT_TYPE, *kind)], *body).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no asset {file:?}")).into_response(),
    }
}

async fn networks(State(explorer): State<Explorer>) -> Json<Vec<NetworkEntry>> {
    Json(explorer.networks)
}

async fn rpc(State(explorer): State<Explorer>, body: Bytes) -> Response {
    let Some(desk) = &explorer.rpc else {
        return (
            StatusCode::NOT_FOUND,
            "this explorer serves no embedded chain",
        )
            .into_response();
    };
    let (reply, answer) = oneshot::channel();
    if desk.try_send((body, reply)).is_err() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "the embedded chain is busy: retry",
        )
            .into_response();
    }
    match answer.await {
        Ok(answer) => Json(answer).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the embedded chain has stopped",
        )
            .into_response(),
    }
}

pub fn run(args: &ExplorerArgs) -> ExitCode {
    finish("explorer", explorer(args))
}

fn explorer(args: &ExplorerArgs) -> Result<(), CliError> {
    if args.state.is_none() && args.networks.is_empty() {
        return Err(CliError::Invalid(
            "nothing to explore: pass --state FILE (an `agora chain` state), --network NAME, \
             or run `agora demo --serve`"
                .to_string(),
        ));
    }
    let local = LocalSet::new();
    let mut explorer = match &args.state {
        Some(path) => Explorer::embedded(&Shared::new(crate::chain::load_chain(path)?), &local),
        None => Explorer::default(),
    };
    let network_args = NetworkArgs {
        network: None,
        config: args.config.clone(),
    };
    for name in &args.networks {
        let node = network::network(&network_args, name)?;
        let contract = network::deployment(name)?
            .filter(|deployment| deployment.chain_id == node.chain_id)
            .map(|deployment| deployment.contract);
        explorer.networks.push(NetworkEntry {
            name: name.clone(),
            rpc: node.rpc,
            contract,
        });
    }
    let runtime = tokio::runtime::Runtime::new().map_err(CliError::io("starting the runtime"))?;
    local.block_on(&runtime, async {
        let (address, server) = explorer.bind(args.port).await?;
        println!("explorer: http://{address}/ (Ctrl-C stops it)");
        tokio::select! {
            served = server => served.map_err(CliError::io("serving the explorer")),
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })
}
