---@mod codegenie.config Options of |codegenie.setup()|.

---@class codegenie.ExplainOptions
---@field layout? "float"|"split" Where explanations open (default "float").
---@field width? number Float width: columns, or a fraction of the editor (default 0.8).
---@field height? number Float maximum height: lines, or a fraction (default 0.7).
---@field border? string|string[] Float border (default "rounded").
---@field split? string Split command for layout "split" (default "botright vsplit").

---@class codegenie.HistoryOptions
---@field limit? integer Entries fetched for the picker (default 50).

---@class codegenie.Options
---@field cmd? string[] Server command (default { "codegenie", "serve" }).
---@field filetypes? string[]|nil Filetypes to attach to; nil means every buffer with a filetype.
---@field root_markers? string[] Files or folders marking the project root.
---@field settings? table Server settings, sent as initializationOptions and didChangeConfiguration.
---@field keymaps? boolean|table<string, string|false> Default keymaps (off unless true or a table).
---@field explain? codegenie.ExplainOptions
---@field history? codegenie.HistoryOptions
---@field autostart? boolean Start the server on FileType (default true).
---@field completion? boolean|codegenie.CompletionOptions Inline suggestions as you type (Neovim 0.12+; default false).

local M = {}

---@type codegenie.Options
M.defaults = {
  cmd = { "codegenie", "serve" },
  filetypes = nil,
  root_markers = { ".git", ".hg", ".svn", ".codegenie.toml", "Cargo.toml", "package.json", "pyproject.toml" },
  settings = {},
  keymaps = false,
  explain = { layout = "float", width = 0.8, height = 0.7, border = "rounded", split = "botright vsplit" },
  history = { limit = 50 },
  autostart = true,
  completion = false,
}

--- Default keymaps, used when `keymaps = true`; a table overrides single keys
--- (a value of false removes that map).
M.default_keymaps = {
  generate = "<leader>cg",
  explain = "<leader>ce",
  history = "<leader>ch",
  model = "<leader>cm",
  cancel = "<leader>cx",
}

---@type codegenie.Options
M.options = vim.deepcopy(M.defaults)

---@param opts? codegenie.Options
---@return codegenie.Options
function M.set(opts)
  opts = opts or {}
  local types = {
    cmd = "table",
    filetypes = "table",
    root_markers = "table",
    settings = "table",
    explain = "table",
    history = "table",
    autostart = "boolean",
  }
  for key, want in pairs(types) do
    if opts[key] ~= nil and type(opts[key]) ~= want then
      error(("codegenie.setup: `%s` must be a %s, got %s"):format(key, want, type(opts[key])), 3)
    end
  end
  if opts.keymaps ~= nil and type(opts.keymaps) ~= "boolean" and type(opts.keymaps) ~= "table" then
    error("codegenie.setup: `keymaps` must be a boolean or a table", 3)
  end
  if opts.completion ~= nil and type(opts.completion) ~= "boolean" and type(opts.completion) ~= "table" then
    error("codegenie.setup: `completion` must be a boolean or a table", 3)
  end
  M.options = vim.tbl_deep_extend("force", vim.deepcopy(M.defaults), opts)
  -- Lists replace, they do not merge element-wise.
  for _, key in ipairs({ "cmd", "filetypes", "root_markers" }) do
    if opts[key] then
      M.options[key] = vim.deepcopy(opts[key])
    end
  end
  return M.options
end

return M
