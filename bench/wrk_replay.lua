-- Replays pre-signed Stripe events, each exactly once across all wrk threads:
-- thread i (1-based) sends lines i, i+n, i+2n... of the file given after `--`.
-- Usage: wrk -t N -c C -d 10s --latency -s bench/wrk_replay.lua URL -- payloads.tsv N
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
end

function init(args)
  local path, total_threads = args[1], tonumber(args[2])
  queue = {}
  local index = 0
  for line in io.lines(path) do
    if index % total_threads == (id - 1) then
      local signature, body = line:match("^([^\t]*)\t(.*)$")
      queue[#queue + 1] = wrk.format("POST", nil, {
        ["Content-Type"] = "application/json",
        ["Stripe-Signature"] = signature,
      }, body)
    end
    index = index + 1
  end
  position = 0
end

function request()
  position = position + 1
  if position > #queue then
    -- Out of fresh events: a duplicate would be cheaper, so the run is rejected (run.py
    -- compares requests with payloads); keep sending to let wrk finish its duration.
    position = 1
  end
  return queue[position]
end
