// Read-only markdown documents under the `codegenie:` scheme, shown in the
// markdown preview beside the editor and updated in place.

import * as vscode from "vscode";

export const SCHEME = "codegenie";

export class MarkdownDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly contents = new Map<string, string>();
  private readonly changeEmitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changeEmitter.event;
  private readonly registration: vscode.Disposable;

  constructor() {
    this.registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.contents.get(uri.path) ?? "";
  }

  uri(path: string): vscode.Uri {
    return vscode.Uri.from({ scheme: SCHEME, path });
  }

  /** Sets the content at `path`; opens the preview beside the editor when `reveal`. */
  async set(path: string, markdown: string, reveal: boolean): Promise<void> {
    const uri = this.uri(path);
    this.contents.set(path, markdown);
    this.changeEmitter.fire(uri);
    if (reveal) await vscode.commands.executeCommand("markdown.showPreviewToSide", uri);
  }

  dispose(): void {
    this.registration.dispose();
    this.changeEmitter.dispose();
  }
}
