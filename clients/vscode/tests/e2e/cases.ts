// The end-to-end cases, run in order in one VS Code window. A case is a name
// and a function of the workbench; to add one, append it to `cases`.
//
// Cases that need server features still being built (accounts, generation,
// explanation) find out at run time: when the server answers that the
// command "is not supported by this codegenie server", the case is skipped
// with that reason, and it runs for real as soon as the server has it.

import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Locator } from "playwright-core";
import type { Workbench } from "./workbench";

export interface E2eEnv {
  /** The Python file in the workspace, line 1 a comment prompt. */
  readonly pythonFile: string;
  /** Model ids the server lists (`codegenie.models`). */
  readonly models: readonly string[];
  readonly defaultModel: string;
  /** code-server's user settings.json, for cases that change settings. */
  readonly userSettings: string;
  /** A piece of the test model server's answer, when one runs. */
  readonly modelAnswer?: string;
}

export interface CaseContext {
  readonly wb: Workbench;
  readonly env: E2eEnv;
}

export interface Case {
  readonly name: string;
  readonly run: (ctx: CaseContext) => Promise<void>;
}

export class Skip extends Error {}

/** Whether the generate case put code in the editor (history needs it). */
let generated = false;

/** The extension's status bar item showing `text`. */
function status(wb: Workbench, text: string): Locator {
  return wb.statusItem("codegenie.codegenie.codegenie.status", text);
}

const UNSUPPORTED = /is not supported by this codegenie server/;

/**
 * Waits for `success`, or skips when the server says the command is not
 * supported, or fails on any other CodeGenie error notification.
 */
async function expectOrSkip(wb: Workbench, success: Locator, command: string, timeout = 60_000): Promise<void> {
  const unsupported = wb.notification(UNSUPPORTED);
  await success.or(unsupported).first().waitFor({ state: "visible", timeout });
  if (await unsupported.isVisible()) {
    const text = (await unsupported.textContent()) ?? "";
    await wb.clearNotifications();
    throw new Skip(`${command}: ${text.trim().slice(0, 160)}`);
  }
}

interface Manifest {
  contributes: { commands: { command: string; title: string; category: string }[]; menus: { commandPalette?: { command: string; when?: string }[] } };
}

/** The palette titles of the contributed commands (bundled into out/e2e/run.js, read from the package). */
function paletteTitles(): string[] {
  const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as Manifest;
  const hidden = new Set((manifest.contributes.menus.commandPalette ?? []).filter((m) => m.when === "false").map((m) => m.command));
  return manifest.contributes.commands.filter((c) => !hidden.has(c.command)).map((c) => `${c.category}: ${c.title}`);
}

const PASSWORD = "correct horse battery";

/** Waits for the input box showing `prompt`, types `value` and confirms. */
async function fillInput(wb: Workbench, prompt: string, value: string, password = false): Promise<void> {
  await wb.quickInput.locator(".quick-input-message", { hasText: prompt }).waitFor({ state: "visible", timeout: 30_000 });
  const input = wb.quickInput.locator("input").first();
  if (password) assert.equal(await input.getAttribute("type"), "password", `the "${prompt}" box hides what is typed`);
  await input.fill(value);
  await wb.pressEnter();
}

