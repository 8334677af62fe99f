--- The server's models and the choice of the default one.
local config = require("codegenie.config")
local lsp = require("codegenie.lsp")
local util = require("codegenie.util")

local M = {}

--- The last list the server sent: { id, name, repo, engine, size, downloaded }[].
---@type { id: string, name: string, repo: string, engine: string?, size: integer?, downloaded: boolean? }[]
M.list = {}
--- The server's default model id, as last reported.
---@type string?
M.default = nil

--- Fetch the models (and remember them for completion).
---@param callback fun(models: table[], default: string)
function M.fetch(callback)
  lsp.exec("codegenie.models", {}, function(result)
    M.list = result.models or {}
    M.default = result.default
    callback(M.list, M.default)
  end)
end

--- Where a model runs and whether it is ready, for the picker.
---@param m table
---@return string
function M.state(m)
  if m.engine == "local" then
    if m.downloaded then
      return "local, downloaded"
    end
    local size = type(m.size) == "number" and ("%d MB "):format(math.ceil(m.size / 1e6)) or ""
    return ("local, %sto download on first use"):format(size)
  elseif m.engine == "hosted" then
    return ("hosted: %s"):format(m.api or "API")
  end
  return m.repo or ""
end

--- Make `id` the default model: stored in the settings and sent to the
--- running servers with workspace/didChangeConfiguration.
---@param id string
function M.set(id)
  config.options.settings = config.options.settings or {}
  config.options.settings.model = id
  M.default = id
  lsp.push_settings()
  util.notify("default model: " .. id)
end

--- Pick a model with vim.ui.select (or take `id`) and make it the default.
---@param id? string
function M.choose(id)
  if id then
    return M.set(id)
  end
  M.fetch(function(models, default)
    vim.ui.select(models, {
      prompt = "CodeGenie model",
      format_item = function(m)
        local mark = m.id == default and " (default)" or ""
        return ("%s — %s [%s]%s"):format(m.id, m.name or m.id, M.state(m), mark)
      end,
    }, function(choice)
      if choice then
        M.set(choice.id)
      end
    end)
  end)
end

--- Model ids for command-line completion (from the last fetch).
---@return string[]
function M.ids()
  if #M.list == 0 then
    -- Completion cannot wait for a callback: ask once, briefly, in sync.
    local client = lsp.client()
    if client then
      local reply = lsp.exec_sync(client, "codegenie.models", {}, 1000)
      if reply and type(reply.result) == "table" then
        M.list, M.default = reply.result.models or {}, reply.result.default
      end
    end
  end
  return vim.tbl_map(function(m)
    return m.id
  end, M.list)
end

return M
