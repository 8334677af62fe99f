-- Loaded with `nvim -u`: the plugin under test on 'runtimepath', nothing
-- else. XDG_* directories are isolated by run.sh.
local root = vim.fn.fnamemodify(debug.getinfo(1, "S").source:sub(2), ":p:h:h")
vim.opt.runtimepath:prepend(root)
vim.opt.runtimepath:append(root .. "/tests")
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
package.path = root .. "/tests/?.lua;" .. package.path
-- No remote-plugin providers: probing them (`has('python3')` in the Python
-- ftplugin) costs seconds and tests nothing of ours.
for _, provider in ipairs({ "python3", "ruby", "perl", "node" }) do
  vim.g["loaded_" .. provider .. "_provider"] = 0
end
