import type { Registry } from 'prom-client';
import type { Logger } from '../../../shared/logger';
import type { ProviderConfig } from '../provider-config';
import type { Scheduler } from '../scheduler';
import { Audit } from './audit';
import { Authenticator } from './authenticator';
import { CallGuard } from './call-guard';
import { type CertificateGrants, parseCertificateGrants } from './cert-identities';
import { QuotaLedger } from './quotas';
import { Revocations } from './revocations';
import { StreamDeadlines } from './stream-deadlines';
import { watchTlsFiles } from './tls-credentials';
import { TlsTerminator } from './tls-terminator';
import { type KeySet, TokenVerifier, parseJwks } from './token-verifier';
import { WatchedFiles } from './watched-files';

/**
 * The provider's security parts, built from its config: TLS termination, authentication (tokens and/or
 * client certificates), the call guard, quotas, revocations, stream deadlines and the audit trail. With
 * nothing configured, every caller is anonymous with every right, as before authentication existed.
 */
export class ProviderSecurity {
  readonly audit: Audit;
  readonly revocations: Revocations;
  readonly quotas: QuotaLedger;
  readonly deadlines: StreamDeadlines;
  readonly authenticator: Authenticator;
  readonly guard: CallGuard;
  readonly tls: TlsTerminator | undefined;
  private readonly watched: Array<WatchedFiles<unknown>> = [];

  constructor(config: ProviderConfig, log: Logger, registry: Registry, scheduler: Scheduler) {
    const now = () => scheduler.now();
    this.audit = new Audit(log, registry, config.auditMaxSubjectLabels, now);
    this.revocations = new Revocations(config.maxRevocations, config.authMaxTokenLifetimeMs, config.revocationsFile);
    this.quotas = new QuotaLedger({
      defaults: {
        sinks: config.quotaSinks,
        subscriptions: config.quotaSubscriptions,
        publishEventsPerS: config.quotaPublishEventsPerS,
        publishBytesPerS: config.quotaPublishBytesPerS,
      },
      burstMs: config.quotaBurstMs,
      countRetryMs: config.quotaCountRetryMs,
      maxSubjects: config.quotaMaxSubjects,
    });
    this.deadlines = new StreamDeadlines(scheduler);
    if (config.tlsCertFile) {
      const material = this.keep(watchTlsFiles({ certFile: config.tlsCertFile, keyFile: config.tlsKeyFile, clientCaFile: config.tlsClientCaFile }, config.credentialsCheckMs, log));
      this.tls = new TlsTerminator(material, config.tlsHandshakeTimeoutMs, this.audit);
      const announce = ({ subject, notAfter }: { subject: string; notAfter: number }) => {
        const line = { subject, notAfter: new Date(notAfter).toISOString(), mutual: this.tls?.mutualTls };
        if (notAfter - Date.now() < 7 * 86_400_000) log.warn(line, 'TLS certificate in use expires within 7 days');
        else log.info(line, 'TLS certificate in use');
      };
      announce(material.current);
      material.onChange(announce);
    }
    let tokens: TokenVerifier | undefined;
    if (config.authJwksFile) {
      const jwks = this.keep(new WatchedFiles<KeySet>('JWKS', [config.authJwksFile], ([text]) => parseJwks(text.toString('utf8')), config.credentialsCheckMs, log));
      tokens = new TokenVerifier(() => jwks.current, {
        issuer: config.authIssuer,
        audience: config.authAudience,
        clockToleranceMs: config.authClockToleranceMs,
        maxLifetimeMs: config.authMaxTokenLifetimeMs,
        cacheEntries: config.authCacheEntries,
        limits: config,
      });
      const verifier = tokens;
      jwks.onChange(() => verifier.clear());
    }
    let certificates: (() => CertificateGrants) | undefined;
    if (config.authCertIdentitiesFile) {
      const grants = this.keep(
        new WatchedFiles('certificate mapping', [config.authCertIdentitiesFile], ([text]) => parseCertificateGrants(text.toString('utf8'), config), config.credentialsCheckMs, log),
      );
      certificates = () => grants.current;
    }
    this.authenticator = new Authenticator(tokens, certificates, this.revocations, this.audit, now);
    this.guard = new CallGuard(this.authenticator, this.audit);
  }

  get enabled(): boolean {
    return this.authenticator.enabled;
  }

  /** Starts watching the credential files for changes (and SIGHUP). */
  start(): void {
    for (const files of this.watched) files.start();
  }

  stop(): void {
    for (const files of this.watched) files.stop();
  }

  private keep<T>(files: WatchedFiles<T>): WatchedFiles<T> {
    this.watched.push(files as WatchedFiles<unknown>);
    return files;
  }
}
