// Generate and Explain from the palette and the editor context menu. They run
// the server's own code actions for the cursor or selection, so the server
// alone decides what the prompt is; explanations stream into a preview.

import * as vscode from "vscode";
import { ExplanationStore, explanationPath, type ExplanationNotification } from "./markdown";
import type { Server } from "./server";
import type { MarkdownDocuments } from "./views";

export const GENERATE_KIND = "refactor.codegenie.generate";
export const EXPLAIN_KIND = "refactor.codegenie.explain";

function isCodeAction(a: vscode.CodeAction | vscode.Command): a is vscode.CodeAction {
  return typeof (a as { command?: unknown }).command !== "string";
}

async function runServerAction(server: Server, kind: string, hint: string): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage("CodeGenie: open a file first.");
    return;
  }
  server.requireRunning();
  const actions =
    (await vscode.commands.executeCommand<(vscode.CodeAction | vscode.Command)[]>(
      "vscode.executeCodeActionProvider",
      editor.document.uri,
      editor.selection,
      kind,
    )) ?? [];
  const action = actions.filter(isCodeAction).find((a) => a.command && a.kind?.value.startsWith(kind));
  const command = action?.command;
  if (!command) {
    void vscode.window.showInformationMessage(`CodeGenie: ${hint}`);
    return;
  }
  await vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
}

export function generate(server: Server): Promise<void> {
  return runServerAction(server, GENERATE_KIND, "put the cursor on a comment (or select lines inside one) that says what to write.");
}

export function explain(server: Server): Promise<void> {
  return runServerAction(server, EXPLAIN_KIND, "select the code to explain.");
}

/** Shows `codegenie/explanation` notifications as they arrive. */
export function explanationView(docs: MarkdownDocuments): (n: ExplanationNotification) => void {
  const store = new ExplanationStore();
  return (n) => {
    const { isNew, changed } = store.update(n);
    if (changed) void docs.set(explanationPath(n.id), store.render(n.id), isNew);
  };
}

export async function cancel(server: Server): Promise<void> {
  const { cancelled } = await server.execute<{ cancelled?: unknown[] }>("codegenie.cancel", {});
  const n = cancelled?.length ?? 0;
  void vscode.window.showInformationMessage(n ? `CodeGenie: cancelled ${n} running request${n === 1 ? "" : "s"}.` : "CodeGenie: nothing is running.");
}
