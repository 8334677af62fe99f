-- Account commands against the real server and its local store (the
-- temporary CODEGENIE_DATA_DIR of run.sh, mail to its outbox): prompts
-- scripted, secrets typed into the real inputsecret(), the server's answers
-- shown, and no secret left behind.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

local data_dir = assert(vim.env.CODEGENIE_DATA_DIR, "CODEGENIE_DATA_DIR is not set")
h.setup_plugin()
local buf = h.open("notes.py", { "# nothing here" })
local client = h.client(buf)

local EMAIL, USER = "ada@example.com", "ada"
local PASSWORD = "Lovelace-1815-pw"
local NEW_PASSWORD = "Analytical-Engine-42"
local WRONG_PASSWORD = "not-her-password-9"
--- Every secret typed in this file, checked for at the end.
local secrets = { PASSWORD, NEW_PASSWORD, WRONG_PASSWORD, "first-pass-1", "second-pass-2" }

--- Run `:CodeGenie {sub}` with vim.ui.input answering `inputs` in order and
--- `typed` in the typeahead (what inputsecret() reads). Returns the prompts
--- shown and the executeCommand request of `command` with its reply (nil:
--- expect none).
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

--- The server's own view of the login.
local function status()
  return h.exec_sync(client, "codegenie.status", {})
end

--- The user the server says is logged in (nil: nobody).
local function logged_in()
  local user = status().user
  return type(user) == "table" and user.username or nil
end

--- Log in through the command; returns the request.
local function login(name, password)
  h.clear_messages()
  local _, req = run("login", { name }, password .. "\r", "codegenie.login")
  return req
end

test("signup with two different passwords sends nothing", function()
  h.client(buf)
  local prompts = run("signup", { EMAIL, USER }, "first-pass-1\rsecond-pass-2\r")
  eq({ "Email: ", "Username: " }, prompts)
  h.message("the passwords differ")
  eq(nil, logged_in())
end)

test("cancelling a prompt sends nothing", function()
  run("forgot", { nil })
  run("login", { "" })
end)

test(":CodeGenie signup creates the account and logs in", function()
  local prompts, req = run("signup", { EMAIL, USER }, PASSWORD .. "\r" .. PASSWORD .. "\r", "codegenie.signup")
  eq({ "Email: ", "Username: " }, prompts)
  eq({ email = EMAIL, username = USER, password = PASSWORD }, req.params.arguments[1])
  eq(nil, req.err, "signup")
  eq(USER, req.result.user.username)
  eq(vim.log.levels.INFO, h.message("signed up and logged in as ada <ada@example.com>").level)
  eq(USER, logged_in(), "the server's status")
end)

test(":CodeGenie status and profile show the user", function()
  run("status", {}, nil, "codegenie.status")
  h.message("logged in as ada <ada@example.com>")
  local before = vim.api.nvim_get_current_win()
  run("profile", {}, nil, "codegenie.profile")
  local win = h.wait(function()
    local w = vim.api.nvim_get_current_win()
    return w ~= before and w
  end, "the profile window")
  local pbuf = vim.api.nvim_win_get_buf(win)
  eq("markdown", vim.bo[pbuf].filetype)
  local text = table.concat(vim.api.nvim_buf_get_lines(pbuf, 0, -1, false), "\n")
  h.contains(text, "# ada\n")
  h.contains(text, "- email: ada@example.com")
  truthy(text:match("\n%- member since: %d%d%d%d%-%d%d%-%d%d %d%d:%d%d\n"), "a date, not milliseconds: " .. text)
  vim.cmd("close")
end)

test(":CodeGenie signup again with the same email gives the server's reason", function()
  local _, req = run("signup", { EMAIL, "ada2" }, PASSWORD .. "\r" .. PASSWORD .. "\r", "codegenie.signup")
  truthy(req.err, "an error")
  h.contains(req.err.message, "already registered")
  eq(vim.log.levels.ERROR, h.message(req.err.message).level)
end)

test(":CodeGenie logout, then login by username and by email", function()
  local _, out = run("logout", {}, nil, "codegenie.logout")
  eq(nil, out.err)
  h.message("logged out")
  eq(nil, logged_in(), "logged out on the server")
  run("status", {}, nil, "codegenie.status")
  h.message("not logged in")

  local req = login(USER, PASSWORD)
  eq({ username = USER, password = PASSWORD }, req.params.arguments[1])
  eq(nil, req.err, "login by username")
  h.message("logged in as ada <ada@example.com>")
  eq(USER, logged_in())

  run("logout", {}, nil, "codegenie.logout")
  req = login(EMAIL, PASSWORD)
  eq({ email = EMAIL, password = PASSWORD }, req.params.arguments[1])
  eq(nil, req.err, "login by email")
  h.message("logged in as ada <ada@example.com>")
  eq(USER, logged_in())
end)

