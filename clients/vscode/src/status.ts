// The status bar item's text and tooltip, from `codegenie.status`.

export interface StatusUser {
  readonly username: string;
  readonly email?: string;
}

export interface ServerStatus {
  /** `null`: signed out; `undefined`: the server cannot tell (older build). */
  readonly user?: StatusUser | null;
  readonly model?: string;
}

export type ServerState = "starting" | "running" | "stopped";

export interface StatusView {
  readonly text: string;
  readonly tooltip: string;
  readonly warning: boolean;
}

export function statusView(state: ServerState, status: ServerStatus): StatusView {
  if (state === "stopped") {
    return { text: "$(error) CodeGenie", tooltip: "The CodeGenie server is not running. Click for actions.", warning: true };
  }
  if (state === "starting") {
    return { text: "$(sync~spin) CodeGenie", tooltip: "The CodeGenie server is starting…", warning: false };
  }
  const model = status.model ? ` · ${status.model}` : "";
  if (status.user) {
    return {
      text: `$(account) ${status.user.username}${model}`,
      tooltip: `CodeGenie: signed in as ${status.user.username}${status.user.email ? ` <${status.user.email}>` : ""}; model ${status.model ?? "default"}. Click to pick a model.`,
      warning: false,
    };
  }
  if (status.user === null) {
    return {
      text: `$(sparkle) CodeGenie: Log in${model}`,
      tooltip: `CodeGenie: signed out; model ${status.model ?? "default"}. Click to log in or pick a model.`,
      warning: false,
    };
  }
  return {
    text: `$(sparkle) CodeGenie${model}`,
    tooltip: `CodeGenie: model ${status.model ?? "default"}. Click to pick a model.`,
    warning: false,
  };
}

/** The item's text and tooltip for a value of `codegenie.completion.enabled`. */
export function completionView(enabled: boolean | null | undefined): { text: string; tooltip: string } {
  if (enabled === false) {
    return { text: "$(circle-slash) Completion", tooltip: "CodeGenie inline completion is off. Click to turn it on." };
  }
  if (enabled === true) {
    return { text: "$(sparkle) Completion", tooltip: "CodeGenie inline completion is on: suggestions as you type, Tab accepts. Click to turn it off." };
  }
  return {
    text: "$(sparkle) Completion",
    tooltip: "CodeGenie inline completion: on for local models, off for hosted ones (the server's default). Click to turn it off.",
  };
}

/** The value a click sets: off when on (or left to the server), else on. */
export function toggled(enabled: boolean | null | undefined): boolean {
  return enabled === false;
}
