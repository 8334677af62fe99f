// Entry point: wires the language client, the commands, the status bar and
// the views. The commands exist whether or not the server runs; when it does
// not, they say so.

import * as vscode from "vscode";
import { Accounts } from "./accounts";
import { cancel, explain, explanationView, generate } from "./assist";
import { CLIENT_COMMANDS, type ClientCommand } from "./commands";
import { CompletionToggle } from "./completionToggle";
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
  const completion = new CompletionToggle();
  context.subscriptions.push(output, server, docs, status, completion);

  const handlers: Record<ClientCommand, () => Promise<unknown>> = {
    signUp: () => accounts.signUp(),
    logIn: () => accounts.logIn(),
    logOut: () => accounts.logOut(),
    forgotPassword: () => accounts.forgotPassword(),
    resetPassword: () => accounts.resetPassword(),
    showProfile: () => accounts.showProfile(),
    showHistory: () => history.show(),
    selectModel: async () => {
      if (await selectModel(server)) refresh();
    },
    generate: () => generate(server),
    explain: () => explain(server),
    cancel: () => cancel(server),
    setHfToken: async () => {
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
    restartServer: async () => {
      await server.restart();
      refresh();
    },
    showOutput: async () => output.show(true),
    statusBarClick: () => status.click(),
    toggleInlineCompletion: () => completion.toggle(),
  };
  for (const [name, run] of Object.entries(handlers)) {
    context.subscriptions.push(vscode.commands.registerCommand(CLIENT_COMMANDS[name as ClientCommand], guarded(run)));
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
    // The token reaches the server through its environment: a new token
    // needs a new server process.
    context.secrets.onDidChange((e) => {
      if (e.key.startsWith("codegenie.")) void server.restart().then(refresh);
    }),
  );

  void server.start();
  return { serverVersion: () => server.version, serverState: () => server.currentState };
}

export function deactivate(): void {
  // Disposables in `context.subscriptions` stop the server.
}
