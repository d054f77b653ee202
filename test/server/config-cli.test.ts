/** Configuration (flags, environment, defaults, validation) and the CLI as a child process. */
import assert from 'node:assert/strict';
import { availableParallelism } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import {
  CONFIG_ENV,
  ConfigError,
  OPTIONS,
  defaultConfig,
  helpText,
  loadConfig,
  optionsTable,
  printConfig,
  withOptionsTable,
  type TrackerConfig,
} from '../../src/config/index.js';
import { decodeStrictDict, percentEncodeAll } from '../helpers/wire.js';
import { freePort } from '../helpers/ports.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

function config(argv: string[], env: Record<string, string> = {}): TrackerConfig {
  const result = loadConfig(argv, env);
  assert.equal(result.kind, 'run');
  return (result as { config: TrackerConfig }).config;
}

function configError(argv: string[], env: Record<string, string>, message: string | RegExp): void {
  assert.throws(
    () => loadConfig(argv, env),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      if (typeof message === 'string') assert.equal(error.message, message);
      else assert.match(error.message, message);
      return true;
    },
  );
}

describe('loadConfig', () => {
  it('no flags and no environment give the defaults', () => {
    assert.deepEqual(config([]), defaultConfig());
    assert.deepEqual(config([], { UNRELATED: '1', PORT: '1' }), defaultConfig());
    assert.equal(defaultConfig().workers, 1, 'the embedded store runs one process');
    assert.equal(defaultConfig().minInterval, 900);
    assert.equal(defaultConfig().peerTtl, 2700);
  });

  it('refuses several workers on the embedded store, and picks one per core with Redis', () => {
    assert.throws(() => config(['--workers', '2']), /memory store lives in one process/);
    assert.equal(config(['--redis-cluster', '127.0.0.1:7000']).workers, availableParallelism());
    assert.equal(config(['--redis-cluster', '127.0.0.1:7000', '--workers', '0']).workers, availableParallelism());
    assert.equal(config(['--redis', 'redis://127.0.0.1:6379', '--workers', '3']).workers, 3);
  });

  it('reads REDSWARM_* variables', () => {
    const c = config([], {
      REDSWARM_HOST: '127.0.0.1,::1',
      REDSWARM_PORT: '7000',
      REDSWARM_NUMWANT_MAX: '300',
      REDSWARM_LOG_LEVEL: 'warn',
      REDSWARM_UDP_SECRET: 'ab'.repeat(16),
      REDSWARM_INTERVAL_JITTER: '0.25',
    });
    assert.deepEqual(c.hosts, ['127.0.0.1', '::1']);
    assert.equal(c.port, 7000);
    assert.equal(c.numwantMax, 300);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.udpSecret, 'ab'.repeat(16));
    assert.equal(c.intervalJitter, 0.25);
  });

  it('flags win over the environment', () => {
    const env = { REDSWARM_PORT: '7000', REDSWARM_LOG_LEVEL: 'warn', REDSWARM_HOST: '0.0.0.0' };
    const c = config(['--port', '8000', '--log-level=debug'], env);
    assert.equal(c.port, 8000);
    assert.equal(c.logLevel, 'debug');
    assert.deepEqual(c.hosts, ['0.0.0.0'], 'the environment still applies where no flag is given');
  });

  it('host lists: comma-separated, trimmed, empty items dropped', () => {
    assert.deepEqual(config(['--host', ' 127.0.0.1 , ::1,,']).hosts, ['127.0.0.1', '::1']);
  });

  it('min interval and peer TTL derive from the interval unless given', () => {
    let c = config(['--interval', '600']);
    assert.equal(c.minInterval, 300);
    assert.equal(c.peerTtl, 900);
    c = config(['--interval', '601']);
    assert.equal(c.minInterval, 300);
    assert.equal(c.peerTtl, 902);
    c = config([], { REDSWARM_INTERVAL: '100' });
    assert.equal(c.minInterval, 50);
    assert.equal(c.peerTtl, 150);
    c = config(['--interval', '600', '--min-interval', '10', '--peer-ttl', '5000']);
    assert.equal(c.minInterval, 10);
    assert.equal(c.peerTtl, 5000);
    c = config(['--interval', '600'], { REDSWARM_MIN_INTERVAL: '600' });
    assert.equal(c.minInterval, 600);
  });

  it('the WebSocket idle timeout derives from the WebSocket interval (two of them, at most 960 s) unless given', () => {
    assert.equal(defaultConfig().wsIdleTimeout, 240);
    assert.equal(config(['--ws-interval', '60']).wsIdleTimeout, 120);
    assert.equal(config(['--ws-interval', '600']).wsIdleTimeout, 960);
    assert.equal(config(['--ws-interval', '600', '--ws-idle-timeout', '100']).wsIdleTimeout, 100);
  });

  it('range and type errors name the flag or variable, the rule and the value', () => {
    configError(['--port', '0'], {}, '--port: must be between 1 and 65535, got 0');
    configError(['--port', '65536'], {}, '--port: must be between 1 and 65535, got 65536');
    configError(['--port', 'http'], {}, '--port: expected an integer, got "http"');
    configError(['--port', '1.5'], {}, '--port: expected an integer, got "1.5"');
    configError(['--port', ''], {}, '--port: expected an integer, got ""');
    configError([], { REDSWARM_PORT: 'x' }, 'REDSWARM_PORT: expected an integer, got "x"');
    configError(['--interval-jitter', '1.5'], {}, '--interval-jitter: must be between 0 and 1, got 1.5');
    configError(['--interval-jitter', 'NaN'], {}, '--interval-jitter: expected a number, got "NaN"');
    configError(['--interval', '5'], {}, '--interval: must be between 10 and 86400, got 5');
    configError(['--scrape-max-hashes', '75'], {}, '--scrape-max-hashes: must be between 1 and 74, got 75');
    configError(['--log-level', 'loud'], {}, /^--log-level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"$/);
    configError(['--host', ' , '], {}, '--host: expected at least one value');
  });

  it('cross-field rules', () => {
    configError(['--min-interval', '2000'], {}, '--min-interval cannot exceed --interval');
    configError(['--peer-ttl', '100'], {}, '--peer-ttl must be at least --interval, or peers expire before they re-announce');
    configError(['--numwant-default', '300'], {}, '--numwant-default cannot exceed --numwant-max');
    configError(['--numwant-max', '10'], {}, '--numwant-default cannot exceed --numwant-max');
    configError(['--udp-secret', 'abc'], {}, '--udp-secret must be at least 32 hex digits');
    configError(['--udp-secret', 'g'.repeat(32)], {}, '--udp-secret must be at least 32 hex digits');
    configError(['--udp-secret', 'a'.repeat(33)], {}, '--udp-secret must be at least 32 hex digits');
    assert.equal(config(['--udp-secret', 'A1'.repeat(20)]).udpSecret, 'A1'.repeat(20));
    configError(['--redis-announce-cache', '1000'], {}, '--redis-announce-cache needs --redis or --redis-cluster');
    configError(['--redis', 'redis://127.0.0.1:6379', '--redis-announce-cache', '1000', '--events', 'redis'], {}, /^--redis-announce-cache needs --events off/);
    assert.equal(config(['--redis', 'redis://127.0.0.1:6379', '--redis-announce-cache', '1000']).redisAnnounceCache, 1000);
  });

  it('trusted proxies must be IP addresses', () => {
    assert.deepEqual(config(['--trusted-proxies', '10.0.0.1,::1']).trustedProxies, ['10.0.0.1', '::1']);
    configError(['--trusted-proxies', '10.0.0.1,proxy.example'], {}, '--trusted-proxies: "proxy.example" is not an IP address');
  });

  it('unknown flags, positionals and missing values are ConfigErrors', () => {
    configError(['--nope'], {}, /nope/);
    configError(['serve'], {}, /serve/);
    configError(['--port'], {}, /port/);
  });

  it('--help wins and the help text lists every flag with its variable', () => {
    assert.deepEqual(loadConfig(['--help'], {}), { kind: 'help' });
    assert.deepEqual(loadConfig(['--port', '1', '--help'], { REDSWARM_PORT: 'garbage' }), { kind: 'help' });
    const text = helpText();
    for (const option of OPTIONS) {
      assert.ok(text.includes(`--${option.flag} `), option.flag);
      assert.ok(text.includes(`REDSWARM_${option.env}`), option.env);
    }
    for (const flag of ['--config', '--print-config', '--help', CONFIG_ENV]) assert.ok(text.includes(flag), flag);
  });

  it("the README's option table is the one generated from the option table", () => {
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    assert.equal(readme, withOptionsTable(readme), 'the README option table is stale: run npm run docs:options');
    for (const option of OPTIONS) assert.ok(optionsTable().includes(`\`--${option.flag}\``), option.flag);
  });
});

