// The history QuickPick: newest first, filter by kind and model, search, and
// per-entry actions (insert at cursor, open in editor, copy, delete).

import * as vscode from "vscode";
import { describeFilter, entryDocument, historyItem, historyQuery, isPromptEntry, newestFirst, type HistoryEntry, type HistoryFilter, type HistoryKind, type HistoryPage } from "./history";
import type { Server } from "./server";
import { ask, showError } from "./ui";

type Action = "insert" | "open" | "copy" | "delete";

interface ActionButton extends vscode.QuickInputButton {
  readonly action: Action;
}

const ACTIONS: readonly { action: Action; label: string; icon: string }[] = [
  { action: "insert", label: "Insert at Cursor", icon: "insert" },
  { action: "open", label: "Open in Editor", icon: "go-to-file" },
  { action: "copy", label: "Copy", icon: "copy" },
  { action: "delete", label: "Delete", icon: "trash" },
];

const ENTRY_BUTTONS: readonly ActionButton[] = ACTIONS.map((a) => ({ action: a.action, tooltip: a.label, iconPath: new vscode.ThemeIcon(a.icon) }));

interface EntryItem extends vscode.QuickPickItem {
  readonly entry?: HistoryEntry;
  readonly more?: true;
}

const FILTER_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon("filter"), tooltip: "Filter by kind or model" };
const SEARCH_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon("search"), tooltip: "Search the whole history" };

export class HistoryView {
  constructor(private readonly server: Server) {}

  async show(filter: HistoryFilter = {}): Promise<void> {
    const target = vscode.window.activeTextEditor;
    const qp = vscode.window.createQuickPick<EntryItem>();
    qp.title = `CodeGenie History — ${describeFilter(filter)}`;
    qp.placeholder = "Filter the loaded entries; pick one for its actions";
    qp.matchOnDescription = true;
    qp.matchOnDetail = true;
    qp.buttons = [SEARCH_BUTTON, FILTER_BUTTON];
    let entries: HistoryEntry[] = [];
    let next: string | undefined;

    const render = (): void => {
      const now = new Date();
      const items: EntryItem[] = newestFirst(entries).map((entry) => ({ ...historyItem(entry, now), entry, buttons: [...ENTRY_BUTTONS] }));
      if (next) items.push({ label: "$(more) Load older entries", more: true, alwaysShow: true });
      if (items.length === 0) items.push({ label: "No entries", description: describeFilter(filter), alwaysShow: true });
      qp.items = items;
    };
    const load = async (): Promise<void> => {
      qp.busy = true;
      try {
        const page = await this.server.execute<HistoryPage>("codegenie.history", historyQuery(filter, next));
        entries = entries.concat(page.entries.filter(isPromptEntry));
        next = page.next;
        render();
      } catch (e) {
        qp.hide();
        await showError(e);
      } finally {
        qp.busy = false;
      }
    };
    const act = async (action: Action, entry: HistoryEntry): Promise<void> => {
      try {
        if (action === "delete") {
          if (await this.deleteEntry(entry)) {
            entries = entries.filter((e) => e.id !== entry.id);
            render();
          }
          return;
        }
        qp.hide();
        await perform(action, entry, target);
      } catch (e) {
        await showError(e);
      }
    };

    qp.onDidTriggerItemButton((e) => {
      const button = e.button as ActionButton;
      if (e.item.entry) void act(button.action, e.item.entry);
    });
    qp.onDidTriggerButton((b) => {
      qp.hide();
      if (b === FILTER_BUTTON) void this.pickFilter(filter).then((f) => f && this.show(f));
      else void this.search(filter);
    });
    qp.onDidAccept(() => {
      const item = qp.selectedItems[0];
      if (item?.more) void load();
      else if (item?.entry) {
        const entry = item.entry;
        qp.hide();
        void this.entryActions(entry, target);
      }
    });
    qp.onDidHide(() => qp.dispose());
    qp.show();
    await load();
  }

  private async search(filter: HistoryFilter): Promise<void> {
    const search = await ask({ title: "CodeGenie: Search History", prompt: "Text in the prompt or output", value: filter.search });
    if (search !== undefined) await this.show({ ...filter, search });
  }

  private async entryActions(entry: HistoryEntry, target: vscode.TextEditor | undefined): Promise<void> {
    const items = ACTIONS.map((a) => ({ label: `$(${a.icon}) ${a.label}`, action: a.action }));
    const pick = await vscode.window.showQuickPick(items, { title: historyItem(entry, new Date()).label });
    if (!pick) return;
    if (pick.action === "delete") await this.deleteEntry(entry);
    else await perform(pick.action, entry, target).catch(showError);
  }

  private async deleteEntry(entry: HistoryEntry): Promise<boolean> {
    try {
      await this.server.execute("codegenie.deleteHistoryEntry", { id: entry.id });
      void vscode.window.setStatusBarMessage("CodeGenie: history entry deleted", 3000);
      return true;
    } catch (e) {
      await showError(e);
      return false;
    }
  }

  private async pickFilter(current: HistoryFilter): Promise<HistoryFilter | undefined> {
    const kinds: { label: string; value?: HistoryKind }[] = [
      { label: "All kinds" },
      { label: "Generations", value: "generate" },
      { label: "Explanations", value: "explain" },
    ];
    const kind = await vscode.window.showQuickPick(kinds, { title: "CodeGenie History: kind" });
    if (!kind) return undefined;
    let models: string[] = [];
    try {
      models = (await this.server.execute<{ models: { id: string }[] }>("codegenie.models", {})).models.map((m) => m.id);
    } catch {
      // Without the list, offer "all models" only.
    }
    const model = await vscode.window.showQuickPick([{ label: "All models", id: undefined as string | undefined }, ...models.map((id) => ({ label: id, id }))], {
      title: "CodeGenie History: model",
    });
    if (!model) return undefined;
    return { ...current, kind: kind.value, model: model.id };
  }
}

async function perform(action: Exclude<Action, "delete">, entry: HistoryEntry, target: vscode.TextEditor | undefined): Promise<void> {
  switch (action) {
    case "insert": {
      const previous = target ?? vscode.window.activeTextEditor;
      if (!previous) {
        void vscode.window.showInformationMessage("CodeGenie: open a file to insert into.");
        return;
      }
      const editor = await vscode.window.showTextDocument(previous.document, { viewColumn: previous.viewColumn, selection: previous.selection });
      await editor.edit((b) => b.replace(editor.selection, entry.output));
      return;
    }
    case "open": {
      const doc = await vscode.workspace.openTextDocument(entryDocument(entry));
      await vscode.window.showTextDocument(doc, { preview: false });
      return;
    }
    case "copy":
      await vscode.env.clipboard.writeText(entry.output);
      void vscode.window.showInformationMessage("CodeGenie: copied to the clipboard.");
      return;
  }
}
