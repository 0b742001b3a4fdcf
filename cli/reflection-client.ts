import * as path from 'node:path';
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { type CallOptions, type ChannelCredentials, type Client, type ClientDuplexStream, loadPackageDefinition, type GrpcObject, type ServiceClientConstructor } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

interface ReflectionResponse {
  list_services_response?: { service: Array<{ name: string }> };
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  error_response?: { error_code: number; error_message: string };
}

const REFLECTION_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
/** For the target service: bytes print as base64 and JSON requests carry base64, as with grpcurl. */
const TARGET_OPTIONS: protoLoader.Options = { ...REFLECTION_OPTIONS, bytes: String };

function reflectionProtoRoot(): string {
  return path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
}

/**
 * A gRPC server-reflection client: what grpcurl does, for machines without grpcurl. It asks the server
 * for the file that declares a service (and its imports) and builds a dynamic client from it.
 */
export class ReflectionClient {
  private readonly stub: Client & { ServerReflectionInfo(options: CallOptions): ClientDuplexStream<object, ReflectionResponse> };

  constructor(
    private readonly address: string,
    private readonly channel: ChannelCredentials,
  ) {
    const def = protoLoader.loadSync('grpc/reflection/v1/reflection.proto', { ...REFLECTION_OPTIONS, includeDirs: [reflectionProtoRoot()] });
    const pkg = loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: ServiceClientConstructor } } } };
    this.stub = new pkg.grpc.reflection.v1.ServerReflection(address, channel) as never;
  }

  close(): void {
    this.stub.close();
  }

  async listServices(deadline: number): Promise<string[]> {
    const res = await this.ask({ list_services: '' }, deadline);
    return (res.list_services_response?.service ?? []).map((s) => s.name).sort();
  }

  /** A client constructor and method table for a fully qualified service name. */
  async serviceClient(serviceName: string, deadline: number): Promise<{ client: Client; methods: Record<string, protoLoader.MethodDefinition<object, object>> }> {
    const res = await this.ask({ file_containing_symbol: serviceName }, deadline);
    const files = res.file_descriptor_response?.file_descriptor_proto ?? [];
    const w = new BinaryWriter();
    for (const file of files) w.uint32((1 << 3) | 2).bytes(file); // FileDescriptorSet.file = 1
    const def = protoLoader.loadFileDescriptorSetFromBuffer(Buffer.from(w.finish()), TARGET_OPTIONS);
    const service = def[serviceName] as protoLoader.ServiceDefinition | undefined;
    // Message types carry a 'format' field; services are plain method tables.
    if (!service || 'format' in service) throw new Error(`${serviceName} is not a service the server knows`);
    let node: GrpcObject | ServiceClientConstructor = loadPackageDefinition(def);
    for (const part of serviceName.split('.')) node = (node as GrpcObject)[part] as GrpcObject;
    const Ctor = node as unknown as ServiceClientConstructor;
    return { client: new Ctor(this.address, this.channel), methods: service as never };
  }

  /** One request on its own reflection stream, ended by the deadline if the server never answers. */
  private ask(request: object, deadline: number): Promise<ReflectionResponse> {
    return new Promise((resolve, reject) => {
      const call = this.stub.ServerReflectionInfo({ deadline });
      call.on('data', (res: ReflectionResponse) => {
        call.end();
        if (res.error_response) reject(new Error(`reflection: ${res.error_response.error_message}`));
        else resolve(res);
      });
      call.on('error', reject);
      call.write(request);
    });
  }
}
