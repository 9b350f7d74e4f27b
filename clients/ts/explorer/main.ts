// The market explorer: pick a network and a graph, then see its ranking,
// epoch state, parameters, and each peer's stake share over the epochs the
// page has seen. Everything is read through the node's RPC with the
// generated client; `agora explorer` / `agora demo --serve` serve the page
// and say which networks there are (networks.json).
import "./style.css";

import {
  MarketError,
  connectMarket,
  graphNames,
  type EpochStateResponse,
  type GraphParams,
  type Market,
  type PeerInfo,
} from "../src/index";
import { drawChart, type Observation } from "./chart";

interface NetworkEntry {
  name: string;
  rpc: string;
  contract: string | null;
}

const CUSTOM = "custom";
const query = new URLSearchParams(location.search);
const POLL_MS = Number(query.get("poll") ?? 2000);

function byId<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found as T;
}

const form = byId<HTMLFormElement>("pick");
const networkSelect = byId<HTMLSelectElement>("network");
const rpcInput = byId<HTMLInputElement>("rpc");
const contractInput = byId<HTMLInputElement>("contract");
const graphSelect = byId<HTMLSelectElement>("graph");
const status = byId<HTMLParagraphElement>("status");
const main = byId<HTMLElement>("market");
const chainLine = byId<HTMLParagraphElement>("chain");

let networks: NetworkEntry[] = [];
let market: Market | null = null;
let observations: Observation[] = [];
/** Bumped on every new pick, so answers to an older one are dropped. */
let generation = 0;
let timer: ReturnType<typeof setTimeout> | undefined;

function setStatus(kind: "loading" | "ok" | "error", text: string): void {
  status.dataset.kind = kind;
  status.textContent = text;
}

function showError(error: unknown): void {
  main.hidden = true;
  const text =
    error instanceof MarketError
      ? error.message
      : `The node refused a query: ${error instanceof Error ? error.message : String(error)}`;
  setStatus("error", text);
  status.dataset.error = error instanceof MarketError ? error.kind : "query";
}

/** A network's RPC as a URL (the embedded chain's is relative to the page). */
function absolute(rpc: string): string {
  return new URL(rpc, location.href).href.replace(/\/$/, "");
}

function option(value: string, text: string): HTMLOptionElement {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text;
  return node;
}

function pickNetwork(name: string): void {
  const entry = networks.find((n) => n.name === name);
  networkSelect.value = entry ? entry.name : CUSTOM;
  if (entry) {
    rpcInput.value = absolute(entry.rpc);
    contractInput.value = entry.contract ?? "";
  }
}

/** Connects to the picked network's market and lists its graphs. */
async function connect(wantedGraph: string | null): Promise<void> {
  const mine = ++generation;
  clearTimeout(timer);
  market = null;
  observations = [];
  main.hidden = true;
  chainLine.textContent = "";
  const rpc = rpcInput.value.trim();
  const contract = contractInput.value.trim();
  if (!rpc) return setStatus("error", "Enter the RPC address of a node.");
  if (!contract) {
    const name = networkSelect.value;
    return setStatus(
      "error",
      `No market is recorded for ${name}: enter a contract address, or deploy one with \`agora deploy --network ${name}\`.`,
    );
  }
  setStatus("loading", `Connecting to ${rpc}…`);
  try {
    const reached = await connectMarket(rpc, contract);
    const graphs = await graphNames(reached);
    if (mine !== generation) return;
    graphSelect.replaceChildren(...graphs.map((g) => option(g, g)));
    const graph = wantedGraph ?? graphs[0];
    if (graph === undefined) return setStatus("error", "This market has no graphs yet.");
    if (!graphs.includes(graph)) {
      throw new MarketError("unknown-graph", `No graph ${graph} in this market (its graphs: ${graphs.join(", ")}).`);
    }
    graphSelect.value = graph;
    market = reached;
    chainLine.textContent = `${reached.chainId} · ${reached.address} · agora-market ${reached.version}`;
    setStatus("loading", `Loading ${graph}…`);
    await refresh(mine);
  } catch (error) {
    if (mine === generation) showError(error);
  }
}

const fixed = (value: string, places = 4) => Number(value).toFixed(places);

function cell(text: string, title?: string): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = text;
  if (title) td.title = title;
  return td;
}

