/**
 * The S3 client shared by the `s3` storage and the `bucket` source: the AWS SDK's client over floe's
 * fetch transport ({@link ./transport.ts}), loaded lazily, and the mapping of SDK errors to
 * {@link StorageError} codes with one-line messages that never carry a secret.
 *
 * @example
 * ```ts
 * import { connectS3 } from "./_client.ts";
 * const s3 = connectS3({ endpoint: "http://127.0.0.1:9000" }, "s3:http://127.0.0.1:9000/b");
 * const { sdk, client } = await s3.load();
 * await s3.close();
 * ```
 * @module
 */
import { isStorageError, StorageError } from "../../../core/contracts.ts";
import type { S3Client } from "@aws-sdk/client-s3";
import { FetchTransport, readCaBundles, settleResponse } from "./transport.ts";

/** What the client needs of the storage's options (see ./mod.ts for each). */
export interface S3ClientOptions {
  /** A custom endpoint; AWS when absent. */
  endpoint?: string;
  /** Region; default `AWS_REGION`, `AWS_DEFAULT_REGION`, else `us-east-1`. */
  region?: string;
  /** Path-style addressing; default true when `endpoint` is given. */
  forcePathStyle?: boolean;
  /** Access key id; overrides the SDK's credential chain. */
  accessKeyId?: string;
  /** Secret access key. */
  secretAccessKey?: string;
  /** Session token. */
  sessionToken?: string;
  /** A profile of the shared config files. */
  profile?: string;
  /** Attempts the SDK itself makes per request (default 1). */
  sdkMaxAttempts?: number;
  /** Milliseconds allowed for connecting (default 10 000). */
  connectTimeoutMs?: number;
  /** Milliseconds without response data (default 120 000). */
  requestTimeoutMs?: number;
  /** A PEM file of extra CA certificates. */
  caBundle?: string;
}

/** Defaults of the client. */
export const clientDefaults = { sdkMaxAttempts: 1, connectTimeoutMs: 10_000, requestTimeoutMs: 120_000 };

const NOT_FOUND = new Set(["NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchUpload"]);
const AUTH = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "CredentialsProviderError",
  "InvalidClientTokenId",
  "AuthorizationHeaderMalformed",
]);
const TRANSIENT = new Set([
  "SlowDown",
  "ServiceUnavailable",
  "InternalError",
  "RequestTimeout",
  "RequestTimeoutException",
  "Throttling",
  "ThrottlingException",
  "TooManyRequestsException",
  "TimeoutError",
  "RequestTimeTooSkewed",
]);
const NET_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ERR_STREAM_PREMATURE_CLOSE",
  "UND_ERR_SOCKET",
]);

/** What `$metadata` and friends look like on an SDK error. */
export interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

/** Whether `e` is the caller's abort. */
export function isAbort(e: unknown, signal?: AbortSignal): boolean {
  if (signal?.aborted) return true;
  const err = e as SdkError;
  return err?.name === "AbortError" && !!signal?.aborted;
}

