import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { ProgressModel } from "../../src/progressModel";

describe("progress", () => {
  it("turns absolute percentages into increments and passes messages on", () => {
    const m = new ProgressModel();
    assert.deepEqual(m.step({ message: "waiting…" }), { message: "waiting…" });
    assert.deepEqual(m.step({ percentage: 20, message: "model loading, ~12s" }), { message: "model loading, ~12s", increment: 20 });
    assert.deepEqual(m.step({ percentage: 50 }), { increment: 30 });
  });

  it("never goes backwards or past 100", () => {
    const m = new ProgressModel();
    m.step({ percentage: 60 });
    assert.deepEqual(m.step({ percentage: 40, message: "retrying…" }), { message: "retrying…" });
    assert.deepEqual(m.step({ percentage: 250 }), { increment: 40 });
    assert.deepEqual(m.step({ percentage: 100 }), {});
  });
});
