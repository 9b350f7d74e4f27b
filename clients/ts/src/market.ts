// Connecting to an Agora market through a node's RPC, with the failures a
// page or a script must tell apart: no node, no contract, a contract that
// is not Agora, a graph the market does not have.
import { CosmWasmClient } from "@cosmjs/cosmwasm";
import { fromUtf8, toUtf8 } from "@cosmjs/encoding";

import { AgoraMarketQueryClient } from "./contract/AgoraMarket.client";
import type { PeerInfo } from "./contract/AgoraMarket.types";

/** The name the market records for itself with cw2 (its crate's name). */
export const CONTRACT_NAME = "agora-market";

/** The largest page the contract answers. */
export const PAGE_LIMIT = 256;

export type MarketErrorKind = "unreachable" | "no-contract" | "not-agora" | "unknown-graph";

/** A failure with a kind to branch on and a sentence to show. */
export class MarketError extends Error {
  constructor(
    readonly kind: MarketErrorKind,
    message: string,
  ) {
    super(message);
    this.name = "MarketError";
  }
}

/** A market reached through a node: CosmJS's client and the typed one. */
export interface Market {
  readonly rpc: string;
  readonly address: string;
  readonly chainId: string;
  /** The contract's cw2 version. */
  readonly version: string;
  readonly cosmwasm: CosmWasmClient;
  readonly query: AgoraMarketQueryClient;
}

function detail(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Connects to the node at `rpc` and checks that `address` holds an Agora
 * market (its cw2 record names `agora-market`).
 */
export async function connectMarket(rpc: string, address: string): Promise<Market> {
  let cosmwasm: CosmWasmClient;
  let chainId: string;
  try {
    cosmwasm = await CosmWasmClient.connect(rpc);
    chainId = await cosmwasm.getChainId();
  } catch (error) {
    throw new MarketError("unreachable", `Cannot reach the node at ${rpc}: ${detail(error)}`);
  }
  try {
    await cosmwasm.getContract(address);
  } catch (error) {
    throw new MarketError("no-contract", `No contract at ${address} on ${chainId}.`);
  }
  const raw = await cosmwasm.queryContractRaw(address, toUtf8("contract_info"));
  let named: { contract?: string; version?: string } = {};
  try {
    named = raw && raw.length > 0 ? JSON.parse(fromUtf8(raw)) : {};
  } catch {
    named = {};
  }
  if (named.contract !== CONTRACT_NAME) {
    const what = named.contract ? `it is ${named.contract} ${named.version ?? ""}`.trim() : "it does not name itself with cw2";
    throw new MarketError("not-agora", `The contract at ${address} is not an Agora market (${what}).`);
  }
  return {
    rpc,
    address,
    chainId,
    version: named.version ?? "",
    cosmwasm,
    query: new AgoraMarketQueryClient(cosmwasm, address),
  };
}

/** Every graph of the market, in order. */
export async function graphNames(market: Market): Promise<string[]> {
  const names: string[] = [];
  for (;;) {
    const page = await market.query.graphs({
      startAfter: names.at(-1),
      limit: PAGE_LIMIT,
    });
    names.push(...page.graphs);
    if (page.graphs.length < PAGE_LIMIT) return names;
  }
}

/** Fails with an "unknown-graph" MarketError if the market has no `graph`. */
export async function checkGraph(market: Market, graph: string): Promise<void> {
  const names = await graphNames(market);
  if (!names.includes(graph)) {
    const known = names.length > 0 ? names.join(", ") : "none";
    throw new MarketError("unknown-graph", `No graph ${graph} in this market (its graphs: ${known}).`);
  }
}

/** A graph's peers by incentive, best first (ties: lower uid), up to 256. */
export async function ranking(market: Market, graph: string): Promise<PeerInfo[]> {
  await checkGraph(market, graph);
  const answer = await market.query.ranking({ graph, limit: PAGE_LIMIT });
  return answer.peers;
}
