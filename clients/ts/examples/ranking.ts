// Prints a graph's ranking from a node, as JSON: the same peers, in the
// same order, as `agora chain --network NAME ranking --json`.
//
//   npx tsx examples/ranking.ts --rpc http://127.0.0.1:26657 --contract wasm1… [--graph TEXT]
import { parseArgs } from "node:util";

import { MarketError, connectMarket, ranking } from "../src/index";

const { values } = parseArgs({
  options: {
    rpc: { type: "string", default: "http://127.0.0.1:26657" },
    contract: { type: "string" },
    graph: { type: "string", default: "TEXT" },
  },
});

if (!values.contract) {
  console.error("usage: ranking.ts --rpc URL --contract ADDRESS [--graph NAME]");
  process.exit(2);
}

try {
  const market = await connectMarket(values.rpc!, values.contract);
  const peers = await ranking(market, values.graph!);
  console.log(JSON.stringify(peers, null, 2));
  market.cosmwasm.disconnect();
} catch (error) {
  console.error(error instanceof MarketError ? error.message : error);
  process.exit(1);
}
