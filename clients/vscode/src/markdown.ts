// Markdown shown beside the editor: explanations (growing as the stream
// arrives) and the profile. A document model with no `vscode` import; the
// content provider in `views.ts` serves it under the `codegenie` scheme.

/**
 * `codegenie/explanation`: `append` adds to the text shown, `markdown`
 * replaces it (after a retry, or a final text that differs).
 */
export interface ExplanationNotification {
  readonly id: string;
  readonly title?: string;
  readonly markdown?: string;
  readonly append?: string;
  readonly done: boolean;
}

export interface Explanation {
  readonly title: string;
  readonly markdown: string;
  readonly done: boolean;
}

export function isExplanationNotification(v: unknown): v is ExplanationNotification {
  if (typeof v !== "object" || v === null) return false;
  const o = v as Record<string, unknown>;
  return (
    (typeof o.id === "string" || typeof o.id === "number") &&
    (o.markdown === undefined || typeof o.markdown === "string") &&
    (o.append === undefined || typeof o.append === "string") &&
    typeof o.done === "boolean" &&
    (o.title === undefined || typeof o.title === "string")
  );
}

/** The path a document is served under: `explanation/<id>.md`. */
export function explanationPath(id: string): string {
  return `/explanation/${encodeURIComponent(String(id))}.md`;
}

/**
 * Explanations by id, put together from the notifications. A late
 * notification for a finished explanation is ignored.
 */
export class ExplanationStore {
  private readonly items = new Map<string, Explanation>();

  /** Whether the explanation is new, and whether anything changed. */
  update(n: ExplanationNotification): { isNew: boolean; changed: boolean } {
    const id = String(n.id);
    const old = this.items.get(id);
    if (old?.done) return { isNew: false, changed: false };
    const markdown = (n.markdown ?? old?.markdown ?? "") + (n.append ?? "");
    this.items.set(id, { title: n.title ?? old?.title ?? "Explanation", markdown, done: n.done });
    return { isNew: old === undefined, changed: true };
  }

  get(id: string): Explanation | undefined {
    return this.items.get(String(id));
  }

  render(id: string): string {
    const e = this.get(id);
    if (!e) return "# Explanation\n\n_Not available any more._\n";
    const body = e.markdown.trim() ? e.markdown : "_Waiting for the model…_";
    return `# ${e.title}\n\n${body}\n${e.done ? "" : "\n---\n_streaming…_\n"}`;
  }
}

export interface Profile {
  readonly user: { readonly username: string; readonly email: string; readonly createdAt?: string | number; readonly lastLoginAt?: string | number | null };
  readonly usage: readonly { readonly model: string; readonly kind: string; readonly count: number }[];
}

function cell(s: string): string {
  return s.replace(/\|/g, "\\|").replace(/\n/g, " ");
}

export function renderProfile(p: Profile): string {
  const lines = [
    `# ${cell(p.user.username)}`,
    "",
    `- **Email:** ${cell(p.user.email)}`,
    `- **Member since:** ${when(p.user.createdAt)}`,
    `- **Last login:** ${when(p.user.lastLoginAt)}`,
    "",
    "## Usage",
    "",
  ];
  if (p.usage.length === 0) {
    lines.push("_No generations or explanations yet._");
  } else {
    lines.push("| model | kind | count |", "|---|---|---:|");
    for (const u of p.usage) lines.push(`| ${cell(u.model)} | ${cell(u.kind)} | ${u.count} |`);
    const total = p.usage.reduce((n, u) => n + u.count, 0);
    lines.push(`| **total** | | **${total}** |`);
  }
  return `${lines.join("\n")}\n`;
}

/** A server time (milliseconds or ISO text) as `YYYY-MM-DD HH:MM UTC`. */
function when(at: string | number | null | undefined): string {
  if (at === undefined || at === null) return "—";
  const t = typeof at === "number" ? at : Date.parse(at);
  if (Number.isNaN(t)) return String(at);
  return `${new Date(t).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}
