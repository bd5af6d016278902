-- wrk script of the gate benchmark: GET /protected with a bearer token
-- taken in turn from the file named by $TOKENS (one token a line). Each
-- wrk thread starts at a different offset.
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local i = 0
function init(args)
  i = (id or 0) * 997
end

function request()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  return wrk.format("GET", "/protected", { ["Authorization"] = "Bearer " .. t })
end
