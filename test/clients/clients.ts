// Launchers for the real BitTorrent programs from Debian used by the
// end-to-end test. Every launcher turns off DHT, PEX, local peer discovery and
// port mapping, so the tracker under test is the only way for peers to meet
// (the torrent is also private, BEP 27). These run inside the test's network
// namespace, which has nothing but `lo`.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Proc, tailFile, waitFor } from './proc.js';
import type { Proto } from './tracker.js';

export type ClientName = 'aria2' | 'transmission' | 'qbittorrent' | 'rtorrent';
export type Role = 'seed' | 'leech';

export interface ClientEnv {
  role: Role;
  proto: Proto;
  /** Private directory for config, session state and logs (exists). */
  dir: string;
  /** seed: holds the complete file; leech: empty download target (exists). */
  dataDir: string;
  torrentPath: string;
  infoHashHex: string;
  /** Loopback address to listen on / connect from. */
  ip: string;
  /** BitTorrent listen port. */
  port: number;
  /** A second free port: qBittorrent's Web UI, aria2's DHT (= UDP tracker) socket. */
  auxPort: number;
}

export interface RunningClient {
  name: ClientName;
  proc: Proc;
  /** Log files worth showing when something goes wrong. */
  logs: string[];
  /** Best-effort one-paragraph client-reported state, for diagnostics. */
  status(): Promise<string>;
  stop(): Promise<void>;
}

export interface ClientSpec {
  name: ClientName;
  /** The loopback address this program listens on and announces from. */
  ip: string;
  /** Why the client cannot take this role in a loopback-only test, if it cannot. */
  cannot?(role: Role): string | undefined;
  start(env: ClientEnv): Promise<RunningClient>;
}

const lastLines = (path: string, n: number): string => tailFile(path, n, 300);

/** Environment for a client: HOME and XDG dirs inside its private directory. */
function clientEnv(dir: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, '.config'),
    XDG_DATA_HOME: join(dir, '.local', 'share'),
    XDG_CACHE_HOME: join(dir, '.cache'),
  };
}

// Every program gets a loopback address of its own, like separate hosts, and
// binds its tracker traffic to it too, so the tracker sees the address the
// program listens on. Sharing 127.0.0.1 is fragile: a program that is handed
// its own address by a tracker (opentracker does that; redswarm never does)
// connects to itself and then shuns that IP — rtorrent keeps one connection per
// IP, and libtorrent-rasterbar (qBittorrent) bans the IP of a self-connection,
// which then also shuts out the other program on 127.0.0.1.
//
// Clients get a short grace period on SIGTERM, then SIGKILL: nothing after the
// download depends on a clean shutdown (qBittorrent alone would take ~5 s to
// send its UDP `stopped` announce), and the namespace is torn down anyway.
const STOP_GRACE_MS = 1500;

// ---------------------------------------------------------------------------
// aria2
//
// aria2 only talks to UDP trackers through its DHT socket, so for udp:// the
// DHT must be enabled. The torrent is private (BEP 27) and no DHT entry point
// or saved routing table is given, so the DHT never finds anybody.
const aria2: ClientSpec = {
  name: 'aria2',
  ip: '127.0.0.12',
  async start(env) {
    const out = join(env.dir, 'aria2.out');
    const log = join(env.dir, 'aria2.log');
    const args = [
      '--no-conf',
      `--dir=${env.dataDir}`,
      `--log=${log}`,
      '--log-level=info',
      '--console-log-level=notice',
      '--summary-interval=1',
      '--enable-color=false',
      `--enable-dht=${env.proto === 'udp'}`,
      '--enable-dht6=false',
      `--dht-listen-port=${env.auxPort}`,
      `--dht-file-path=${join(env.dir, 'dht.dat')}`,
      '--enable-peer-exchange=false',
      '--bt-enable-lpd=false',
      `--listen-port=${env.port}`,
      `--interface=${env.ip}`,
      `--dht-listen-addr=${env.ip}`,
      '--file-allocation=none',
      '--bt-tracker-connect-timeout=5',
      '--bt-tracker-timeout=5',
      '--follow-torrent=false',
      `--stop-with-process=${process.pid}`,
    ];
    if (env.role === 'seed') {
      // Verify the existing file, then seed until stopped.
      args.push('--check-integrity=true', '--bt-seed-unverified=false', '--seed-ratio=0.0');
    } else {
      // Exit 0 as soon as the download is complete (and verified piece by piece).
      args.push('--seed-time=0');
    }
    args.push(env.torrentPath);
    const proc = Proc.start('aria2c', 'aria2c', args, { logPath: out, env: clientEnv(env.dir) });
    return {
      name: 'aria2',
      proc,
      logs: [out, log],
      status: async () => `aria2c ${proc.describeExit()}; last summary:\n${lastLines(out, 6)}`,
      stop: async () => void (await proc.stop(STOP_GRACE_MS)),
    };
  },
};

