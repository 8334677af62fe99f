--- Generate and explain: ask the server for its code actions at a range
--- and execute the chosen action's command.
local lsp = require("codegenie.lsp")
local util = require("codegenie.util")

local M = {}

M.kinds = {
  generate = "refactor.codegenie.generate",
  explain = "refactor.codegenie.explain",
}

--- Work started by this client: id -> { kind, bufnr, model }.
---@type table<string, table>
M.started = {}

--- An LSP position for a 0-based row and byte column.
---@param bufnr integer
---@param row integer
---@param col integer
---@param encoding string
local function position(bufnr, row, col, encoding)
  local line = vim.api.nvim_buf_get_lines(bufnr, row, row + 1, false)[1] or ""
  col = math.min(col, #line)
  return { line = row, character = vim.lsp.util.character_offset(bufnr, row, col, encoding) }
end

--- The LSP range of a (1-based, inclusive) line range and the '< '> marks.
--- Linewise or out-of-range columns select whole lines.
---@param bufnr integer
---@param line1 integer
---@param line2 integer
---@param encoding string
---@return table range
function M.selection_range(bufnr, line1, line2, encoding)
  local s = vim.api.nvim_buf_get_mark(bufnr, "<")
  local e = vim.api.nvim_buf_get_mark(bufnr, ">")
  local scol, ecol = 0, math.huge
  if s[1] == line1 and e[1] == line2 and vim.fn.visualmode() == "v" then
    scol = s[2]
    -- The end mark is on the last selected character: include all its bytes.
    local last = vim.api.nvim_buf_get_lines(bufnr, e[1] - 1, e[1], false)[1] or ""
    local char = vim.fn.strpart(last, e[2], 1, true)
    ecol = e[2] + math.max(#char, 1)
  end
  local last_line = vim.api.nvim_buf_get_lines(bufnr, line2 - 1, line2, false)[1] or ""
  return {
    start = position(bufnr, line1 - 1, scol, encoding),
    ["end"] = position(bufnr, line2 - 1, math.min(ecol, #last_line), encoding),
  }
end

--- The zero-width LSP range at the cursor.
---@param bufnr integer
---@param encoding string
function M.cursor_range(bufnr, encoding)
  local cursor = vim.api.nvim_win_get_cursor(0)
  local pos = position(bufnr, cursor[1] - 1, cursor[2], encoding)
  return { start = pos, ["end"] = pos }
end

--- Ask the server for its CodeGenie code actions of one kind.
---@param client vim.lsp.Client
---@param bufnr integer
---@param kind string an entry of M.kinds
---@param range table LSP range
---@param callback fun(actions: table[]?, err: string?)
function M.code_actions(client, bufnr, kind, range, callback)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(bufnr) },
    range = range,
    context = { diagnostics = {}, only = { kind }, triggerKind = 1 },
  }
  lsp.request(client, "textDocument/codeAction", params, function(err, result)
    if err then
      return callback(nil, lsp.error_message(err))
    end
    local actions = {}
    for _, action in ipairs(result or {}) do
      if action.kind and vim.startswith(action.kind, kind) then
        table.insert(actions, action)
      end
    end
    callback(actions)
  end, bufnr)
end

--- The model an action runs with (its command's `model` argument), if any.
---@param action table
---@return string?
function M.action_model(action)
  local cmd = type(action.command) == "table" and action.command or nil
  local arg = cmd and cmd.arguments and cmd.arguments[1]
  return type(arg) == "table" and arg.model or nil
end

--- Pick the action to run: the one for `model` if given, else the default
--- one (the first the server lists).
---@param actions table[]
---@param model? string
---@return table?
function M.pick(actions, model)
  if not model then
    return actions[1]
  end
  for _, action in ipairs(actions) do
    if M.action_model(action) == model then
      return action
    end
  end
  -- The default model's action carries no model argument.
  if model == require("codegenie.models").default then
    for _, action in ipairs(actions) do
      if not M.action_model(action) then
        return action
      end
    end
  end
  return nil
end

--- Execute a code action: its edit (if any), then its command.
---@param client vim.lsp.Client
---@param bufnr integer
---@param action table
---@param kind "generate"|"explain"
function M.execute(client, bufnr, action, kind)
  if action.edit then
    vim.lsp.util.apply_workspace_edit(action.edit, client.offset_encoding)
  end
  local command = action.command
  if type(command) ~= "table" then
    return
  end
  local arg = command.arguments and command.arguments[1] or vim.empty_dict()
  lsp.exec(command.command, arg, function(result)
    if type(result) == "table" and result.id then
      M.started[tostring(result.id)] = { kind = kind, bufnr = bufnr, model = M.action_model(action) }
    end
  end, { bufnr = bufnr, client = client })
end

--- Run the CodeGenie action of `kind` over `range` in the current buffer.
---@param kind "generate"|"explain"
---@param opts { range?: table, line1?: integer, line2?: integer, model?: string }
function M.run(kind, opts)
  local bufnr = vim.api.nvim_get_current_buf()
  local client = lsp.clients({ bufnr = bufnr })[1]
  if not client then
    util.notify("the server is not attached to this buffer: see :checkhealth codegenie", vim.log.levels.ERROR)
    return
  end
  local encoding = client.offset_encoding or "utf-16"
  local range = opts.range
  if not range then
    if opts.line1 then
      range = M.selection_range(bufnr, opts.line1, opts.line2 or opts.line1, encoding)
    else
      range = M.cursor_range(bufnr, encoding)
    end
  end
  M.code_actions(client, bufnr, M.kinds[kind], range, function(actions, err)
    if err then
      return util.notify(err, vim.log.levels.ERROR)
    end
    local action = M.pick(actions or {}, opts.model)
    if not action then
      local hint = kind == "generate"
          and "put the cursor on a comment that says what to write (or select lines inside it)"
        or "select the code to explain, then run :'<,'>CodeGenie explain"
      if opts.model and actions and #actions > 0 then
        hint = ("no action for model `%s` here"):format(opts.model)
      end
      return util.notify("nothing to " .. kind .. ": " .. hint, vim.log.levels.WARN)
    end
    M.execute(client, bufnr, action, kind)
  end)
end

return M
