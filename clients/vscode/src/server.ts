// The language client's lifecycle: discovery, start, restart, stop, settings
// sent on change, and a typed way to run the server's commands.

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  RevealOutputChannelOn,
  State,
  type LanguageClientOptions,
  type ServerOptions,
} from "vscode-languageclient/node";
import type { ServerCommand } from "./commands";
import { candidates, describe, discover, versionProbe, type Found } from "./discovery";
import { errorMessage, ServerNotRunning } from "./errors";
import { isExplanationNotification, type ExplanationNotification } from "./markdown";
import { initializationOptions, serverEnv, serverSettings, type ModelEndpoints, type ServerSettings } from "./settings";
import { ProgressNotifications } from "./progress";
import { Serial, withTimeout } from "./serial";
import type { ServerState } from "./status";

export const INSTALL_DOCS = "https://github.com/codegenie/codegenie#install";
/** How long the server may take to answer `initialize`. */
const START_TIMEOUT_MS = 60_000;
const TOKEN_KEY = "codegenie.hf.token";

export class Server implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private found: Found | undefined;
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  private readonly explanationEmitter = new vscode.EventEmitter<ExplanationNotification>();
  readonly onDidChangeState = this.stateEmitter.event;
  readonly onExplanation = this.explanationEmitter.event;
  readonly traceChannel: vscode.OutputChannel;
  private state: ServerState = "stopped";
  /** Start, stop and restart, one at a time. */
  private readonly lifecycle = new Serial();

  constructor(
    private readonly context: vscode.ExtensionContext,
    readonly output: vscode.OutputChannel,
  ) {
    this.traceChannel = vscode.window.createOutputChannel("CodeGenie LSP Trace");
  }

  get currentState(): ServerState {
    return this.state;
  }

  get version(): string | undefined {
    return this.found?.version;
  }

  private setState(s: ServerState): void {
    this.state = s;
    this.stateEmitter.fire(s);
  }

  async hfToken(): Promise<string | undefined> {
    return this.context.secrets.get(TOKEN_KEY);
  }

  async setHfToken(token: string | undefined): Promise<void> {
    if (token) await this.context.secrets.store(TOKEN_KEY, token);
    else await this.context.secrets.delete(TOKEN_KEY);
  }

  async settings(): Promise<ServerSettings> {
    const c = vscode.workspace.getConfiguration("codegenie");
    return serverSettings({
      model: c.get<string>("model"),
      models: c.get<ModelEndpoints>("models"),
      logLevel: c.get<string>("log.level"),
      completionEnabled: c.get<boolean | null>("completion.enabled"),
      completionModel: c.get<string>("completion.model"),
      completionDenyLanguages: c.get<string[] | null>("completion.denyLanguages"),
    });
  }

  /** Starts the server unless it runs. */
  start(): Promise<void> {
    return this.lifecycle.run(() => this.doStart());
  }

  stop(): Promise<void> {
    return this.lifecycle.run(() => this.doStop());
  }

  /** Stops the server and starts it again, discovering the binary anew. */
  restart(): Promise<void> {
    return this.lifecycle.run(async () => {
      await this.doStop();
      await this.doStart();
    });
  }

  private async doStart(): Promise<void> {
    if (this.client) return;
    this.setState("starting");
    const settingPath = vscode.workspace.getConfiguration("codegenie").get<string>("server.path");
    if (!settingPath) this.output.appendLine("[client] codegenie.server.path is not set");
    const list = candidates({
      settingPath,
      extensionPath: this.context.extensionPath,
      platform: process.platform,
      arch: process.arch,
    });
    const result = await discover(list, versionProbe());
    for (const r of result.rejected) this.output.appendLine(`[client] ${describe(r.candidate)}: ${r.reason}`);
    if (!result.found) {
      this.setState("stopped");
      void this.notFound(result.rejected.map((r) => `${describe(r.candidate)}: ${r.reason}`));
      return;
    }
    this.found = result.found;
    this.output.appendLine(`[client] using codegenie ${result.found.version} from ${describe(result.found.candidate)}`);

    const serverOptions: ServerOptions = {
      command: result.found.candidate.command,
      args: ["serve"],
      options: { env: serverEnv(process.env, await this.hfToken()) },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file" }, { scheme: "untitled" }],
      outputChannel: this.output,
      traceOutputChannel: this.traceChannel,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: initializationOptions(await this.settings()),
      middleware: {
        // Code actions run `codegenie.generate` / `codegenie.explain` through
        // the client; show the server's own sentence when one fails.
        executeCommand: async (command, args, next) => {
          try {
            return await next(command, args);
          } catch (e) {
            void vscode.window.showErrorMessage(errorMessage(e));
            return undefined;
          }
        },
        // Turned off by the user: no request per keystroke at all.
        provideInlineCompletionItems: (document, position, context, token, next) =>
          vscode.workspace.getConfiguration("codegenie").get<boolean | null>("completion.enabled") === false
            ? null
            : next(document, position, context, token),
      },
    };
    const client = new LanguageClient("codegenie", "CodeGenie", serverOptions, clientOptions);
    client.registerFeature(new ProgressNotifications(client));
    // `textDocument/inlineCompletion` (LSP 3.18), a proposed feature of this
    // client version: ghost text from the server, accepted with Tab.
    client.registerProposedFeatures();
    client.onNotification("codegenie/explanation", (params: unknown) => {
      if (isExplanationNotification(params)) this.explanationEmitter.fire(params);
    });
    client.onDidChangeState((e) => {
      // The client's built-in progress handler is installed while it
      // initializes; take over once it runs (also after a crash restart).
      if (e.newState === State.Running) this.setState("running");
      else if (e.newState === State.Stopped) this.setState("stopped");
      else this.setState("starting");
    });
    this.client = client;
    try {
      await withTimeout(client.start(), START_TIMEOUT_MS, `no answer to \`initialize\` within ${START_TIMEOUT_MS / 1000} s`);
    } catch (e) {
      this.output.appendLine(`[client] the server did not start: ${errorMessage(e)}`);
      this.client = undefined;
      this.setState("stopped");
      void vscode.window.showErrorMessage(`CodeGenie: the server did not start: ${errorMessage(e)}`, "Show Log").then((pick) => {
        if (pick) this.output.show();
      });
    }
  }

  private async doStop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) {
      try {
        await client.stop(5000);
      } catch (e) {
        this.output.appendLine(`[client] stopping the server: ${errorMessage(e)}`);
      }
    }
    this.setState("stopped");
  }

  /** Sends the settings again (after a settings change). */
  async pushSettings(): Promise<void> {
    const client = this.running();
    if (!client) return;
    await client.sendNotification(DidChangeConfigurationNotification.type, { settings: { codegenie: await this.settings() } });
  }

  /** Throws when the server is down, before asking the user for anything. */
  requireRunning(): void {
    if (!this.running()) throw new ServerNotRunning();
  }

  private running(): LanguageClient | undefined {
    return this.client?.isRunning() ? this.client : undefined;
  }

  /** Runs a server command (`workspace/executeCommand`) with one object argument. */
  async execute<T>(command: ServerCommand, args: object = {}, token?: vscode.CancellationToken): Promise<T> {
    const client = this.running();
    if (!client) throw new ServerNotRunning();
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: [args] }, token)) as T;
  }

  /** LSP form of a document position, for command arguments. */
  protocol(): LanguageClient["code2ProtocolConverter"] {
    const client = this.running();
    if (!client) throw new ServerNotRunning();
    return client.code2ProtocolConverter;
  }

  private async notFound(reasons: string[]): Promise<void> {
    const install = "How to Install";
    const settings = "Set Server Path";
    const pick = await vscode.window.showErrorMessage(
      "CodeGenie: no working `codegenie` server was found. Install it (`cargo install --path server` from a checkout) or set `codegenie.server.path`, then run “CodeGenie: Restart Server”.",
      { detail: reasons.join("\n") },
      install,
      settings,
    );
    if (pick === install) await vscode.env.openExternal(vscode.Uri.parse(INSTALL_DOCS));
    else if (pick === settings) await vscode.commands.executeCommand("workbench.action.openSettings", "codegenie.server.path");
  }

  dispose(): void {
    void this.stop();
    this.stateEmitter.dispose();
    this.explanationEmitter.dispose();
    this.traceChannel.dispose();
  }
}
