-- wrk script of the gate benchmark: GET /protected with a bearer token
-- taken in turn from the file named by $TOKENS (one token a line).
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end

local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

-- Two threads start half the file apart, so that a token comes back only
-- after about #tokens requests: with 1000 tokens, a cache of 500 entries
-- (gate-full) never holds it any more.
local i = 0
function init(args)
  i = (id or 0) * math.floor(#tokens / 2)
end

function request()
  i = i + 1
  local t = tokens[(i % #tokens) + 1]
  return wrk.format("GET", "/protected", { ["Authorization"] = "Bearer " .. t })
end
