// The shared usage sums' layout in Redis, the one script that adds a batch of them, and how an hour's hash is
// read back into rows (shared-usage.ts).
//
// Per UTC hour (keys expire USAGE_RETENTION_DAYS after the hour ends):
//   usage:h:<hour>  hash, one field per sum column × group: `<column>|<json [key, user, model, machine, kind]>`
//                   (HINCRBY, HINCRBYFLOAT for seconds); plus the bounds' own fields, which begin with '#':
//                   `#groups` and `#models` (counts) and `#m|<model>` (the models seen that hour).
//   usage:k:<hour>  hash key → tokens (a quota's seed reads this, not every group).
//   usage:m:<hour>  hash `g|<machine>` → generation seconds (/energy), `t|<machine>` → tokens (Home Assistant).
// Per UTC day: usage:people:<day>  hash `<json [key, user]>` → 1 and `#<key>` → how many (kept two days after
//                   its last new person: a request that began before midnight, or a batch late after an outage).
//
// What a client chooses is bounded here, for all replicas together, as the usage store bounds its file: a
// key's people per day (MAX_USERS_PER_KEY_DAY, then "other"), the models per hour (then "other") and the
// groups per hour (then user none, model "other"). Model names are cut as well (boundedModel). Every count
// is kept; only detail is folded.
import { sha256 } from "../../lib/sha256.ts";
import { HOUR_MS, MAX_PENDING_GROUPS, MAX_USERS_PER_KEY_DAY, OTHER_USER, type PendingGroup } from "../usage/pending.ts";
import type { HourRow } from "../usage/reads.ts";
import { SUM_COLUMNS, TTFB_COLUMNS } from "../usage/schema.ts";
import type { UsageKind } from "../usage/types.ts";
import { SEQ_TTL_MS } from "./batch-writer.ts";
import { DAY_MS, floatArg, integerArg } from "./shared-hours.ts";

/** Distinct models one hour keeps apart (all replicas together); the rest count as "other". */
export const MAX_MODELS_PER_HOUR = 256;
/** Distinct groups one hour keeps apart; the rest fold into user none, model "other". */
export const MAX_GROUPS_PER_HOUR = MAX_PENDING_GROUPS;
/** A model's name is cut past this, with a hash of the whole so two long names stay apart. */
export const MAX_MODEL_CHARS = 256;
const OTHER_MODEL = "other";

/** The sums kept with HINCRBYFLOAT: seconds. */
const FLOAT_COLUMNS = new Set(["generation_s", "load_s", "wake_wait_s"]);
const at = (column: string) => SUM_COLUMNS.indexOf(column) + 1;
/** Arguments before the groups'; then each group is its 6 fields and its sums in SUM_COLUMNS' order. */
const HEAD = 6;
export const GROUP_ARGS = 6 + SUM_COLUMNS.length;

const lua = (s: string) => JSON.stringify(s); // a Lua string literal for what SUM_COLUMNS holds (plain words)