function renderRanking(peers: PeerInfo[]): void {
  const rows = peers.map((peer) => {
    const tr = document.createElement("tr");
    tr.dataset.uid = String(peer.uid);
    tr.append(
      cell(String(peer.uid)),
      cell(peer.address),
      cell(peer.stake),
      cell(fixed(peer.incentive), peer.incentive),
      cell(fixed(peer.dividends), peer.dividends),
      cell(fixed(peer.trust), peer.trust),
      cell(fixed(peer.consensus), peer.consensus),
      cell(peer.last_paid),
    );
    return tr;
  });
  byId<HTMLTableSectionElement>("ranking").querySelector("tbody")?.replaceChildren(...rows);
}

function renderList(id: string, entries: [string, string][]): void {
  const nodes = entries.flatMap(([key, value]) => {
    const dt = document.createElement("dt");
    dt.textContent = key;
    const dd = document.createElement("dd");
    dd.textContent = value;
    dd.dataset.key = key;
    return [dt, dd];
  });
  byId<HTMLElement>(id).replaceChildren(...nodes);
}

function renderEpoch(epoch: EpochStateResponse, height: number): void {
  const progress = epoch.in_progress
    ? `${epoch.in_progress.phase}: uid ${epoch.in_progress.next_uid} of ${epoch.in_progress.peers}, ` +
      `${epoch.in_progress.pages} page(s) since block ${epoch.in_progress.block}`
    : "none";
  renderList("epoch", [
    ["block now", String(height)],
    ["epochs finished", String(epoch.epoch)],
    ["paged epoch in progress", progress],
    ["last epoch block", String(epoch.last_epoch_block)],
    ["next due block", String(epoch.next_due_block)],
    ["peers", String(epoch.peers)],
    ["k (peg)", String(epoch.k)],
    ["last loss", fixed(epoch.last_loss, 6)],
    ["last emitted", epoch.last_emitted],
    ["total stake", epoch.total_stake],
    ["reward pool", epoch.reward_pool],
  ]);
}

function renderParams(params: GraphParams): void {
  const entries = Object.entries(params)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]): [string, string] => [key, String(value)]);
  renderList("params", entries);
}

/** Stake shares of this epoch, added once per finished epoch. */
function observe(epoch: EpochStateResponse, peers: PeerInfo[]): void {
  if (observations.at(-1)?.epoch === epoch.epoch) return;
  const total = BigInt(epoch.total_stake);
  const shares = new Map<number, number>();
  for (const peer of peers) {
    const share = total > 0n ? Number((BigInt(peer.stake) * 1_000_000n) / total) / 1e6 : 0;
    shares.set(peer.uid, share);
  }
  observations.push({ epoch: epoch.epoch, shares });
}

async function refresh(mine: number): Promise<void> {
  if (!market || mine !== generation) return;
  const graph = graphSelect.value;
  try {
    const [params, epoch, ranking, height] = await Promise.all([
      market.query.params({ graph }),
      market.query.epochState({ graph }),
      market.query.ranking({ graph, limit: 256 }),
      market.cosmwasm.getHeight(),
    ]);
    if (mine !== generation) return;
    renderRanking(ranking.peers);
    renderEpoch(epoch, height);
    renderParams(params);
    observe(epoch, ranking.peers);
    drawChart(byId("chart"), observations);
    main.hidden = false;
    setStatus("ok", `${graph}: ${ranking.peers.length} peers, block ${height}, updated ${new Date().toLocaleTimeString()}`);
    status.dataset.graph = graph;
    status.dataset.epoch = String(epoch.epoch);
  } catch (error) {
    if (mine === generation) showError(error);
  }
  if (mine === generation) timer = setTimeout(() => void refresh(mine), POLL_MS);
}

async function start(): Promise<void> {
  try {
    const answer = await fetch("networks.json");
    if (answer.ok) networks = (await answer.json()) as NetworkEntry[];
  } catch {
    networks = [];
  }
  networkSelect.replaceChildren(
    ...networks.map((n) => option(n.name, n.name)),
    option(CUSTOM, "another node…"),
  );
  pickNetwork(query.get("network") ?? networks[0]?.name ?? CUSTOM);
  if (query.get("rpc")) rpcInput.value = query.get("rpc") ?? "";
  if (query.get("contract")) contractInput.value = query.get("contract") ?? "";
  networkSelect.addEventListener("change", () => {
    pickNetwork(networkSelect.value);
    if (networkSelect.value !== CUSTOM) void connect(null);
  });
  graphSelect.addEventListener("change", () => {
    const mine = ++generation;
    clearTimeout(timer);
    observations = [];
    setStatus("loading", `Loading ${graphSelect.value}…`);
    void refresh(mine);
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void connect(graphSelect.value || null);
  });
  if (networkSelect.value === CUSTOM && !rpcInput.value) {
    return setStatus("ok", "Enter a node's RPC address and a market's contract address.");
  }
  await connect(query.get("graph"));
}

void start();
