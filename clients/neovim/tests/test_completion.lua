-- Inline completion for real: Neovim's own vim.lsp.inline_completion (0.12),
-- the real server, and a real model (SmolLM2, CODEGENIE_TEST_GGUF, added as
-- a user model that completes from the text before the cursor).
local h = require("harness")
local test, eq = h.test, h.eq

if vim.fn.has("nvim-0.12") == 0 then
  test("completion = true on Neovim 0.11 says it needs 0.12 and breaks nothing", function()
    require("codegenie").setup({ cmd = { h.bin, "serve" }, completion = true })
    h.message("needs Neovim 0.12")
    local buf = h.open("a.py", { "x = 1" })
    h.client(buf)
    eq(false, require("codegenie.completion").is_enabled(buf))
  end)
  h.run()
  return
end

local gguf = vim.env.CODEGENIE_TEST_GGUF
if not gguf or gguf == "" then
  test("inline completion needs the test model (skipped: CODEGENIE_TEST_GGUF is not set)", function() end)
  h.run()
  return
end

-- The model, in a trusted config file of the test's own (the server inherits it).
local config = h.tmp .. "/completion.toml"
vim.fn.writefile({
  'model = "smol"',
  "[local]",
  "context = 2048",
  "[completion]",
  "max_tokens = 16",
  "[models.smol]",
  ("path = %q"):format(gguf),
  "chat = false",
}, config)
vim.env.CODEGENIE_CONFIG = config
require("codegenie").setup({ cmd = { h.bin, "serve" }, completion = true })

local ns = vim.api.nvim_create_namespace("nvim.lsp.inline_completion")

-- Typed keys are handled by Neovim's main loop, which runs only while no
-- Lua code does: the tests run in a coroutine that yields to it while it
-- waits (h.wait would hold the loop and nothing typed would arrive).
local function wait(cond, what, timeout)
  local deadline = vim.uv.now() + (timeout or 10000)
  local co = coroutine.running()
  while true do
    local value = cond()
    if value then
      return value
    end
    if vim.uv.now() > deadline then
      error("timed out waiting for " .. what, 2)
    end
    vim.defer_fn(function()
      coroutine.resume(co)
    end, 20)
    coroutine.yield()
  end
end

local function type_keys(keys)
  vim.api.nvim_feedkeys(vim.keycode(keys), "m", false)
end

--- The ghost text shown in a buffer: its lines, once there is one.
local function ghost(buf)
  local mark = vim.api.nvim_buf_get_extmarks(buf, ns, 0, -1, { details = true })[1]
  if not mark or not mark[4].virt_text then
    return nil
  end
  local text = {}
  for _, chunk in ipairs(mark[4].virt_text) do
    table.insert(text, chunk[1])
  end
  local lines = { table.concat(text) }
  for _, virt_line in ipairs(mark[4].virt_lines or {}) do
    local line = {}
    for _, chunk in ipairs(virt_line) do
      table.insert(line, chunk[1])
    end
    table.insert(lines, table.concat(line))
  end
  return lines
end

test("typing shows a suggestion as ghost text and <Tab> accepts it", function()
  local start = { "def area(r):", "    return 3.14 * r * r", "", "numbers = [1, 2, 3, 4, 5, 6, 7, 8, 9" }
  local buf = h.open("numbers.py", start)
  local client = h.client(buf)
  h.truthy(require("codegenie.completion").is_enabled(buf), "suggestions are on for the CodeGenie client")
  h.truthy(client.server_capabilities.inlineCompletionProvider, "the server offers inline completion")
  vim.api.nvim_win_set_cursor(0, { 4, #start[4] })
  -- Type a comma at the end of the line, and stay in Insert mode.
  type_keys("A,")
  wait(function()
    return vim.api.nvim_get_mode().mode == "i" and h.lines(buf)[4] == start[4] .. ","
  end, "the comma typed")
  local shown = wait(function()
    return ghost(buf)
  end, "the ghost text", 60000)
  h.truthy(#shown[1] > 0 or #shown > 1, "a suggestion: " .. vim.inspect(shown))
  eq(start[4] .. ",", h.lines(buf)[4], "ghost text is not in the buffer")
  -- <Tab> accepts it: the buffer then holds what was shown.
  type_keys("<Tab>")
  local expected = vim.deepcopy(shown)
  expected[1] = start[4] .. "," .. expected[1]
  wait(function()
    return vim.deep_equal(vim.list_slice(h.lines(buf), 4, 3 + #expected), expected)
  end, "the suggestion in the buffer: " .. vim.inspect(expected), 10000)
  eq(nil, ghost(buf), "the ghost text is gone")
  type_keys("<Esc>")
  wait(function()
    return vim.api.nvim_get_mode().mode == "n"
  end, "Normal mode")
end)

test("<Tab> with no suggestion is a plain <Tab>, and the toggle turns suggestions off", function()
  local buf = h.open("plain.py", { "x = 1" })
  h.client(buf)
  require("codegenie").completion(false)
  eq(false, require("codegenie.completion").is_enabled(buf))
  vim.api.nvim_win_set_cursor(0, { 1, 0 })
  type_keys("I<Tab><Esc>")
  wait(function()
    return h.lines(buf)[1] ~= "x = 1" and vim.api.nvim_get_mode().mode == "n"
  end, "the tab typed")
  h.truthy(h.lines(buf)[1]:match("^%s+x = 1$"), "a tab (or spaces) before the text: " .. h.lines(buf)[1])
  require("codegenie").completion(true)
  eq(true, require("codegenie.completion").is_enabled(buf))
end)

vim.schedule(function()
  coroutine.wrap(h.run)()
end)
