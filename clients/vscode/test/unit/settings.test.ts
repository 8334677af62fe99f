import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import { initializationOptions, serverEnv, serverSettings } from "../../src/settings";
import { completionView, statusView, toggled } from "../../src/status";
import { errorMessage, isUnsupported, REQUEST_FAILED } from "../../src/errors";

describe("server settings", () => {
  it("sends only the keys the server knows, without empty values", () => {
    assert.deepEqual(serverSettings({ model: " ", models: {}, logLevel: "" }), {});
    assert.deepEqual(
      serverSettings({ model: "phi-2", models: { local: { api: "openai", url: "http://127.0.0.1:11434", repo: "qwen" } }, logLevel: "debug" }),
      { model: "phi-2", models: { local: { api: "openai", url: "http://127.0.0.1:11434", repo: "qwen" } }, log: "debug" },
    );
  });

  it("sends the completion settings the user set, and nothing when they are unset", () => {
    assert.deepEqual(serverSettings({ completionEnabled: null, completionModel: " ", completionDenyLanguages: null }), {});
    assert.deepEqual(serverSettings({ completionEnabled: false, completionModel: "phi-2", completionDenyLanguages: [" markdown ", "", "sql"] }), {
      completion: { enabled: false, model: "phi-2", deny_languages: ["markdown", "sql"] },
    });
    assert.deepEqual(serverSettings({ completionEnabled: true, completionDenyLanguages: [] }), { completion: { enabled: true, deny_languages: [] } });
  });

  it("the completion switch: a click turns it off unless it is off", () => {
    assert.equal(toggled(null), false);
    assert.equal(toggled(undefined), false);
    assert.equal(toggled(true), false);
    assert.equal(toggled(false), true);
    assert.match(completionView(false).text, /circle-slash/);
    assert.match(completionView(null).tooltip, /local models/);
  });

  it("hands the token over in the server's environment, never in settings", () => {
    const env = serverEnv({ PATH: "/bin", HF_TOKEN: "hf_fromShell" }, " hf_secret ");
    assert.equal(env.HF_TOKEN, "hf_secret");
    assert.equal(env.PATH, "/bin");
    assert.equal(serverEnv({ HF_TOKEN: "hf_fromShell" }, undefined).HF_TOKEN, "hf_fromShell");
    assert.ok(!JSON.stringify(serverSettings({ model: "gemma" })).includes("hf"));
  });

  it("declares the explanation notification at initialize", () => {
    assert.deepEqual(initializationOptions({ model: "gemma" }), {
      codegenie: { model: "gemma" },
      client: { explanationNotification: true },
    });
  });
});

describe("status bar", () => {
  it("shows the user and the model", () => {
    const v = statusView("running", { user: { username: "ada", email: "ada@example.com" }, model: "phi-2" });
    assert.equal(v.text, "$(account) ada · phi-2");
    assert.match(v.tooltip, /ada <ada@example.com>/);
  });

  it("invites to log in when signed out", () => {
    assert.equal(statusView("running", { user: null, model: "gemma" }).text, "$(sparkle) CodeGenie: Log in · gemma");
  });

  it("shows the model alone when the server has no accounts", () => {
    assert.equal(statusView("running", { model: "gemma" }).text, "$(sparkle) CodeGenie · gemma");
  });

  it("warns when the server is down", () => {
    const v = statusView("stopped", { user: { username: "ada" } });
    assert.equal(v.warning, true);
    assert.match(v.tooltip, /not running/);
  });
});

describe("errors", () => {
  it("recognises an unsupported command and keeps the server's sentence", () => {
    const e = Object.assign(new Error("`codegenie.status` is not supported by this codegenie server (0.1.0)"), { code: REQUEST_FAILED });
    assert.equal(isUnsupported(e), true);
    assert.equal(isUnsupported(Object.assign(new Error("wrong password"), { code: REQUEST_FAILED })), false);
    assert.equal(isUnsupported(Object.assign(new Error("unknown command `codegenie.status`; CodeGenie's commands are: …"), { code: -32602 })), true);
    assert.equal(errorMessage({ message: "plain object" }), "plain object");
    assert.equal(errorMessage(42), "42");
  });
});
