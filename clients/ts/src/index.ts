// The typed client of the Agora market: the classes and types generated
// from schema/ by @cosmwasm/ts-codegen (src/contract/, never edited by
// hand), and helpers to reach a market through a node's RPC.
export * from "./contract/AgoraMarket.types";
export { AgoraMarketClient, AgoraMarketQueryClient } from "./contract/AgoraMarket.client";
export type {
  AgoraMarketInterface,
  AgoraMarketReadOnlyInterface,
} from "./contract/AgoraMarket.client";
export * from "./market";
