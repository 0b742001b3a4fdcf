import * as http2 from 'node:http2';

interface Resettable {
  close(code?: number): void;
  readonly destroyed: boolean;
  readonly closed: boolean;
}

function isResettable(value: unknown): value is Resettable {
  return typeof value === 'object' && value !== null && 'rstCode' in value && typeof (value as { close?: unknown }).close === 'function';
}

/**
 * Sends RST_STREAM(CANCEL) for one server call's HTTP/2 stream. A reset is a control frame, so flow
 * control cannot hold it back the way it holds `end()` or a status behind unread data, and it ends only
 * that stream: other calls on the connection carry on.
 *
 * grpc-js (1.14) has no public API for this. The call's stream is reached through its intercepting-call
 * chain (`call` → `nextCall`… → `stream`); this file is the one place that knows, and it checks the shape
 * at run time. Returns false when it cannot find the stream, so the caller can fall back to destroying
 * the connection; test/stream-reset.test.ts fails if an upgrade breaks the path.
 */
export function resetServerStream(call: object): boolean {
  let node: unknown = (call as { call?: unknown }).call;
  for (let depth = 0; depth < 16 && typeof node === 'object' && node !== null; depth++) {
    const stream = (node as { stream?: unknown }).stream;
    if (isResettable(stream)) {
      if (!stream.destroyed && !stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      return true;
    }
    node = (node as { nextCall?: unknown }).nextCall;
  }
  return false;
}
