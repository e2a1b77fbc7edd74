// The Lua scripts of the keys' limits shared through Redis (shared-limits.ts): each runs whole, atomically, so two
// replicas never interleave a read and a write of one count.
import { MINUTE_MS } from "./limit-rules.ts";

// KEYS: bucket, day, month, running. ARGV: 1 now, 2 rate, 3 per day, 4 per month, 5 max_concurrent ('' for none),
// 6 generation ('1'), 7 the admission's id, 8 its lease's end, 9 the lease (ms).
export const ADMIT = `
local now, gen = tonumber(ARGV[1]), ARGV[6] == '1'
if gen then
  local perDay, perMonth, most = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
  if perDay and (tonumber(redis.call('GET', KEYS[2])) or 0) >= perDay then return {'tokens_per_day'} end
  if perMonth and (tonumber(redis.call('GET', KEYS[3])) or 0) >= perMonth then return {'tokens_per_month'} end
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
  local running = redis.call('ZCARD', KEYS[4])
  if most and running >= most then return {'max_concurrent', running} end
end
local rate = tonumber(ARGV[2])
if rate then
  local b = redis.call('HMGET', KEYS[1], 'level', 'at')
  local level = tonumber(b[1])
  if level then level = math.min(rate, level + math.max(0, now - tonumber(b[2])) * rate / ${MINUTE_MS}) else level = rate end
  if level < 1 then return {'rate_per_min', string.format('%.17g', level)} end
  redis.call('HSET', KEYS[1], 'level', string.format('%.17g', level - 1), 'at', ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ${MINUTE_MS})
end
if gen then
  redis.call('ZADD', KEYS[4], ARGV[8], ARGV[7])
  redis.call('PEXPIRE', KEYS[4], ARGV[9])
end
return {'ok'}`;

// KEYS as ADMIT's; ARGV: now. The bucket as it was left, the periods' tokens, the places taken now.
export const LEFT = `
local b = redis.call('HMGET', KEYS[1], 'level', 'at')
return {b[1] or '', b[2] or '', redis.call('GET', KEYS[2]) or '0', redis.call('GET', KEYS[3]) or '0', redis.call('ZCOUNT', KEYS[4], '(' .. ARGV[1], '+inf')}`;

// KEYS: running sets, one per ARGV from the third (an admission's id). ARGV: 1 the leases' new end, 2 the lease.
export const RENEW = `
for i, k in ipairs(KEYS) do
  redis.call('ZADD', k, ARGV[1], ARGV[i + 2])
  redis.call('PEXPIRE', k, ARGV[2])
end
return 0`;

// KEYS: count keys; ARGV: per key its tokens, then its expiry (ms since the epoch). mode 'add' counts, 'max' seeds:
// a seed never lowers a count (what the usage store summed can only lag what was counted since).
export const TOKENS = `
for i, k in ipairs(KEYS) do
  local n, at = ARGV[2 * i], ARGV[2 * i + 1]
  if ARGV[1] == 'add' then redis.call('INCRBY', k, n) redis.call('PEXPIREAT', k, at)
  elseif tonumber(n) > (tonumber(redis.call('GET', k)) or 0) then redis.call('SET', k, n, 'PXAT', at) end
end
return 0`;
