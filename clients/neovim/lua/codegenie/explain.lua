--- Explanations: each `codegenie/explanation` notification brings `append`
--- (text to add) or `markdown` (the whole text, replacing it); the last has
--- `done = true`. Shown in a float (or a split) that `q` closes.
local config = require("codegenie.config")

local M = {}

--- Open views by explanation id: { buf, win, title, done }.
---@type table<string, { buf: integer, win: integer?, title: string, done: boolean }>
M.views = {}
--- Ids the user closed: later updates of these are dropped.
---@type table<string, boolean>
M.closed = {}
--- The text so far, by explanation id.
---@type table<string, string>
M.texts = {}

local function size(value, total)
  if value <= 1 then
    return math.max(1, math.floor(total * value))
  end
  return math.min(math.floor(value), total)
end

local function float_config(opts, lines, title, done)
  local columns, rows = vim.o.columns, vim.o.lines - vim.o.cmdheight - 2
  local width = size(opts.width or 0.8, columns - 4)
  local height = math.max(1, math.min(#lines, size(opts.height or 0.7, rows - 2)))
  local cfg = {
    relative = "editor",
    width = width,
    height = height,
    row = math.max(0, math.floor((rows - height) / 2)),
    col = math.max(0, math.floor((columns - width) / 2)),
    style = "minimal",
    border = opts.border or "rounded",
  }
  if cfg.border ~= "none" then
    cfg.title = { { (" %s%s "):format(title, done and "" or " …"), "CodeGenieExplainTitle" } }
    cfg.title_pos = "center"
  end
  return cfg
end

local function new_buffer(id)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.bo[buf].bufhidden = "wipe"
  vim.bo[buf].filetype = "markdown"
  -- Tree-sitter markdown (shipped with Neovim) highlights code blocks too.
  pcall(vim.treesitter.start, buf, "markdown")
  pcall(vim.api.nvim_buf_set_name, buf, "codegenie://explanation/" .. id)
  vim.keymap.set("n", "q", function()
    M.close(id)
  end, { buffer = buf, nowait = true, desc = "Close the CodeGenie explanation" })
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = buf,
    once = true,
    callback = function()
      M.views[id] = nil
      M.closed[id] = true
    end,
  })
  return buf
end

local function open_window(view, lines)
  local opts = config.options.explain or {}
  if opts.layout == "split" then
    vim.cmd(opts.split or "botright vsplit")
    local win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, view.buf)
    vim.wo[win].wrap = true
    vim.wo[win].linebreak = true
    return win
  end
  local win = vim.api.nvim_open_win(view.buf, true, float_config(opts, lines, view.title, view.done))
  vim.wo[win].wrap = true
  vim.wo[win].linebreak = true
  vim.wo[win].conceallevel = 2
  vim.wo[win].winhighlight = "NormalFloat:CodeGenieExplainNormal,FloatBorder:CodeGenieExplainBorder"
  return win
end

--- Show (or update in place) explanation `id`.
---@param id string
---@param title string
---@param markdown string the whole text so far
---@param done boolean
---@return { buf: integer, win: integer?, title: string, done: boolean }?
function M.show(id, title, markdown, done)
  id = tostring(id)
  if M.closed[id] then
    return nil
  end
  local lines = vim.split(markdown or "", "\n", { plain = true })
  local view = M.views[id]
  if not view or not vim.api.nvim_buf_is_valid(view.buf) then
    view = { buf = new_buffer(id), title = title, done = done }
    M.views[id] = view
  end
  view.title, view.done = title or view.title, done
  vim.bo[view.buf].modifiable = true
  vim.api.nvim_buf_set_lines(view.buf, 0, -1, false, lines)
  vim.bo[view.buf].modifiable = false
  vim.bo[view.buf].modified = false
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    local opts = config.options.explain or {}
    if opts.layout ~= "split" then
      local cfg = float_config(opts, lines, view.title, done)
      vim.api.nvim_win_set_config(view.win, cfg)
    end
  else
    view.win = open_window(view, lines)
  end
  return view
end

--- Close explanation `id` (its window and buffer).
---@param id string
function M.close(id)
  local view = M.views[tostring(id)]
  if not view then
    return
  end
  M.closed[tostring(id)] = true
  M.texts[tostring(id)] = nil
  if view.win and vim.api.nvim_win_is_valid(view.win) then
    pcall(vim.api.nvim_win_close, view.win, true)
  end
  if vim.api.nvim_buf_is_valid(view.buf) then
    pcall(vim.api.nvim_buf_delete, view.buf, { force = true })
  end
  M.views[tostring(id)] = nil
end

--- Handler of the `codegenie/explanation` notification.
---@param params { id: string|integer, title?: string, markdown?: string, append?: string, done?: boolean }
function M.on_notification(params)
  if type(params) ~= "table" or params.id == nil then
    return
  end
  local id = tostring(params.id)
  if M.closed[id] then
    return
  end
  local text = M.texts[id] or ""
  if type(params.markdown) == "string" then
    text = params.markdown
  end
  if type(params.append) == "string" then
    text = text .. params.append
  end
  M.texts[id] = text
  local view = M.views[id]
  local title = params.title or (view and view.title) or "CodeGenie explanation"
  M.show(id, title, text, params.done == true)
end

return M
