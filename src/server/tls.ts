/**
 * HTTPS and WSS on the TLS port, with a certificate that can change while the process runs.
 *
 * uWebSockets.js reads a certificate only when an SSLApp is built, and this build cannot change a running app's
 * default certificate (SNI names would not reach clients that connect by IP address). So a new certificate gets
 * a new app with the same routes: it listens on the same port (uWS sets SO_REUSEPORT) before the old app's
 * listen sockets close. The old app keeps serving the connections it accepted, WebSockets included; new
 * handshakes reach the new app. Old apps are kept until shutdown closes their connections: a certificate
 * changes every few weeks, and an app without connections costs only its TLS context.
 */
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { watch, readFileSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import type { TrackerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { tlsCertificateExpiry } from '../metrics/tracker-metrics.js';
import { closeConnections, listenOnHosts, uWS, type TemplatedApp, type us_listen_socket } from './uws.js';

/** Milliseconds a file change waits for more changes: a renewal writes the certificate and the key one by one. */
const SETTLE_MS = 500;

export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
  /** Empty: the key is not encrypted. */
  readonly passphrase: string;
}

export function certificateFiles(config: TrackerConfig): CertificateFiles {
  return { cert: config.tlsCert, key: config.tlsKey, passphrase: config.tlsPassphrase };
}

/** What a certificate error says is the operator's to fix; its message names the file. */
export class CertificateError extends Error {
  override readonly name = 'CertificateError';
}

/** A certificate and key that belong together, as read from their files. */
export interface Certificate {
  readonly serial: string;
  readonly subject: string;
  readonly validTo: string;
  /** validTo as Unix time in seconds. */
  readonly expiresAt: number;
  /** Of both files' bytes: tells a changed certificate from a file rewritten unchanged. */
  readonly digest: string;
}

function read(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CertificateError(`cannot read the TLS ${what} file ${file}: ${(error as Error).message}`);
  }
}

function privateKey(pem: Buffer, files: CertificateFiles): KeyObject {
  try {
    return createPrivateKey(files.passphrase === '' ? pem : { key: pem, passphrase: files.passphrase });
  } catch (error) {
    const code = (error as { code?: string }).code;
    const reason =
      code === 'ERR_OSSL_BAD_DECRYPT'
        ? 'wrong passphrase (--tls-passphrase)'
        : code === 'ERR_OSSL_CRYPTO_INTERRUPTED_OR_CANCELLED'
          ? 'the key is encrypted: give its passphrase (--tls-passphrase)'
          : `not a PEM private key (${(error as Error).message})`;
    throw new CertificateError(`TLS key file ${files.key}: ${reason}`);
  }
}

/**
 * Reads and checks a certificate and its key, with messages that name the file at fault (uWebSockets.js only
 * says "App construction failed").
 */
export function readCertificate(files: CertificateFiles): Certificate {
  const certPem = read(files.cert, 'certificate');
  const keyPem = read(files.key, 'key');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new CertificateError(`TLS certificate file ${files.cert}: not a PEM certificate (${(error as Error).message})`);
  }
  if (!certificate.checkPrivateKey(privateKey(keyPem, files))) {
    throw new CertificateError(`TLS key file ${files.key} is not the key of the certificate in ${files.cert}`);
  }
  return {
    serial: certificate.serialNumber,
    subject: certificate.subject,
    validTo: certificate.validTo,
    expiresAt: Date.parse(certificate.validTo) / 1000,
    digest: createHash('sha256').update(certPem).update(keyPem).digest('hex'),
  };
}

/** A certificate as the logs show it. */
function describe({ serial, subject, validTo }: Certificate): Record<string, string> {
  return { serial, subject, validTo };
}

export interface TlsServerDeps {
  readonly files: CertificateFiles;
  readonly hosts: readonly string[];
  readonly port: number;
  /** Registers the tracker's HTTP routes and WebSocket handler on an app. */
  readonly serve: (app: TemplatedApp) => void;
  readonly log: Logger;
}

/** The app that takes new connections, with its listen sockets and certificate. */
interface Listening {
  readonly app: TemplatedApp;
  readonly sockets: us_listen_socket[];
  readonly certificate: Certificate;
}

