--- The history picker: the user's generations and explanations, newest
--- first, with actions on the chosen entry.
local config = require("codegenie.config")
local lsp = require("codegenie.lsp")
local util = require("codegenie.util")

local M = {}

--- The first non-empty line of a text, shortened.
---@param text? string
---@param width integer
---@return string
function M.preview(text, width)
  for line in tostring(text or ""):gmatch("[^\n]+") do
    local trimmed = vim.trim(line)
    if trimmed ~= "" then
      if vim.fn.strchars(trimmed) > width then
        return vim.fn.strcharpart(trimmed, 0, width - 1) .. "…"
      end
      return trimmed
    end
  end
  return ""
end

--- One line for the picker: date, kind, model, status, prompt → output.
---@param entry table
---@return string
function M.format(entry)
  local date = util.time(entry.createdAt)
  local status = (entry.status and entry.status ~= "ok") and (" [" .. entry.status .. "]") or ""
  return ("%s  %-8s %-14s %s → %s%s"):format(
    date,
    entry.kind or "?",
    entry.model or "?",
    M.preview(entry.prompt, 40),
    M.preview(entry.output, 30),
    status
  )
end

--- The kinds the picker lists: generations and explanations (the server's
--- history also has account events: signup, login, …).
M.kinds = { generate = true, explain = true }

--- The generations and explanations, newest first (equal times keep the
--- server's order).
---@param entries table[]
---@return table[]
function M.sort(entries)
  local keyed = {}
  for i, entry in ipairs(entries) do
    if M.kinds[entry.kind] then
      table.insert(keyed, { entry = entry, at = util.millis(entry.createdAt) or 0, i = i })
    end
  end
  table.sort(keyed, function(a, b)
    if a.at ~= b.at then
      return a.at > b.at
    end
    return a.i < b.i
  end)
  return vim.tbl_map(function(k)
    return k.entry
  end, keyed)
end

--- The text of an entry for the scratch buffer (markdown).
---@param entry table
---@return string[]
function M.document(entry)
  local lines = {
    ("# %s with %s — %s"):format(entry.kind or "entry", entry.model or "?", util.time(entry.createdAt)),
    "",
    ("status: %s · language: %s · %s ms"):format(
      entry.status or "?",
      entry.language or "?",
      tostring(entry.latencyMs or "?")
    ),
    "",
    "## Prompt",
    "",
    "```" .. (entry.language or ""),
  }
  vim.list_extend(lines, vim.split(entry.prompt or "", "\n", { plain = true }))
  vim.list_extend(lines, { "```", "", "## Output", "" })
  if entry.kind == "generate" then
    table.insert(lines, "```" .. (entry.language or ""))
    vim.list_extend(lines, vim.split(entry.output or "", "\n", { plain = true }))
    table.insert(lines, "```")
  else
    vim.list_extend(lines, vim.split(entry.output or "", "\n", { plain = true }))
  end
  return lines
end

--- Insert an entry's output below the cursor line of the current buffer.
---@param entry table
function M.insert(entry)
  local lines = vim.split(entry.output or "", "\n", { plain = true })
  local row = vim.api.nvim_win_get_cursor(0)[1]
  vim.api.nvim_buf_set_lines(0, row, row, false, lines)
end

--- Open an entry in a scratch buffer in a new split.
---@param entry table
function M.open(entry)
  local buf = util.scratch(M.document(entry), "markdown", "codegenie://history/" .. tostring(entry.id))
  vim.cmd("botright split")
  vim.api.nvim_win_set_buf(0, buf)
end

---@param entry table
---@param callback? fun()
function M.delete(entry, callback)
  lsp.exec("codegenie.deleteHistoryEntry", { id = entry.id }, function()
    util.notify("history entry deleted")
    if callback then
      callback()
    end
  end)
end

M.actions = {
  { name = "insert", label = "Insert the output at the cursor", run = M.insert },
  { name = "open", label = "Open in a scratch buffer", run = M.open },
  { name = "delete", label = "Delete the entry", run = M.delete },
}

--- What to do with an entry.
---@param entry table
function M.act(entry)
  vim.ui.select(M.actions, {
    prompt = "CodeGenie: " .. M.preview(entry.prompt, 50),
    format_item = function(action)
      return action.label
    end,
  }, function(action)
    if action then
      action.run(entry)
    end
  end)
end

--- Fetch the history and pick an entry.
---@param filter? { kind?: string, model?: string, search?: string }
function M.pick(filter)
  local args = vim.tbl_extend("force", { limit = (config.options.history or {}).limit or 50 }, filter or {})
  -- Remember the window the picker started from: insert goes there.
  local win = vim.api.nvim_get_current_win()
  lsp.exec("codegenie.history", args, function(result)
    local entries = M.sort(type(result) == "table" and result.entries or {})
    if #entries == 0 then
      return util.notify("no history yet")
    end
    vim.ui.select(
      entries,
      { prompt = "CodeGenie history", format_item = M.format, kind = "codegenie.history" },
      function(entry)
        if entry then
          if vim.api.nvim_win_is_valid(win) then
            vim.api.nvim_set_current_win(win)
          end
          M.act(entry)
        end
      end
    )
  end)
end

return M
