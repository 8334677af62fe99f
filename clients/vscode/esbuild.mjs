// Bundles the extension (dist/extension.js), the unit tests
// (out/test/unit/*.test.js) or the end-to-end driver (out/e2e/run.js).
//   node esbuild.mjs [--production] [--watch] [--tests] [--e2e]
import * as esbuild from "esbuild";
import { readdirSync } from "node:fs";

const args = new Set(process.argv.slice(2));
const production = args.has("--production");
const common = { bundle: true, platform: "node", target: "node20", format: "cjs", logLevel: "warning" };

let options;
if (args.has("--tests")) {
  const dir = "test/unit";
  options = {
    ...common,
    entryPoints: readdirSync(dir).filter((f) => f.endsWith(".test.ts")).map((f) => `${dir}/${f}`),
    outdir: "out/test/unit",
    sourcemap: "inline",
  };
} else if (args.has("--e2e")) {
  options = { ...common, entryPoints: ["tests/e2e/run.ts"], outfile: "out/e2e/run.js", external: ["playwright-core"], sourcemap: "inline" };
} else {
  options = {
    ...common,
    entryPoints: ["src/extension.ts"],
    outfile: "dist/extension.js",
    external: ["vscode"],
    minify: production,
    sourcemap: !production,
  };
}

if (args.has("--watch")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
