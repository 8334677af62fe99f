// The status bar switch for inline completion: shows whether suggestions are
// on and flips `codegenie.completion.enabled` (a user setting) when clicked
// or through **CodeGenie: Toggle Inline Completion**.

import * as vscode from "vscode";
import { CLIENT_COMMANDS } from "./commands";
import { completionView, toggled } from "./status";

export class CompletionToggle implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("codegenie.completion", vscode.StatusBarAlignment.Right, 99);
  private readonly watcher: vscode.Disposable;

  constructor() {
    this.item.name = "CodeGenie Inline Completion";
    this.item.command = CLIENT_COMMANDS.toggleInlineCompletion;
    this.watcher = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("codegenie.completion.enabled")) this.render();
    });
    this.render();
    this.item.show();
  }

  private current(): boolean | null | undefined {
    return vscode.workspace.getConfiguration("codegenie").get<boolean | null>("completion.enabled");
  }

  render(): void {
    const view = completionView(this.current());
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
  }

  /** Flips the user setting; the server gets it with the other settings. */
  async toggle(): Promise<void> {
    const next = toggled(this.current());
    await vscode.workspace.getConfiguration("codegenie").update("completion.enabled", next, vscode.ConfigurationTarget.Global);
    this.render();
  }

  dispose(): void {
    this.watcher.dispose();
    this.item.dispose();
  }
}
