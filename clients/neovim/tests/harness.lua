-- A small test harness: `test(name, fn)` registers a test, `run()` runs them
-- in order and exits with status 1 if one failed. Each test file runs in its
-- own Neovim (see run.sh), so tests in one file share one server.
local M = {}

local tests = {}
M.notes = {}

--- The codegenie binary under test.
M.bin = assert(vim.env.CODEGENIE_BIN, "CODEGENIE_BIN is not set")
M.tmp = assert(vim.env.CODEGENIE_TEST_TMP, "CODEGENIE_TEST_TMP is not set")

---@param name string
---@param fn fun()
function M.test(name, fn)
  table.insert(tests, { name = name, fn = fn })
end

local function fmt(v)
  return type(v) == "string" and string.format("%q", v) or vim.inspect(v)
end

function M.eq(expected, actual, what)
  if not vim.deep_equal(expected, actual) then
    error(("%sexpected %s, got %s"):format(what and (what .. ": ") or "", fmt(expected), fmt(actual)), 2)
  end
end

function M.truthy(value, what)
  if not value then
    error((what or "expected a true value") .. ", got " .. fmt(value), 2)
  end
  return value
end

function M.contains(haystack, needle, what)
  if type(haystack) ~= "string" or not haystack:find(needle, 1, true) then
    error(("%sexpected %s to contain %s"):format(what and (what .. ": ") or "", fmt(haystack), fmt(needle)), 2)
  end
end

--- Wait (processing events) until `cond()` returns a true value.
---@return any the value
function M.wait(cond, what, timeout)
  local value
  local ok = vim.wait(timeout or 10000, function()
    value = cond()
    return value and true or false
  end, 20)
  if not ok then
    error("timed out waiting for " .. (what or "a condition"), 2)
  end
  return value
end

-- vim.notify is captured: tests read M.messages. M.seen keeps every
-- message of the file, notified or echoed, across clear_messages().
M.messages = {}
M.seen = {}
vim.notify = function(msg, level)
  table.insert(M.messages, { msg = tostring(msg), level = level or vim.log.levels.INFO })
  table.insert(M.seen, tostring(msg))
end

function M.clear_messages()
  M.messages = {}
  table.insert(M.seen, vim.api.nvim_exec2("messages", { output = true }).output)
  vim.cmd("silent! messages clear")
end

--- The first captured message containing `needle` (waits for it). Messages
--- Neovim echoes itself (the LSP showMessage handler before 0.12) count too,
--- with level nil.
function M.message(needle, what)
  return M.wait(function()
    for _, m in ipairs(M.messages) do
      if m.msg:find(needle, 1, true) then
        return m
      end
    end
    local echoed = vim.api.nvim_exec2("messages", { output = true }).output
    if echoed:find(needle, 1, true) then
      return { msg = echoed }
    end
  end, what or ("a message containing " .. fmt(needle)))
end

--- A project folder with a .git marker and a file in it, opened.
---@param name string file name inside the project
---@param lines string[]
---@return integer bufnr
function M.open(name, lines)
  local dir = M.tmp .. "/project"
  vim.fn.mkdir(dir .. "/.git", "p")
  local path = dir .. "/" .. name
  vim.fn.writefile(lines, path)
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  return vim.api.nvim_get_current_buf()
end

--- The CodeGenie client attached to a buffer (waits for it).
function M.client(bufnr)
  return M.wait(function()
    return vim.lsp.get_clients({ name = "codegenie", bufnr = bufnr })[1]
  end, "the codegenie client to attach")
end

--- The lines of a buffer.
---@param buf integer
---@return string[]
function M.lines(buf)
  return vim.api.nvim_buf_get_lines(buf, 0, -1, false)
end

--- Sign up (and so log in) through the server, bypassing the plugin; fails
--- the file when the server says no.
---@param client vim.lsp.Client
---@param username string
---@param password string
function M.signup(client, username, password)
  local _, err = M.exec_sync(client, "codegenie.signup", {
    email = username .. "@example.com",
    username = username,
    password = password,
  })
  M.eq(nil, err, "signup of " .. username)
end

--- Record CodeGenie's work-done progress as Neovim reports it (LspProgress):
--- returns the list of `{token, value}`, filled as they come, and a function
--- that empties it.
---@return { token: string, value: table }[] events, fun() clear
function M.progress_events()
  local events = {}
  vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(ev)
      local params = ev.data.params
      if type(params.token) == "string" and vim.startswith(params.token, "codegenie/") then
        table.insert(events, { token = params.token, value = params.value })
      end
    end,
  })
  return events, function()
    for i = #events, 1, -1 do
      events[i] = nil
    end
  end
end

--- Record the requests the plugin sends: returns the list, filled as they go.
function M.spy_requests()
  local lsp = require("codegenie.lsp")
  local sent = {}
  local original = lsp.request
  lsp.request = function(client, method, params, handler, bufnr)
    local entry = { method = method, params = params }
    table.insert(sent, entry)
    return original(client, method, params, function(err, result, ctx)
      entry.err, entry.result, entry.done = err, result, true
      handler(err, result, ctx)
    end, bufnr)
  end
  return sent, function()
    lsp.request = original
  end
