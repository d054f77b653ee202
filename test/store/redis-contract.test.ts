/**
 * The contract between the Redis store and its functions (src/store/redis/function-contract.ts): the derived
 * formats, sizes and offsets agree with each other and with Redis' own `struct` (packed by Node at the derived
 * offsets, unpacked by Lua with the derived format, and back), the Lua source defines none of the generated
 * constants itself and unpacks and packs the fields in the declared order, and no bare offsets are left on the
 * TypeScript side.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { argumentAt, writeAnnounceArguments, writeScrapeArguments } from '../../src/store/redis/function-calls.js';
import {
  ANNOUNCE_ARGUMENTS,
  EVENT_CODES,
  FUNCTIONS,
  PEER_FLAGS,
  POSITION_STEP,
  REFRESH_ARGUMENTS,
  REFRESH_TAGS,
  SCRAPE_ARGUMENTS,
  STATS_BUCKET,
  STATS_COUNTS,
  STATS_HEAD,
  SWARM_HEADER,
  functionLibrary,
  luaConstants,
  type FieldType,
  type StructLayout,
} from '../../src/store/redis/function-contract.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const LUA = readFileSync(new URL('../../lua/swarm-functions.lua', import.meta.url), 'utf8');
const LAYOUTS: Record<string, StructLayout<string>> = {
  HEADER: SWARM_HEADER,
  ANNOUNCE_ARGS: ANNOUNCE_ARGUMENTS,
  REFRESH_ARGS: REFRESH_ARGUMENTS,
  SCRAPE_ARGS: SCRAPE_ARGUMENTS,
  STATS_COUNTS,
  STATS_HEAD,
  STATS_BUCKET,
};
const BYTES: Record<FieldType, number> = { I4: 4, i4: 4, B: 1, d: 8 };

/** Distinct values that fit each field: the field's index mixed with its type's range. */
function sampleValues(layout: StructLayout<string>): number[] {
  return layout.names.map((name, i) => {
    const type = layout.types[name];
    if (type === 'B') return 200 + i;
    if (type === 'd') return 12345.5 + i;
    if (type === 'i4') return (i % 2 ? -2_000_000_000 : 2_000_000_000) + 1000 * i;
    return 4_000_000_000 + 1000 * i;
  });
}

/** The values packed the way the TypeScript side writes them: at the derived offsets. */
function packInNode(layout: StructLayout<string>, values: number[]): Buffer {
  const out = Buffer.alloc(layout.size);
  layout.names.forEach((name, i) => {
    const at = layout.offset[name]!;
    const type = layout.types[name];
    const big = layout.endian === '>';
    if (type === 'B') out[at] = values[i]!;
    else if (type === 'd') big ? out.writeDoubleBE(values[i]!, at) : out.writeDoubleLE(values[i]!, at);
    else if (type === 'i4') big ? out.writeInt32BE(values[i]!, at) : out.writeInt32LE(values[i]!, at);
    else big ? out.writeUInt32BE(values[i]!, at) : out.writeUInt32LE(values[i]!, at);
  });
  return out;
}

