--- Starting the CodeGenie language server and talking to it.
local config = require("codegenie.config")
local util = require("codegenie.util")

local M = {}

M.name = "codegenie"
M.install_hint = "install it with `cargo install --path server` from a CodeGenie checkout, "
  .. "or point `cmd` in require('codegenie').setup() at the binary"

local has_011 = vim.fn.has("nvim-0.11") == 1
local warned_missing = false

local message_levels = {
  [1] = vim.log.levels.ERROR,
  [2] = vim.log.levels.WARN,
  [3] = vim.log.levels.INFO,
  [4] = vim.log.levels.DEBUG,
}

--- `window/showMessageRequest` of the CodeGenie server (e.g. "the document
--- changed" with "Insert again"): the actions are offered with
--- vim.ui.select (prompt: the message), so picker plugins show them. The
--- answer is the chosen action, or null when dismissed. Neovim calls server
--- requests in a coroutine (0.11+), so the answer can wait for the user;
--- called outside one, Neovim's own handler answers.
---@param err? table
---@param params { type?: integer, message: string, actions?: { title: string }[] }
---@param ctx table
---@return { title: string }|userdata|nil
function M.show_message_request(err, params, ctx)
  local actions = type(params) == "table" and type(params.actions) == "table" and params.actions or {}
  local message = type(params) == "table" and tostring(params.message or "") or ""
  if #actions == 0 then
    -- The server's messages name CodeGenie already.
    vim.notify(message, message_levels[params and params.type] or vim.log.levels.INFO, { title = util.title })
    return vim.NIL
  end
  local co, is_main = coroutine.running()
  if not co or is_main then
    return vim.lsp.handlers["window/showMessageRequest"](err, params, ctx)
  end
  local answered = false
  vim.ui.select(actions, {
    prompt = message,
    kind = "codegenie.message_request",
    format_item = function(action)
      return (tostring(action.title):gsub("\r?\n", " "))
    end,
  }, function(choice)
    if answered then
      return
    end
    answered = true
    -- Resume after the yield below, even when vim.ui.select answered at once.
    vim.schedule(function()
      coroutine.resume(co, choice or vim.NIL)
    end)
  end)
  return coroutine.yield()
end

--- `workspace/applyEdit` of the CodeGenie server. Neovim's own handler
--- skips a versioned edit for a buffer changed since that version (it only
--- prints "newer than edits") and still answers `applied = true`, so
--- generated code would be lost without a word. This one refuses such an
--- edit with the reason, so the server can offer to insert it again after
--- the same comment; any other edit goes to Neovim's handler. (Neovim also
--- takes version 0 for "no version", so an edit for a buffer unchanged since
--- it was opened would land in the wrong place once it changes.)
---@param err? table
---@param params { edit: { documentChanges?: table[] } }
---@param ctx table
---@return { applied: boolean, failureReason?: string }
function M.apply_edit(err, params, ctx)
  local changes = type(params) == "table" and type(params.edit) == "table" and params.edit.documentChanges
  for _, change in ipairs(type(changes) == "table" and changes or {}) do
    local doc = type(change) == "table" and change.textDocument
    local version = type(doc) == "table" and doc.version
    -- Version 0 is a version too (a buffer not changed since it was opened).
    if type(version) == "number" and type(doc.uri) == "string" then
      local bufnr = vim.uri_to_bufnr(doc.uri)
      local current = vim.lsp.util.buf_versions[bufnr]
      if current > version then
        return {
          applied = false,
          failureReason = ("%s changed since the edit was made (version %d, the edit is for %d)"):format(
            vim.fn.fnamemodify(vim.uri_to_fname(doc.uri), ":t"),
            current,
            version
          ),
        }
      end
    end
  end
  return vim.lsp.handlers["workspace/applyEdit"](err, params, ctx)
end

--- Handlers for server-to-client messages the plugin adds to Neovim's own,
--- for the CodeGenie client only (passed to vim.lsp.start, not global).
local function handlers()
  return {
    ["codegenie/explanation"] = function(_, params, ctx)
      require("codegenie.explain").on_notification(params, ctx)
    end,
    ["window/showMessageRequest"] = function(err, params, ctx)
      return M.show_message_request(err, params, ctx)
    end,
    ["workspace/applyEdit"] = function(err, params, ctx)
      return M.apply_edit(err, params, ctx)
    end,
  }
end

--- The full path of the server command's executable, or nil with a reason.
---@param cmd? string[]
---@return string? path, string? reason
function M.executable(cmd)
  cmd = cmd or config.options.cmd
  local exe = cmd and cmd[1]
  if not exe or exe == "" then
    return nil, "`cmd` is empty"
  end
  local path = vim.fn.exepath(exe)
  if path == "" then
    return nil, ("the server `%s` was not found"):format(exe)
  end
  return path
end

