--- `:CodeGenie {subcommand}`: dispatch and completion.
local M = {}

---@class codegenie.Subcommand
---@field run fun(args: string[], cmd: table)
---@field desc string
---@field complete? fun(): string[]

---@type table<string, codegenie.Subcommand>
M.subcommands = {
  generate = {
    desc = "Generate code from the comment at the cursor (optionally with MODEL)",
    run = function(args, cmd)
      local opts = { model = args[1] }
      if cmd.range and cmd.range > 0 then
        opts.line1, opts.line2 = cmd.line1, cmd.line2
      end
      require("codegenie").generate(opts)
    end,
    complete = function()
      return require("codegenie.models").ids()
    end,
  },
  explain = {
    desc = "Explain the selected lines (:'<,'>CodeGenie explain)",
    run = function(args, cmd)
      local opts = { model = args[1] }
      if cmd.range and cmd.range > 0 then
        opts.line1, opts.line2 = cmd.line1, cmd.line2
      else
        local line = vim.api.nvim_win_get_cursor(0)[1]
        opts.line1, opts.line2 = line, line
      end
      require("codegenie").explain(opts)
    end,
    complete = function()
      return require("codegenie.models").ids()
    end,
  },
  cancel = {
    desc = "Cancel the running generations and explanations",
    run = function()
      require("codegenie").cancel()
    end,
  },
  model = {
    desc = "Choose the default model",
    run = function(args)
      require("codegenie").model(args[1])
    end,
    complete = function()
      return require("codegenie.models").ids()
    end,
  },
  history = {
    desc = "Pick from your history: insert, open or delete an entry",
    run = function(args)
      local filter = {}
      for _, arg in ipairs(args) do
        local key, value = arg:match("^(%w+)=(.*)$")
        if key then
          filter[key] = value
        end
      end
      require("codegenie").history(filter)
    end,
    complete = function()
      return { "kind=generate", "kind=explain", "model=", "search=" }
    end,
  },
}

-- The account subcommands run the function of the same name in `account`.
for name, desc in pairs({
  signup = "Create an account and log in",
  login = "Log in with your email or username",
  logout = "Log out",
  forgot = "Email a password reset code",
  reset = "Set a new password with the emailed code",
  profile = "Show your profile and usage",
  status = "Show who is logged in and the default model",
}) do
  M.subcommands[name] = {
    desc = desc,
    run = function()
      require("codegenie.account")[name]()
    end,
  }
end

---@return string[]
function M.names()
  local names = vim.tbl_keys(M.subcommands)
  table.sort(names)
  return names
end

--- Completion for `:CodeGenie`.
---@param arglead string
---@param line string
---@return string[]
function M.complete(arglead, line)
  local words = vim.split(line:gsub("^.-CodeGenie!?%s*", ""), "%s+", { trimempty = true })
  local candidates
  if #words == 0 or (#words == 1 and arglead ~= "") then
    candidates = M.names()
  else
    local sub = M.subcommands[words[1]]
    candidates = sub and sub.complete and sub.complete() or {}
  end
  return vim.tbl_filter(function(name)
    return vim.startswith(name, arglead)
  end, candidates)
end

--- Run `:CodeGenie` from its user-command table.
---@param cmd table the argument of an nvim_create_user_command callback
function M.run(cmd)
  local args = vim.deepcopy(cmd.fargs)
  local name = table.remove(args, 1)
  if not name then
    require("codegenie.util").notify("subcommands: " .. table.concat(M.names(), ", "))
    return
  end
  local sub = M.subcommands[name]
  if not sub then
    require("codegenie.util").notify(
      ("unknown subcommand `%s`; try one of: %s"):format(name, table.concat(M.names(), ", ")),
      vim.log.levels.ERROR
    )
    return
  end
  sub.run(args, cmd)
end

return M
