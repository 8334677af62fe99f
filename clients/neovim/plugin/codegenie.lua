-- Registers :CodeGenie. Everything else loads on first use.
if vim.g.loaded_codegenie then
  return
end
vim.g.loaded_codegenie = true

vim.api.nvim_create_user_command("CodeGenie", function(cmd)
  require("codegenie.commands").run(cmd)
end, {
  nargs = "*",
  range = true,
  desc = "CodeGenie: generate, explain, accounts, history, models",
  complete = function(arglead, line)
    return require("codegenie.commands").complete(arglead, line)
  end,
})
