-- Account commands: prompts scripted, secrets typed into the real
-- inputsecret(), the server's answer shown.
local h = require("harness")
local test, eq = h.test, h.eq

require("codegenie").setup({ cmd = { h.bin, "serve" } })
local buf = h.open("notes.py", { "# nothing here" })

--- Run `:CodeGenie {sub}` with vim.ui.input answering `inputs` in order and
--- `typed` in the typeahead (what inputsecret() reads). Returns the prompts
--- shown and the executeCommand request of `command` (nil: expect none).
---@return string[] prompts, table? request
local function run(sub, inputs, typed, command)
  local sent, restore = h.spy_requests()
  local prompts = {}
  local original = vim.ui.input
  vim.ui.input = function(opts, on_confirm)
    table.insert(prompts, opts.prompt)
    on_confirm(table.remove(inputs, 1))
  end
  if typed then
    vim.api.nvim_feedkeys(typed, "n", false)
  end
  local ok, req = pcall(function()
    vim.cmd("CodeGenie " .. sub)
    if command then
      return h.executed(sent, command)
    end
    vim.wait(100)
    eq({}, sent, "no request")
  end)
  restore()
  vim.ui.input = original
  assert(ok, req)
  return prompts, req
end

--- Nothing of `secret` is in a message, a register or a history.
local function nowhere(secret)
  for _, m in ipairs(h.messages) do
    eq(nil, m.msg:find(secret, 1, true), "a message shows the secret: " .. m.msg)
  end
  for _, reg in ipairs({ '"', "-", "0", "1", ":", "/", "." }) do
    eq(nil, vim.fn.getreg(reg):find(secret, 1, true), "register " .. reg)
  end
  for _, hist in ipairs({ "cmd", "input", "search", "expr" }) do
    for i = 1, vim.fn.histnr(hist) do
      eq(nil, vim.fn.histget(hist, i):find(secret, 1, true), hist .. " history")
    end
  end
end

--- The server's answer reaches the user: its error, or `success`.
local function shown(req, success)
  if req.err then
    eq(vim.log.levels.ERROR, h.message(req.err.message).level)
  else
    h.message(success)
  end
end

test(":CodeGenie login sends the name and the secret typed without echo, and shows the server's answer", function()
  h.client(buf)
  local prompts, req = run("login", { "alice" }, "s3cret-pa55\r", "codegenie.login")
  eq({ "Email or username: " }, prompts)
  eq({ username = "alice", password = "s3cret-pa55" }, req.params.arguments[1])
  shown(req, "logged in as")
  nowhere("s3cret-pa55")
end)

test("an email logs in by email", function()
  local _, req = run("login", { "alice@example.com" }, "another-s3cret\r", "codegenie.login")
  eq({ email = "alice@example.com", password = "another-s3cret" }, req.params.arguments[1])
  nowhere("another-s3cret")
end)

test(":CodeGenie logout shows the server's message", function()
  local _, req = run("logout", {}, nil, "codegenie.logout")
  eq(vim.empty_dict(), req.params.arguments[1])
  shown(req, "logged out")
end)

test("signup with two different passwords sends nothing", function()
  local prompts = run("signup", { "bob@example.com", "bob" }, "first-pass\rsecond-pass\r")
  eq({ "Email: ", "Username: " }, prompts)
  h.message("the passwords differ")
  nowhere("first-pass")
  nowhere("second-pass")
end)

test("signup sends email, username and password", function()
  local _, req = run("signup", { "bob@example.com", "bob" }, "same-pass-1\rsame-pass-1\r", "codegenie.signup")
  eq({ email = "bob@example.com", username = "bob", password = "same-pass-1" }, req.params.arguments[1])
  shown(req, "signed up and logged in as")
  nowhere("same-pass-1")
end)

test("cancelling a prompt sends nothing", function()
  run("forgot", { nil })
end)

test("forgot and reset send the contract's arguments", function()
  local _, forgot = run("forgot", { "carol@example.com" }, nil, "codegenie.forgotPassword")
  eq({ email = "carol@example.com" }, forgot.params.arguments[1])
  local _, reset = run("reset", { "carol@example.com" }, "123456\rnew-pass-9\rnew-pass-9\r", "codegenie.resetPassword")
  eq({ email = "carol@example.com", code = "123456", newPassword = "new-pass-9" }, reset.params.arguments[1])
  nowhere("new-pass-9")
  nowhere("123456")
end)

test(":CodeGenie status and profile ask the server and show its answer", function()
  local _, status = run("status", {}, nil, "codegenie.status")
  shown(status, "logged in")
  local _, profile = run("profile", {}, nil, "codegenie.profile")
  if profile.err then
    shown(profile)
  end
end)

h.run()
