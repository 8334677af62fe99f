// The settings the server receives, built from the extension's settings and
// the Hugging Face token kept in secret storage. Only keys the server knows
// are sent (it reports unknown ones), and editor-only settings
// (`server.path`, `trace.server`) stay here.

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type ModelEndpoints = Record<string, Record<string, Json>>;

export interface ExtensionSettings {
  readonly model?: string;
  readonly models?: ModelEndpoints;
  readonly logLevel?: string;
  /** Inline completion on or off; null or undefined: the server decides. */
  readonly completionEnabled?: boolean | null;
  readonly completionModel?: string;
  readonly completionDenyLanguages?: readonly string[] | null;
}

/** The server's `completion.*` keys. */
export interface CompletionSettings {
  enabled?: boolean;
  model?: string;
  deny_languages?: string[];
}

export interface ServerSettings {
  model?: string;
  models?: ModelEndpoints;
  log?: string;
  completion?: CompletionSettings;
}

/** The `codegenie` section sent in `initializationOptions` and `didChangeConfiguration`. */
export function serverSettings(s: ExtensionSettings): ServerSettings {
  const out: ServerSettings = {};
  const model = s.model?.trim();
  if (model) out.model = model;
  if (s.models && Object.keys(s.models).length > 0) out.models = s.models;
  const log = s.logLevel?.trim();
  if (log) out.log = log;
  const completion: CompletionSettings = {};
  if (typeof s.completionEnabled === "boolean") completion.enabled = s.completionEnabled;
  const completionModel = s.completionModel?.trim();
  if (completionModel) completion.model = completionModel;
  if (Array.isArray(s.completionDenyLanguages)) {
    completion.deny_languages = s.completionDenyLanguages.filter((l) => typeof l === "string" && l.trim() !== "").map((l) => l.trim());
  }
  if (Object.keys(completion).length > 0) out.completion = completion;
  return out;
}

/**
 * The server's environment: the Hugging Face token from VS Code's secret
 * storage travels as `HF_TOKEN`, a trusted source for the server (settings
 * from the editor may come from a workspace, so the server takes no `hf.*`
 * key from them).
 */
export function serverEnv(base: NodeJS.ProcessEnv, hfToken?: string): NodeJS.ProcessEnv {
  const env = { ...base };
  const token = hfToken?.trim();
  if (token) env.HF_TOKEN = token;
  return env;
}

/** What the client tells the server about itself at `initialize`. */
export interface ClientInfo {
  explanationNotification: true;
}

export function initializationOptions(settings: ServerSettings): { codegenie: ServerSettings; client: ClientInfo } {
  return { codegenie: settings, client: { explanationNotification: true } };
}

/** Settings whose change needs a new server process rather than a notification. */
export const RESTART_KEYS = ["codegenie.server.path"] as const;
/** Settings the server receives through `workspace/didChangeConfiguration`. */
export const SERVER_KEYS = ["codegenie.model", "codegenie.models", "codegenie.log.level", "codegenie.completion"] as const;
