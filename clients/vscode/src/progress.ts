// The server's work-done progress as a cancellable notification. The
// language client on its own shows it in the status bar, where it cannot be
// cancelled; this feature takes over `window/workDoneProgress/create`, shows each
// token as a notification with a Cancel button, and cancelling sends
// `window/workDoneProgress/cancel`, which aborts the model call. When the
// server stops (restart, crash), the notifications still open close with it.

import * as vscode from "vscode";
import {
  WorkDoneProgress,
  WorkDoneProgressCancelNotification,
  WorkDoneProgressCreateRequest,
  type ClientCapabilities,
  type FeatureState,
  type LanguageClient,
  type ProgressToken,
  type StaticFeature,
  type WorkDoneProgressBegin,
  type WorkDoneProgressEnd,
  type WorkDoneProgressReport,
} from "vscode-languageclient/node";
import { ProgressModel } from "./progressModel";

type Value = WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd;

/**
 * Tracks one token; returns a function that closes its notification. Either
 * way, `onClosed` runs once when it closes.
 */
function track(client: LanguageClient, token: ProgressToken, onClosed: () => void): () => void {
  const model = new ProgressModel();
  let report: ((v: { message?: string; increment?: number }) => void) | undefined;
  let finish: (() => void) | undefined;
  const pending: Value[] = [];
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    finish?.();
    subscription.dispose();
    onClosed();
  };

  const open = (begin: WorkDoneProgressBegin): void => {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: begin.title, cancellable: begin.cancellable ?? false },
      async (progress, cancel) => {
        report = (v) => progress.report(v);
        report(model.step(begin));
        for (const v of pending.splice(0)) if (v.kind === "report") report(model.step(v));
        cancel.onCancellationRequested(() => {
          void client.sendNotification(WorkDoneProgressCancelNotification.type, { token });
        });
        await finished;
      },
    );
  };

  const subscription = client.onProgress(WorkDoneProgress.type, token, (value: Value) => {
    switch (value.kind) {
      case "begin":
        open(value);
        break;
      case "report":
        if (report) report(model.step(value));
        else pending.push(value);
        break;
      case "end":
        if (report && value.message) report({ message: value.message });
        close();
        break;
    }
  });
  return close;
}

/**
 * A client feature that handles the progress tokens the server creates.
 * Features initialize in the order they are registered, after the built-in
 * ones, so this handler replaces the built-in status bar one, also when the
 * client restarts the server after a crash.
 */
export class ProgressNotifications implements StaticFeature {
  private registration: vscode.Disposable | undefined;
  /** Closers of the notifications of this server run, by token. */
  private readonly open = new Map<ProgressToken, () => void>();

  constructor(private readonly client: LanguageClient) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.clear();
    this.registration = this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.open.get(token)?.();
      const close = track(this.client, token, () => {
        if (this.open.get(token) === close) this.open.delete(token);
      });
      this.open.set(token, close);
    });
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {
    this.registration?.dispose();
    this.registration = undefined;
    for (const close of [...this.open.values()]) close();
  }
}
