-- The soak test's request mix for wrk (bench/soak.sh runs it).
--
--   wrk -s bench/soak.lua URL -- PER_THREAD_LIMIT ETAG MARKER_PREFIX
--
-- Every request carries the status it must get in its query (?expect=N);
-- the server echoes the query back in an X-Expect header (mod_headers,
-- `Header always`), so each response is checked against its own request
-- however the connections interleave.  A thread stops after
-- PER_THREAD_LIMIT responses and creates MARKER_PREFIX.<thread id>; the
-- script then ends wrk (whose main thread otherwise waits out -d).

-- weight, path, extra headers, expected status
local mix = {
    {40, "/asis/xsf-small.asis", {}, 200},
    {4,  "/asis/xsf-large.asis", {}, 200},
    {10, "/asis/xsf-small.asis", {Range = "bytes=100-199"}, 206},
    {10, "/asis/xsf-small.asis", {["If-None-Match"] = "ETAG"}, 304},
    {8,  "/asis/xsf-missing.asis", {}, 404},
    {8,  "/asis/xsf-outside.asis", {}, 403},
    {10, "/app/temporary", {}, 200},
    {10, "/app/body", {}, 200},
}

local threads = {}
local next_id = 1

function setup(thread)
    thread:set("id", next_id)
    next_id = next_id + 1
    table.insert(threads, thread)
end

local requests, limit, marker
local n, responses = 0, 0
unexpected = 0
first_unexpected = ""

function init(args)
    limit = tonumber(args[1])
    local etag = args[2]
    marker = args[3] .. "." .. id
    requests = {}
    for _, m in ipairs(mix) do
        local headers = {}
        for k, v in pairs(m[3]) do
            headers[k] = (v == "ETAG") and etag or v
        end
        local req = wrk.format("GET", m[2] .. "?expect=" .. m[4], headers)
        for _ = 1, m[1] do
            table.insert(requests, req)
        end
    end
    -- A fixed shuffle: the same mix in every run, kinds interleaved.
    math.randomseed(id)
    for i = #requests, 2, -1 do
        local j = math.random(i)
        requests[i], requests[j] = requests[j], requests[i]
    end
end

function request()
    n = n % #requests + 1
    return requests[n]
end

function response(status, headers, body)
    responses = responses + 1
    local expect = tonumber(string.match(headers["X-Expect"] or "", "expect=(%d+)"))
    if expect ~= status then
        unexpected = unexpected + 1
        if first_unexpected == "" then
            first_unexpected = string.format("status %d, X-Expect %s", status,
                                             tostring(headers["X-Expect"]))
        end
    end
    if responses == limit then
        io.open(marker, "w"):close()
        wrk.thread:stop()
    end
end

function done(summary, latency, requests)
    local bad, first = 0, ""
    for _, t in ipairs(threads) do
        bad = bad + t:get("unexpected")
        if first == "" then first = t:get("first_unexpected") end
    end
    local e = summary.errors
    io.write(string.format("SOAK requests %d unexpected %d socket_errors %d first_unexpected %s\n",
                           summary.requests, bad,
                           e.connect + e.read + e.write + e.timeout,
                           first == "" and "-" or first))
end