describe('Redis function contract: layouts', () => {
  for (const [luaName, layout] of Object.entries(LAYOUTS)) {
    it(`${luaName}: format, size and offsets agree`, () => {
      const types = layout.format.slice(1).match(/I4|i4|B|d/g) ?? [];
      // The slot's totals are big endian (BITFIELD's integers), everything else little endian.
      assert.equal(layout.format[0], luaName.startsWith('STATS_') ? '>' : '<');
      assert.equal(layout.endian, layout.format[0]);
      assert.equal(types.join(''), layout.format.slice(1), 'only the known field types');
      assert.deepEqual(types, layout.names.map((name) => layout.types[name]));
      let at = 0;
      for (const name of layout.names) {
        assert.equal(layout.offset[name], at, name);
        at += BYTES[layout.types[name]!];
      }
      assert.equal(layout.size, at);
      assert.equal(new Set(layout.names).size, layout.names.length, 'distinct names');
    });
  }

  it('flags are the bits the Lua arithmetic assumes', () => {
    // swarm-functions.lua: `flags % FLAG_COUNTED` is the seeder flag; the argument's seeder byte is 0 or 1.
    assert.equal(PEER_FLAGS.seeder, 1);
    assert.equal(PEER_FLAGS.completedCounted, 2 * PEER_FLAGS.seeder);
    assert.equal(POSITION_STEP, 2 * PEER_FLAGS.completedCounted);
    assert.equal(new Set(Object.values(EVENT_CODES)).size, 4);
    // The refresh's tag byte: `tag % REFRESH_IPV6` is the seeder flag, and each bit is above the ones before
    // (`tag < REFRESH_COMPLETED`: neither completed nor stopped; `tag >= REFRESH_STOPPED`: stopped).
    assert.equal(REFRESH_TAGS.seeder, PEER_FLAGS.seeder);
    assert.deepEqual([REFRESH_TAGS.ipv6, REFRESH_TAGS.completed, REFRESH_TAGS.stopped], [2, 4, 8]);
  });
});

