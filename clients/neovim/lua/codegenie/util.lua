--- Small helpers shared by the modules.
local M = {}

M.title = "CodeGenie"

---@param bufnr? integer
---@return integer
function M.buf(bufnr)
  if bufnr == nil or bufnr == 0 then
    return vim.api.nvim_get_current_buf()
  end
  return bufnr
end

--- A table sent as a JSON object: an empty Lua table would go as `[]`.
---@param t? table
---@return table
function M.object(t)
  if t == nil or next(t) == nil then
    return vim.empty_dict()
  end
  return t
end

--- vim.notify with the plugin's title. Never pass secrets here.
---@param message string
---@param level? integer
function M.notify(message, level)
  vim.notify("CodeGenie: " .. message, level or vim.log.levels.INFO, { title = M.title })
end

--- Run `fn` as a coroutine, so it can wait for prompts and replies with
--- `M.await`; errors are reported instead of lost.
---@param fn fun()
function M.async(fn)
  local co = coroutine.create(fn)
  local ok, err = coroutine.resume(co)
  if not ok then
    M.notify(tostring(err), vim.log.levels.ERROR)
  end
end

--- Call `start(done)` and wait until `done(...)` runs, from inside `M.async`.
--- Works whether `done` is called at once (the builtin vim.ui.input) or later.
---@param start fun(done: fun(...))
---@return any ...
function M.await(start)
  local co = assert(coroutine.running(), "codegenie: await outside a coroutine")
  local state = { waiting = false, done = false }
  start(function(...)
    if state.done then
      return
    end
    state.done = true
    if state.waiting then
      local args = vim.F.pack_len(...)
      vim.schedule(function()
        local ok, err = coroutine.resume(co, vim.F.unpack_len(args))
        if not ok then
          M.notify(tostring(err), vim.log.levels.ERROR)
        end
      end)
    else
      state.result = vim.F.pack_len(...)
    end
  end)
  if state.done then
    return vim.F.unpack_len(state.result)
  end
  state.waiting = true
  return coroutine.yield()
end

--- vim.ui.input, awaited. Returns nil when the user cancels or enters nothing.
---@param prompt string
---@param default? string
---@return string?
function M.input(prompt, default)
  local value = M.await(function(done)
    vim.ui.input({ prompt = prompt, default = default }, done)
  end)
  if value == nil or vim.trim(value) == "" then
    return nil
  end
  return vim.trim(value)
end

--- A secret typed without echo; never kept in input history or a register.
--- Returns nil when cancelled or empty.
---@param prompt string
---@return string?
function M.secret(prompt)
  local ok, value = pcall(vim.fn.inputsecret, prompt)
  -- Clear the prompt line so nothing of it stays on screen.
  vim.cmd("redraw")
  if not ok or value == nil or value == "" then
    return nil
  end
  return value
end

--- vim.ui.select, awaited. Returns the item (or nil) and its index.
---@generic T
---@param items T[]
---@param opts table
---@return T?, integer?
function M.select(items, opts)
  return M.await(function(done)
    vim.ui.select(items, opts, done)
  end)
end

--- Days from 1970-01-01 to a civil date (proleptic Gregorian).
---@param y integer
---@param m integer
---@param d integer
---@return integer
local function days_from_civil(y, m, d)
  y = m <= 2 and y - 1 or y
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

--- A server time as milliseconds since the epoch: the server sends numbers
--- (milliseconds); an RFC 3339 string in UTC is read too. nil when neither.
---@param value any
---@return number?
function M.millis(value)
  if type(value) == "number" then
    return value
  end
  if type(value) ~= "string" then
    return nil
  end
  local y, mo, d, hh, mm, ss = value:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[T ](%d%d):(%d%d):?(%d*)")
  if not y then
    return nil
  end
  local days = days_from_civil(tonumber(y), tonumber(mo), tonumber(d))
  return ((days * 24 + tonumber(hh)) * 60 + tonumber(mm)) * 60000 + (tonumber(ss) or 0) * 1000
end

--- A server time for people: "YYYY-MM-DD HH:MM" in local time ("?" when
--- there is none).
---@param value any
---@return string
function M.time(value)
  if value == nil or value == vim.NIL then
    return "?"
  end
  local ms = M.millis(value)
  if not ms then
    return tostring(value)
  end
  return os.date("%Y-%m-%d %H:%M", math.floor(ms / 1000)) --[[@as string]]
end

--- A scratch buffer (not listed, wiped when hidden) with the given lines.
---@param lines string[]
---@param filetype? string
---@param name? string
---@return integer bufnr
function M.scratch(lines, filetype, name)
  local bufnr = vim.api.nvim_create_buf(false, true)
  vim.bo[bufnr].bufhidden = "wipe"
  vim.api.nvim_buf_set_lines(bufnr, 0, -1, false, lines)
  if filetype then
    vim.bo[bufnr].filetype = filetype
  end
  if name then
    pcall(vim.api.nvim_buf_set_name, bufnr, name)
  end
  return bufnr
end

return M
