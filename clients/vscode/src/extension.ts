// Entry point: wires the language client, the commands, the status bar and
// the views. The commands exist whether or not the server runs; when it does
// not, they say so.

import * as vscode from "vscode";
import { Accounts } from "./accounts";
import { cancel, explain, explanationView, generate } from "./assist";
import { HistoryView } from "./historyView";
import { selectModel } from "./models";
import { Server } from "./server";
import { RESTART_KEYS, SERVER_KEYS } from "./settings";
import { StatusBar } from "./statusBar";
import { ask, guarded } from "./ui";
import { validateHfToken } from "./validation";
import { MarkdownDocuments } from "./views";

/** What the extension exposes to other extensions and tests. */
export interface CodeGenieApi {
  readonly serverVersion: () => string | undefined;
  readonly serverState: () => string;
}

export function activate(context: vscode.ExtensionContext): CodeGenieApi {
  const output = vscode.window.createOutputChannel("CodeGenie");
  const server = new Server(context, output);
  const docs = new MarkdownDocuments();
  const status = new StatusBar(server);
  const refresh = (): void => void status.refresh();
  const accounts = new Accounts(server, docs, refresh);
  const history = new HistoryView(server);
  context.subscriptions.push(output, server, docs, status);

  const commands: Record<string, () => Promise<unknown>> = {
    "codegenie.signUp": () => accounts.signUp(),
    "codegenie.logIn": () => accounts.logIn(),
    "codegenie.logOut": () => accounts.logOut(),
    "codegenie.forgotPassword": () => accounts.forgotPassword(),
    "codegenie.resetPassword": () => accounts.resetPassword(),
    "codegenie.showProfile": () => accounts.showProfile(),
    "codegenie.showHistory": () => history.show(),
    "codegenie.selectModel": async () => {
      if (await selectModel(server)) refresh();
    },
    "codegenie.generateFromComment": () => generate(server),
    "codegenie.explainSelection": () => explain(server),
    "codegenie.cancel": () => cancel(server),
    "codegenie.setHuggingFaceToken": async () => {
      const token = await ask({
        title: "CodeGenie: Set Hugging Face Token",
        prompt: "Kept in VS Code's secret storage and handed to the server only. Leave empty to remove it.",
        placeHolder: "hf_…",
        password: true,
        validateInput: validateHfToken,
      });
      if (token === undefined) return;
      await server.setHfToken(token.trim() || undefined);
      void vscode.window.showInformationMessage(token.trim() ? "CodeGenie: Hugging Face token saved." : "CodeGenie: Hugging Face token removed.");
    },
    "codegenie.restartServer": async () => {
      await server.restart();
      refresh();
    },
    "codegenie.showOutput": async () => output.show(true),
    "codegenie.statusBarClick": () => status.click(),
  };
  for (const [id, run] of Object.entries(commands)) {
    // The server registers its own `codegenie.*` commands (code actions run
    // them); the palette commands above use other names.
    context.subscriptions.push(vscode.commands.registerCommand(id, guarded(run)));
  }

  context.subscriptions.push(
    server.onExplanation(explanationView(docs)),
    server.onDidChangeState((state) => {
      status.render();
      if (state === "running") refresh();
    }),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (RESTART_KEYS.some((k) => e.affectsConfiguration(k))) {
        void server.restart().then(refresh);
      } else if (SERVER_KEYS.some((k) => e.affectsConfiguration(k))) {
        void server.pushSettings().then(refresh);
      }
    }),
    context.secrets.onDidChange((e) => {
      if (e.key.startsWith("codegenie.")) void server.pushSettings();
    }),
  );

  void server.start();
  return { serverVersion: () => server.version, serverState: () => server.currentState };
}

export function deactivate(): void {
  // Disposables in `context.subscriptions` stop the server.
}
