// What the model picker says of each model; no VS Code API here, so it is
// unit-tested on its own.

export interface ModelInfo {
  readonly id: string;
  readonly name?: string;
  readonly repo?: string;
  readonly api?: string;
  /** `local` (in-process) or `hosted`. */
  readonly engine?: string;
  /** Local models: the file's size in bytes. */
  readonly size?: number;
  /** Local models: whether the file is on disk. */
  readonly downloaded?: boolean;
}

/** Where a model runs and whether it is ready: `local · downloaded`, `local · 874 MB to download on first use`, `hosted (hf-router)`. */
export function modelState(m: ModelInfo): string | undefined {
  if (m.engine === "local") {
    if (m.downloaded) return "local · downloaded";
    const size = typeof m.size === "number" ? `${Math.ceil(m.size / 1e6)} MB ` : "";
    return `local · ${size}to download on first use`;
  }
  if (m.engine === "hosted") return `hosted (${m.api ?? "API"})`;
  return undefined;
}
