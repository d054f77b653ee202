/**
 * Builds the configuration from its sources — flags > `REDSWARM_*` environment > config file > defaults — and
 * validates it once, with messages that name the flag, variable or file key and say what is wrong.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseToml, TomlError } from 'smol-toml';
import { compactPeerFromText } from '../protocol/ip-address.js';
import { CONFIG_ENV, CONFIG_FLAG, OPTIONS, SECTIONS, type OptionSpec, type TrackerConfig } from './options.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Value = TrackerConfig[keyof TrackerConfig];
type Given = Partial<Record<keyof TrackerConfig, Value>>;

/** What the command line asked for: a configuration to run, or a text to print. */
export type Invocation =
  | { kind: 'run'; config: TrackerConfig; file: string | null; positionals: string[] }
  | { kind: 'help' }
  | { kind: 'print-config' };

function outOfRange(spec: OptionSpec, value: number): boolean {
  return (spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max);
}

function rangeError(spec: OptionSpec, value: number, where: string): ConfigError {
  return new ConfigError(`${where}: must be between ${spec.min} and ${spec.max}, got ${value}`);
}

/** A value given as text (a flag or an environment variable). */
function fromText(spec: OptionSpec, raw: string, where: string): Value {
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const pattern = spec.kind === 'int' ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/;
      const value = Number(raw);
      if (!pattern.test(raw) || !Number.isFinite(value)) {
        throw new ConfigError(`${where}: expected ${spec.kind === 'int' ? 'an integer' : 'a number'}, got "${raw}"`);
      }
      if (outOfRange(spec, value)) throw rangeError(spec, value, where);
      return value;
    }
    case 'list': {
      const items = raw.split(',').map((item) => item.trim()).filter((item) => item !== '');
      if (items.length === 0) throw new ConfigError(`${where}: expected at least one value`);
      return items;
    }
    case 'choice':
      return choice(spec, raw, where);
    case 'bool':
      if (raw !== 'true' && raw !== 'false') throw new ConfigError(`${where}: expected true or false, got "${raw}"`);
      return raw === 'true';
    case 'string':
      return raw;
  }
}

function choice(spec: OptionSpec, raw: string, where: string): Value {
  const choices = spec.choices ?? [];
  if (!choices.includes(raw)) throw new ConfigError(`${where}: expected one of ${choices.join(', ')}, got "${raw}"`);
  return raw as Value;
}

/** A value from the config file, typed by TOML. */
function fromFile(spec: OptionSpec, raw: unknown, where: string): Value {
  switch (spec.kind) {
    case 'int':
    case 'number': {
      // smol-toml gives TOML integers as numbers (bigint only beyond 2^53, out of every range here).
      if (typeof raw !== 'number' || (spec.kind === 'int' && !Number.isInteger(raw))) {
        throw new ConfigError(`${where}: expected ${spec.kind === 'int' ? 'an integer' : 'a number'}, got ${describe(raw)}`);
      }
      if (outOfRange(spec, raw)) throw rangeError(spec, raw, where);
      return raw;
    }
    case 'list':
      if (!Array.isArray(raw) || !raw.every((item) => typeof item === 'string')) {
        throw new ConfigError(`${where}: expected an array of strings, got ${describe(raw)}`);
      }
      return raw as string[];
    case 'choice':
      if (typeof raw !== 'string') throw new ConfigError(`${where}: expected a string, got ${describe(raw)}`);
      return choice(spec, raw, where);
    case 'bool':
      if (typeof raw !== 'boolean') throw new ConfigError(`${where}: expected true or false, got ${describe(raw)}`);
      return raw;
    case 'string':
      if (typeof raw !== 'string') throw new ConfigError(`${where}: expected a string, got ${describe(raw)}`);
      return raw;
  }
}

function describe(raw: unknown): string {
  if (Array.isArray(raw)) return 'an array';
  if (raw instanceof Date) return 'a date';
  if (typeof raw === 'object' && raw !== null) return 'a table';
  return `${typeof raw} ${JSON.stringify(raw)}`;
}

