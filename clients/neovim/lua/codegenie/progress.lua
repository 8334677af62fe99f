--- Work-done progress. Neovim already turns the server's `$/progress` into
--- `LspProgress` autocmds and `vim.lsp.status()` (so statuslines and
--- fidget.nvim show it); this module only remembers which CodeGenie tokens
--- are running, so `:CodeGenie cancel` can cancel them.
local lsp = require("codegenie.lsp")
local util = require("codegenie.util")

local M = {}

M.prefix = "codegenie/"

--- Running tokens: token -> { client_id, title, message }.
---@type table<string, { client_id: integer, title: string?, message: string? }>
M.running = {}

--- Record one LspProgress event.
---@param data { client_id: integer, params: { token: string|integer, value: table } }
function M.on_progress(data)
  local params = data and data.params
  local token = params and params.token
  if type(token) ~= "string" or not vim.startswith(token, M.prefix) then
    return
  end
  local value = params.value or {}
  if value.kind == "end" then
    M.running[token] = nil
  elseif value.kind == "begin" then
    M.running[token] = { client_id = data.client_id, title = value.title, message = value.message }
  elseif M.running[token] then
    M.running[token].message = value.message or M.running[token].message
  end
end

--- The running CodeGenie tokens, sorted.
---@return string[]
function M.tokens()
  -- A server that stopped ends its work without saying so.
  for token, work in pairs(M.running) do
    if not vim.lsp.get_client_by_id(work.client_id) then
      M.running[token] = nil
    end
  end
  local tokens = vim.tbl_keys(M.running)
  table.sort(tokens)
  return tokens
end

--- Cancel the running work: `window/workDoneProgress/cancel` for every token
--- we saw begin, else `codegenie.cancel {}` (all work of this client).
function M.cancel()
  local tokens = M.tokens()
  if #tokens > 0 then
    for _, token in ipairs(tokens) do
      local client = vim.lsp.get_client_by_id(M.running[token].client_id)
      if client then
        lsp.notify(client, "window/workDoneProgress/cancel", { token = token })
      end
    end
    util.notify(("cancelling %d request%s"):format(#tokens, #tokens == 1 and "" or "s"))
    return
  end
  if #lsp.clients() == 0 then
    return util.notify("nothing to cancel: the server is not running", vim.log.levels.WARN)
  end
  lsp.exec("codegenie.cancel", {}, function(result)
    local n = type(result) == "table" and type(result.cancelled) == "table" and #result.cancelled or 0
    util.notify(n == 0 and "nothing to cancel" or ("cancelled %d request%s"):format(n, n == 1 and "" or "s"))
  end)
end

local group = vim.api.nvim_create_augroup("codegenie.progress", { clear = true })
vim.api.nvim_create_autocmd("LspProgress", {
  group = group,
  desc = "Track CodeGenie progress tokens",
  callback = function(ev)
    M.on_progress(ev.data)
  end,
})

return M