describe('config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redswarm-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  const file = (text: string): string => {
    const path = join(dir, `c${n++}.toml`);
    writeFileSync(path, text);
    return path;
  };

  it('--print-config is a valid config file that gives the defaults', () => {
    assert.deepEqual(config(['--config', file(printConfig())]), defaultConfig());
    for (const option of OPTIONS) assert.ok(printConfig().includes(`${option.flag} = `), option.flag);
  });

  it('precedence: flags over environment over file over defaults; derived defaults follow the file', () => {
    const path = file('[network]\nport = 7001\nhost = ["127.0.0.1"]\n[announce]\ninterval = 600\nnumwant-max = 100\n[logging]\nlog-level = "warn"\n');
    let c = config(['--config', path]);
    assert.equal(c.port, 7001);
    assert.deepEqual(c.hosts, ['127.0.0.1']);
    assert.equal(c.minInterval, 300);
    assert.equal(c.peerTtl, 900);
    assert.equal(c.numwantMax, 100);
    assert.equal(c.logLevel, 'warn');
    c = config(['--config', path, '--port', '7003'], { REDSWARM_PORT: '7002', REDSWARM_NUMWANT_MAX: '150' });
    assert.equal(c.port, 7003, 'a flag wins over the environment and the file');
    assert.equal(c.numwantMax, 150, 'the environment wins over the file');
    assert.equal(c.interval, 600, 'the file wins over the default');
    assert.equal(config([], { [CONFIG_ENV]: path }).port, 7001, `${CONFIG_ENV} names the file`);
    assert.equal(config(['--config', file('[announce]\nmin-interval = 60\n')]).minInterval, 60);
  });

  it('unknown keys, wrong types and out-of-range values name the key and the file', () => {
    const cases: [string, RegExp][] = [
      ['[network]\nprot = 1\n', /\[network\] prot: unknown option/],
      ['[netwerk]\nport = 1\n', /unknown section "netwerk"/],
      ['port = 1\n', /unknown key outside a section "port"/],
      ['[network]\nport = "80"\n', /\[network\] port: expected an integer, got string "80"/],
      ['[network]\nport = 80.5\n', /\[network\] port: expected an integer/],
      ['[network]\nport = 0\n', /\[network\] port: must be between 1 and 65535, got 0/],
      ['[network]\nhost = "::"\n', /\[network\] host: expected an array of strings/],
      ['[logging]\nlog-level = "loud"\n', /\[logging\] log-level: expected one of/],
      ['[announce]\ninterval = 600\npeer-ttl = 300\n', /--peer-ttl must be at least --interval.*with the environment and flags/],
      ['[network\nport = 1\n', /not valid TOML: line 1/],
    ];
    for (const [text, message] of cases) {
      const path = file(text);
      assert.throws(
        () => loadConfig(['--config', path], {}),
        (error: unknown) => error instanceof ConfigError && message.test(error.message) && error.message.includes(path),
        text,
      );
    }
    assert.throws(() => loadConfig(['--config', join(dir, 'missing.toml')], {}), /missing\.toml: cannot read the config file/);
  });
});

