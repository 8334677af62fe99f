-- window/showMessageRequest of the codegenie client goes through
-- vim.ui.select. The real server does not send one yet: a small language
-- server (fake_server.lua) sends them over the real RPC path.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

local here = vim.fs.dirname(debug.getinfo(1, "S").source:sub(2))
local answers_path = h.tmp .. "/answers.jsonl"
local global_handler = vim.lsp.handlers["window/showMessageRequest"]

-- Every notification of the file (the harness clears its list per test).
local notified = {}
local harness_notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(notified, { msg = msg, level = level })
  return harness_notify(msg, level, opts)
end

-- The user's choices, in order: the second action, then dismiss.
local shown = {}
local choices = { 2, nil }
local original_select = vim.ui.select
vim.ui.select = function(items, opts, on_choice)
  table.insert(shown, {
    prompt = opts.prompt,
    kind = opts.kind,
    items = vim.tbl_map(opts.format_item or tostring, items),
  })
  local i = table.remove(choices, 1)
  on_choice(i and items[i], i)
end

require("codegenie").setup({
  cmd = { vim.v.progpath, "--clean", "-l", here .. "/fake_server.lua", answers_path },
})
local buf = h.open("doc.py", { "# a comment" })
local client = h.client(buf)

--- The answers the fake server received (waits for `n`).
local function answers(n)
  return h.wait(function()
    local lines = vim.fn.filereadable(answers_path) == 1 and vim.fn.readfile(answers_path) or {}
    return #lines >= n and vim.tbl_map(vim.json.decode, lines)
  end, n .. " answers")
end

test("the actions are offered with vim.ui.select, the message as its prompt", function()
  answers(1)
  eq({
    prompt = "CodeGenie: the document changed, so the code was not inserted",
    kind = "codegenie.message_request",
    items = { "Insert again", "Show in a buffer" },
  }, shown[1])
end)

test("the chosen action is the answer; dismissing answers null", function()
  local got = answers(3)
  eq({ id = 1, result = { title = "Show in a buffer" } }, got[1])
  eq(2, got[2].id)
  eq(vim.NIL, got[2].result, "dismissed")
  eq(nil, got[2].error)
end)

test("a request without actions is shown as a message and answered null", function()
  local got = answers(3)
  eq({ id = 3, result = vim.NIL }, got[3])
  eq(2, #shown, "no picker for it")
  eq({ { msg = "CodeGenie: nothing to choose", level = vim.log.levels.INFO } }, notified)
end)

test("the handler is the codegenie client's own, not Neovim's global one", function()
  local handlers = client.handlers or client.config.handlers
  truthy(handlers["window/showMessageRequest"], "registered for the client")
  eq(global_handler, vim.lsp.handlers["window/showMessageRequest"], "the global handler is untouched")
end)

test("outside a coroutine Neovim's own handler answers", function()
  local calls = {}
  vim.lsp.handlers["window/showMessageRequest"] = function(_, params)
    table.insert(calls, params.message)
    return { title = "from Neovim" }
  end
  local ok, answer = pcall(require("codegenie.lsp").show_message_request, nil, {
    type = 2,
    message = "sync",
    actions = { { title = "from Neovim" } },
  }, { client_id = client.id })
  vim.lsp.handlers["window/showMessageRequest"] = global_handler
  assert(ok, answer)
  eq({ title = "from Neovim" }, answer)
  eq({ "sync" }, calls)
end)

h.defer(function()
  vim.ui.select = original_select
end)
h.run()
