import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { modelState } from "../../src/modelState";

describe("modelState", () => {
  it("says where a model runs and whether its file is there", () => {
    assert.equal(modelState({ id: "a", engine: "local", downloaded: true, size: 873_582_624 }), "local · downloaded");
    assert.equal(
      modelState({ id: "a", engine: "local", downloaded: false, size: 873_582_624 }),
      "local · 874 MB to download on first use",
    );
    assert.equal(modelState({ id: "a", engine: "local" }), "local · to download on first use");
    assert.equal(modelState({ id: "q", engine: "hosted", api: "hf-router" }), "hosted (hf-router)");
    assert.equal(modelState({ id: "old" }), undefined);
  });
});