// ---------------------------------------------------------------------------
// transmission-cli 3.00
//
// It drops 127.0.0.0/8 and ::1 peers from tracker replies ("martians"), so in
// a loopback-only test it can never find a peer to download from; it accepts
// incoming connections, so it is used as a seeder only.
const transmission: ClientSpec = {
  name: 'transmission',
  ip: '127.0.0.11',
  cannot: (role) =>
    role === 'leech'
      ? 'transmission 3.00 discards loopback peers from tracker replies, so it cannot download in a loopback-only test'
      : undefined,
  async start(env) {
    if (env.role === 'leech') throw new Error(transmission.cannot?.('leech'));
    const cfg = join(env.dir, 'config');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(
      join(cfg, 'settings.json'),
      JSON.stringify(
        {
          'dht-enabled': false,
          'lpd-enabled': false,
          'pex-enabled': false,
          'utp-enabled': false,
          'port-forwarding-enabled': false,
          'peer-port': env.port,
          'peer-port-random-on-start': false,
          'bind-address-ipv4': env.ip,
          'bind-address-ipv6': '::1',
          'rpc-enabled': false,
          'blocklist-enabled': false,
          'message-level': 3,
          'download-dir': env.dataDir,
          'incomplete-dir-enabled': false,
          'rename-partial-files': false,
          'ratio-limit-enabled': false,
          'idle-seeding-limit-enabled': false,
        },
        null,
        2,
      ),
    );
    const out = join(env.dir, 'transmission.out');
    // -v: verify the local data first, so it announces as a seeder (left=0).
    const proc = Proc.start(
      'transmission-cli',
      'transmission-cli',
      ['-g', cfg, '-w', env.dataDir, '-p', String(env.port), '-v', env.torrentPath],
      { logPath: out, env: clientEnv(env.dir) },
    );
    return {
      name: 'transmission',
      proc,
      logs: [out],
      status: async () => `transmission-cli ${proc.describeExit()}; last lines:\n${lastLines(out, 4)}`,
      stop: async () => void (await proc.stop(STOP_GRACE_MS)),
    };
  },
};

// ---------------------------------------------------------------------------
// qBittorrent-nox 4.5 (libtorrent-rasterbar 2.0)
//
// Needs a profile with the legal notice accepted, DHT/LSD/PeX/UPnP and peer
// country lookup (GeoIP) off, bound to `lo` and its own address. Its Web UI (no auth on localhost)
// is used to read progress and tracker status for diagnostics.
const qbittorrent: ClientSpec = {
  name: 'qbittorrent',
  ip: '127.0.0.13',
  async start(env) {
    const profile = join(env.dir, 'profile');
    const confDir = join(profile, 'qBittorrent', 'config');
    mkdirSync(confDir, { recursive: true });
    const conf = [
      '[LegalNotice]',
      'Accepted=true',
      '',
      '[BitTorrent]',
      `Session\\Port=${env.port}`,
      'Session\\UseRandomPort=false',
      'Session\\Interface=lo',
      'Session\\InterfaceName=lo',
      `Session\\InterfaceAddress=${env.ip}`,
      'Session\\DHTEnabled=false',
      'Session\\LSDEnabled=false',
      'Session\\PeXEnabled=false',
      'Session\\AnonymousModeEnabled=false',
      'Session\\QueueingSystemEnabled=false',
      'Session\\AddTrackersEnabled=false',
      // TCP only: libtorrent tries uTP first by default and falls back to TCP
      // only after that fails; aria2 and rtorrent have no uTP.
      'Session\\BTProtocol=TCP',
      `Session\\DefaultSavePath=${env.dataDir}`,
      'Session\\TempPathEnabled=false',
      'Session\\AddExtensionToIncompleteFiles=false',
      'Session\\Preallocation=false',
      '',
      '[Network]',
      'PortForwardingEnabled=false',
      '',
      '[Preferences]',
      'Connection\\ResolvePeerCountries=false',
      'Connection\\ResolvePeerHostNames=false',
      'General\\Locale=en',
      'WebUI\\Enabled=true',
      `WebUI\\Address=${env.ip}`,
      `WebUI\\Port=${env.auxPort}`,
      'WebUI\\LocalHostAuth=false',
      'WebUI\\CSRFProtection=false',
      'WebUI\\HostHeaderValidation=false',
      'WebUI\\UseUPnP=false',
      '',
    ].join('\n');
    writeFileSync(join(confDir, 'qBittorrent.conf'), conf);
    const out = join(env.dir, 'qbittorrent.out');
    const qlog = join(profile, 'qBittorrent', 'data', 'logs', 'qbittorrent.log');
    const proc = Proc.start(
      'qbittorrent-nox',
      'qbittorrent-nox',
      [
        `--profile=${profile}`,
        `--webui-port=${env.auxPort}`,
        `--torrenting-port=${env.port}`,
        `--save-path=${env.dataDir}`,
        '--add-paused=false',
        '--skip-dialog=true',
        env.torrentPath,
      ],
      { logPath: out, env: clientEnv(env.dir) },
    );
    const api = `http://${env.ip}:${env.auxPort}/api/v2`;
    const getJson = async (path: string): Promise<unknown> => {
      const res = await fetch(`${api}${path}`, { signal: AbortSignal.timeout(2000) });
      if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
      return res.json();
    };
    const status = async (): Promise<string> => {
      if (!proc.running) return `qbittorrent-nox ${proc.describeExit()}`;
      try {
        const infos = (await getJson(`/torrents/info?hashes=${env.infoHashHex}`)) as Array<Record<string, unknown>>;
        const t = infos[0];
        if (!t) return 'qbittorrent-nox: torrent not (yet) added';
        const trackers = (await getJson(`/torrents/trackers?hash=${env.infoHashHex}`)) as Array<Record<string, unknown>>;
        const tr = trackers
          .filter((x) => typeof x['url'] === 'string' && !String(x['url']).startsWith('** '))
          .map((x) => `tracker ${String(x['url'])} status=${String(x['status'])} peers=${String(x['num_peers'])} msg=${JSON.stringify(x['msg'])}`);
        return [
          `qbittorrent-nox state=${String(t['state'])} progress=${String(t['progress'])} seeds=${String(t['num_seeds'])} leechs=${String(t['num_leechs'])} dlspeed=${String(t['dlspeed'])}`,
          ...tr,
        ].join('\n');
      } catch (err) {
        return `qbittorrent-nox Web API not answering: ${(err as Error).message}`;
      }
    };
    // Wait for the Web UI so a later status() works; not fatal if it is slow.
    await waitFor(async () => {
      if (!proc.running) return true;
      try {
        return (await fetch(`${api}/app/version`, { signal: AbortSignal.timeout(1000) })).ok;
      } catch {
        return false;
      }
    }, 10_000, 200);
    return {
      name: 'qbittorrent',
      proc,
      logs: [out, qlog],
      status,
      stop: async () => void (await proc.stop(STOP_GRACE_MS)),
    };
  },
};

