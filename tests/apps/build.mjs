// Bundles host.mjs (and its npm dependencies) into dist/host.js for the browser.
// Offline once node_modules is installed: `npm ci && npm run build`.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));

await build({
  entryPoints: [join(here, "host.mjs")],
  outfile: join(here, "dist", "host.js"),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: ["es2022"],
  minify: false,
  sourcemap: false,
  legalComments: "none",
  logLevel: "info",
});
