-- crawler.lua: the Go Tour's web crawler exercise
-- (https://go.dev/tour/concurrency/10; Go original:
-- examples/go/crawler/main.go), solved: fetch URLs in parallel, one
-- goroutine per page, without fetching the same URL twice. The set of seen
-- URLs is a lugo.table shared by every goroutine. Fetches finish in any
-- order, so the lines are collected and printed sorted.
lugo = require "lugo"

-- fakeFetcher returns canned results: a map from URL to {body, urls}.
fakeFetcher = {}
fakeFetcher.__index = fakeFetcher

-- Fetch returns the body of url and a list of the URLs found on that page,
-- or nil, nil and an error message.
function fakeFetcher:Fetch(url)
  local res = self.pages[url]
  if res then
    return res.body, res.urls, nil
  end
  return nil, nil, "not found: " .. url
end

-- fetcher is a populated fakeFetcher (the Tour's fakeResults).
fetcher = setmetatable({ pages = {
  ["https://golang.org/"] = {
    body = "The Go Programming Language",
    urls = {
      "https://golang.org/pkg/",
      "https://golang.org/cmd/",
    },
  },
  ["https://golang.org/pkg/"] = {
    body = "Packages",
    urls = {
      "https://golang.org/",
      "https://golang.org/cmd/",
      "https://golang.org/pkg/fmt/",
      "https://golang.org/pkg/os/",
    },
  },
  ["https://golang.org/pkg/fmt/"] = {
    body = "Package fmt",
    urls = {
      "https://golang.org/",
      "https://golang.org/pkg/",
    },
  },
  ["https://golang.org/pkg/os/"] = {
    body = "Package os",
    urls = {
      "https://golang.org/",
      "https://golang.org/pkg/",
    },
  },
} }, fakeFetcher)

-- Visit marks url as seen in the shared table seen and reports whether it
-- was not seen before. lugo.update runs its function while seen is locked,
-- so of two goroutines visiting one URL at once, only one gets true.
function Visit(seen, url)
  local new = false
  lugo.update(seen, url, function(was)
    new = not was
    return true
  end)
  return new
end

-- Crawl uses fetcher to recursively crawl pages starting with url, to a
-- maximum of depth, each linked page in its own goroutine; it sends one
-- line per fetch on out, and marks itself done on wg.
function Crawl(url, depth, fetcher, seen, wg, out)
  if depth > 0 and Visit(seen, url) then
    local body, urls, err = fetcher:Fetch(url)
    if err then
      out:send(err)
    else
      out:send(string.format("found: %s %q", url, body))
      for _, u in ipairs(urls) do
        wg:add()
        lugo.go(Crawl, u, depth - 1, fetcher, seen, wg, out)
      end
    end
  end
  wg:done()
end

local seen = lugo.table()
local out = lugo.chan()
local wg = lugo.waitgroup()
wg:add()
lugo.go(Crawl, "https://golang.org/", 4, fetcher, seen, wg, out)
-- Close out once every Crawl is done, which ends the loop below.
lugo.go(function()
  wg:wait()
  out:close()
end)

local lines = {}
for line in out:range() do
  lines[#lines + 1] = line
end
table.sort(lines)
for _, line in ipairs(lines) do
  print(line)
end