export const ADD_USAGE = `
local last = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[2]) <= last then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ${SEQ_TTL_MS})
local p, keep = ARGV[1], tonumber(ARGV[3])
local maxModels, maxGroups, maxPeople = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local cols = {${SUM_COLUMNS.map(lua).join(",")}}
local float = {${SUM_COLUMNS.map((c) => String(FLOAT_COLUMNS.has(c))).join(",")}}
local n = #cols
local i = ${HEAD + 1}
while i <= #ARGV do
  local hour, key, user, model, machine, kind = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
  local expire = string.format('%.0f', tonumber(hour) + keep)
  local h = p .. 'usage:h:' .. hour
  if user ~= '' and user ~= ${lua(OTHER_USER)} then
    local day = math.floor(tonumber(hour) / ${DAY_MS})
    local pk = p .. 'usage:people:' .. string.format('%.0f', day)
    local pf = cjson.encode({key, user})
    if redis.call('HEXISTS', pk, pf) == 0 then
      if tonumber(redis.call('HGET', pk, '#' .. key) or '0') >= maxPeople then user = ${lua(OTHER_USER)}
      else redis.call('HSET', pk, pf, 1) redis.call('HINCRBY', pk, '#' .. key, 1) end
      redis.call('PEXPIRE', pk, ${2 * DAY_MS})
    end
  end
  if model ~= ${lua(OTHER_MODEL)} and redis.call('HEXISTS', h, '#m|' .. model) == 0 then
    if tonumber(redis.call('HGET', h, '#models') or '0') >= maxModels then model = ${lua(OTHER_MODEL)}
    else redis.call('HSET', h, '#m|' .. model, 1) redis.call('HINCRBY', h, '#models', 1) end
  end
  local g = cjson.encode({key, user, model, machine, kind})
  if redis.call('HEXISTS', h, 'requests|' .. g) == 0 then
    if tonumber(redis.call('HGET', h, '#groups') or '0') >= maxGroups then g = cjson.encode({key, '', ${lua(OTHER_MODEL)}, machine, kind}) end
    if redis.call('HEXISTS', h, 'requests|' .. g) == 0 then redis.call('HINCRBY', h, '#groups', 1) end
  end
  for c = 1, n do
    local v = ARGV[i + 5 + c]
    if v ~= '0' then
      if float[c] then redis.call('HINCRBYFLOAT', h, cols[c] .. '|' .. g, v) else redis.call('HINCRBY', h, cols[c] .. '|' .. g, v) end
    end
  end
  redis.call('PEXPIREAT', h, expire)
  local tokens = tonumber(ARGV[i + 5 + ${at("prompt_tokens")}]) + tonumber(ARGV[i + 5 + ${at("completion_tokens")}])
  local gen = ARGV[i + 5 + ${at("generation_s")}]
  local kh, mh = p .. 'usage:k:' .. hour, p .. 'usage:m:' .. hour
  if tokens > 0 then
    redis.call('HINCRBY', kh, key, string.format('%.0f', tokens))
    redis.call('HINCRBY', mh, 't|' .. machine, string.format('%.0f', tokens))
    redis.call('PEXPIREAT', kh, expire)
  end
  if gen ~= '0' then redis.call('HINCRBYFLOAT', mh, 'g|' .. machine, gen) end
  if tokens > 0 or gen ~= '0' then redis.call('PEXPIREAT', mh, expire) end
  i = i + n + 6
end
return 1`;

/** The script's arguments after the sequence number: the prefix, the keys' lifetime and the bounds. */
export function headArgs(prefix: string, seq: number, retentionDays: number): string[] {
  const keepMs = HOUR_MS + retentionDays * DAY_MS;
  return [prefix, String(seq), String(keepMs), String(MAX_MODELS_PER_HOUR), String(MAX_GROUPS_PER_HOUR), String(MAX_USERS_PER_KEY_DAY)];
}

/** One pending group as the script's arguments: its fields, then its sums (integers and seconds as Redis takes them). */
export function groupArgs(g: PendingGroup): string[] {
  const [hour, key, user, model, machine, kind] = g.group;
  const sums = g.sums.map((v, i) => (FLOAT_COLUMNS.has(SUM_COLUMNS[i]!) ? floatArg(v) : integerArg(v)));
  return [String(hour), key, user, boundedModel(model), machine, kind, ...sums];
}

/** A model's name as kept: whole up to MAX_MODEL_CHARS, else its start and a hash of the whole. */
export function boundedModel(model: string): string {
  if (model.length <= MAX_MODEL_CHARS) return model;
  return `${model.slice(0, MAX_MODEL_CHARS - 17)}~${sha256(model).toString("hex").slice(0, 16)}`;
}

/** One hour's rows from its hash (the bounds' '#' fields skipped). */
export function rowsOf(hour: number, fields: Map<string, string>): HourRow[] {
  const rows = new Map<string, HourRow>();
  for (const [field, value] of fields) {
    if (field.startsWith("#")) continue;
    const bar = field.indexOf("|");
    const column = field.slice(0, bar);
    const group = field.slice(bar + 1);
    let row = rows.get(group);
    if (!row) {
      const parsed = parseGroup(group);
      if (!parsed) continue;
      rows.set(group, (row = parsed(hour)));
    }
    const t = TTFB_COLUMNS.indexOf(column);
    if (t >= 0) row.ttfb[t] = Number(value);
    else if (SUM_COLUMNS.includes(column)) (row as unknown as Record<string, number>)[column] = Number(value);
  }
  return [...rows.values()];
}

function parseGroup(json: string): ((hour: number) => HourRow) | null {
  let g: unknown;
  try {
    g = JSON.parse(json);
  } catch {
    return null;
  }
  if (!Array.isArray(g) || g.length !== 5 || !g.every((x) => typeof x === "string")) return null;
  const [key, user, model, machine, kind] = g as string[];
  return (hour) => ({
    hour,
    key: key!,
    user: user === "" ? null : user!,
    model: model!,
    machine: machine!,
    kind: kind as UsageKind,
    requests: 0,
    errors: 0,
    prompt_tokens: 0,
    completion_tokens: 0,
    unreported: 0,
    generation_s: 0,
    load_s: 0,
    wake_wait_s: 0,
    ttfb: new Array(TTFB_COLUMNS.length).fill(0),
  });
}
