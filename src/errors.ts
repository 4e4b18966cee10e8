/**
 * The one error class of the library. Every failure carries a stable `code` (listed in
 * docs/ERRORS.md with the CLI exit code it maps to), a message that says what to do next,
 * and the original `cause` when there is one.
 *
 * Messages never contain key material, PINs, passphrases or plaintext.
 */
export const ErrorCodes = {
  /** A caller passed an argument of the wrong type, size or range. */
  INVALID_ARGUMENT: { exit: 2, summary: 'an argument is missing or invalid' },
  /** A file could not be read or written. */
  IO: { exit: 3, summary: 'a file could not be read or written' },
  /** The package is not modelseal/v1 or its structure is malformed. */
  MALFORMED_PACKAGE: { exit: 4, summary: 'the package is malformed' },
  /** The package claims a version this build does not read. */
  UNSUPPORTED_VERSION: { exit: 4, summary: 'the package format version is not supported' },
  /** The package ends early: a tar entry, chunk or trailer is missing bytes. */
  TRUNCATED: { exit: 4, summary: 'the package is truncated' },
  /** Header larger than the limit. */
  HEADER_TOO_LARGE: { exit: 4, summary: 'the package header exceeds the size limit' },
  /** More recipient stanzas than the limit. */
  TOO_MANY_STANZAS: { exit: 4, summary: 'the package has more recipient stanzas than allowed' },
  /** One stanza larger than the limit. */
  STANZA_TOO_LARGE: { exit: 4, summary: 'a recipient stanza exceeds the size limit' },
  /** More files than the limit. */
  TOO_MANY_FILES: { exit: 4, summary: 'the package lists more files than allowed' },
  /** A file name that could escape the output folder or is not a portable relative path. */
  UNSAFE_PATH: { exit: 4, summary: 'a file name is not a safe relative path' },
  /** An input file type that is not sealed (device, socket, fifo, or a symlink without --allow-symlinks). */
  UNSUPPORTED_FILE_TYPE: { exit: 4, summary: 'an input is not a regular file' },
  /** None of the identities at hand opens any stanza of the package. */
  NO_MATCHING_IDENTITY: { exit: 5, summary: 'no available identity can open this package' },
  /** Authentication failed after a key was found. Uniform on purpose: the detail goes to the debug log. */
  DECRYPTION_FAILED: { exit: 6, summary: 'the package failed authentication' },
  /** The publisher signature does not verify, or the signer is not trusted. */
  SIGNATURE_INVALID: { exit: 7, summary: 'the publisher signature does not verify' },
  /** The signer key is valid but not one the caller trusts. */
  UNTRUSTED_SIGNER: { exit: 7, summary: 'the package was signed by a key that is not trusted' },
  /** The key store is missing, unreadable, or a passphrase is wrong. */
  KEYSTORE: { exit: 8, summary: 'the key store could not be used' },
  /** A key provider could not be reached; retrying may help. */
  PROVIDER_UNAVAILABLE: { exit: 9, summary: 'a key provider could not be reached (retryable)' },
  /** The output path exists and --force was not given. */
  OUTPUT_EXISTS: { exit: 10, summary: 'the output path already exists' },
  /** The transparency log cannot take an entry (storage full, unwritable, locked): fail closed. */
  LOG_UNAVAILABLE: { exit: 11, summary: 'the transparency log could not be written (nothing was released)' },
  /** A log, checkpoint, signed note or proof does not verify, or a stored log was altered. */
  LOG_INVALID: { exit: 12, summary: 'the transparency log or a proof does not verify' },
  /** Policy files (Cedar schema, policies, licenses, embargoes) do not parse or validate. */
  POLICY_INVALID: { exit: 13, summary: 'the release policy files do not validate' },
  /** The release service decided not to release the key (the reason and the deciding policies are in the details). */
  RELEASE_DENIED: { exit: 14, summary: 'the release service denied the key' },
  /** A screening list cannot be imported: unknown format, truncated, a record without a name, duplicate ids. */
  LIST_INVALID: { exit: 15, summary: 'the screening list cannot be imported' },
  /** Screening found a possible match that a person must review (`screen`; `recipient issue|register`). */
  SCREENING_REVIEW: { exit: 16, summary: 'screening found a possible match to review' },
  /** Screening found a listed party (`screen`; `recipient issue|register`). */
  SCREENING_HIT: { exit: 17, summary: 'screening found a listed party' },
  /** The license named to `seal --license` does not exist or does not cover the recipient, model or destination. */
  LICENSE_NOT_COVERED: { exit: 18, summary: 'the license does not cover this transfer' },
  /** A geolocation (MaxMind-format) database cannot be read or is not one. */
  GEO_DATABASE_INVALID: { exit: 19, summary: 'the geolocation database cannot be used' },
  /** A checkpoint to classify is not one: truncated header, wrong magic, no weights, a missing or duplicated shard. */
  CHECKPOINT_INVALID: { exit: 20, summary: 'the checkpoint cannot be classified' },
  /** A rule pack (`--rules <file>`) is not JSON or does not validate; the message names the field. */
  RULES_INVALID: { exit: 21, summary: 'a rule pack does not validate' },
  /** A package sealed without a classification record: classify the checkpoint it was sealed from. */
  UNCLASSIFIED_PACKAGE: { exit: 22, summary: 'the package carries no classification record' },
  /**
   * An evidence pack (`audit verify-export`) fails a check: a signature, a proof, a digest, a record
   * that is not the one logged; the message names the file.
   */
  EVIDENCE_INVALID: { exit: 23, summary: 'the evidence pack does not verify' },
  /**
   * Records an evidence pack's decisions rest on are missing: `audit export` without --allow-missing,
   * `audit verify-export` of a pack that declares gaps without --accept-gaps.
   */
  EVIDENCE_INCOMPLETE: { exit: 24, summary: 'records an evidence pack needs are missing' },
  /**
   * An OCI registry answered what modelseal cannot use (after retries), or content from it does not match
   * its digest; the message names the request and the status.
   */
  REGISTRY_ERROR: { exit: 25, summary: 'the OCI registry failed or sent content that does not verify' },
  /** The OCI registry refused the credentials (or none were found): `docker login`, or a credential helper. */
  REGISTRY_AUTH: { exit: 26, summary: 'the OCI registry refused the credentials' },
  /** The reference names no manifest or blob in the registry. */
  REGISTRY_NOT_FOUND: { exit: 27, summary: 'the OCI registry has no such reference' },
  /** The MLflow tracking server could not be reached, or answered 429/5xx through every retry (`mlflow register`). */
  MLFLOW_UNAVAILABLE: { exit: 28, summary: 'the MLflow tracking server could not be reached (retryable)' },
  /** The MLflow tracking server refused a request: authentication, permission, or an invalid name or source. */
  MLFLOW_REJECTED: { exit: 29, summary: 'the MLflow tracking server refused the request' },
  /** `keyprovider`: the ocicrypt request on stdin is not one (not JSON, unknown op, a bad field or parameter). */
  KEYPROVIDER_REQUEST: { exit: 30, summary: 'the ocicrypt keyprovider request is malformed' },
  /** `keyprovider`: a layer annotation that modelseal did not write, or that was damaged or altered. */
  LAYER_ANNOTATION_INVALID: { exit: 31, summary: 'the layer key annotation is not a valid modelseal escrow' },
  /** `recipient key revoke`: no API key has that id. */
  API_KEY_UNKNOWN: { exit: 32, summary: 'no API key has that id' },
  /** The gateway's quota file does not parse or validate (docs/GATE.md, "Quotas and metering"). */
  QUOTA_INVALID: { exit: 33, summary: 'the quota file does not validate' },
  /** The shared quota store (PostgreSQL) cannot be reached or used: nothing was admitted. */
  QUOTA_UNAVAILABLE: { exit: 34, summary: 'the quota store cannot be used (nothing was admitted)' },
  /** This host cannot run the operation (fingerprints need a little-endian CPU). */
  UNSUPPORTED_PLATFORM: { exit: 69, summary: 'this platform cannot run the operation' },
  /** The operation was interrupted (signal). */
  INTERRUPTED: { exit: 130, summary: 'interrupted' },
  /** A bug: an invariant of modelseal itself did not hold. */
  INTERNAL: { exit: 70, summary: 'internal error (a bug in modelseal)' },
} as const;

export type ErrorCode = keyof typeof ErrorCodes;

export class ModelsealError extends Error {
  override readonly name = 'ModelsealError';
  readonly code: ErrorCode;
  /** Structured, non-secret facts for --json output (file name, chunk index, limits, ...). */
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }

  /** The CLI exit code documented for this error's code. */
  get exitCode(): number {
    return ErrorCodes[this.code].exit;
  }
}

/** Shorthand used at every public entry point to check inputs. */
export function invalidArgument(name: string, expected: string): ModelsealError {
  return new ModelsealError('INVALID_ARGUMENT', `${name}: expected ${expected}`);
}

export function isModelsealError(e: unknown, code?: ErrorCode): e is ModelsealError {
  return e instanceof ModelsealError && (code === undefined || e.code === code);
}
