// The explorer page: built into dist/ with fixed file names, because the
// `agora` binary compiles dist/ in (packages/cli/src/explorer.rs) and the
// test command checks the committed build is fresh.
import { defineConfig } from "vite";

export default defineConfig({
  root: "explorer",
  base: "./",
  build: {
    outDir: "../dist",
    emptyOutDir: true,
    sourcemap: false,
    // CosmJS is CommonJS, so it is not tree-shaken: 1.7 MB, 0.3 MB gzipped.
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      output: {
        entryFileNames: "assets/explorer.js",
        chunkFileNames: "assets/explorer-[name].js",
        assetFileNames: "assets/explorer[extname]",
      },
    },
  },
});
