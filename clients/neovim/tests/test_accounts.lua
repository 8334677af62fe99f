-- Account commands: prompts scripted, secrets typed into the real
-- inputsecret(), the server's answer shown.
local h = require("harness")
local test, eq = h.test, h.eq

require("codegenie").setup({ cmd = { h.bin, "serve" } })
local buf = h.open("notes.py", { "# nothing here" })

--- Script vim.ui.input: answers in order.
local function answer_inputs(answers)
  local original = vim.ui.input
  local prompts = {}
  vim.ui.input = function(opts, on_confirm)
    table.insert(prompts, opts.prompt)
    on_confirm(table.remove(answers, 1))
  end
  return prompts, function()
    vim.ui.input = original
  end
end

--- Wait for the executeCommand request (and its reply) the plugin sends.
local function sent_command(sent, command)
  return h.wait(function()
    for _, r in ipairs(sent) do
      if r.method == "workspace/executeCommand" and r.params.command == command and r.done then
        return r
      end
    end
  end, command)
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

test(":CodeGenie login sends the name and the secret typed without echo, and shows the server's answer", function()
  h.client(buf)
  local sent, restore = h.spy_requests()
  local prompts, restore_input = answer_inputs({ "alice" })
  -- The password is typed: inputsecret() reads it from the typeahead.
  vim.api.nvim_feedkeys("s3cret-pa55\r", "n", false)
  vim.cmd("CodeGenie login")
  local req = sent_command(sent, "codegenie.login")
  restore()
  restore_input()
  eq({ "Email or username: " }, prompts)
  eq({ username = "alice", password = "s3cret-pa55" }, req.params.arguments[1])
  if req.err then
    local m = h.message(req.err.message)
    eq(vim.log.levels.ERROR, m.level)
  else
    h.message("logged in as")
  end
  nowhere("s3cret-pa55")
end)

test("an email logs in by email", function()
  local sent, restore = h.spy_requests()
  local _, restore_input = answer_inputs({ "alice@example.com" })
  vim.api.nvim_feedkeys("another-s3cret\r", "n", false)
  vim.cmd("CodeGenie login")
  local req = sent_command(sent, "codegenie.login")
  restore()
  restore_input()
  eq({ email = "alice@example.com", password = "another-s3cret" }, req.params.arguments[1])
  nowhere("another-s3cret")
end)

test(":CodeGenie logout shows the server's message", function()
  local sent, restore = h.spy_requests()
  vim.cmd("CodeGenie logout")
  local req = sent_command(sent, "codegenie.logout")
  restore()
  eq(vim.empty_dict(), req.params.arguments[1])
  if req.err then
    h.contains(req.err.message, "codegenie.logout")
    eq(vim.log.levels.ERROR, h.message(req.err.message).level)
  else
    h.message("logged out")
  end
end)

test("signup with two different passwords sends nothing", function()
  local sent, restore = h.spy_requests()
  local prompts, restore_input = answer_inputs({ "bob@example.com", "bob" })
  vim.api.nvim_feedkeys("first-pass\rsecond-pass\r", "n", false)
  vim.cmd("CodeGenie signup")
  h.message("the passwords differ")
  restore()
  restore_input()
  eq({ "Email: ", "Username: " }, prompts)
  eq(0, #sent)
  nowhere("first-pass")
  nowhere("second-pass")
end)

test("signup sends email, username and password", function()
  local sent, restore = h.spy_requests()
  local _, restore_input = answer_inputs({ "bob@example.com", "bob" })
  vim.api.nvim_feedkeys("same-pass-1\rsame-pass-1\r", "n", false)
  vim.cmd("CodeGenie signup")
  local req = sent_command(sent, "codegenie.signup")
  restore()
  restore_input()
  eq({ email = "bob@example.com", username = "bob", password = "same-pass-1" }, req.params.arguments[1])
  nowhere("same-pass-1")
end)

test("cancelling a prompt sends nothing", function()
  local sent, restore = h.spy_requests()
  local _, restore_input = answer_inputs({ nil })
  vim.cmd("CodeGenie forgot")
  vim.wait(100)
  restore()
  restore_input()
  eq(0, #sent)
end)

test("forgot and reset send the contract's arguments", function()
  local sent, restore = h.spy_requests()
  local _, restore_input = answer_inputs({ "carol@example.com", "carol@example.com" })
  vim.cmd("CodeGenie forgot")
  local forgot = sent_command(sent, "codegenie.forgotPassword")
  eq({ email = "carol@example.com" }, forgot.params.arguments[1])
  vim.api.nvim_feedkeys("123456\rnew-pass-9\rnew-pass-9\r", "n", false)
  vim.cmd("CodeGenie reset")
  local reset = sent_command(sent, "codegenie.resetPassword")
  restore()
  restore_input()
  eq({ email = "carol@example.com", code = "123456", newPassword = "new-pass-9" }, reset.params.arguments[1])
  nowhere("new-pass-9")
  nowhere("123456")
end)

test(":CodeGenie status and profile ask the server", function()
  local sent, restore = h.spy_requests()
  vim.cmd("CodeGenie status")
  local status = sent_command(sent, "codegenie.status")
  vim.cmd("CodeGenie profile")
  local profile = sent_command(sent, "codegenie.profile")
  restore()
  for _, req in ipairs({ status, profile }) do
    if req.err then
      h.message(req.err.message)
    end
  end
end)

h.run()
