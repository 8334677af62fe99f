// Picking the model: the list comes from the server (`codegenie.models`), the
// choice is the `codegenie.model` setting, which reaches the server through
// `workspace/didChangeConfiguration`.

import * as vscode from "vscode";
import { modelState, type ModelInfo } from "./modelState";
import type { Server } from "./server";

export interface ModelList {
  readonly models: readonly ModelInfo[];
  readonly default?: string;
}

export async function selectModel(server: Server): Promise<string | undefined> {
  const list = await server.execute<ModelList>("codegenie.models", {});
  const current = vscode.workspace.getConfiguration("codegenie").get<string>("model") || list.default;
  const items = list.models.map((m) => ({
    label: m.id,
    description: [m.name && m.name !== m.id ? m.name : undefined, m.id === list.default ? "(default)" : undefined, m.id === current ? "$(check) current" : undefined]
      .filter(Boolean)
      .join(" "),
    detail: [modelState(m), m.repo].filter(Boolean).join(" — "),
  }));
  const pick = await vscode.window.showQuickPick(items, {
    title: "CodeGenie: Select Model",
    placeHolder: `Model for generation and explanation (now ${current ?? "the server's default"})`,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!pick) return undefined;
  await vscode.workspace.getConfiguration("codegenie").update("model", pick.label, vscode.ConfigurationTarget.Global);
  void vscode.window.setStatusBarMessage(`CodeGenie: model ${pick.label}`, 3000);
  return pick.label;
}
