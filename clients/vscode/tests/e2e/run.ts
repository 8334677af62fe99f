// Runs the end-to-end cases against a code-server that tests/run.sh started,
// prints one line per case and writes the counts to $CODEGENIE_E2E_RESULT.
//
// Environment: CODEGENIE_E2E_URL, CODEGENIE_E2E_WORKSPACE,
// CODEGENIE_E2E_PROFILE (browser profile folder), CODEGENIE_E2E_ARTIFACTS,
// CODEGENIE_E2E_RESULT, CODEGENIE_E2E_MODELS (comma-separated, default first),
// CODEGENIE_E2E_SETTINGS (user settings.json), CODEGENIE_E2E_LOGS (code-server's
// log folder); optional: CODEGENIE_E2E_ANSWER, CODEGENIE_E2E_MODEL_SERVER (the
// test model server's URL), CODEGENIE_E2E_BUNDLED (the platform whose server
// the installed .vsix bundles), CODEGENIE_E2E_ONLY (substrings, `A|B`),
// CODEGENIE_E2E_COMPLETION (set when a local model completes inline).

import { writeFileSync } from "node:fs";
import { cases, Skip, type E2eEnv } from "./cases";
import { Workbench } from "./workbench";

function need(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

async function main(): Promise<number> {
  const models = need("CODEGENIE_E2E_MODELS").split(",").filter(Boolean);
  const env: E2eEnv = {
    pythonFile: "hello.py",
    cancelFile: "countdown.py",
    insertAgainFile: "liftoff.py",
    completionFile: process.env.CODEGENIE_E2E_COMPLETION ? "numbers.py" : undefined,
    workspace: need("CODEGENIE_E2E_WORKSPACE"),
    models,
    defaultModel: models[0] ?? "deepseek-coder",
    userSettings: need("CODEGENIE_E2E_SETTINGS"),
    modelAnswer: process.env.CODEGENIE_E2E_ANSWER || undefined,
    modelServer: process.env.CODEGENIE_E2E_MODEL_SERVER || undefined,
    logs: need("CODEGENIE_E2E_LOGS"),
    bundledPlatform: process.env.CODEGENIE_E2E_BUNDLED || undefined,
  };
  // `A|B` runs the cases whose name contains A or B.
  const only = process.env.CODEGENIE_E2E_ONLY?.split("|").filter(Boolean);
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const started = Date.now();
  let wb: Workbench | undefined;
  try {
    wb = await Workbench.open({
      url: need("CODEGENIE_E2E_URL"),
      folder: need("CODEGENIE_E2E_WORKSPACE"),
      browserProfile: need("CODEGENIE_E2E_PROFILE"),
      artifacts: need("CODEGENIE_E2E_ARTIFACTS"),
    });
    console.log(`workbench up in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    for (const c of cases) {
      if (only?.length && !only.some((o) => c.name.includes(o))) continue;
      const t0 = Date.now();
      const secs = (): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
      try {
        await c.run({ wb, env });
        counts.passed++;
        console.log(`ok   ${c.name} (${secs()})`);
      } catch (e) {
        if (e instanceof Skip) {
          counts.skipped++;
          console.log(`skip ${c.name}: ${e.message}`);
        } else {
          counts.failed++;
          console.log(`FAIL ${c.name} (${secs()})\n     ${String(e instanceof Error ? (e.stack ?? e.message) : e).replace(/\n/g, "\n     ")}`);
          await wb.screenshot(`failed-${counts.failed}`).catch(() => undefined);
          await wb.escape().catch(() => undefined);
        }
      }
    }
    await wb.screenshot("final");
  } catch (e) {
    counts.failed++;
    console.log(`FAIL the workbench did not come up: ${e instanceof Error ? e.message : String(e)}`);
  } finally {
    await wb?.close().catch(() => undefined);
  }
  const result = process.env.CODEGENIE_E2E_RESULT;
  if (result) writeFileSync(result, `${counts.passed} ${counts.failed} ${counts.skipped}\n`);
  console.log(`e2e: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped (${((Date.now() - started) / 1000).toFixed(0)}s)`);
  return counts.failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