describe('Redis function contract: the Lua source', () => {
  const generated = luaConstants();
  const generatedNames = [...generated.matchAll(/^local ([\w, ]+?) =/gm)].flatMap((m) => m[1]!.split(/,\s*/));

  it('generates every layout, event code and flag', () => {
    for (const name of ['HEADER', 'HEADER_SIZE', 'HEADER_FIELD', 'ANNOUNCE_ARGS', 'ANNOUNCE_ARGS_SIZE', 'SCRAPE_ARGS', 'FLAG_SEEDER', 'FLAG_COUNTED',
      'POSITION_STEP', 'WS_CONFLICT', 'STATS_COUNTS', 'STATS_COUNTS_SIZE', 'STATS_HEAD', 'STATS_HEAD_SIZE', 'STATS_BUCKET', 'STATS_BUCKET_SIZE', 'STATS_BUCKET_SECONDS', 'STATS_BUCKET_END', 'STATS_FIELDS']) {
      assert.ok(generatedNames.includes(name), name);
    }
    for (const event of Object.keys(EVENT_CODES)) assert.ok(generatedNames.includes(`EVENT_${event.toUpperCase()}`), event);
  });

  it('defines none of the generated constants itself', () => {
    const defined = [...LUA.matchAll(/^\s*local ([\w, ]+?)\s*=/gm)].flatMap((m) => m[1]!.split(/,\s*/));
    assert.deepEqual(defined.filter((name) => generatedNames.includes(name)), []);
  });

  it('loads with the constants after the shebang line, versioned by a hash that covers them', () => {
    const { source, version } = functionLibrary();
    const lines = source.split('\n');
    assert.equal(LUA.split('\n')[0], '#!lua name=redswarm_$V');
    assert.equal(lines[0], `#!lua name=redswarm_${version}`);
    assert.equal(lines.slice(1, 1 + generated.split('\n').length - 1).join('\n') + '\n', generated);
    const unversioned = source.replaceAll(version, '$V');
    assert.equal(createHash('sha1').update(unversioned).digest('hex').slice(0, 12), version);
  });

  it('registers the functions of the contract', () => {
    const registered = [...LUA.matchAll(/redis\.register_function\('(\w+)_\$V'/g)].map((m) => m[1]);
    assert.deepEqual(registered.sort(), Object.values(FUNCTIONS).map((f) => f.name).sort());
  });

  it('unpacks every layout into locals of its field names, in order (its first fields, or all of them)', () => {
    const sites = [...LUA.matchAll(/((?:[A-Za-z_]\w*\s*,\s*)*[A-Za-z_]\w*)\s*=\s*struct\.unpack\((\w+),/g)];
    assert.ok(sites.length >= 5);
    for (const [, list, layoutName] of sites) {
      const layout = LAYOUTS[layoutName!];
      assert.ok(layout, `unpack of ${layoutName}`);
      const names = list!.split(/\s*,\s*/);
      assert.ok(names.length <= layout.names.length, `unpack of ${layoutName}: ${list}`);
      names.forEach((name, i) => {
        if (name !== '_') assert.equal(name, layout.names[i], `unpack of ${layoutName}, field ${i + 1}`);
      });
    }
  });

  it('packs the header from its fields, in order', () => {
    const sites = [...LUA.matchAll(/struct\.pack\((HEADER),([^)]*)\)/g)];
    assert.ok(sites.length >= 2);
    for (const [, layoutName, args] of sites) {
      const layout = LAYOUTS[layoutName!]!;
      const values = args!.split(',').map((arg) => arg.trim());
      assert.equal(values.length, layout.names.length, `pack of ${layoutName}`);
      values.forEach((value, i) => {
        if (value === '0') return;
        // swarm.<field>, or <list>.<part> for a list's own fields (first.count: first_count).
        const [owner, field] = value.split('.');
        assert.equal(owner === 'swarm' ? field : `${owner}_${field}`, layout.names[i], `pack of ${layoutName}, field ${i + 1}`);
      });
    }
  });

  it('leaves no bare header or argument offsets in the TypeScript side', () => {
    for (const file of ['redis-store.ts', 'function-calls.ts']) {
      const text = readFileSync(new URL(`../../src/store/redis/${file}`, import.meta.url), 'utf8');
      assert.doesNotMatch(text, /read(UInt32|Double)LE\(\d/, file);
      assert.doesNotMatch(text, /write(UInt32|Double)LE\([^,]+, at \+ \d/, file);
    }
  });
});

describe('Redis function contract: against Redis struct', () => {
  let redis: TestRedis;
  let client: Redis;
  before(async () => {
    redis = await startRedis('single');
    client = new Redis((redis.target as { url: string }).url);
  });
  after(async () => {
    client.disconnect();
    await redis.stop();
  });

  /** Lua unpacks `bytes` with the layout's format: every value as text, then the position after them. */
  const unpackInLua = async (luaName: string, bytes: Buffer) =>
    (await client.eval(`${luaConstants()}local r = { struct.unpack(${luaName}, ARGV[1]) }\nfor i = 1, #r do r[i] = tostring(r[i]) end\nreturn r`, 0, bytes)) as string[];

  for (const [luaName, layout] of Object.entries(LAYOUTS)) {
    it(`${luaName}: Node's bytes at the derived offsets are what Lua unpacks, and the reverse`, async () => {
      const values = sampleValues(layout);
      const unpacked = await unpackInLua(luaName, packInNode(layout, values));
      assert.deepEqual(unpacked, [...values.map(String), String(layout.size + 1)]);

      const script = `${luaConstants()}local v = {}\nfor i = 1, #ARGV do v[i] = tonumber(ARGV[i]) end\nreturn struct.pack(${luaName}, unpack(v))`;
      const packed = (await client.callBuffer('EVAL', [script, 0, ...values.map(String)])) as Buffer;
      assert.deepEqual(packed, packInNode(layout, values));
    });
  }

  it("the store's argument writers follow the layouts", async () => {
    const announce = sampleValues(ANNOUNCE_ARGUMENTS);
    const command = Buffer.alloc(ANNOUNCE_ARGUMENTS.size + 10);
    const at = argumentAt(command, ANNOUNCE_ARGUMENTS.size);
    writeAnnounceArguments(command, at, ...(announce as [number, number, number, number, number, number, number]));
    assert.deepEqual(await unpackInLua('ANNOUNCE_ARGS', command.subarray(at, at + ANNOUNCE_ARGUMENTS.size)), [
      ...announce.map(String),
      String(ANNOUNCE_ARGUMENTS.size + 1),
    ]);

    const scrape = sampleValues(SCRAPE_ARGUMENTS);
    const scrapeBytes = Buffer.alloc(SCRAPE_ARGUMENTS.size);
    writeScrapeArguments(scrapeBytes, 0, ...(scrape as [number, number, number]));
    assert.deepEqual(await unpackInLua('SCRAPE_ARGS', scrapeBytes), [...scrape.map(String), String(SCRAPE_ARGUMENTS.size + 1)]);
  });
});
