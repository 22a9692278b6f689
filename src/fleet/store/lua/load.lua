local v = redis.pcall('GET', KEYS[1])
if type(v) ~= 'string' then return false end
return {v, redis.call('PTTL', KEYS[1])}
