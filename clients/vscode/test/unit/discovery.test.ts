import { strict as assert } from "node:assert";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { candidates, discover, expandHome, parseVersion, versionProbe, type Candidate } from "../../src/discovery";

const base = { extensionPath: "/ext", platform: "linux" as const, arch: "x64", homeDir: "/home/u" };

describe("candidates", () => {
  it("tries the setting, then the bundled binary, then PATH", () => {
    assert.deepEqual(candidates({ ...base, settingPath: "/opt/codegenie" }), [
      { source: "setting", command: "/opt/codegenie" },
      { source: "bundled", command: "/ext/server/linux-x64/codegenie" },
      { source: "path", command: "codegenie" },
    ]);
  });

  it("skips an empty or blank setting", () => {
    assert.deepEqual(
      candidates({ ...base, settingPath: "  " }).map((c) => c.source),
      ["bundled", "path"],
    );
  });

  it("expands ~ in the setting", () => {
    assert.equal(candidates({ ...base, settingPath: "~/bin/codegenie" })[0]?.command, "/home/u/bin/codegenie");
    assert.equal(expandHome("/abs/~/x", "/h"), "/abs/~/x");
  });

  it("names the Windows executable with .exe", () => {
    const list = candidates({ ...base, platform: "win32", arch: "arm64" });
    assert.equal(list[0]?.command, path.join("/ext", "server", "win32-arm64", "codegenie.exe"));
    assert.equal(list[1]?.command, "codegenie.exe");
  });
});

describe("discover", () => {
  const list: Candidate[] = [
    { source: "bundled", command: "b" },
    { source: "path", command: "p" },
  ];

  it("returns the first candidate whose probe answers, with the rejected ones", async () => {
    const tried: string[] = [];
    const result = await discover(list, async (c) => {
      tried.push(c);
      if (c === "b") throw new Error("not found");
      return "1.0.0";
    });
    assert.deepEqual(tried, ["b", "p"]);
    assert.deepEqual(result.found, { candidate: list[1], version: "1.0.0" });
    assert.deepEqual(result.rejected, [{ candidate: list[0], reason: "not found" }]);
  });

  it("stops at a broken configured path instead of silently using another binary", async () => {
    const withSetting: Candidate[] = [{ source: "setting", command: "s" }, ...list];
    const tried: string[] = [];
    const result = await discover(withSetting, async (c) => {
      tried.push(c);
      if (c === "s") throw new Error("not found");
      return "1.0.0";
    });
    assert.deepEqual(tried, ["s"]);
    assert.equal(result.found, undefined);
    assert.equal(result.rejected.length, 1);
  });

  it("reports every candidate when none works", async () => {
    const result = await discover(list, async () => {
      throw new Error("nope");
    });
    assert.equal(result.found, undefined);
    assert.deepEqual(
      result.rejected.map((r) => r.reason),
      ["nope", "nope"],
    );
  });
});

describe("versionProbe", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "codegenie-probe-"));
  const script = (name: string, body: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };

  it("accepts a binary that prints `codegenie X.Y.Z`", async () => {
    assert.equal(await versionProbe()(script("good", 'echo "codegenie 0.3.1"')), "0.3.1");
  });

  it("rejects another program", async () => {
    await assert.rejects(versionProbe()(script("other", 'echo "rust-analyzer 1.0"')), /not `codegenie X.Y.Z`/);
  });

  it("rejects a binary that fails", async () => {
    await assert.rejects(versionProbe()(script("fails", "exit 3")));
  });

  it("rejects a missing file as not found", async () => {
    await assert.rejects(versionProbe()(path.join(dir, "missing")), /not found/);
  });

  it("gives up on a binary that hangs", async () => {
    await assert.rejects(versionProbe(300)(script("hangs", "exec sleep 5")), /no answer within 300 ms/);
  });

  it("parses versions", () => {
    assert.equal(parseVersion("codegenie 1.2.3-dev\n"), "1.2.3-dev");
    assert.equal(parseVersion("something else"), undefined);
  });
});