const BY_SECTION = new Map(SECTIONS.map((section) => [section, new Map(OPTIONS.filter((o) => o.section === section).map((o) => [o.flag, o]))]));

/** The options a config file gives; every key must be a known option of its section. */
export function readConfigFile(file: string): Given {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${file}: cannot read the config file: ${(error as Error).message}`);
  }
  let document: Record<string, unknown>;
  try {
    document = parseToml(text);
  } catch (error) {
    const detail = error instanceof TomlError ? `line ${error.line}, column ${error.column}: ${error.message.split('\n')[0]}` : String(error);
    throw new ConfigError(`${file}: not valid TOML: ${detail}`);
  }
  const given: Given = {};
  for (const [section, table] of Object.entries(document)) {
    const options = BY_SECTION.get(section as (typeof SECTIONS)[number]);
    if (options === undefined) {
      throw new ConfigError(`${file}: unknown ${typeof table === 'object' && !Array.isArray(table) ? 'section' : 'key outside a section'} "${section}" (sections: ${SECTIONS.join(', ')})`);
    }
    if (typeof table !== 'object' || table === null || Array.isArray(table)) throw new ConfigError(`${file}: "${section}" must be a section ([${section}])`);
    for (const [name, raw] of Object.entries(table)) {
      const spec = options.get(name);
      if (spec === undefined) throw new ConfigError(`${file}: [${section}] ${name}: unknown option (in [${section}]: ${[...options.keys()].join(', ')})`);
      given[spec.key] = fromFile(spec, raw, `${file}: [${section}] ${name}`);
    }
  }
  return given;
}

/** The flags of a command line, by name, and its other arguments (a subcommand's, see cli.ts). */
function parseCommandLine(argv: readonly string[], allowPositionals: boolean): { flags: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      options: Object.fromEntries([
        ...OPTIONS.map((o) => [o.flag, { type: 'string' as const }]),
        [CONFIG_FLAG, { type: 'string' as const }],
        ['help', { type: 'boolean' as const }],
        ['print-config', { type: 'boolean' as const }],
      ]),
      strict: true,
      allowPositionals,
    });
    return { flags: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

/**
 * Reads the command line, environment and config file into a validated configuration; arguments other than
 * flags are an error unless `allowPositionals` (a subcommand's arguments).
 */
export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, allowPositionals = false): Invocation {
  const { flags, positionals } = parseCommandLine(argv, allowPositionals);
  if (flags.help === true) return { kind: 'help' };
  if (flags['print-config'] === true) return { kind: 'print-config' };
  const fileFlag = flags[CONFIG_FLAG];
  const file = typeof fileFlag === 'string' ? fileFlag : env[CONFIG_ENV] || null;
  const given: Given = file === null ? {} : readConfigFile(file);
  for (const spec of OPTIONS) {
    const flag = flags[spec.flag];
    const variable = env[`REDSWARM_${spec.env}`] || undefined; // set but empty counts as unset
    if (typeof flag === 'string') given[spec.key] = fromText(spec, flag, `--${spec.flag}`);
    else if (variable !== undefined) given[spec.key] = fromText(spec, variable, `REDSWARM_${spec.env}`);
  }
  const config = resolve(given);
  try {
    validate(config);
  } catch (error) {
    if (file !== null && error instanceof ConfigError) throw new ConfigError(`${error.message} (${file} with the environment and flags)`);
    throw error;
  }
  return { kind: 'run', config, file, positionals };
}

/** Every option from what was given and the defaults; derived defaults follow the values they derive from. */
export function resolve(given: Given): TrackerConfig {
  const config = {} as Record<keyof TrackerConfig, Value>;
  const derived: OptionSpec[] = [];
  for (const spec of OPTIONS) {
    const value = given[spec.key];
    if (value !== undefined && value !== spec.auto) config[spec.key] = value;
    else if (typeof spec.default === 'function') derived.push(spec);
    else config[spec.key] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
  }
  for (const spec of derived) config[spec.key] = (spec.default as (c: TrackerConfig) => Value)(config as unknown as TrackerConfig);
  return config as unknown as TrackerConfig;
}

/** The defaults of every option, derived ones included (the embedded store: one worker). */
export function defaultConfig(): TrackerConfig {
  return resolve({});
}

/** Rules across options; the messages name flags, which is how most operators meet them. */
export function validate(config: TrackerConfig): void {
  if (config.minInterval > config.interval) throw new ConfigError('--min-interval cannot exceed --interval');
  if (config.peerTtl < config.interval) {
    throw new ConfigError('--peer-ttl must be at least --interval, or peers expire before they re-announce');
  }
  if (config.wsPeerTtl < config.wsInterval) throw new ConfigError('--ws-peer-ttl must be at least --ws-interval');
  if (config.numwantDefault > config.numwantMax) throw new ConfigError('--numwant-default cannot exceed --numwant-max');
  for (const proxy of config.trustedProxies) {
    if (compactPeerFromText(proxy, 0) === null) throw new ConfigError(`--trusted-proxies: "${proxy}" is not an IP address`);
  }
  if (config.redisUrl !== '' && config.redisCluster.length > 0) {
    throw new ConfigError('give either --redis or --redis-cluster, not both');
  }
  if (config.redisUrl !== '' && !/^rediss?:\/\//.test(config.redisUrl)) {
    throw new ConfigError('--redis must be a redis:// or rediss:// URL');
  }
  for (const node of config.redisCluster) {
    if (!/^[^:]+:\d{1,5}$/.test(node) && !/^\[[0-9a-fA-F:]+\]:\d{1,5}$/.test(node)) {
      throw new ConfigError(`--redis-cluster: "${node}" is not host:port`);
    }
  }
  if (config.workers > 1 && config.redisUrl === '' && config.redisCluster.length === 0) {
    throw new ConfigError(
      `--workers ${config.workers} needs a shared store: the embedded memory store lives in one process (use --redis or --redis-cluster, or --workers 1)`,
    );
  }
  if (config.tlsPort > 0 && (config.tlsCert === '' || config.tlsKey === '')) throw new ConfigError('--tls-port needs --tls-cert and --tls-key');
  if (config.tlsPort === 0 && (config.tlsCert !== '' || config.tlsKey !== '')) throw new ConfigError('--tls-cert and --tls-key need --tls-port');
  if (config.plainHttp && config.tlsPort === config.port) throw new ConfigError('--tls-port must differ from --port (or give --plain-http false)');
  if (config.udpSecret !== '' && !/^(?:[0-9a-fA-F]{2}){16,}$/.test(config.udpSecret)) {
    throw new ConfigError('--udp-secret must be at least 32 hex digits');
  }
  if (config.redisAnnounceCache > 0 && config.redisUrl === '' && config.redisCluster.length === 0) {
    throw new ConfigError('--redis-announce-cache needs --redis or --redis-cluster');
  }
  if (config.redisAnnounceCache > 0 && config.events !== 'off') {
    throw new ConfigError('--redis-announce-cache needs --events off: every announce\'s event is appended with the announce');
  }
  if (config.accessRedis && config.redisUrl === '' && config.redisCluster.length === 0) {
    throw new ConfigError('--access-redis needs --redis or --redis-cluster');
  }
  const lists = [
    ['access-mode', config.accessMode, config.accessFile !== '', '--access-file'],
    ['peer-id-mode', config.peerIdMode, config.peerIdFile !== '' || config.peerIdPrefixes.length > 0, '--peer-id-file or --peer-id-prefixes'],
    ['ws-origins-mode', config.wsOriginsMode, config.wsOrigins.length > 0, '--ws-origins'],
  ] as const;
  for (const [flag, mode, listed, sources] of lists) {
    if (mode !== 'off' && !listed && !config.accessRedis) throw new ConfigError(`--${flag} ${mode} needs a list: ${sources}, or --access-redis with a Redis store`);
  }
}
