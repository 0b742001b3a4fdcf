import { randomUUID } from 'node:crypto';
import * as readline from 'node:readline';
import { Metadata } from '@grpc/grpc-js';
import { clientOptions } from '../shared/client-options';
import type { Event } from '../shared/gen/tether/v1/event';
import { PublisherServiceClient } from '../shared/gen/tether/v1/publisher';
import { type CommonOptions, failover, out, unary } from './format';

export interface EventFields {
  topic: string;
  data?: string;
  type?: string;
  source?: string;
  id?: string;
  data_content_type?: string;
  extensions?: Record<string, string>;
}

export function toEvent(f: EventFields): Event {
  if (!f || typeof f.topic !== 'string') throw new Error('each event needs a "topic"');
  return {
    id: f.id ?? '',
    source: f.source ?? 'tether-cli',
    type: f.type ?? '',
    topic: f.topic,
    time: '',
    dataContentType: f.data_content_type ?? (f.data === undefined ? '' : 'text/plain'),
    extensions: f.extensions ?? {},
    data: Buffer.from(f.data ?? ''),
    sequence: '0',
  };
}

const STDIN_BATCH = 100;

/**
 * Publishes one event from arguments, or JSON lines from stdin in batches. Each batch has its own
 * idempotency key, kept when it is sent again to the next address, so a failover stores it once.
 */
export async function publish(opts: CommonOptions, args: { event?: EventFields; stdin: boolean }): Promise<void> {
  const clients = new Map<string, PublisherServiceClient>();
  const clientFor = (address: string) => {
    let client = clients.get(address);
    if (!client) clients.set(address, (client = new PublisherServiceClient(address, opts.credentials, clientOptions())));
    return client;
  };
  const send = async (events: Event[]) => {
    const idempotencyKey = `tether-cli-${randomUUID()}`;
    const res = await failover(opts, (o) =>
      unary<{ sequences: string[]; epoch: string }>(o, (d, cb) => clientFor(o.address).publish({ events, idempotencyKey }, new Metadata(), d, cb)),
    );
    if (opts.json) out(JSON.stringify(res));
    else out(`published ${events.length} event(s): sequences ${res.sequences.join(', ')} (epoch ${res.epoch})`);
  };
  try {
    if (!args.stdin) {
      if (!args.event) throw new Error('publish needs a topic, or --stdin');
      await send([toEvent(args.event)]);
      return;
    }
    let batch: Event[] = [];
    let lineNo = 0;
    for await (const line of readline.createInterface({ input: process.stdin })) {
      lineNo++;
      if (!line.trim()) continue;
      try {
        batch.push(toEvent(JSON.parse(line) as EventFields));
      } catch (err) {
        throw new Error(`stdin line ${lineNo}: ${(err as Error).message}`);
      }
      if (batch.length >= STDIN_BATCH) {
        await send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) await send(batch);
  } finally {
    for (const client of clients.values()) client.close();
  }
}