test("a wrong password shows the server's error, not the password", function()
  run("logout", {}, nil, "codegenie.logout")
  local req = login(USER, WRONG_PASSWORD)
  truthy(req.err, "an error")
  eq("invalid email/username or password", req.err.message)
  eq(vim.log.levels.ERROR, h.message("invalid email/username or password").level)
  eq(nil, logged_in())
end)

--- The newest reset code in the outbox (waits for the mail).
local function code_from_outbox()
  return h.wait(function()
    local newest, code = -1, nil
    for name, kind in vim.fs.dir(data_dir .. "/outbox") do
      local path = data_dir .. "/outbox/" .. name
      local mtime = kind == "file" and vim.uv.fs_stat(path).mtime.nsec + vim.uv.fs_stat(path).mtime.sec * 1e9
      local text = mtime and table.concat(vim.fn.readfile(path), "\n")
      local found = text and text:match("\n%s+(%w%w%w%w%w%-%w%w%w%w%w)%s*\n")
      if found and mtime > newest then
        newest, code = mtime, found
      end
    end
    return code
  end, "a reset code in " .. data_dir .. "/outbox")
end

local reset_code

test(":CodeGenie forgot mails a code; :CodeGenie reset sets the new password with it", function()
  local prompts, forgot = run("forgot", { EMAIL }, nil, "codegenie.forgotPassword")
  eq({ "Email: " }, prompts)
  eq({ email = EMAIL }, forgot.params.arguments[1])
  eq(nil, forgot.err)
  h.message("a reset code is on its way")
  reset_code = code_from_outbox()
  table.insert(secrets, reset_code)

  -- A wrong code: the server's answer, nothing changed.
  local retyped = NEW_PASSWORD .. "\r" .. NEW_PASSWORD .. "\r"
  local _, bad = run("reset", { EMAIL }, "ACDEF-GHJKM\r" .. retyped, "codegenie.resetPassword")
  eq("invalid or expired code", bad.err and bad.err.message)
  eq(vim.log.levels.ERROR, h.message("invalid or expired code").level)

  local _, reset = run("reset", { EMAIL }, reset_code .. "\r" .. retyped, "codegenie.resetPassword")
  eq({ email = EMAIL, code = reset_code, newPassword = NEW_PASSWORD }, reset.params.arguments[1])
  eq(nil, reset.err, "reset")
  h.message("password changed")

  eq("invalid email/username or password", (login(USER, PASSWORD).err or {}).message, "the old password")
  eq(nil, login(EMAIL, NEW_PASSWORD).err, "the new password")
  h.message("logged in as ada <ada@example.com>")
  eq(USER, logged_in())
end)

--- Every file under `dir` (recursively), read whole.
local function files(dir)
  local found = {}
  for name, kind in vim.fs.dir(dir, { depth = 10 }) do
    if kind == "file" then
      local path = dir .. "/" .. name
      local f = io.open(path, "rb")
      if f then
        found[path] = f:read("*a")
        f:close()
      end
    end
  end
  return found
end

test("no password or code is in a message, :messages, a history, a register or a log", function()
  truthy(reset_code, "the reset case ran")
  -- Every message of the file: notified, and echoed (:messages).
  local seen = vim.list_extend({ vim.api.nvim_exec2("messages", { output = true }).output }, h.seen)
  truthy(#table.concat(seen) > 0 and table.concat(seen):find("logged in as ada", 1, true), "the messages were kept")
  local registers = {}
  for _, reg in ipairs({ '"', "-", "0", "1", "2", ":", "/", ".", "a" }) do
    registers[reg] = vim.fn.getreg(reg)
  end
  local histories = {}
  for _, hist in ipairs({ "cmd", "input", "search", "expr", "debug" }) do
    for i = 1, vim.fn.histnr(hist) do
      table.insert(histories, vim.fn.histget(hist, i))
    end
  end
  -- Neovim's LSP log (the server's stderr goes there too) and the data
  -- directory (store, saved login; the outbox holds the code by design).
  local log_path = vim.lsp.get_log_path()
  local lsp_log = table.concat(vim.fn.filereadable(log_path) == 1 and vim.fn.readfile(log_path) or {}, "\n")
  h.contains(lsp_log, "reset code written to", "the server's log reaches the LSP log")
  local stored = files(data_dir)
  local state = files(vim.fn.stdpath("state"))
  -- Failures name the place and the secret's number, never the secret.
  local function absent(text, secret, i, where)
    if text:find(secret, 1, true) then
      error(("secret #%d is in %s"):format(i, where), 2)
    end
  end
  for i, secret in ipairs(secrets) do
    for n, m in ipairs(seen) do
      absent(m, secret, i, "message " .. n)
    end
    for reg, value in pairs(registers) do
      absent(value, secret, i, "register " .. reg)
    end
    absent(table.concat(histories, "\n"), secret, i, "a history")
    for path, content in pairs(state) do
      absent(content, secret, i, path)
    end
    for path, content in pairs(stored) do
      if secret ~= reset_code or not path:find("/outbox/", 1, true) then
        absent(content, secret, i, path)
      end
    end
  end
end)

h.run()
