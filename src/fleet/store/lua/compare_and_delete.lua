local v = redis.pcall('GET', KEYS[1])
if type(v) == 'string' and string.sub(v, 1, string.len(ARGV[1])) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
