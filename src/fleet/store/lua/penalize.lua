local cap = tonumber(ARGV[2])
local ms = tonumber(ARGV[1])
if ms > cap then ms = cap end
local left = redis.call('PTTL', KEYS[1])
if left < ms or left > cap then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return 1
