/**
 * A throw-away certificate authority for the TLS tests, made with the `openssl` CLI (test/install-deps.sh), and
 * server certificates it issues for localhost, 127.0.0.1 and ::1.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Issued {
  readonly cert: string;
  readonly key: string;
  readonly serial: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

export class TestCa {
  /** The CA certificate: what clients trust. */
  readonly caFile: string;
  private issued = 0;

  private constructor(readonly dir: string) {
    this.caFile = join(dir, 'ca.pem');
  }

  static create(): TestCa {
    const ca = new TestCa(mkdtempSync(join(tmpdir(), 'redswarm-tls-')));
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=redswarm test CA'], ca.dir);
    writeFileSync(join(ca.dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n');
    return ca;
  }

  /**
   * A new server certificate and key (its key encrypted with `passphrase` when given), each with its own serial,
   * valid for `days` (2 unless given).
   */
  issue(name: string, { passphrase, days = 2 }: { passphrase?: string; days?: number } = {}): Issued {
    const n = ++this.issued;
    const key = join(this.dir, `${name}.key`);
    const cert = join(this.dir, `${name}.pem`);
    openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.plain.key`, '-out', `${name}.csr`, '-subj', '/CN=localhost'], this.dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-set_serial', String(1000 + n), '-days', String(days), '-extfile', 'server.ext', '-out', `${name}.pem`], this.dir);
    if (passphrase === undefined) openssl(['pkey', '-in', `${name}.plain.key`, '-out', `${name}.key`], this.dir);
    else openssl(['pkcs8', '-topk8', '-in', `${name}.plain.key`, '-out', `${name}.key`, '-passout', `pass:${passphrase}`], this.dir);
    return { cert, key, serial: new X509Certificate(readFileSync(cert)).serialNumber };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
