-- The plugin's own UI, fed with the messages of the contract: explanation
-- notifications, work-done progress through Neovim's own handler, and the
-- history picker with scripted answers.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

require("codegenie").setup({ cmd = { h.bin, "serve" } })
local buf = h.open("ui.py", { "# print hello", "" })
local client = h.client(buf)

local function explanation(params)
  local handlers = client.handlers or client.config.handlers
  handlers["codegenie/explanation"](nil, params, { client_id = client.id, method = "codegenie/explanation" })
end

local function lines(b)
  return vim.api.nvim_buf_get_lines(b, 0, -1, false)
end

test("explanations open a markdown float, growing in place as they stream", function()
  local before = vim.api.nvim_get_current_win()
  explanation({ id = "e1", title = "Explanation", append = "# Expl", done = false })
  local view = require("codegenie.explain").views.e1
  truthy(view and view.win, "a window")
  eq(view.win, vim.api.nvim_get_current_win(), "the float has the focus")
  eq("editor", vim.api.nvim_win_get_config(view.win).relative)
  eq("markdown", vim.bo[view.buf].filetype)
  eq({ "# Expl" }, lines(view.buf))
  explanation({ id = "e1", append = "anation\n\nIt prints", done = false })
  eq({ "# Explanation", "", "It prints" }, lines(view.buf))
  explanation({ id = "e1", title = "Explanation", append = " `hello`.", done = true })
  eq({ "# Explanation", "", "It prints `hello`." }, lines(view.buf))
  eq(view.win, require("codegenie.explain").views.e1.win, "the same window")
  eq(3, vim.api.nvim_win_get_height(view.win), "grows with the text")
  eq(false, vim.bo[view.buf].modifiable)
  vim.api.nvim_feedkeys("q", "x", false)
  eq(false, vim.api.nvim_win_is_valid(view.win), "q closes")
  eq(before, vim.api.nvim_get_current_win())
  explanation({ id = "e1", title = "Explanation", markdown = "late", done = true })
  eq(nil, require("codegenie.explain").views.e1, "a closed explanation stays closed")
end)

test("`markdown` replaces what was streamed (a retry, a failure)", function()
  explanation({ id = "r1", title = "Retry", append = "first try", done = false })
  explanation({ id = "r1", markdown = "", done = false })
  explanation({ id = "r1", append = "second", done = false })
  local view = require("codegenie.explain").views.r1
  eq({ "second" }, lines(view.buf))
  eq("Retry", view.title, "the title stays")
  explanation({ id = "r1", markdown = "*The explanation failed: timeout*", done = true })
  eq({ "*The explanation failed: timeout*" }, lines(view.buf))
  require("codegenie.explain").close("r1")
end)

test("a long explanation scrolls inside a bounded float", function()
  local md = {}
  for i = 1, 200 do
    md[i] = "line " .. i
  end
  explanation({ id = "e2", title = "Long", markdown = table.concat(md, "\n"), done = true })
  local view = require("codegenie.explain").views.e2
  truthy(vim.api.nvim_win_get_height(view.win) < 200, "height bounded")
  vim.cmd("normal! G")
  eq(200, vim.api.nvim_win_get_cursor(view.win)[1])
  require("codegenie.explain").close("e2")
end)