export const cases: Case[] = [
  {
    name: "the extension activates and starts the server (status bar shows the model)",
    run: async ({ wb, env }) => {
      // The model appears only once the server answered `codegenie.models`.
      await status(wb, env.defaultModel).waitFor({ state: "visible", timeout: 180_000 });
    },
  },
  {
    name: "every CodeGenie command is in the palette",
    run: async ({ wb }) => {
      for (const title of paletteTitles()) {
        await wb.findCommand(title, 30_000);
        await wb.escape();
      }
    },
  },
  {
    name: "a Python comment offers the CodeGenie code actions",
    run: async ({ wb, env }) => {
      await wb.openFile(env.pythonFile);
      await wb.goToLine(1);
      await wb.runCommand("Refactor...");
      const menu = wb.page.locator(".action-widget");
      await menu.getByText("CodeGenie: Generate code from comment").first().waitFor({ state: "visible", timeout: 30_000 });
      const other = env.models.find((m) => m !== env.defaultModel);
      if (other) await menu.getByText(`CodeGenie: Generate with ${other}`).first().waitFor({ state: "visible", timeout: 5_000 });
      await wb.screenshot("code-actions");
      await wb.page.keyboard.press("Escape");
    },
  },
  {
    name: "Select Model lists the server's models and switches the model",
    run: async ({ wb, env }) => {
      await wb.runCommand("CodeGenie: Select Model");
      const labels = await wb.quickPickLabels();
      for (const id of env.models) assert.ok(labels.some((l) => l.startsWith(id)), `model ${id} listed in ${JSON.stringify(labels)}`);
      await wb.screenshot("select-model");
      const pick = env.models.find((m) => m !== env.defaultModel) ?? env.defaultModel;
      await wb.typeInQuickInput(pick);
      await wb.pressEnter();
      // The setting changed, reached the server and came back in the status bar.
      await status(wb, pick).waitFor({ state: "visible", timeout: 30_000 });
    },
  },
  {
    name: "a missing server is reported with install help, commands say so, fixing the path restarts it",
    run: async ({ wb, env }) => {
      const original = readFileSync(env.userSettings, "utf8");
      const settings = JSON.parse(original) as Record<string, unknown>;
      await wb.writeUserSettings(JSON.stringify({ ...settings, "codegenie.server.path": "/nonexistent/codegenie" }));
      try {
        const missing = wb.notification(/no working `?codegenie`? server/);
        await missing.waitFor({ state: "visible", timeout: 60_000 });
        await missing.getByRole("button", { name: "How to Install" }).waitFor({ state: "visible", timeout: 5_000 });
        await wb.screenshot("server-missing");
        await wb.clearNotifications();
        await wb.runCommand("CodeGenie: Log In");
        await wb.notification(/server is not running/).waitFor({ state: "visible", timeout: 30_000 });
        await wb.clearNotifications();
      } finally {
        await wb.writeUserSettings(original);
      }
      // Back on a working path: the server restarts and shows the model again.
      await status(wb, " · ").waitFor({ state: "visible", timeout: 60_000 });
    },
  },
  {
    name: "Sign Up, Log Out and Log In through the palette",
    run: async ({ wb }) => {
      await wb.runCommand("CodeGenie: Sign Up");
      await fillInput(wb, "Email", "e2e@example.com");
      await fillInput(wb, "Username", "e2e-user");
      await fillInput(wb, "At least 8 characters", PASSWORD, true);
      await fillInput(wb, "Type it again", PASSWORD, true);
      await expectOrSkip(wb, wb.notification(/welcome, e2e-user/), "codegenie.signup");
      await status(wb, "e2e-user").waitFor({ state: "visible", timeout: 30_000 });
      await wb.runCommand("CodeGenie: Log Out");
      await wb.notification(/signed out/).waitFor({ state: "visible", timeout: 30_000 });
      await wb.runCommand("CodeGenie: Log In");
      await fillInput(wb, "Email or username", "e2e-user");
      await fillInput(wb, "Password", PASSWORD, true);
      await wb.notification(/signed in as e2e-user/).waitFor({ state: "visible", timeout: 30_000 });
      await status(wb, "e2e-user").waitFor({ state: "visible", timeout: 30_000 });
      await wb.clearNotifications();
    },
  },
  {
    name: "Generate Code from Comment writes the code below the comment",
    run: async ({ wb, env }) => {
      await wb.openFile(env.pythonFile);
      await wb.goToLine(1);
      const before = await wb.editorText();
      await wb.runCommand("CodeGenie: Generate Code from Comment");
      const progress = wb.page.locator(".notifications-toasts", { hasText: "CodeGenie" });
      await expectOrSkip(wb, progress, "codegenie.generate");
      const deadline = Date.now() + 120_000;
      for (;;) {
        const text = await wb.editorText();
        if (env.modelAnswer ? text.includes(env.modelAnswer) : text.length > before.length) break;
        if (Date.now() > deadline) assert.fail(`no generated code appeared; the editor shows:\n${text}`);
        await wb.page.waitForTimeout(500);
      }
      generated = true;
      await wb.screenshot("generated");
    },
  },
  {
    name: "Explain Selection shows the explanation beside the editor",
    run: async ({ wb, env }) => {
      await wb.openFile(env.pythonFile);
      await wb.goToLine(1);
      await wb.page.keyboard.press("Control+A");
      await wb.runCommand("CodeGenie: Explain Selection");
      const preview = wb.page.locator(".tabs-container .tab", { hasText: /Preview/ });
      await expectOrSkip(wb, preview, "codegenie.explain", 120_000);
      await wb.screenshot("explanation");
    },
  },
  {
    name: "Show History lists the generation, newest first",
    run: async ({ wb }) => {
      if (!generated) throw new Skip("there is no generation to list: the generate case did not run");
      await wb.runCommand("CodeGenie: Show History");
      const row = wb.quickInput.locator(".monaco-list-row:visible", { hasText: "print the numbers from 1 to 10" }).first();
      await expectOrSkip(wb, row, "codegenie.history");
      await wb.screenshot("history");
      await wb.escape();
    },
  },
  {
    name: "Set Hugging Face Token keeps the token out of settings and the server takes it",
    run: async ({ wb, env }) => {
      const token = "hf_e2eSecretTokenValue123";
      await wb.runCommand("CodeGenie: Set Hugging Face Token");
      await fillInput(wb, "secret storage", token, true);
      await wb.notification(/Hugging Face token saved/).waitFor({ state: "visible", timeout: 30_000 });
      // The server got it through didChangeConfiguration and found nothing wrong.
      await wb.page.waitForTimeout(1_000);
      assert.equal(await wb.notification(/hf\.token|hf\b.*token/i).filter({ hasNotText: "saved" }).count(), 0, "no warning about the token");
      assert.ok(!readFileSync(env.userSettings, "utf8").includes(token), "the token is not in settings.json");
      await wb.clearNotifications();
    },
  },
];
