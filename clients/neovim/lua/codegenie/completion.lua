--- Inline completion (ghost text as you type) through Neovim's own
--- `vim.lsp.inline_completion` (Neovim 0.12+): turned on for the CodeGenie
--- client by `setup({ completion = true })`, with an accept key in Insert
--- mode (default <Tab>, which falls back to a plain <Tab> when no
--- suggestion is shown). On older Neovim the option says it needs 0.12 and
--- does nothing else.
local util = require("codegenie.util")

local M = {}

--- Whether this Neovim has `vim.lsp.inline_completion`.
M.available = vim.lsp.inline_completion ~= nil and vim.fn.has("nvim-0.12") == 1

local group = vim.api.nvim_create_augroup("codegenie.completion", { clear = true })
local warned = false
--- Suggestions wanted (setup and the toggle); new buffers follow it.
local on = false
---@type string|false
local mapped = false

---@class codegenie.CompletionOptions
---@field enabled? boolean Show suggestions (default true when the table is given).
---@field accept? string|false Insert-mode key that accepts a suggestion (default "<Tab>").

--- The options as a table, from `true`, `false`/nil or a table.
---@param opt boolean|codegenie.CompletionOptions|nil
---@return { enabled: boolean, accept: string|false }
function M.options(opt)
  if opt == true then
    return { enabled = true, accept = "<Tab>" }
  end
  if type(opt) == "table" then
    local o = vim.tbl_extend("force", { enabled = true, accept = "<Tab>" }, opt)
    return { enabled = o.enabled ~= false, accept = o.accept or false }
  end
  return { enabled = false, accept = false }
end

--- The CodeGenie clients.
local function clients()
  return require("codegenie.lsp").clients()
end

--- Turn suggestions on or off in every buffer a CodeGenie client is
--- attached to (Neovim enables inline completion per buffer).
---@param enable boolean
function M.enable(enable)
  on = enable
  if not M.available then
    return
  end
  for _, client in ipairs(clients()) do
    for _, bufnr in ipairs(vim.lsp.get_buffers_by_client_id(client.id)) do
      vim.lsp.inline_completion.enable(enable, { bufnr = bufnr })
    end
  end
end

--- Whether suggestions are on in a buffer (default: the current one).
---@param bufnr? integer
---@return boolean
function M.is_enabled(bufnr)
  if not M.available then
    return false
  end
  return vim.lsp.inline_completion.is_enabled({ bufnr = util.buf(bufnr) })
end

--- Accept the suggestion shown, if any; true when one was accepted.
---@return boolean
function M.accept()
  return M.available and vim.lsp.inline_completion.get() or false
end

local function unmap()
  if mapped then
    pcall(vim.keymap.del, "i", mapped)
    mapped = false
  end
end

--- Apply the `completion` option of setup().
---@param opt boolean|codegenie.CompletionOptions|nil
function M.setup(opt)
  local o = M.options(opt)
  vim.api.nvim_clear_autocmds({ group = group })
  unmap()
  if not o.enabled then
    if on then
      M.enable(false)
    end
    return
  end
  if not M.available then
    if not warned then
      warned = true
      util.notify(
        "inline completion (`completion = true`) needs Neovim 0.12 (vim.lsp.inline_completion); "
          .. "generate and explain work as before",
        vim.log.levels.WARN
      )
    end
    return
  end
  on = true
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    desc = "CodeGenie inline completion",
    callback = function(ev)
      local client = vim.lsp.get_client_by_id(ev.data.client_id)
      if on and client and client.name == require("codegenie.lsp").name then
        vim.lsp.inline_completion.enable(true, { bufnr = ev.buf })
      end
    end,
  })
  M.enable(true)
  if o.accept then
    vim.keymap.set("i", o.accept, function()
      if not M.accept() then
        return vim.keycode(o.accept)
      end
    end, { expr = true, silent = true, desc = "CodeGenie: accept the inline suggestion" })
    mapped = o.accept
  end
end

return M
