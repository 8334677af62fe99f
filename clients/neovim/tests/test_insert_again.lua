-- The buffer changes while the model writes: Neovim must refuse the edit made
-- for the old version (its own handler drops it and says "applied"), the
-- server then asks, and "Insert again" puts the code after the comment where
-- it is now.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

-- One chunk every 400 ms: about 3 s for the whole answer, time enough to
-- change the buffer once the stream has begun.
local answer = "def reverse(s):\n    # walk it backwards\n    return s[::-1]"
local slow = h.model_server_or_skip({ "--token-delay-ms", "400", "--answer", answer }, "insert again")
if not slow then
  return
end

h.setup_plugin(slow.url)

local py = h.open("again.py", { "def main():", "    # reverse a string", "    pass" })
local client = h.client(py)
h.signup(client, "nvimagain", "correct horse 3")

local lines = h.lines

--- The CodeGenie progress events (LspProgress).
local events, clear_events = h.progress_events()

local function event(token, kind, pattern)
  for _, e in ipairs(events) do
    if (not token or e.token == token) and e.value.kind == kind and (e.value.message or ""):find(pattern or "") then
      return e
    end
  end
end

--- vim.ui.select answering the server's questions with `choose(items)`;
--- returns what was asked, filled as it goes.
local function answer_questions(choose)
  local asked = {}
  local original = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    if opts.kind ~= "codegenie.message_request" then
      return original(items, opts, on_choice)
    end
    table.insert(asked, { prompt = opts.prompt, items = vim.tbl_map(opts.format_item, items) })
    on_choice(choose(items))
  end
  h.defer(function()
    vim.ui.select = original
  end)
  return asked, function()
    vim.ui.select = original
  end
end

test("an edit for an older version is refused with the reason, a current one applied", function()
  local buf = h.open("versions.py", { "x = 1" })
  local c = h.client(buf)
  local uri = vim.uri_from_bufnr(buf)
  local old = vim.lsp.util.buf_versions[buf]
  vim.api.nvim_buf_set_lines(buf, 0, 0, false, { "# a change" })
  local current = vim.lsp.util.buf_versions[buf]
  truthy(current > old, "the version moved on")
  local at = { line = 0, character = 0 }
  local function edit(version, text)
    return {
      edit = {
        documentChanges = {
          {
            textDocument = { uri = uri, version = version },
            edits = {
              { range = { start = at, ["end"] = at }, newText = text },
            },
          },
        },
      },
    }
  end
  local lsp = require("codegenie.lsp")
  local refused = lsp.apply_edit(nil, edit(old, "stale\n"), { client_id = c.id, method = "workspace/applyEdit" })
  eq(false, refused.applied)
  h.contains(refused.failureReason, "versions.py changed")
  eq({ "# a change", "x = 1" }, lines(buf), "nothing applied")
  local applied = lsp.apply_edit(nil, edit(current, "fresh\n"), { client_id = c.id, method = "workspace/applyEdit" })
  eq(true, applied.applied)
  eq({ "fresh", "# a change", "x = 1" }, lines(buf))
end)

test("changed while generating: refused, asked, inserted again below the comment where it is now", function()
  local asked, restore = answer_questions(function(items)
    for _, item in ipairs(items) do
      if item.title == "Insert again" then
        return item
      end
    end
  end)
  vim.api.nvim_set_current_buf(py)
  vim.api.nvim_win_set_cursor(0, { 2, 6 })
  vim.cmd("CodeGenie generate")
  local streaming = h.wait(function()
    return event(nil, "report", "^streaming")
  end, "the model to stream", 30000)
  -- The user goes on writing above the comment while the model answers.
  vim.api.nvim_buf_set_lines(py, 0, 0, false, { "import sys", "" })
  local ended = h.wait(function()
    return event(streaming.token, "end")
  end, "the progress to end", 30000)
  eq("not inserted: the document changed", ended.value.message)
  h.wait(function()
    return asked[1]
  end, "the server's question")
  h.contains(asked[1].prompt, "again.py changed")
  eq({ "Insert again" }, asked[1].items)
  h.wait(function()
    return lines(py)[5] == "    def reverse(s):"
  end, "the code inserted again", 20000)
  restore()
  eq({
    "import sys",
    "",
    "def main():",
    "    # reverse a string",
    "    def reverse(s):",
    "        # walk it backwards",
    "        return s[::-1]",
    "    pass",
  }, lines(py))
  eq(1, #asked, "asked once")
  local id = streaming.token:gsub("^codegenie/", "")
  local result = h.exec_sync(client, "codegenie.historyEntry", { id = id })
  eq("ok", result.entry.status)
end)

test("dismissing the question leaves the buffer as the user made it", function()
  clear_events()
  local asked, restore = answer_questions(function()
    return nil
  end)
  local buf = h.open("dismiss.py", { "# reverse a string", "y = 2" })
  h.client(buf)
  vim.api.nvim_win_set_cursor(0, { 1, 3 })
  vim.cmd("CodeGenie generate")
  h.wait(function()
    return event(nil, "report", "^streaming")
  end, "the model to stream", 30000)
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, { "z = 3" })
  h.wait(function()
    return asked[1]
  end, "the server's question", 30000)
  restore()
  eq({ "# reverse a string", "y = 2", "z = 3" }, lines(buf))
end)

h.run()