export class TlsServer {
  private current: Listening | null = null;
  /** Every app built, the current one last: each may still hold connections. */
  private readonly apps: TemplatedApp[] = [];
  private readonly watchers: FSWatcher[] = [];
  private settle: NodeJS.Timeout | undefined;
  /** Reloads run one after the other. */
  private reloading: Promise<unknown> = Promise.resolve();

  private constructor(private readonly deps: TlsServerDeps) {}

  /** Listens on every host, or throws (a CertificateError for a bad certificate). */
  static async start(deps: TlsServerDeps): Promise<TlsServer> {
    const server = new TlsServer(deps);
    server.current = await server.open(readCertificate(deps.files));
    tlsCertificateExpiry.set(server.current.certificate.expiresAt);
    server.watchFiles();
    deps.log.info({ port: deps.port, ...describe(server.current.certificate) }, 'TLS listening');
    return server;
  }

  /**
   * Serves the certificate's files anew if they changed. A certificate that does not load is logged and the
   * running one stays. Resolves to whether the certificate changed.
   */
  reload(reason: string): Promise<boolean> {
    const next = this.reloading.then(() => this.swap(reason));
    this.reloading = next;
    return next;
  }

  /** Closes the listen sockets and stops watching the files; accepted connections stay open. */
  stopListening(): void {
    clearTimeout(this.settle);
    for (const watcher of this.watchers) watcher.close();
    if (this.current !== null) for (const socket of this.current.sockets) uWS.us_listen_socket_close(socket);
    this.current = null;
  }

  /** Closes every connection of every app, idle keep-alive ones included. */
  closeConnections(): void {
    for (const app of this.apps) closeConnections(app);
  }

  private async swap(reason: string): Promise<boolean> {
    const { log, files } = this.deps;
    const old = this.current;
    if (old === null) return false;
    let next: Listening;
    try {
      const certificate = readCertificate(files);
      if (certificate.digest === old.certificate.digest) return false;
      next = await this.open(certificate);
    } catch (error) {
      log.error({ err: error, reason }, `TLS certificate not reloaded, the running one stays: ${(error as Error).message}`);
      return false;
    }
    // stopListening ran meanwhile: the process is shutting down.
    if (this.current !== old) {
      for (const socket of next.sockets) uWS.us_listen_socket_close(socket);
      return false;
    }
    for (const socket of old.sockets) uWS.us_listen_socket_close(socket);
    this.current = next;
    tlsCertificateExpiry.set(next.certificate.expiresAt);
    log.info({ reason, ...describe(next.certificate), replaced: old.certificate.serial }, 'TLS certificate reloaded');
    return true;
  }

  private async open(certificate: Certificate): Promise<Listening> {
    const { files, hosts, port, serve } = this.deps;
    let app: TemplatedApp;
    try {
      app = uWS.SSLApp({
        cert_file_name: files.cert,
        key_file_name: files.key,
        ...(files.passphrase === '' ? {} : { passphrase: files.passphrase }),
      });
    } catch (error) {
      throw new CertificateError(`TLS certificate ${files.cert} with key ${files.key}: ${(error as Error).message}`);
    }
    serve(app);
    let sockets: us_listen_socket[];
    try {
      sockets = await listenOnHosts(app, hosts, port);
    } catch (error) {
      closeConnections(app);
      throw error;
    }
    this.apps.push(app);
    return { app, sockets, certificate };
  }

  /** Watches the files' directories: renewals often replace a file or a symlink to it rather than write it. */
  private watchFiles(): void {
    const { files, log } = this.deps;
    for (const directory of new Set([dirname(files.cert), dirname(files.key)])) {
      try {
        const watcher = watch(directory, { persistent: false }, () => {
          clearTimeout(this.settle);
          this.settle = setTimeout(() => void this.reload('file changed'), SETTLE_MS).unref();
        });
        watcher.on('error', (error) => log.warn({ err: error, directory }, 'TLS certificate directory not watched any more: reload with SIGHUP'));
        this.watchers.push(watcher);
      } catch (error) {
        log.warn({ err: error, directory }, 'cannot watch the TLS certificate directory: reload with SIGHUP');
      }
    }
  }
}
