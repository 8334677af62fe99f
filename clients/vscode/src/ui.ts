// Small UI helpers shared by the commands.

import * as vscode from "vscode";
import { CLIENT_COMMANDS } from "./commands";
import { errorMessage, ServerNotRunning } from "./errors";

/** An input box that stays open when focus moves away. */
export function ask(options: vscode.InputBoxOptions): Thenable<string | undefined> {
  return vscode.window.showInputBox({ ignoreFocusOut: true, ...options });
}

/** Runs a request with a notification while it is in flight. */
export function withBusy<T>(title: string, work: (token: vscode.CancellationToken) => Promise<T>): Thenable<T> {
  return vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (_p, token) =>
    work(token),
  );
}

/** Wraps a command so that any failure is one error notification. */
export function guarded<A extends unknown[]>(run: (...args: A) => Promise<unknown>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await run(...args);
    } catch (e) {
      await showError(e);
    }
  };
}

export async function showError(e: unknown): Promise<void> {
  if (e instanceof vscode.CancellationError) return;
  if (e instanceof ServerNotRunning) {
    const restart = "Restart Server";
    const log = "Show Log";
    const pick = await vscode.window.showErrorMessage(e.message, restart, log);
    if (pick === restart) await vscode.commands.executeCommand(CLIENT_COMMANDS.restartServer);
    else if (pick === log) await vscode.commands.executeCommand(CLIENT_COMMANDS.showOutput);
    return;
  }
  await vscode.window.showErrorMessage(`CodeGenie: ${errorMessage(e)}`);
}
