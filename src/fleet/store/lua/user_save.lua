-- Saves a user token record under its lock, if the generation follows the stored one.
-- KEYS[1] the record (a hash: gen, data), KEYS[2] the key's lock.
-- ARGV[1] the lock's id (fencing), ARGV[2] the new generation, ARGV[3] the sealed
-- record, ARGV[4] its TTL in ms.
-- Returns 1 saved, 0 the generation moved, -1 the lock is not ours (expired or taken).
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return -1
end
local stored = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local new = tonumber(ARGV[2])
if not (new == stored + 1 or (stored == 0 and new >= 1)) then
  return 0
end
redis.call('HSET', KEYS[1], 'gen', ARGV[2], 'data', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
