-- luacheck configuration for the Neovim plugin.
std = "luajit"
globals = { "vim" }
max_line_length = 120
-- Unused arguments of callbacks and handlers are part of their signature.
unused_args = false
exclude_files = { ".tests/" }
