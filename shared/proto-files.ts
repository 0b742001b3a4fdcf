import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';

/** The proto/ folder, found upward from here so it works from sources (tests) and from dist/. */
export function protoDir(): string {
  let dir = __dirname;
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'proto');
    if (fs.existsSync(path.join(candidate, 'tether', 'v1'))) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error(`proto/ folder not found above ${__dirname}`);
}

export const TETHER_PROTO_FILES = [
  'tether/v1/event.proto',
  'tether/v1/publisher.proto',
  'tether/v1/sink.proto',
  'tether/v1/tracker.proto',
];

/**
 * Every service the provider serves, health included, for server reflection. keepCase keeps the
 * snake_case field names that grpcurl and other clients send.
 */
export function loadReflectionDefinition(): protoLoader.PackageDefinition {
  const healthRoot = path.resolve(path.dirname(healthProtoPath), '..', '..');
  return protoLoader.loadSync([...TETHER_PROTO_FILES, path.relative(healthRoot, healthProtoPath)], {
    includeDirs: [protoDir(), healthRoot],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
}