/** A child process with its stdout lines, killed (by pid) if a test leaves it running. */
class Child {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private partial = '';
  private wake: (() => void) | null = null;

  constructor(readonly process: ChildProcess) {
    process.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop()!;
      this.lines.push(...parts);
      this.wake?.();
    });
    process.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => process.on('exit', (code, signal) => {
      if (this.partial !== '') this.lines.push(this.partial);
      this.wake?.();
      resolve({ code, signal });
    }));
  }

  /** Waits (bounded) for a stdout line matching `test`. */
  async line(test: (line: string) => boolean, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.lines.find(test);
      if (found !== undefined) return found;
      if (this.process.exitCode !== null || Date.now() >= deadline) {
        assert.fail(`no matching line; stdout: ${this.lines.join('\n')}\nstderr: ${this.stderr}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Exit status, or a failure if the process is still running after `ms`. */
  async exit(ms: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`still running after ${ms} ms; stdout: ${this.lines.join('\n')}`)), ms);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  kill(): void {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL');
  }
}

describe('redswarm CLI (child process)', () => {
  const children: Child[] = [];
  const cli = (args: string[], env: Record<string, string> = {}): Child => {
    const child = new Child(
      spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
        cwd: REPO,
        env: { ...process.env, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    );
    children.push(child);
    return child;
  };

  after(() => {
    for (const child of children) child.kill();
  });

  it('listens, answers an announce, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const child = cli(['--host', '127.0.0.1', '--port', String(port)]);
    const listening = JSON.parse(await child.line((l) => l.includes('"msg":"listening"'), 20_000)) as Record<string, unknown>;
    assert.equal(listening.port, port);
    assert.deepEqual(listening.hosts, ['127.0.0.1']);

    const query = `info_hash=${percentEncodeAll(new Uint8Array(20).fill(7))}&peer_id=${'-RS0001-' + 'x'.repeat(12)}&port=6881&left=0`;
    const response = await fetch(`http://127.0.0.1:${port}/announce?${query}`, { headers: { connection: 'close' } });
    assert.equal(response.status, 200);
    const reply = decodeStrictDict(new Uint8Array(await response.arrayBuffer()));
    assert.equal(reply.has('failure reason'), false, reply.has('failure reason') ? reply.bytes('failure reason').toString() : '');
    assert.equal(reply.int('complete'), 1);
    assert.equal(reply.int('incomplete'), 0);

    child.process.kill('SIGTERM');
    const { code, signal } = await child.exit(5000);
    assert.equal(signal, null);
    assert.equal(code, 0, `stderr: ${child.stderr}`);
    assert.ok(child.lines.some((l) => l.includes('"msg":"stopped"')), 'logs "stopped" before exiting');
  });

  it('--help prints usage and exits 0', async () => {
    const child = cli(['--help']);
    const { code } = await child.exit(20_000);
    assert.equal(code, 0);
    assert.match(child.lines.join('\n'), /^Usage: redswarm/);
  });

  it('a bad flag exits 2 with the reason on stderr', async () => {
    const child = cli(['--port', 'eighty']);
    const { code } = await child.exit(20_000);
    assert.equal(code, 2);
    assert.match(child.stderr, /--port: expected an integer, got "eighty"/);
    assert.deepEqual(child.lines.filter((l) => l !== ''), []);
  });
});
