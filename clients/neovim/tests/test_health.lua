-- :checkhealth codegenie, and a missing server binary.
local h = require("harness")
local test, eq = h.test, h.eq

--- Run :checkhealth codegenie and return the report's text.
local function checkhealth()
  vim.cmd("checkhealth codegenie")
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), "\n")
  vim.cmd("bwipeout!")
  return text
end

test("a missing binary gives the install hint, once", function()
  require("codegenie").setup({ cmd = { "codegenie-not-installed", "serve" } })
  h.open("a.py", { "# hello" })
  local m = h.message("cargo install --path server")
  eq(vim.log.levels.ERROR, m.level)
  h.contains(m.msg, "`codegenie-not-installed` was not found")
  h.open("b.lua", { "-- hello" })
  vim.wait(50)
  eq(1, #h.messages, "one error, not one per buffer")
  eq(0, #vim.lsp.get_clients({ name = "codegenie" }))
end)

test(":checkhealth reports the missing binary with the install hint", function()
  local report = checkhealth()
  h.contains(report, "ERROR the server `codegenie-not-installed` was not found")
  h.contains(report, "cargo install --path server")
end)

test(":checkhealth codegenie reports OK for Neovim, the binary and the running server", function()
  require("codegenie").setup({ cmd = { h.bin, "serve" } })
  local buf = h.open("c.py", { "# hello" })
  h.client(buf)
  local report = checkhealth()
  local version = vim.trim(vim.fn.system({ h.bin, "--version" }))
  h.contains(report, "OK Neovim " .. vim.version().major .. "." .. vim.version().minor)
  h.contains(report, "OK server: " .. version)
  h.contains(report, "OK server running")
  h.contains(report, "position encoding utf-8")
  h.contains(report, "data directory: " .. vim.env.CODEGENIE_DATA_DIR)
  h.contains(report, "store: local")
  h.contains(report, "default model: deepseek-coder")
  eq(nil, report:find("ERROR", 1, true), "no errors in:\n" .. report)
end)

h.run()