/** Decides the StorageError code of an SDK or network error (exported for tests). */
export function classify(e: unknown): StorageError["code"] {
  const err = e as SdkError;
  const name = err?.name ?? "";
  const code = err?.code ?? err?.Code ?? "";
  const status = err?.$metadata?.httpStatusCode ?? err?.$response?.statusCode;
  if (NOT_FOUND.has(name) || NOT_FOUND.has(code) || status === 404) return "not-found";
  if (name === "PreconditionFailed" || status === 412) return "exists";
  if (AUTH.has(name) || AUTH.has(code) || status === 401 || status === 403) return "auth";
  if (TRANSIENT.has(name) || TRANSIENT.has(code) || NET_CODES.has(code)) return "transient";
  if (name === "NotImplemented" || status === 501) return "permanent";
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return "transient";
  if (status === undefined) {
    // A TLS certificate refused: retrying will not change it.
    if (/certificate|UnknownIssuer|CaUsedAsEndEntity/i.test(err?.message ?? "")) return "permanent";
    // No HTTP answer at all: a reset, a timeout, a truncated or unparsable body.
    if (
      e instanceof TypeError ||
      /socket|network|reset|aborted|premature|timeout|ECONN|EPIPE/i.test(err?.message ?? "")
    ) {
      return "transient";
    }
    if (/Deserializ|char '|Unexpected end|XML/i.test(err?.message ?? "")) return "transient";
  }
  return "permanent";
}

/**
 * The fetch transport of a client for `location`, with the extra CA bundles and the timeouts of `options`;
 * a bundle that cannot be used is a `permanent` {@link StorageError}.
 *
 * @example
 * ```ts
 * import { openTransport } from "./_client.ts";
 * const transport = await openTransport({}, "s3:b");
 * transport.destroy();
 * ```
 */
export async function openTransport(options: S3ClientOptions, location: string): Promise<FetchTransport> {
  let caCerts: string[];
  try {
    caCerts = await readCaBundles(options.caBundle);
  } catch (e) {
    throw new StorageError("permanent", `${location}: ${(e as Error).message}`, { cause: e });
  }
  try {
    return new FetchTransport({
      caCerts,
      connectTimeoutMs: options.connectTimeoutMs ?? clientDefaults.connectTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? clientDefaults.requestTimeoutMs,
    });
  } catch (e) {
    throw new StorageError(
      "permanent",
      `${location}: bad extra CA certificates (AWS_CA_BUNDLE, NODE_EXTRA_CA_CERTS, caBundle): ${
        (e as Error).message
      }`,
      { cause: e },
    );
  }
}

/**
 * An S3 error answer read without the SDK, shaped as the SDK's errors are (`name` the S3 error code,
 * `$metadata.httpStatusCode`), so that {@link classify} and {@link s3Failure} treat both alike.
 *
 * @example
 * ```ts
 * import { classify, S3HttpError } from "./_client.ts";
 * classify(new S3HttpError(503, "SlowDown", "reduce your request rate")); // "transient"
 * ```
 */
export class S3HttpError extends Error {
  /** The status, where the SDK keeps it. */
  readonly $metadata: { httpStatusCode: number };
  /** The S3 error code (`Code` of the answer), also the error's name. */
  readonly Code: string;

  /** An answer of `status` with the error `code` (the status' name when the answer had none). */
  constructor(status: number, code: string | undefined, message: string | undefined) {
    const name = code || STATUS_NAMES[status] || `Http${status}`;
    super(message || name);
    this.name = name;
    this.Code = name;
    this.$metadata = { httpStatusCode: status };
  }
}

/** What the SDK names an error answer without a body (HEAD's), by status. */
const STATUS_NAMES: Record<number, string> = {
  301: "PermanentRedirect",
  304: "NotModified",
  400: "BadRequest",
  403: "Forbidden",
  404: "NotFound",
  412: "PreconditionFailed",
};

/** Rethrows `e` as a {@link StorageError} about `what` (an abort as the signal's reason). */
export type S3Fail = (e: unknown, what: string, signal?: AbortSignal, bucket?: string) => never;

/**
 * The error mapping of an S3 client for `location`: rethrows an SDK error, an {@link S3HttpError} or a
 * network failure as a {@link StorageError} about `what` with a one-line message that carries no secret
 * of `options` or the environment (an abort as the signal's reason).
 *
 * @example
 * ```ts
 * import { S3HttpError, s3Failure } from "./_client.ts";
 * const fail = s3Failure({}, "s3:b");
 * try {
 *   fail(new S3HttpError(404, "NoSuchKey", "gone"), "b/k");
 * } catch (e) {
 *   (e as Error).message; // "s3:b: b/k: no such object"
 * }
 * ```
 */
export function s3Failure(options: S3ClientOptions, location: string): S3Fail {
  const secrets = [options.secretAccessKey, options.sessionToken, Deno.env.get("AWS_SECRET_ACCESS_KEY")]
    .filter((s): s is string => !!s && s.length >= 4);
  const scrub = (text: string) => secrets.reduce((t, s) => t.split(s).join("***"), text);

  return function fail(e: unknown, what: string, signal?: AbortSignal, bucket?: string): never {
    if (isStorageError(e)) throw e;
    if (isAbort(e, signal)) throw signal?.reason ?? e;
    const code = classify(e);
    const err = e as SdkError;
    const name = err?.name ?? "Error";
    const status = err?.$metadata?.httpStatusCode;
    const detail = `${name}${status ? ` (HTTP ${status})` : ""}`;
    let message: string;
    switch (code) {
      case "auth":
        message =
          `${location}: access refused for ${what}: ${detail}; check the credentials for this location`;
        break;
      case "not-found":
        message = name === "NoSuchBucket" && bucket
          ? `${location}: bucket ${JSON.stringify(bucket)} does not exist (${what})`
          : `${location}: ${what}: no such object`;
        break;
      case "exists":
        message = `${location}: ${what}: already exists`;
        break;
      default:
        message = `${location}: ${what}: ${detail}: ${scrub(err?.message ?? String(e))}`;
    }
    throw new StorageError(code, message, { cause: e });
  };
}

/** A lazily built S3 client and its error mapping. */
export interface S3Connection {
  /** The SDK module and the client, built on first use. */
  load(): Promise<{ sdk: typeof import("@aws-sdk/client-s3"); client: S3Client }>;
  /** Rethrows `e` as a {@link StorageError} about `what` (an abort as the signal's reason). */
  fail(e: unknown, what: string, signal?: AbortSignal, bucket?: string): never;
  /** Releases the connections. */
  close(): Promise<void>;
}

/**
 * Builds the (lazy) client for `location`, which names the place in messages.
 *
 * @example
 * ```ts
 * import { connectS3 } from "./_client.ts";
 * const s3 = connectS3({}, "s3:my-bucket");
 * await s3.close();
 * ```
 */
export function connectS3(options: S3ClientOptions, location: string): S3Connection {
  const endpoint = options.endpoint?.replace(/\/+$/, "");
  const forcePathStyle = options.forcePathStyle ?? !!endpoint;
  const defaults = clientDefaults;

  type Sdk = typeof import("@aws-sdk/client-s3");
  let loaded: Promise<{ sdk: Sdk; client: S3Client }> | undefined;
  const load = () =>
    loaded ??= (async () => {
      const transport = await openTransport(options, location);
      const sdk = await import("@aws-sdk/client-s3");
      const region = options.region ?? Deno.env.get("AWS_REGION") ?? Deno.env.get("AWS_DEFAULT_REGION") ??
        "us-east-1";
      const credentials = options.accessKeyId
        ? {
          accessKeyId: options.accessKeyId,
          secretAccessKey: options.secretAccessKey ?? "",
          ...(options.sessionToken ? { sessionToken: options.sessionToken } : {}),
        }
        : undefined;
      const client = new sdk.S3Client({
        region,
        ...(endpoint ? { endpoint } : {}),
        forcePathStyle,
        ...(credentials ? { credentials } : {}),
        ...(options.profile ? { profile: options.profile } : {}),
        maxAttempts: options.sdkMaxAttempts ?? defaults.sdkMaxAttempts,
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        // fetch sends the body at once; `Expect: 100-continue` is a node:http thing.
        expectContinueHeader: false,
        requestHandler: transport,
      });
      // Over TLS, sign uploads with UNSIGNED-PAYLOAD: TLS already protects the bytes, and neither floe
      // nor the store then hashes every byte with SHA-256 once more. Plain http keeps the payload hash.
      client.middlewareStack.add(
        (next) => (args) => {
          const req = args.request as { protocol?: string; body?: unknown; headers?: Record<string, string> };
          if (req?.protocol === "https:" && req.body instanceof Uint8Array && req.headers) {
            req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD";
          }
          return next(args);
        },
        { step: "build", name: "floeUnsignedPayloadOverTls" },
      );
      // Outside the deserializer, once per attempt: release the bodies the SDK has read (or ignored).
      client.middlewareStack.add(
        (next) => async (args) => {
          try {
            const result = await next(args);
            settleResponse(result.response, result.output);
            return result;
          } catch (e) {
            settleResponse((e as { $response?: unknown })?.$response, undefined);
            throw e;
          }
        },
        { step: "deserialize", name: "floeSettleResponseBodies", priority: "high" },
      );
      return { sdk, client };
    })();

  const fail = s3Failure(options, location);

  return {
    load,
    fail,
    async close() {
      if (!loaded) return;
      const pending = loaded;
      loaded = undefined;
      const opened = await pending.catch(() => undefined); // a failed load has nothing to close
      opened?.client.destroy();
    },
  };
}
