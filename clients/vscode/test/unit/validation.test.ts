import { strict as assert } from "node:assert";
import { describe, it } from "node:test";
import {
  confirmPassword,
  loginIdentity,
  validateEmail,
  validateExistingPassword,
  validateHfToken,
  validateLogin,
  validatePassword,
  validateResetCode,
  validateUsername,
} from "../../src/validation";

describe("input validation", () => {
  it("emails", () => {
    assert.equal(validateEmail("ada@example.com"), undefined);
    assert.equal(validateEmail("  ada@example.com "), undefined);
    assert.match(validateEmail("") ?? "", /Enter/);
    assert.match(validateEmail("ada@") ?? "", /email address/);
    assert.match(validateEmail("ada example@x.y") ?? "", /email address/);
  });

  it("usernames", () => {
    assert.equal(validateUsername("ada_l-1.x"), undefined);
    assert.match(validateUsername("ab") ?? "", /3 to 32/);
    assert.match(validateUsername("a".repeat(33)) ?? "", /3 to 32/);
    assert.match(validateUsername("-ada") ?? "", /starting with/);
    assert.match(validateUsername("ada lovelace") ?? "", /Use letters/);
  });

  it("login accepts an email or a username and sends the right field", () => {
    assert.equal(validateLogin("ada"), undefined);
    assert.equal(validateLogin("ada@example.com"), undefined);
    assert.notEqual(validateLogin("ada@"), undefined);
    assert.deepEqual(loginIdentity(" ada@example.com "), { email: "ada@example.com" });
    assert.deepEqual(loginIdentity("ada"), { username: "ada" });
  });

  it("passwords", () => {
    assert.equal(validatePassword("correct horse"), undefined);
    assert.match(validatePassword("short") ?? "", /at least 8/);
    assert.match(validatePassword("") ?? "", /Enter/);
    assert.equal(validateExistingPassword("x"), undefined);
    assert.notEqual(validateExistingPassword(""), undefined);
    assert.equal(confirmPassword("abcdefgh")("abcdefgh"), undefined);
    assert.match(confirmPassword("abcdefgh")("abcdefgX") ?? "", /do not match/);
  });

  it("reset codes and tokens", () => {
    assert.equal(validateResetCode(" 123456 "), undefined);
    assert.notEqual(validateResetCode("12 34"), undefined);
    assert.notEqual(validateResetCode(""), undefined);
    assert.equal(validateHfToken(""), undefined, "empty removes the token");
    assert.equal(validateHfToken("hf_abcdefghijklmnop"), undefined);
    assert.notEqual(validateHfToken("hf_abc def"), undefined);
    assert.notEqual(validateHfToken("hf_x"), undefined);
  });
});
