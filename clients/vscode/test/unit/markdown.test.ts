import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ExplanationStore, explanationPath, isExplanationNotification, renderProfile } from "../../src/markdown";

describe("explanations", () => {
  it("adds each `append` to the text and keeps the title", () => {
    const store = new ExplanationStore();
    assert.deepEqual(store.update({ id: "7", title: "Explain: foo", append: "This", done: false }), { isNew: true, changed: true });
    assert.deepEqual(store.update({ id: "7", append: " function", done: false }), { isNew: false, changed: true });
    assert.equal(store.render("7"), "# Explain: foo\n\nThis function\n\n---\n_streaming…_\n");
    store.update({ id: "7", append: " adds.", done: true });
    assert.equal(store.render("7"), "# Explain: foo\n\nThis function adds.\n");
  });

  it("replaces the text with `markdown` (a retry, or a different final text)", () => {
    const store = new ExplanationStore();
    store.update({ id: "r", title: "T", append: "first try", done: false });
    store.update({ id: "r", markdown: "", done: false });
    store.update({ id: "r", append: "second", done: false });
    assert.equal(store.get("r")?.markdown, "second");
    store.update({ id: "r", markdown: "*The explanation failed: timeout*", done: true });
    assert.equal(store.get("r")?.markdown, "*The explanation failed: timeout*");
  });

  it("ignores notifications after the last one", () => {
    const store = new ExplanationStore();
    store.update({ id: "1", markdown: "final", done: true });
    assert.deepEqual(store.update({ id: "1", markdown: "late", done: false }), { isNew: false, changed: false });
    assert.equal(store.get("1")?.markdown, "final");
  });

  it("keeps explanations apart by id and shows a placeholder while empty", () => {
    const store = new ExplanationStore();
    store.update({ id: "a", markdown: "", done: false });
    store.update({ id: "b", markdown: "B", done: true });
    assert.match(store.render("a"), /Waiting for the model/);
    assert.match(store.render("b"), /^# Explanation\n\nB\n$/);
    assert.match(store.render("zzz"), /Not available/);
  });

  it("checks the notification's shape", () => {
    assert.equal(isExplanationNotification({ id: "1", markdown: "", done: false }), true);
    assert.equal(isExplanationNotification({ id: "1", append: "x", done: true }), true);
    assert.equal(isExplanationNotification({ id: "1", append: 3, done: true }), false);
    assert.equal(isExplanationNotification({ id: "1", markdown: "", done: "no" }), false);
    assert.equal(isExplanationNotification(null), false);
    assert.equal(explanationPath("a/b"), "/explanation/a%2Fb.md");
  });
});

describe("profile", () => {
  it("renders the user and a usage table with a total", () => {
    const md = renderProfile({
      user: { username: "ada", email: "ada@example.com", createdAt: "2026-01-01", lastLoginAt: "2026-11-25" },
      usage: [
        { model: "phi-2", kind: "generate", count: 3 },
        { model: "gemma", kind: "explain", count: 2 },
      ],
    });
    assert.match(md, /^# ada\n/);
    assert.match(md, /\| phi-2 \| generate \| 3 \|/);
    assert.match(md, /\| \*\*total\*\* \| \| \*\*5\*\* \|/);
  });

  it("says when there is no usage yet", () => {
    assert.match(renderProfile({ user: { username: "ada", email: "a@b.c" }, usage: [] }), /No generations/);
  });
});
