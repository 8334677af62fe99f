-- The server started by the plugin: attach, encoding, code actions, the
-- generate/explain requests, the model choice and the settings.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

require("codegenie").setup({ cmd = { h.bin, "serve" }, settings = { log = "warn" } })

local py, lua_buf

test("the server attaches to a Python and a Lua buffer, one client per root", function()
  py = h.open("main.py", { "import csv", "", "# read a CSV file and print the mean of column 2", "" })
  eq("python", vim.bo[py].filetype)
  local client = h.client(py)
  lua_buf = h.open("init.lua", { "-- return the sum of a list of numbers", "local x = 1" })
  eq("lua", vim.bo[lua_buf].filetype)
  local client2 = h.client(lua_buf)
  eq(client.id, client2.id)
  eq(vim.fn.resolve(h.tmp .. "/project"), vim.fn.resolve(client.root_dir or client.config.root_dir))
  eq(1, #vim.lsp.get_clients({ name = "codegenie" }))
end)

test("initializationOptions carry the settings and the client's capabilities", function()
  local client = h.client(py)
  eq({
    codegenie = { log = "warn" },
    client = { explanationNotification = true, name = "codegenie.nvim" },
  }, client.config.init_options)
  truthy(client.server_capabilities.codeActionProvider, "code actions advertised")
  local commands = client.server_capabilities.executeCommandProvider.commands
  truthy(vim.tbl_contains(commands, "codegenie.generate"), "codegenie.generate advertised")
  truthy(vim.tbl_contains(commands, "codegenie.models"), "codegenie.models advertised")
end)

test("the position encoding is UTF-8", function()
  eq("utf-8", h.client(py).offset_encoding)
end)

test("special buffers and unnamed buffers get no server", function()
  vim.cmd("enew")
  vim.bo.buftype = "nofile"
  vim.bo.filetype = "python"
  eq(0, #vim.lsp.get_clients({ bufnr = 0 }))
  vim.cmd("enew")
  vim.bo.filetype = "lua"
  eq(0, #vim.lsp.get_clients({ bufnr = 0 }))
end)

test("a comment offers the default generate action and one per other model", function()
  vim.api.nvim_set_current_buf(py)
  local client = h.client(py)
  vim.api.nvim_win_set_cursor(0, { 3, 5 })
  local actions_mod = require("codegenie.actions")
  local actions
  actions_mod.code_actions(client, py, actions_mod.kinds.generate, actions_mod.cursor_range(py, "utf-8"), function(a)
    actions = a
  end)
  h.wait(function()
    return actions
  end, "code actions")
  local titles = vim.tbl_map(function(a)
    return a.title
  end, actions)
  eq({
    "CodeGenie: Generate code from comment",
    "CodeGenie: Generate with phi-2",
    "CodeGenie: Generate with gemma",
    "CodeGenie: Generate with stable-code",
    "CodeGenie: Generate with replit-code",
    "CodeGenie: Generate with qwen-coder",
  }, titles)
  eq("codegenie.generate", actions[1].command.command)
  eq(nil, actions_mod.action_model(actions[1]))
  eq("phi-2", actions_mod.action_model(actions[2]))
  eq(actions[2], actions_mod.pick(actions, "phi-2"))
end)

test(":CodeGenie generate runs the action's command for the comment at the cursor", function()
  vim.api.nvim_set_current_buf(py)
  vim.api.nvim_win_set_cursor(0, { 3, 0 })
  local sent, restore = h.spy_requests()
  vim.cmd("CodeGenie generate")
  local exec = h.executed(sent)
  restore()
  eq("textDocument/codeAction", sent[1].method)
  eq({ "refactor.codegenie.generate" }, sent[1].params.context.only)
  eq("codegenie.generate", exec.params.command)
  local arg = exec.params.arguments[1]
  eq(vim.uri_from_bufnr(py), arg.uri)
  eq(vim.lsp.util.buf_versions[py], arg.version)
  eq(2, arg.range.start.line)
  if exec.err then
    -- A server without generation says so, and the user sees its words.
    h.message(exec.err.message)
  end
end)

test(":CodeGenie generate MODEL runs that model's action", function()
  vim.api.nvim_set_current_buf(lua_buf)
  vim.api.nvim_win_set_cursor(0, { 1, 3 })
  local sent, restore = h.spy_requests()
  vim.cmd("CodeGenie generate gemma")
  local exec = h.executed(sent)
  restore()
  eq("gemma", exec.params.arguments[1].model)
  eq(vim.uri_from_bufnr(lua_buf), exec.params.arguments[1].uri)
end)

test("generate away from a comment says what to do", function()
  vim.api.nvim_set_current_buf(lua_buf)
  vim.api.nvim_win_set_cursor(0, { 2, 0 })
  vim.cmd("CodeGenie generate")
  eq(vim.log.levels.WARN, h.message("nothing to generate").level)
end)

test(":'<,'>CodeGenie explain asks for the explain action on the selection", function()
  vim.api.nvim_set_current_buf(py)
  local sent, restore = h.spy_requests()
  -- Select "import csv" characterwise from column 7 ("csv").
  vim.api.nvim_win_set_cursor(0, { 1, 7 })
  vim.cmd("normal! v$h\27")
  vim.cmd("'<,'>CodeGenie explain")
  local exec = h.executed(sent)
  restore()
  local action_req = sent[1]
  eq("textDocument/codeAction", action_req.method)
  eq({ "refactor.codegenie.explain" }, action_req.params.context.only)
  eq({ start = { line = 0, character = 7 }, ["end"] = { line = 0, character = 10 } }, action_req.params.range)
  eq("CodeGenie: Explain selection", action_req.result[1].title)
  eq("codegenie.explain", exec.params.command)
  eq(action_req.params.range, exec.params.arguments[1].range)
end)

test("a linewise selection covers whole lines, in UTF-8 columns", function()
  local buf = h.open("emoji.py", { "# 😀 naïve", "x = '日本'" })
  h.client(buf)
  local range = require("codegenie.actions").selection_range(buf, 1, 2, "utf-8")
  eq({ start = { line = 0, character = 0 }, ["end"] = { line = 1, character = #"x = '日本'" } }, range)
  range = require("codegenie.actions").selection_range(buf, 1, 2, "utf-16")
  eq(8, range["end"].character)
end)

test(":CodeGenie model completes the server's model ids", function()
  vim.api.nvim_set_current_buf(py)
  h.client(py)
  require("codegenie.models").list = {}
  eq({ "gemma" }, vim.fn.getcompletion("CodeGenie model ge", "cmdline"))
  eq({ "phi-2" }, vim.fn.getcompletion("CodeGenie generate ph", "cmdline"))
end)

test(":CodeGenie model picks from codegenie.models and the server's default follows", function()
  vim.api.nvim_set_current_buf(py)
  local client = h.client(py)
  eq("deepseek-coder", h.exec_sync(client, "codegenie.models").default)
  local offered
  local original = vim.ui.select
  vim.ui.select = function(items, opts, on_choice)
    offered = vim.tbl_map(opts.format_item, items)
    for i, item in ipairs(items) do
      if item.id == "phi-2" then
        return on_choice(item, i)
      end
    end
  end
  vim.cmd("CodeGenie model")
  h.wait(function()
    return offered
  end, "vim.ui.select")
  vim.ui.select = original
  eq(6, #offered)
  h.contains(offered[1], "deepseek-coder")
  h.contains(offered[1], "(default)")
  -- The test server serves the built-ins as hosted models; the last is hosted anyway.
  h.contains(offered[6], "qwen-coder")
  h.contains(offered[6], "[hosted: hf-router]")
  h.wait(function()
    return h.exec_sync(client, "codegenie.models").default == "phi-2"
  end, "the server's default model to become phi-2")
  eq("phi-2", require("codegenie").options().settings.model)
  truthy(vim.tbl_contains(vim.fn.getcompletion("CodeGenie model ", "cmdline"), "gemma"), "model ids complete")
end)

test("setup() again sends the new settings to the running server", function()
  local client = h.client(py)
  require("codegenie").setup({ cmd = { h.bin, "serve" }, settings = { model = "gemma" } })
  h.wait(function()
    return h.exec_sync(client, "codegenie.models").default == "gemma"
  end, "the server's default model to become gemma")
  eq(1, #vim.lsp.get_clients({ name = "codegenie" }), "no second server")
end)

test("a bad setting comes back as the server's warning", function()
  require("codegenie").setup({ cmd = { h.bin, "serve" }, settings = { model = "no-such-model" } })
  h.message("no-such-model")
end)

h.run()
