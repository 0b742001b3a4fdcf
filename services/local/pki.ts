import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  readonly cert: string;
  readonly key: string;
}

export interface CertOptions {
  /** Subject alternative names: DNS names and IP addresses ("DNS:provider", "IP:127.0.0.1"). */
  readonly san?: readonly string[];
  readonly days?: number;
  /** Issue a certificate that expired yesterday (for tests). */
  readonly expired?: boolean;
  /** Issue a certificate valid until this exact second (for tests of expiry while connected). */
  readonly notAfter?: Date;
  /** "server" or "client" key usage. */
  readonly usage?: 'server' | 'client';
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A small certificate authority made with the openssl command (no hand-written crypto): for the dev
 * stack's one-shot credentials step and for tests. Keys are EC P-256 and written with mode 0600.
 */
export class DevCa {
  readonly cert: string;
  private readonly key: string;

  private constructor(
    readonly dir: string,
    readonly name: string,
  ) {
    this.cert = path.join(dir, `${name}.pem`);
    this.key = path.join(dir, `${name}-key.pem`);
  }

  static create(dir: string, name = 'ca', days = 30): DevCa {
    fs.mkdirSync(dir, { recursive: true });
    const ca = new DevCa(dir, name);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', ca.key], dir);
    fs.chmodSync(ca.key, 0o600);
    openssl(['req', '-x509', '-new', '-key', ca.key, '-out', ca.cert, '-days', String(days), '-subj', `/CN=Tether dev ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
    return ca;
  }

  /**
   * The CA kept in `dir` if it is still valid for `minDays`, else a new one there. The dev stack keeps its CA
   * across runs so that a service still running from an earlier `up` (NATS reads its certificate once) and
   * a client holding the earlier ca.pem keep trusting each other; everything it signs is re-made each run.
   */
  static reuseOrCreate(dir: string, name: string, days: number, minDays: number): DevCa {
    const kept = new DevCa(dir, name);
    if (fs.existsSync(kept.cert) && fs.existsSync(kept.key)) {
      try {
        openssl(['x509', '-in', kept.cert, '-noout', '-checkend', String(minDays * 86_400)], dir);
        return kept;
      } catch {
        // expires within minDays (or unreadable): make a new one
      }
    }
    return DevCa.create(dir, name, days);
  }

  /** Issues a certificate for `commonName` into `outDir` as <file>.pem and <file>-key.pem. */
  issue(commonName: string, outDir: string, file: string, options: CertOptions = {}): CertFiles {
    fs.mkdirSync(outDir, { recursive: true });
    const cert = path.join(outDir, `${file}.pem`);
    const key = path.join(outDir, `${file}-key.pem`);
    const csr = path.join(outDir, `${file}.csr`);
    const ext = path.join(outDir, `${file}.ext`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], outDir);
    fs.chmodSync(key, 0o600);
    openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${commonName}`], outDir);
    const lines = [
      'basicConstraints=CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${options.usage === 'client' ? 'clientAuth' : 'serverAuth'}`,
      ...(options.san && options.san.length > 0 ? [`subjectAltName=${options.san.join(',')}`] : []),
    ];
    fs.writeFileSync(ext, lines.join('\n') + '\n');
    if (options.notAfter) {
      this.signUntil(csr, ext, cert, options.notAfter, outDir);
    } else {
      // An expired certificate: valid for "-1 days", so its notAfter is already past.
      const days = options.expired ? '-1' : String(options.days ?? 30);
      openssl(['x509', '-req', '-in', csr, '-CA', this.cert, '-CAkey', this.key, '-CAcreateserial', '-out', cert, '-days', days, '-extfile', ext], outDir);
    }
    fs.rmSync(csr);
    fs.rmSync(ext);
    return { cert, key };
  }

  /** `openssl x509` counts validity in days; `openssl ca` takes exact start and end times. */
  private signUntil(csr: string, ext: string, cert: string, notAfter: Date, outDir: string): void {
    const db = fs.mkdtempSync(path.join(outDir, '.ca-db-'));
    const stamp = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
    fs.writeFileSync(path.join(db, 'index.txt'), '');
    const serial = Date.now().toString(16);
    fs.writeFileSync(path.join(db, 'serial'), `${serial.length % 2 ? '0' : ''}${serial}\n`); // openssl wants whole bytes
    const config = path.join(db, 'ca.cnf');
    fs.writeFileSync(
      config,
      ['[ca]', 'default_ca = dev', '[dev]', `database = ${db}/index.txt`, `new_certs_dir = ${db}`, `serial = ${db}/serial`, 'default_md = sha256', 'policy = any', 'unique_subject = no', '[any]', 'commonName = supplied', ''].join('\n'),
    );
    const start = new Date(Date.now() - 60_000);
    openssl(['ca', '-batch', '-config', config, '-cert', this.cert, '-keyfile', this.key, '-in', csr, '-out', cert, '-startdate', stamp(start), '-enddate', stamp(notAfter), '-extfile', ext, '-notext'], outDir);
    fs.rmSync(db, { recursive: true, force: true });
  }
}
