--- Account commands. Passwords and reset codes are read with
--- vim.fn.inputsecret (no echo, no history), go straight into the request
--- and are never shown, logged or stored by the plugin.
local lsp = require("codegenie.lsp")
local util = require("codegenie.util")

local M = {}

--- Run a command and wait for its result (nil when it failed; the server's
--- message has been shown).
---@param command string
---@param args table
---@return table?
local function call(command, args)
  return util.await(function(done)
    lsp.exec(command, args, function(result)
      done(result or {})
    end, {
      on_error = function()
        done(nil)
      end,
    })
  end)
end

--- A new password, typed twice.
---@param label string
---@return string?
local function new_password(label)
  local password = util.secret(label .. ": ")
  if not password then
    return nil
  end
  if util.secret("Repeat the password: ") ~= password then
    util.notify("the passwords differ; nothing was changed", vim.log.levels.WARN)
    return nil
  end
  return password
end

local function who(user)
  if type(user) ~= "table" then
    return "?"
  end
  return ("%s <%s>"):format(user.username or "?", user.email or "?")
end

function M.signup()
  util.async(function()
    local email = util.input("Email: ")
    local username = email and util.input("Username: ")
    local password = username and new_password("Password")
    if not password then
      return
    end
    local result = call("codegenie.signup", { email = email, username = username, password = password })
    if result then
      util.notify("signed up and logged in as " .. who(result.user))
    end
  end)
end

function M.login()
  util.async(function()
    local name = util.input("Email or username: ")
    local password = name and util.secret("Password: ")
    if not password then
      return
    end
    local args = { password = password }
    args[name:find("@", 1, true) and "email" or "username"] = name
    local result = call("codegenie.login", args)
    if result then
      util.notify("logged in as " .. who(result.user))
    end
  end)
end

function M.logout()
  util.async(function()
    if call("codegenie.logout", {}) then
      util.notify("logged out")
    end
  end)
end

function M.forgot()
  util.async(function()
    local email = util.input("Email: ")
    if not email then
      return
    end
    local result = call("codegenie.forgotPassword", { email = email })
    if result then
      util.notify(result.message or "if the address has an account, a reset code is on its way")
    end
  end)
end

function M.reset()
  util.async(function()
    local email = util.input("Email: ")
    local code = email and util.secret("Reset code (from the email): ")
    local password = code and new_password("New password")
    if not password then
      return
    end
    if call("codegenie.resetPassword", { email = email, code = code, newPassword = password }) then
      util.notify("password changed: log in with :CodeGenie login")
    end
  end)
end

--- The profile as markdown lines.
---@param result table
---@return string[]
function M.profile_lines(result)
  local user = result.user or {}
  local lines = {
    "# " .. (user.username or "?"),
    "",
    "- email: " .. (user.email or "?"),
    "- member since: " .. util.time(user.createdAt),
    "- last login: " .. (user.lastLoginAt == vim.NIL and "never" or util.time(user.lastLoginAt)),
    "",
    "## Usage",
    "",
    "| model | kind | count |",
    "|---|---|---|",
  }
  for _, u in ipairs(result.usage or {}) do
    table.insert(lines, ("| %s | %s | %s |"):format(u.model or "?", u.kind or "?", tostring(u.count or 0)))
  end
  return lines
end

function M.profile()
  util.async(function()
    local result = call("codegenie.profile", {})
    if result then
      local buf = util.scratch(M.profile_lines(result), "markdown", "codegenie://profile")
      vim.cmd("botright split")
      vim.api.nvim_win_set_buf(0, buf)
    end
  end)
end

function M.status()
  util.async(function()
    local result = call("codegenie.status", {})
    if result then
      local user = result.user
      local state = (type(user) == "table") and ("logged in as " .. who(user)) or "not logged in"
      util.notify(("%s · model %s"):format(state, tostring(result.model or "?")))
    end
  end)
end

return M
