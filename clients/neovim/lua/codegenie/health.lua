--- :checkhealth codegenie
local M = {}

local health = vim.health

--- Run a command and return its trimmed stdout, or nil and a reason.
---@param argv string[]
---@return string?, string?
local function run(argv)
  local ok, obj = pcall(function()
    return vim.system(argv, { text = true }):wait(10000)
  end)
  if not ok then
    return nil, tostring(obj)
  end
  if obj.code ~= 0 then
    return nil, vim.trim((obj.stderr or "") ~= "" and obj.stderr or ("exit status " .. obj.code))
  end
  return vim.trim(obj.stdout or "")
end

local function check_neovim()
  local text = "Neovim " .. tostring(vim.version())
  if vim.fn.has("nvim-0.11") == 1 then
    health.ok(text)
  elseif vim.fn.has("nvim-0.10") == 1 then
    health.warn(text .. ": CodeGenie is tested on Neovim 0.11 and newer; 0.10 is best effort")
  else
    health.error(text .. ": CodeGenie needs Neovim 0.10 or newer (0.11 or newer is tested)")
  end
end

---@return string? path
local function check_binary()
  local config = require("codegenie.config")
  local lsp = require("codegenie.lsp")
  local path, reason = lsp.executable(config.options.cmd)
  if not path then
    health.error(reason or "server not found", { lsp.install_hint })
    return nil
  end
  local version, err = run({ path, "--version" })
  if not version then
    health.error(("%s --version failed: %s"):format(path, err), { lsp.install_hint })
    return nil
  end
  health.ok(("server: %s (%s)"):format(version, path))
  return path
end

---@param client vim.lsp.Client
local function check_status(client)
  local lsp = require("codegenie.lsp")
  local reply = lsp.exec_sync(client, "codegenie.status", {}, 5000)
  if not reply then
    health.warn("the server did not answer `codegenie.status` in time")
  elseif reply.err then
    health.info("login state unknown: " .. lsp.error_message(reply.err))
  elseif type(reply.result) == "table" and type(reply.result.user) == "table" then
    local user = reply.result.user
    health.ok(("logged in as %s <%s>"):format(user.username or "?", user.email or "?"))
  else
    health.warn("not logged in", { "run :CodeGenie login (or :CodeGenie signup)" })
  end
end

local function check_server()
  local lsp = require("codegenie.lsp")
  local clients = lsp.clients()
  if #clients == 0 then
    health.warn("the server is not running", {
      "call require('codegenie').setup() in your config",
      "open a file that has a filetype; see :help codegenie-setup",
    })
    return
  end
  for _, client in ipairs(clients) do
    local buffers = vim.lsp.get_buffers_by_client_id(client.id)
    health.ok(
      ("server running (client %d, root %s, %d buffer%s, position encoding %s)"):format(
        client.id,
        client.root_dir or client.config.root_dir or "?",
        #buffers,
        #buffers == 1 and "" or "s",
        client.offset_encoding or "?"
      )
    )
  end
  check_status(clients[1])
end

---@param path string
local function check_config(path)
  local out, err = run({ path, "--json", "config" })
  if not out then
    health.warn("`codegenie config --json` failed: " .. tostring(err))
    return
  end
  local ok, cfg = pcall(vim.json.decode, out)
  if not ok or type(cfg) ~= "table" then
    health.warn("`codegenie config --json` printed something that is not JSON")
    return
  end
  local settings = type(cfg.settings) == "table" and cfg.settings or {}
  local editor_model = (require("codegenie.config").options.settings or {}).model
  health.info("config file: " .. (type(cfg.configFile) == "string" and cfg.configFile or "none"))
  health.info("data directory: " .. tostring(cfg.dataDir or settings.data_dir or "?"))
  local mongo = type(settings.mongodb) == "table" and settings.mongodb.uri
  health.info("store: " .. ((type(mongo) == "string") and "MongoDB (configured)" or "local (embedded file)"))
  health.info(
    ("default model: %s%s"):format(
      tostring(editor_model or settings.model or "?"),
      editor_model and " (from setup settings)" or ""
    )
  )
  local hf = type(settings.hf) == "table" and settings.hf or {}
  if type(hf.token) == "string" then
    health.ok("Hugging Face token: set")
  else
    health.info("Hugging Face token: not set (hosted models need one: HF_TOKEN, or hf.token in the config file)")
  end
  for _, problem in ipairs(type(cfg.problems) == "table" and cfg.problems or {}) do
    health.warn("configuration: " .. (type(problem) == "string" and problem or vim.json.encode(problem)))
  end
end

---@param path string
local function check_doctor(path)
  local out, err = run({ path, "doctor" })
  if out then
    health.ok("codegenie doctor: " .. (out ~= "" and out or "all checks passed"))
  elseif err and err:find("not available", 1, true) then
    health.info("codegenie doctor: " .. err)
  else
    health.warn("codegenie doctor: " .. tostring(err))
  end
end

function M.check()
  health.start("codegenie: Neovim")
  check_neovim()
  health.start("codegenie: server binary")
  local path = check_binary()
  health.start("codegenie: language server")
  check_server()
  if path then
    health.start("codegenie: configuration")
    check_config(path)
    check_doctor(path)
  end
end

return M