// ---------------------------------------------------------------------------
// rtorrent 0.9.8 (libtorrent 0.13.8)
//
// Runs without a tty in daemon mode (0.9.8 needs system.daemon.set). Its
// network.bind_address also applies to its tracker requests (HTTP and UDP).
// Its log records every tracker request and reply.
const rtorrent: ClientSpec = {
  name: 'rtorrent',
  ip: '127.0.0.14',
  async start(env) {
    const session = join(env.dir, 'session');
    mkdirSync(session, { recursive: true });
    const log = join(env.dir, 'rtorrent.log');
    const doneMarker = join(env.dir, 'DOWNLOAD_FINISHED');
    const rc = join(env.dir, 'rtorrent.rc');
    writeFileSync(
      rc,
      [
        `directory.default.set = "${env.dataDir}"`,
        `session.path.set = "${session}"`,
        `network.port_range.set = ${env.port}-${env.port}`,
        'network.port_random.set = no',
        `network.bind_address.set = ${env.ip}`,
        'dht.mode.set = disable',
        'protocol.pex.set = no',
        'trackers.use_udp.set = yes',
        'system.daemon.set = true',
        `log.open_file = "e2e", "${log}"`,
        'log.add_output = "info", "e2e"',
        'log.add_output = "tracker_debug", "e2e"',
        `method.set_key = event.download.finished, e2e_done, "execute.nothrow=touch,${doneMarker}"`,
        '',
      ].join('\n'),
    );
    const out = join(env.dir, 'rtorrent.out');
    const proc = Proc.start('rtorrent', 'rtorrent', ['-n', '-o', `import=${rc}`, env.torrentPath], {
      logPath: out,
      env: clientEnv(env.dir),
    });
    return {
      name: 'rtorrent',
      proc,
      logs: [out, log],
      status: async () => {
        let finished = false;
        try {
          readFileSync(doneMarker);
          finished = true;
        } catch {
          /* not finished */
        }
        return `rtorrent ${proc.describeExit()}; event.download.finished ${finished ? 'fired' : 'not fired'}`;
      },
      stop: async () => void (await proc.stop(STOP_GRACE_MS)),
    };
  },
};

export const CLIENTS: Record<ClientName, ClientSpec> = { aria2, transmission, qbittorrent, rtorrent };
