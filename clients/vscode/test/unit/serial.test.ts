import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { Serial, withTimeout } from "../../src/serial";

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("Serial", () => {
  it("runs tasks one at a time, in the order they were queued", async () => {
    const serial = new Serial();
    const log: string[] = [];
    let running = 0;
    const task = (name: string, ms: number) => async (): Promise<string> => {
      running++;
      assert.equal(running, 1, `${name} overlaps another task`);
      log.push(`${name} start`);
      await tick(ms);
      log.push(`${name} end`);
      running--;
      return name;
    };
    const results = await Promise.all([serial.run(task("a", 30)), serial.run(task("b", 1)), serial.run(task("c", 10))]);
    assert.deepEqual(results, ["a", "b", "c"]);
    assert.deepEqual(log, ["a start", "a end", "b start", "b end", "c start", "c end"]);
  });

  it("goes on after a task fails, and hands the failure to its caller", async () => {
    const serial = new Serial();
    const failed = serial.run(async () => {
      throw new Error("boom");
    });
    const next = serial.run(async () => "next");
    await assert.rejects(failed, /boom/);
    assert.equal(await next, "next");
  });
});

describe("withTimeout", () => {
  it("passes the value on when it comes in time", async () => {
    assert.equal(await withTimeout(tick(1).then(() => 7), 1_000, "late"), 7);
  });

  it("rejects with the message when the promise takes too long", async () => {
    await assert.rejects(withTimeout(new Promise(() => undefined), 20, "no answer"), /no answer/);
  });

  it("passes a rejection on", async () => {
    await assert.rejects(withTimeout(Promise.reject(new Error("refused")), 1_000, "late"), /refused/);
  });
});
