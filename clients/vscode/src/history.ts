// History entries as the server returns them, and how they are shown.

export type HistoryKind = "generate" | "explain";

export interface HistoryEntry {
  readonly id: string;
  readonly kind: HistoryKind;
  readonly model: string;
  readonly language?: string;
  readonly prompt: string;
  readonly output: string;
  readonly status: "ok" | "failed" | "cancelled";
  readonly latencyMs?: number;
  /** Milliseconds since the epoch (the server's form) or an ISO date. */
  readonly createdAt: string | number;
}

export interface HistoryPage {
  readonly entries: readonly HistoryEntry[];
  readonly next?: string;
}

export interface HistoryFilter {
  readonly kind?: HistoryKind;
  readonly model?: string;
  readonly search?: string;
}

export interface HistoryQuery extends HistoryFilter {
  readonly limit: number;
  readonly before?: string;
}

export const PAGE_SIZE = 50;

/** Arguments of `codegenie.history`, without empty fields. */
export function historyQuery(filter: HistoryFilter, before?: string, limit = PAGE_SIZE): HistoryQuery {
  const q: { -readonly [K in keyof HistoryQuery]: HistoryQuery[K] } = { limit };
  if (before) q.before = before;
  if (filter.kind) q.kind = filter.kind;
  if (filter.model) q.model = filter.model;
  const search = filter.search?.trim();
  if (search) q.search = search;
  return q;
}

/** Newest first, whatever order the pages arrived in. */
export function newestFirst(entries: readonly HistoryEntry[]): HistoryEntry[] {
  return [...entries].sort((a, b) => timeOf(b.createdAt) - timeOf(a.createdAt));
}

export function describeFilter(f: HistoryFilter): string {
  const parts: string[] = [];
  if (f.kind) parts.push(f.kind === "generate" ? "generations" : "explanations");
  if (f.model) parts.push(`model ${f.model}`);
  if (f.search?.trim()) parts.push(`“${f.search.trim()}”`);
  return parts.length ? parts.join(", ") : "all entries";
}

/** Milliseconds since the epoch of a time given either way. */
export function timeOf(at: string | number): number {
  return typeof at === "number" ? at : Date.parse(at);
}

/**
 * Whether a history entry is a generation or an explanation (the history
 * also holds account events, which have no prompt).
 */
export function isPromptEntry(e: HistoryEntry): boolean {
  return (e.kind === "generate" || e.kind === "explain") && typeof e.prompt === "string";
}

/** "3 min ago", "2 h ago", "5 d ago", or the date. */
export function relativeTime(at: string | number, now: Date): string {
  const t = timeOf(at);
  if (Number.isNaN(t)) return String(at);
  const s = Math.max(0, Math.round((now.getTime() - t) / 1000));
  if (s < 60) return "just now";
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  if (s < 30 * 86400) return `${Math.floor(s / 86400)} d ago`;
  return new Date(t).toISOString().slice(0, 10);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export interface HistoryItemView {
  readonly label: string;
  readonly description: string;
  readonly detail: string;
}

const KIND_ICON: Record<HistoryKind, string> = { generate: "$(sparkle)", explain: "$(book)" };
const STATUS_NOTE: Record<HistoryEntry["status"], string> = { ok: "", failed: " · failed", cancelled: " · cancelled" };

export function historyItem(e: HistoryEntry, now: Date): HistoryItemView {
  const latency = e.latencyMs === undefined ? "" : ` · ${(e.latencyMs / 1000).toFixed(1)} s`;
  return {
    label: `${KIND_ICON[e.kind] ?? ""} ${oneLine(e.prompt, 80) || "(empty prompt)"}`.trim(),
    description: `${e.model}${e.language ? ` · ${e.language}` : ""} · ${relativeTime(e.createdAt, now)}${STATUS_NOTE[e.status] ?? ""}`,
    detail: `${oneLine(e.output, 120) || "(no output)"}${latency}`,
  };
}

/** The content and language of an editor opened on an entry. */
export function entryDocument(e: HistoryEntry): { language: string; content: string } {
  if (e.kind === "generate") {
    return { language: e.language || "plaintext", content: e.output };
  }
  const fence = "```";
  return {
    language: "markdown",
    content: `# Explanation (${e.model})\n\n${fence}${e.language ?? ""}\n${e.prompt}\n${fence}\n\n${e.output}\n`,
  };
}