end

--- The first recorded `workspace/executeCommand` (of `command`, if given)
--- that has its reply; waits for it.
function M.executed(sent, command)
  return M.wait(function()
    for _, r in ipairs(sent) do
      if r.method == "workspace/executeCommand" and r.done and (not command or r.params.command == command) then
        return r
      end
    end
  end, "workspace/executeCommand " .. (command or ""))
end

--- A synchronous `workspace/executeCommand` (bypassing the plugin).
function M.exec_sync(client, command, args)
  local reply = require("codegenie.lsp").exec_sync(client, command, args, 10000)
  assert(reply, "no reply to " .. command)
  return reply.result, reply.err
end

local cleanups = {}

--- Run `fn` when the file's tests are done (before Neovim exits).
---@param fn fun()
function M.defer(fn)
  table.insert(cleanups, fn)
end

--- The test model server built next to the binary under test, if any.
M.model_server_bin = vim.fs.dirname(M.bin) .. "/codegenie-model-server"

--- A test model server of the file's own on a free loopback port, started
--- with extra arguments (e.g. `--token-delay-ms 100`); stopped at the end.
--- Returns nil when it is not built.
---@param args string[]
---@return { url: string, control: fun(path: string, body?: table): table }?
function M.model_server(args)
  if vim.fn.executable(M.model_server_bin) ~= 1 then
    return nil
  end
  -- Its first line on stdout, once it listens: "listening on URL".
  local out = ""
  local cmd = vim.list_extend({ M.model_server_bin, "--port", "0" }, args)
  local proc = vim.system(cmd, {
    text = true,
    stdout = function(_, data)
      out = out .. (data or "")
    end,
  })
  M.defer(function()
    proc:kill("sigterm")
  end)
  local url = M.wait(function()
    return out:match("listening on (http://127%.0%.0%.1:%d+)\n")
  end, "the model server to listen")
  return {
    url = url,
    --- GET (or POST with `body`) one of the server's /_control/ endpoints.
    control = function(path, body)
      local curl = { "curl", "-sS", "--max-time", "10", url .. "/_control/" .. path }
      if body then
        vim.list_extend(curl, { "-X", "POST", "-H", "content-type: application/json", "-d", vim.json.encode(body) })
      end
      local reply = vim.system(curl, { text = true }):wait()
      assert(reply.code == 0, "curl failed: " .. tostring(reply.stderr))
      return vim.json.decode(reply.stdout)
    end,
  }
end

--- `M.model_server(args)`; when it is not built, the file reports one
--- skipped test saying what needed it, and this returns nil (the caller
--- then returns).
---@param args string[]
---@param what string
function M.model_server_or_skip(args, what)
  local server = M.model_server(args)
  if not server then
    M.test(what .. " needs the test model server (skipped: not built)", function() end)
    M.run()
  end
  return server
end

--- Set the plugin up against the real server and, when given, the model
--- endpoint `url` (through the environment: the server takes no `hf.*` key
--- from editor settings). Cheap password hashing for the many signups is in
--- run.sh's config file.
---@param url? string
function M.setup_plugin(url)
  local cmd = { M.bin, "serve" }
  if url then
    cmd = { "env", "CODEGENIE_HF_URL=" .. url, M.bin, "serve" }
  end
  require("codegenie").setup({ cmd = cmd })
end

--- Write a line of the report: to $CODEGENIE_TEST_LOG when set (Neovim's
--- own output, prompts included, then stays out of the report), else stdout.
local log = vim.env.CODEGENIE_TEST_LOG and assert(io.open(vim.env.CODEGENIE_TEST_LOG, "a"))
local function report(text)
  local stream = log or io.stdout
  stream:write(text)
  stream:flush()
end

--- Run every registered test, print TAP-like lines, write the counts and exit.
function M.run()
  local passed, failed = 0, 0
  for _, t in ipairs(tests) do
    M.clear_messages()
    local ok, err = xpcall(t.fn, debug.traceback)
    if ok then
      passed = passed + 1
      report(("ok - %s\n"):format(t.name))
    else
      failed = failed + 1
      report(("not ok - %s\n%s\n"):format(t.name, tostring(err):gsub("^", "    "):gsub("\n", "\n    ")))
      if #M.messages > 0 then
        report("    messages:\n")
        for _, m in ipairs(M.messages) do
          report(("      [%s] %s\n"):format(m.level, m.msg))
        end
      end
    end
    -- Close whatever the test left open (floats, splits), keep the server.
    pcall(vim.cmd, "silent! only!")
  end
  for _, fn in ipairs(cleanups) do
    pcall(fn)
  end
  local out = vim.env.CODEGENIE_TEST_RESULTS
  if out then
    local f = assert(io.open(out, "a"))
    f:write(("%d %d\n"):format(passed, failed))
    f:close()
  end
  for _, client in ipairs(vim.lsp.get_clients()) do
    if vim.fn.has("nvim-0.11") == 1 then
      client:stop(true)
    else
      client.stop(true)
    end
  end
  os.exit(failed == 0 and 0 or 1)
end

return M
