import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { CLIENT_COMMANDS, SERVER_COMMANDS } from "../../src/commands";

interface Manifest {
  engines: { vscode: string };
  capabilities: { untrustedWorkspaces: { restrictedConfigurations: string[] } };
  activationEvents: string[];
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    menus: Record<string, { command: string }[]>;
    configuration: { properties: Record<string, { description?: string; markdownDescription?: string; scope?: string }> };
  };
}

const manifest = JSON.parse(readFileSync(path.join(__dirname, "../../../package.json"), "utf8")) as Manifest;
const contributed = manifest.contributes.commands.map((c) => c.command);

describe("package.json", () => {
  it("keeps where requests go out of a workspace's reach", () => {
    const props = manifest.contributes.configuration.properties;
    for (const key of ["codegenie.models", "codegenie.server.path"]) {
      assert.equal(props[key].scope, "application", `${key}: a user setting only`);
      assert.ok(manifest.capabilities.untrustedWorkspaces.restrictedConfigurations.includes(key), key);
    }
  });

  it("contributes exactly the commands the extension registers", () => {
    assert.deepEqual([...contributed].sort(), Object.values(CLIENT_COMMANDS).sort());
  });

  it("never reuses a server command id (the language client registers those)", () => {
    const server = new Set<string>(SERVER_COMMANDS);
    assert.deepEqual(
      contributed.filter((c) => server.has(c)),
      [],
    );
  });

  it("puts every command in the CodeGenie category with the titles of the palette", () => {
    for (const c of manifest.contributes.commands) assert.equal(c.category, "CodeGenie", c.command);
    const titles = manifest.contributes.commands.map((c) => c.title);
    for (const t of [
      "Sign Up",
      "Log In",
      "Log Out",
      "Forgot Password",
      "Reset Password",
      "Show Profile",
      "Show History",
      "Select Model",
      "Generate Code from Comment",
      "Explain Selection",
      "Set Hugging Face Token",
      "Cancel",
      "Restart Server",
    ]) {
      assert.ok(titles.includes(t), t);
    }
  });

  it("menus refer to contributed commands; Generate and Explain are in the editor context menu", () => {
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) {
      for (const i of items) assert.ok(contributed.includes(i.command), `${menu}: ${i.command}`);
    }
    const context = manifest.contributes.menus["editor/context"]?.map((i) => i.command) ?? [];
    assert.ok(context.includes(CLIENT_COMMANDS.generate));
    assert.ok(context.includes(CLIENT_COMMANDS.explain));
  });

  it("describes every setting", () => {
    const props = manifest.contributes.configuration.properties;
    for (const key of ["codegenie.model", "codegenie.models", "codegenie.log.level", "codegenie.server.path", "codegenie.trace.server"]) {
      assert.ok(props[key], key);
    }
    for (const [key, p] of Object.entries(props)) assert.ok(p.description || p.markdownDescription, key);
  });

  it("runs in VS Code 1.100 and activates on startup", () => {
    const m = /^\^1\.(\d+)\.\d+$/.exec(manifest.engines.vscode);
    assert.ok(m && Number(m[1]) <= 100, manifest.engines.vscode);
    assert.deepEqual(manifest.activationEvents, ["onStartupFinished"]);
  });
});
