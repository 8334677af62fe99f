-- :CodeGenie cancel against the real server while a slow model streams:
-- the progress ends "cancelled", nothing is inserted, the history says so.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

-- A model server of this file's own that streams one word every 100 ms: an
-- answer of 400 words takes 40 s, so the work is surely running when cancelled.
local words = {}
for i = 1, 400 do
  words[i] = "word" .. i
end
local slow = h.model_server_or_skip({ "--token-delay-ms", "100", "--answer", table.concat(words, " ") }, "cancel")
if not slow then
  return
end

h.setup_plugin(slow.url)

local py = h.open("slow.py", { "import os", "", "# reverse a string", "x = 1" })
local client = h.client(py)
h.signup(client, "nvimcancel", "correct horse 2")

local lines = h.lines

--- The CodeGenie progress events, as Neovim reports them (LspProgress).
local events, clear_events = h.progress_events()

--- The token of the first progress that reports streaming (waits for it).
local function streaming()
  return h.wait(function()
    for _, e in ipairs(events) do
      if e.value.kind == "report" and (e.value.message or ""):find("^streaming") then
        return e.token
      end
    end
  end, "the model to stream", 30000)
end

--- The end event of `token` (waits for it).
local function ended(token)
  return h.wait(function()
    for _, e in ipairs(events) do
      if e.token == token and e.value.kind == "end" then
        return e.value
      end
    end
  end, "the progress of " .. token .. " to end", 20000)
end

--- The history entry of a token, once its status is `status`.
local function entry_of(token, status)
  local id = token:gsub("^codegenie/", "")
  return h.wait(function()
    local result = h.exec_sync(client, "codegenie.historyEntry", { id = id })
    return result and result.entry and result.entry.status == status and result.entry
  end, "history entry " .. id .. " with status " .. status)
end

test(":CodeGenie cancel stops a streaming generation: progress ends cancelled, nothing inserted", function()
  vim.api.nvim_set_current_buf(py)
  local before, tick = lines(py), vim.b[py].changedtick
  vim.api.nvim_win_set_cursor(0, { 3, 4 })
  vim.cmd("CodeGenie generate")
  local token = streaming()
  eq({ token }, require("codegenie").running())
  h.contains(vim.lsp.status(), "streaming", "vim.lsp.status()")
  local begin = events[1].value
  eq("begin", begin.kind)
  eq(true, begin.cancellable)

  vim.cmd("CodeGenie cancel")
  h.message("cancelling 1 request")
  eq("cancelled", ended(token).message)
  eq({}, require("codegenie").running())

  local entry = entry_of(token, "cancelled")
  eq("generate", entry.kind)
  h.contains(entry.prompt or "", "reverse a string")
  -- The model's answer was abandoned mid-stream, not read to its end.
  h.wait(function()
    return slow.control("stats").disconnects >= 1
  end, "the model request to be aborted")
  eq(0, slow.control("stats").completed, "no answer read to its end")
  eq(before, lines(py), "the buffer is unchanged")
  eq(tick, vim.b[py].changedtick, "not even touched")
end)

test(":CodeGenie cancel stops an explanation: the float says cancelled", function()
  clear_events()
  vim.api.nvim_set_current_buf(py)
  vim.cmd("normal! ggVj\27")
  vim.cmd("'<,'>CodeGenie explain")
  local token = streaming()
  vim.cmd("CodeGenie cancel")
  eq("cancelled", ended(token).message)
  local view = h.wait(function()
    local v = require("codegenie.explain").views[token:gsub("^codegenie/", "")]
    return v and v.done and v
  end, "the explanation to end")
  h.contains(table.concat(lines(view.buf), "\n"), "Cancelled.")
  eq("explain", entry_of(token, "cancelled").kind)
end)

test("cancelled work is in :CodeGenie history with its status", function()
  local shown
  local original = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    shown = shown or vim.tbl_map(opts.format_item, items)
    on_choice(nil)
  end
  vim.cmd("CodeGenie history")
  h.wait(function()
    return shown
  end, "the history picker")
  vim.ui.select = original
  local cancelled = vim.tbl_filter(function(line)
    return line:find("[cancelled]", 1, true) ~= nil
  end, shown)
  eq(2, #cancelled, "both entries marked: " .. vim.inspect(shown))
  truthy(shown[1]:find("explain", 1, true), "the explanation, newest, first")
end)

h.run()