test("layout = split opens the explanation in a split", function()
  require("codegenie").setup({ cmd = { h.bin, "serve" }, explain = { layout = "split" } })
  local wins = #vim.api.nvim_tabpage_list_wins(0)
  explanation({ id = "e3", title = "Split", markdown = "text", done = true })
  local view = require("codegenie.explain").views.e3
  eq("", vim.api.nvim_win_get_config(view.win).relative, "not a float")
  eq(wins + 1, #vim.api.nvim_tabpage_list_wins(0))
  require("codegenie.explain").close("e3")
  require("codegenie").setup({ cmd = { h.bin, "serve" } })
end)

--- Deliver a `$/progress` notification through Neovim's own handler.
local function progress(token, value)
  vim.lsp.handlers["$/progress"](
    nil,
    { token = token, value = value },
    { client_id = client.id, method = "$/progress" }
  )
end

test("progress goes through Neovim's LspProgress; :CodeGenie cancel cancels the running token", function()
  local events = {}
  local au = vim.api.nvim_create_autocmd("LspProgress", {
    callback = function(ev)
      table.insert(events, ev.data.params.token)
    end,
  })
  progress("codegenie/7", { kind = "begin", title = "CodeGenie: phi-2", cancellable = true, message = "waiting…" })
  progress("other/1", { kind = "begin", title = "indexing" })
  progress("codegenie/7", { kind = "report", message = "streaming, 12 chars" })
  h.wait(function()
    return #events == 3
  end, "three LspProgress events")
  vim.api.nvim_del_autocmd(au)
  eq({ "codegenie/7" }, require("codegenie").running())
  h.contains(vim.lsp.status(), "streaming, 12 chars")

  local lsp = require("codegenie.lsp")
  local notified = {}
  local original = lsp.notify
  lsp.notify = function(c, method, params)
    table.insert(notified, { method = method, params = params })
    return original(c, method, params)
  end
  vim.cmd("CodeGenie cancel")
  lsp.notify = original
  eq({ { method = "window/workDoneProgress/cancel", params = { token = "codegenie/7" } } }, notified)
  h.message("cancelling 1 request")

  progress("codegenie/7", { kind = "end", message = "cancelled" })
  eq({}, require("codegenie").running())
end)

test(":CodeGenie cancel with nothing tracked asks the server (codegenie.cancel)", function()
  local sent, restore = h.spy_requests()
  vim.cmd("CodeGenie cancel")
  local req = h.wait(function()
    return sent[1] and sent[1].done and sent[1]
  end, "codegenie.cancel")
  restore()
  eq("codegenie.cancel", req.params.command)
  if req.err then
    h.message(req.err.message)
  end
end)

local entries = {
  {
    id = "h1",
    kind = "generate",
    model = "phi-2",
    language = "python",
    prompt = "print hello",
    output = 'print("hello")',
    status = "ok",
    latencyMs = 120,
    createdAt = 1767261600000, -- milliseconds, as the server sends them
  },
  {
    id = "h2",
    kind = "explain",
    model = "gemma",
    language = "python",
    prompt = "x = 1",
    output = "Sets x.",
    status = "ok",
    latencyMs = 80,
    createdAt = 1767348000000,
  },
  -- Account events are in the server's history too; the picker leaves them out.
  { id = "h3", kind = "login", createdAt = 1767400000000, model = vim.NIL },
}

--- Answer `codegenie.history` (and record every command) without a server.
local function fake_server()
  local lsp = require("codegenie.lsp")
  local calls = {}
  local original = lsp.request
  lsp.request = function(_, method, params, handler)
    table.insert(calls, params)
    if method == "workspace/executeCommand" and params.command == "codegenie.history" then
      handler(nil, { entries = vim.deepcopy(entries) }, {})
    else
      handler(nil, vim.empty_dict(), {})
    end
  end
  return calls, function()
    lsp.request = original
  end
end

--- Script vim.ui.select: choose(items, opts) returns the index to pick.
local function script_select(choices)
  local shown = {}
  local original = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    table.insert(shown, vim.tbl_map(opts.format_item or tostring, items))
    local i = table.remove(choices, 1)
    on_choice(items[i], i)
  end
  return shown, function()
    vim.ui.select = original
  end
end

test("history lists newest first with a preview, and inserts the output at the cursor", function()
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  local calls, restore = fake_server()
  local shown, restore_select = script_select({ 2, 1 })
  vim.cmd("CodeGenie history")
  restore()
  restore_select()
  eq("codegenie.history", calls[1].command)
  eq({ limit = 50 }, calls[1].arguments[1])
  local list = shown[1]
  eq(2, #list, "account events left out")
  h.contains(list[1], os.date("%Y-%m-%d %H:%M", 1767348000))
  h.contains(list[1], "explain")
  h.contains(list[1], "x = 1 → Sets x.")
  h.contains(list[2], 'print hello → print("hello")')
  eq({ "Insert the output at the cursor", "Open in a scratch buffer", "Delete the entry" }, shown[2])
  eq({ "# print hello", 'print("hello")', "" }, lines(buf))
end)

test("server times: milliseconds, or RFC 3339 in UTC, shown as local dates", function()
  local util = require("codegenie.util")
  eq(1767348000000, util.millis(1767348000000))
  eq(1767348000000, util.millis("2026-01-02T10:00:00Z"))
  eq(951868747000, util.millis("2000-02-29T23:59:07.120Z"))
  eq(-86400000, util.millis("1969-12-31T00:00:00Z"))
  eq(nil, util.millis("yesterday"))
  eq(os.date("%Y-%m-%d %H:%M", 1767348000), util.time(1767348000000))
  eq("?", util.time(vim.NIL))
  eq("?", util.time(nil))
end)

test("history opens an entry in a scratch buffer, or deletes it", function()
  local calls, restore = fake_server()
  local _, restore_select = script_select({ 1, 2, 2, 3 })
  vim.cmd("CodeGenie history kind=explain")
  eq({ limit = 50, kind = "explain" }, calls[1].arguments[1])
  local scratch = vim.api.nvim_get_current_buf()
  eq("nofile", vim.bo[scratch].buftype)
  eq("markdown", vim.bo[scratch].filetype)
  local text = table.concat(lines(scratch), "\n")
  h.contains(text, "## Prompt\n\n```python\nx = 1\n```")
  h.contains(text, "Sets x.")
  vim.cmd("CodeGenie history")
  restore()
  restore_select()
  eq({ command = "codegenie.deleteHistoryEntry", arguments = { { id = "h1" } } }, calls[#calls])
  h.message("history entry deleted")
end)

h.run()