---@param bufnr integer
---@return boolean
local function wanted(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return false
  end
  local ft = vim.bo[bufnr].filetype
  if ft == "" or vim.api.nvim_buf_get_name(bufnr) == "" then
    return false
  end
  local fts = config.options.filetypes
  return fts == nil or vim.tbl_contains(fts, ft)
end

---@param bufnr integer
---@return string
function M.root_dir(bufnr)
  return vim.fs.root(bufnr, config.options.root_markers) or vim.fn.getcwd()
end

--- Start (or reuse) the server for a buffer.
---@param bufnr? integer
---@return integer? client_id
function M.start(bufnr)
  bufnr = util.buf(bufnr)
  if not wanted(bufnr) then
    return nil
  end
  local opts = config.options
  local _, reason = M.executable(opts.cmd)
  if reason then
    if not warned_missing then
      warned_missing = true
      util.notify(("%s: %s"):format(reason, M.install_hint), vim.log.levels.ERROR)
    end
    return nil
  end
  return vim.lsp.start({
    name = M.name,
    cmd = opts.cmd,
    root_dir = M.root_dir(bufnr),
    init_options = {
      codegenie = util.object(opts.settings),
      client = { explanationNotification = true, name = "codegenie.nvim" },
    },
    settings = { codegenie = util.object(opts.settings) },
    handlers = handlers(),
  }, { bufnr = bufnr })
end

--- Forget that the missing-binary error was shown (after `setup` changes `cmd`).
function M.reset_warning()
  warned_missing = false
end

---@param filter? table
---@return vim.lsp.Client[]
function M.clients(filter)
  filter = vim.tbl_extend("force", filter or {}, { name = M.name })
  return vim.lsp.get_clients(filter)
end

--- The client for a buffer, else any running CodeGenie client.
---@param bufnr? integer
---@return vim.lsp.Client?
function M.client(bufnr)
  return M.clients({ bufnr = util.buf(bufnr) })[1] or M.clients()[1]
end

--- `client:request` on 0.11+, `client.request` on 0.10.
---@param client vim.lsp.Client
---@param method string
---@param params table?
---@param handler fun(err: table?, result: any, ctx: table)
---@param bufnr? integer
function M.request(client, method, params, handler, bufnr)
  if has_011 then
    return client:request(method, params, handler, bufnr)
  end
  return client.request(method, params, handler, bufnr)
end

--- A blocking request (for :checkhealth and completion only).
---@param client vim.lsp.Client
---@param command string
---@param args? table
---@param timeout integer ms
---@return { result: any, err: table? }? reply nil on timeout
function M.exec_sync(client, command, args, timeout)
  local params = { command = command, arguments = { util.object(args) } }
  if has_011 then
    return client:request_sync("workspace/executeCommand", params, timeout)
  end
  return client.request_sync("workspace/executeCommand", params, timeout)
end

---@param client vim.lsp.Client
---@param method string
---@param params table?
function M.notify(client, method, params)
  if has_011 then
    return client:notify(method, params)
  end
  return client.notify(method, params)
end

--- The server's message for a JSON-RPC error.
---@param err table|string
---@return string
function M.error_message(err)
  if type(err) == "table" then
    return tostring(err.message or vim.inspect(err))
  end
  return tostring(err)
end

--- Run a `codegenie.*` command. `callback(result)` runs on success; on
--- failure the server's message is shown (and `on_error(message)` called).
---@param command string e.g. "codegenie.models"
---@param args? table the one object argument
---@param callback? fun(result: any, client: vim.lsp.Client)
---@param opts? { bufnr?: integer, on_error?: fun(message: string), client?: vim.lsp.Client }
function M.exec(command, args, callback, opts)
  opts = opts or {}
  local function fail(message)
    util.notify(message, vim.log.levels.ERROR)
    if opts.on_error then
      opts.on_error(message)
    end
  end
  local client = opts.client or M.client(opts.bufnr)
  if not client then
    return fail(
      "the server is not running: open a file (with a filetype) after calling "
        .. "require('codegenie').setup(), or see :checkhealth codegenie"
    )
  end
  local params = { command = command, arguments = { util.object(args) } }
  M.request(client, "workspace/executeCommand", params, function(err, result)
    if err then
      return fail(M.error_message(err))
    end
    if callback then
      callback(result, client)
    end
  end, opts.bufnr)
end

--- Send the current settings to every running server.
function M.push_settings()
  local settings = util.object(config.options.settings)
  for _, client in ipairs(M.clients()) do
    client.settings = { codegenie = settings }
    if client.config then
      client.config.settings = client.settings
    end
    M.notify(client, "workspace/didChangeConfiguration", { settings = { codegenie = settings } })
  end
end

local group = vim.api.nvim_create_augroup("codegenie", { clear = true })

--- (Re)install the FileType autocmd and attach to buffers already open.
function M.enable()
  vim.api.nvim_clear_autocmds({ group = group })
  if config.options.autostart == false then
    return
  end
  vim.api.nvim_create_autocmd("FileType", {
    group = group,
    desc = "Start the CodeGenie language server",
    callback = function(ev)
      M.start(ev.buf)
    end,
  })
  for _, bufnr in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(bufnr) then
      M.start(bufnr)
    end
  end
end

return M
