/**
 * Where a profile sample's time goes, decided by the nearest frame on its stack that says something:
 * a leaf in node:buffer called by the protobuf writer is protobuf time, not "other".
 */
export const CATEGORIES = [
  'protobuf decode',
  'protobuf encode',
  'HTTP/2 + grpc-js',
  'routing/index',
  'queueing/sink',
  'publish path',
  'consumer/app',
  'timers',
  'GC',
  'other',
] as const;
export type Category = (typeof CATEGORIES)[number];

export interface Frame {
  readonly functionName: string;
  readonly url: string;
}

const DECODE = /decode|deserial|fromBinary/i;
const ENCODE = /encode|serial|toBinary|finish/i;

/**
 * A protobuf frame's direction: its own name when it says (Event.decode, finish), else its caller's,
 * since the reader and the writer share method names (string, bytes, uint32).
 */
export function protobufDirection(f: Frame, caller: Category | undefined): Category {
  if (DECODE.test(f.functionName)) return 'protobuf decode';
  if (ENCODE.test(f.functionName)) return 'protobuf encode';
  return caller === 'protobuf decode' ? 'protobuf decode' : 'protobuf encode';
}

/** The category a frame names by itself, or undefined when it should inherit its caller's. */
export function ownCategory(f: Frame): Category | undefined {
  const { url, functionName: fn } = f;
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)' || fn === '(root)' || fn === '(idle)') return undefined;
  if (isProtobuf(f)) return 'protobuf encode'; // direction settled by protobufDirection
  if (url.endsWith('/event-encoder.js')) return 'protobuf encode';
  // The lazy readers (consumer batches, publish requests) are protobuf decoding by hand.
  if (url.includes('/shared/wire/') || url.endsWith('/publish-wire.js')) return 'protobuf decode';
  if (url.includes('@grpc/grpc-js') || url.includes('internal/http2') || url.includes('node:http2')) return 'HTTP/2 + grpc-js';
  if (url.includes('/services/provider/subscriptions/') || url.endsWith('/event-router.js') || url.includes('/topic')) return 'routing/index';
  if (url.includes('/services/provider/sinks/')) return 'queueing/sink';
  if (url.includes('/services/provider/events/')) return 'publish path';
  if (url.includes('/services/consumer/') || url.includes('/bench/workers/')) return 'consumer/app';
  if (url.includes('internal/timers') || fn === 'processImmediate' || fn === 'processTimers' || fn === 'listOnTimeout') return 'timers';
  return undefined;
}

export function isProtobuf(f: Frame): boolean {
  return f.url.includes('@bufbuild/protobuf') || f.url.includes('/shared/gen/');
}
