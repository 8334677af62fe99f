-- Loading, setup() and the :CodeGenie command, without a server.
local h = require("harness")
local test, eq, truthy = h.test, h.eq, h.truthy

test("plugin/ registers :CodeGenie without loading the module", function()
  eq(true, vim.g.loaded_codegenie)
  eq(2, vim.fn.exists(":CodeGenie"))
  eq(nil, package.loaded["codegenie"])
  eq(nil, package.loaded["codegenie.lsp"])
end)

test("subcommands complete", function()
  local all = vim.fn.getcompletion("CodeGenie ", "cmdline")
  for _, name in ipairs({
    "cancel",
    "explain",
    "forgot",
    "generate",
    "history",
    "login",
    "logout",
    "model",
    "profile",
    "reset",
    "signup",
    "status",
  }) do
    truthy(vim.tbl_contains(all, name), "completion offers " .. name)
  end
  eq({ "login", "logout" }, vim.fn.getcompletion("CodeGenie lo", "cmdline"))
  eq({ "kind=generate", "kind=explain" }, vim.fn.getcompletion("CodeGenie history kind", "cmdline"))
end)

test("setup() merges options and rejects bad types", function()
  local codegenie = require("codegenie")
  codegenie.setup({ cmd = { h.bin, "serve" }, explain = { layout = "split" }, autostart = false })
  local opts = codegenie.options()
  eq({ h.bin, "serve" }, opts.cmd)
  eq("split", opts.explain.layout)
  eq(0.8, opts.explain.width, "unset nested options keep their defaults")
  eq(false, opts.keymaps)
  local ok, err = pcall(codegenie.setup, { cmd = "codegenie" })
  eq(false, ok)
  h.contains(err, "`cmd` must be a table")
end)

test("no keymaps unless asked for", function()
  require("codegenie").setup({ cmd = { h.bin }, autostart = false })
  eq("", vim.fn.maparg("<leader>cg", "n"))
  require("codegenie").setup({ cmd = { h.bin }, autostart = false, keymaps = { history = "<leader>H" } })
  h.contains(vim.fn.maparg("<leader>cg", "n"), "CodeGenie generate")
  h.contains(vim.fn.maparg("<leader>H", "n"), "CodeGenie history")
  h.contains(vim.fn.maparg("<leader>ce", "x"), "CodeGenie explain")
end)

test("highlight groups are defined and overridable", function()
  local hl = vim.api.nvim_get_hl(0, { name = "CodeGenieExplainBorder" })
  eq("FloatBorder", hl.link)
end)

test("an unknown subcommand names the valid ones", function()
  vim.cmd("CodeGenie frobnicate")
  local m = h.message("unknown subcommand `frobnicate`")
  eq(vim.log.levels.ERROR, m.level)
  h.contains(m.msg, "generate")
end)

test("the help page has its tags", function()
  local doc = vim.api.nvim_get_runtime_file("doc/codegenie.txt", false)[1]
  truthy(doc, "doc/codegenie.txt on 'runtimepath'")
  local rt = h.tmp .. "/helprt"
  vim.fn.mkdir(rt .. "/doc", "p")
  vim.fn.writefile(vim.fn.readfile(doc), rt .. "/doc/codegenie.txt")
  vim.cmd("helptags " .. vim.fn.fnameescape(rt .. "/doc"))
  vim.opt.runtimepath:prepend(rt)
  for _, tag in ipairs({ "codegenie", "codegenie-setup", ":CodeGenie", "codegenie-keymaps", "codegenie-highlights" }) do
    vim.cmd("help " .. tag)
    eq("help", vim.bo.buftype, ":help " .. tag)
    vim.cmd("helpclose")
  end
end)

h.run()
