import * as http2 from 'node:http2';

// Hand-made gRPC bytes, for requests a generated client cannot send: undecodable protobuf, strings that
// are not valid UTF-8. Field numbers come from proto/tether/v1/*.proto.

/** A protobuf varint (up to 2^64 - 1). */
export function varint(value: number | bigint): Buffer {
  let n = BigInt(value);
  const out: number[] = [];
  while (n >= 0x80n) {
    out.push(Number(n & 0x7fn) | 0x80);
    n >>= 7n;
  }
  out.push(Number(n));
  return Buffer.from(out);
}

/** A length-delimited field (wire type 2): a string, bytes or an embedded message. */
export function lenField(field: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  return Buffer.concat([varint((field << 3) | 2), varint(bytes.length), bytes]);
}

/** A varint field (wire type 0). */
export function varintField(field: number, value: number | bigint): Buffer {
  return Buffer.concat([varint(field << 3), varint(value)]);
}

/** Raw bytes of a string that are not valid UTF-8: `prefix`, 0xff 0xfe, `suffix`. */
export function invalidUtf8(prefix: string, suffix = ''): Buffer {
  return Buffer.concat([Buffer.from(prefix), Buffer.from([0xff, 0xfe]), Buffer.from(suffix)]);
}

/** OpenSinkRequest{open{consumer_name, max_receive_message_bytes}} with the name given as raw bytes. */
export function rawOpen(consumerName: Buffer | string, maxReceiveMessageBytes = 0): Buffer {
  const open = Buffer.concat([lenField(1, consumerName), maxReceiveMessageBytes ? varintField(2, maxReceiveMessageBytes) : Buffer.alloc(0)]);
  return lenField(1, open);
}

/** OpenSinkRequest{subscribe{subscriptions, request_id}} with each id given as raw bytes. */
export function rawSubscribe(specs: Array<{ id: Buffer | string; pattern: string }>, requestId = ''): Buffer {
  const subs = specs.map((s) => lenField(1, Buffer.concat([lenField(1, s.id), lenField(2, s.pattern)])));
  const subscribe = Buffer.concat([...subs, requestId ? lenField(3, requestId) : Buffer.alloc(0)]);
  return lenField(2, subscribe);
}

/** One gRPC length-prefixed message frame (uncompressed). */
export function grpcFrame(payload: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(0, 0);
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

export interface RawCallResult {
  /** grpc-status from the trailers (or a trailers-only response); undefined if none came. */
  grpcStatus: number | undefined;
  grpcMessage: string;
  httpStatus: number | undefined;
  /** A status came, or the stream closed, before the timeout. */
  finished: boolean;
  elapsedMs: number;
}

/**
 * One gRPC call over a bare node:http2 session: sends `payload` as one message frame (the bytes are not
 * checked in any way), optionally half-closes, and reports the status the server answered with.
 */
export function rawGrpcCall(address: string, path: string, payload: Buffer, opts: { endStream: boolean; timeoutMs: number }): Promise<RawCallResult> {
  const startedAt = Date.now();
  return new Promise((resolve) => {
    const session = http2.connect(`http://${address}`);
    session.on('error', () => undefined);
    const result: RawCallResult = { grpcStatus: undefined, grpcMessage: '', httpStatus: undefined, finished: false, elapsedMs: 0 };
    // A status (in trailers, or a trailers-only response) ends the call, even while our side is still open.
    const take = (headers: http2.IncomingHttpHeaders) => {
      if (headers['grpc-message'] !== undefined) result.grpcMessage = decodeURIComponent(String(headers['grpc-message']));
      if (headers['grpc-status'] === undefined) return;
      result.grpcStatus = Number(headers['grpc-status']);
      done(true);
    };
    let settled = false;
    const done = (finished: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      result.finished = finished;
      result.elapsedMs = Date.now() - startedAt;
      if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL);
      session.close();
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(false), opts.timeoutMs);
    const stream = session.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    stream.on('response', (headers) => {
      result.httpStatus = Number(headers[':status']);
      take(headers);
    });
    stream.on('trailers', take);
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('close', () => done(true));
    stream.write(grpcFrame(payload));
    if (opts.endStream) stream.end();
  });
}
