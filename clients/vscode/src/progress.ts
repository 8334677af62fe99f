// The server's work-done progress as a cancellable notification. The
// language client on its own shows it in the status bar, where it cannot be
// cancelled; this feature takes over `window/workDoneProgress/create`, shows each
// token as a notification with a Cancel button, and cancelling sends
// `window/workDoneProgress/cancel`, which aborts the model call.

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

function track(client: LanguageClient, token: ProgressToken): void {
  const model = new ProgressModel();
  let report: ((v: { message?: string; increment?: number }) => void) | undefined;
  let finish: (() => void) | undefined;
  const pending: Value[] = [];
  const finished = new Promise<void>((resolve) => (finish = resolve));

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
        finish?.();
        subscription.dispose();
        break;
    }
  });
}

/**
 * A client feature that handles the progress tokens the server creates.
 * Features initialize in the order they are registered, after the built-in
 * ones, so this handler replaces the built-in status bar one, also when the
 * client restarts the server after a crash.
 */
export class ProgressNotifications implements StaticFeature {
  private registration: vscode.Disposable | undefined;

  constructor(private readonly client: LanguageClient) {}

  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.window = { ...capabilities.window, workDoneProgress: true };
  }

  initialize(): void {
    this.clear();
    this.registration = this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      track(this.client, token);
    });
  }

  getState(): FeatureState {
    return { kind: "static" };
  }

  clear(): void {
    this.registration?.dispose();
    this.registration = undefined;
  }
}
