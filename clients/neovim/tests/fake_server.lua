-- A minimal language server over stdio, run with `nvim -l`, for what the
-- real server does not send yet: after `initialized` it sends the
-- `window/showMessageRequest`s below one at a time and appends each answer,
-- as a JSON line, to the file named by its first argument.
local out_path = assert(arg[1], "usage: nvim -l fake_server.lua OUT")

local requests = {
  {
    type = 2,
    message = "CodeGenie: the document changed, so the code was not inserted",
    actions = { { title = "Insert again" }, { title = "Show in a buffer" } },
  },
  { type = 2, message = "CodeGenie: dismiss me", actions = { { title = "Insert again" } } },
  { type = 3, message = "CodeGenie: nothing to choose", actions = {} },
}

local function read_message()
  local length
  while true do
    local line = io.stdin:read("*l")
    if not line then
      return nil
    end
    line = line:gsub("\r$", "")
    if line == "" then
      break
    end
    length = tonumber(line:match("^[Cc]ontent%-[Ll]ength: (%d+)")) or length
  end
  return vim.json.decode(io.stdin:read(length))
end

local function send(message)
  message.jsonrpc = "2.0"
  local body = vim.json.encode(message)
  io.stdout:write(("Content-Length: %d\r\n\r\n%s"):format(#body, body))
  io.stdout:flush()
end

local function ask(i)
  if requests[i] then
    send({ id = i, method = "window/showMessageRequest", params = requests[i] })
  end
end

while true do
  local msg = read_message()
  if not msg then
    break
  end
  if msg.method == "initialize" then
    send({ id = msg.id, result = { capabilities = vim.empty_dict(), serverInfo = { name = "fake" } } })
  elseif msg.method == "initialized" then
    ask(1)
  elseif msg.method == "shutdown" then
    send({ id = msg.id, result = vim.NIL })
  elseif msg.method == "exit" then
    break
  elseif msg.method and msg.id ~= nil then
    send({ id = msg.id, result = vim.NIL })
  elseif msg.method == nil and msg.id ~= nil then
    -- An answer to one of ours.
    local f = assert(io.open(out_path, "a"))
    f:write(vim.json.encode({ id = msg.id, result = msg.result, error = msg.error }), "\n")
    f:close()
    ask(msg.id + 1)
  end
end
