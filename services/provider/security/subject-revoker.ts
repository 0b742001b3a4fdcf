import { status } from '@grpc/grpc-js';
import { TetherError } from '../../../shared/errors';
import type { RevokeSubjectResponse } from '../../../shared/gen/tether/v1/tracker';
import type { Scheduler } from '../scheduler';
import type { ConnectionTracker } from '../tracking/connection-tracker';
import type { Audit } from './audit';
import { subjectProblem } from './grants';
import type { Revocations } from './revocations';
import type { StreamDeadlines } from './stream-deadlines';

/**
 * An operator's revocation of a subject: first recorded, so a reconnect in the same moment is already
 * refused; then every sink of the subject is closed as `revoked` through the tracker (each through its
 * one close path, reclaiming every subscription), and its other streams end with UNAUTHENTICATED.
 */
export class SubjectRevoker {
  constructor(
    private readonly enabled: boolean,
    private readonly tracker: ConnectionTracker,
    private readonly revocations: Revocations,
    private readonly deadlines: StreamDeadlines,
    private readonly audit: Audit,
    private readonly scheduler: Scheduler,
  ) {}

  revoke(subject: string, message: string, by: string): RevokeSubjectResponse {
    if (!this.enabled) throw new TetherError(status.FAILED_PRECONDITION, 'this provider has no authentication configured: there are no subjects to revoke');
    const problem = subjectProblem(subject);
    if (problem) throw TetherError.invalid(problem.replace(/^sub/, 'subject'));
    const reason = message || `revoked by ${by}`;
    const until = this.revocations.revoke(subject, this.scheduler.now(), this.tracker.latestExpiry(subject));
    const closed = this.tracker.closeSubject(subject, 'revoked', reason);
    const ended = this.deadlines.revoke(subject);
    this.audit.record('revoked', {
      subject,
      by,
      reason,
      closedSinks: closed.sinks,
      reclaimedSubscriptions: closed.subscriptions,
      endedStreams: ended,
      until: new Date(until).toISOString(),
    });
    return { closedSinks: closed.sinks, reclaimedSubscriptions: closed.subscriptions, endedStreams: ended, revokedUntil: new Date(until).toISOString() };
  }
}
