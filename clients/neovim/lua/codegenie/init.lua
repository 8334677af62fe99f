--- CodeGenie for Neovim: a thin client of the `codegenie` language server.
---
--- ```lua
--- require("codegenie").setup({ settings = { model = "phi-2" }, keymaps = true, completion = true })
--- ```
local config = require("codegenie.config")

---@class codegenie
---@field signup fun() Create an account (email, username, password) and log in.
---@field login fun() Log in with an email or username and a password.
---@field logout fun() Log out.
---@field forgot fun() Email a one-time password reset code.
---@field reset fun() Set a new password with the emailed code.
---@field profile fun() Show the profile and usage counts.
---@field status fun() Show who is logged in and the default model.
local M = {}

local configured = false

local function set_highlights()
  vim.api.nvim_set_hl(0, "CodeGenieExplainNormal", { default = true, link = "NormalFloat" })
  vim.api.nvim_set_hl(0, "CodeGenieExplainBorder", { default = true, link = "FloatBorder" })
  vim.api.nvim_set_hl(0, "CodeGenieExplainTitle", { default = true, link = "FloatTitle" })
end

local keymap_modes = {
  generate = { "n", "<Cmd>CodeGenie generate<CR>", "Generate code from the comment" },
  explain = { "x", ":CodeGenie explain<CR>", "Explain the selection" },
  history = { "n", "<Cmd>CodeGenie history<CR>", "History" },
  model = { "n", "<Cmd>CodeGenie model<CR>", "Choose the model" },
  cancel = { "n", "<Cmd>CodeGenie cancel<CR>", "Cancel the running request" },
}

local function set_keymaps(keymaps)
  if not keymaps then
    return
  end
  local maps = vim.deepcopy(config.default_keymaps)
  if type(keymaps) == "table" then
    maps = vim.tbl_extend("force", maps, keymaps)
  end
  for action, lhs in pairs(maps) do
    local spec = keymap_modes[action]
    if spec and lhs then
      vim.keymap.set(spec[1], lhs, spec[2], { silent = true, desc = "CodeGenie: " .. spec[3] })
    end
  end
end

--- Configure the plugin and start the server for the configured filetypes.
--- Calling it again applies the new options; new `settings` reach running
--- servers through `workspace/didChangeConfiguration`.
---@param opts? codegenie.Options
function M.setup(opts)
  local lsp = require("codegenie.lsp")
  local previous_cmd = config.options.cmd
  config.set(opts)
  if not vim.deep_equal(previous_cmd, config.options.cmd) then
    lsp.reset_warning()
  end
  set_highlights()
  vim.api.nvim_create_autocmd("ColorScheme", {
    group = vim.api.nvim_create_augroup("codegenie.highlights", { clear = true }),
    callback = set_highlights,
  })
  set_keymaps(config.options.keymaps)
  require("codegenie.progress")
  if configured then
    lsp.push_settings()
  end
  configured = true
  lsp.enable()
  require("codegenie.completion").setup(config.options.completion)
end

--- Turn inline suggestions on or off (Neovim 0.12+), or toggle them.
---@param enable? boolean
function M.completion(enable)
  local completion = require("codegenie.completion")
  if enable == nil then
    enable = not completion.is_enabled()
  end
  completion.enable(enable)
end

--- The current options.
---@return codegenie.Options
function M.options()
  return config.options
end

--- Generate code from the comment at the cursor (or the given lines).
---@param opts? { model?: string, line1?: integer, line2?: integer }
function M.generate(opts)
  require("codegenie.actions").run("generate", opts or {})
end

--- Explain lines of the current buffer (default: the visual selection).
---@param opts? { model?: string, line1?: integer, line2?: integer }
function M.explain(opts)
  opts = opts or {}
  if not opts.line1 then
    local first, last = vim.api.nvim_buf_get_mark(0, "<")[1], vim.api.nvim_buf_get_mark(0, ">")[1]
    if first == 0 then -- no selection yet: the cursor line
      first = vim.api.nvim_win_get_cursor(0)[1]
      last = first
    end
    opts.line1, opts.line2 = first, last
  end
  require("codegenie.actions").run("explain", opts)
end

--- Cancel the running generations and explanations.
function M.cancel()
  require("codegenie.progress").cancel()
end

--- Set the default model, or pick one with vim.ui.select.
---@param id? string
function M.model(id)
  require("codegenie.models").choose(id)
end

--- Pick a history entry.
---@param filter? { kind?: "generate"|"explain", model?: string, search?: string }
function M.history(filter)
  require("codegenie.history").pick(filter)
end

--- The running CodeGenie progress tokens (for statuslines).
---@return string[]
function M.running()
  return require("codegenie.progress").tokens()
end

-- Accounts: |:CodeGenie-signup| and the others, as functions.
for _, name in ipairs({ "signup", "login", "logout", "forgot", "reset", "profile", "status" }) do
  M[name] = function()
    require("codegenie.account")[name]()
  end
end

return M
