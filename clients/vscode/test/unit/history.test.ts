import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { describeFilter, entryDocument, historyItem, historyQuery, newestFirst, relativeTime, type HistoryEntry } from "../../src/history";

const now = new Date("2026-11-25T12:00:00Z");
const entry = (over: Partial<HistoryEntry>): HistoryEntry => ({
  id: "1",
  kind: "generate",
  model: "deepseek-coder",
  language: "python",
  prompt: "read a CSV",
  output: "import csv",
  status: "ok",
  latencyMs: 1234,
  createdAt: "2026-11-25T11:57:00Z",
  ...over,
});

describe("history", () => {
  it("builds queries without empty fields", () => {
    assert.deepEqual(historyQuery({}), { limit: 50 });
    assert.deepEqual(historyQuery({ kind: "explain", model: "phi-2", search: "  csv " }, "cursor-1", 10), {
      limit: 10,
      before: "cursor-1",
      kind: "explain",
      model: "phi-2",
      search: "csv",
    });
    assert.deepEqual(historyQuery({ search: "   " }), { limit: 50 });
  });

  it("sorts newest first", () => {
    const list = newestFirst([
      entry({ id: "old", createdAt: "2026-11-20T00:00:00Z" }),
      entry({ id: "new", createdAt: "2026-11-25T00:00:00Z" }),
      entry({ id: "mid", createdAt: "2026-11-22T00:00:00Z" }),
    ]);
    assert.deepEqual(
      list.map((e) => e.id),
      ["new", "mid", "old"],
    );
  });

  it("formats an entry on one line each", () => {
    assert.deepEqual(historyItem(entry({ prompt: "read a CSV\nand print\tthe mean" }), now), {
      label: "$(sparkle) read a CSV and print the mean",
      description: "deepseek-coder · python · 3 min ago",
      detail: "import csv · 1.2 s",
    });
    const failed = historyItem(entry({ kind: "explain", status: "failed", output: "", latencyMs: undefined, language: undefined }), now);
    assert.equal(failed.label, "$(book) read a CSV");
    assert.equal(failed.description, "deepseek-coder · 3 min ago · failed");
    assert.equal(failed.detail, "(no output)");
  });

  it("shortens long prompts", () => {
    const label = historyItem(entry({ prompt: "x".repeat(200) }), now).label;
    assert.ok(label.endsWith("…"));
    assert.ok(label.length < 100);
  });

  it("says how long ago", () => {
    assert.equal(relativeTime("2026-11-25T11:59:30Z", now), "just now");
    assert.equal(relativeTime("2026-11-25T09:00:00Z", now), "3 h ago");
    assert.equal(relativeTime("2026-11-20T12:00:00Z", now), "5 d ago");
    assert.equal(relativeTime("2025-01-02T00:00:00Z", now), "2025-01-02");
    assert.equal(relativeTime("not a date", now), "not a date");
  });

  it("describes the filter", () => {
    assert.equal(describeFilter({}), "all entries");
    assert.equal(describeFilter({ kind: "generate", model: "gemma", search: "csv" }), "generations, model gemma, “csv”");
  });

  it("opens generations as code and explanations as markdown", () => {
    assert.deepEqual(entryDocument(entry({})), { language: "python", content: "import csv" });
    const doc = entryDocument(entry({ kind: "explain", prompt: "x = 1", output: "Assigns one." }));
    assert.equal(doc.language, "markdown");
    assert.equal(doc.content, "# Explanation (deepseek-coder)\n\n```python\nx = 1\n```\n\nAssigns one.\n");
  });
});
