// The status bar item: who is signed in and which model is used. Clicking it
// offers to pick a model or to log in (or out).

import * as vscode from "vscode";
import { CLIENT_COMMANDS } from "./commands";
import { isUnsupported } from "./errors";
import type { ModelList } from "./models";
import type { Server } from "./server";
import { statusView, type ServerStatus } from "./status";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("codegenie.status", vscode.StatusBarAlignment.Right, 100);
  private status: ServerStatus = {};
  private generation = 0;

  constructor(private readonly server: Server) {
    this.item.name = "CodeGenie";
    this.item.command = CLIENT_COMMANDS.statusBarClick;
    this.render();
    this.item.show();
  }

  get signedIn(): boolean {
    return Boolean(this.status.user);
  }

  /** Asks the server again (after start, login, logout, model change). */
  async refresh(): Promise<void> {
    const generation = ++this.generation;
    let status: ServerStatus = {};
    if (this.server.currentState === "running") {
      try {
        status = await this.server.execute<ServerStatus>("codegenie.status", {});
      } catch (e) {
        // A server without accounts: show the model only.
        if (!isUnsupported(e)) this.server.output.appendLine(`[client] codegenie.status: ${String(e)}`);
        const configured = vscode.workspace.getConfiguration("codegenie").get<string>("model");
        status = { model: configured || (await this.defaultModel()) };
      }
    }
    if (generation !== this.generation) return;
    this.status = status;
    this.render();
  }

  private async defaultModel(): Promise<string | undefined> {
    try {
      return (await this.server.execute<ModelList>("codegenie.models", {})).default;
    } catch {
      return undefined;
    }
  }

  render(): void {
    const view = statusView(this.server.currentState, this.status);
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }

  /** The menu behind a click. */
  async click(): Promise<void> {
    const running = this.server.currentState === "running";
    const entries: { label: string; command: string }[] = running
      ? [
          { label: "$(symbol-class) Select Model", command: CLIENT_COMMANDS.selectModel },
          this.signedIn ? { label: "$(sign-out) Log Out", command: CLIENT_COMMANDS.logOut } : { label: "$(sign-in) Log In", command: CLIENT_COMMANDS.logIn },
          ...(this.signedIn
            ? [
                { label: "$(account) Show Profile", command: CLIENT_COMMANDS.showProfile },
                { label: "$(history) Show History", command: CLIENT_COMMANDS.showHistory },
              ]
            : [{ label: "$(person-add) Sign Up", command: CLIENT_COMMANDS.signUp }]),
          { label: "$(output) Show Server Log", command: CLIENT_COMMANDS.showOutput },
        ]
      : [
          { label: "$(debug-restart) Restart Server", command: CLIENT_COMMANDS.restartServer },
          { label: "$(output) Show Server Log", command: CLIENT_COMMANDS.showOutput },
        ];
    const pick = await vscode.window.showQuickPick(entries, { title: "CodeGenie" });
    if (pick) await vscode.commands.executeCommand(pick.command);
  }

  dispose(): void {
    this.item.dispose();
  }
}
