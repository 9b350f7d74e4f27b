// Generates src/contract/ from the contract's JSON schema (../../schema).
// The test command runs this and fails if the committed output changed.
import tsCodegen from "@cosmwasm/ts-codegen";

const codegen = tsCodegen.default ?? tsCodegen;

await codegen({
  contracts: [{ name: "AgoraMarket", dir: "../../schema" }],
  outPath: "./src/contract/",
  options: {
    bundle: { enabled: false },
    types: { enabled: true },
    client: { enabled: true },
    reactQuery: { enabled: false },
    recoil: { enabled: false },
    messageComposer: { enabled: false },
    messageBuilder: { enabled: false },
    useContractsHook: { enabled: false },
  },
});
