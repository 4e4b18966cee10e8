/**
 * modelseal — the public library API. The CLI (cli/) uses only what is exported here.
 */
export { ModelsealError, ErrorCodes, isModelsealError, type ErrorCode } from './errors.js';
export { seal, type SealOptions, type SealResult } from './package/seal.js';
export { open, type OpenOptions, type OpenResult } from './package/open.js';
export { unlockPackage } from './package/unlock.js';
export type { SealTransform, PieceTransformCall, TransformedPiece } from './package/seal-transform.js';
export { registerPieceTransform, type PieceTransformFn } from './crypto/transform.js';
export { tuneMemoryForBulkCrypto } from './crypto/bulk.js';
export {
  verifyPackage,
  verifyFolder,
  type VerifyOptions,
  type VerifyPackageResult,
  type VerifyFolderResult,
} from './package/verify.js';
export { inspect, type InspectResult } from './package/inspect.js';
export { readHead, readRange, journalPath, type PackageHead, type RangeOptions } from './package/head.js';
export { rewrap, recoverRewrap, type RewrapOptions, type RewrapResult } from './package/rewrap.js';
export { reseal, type ResealOptions } from './package/reseal.js';
export type { Progress } from './package/common.js';
export {
  parseHeader,
  encodeHeader,
  encodeHeaderMacInput,
  type Header,
  type Stanza,
  type FileEntry,
  type ParsedHeader,
} from './format/header.js';
export { LIMITS, DEFAULT_CHUNK_SIZE, MIN_CHUNK_SIZE, MAX_CHUNK_SIZE, isValidChunkSize } from './format/limits.js';
export {
  computeLayout,
  segmentAt,
  segmentsOf,
  type PackageLayout,
  type StreamLayout,
  type SegmentLayout,
} from './format/layout.js';
export {
  releaseContextBytes,
  releaseContextFields,
  type Recipient,
  type Identity,
  type ReleaseContext,
  type WrappedKey,
} from './providers/types.js';
export { LocalKey, loadLocalKey } from './providers/local.js';
export {
  AwsKmsRecipient,
  AwsKmsIdentity,
  AWS_KMS,
  awsKmsStatus,
  type AwsKmsOptions,
  type KmsClient,
} from './providers/awskms.js';
export { AwsKmsSigner } from './providers/awskms-signer.js';
export {
  grantTargets,
  listKeyGrants,
  revokeStanzaGrant,
  KMS_GRANT_OPERATIONS,
  type KmsGrantOperation,
  type StanzaGrantTarget,
} from './providers/awskms-grant.js';
export {
  grantPackage,
  importCloudTrail,
  type GrantOptions,
  type LoggedGrant,
  type CloudTrailImport,
} from './package/kmsgrant.js';
export { parseCloudTrail, cloudTrailRequest, type KmsDecryptRecord } from './log/cloudtrail.js';
export { Pkcs11Signer } from './providers/pkcs11-signer.js';
export {
  signerFromSpec,
  parseSignerSpec,
  type SignerSpec,
  type SignerSettings,
  type SignerUse,
} from './providers/signers.js';
export {
  Pkcs11Recipient,
  Pkcs11Identity,
  PKCS11,
  parsePkcs11Id,
  listTokens,
  type Pkcs11Options,
} from './providers/pkcs11.js';
export {
  registerProvider,
  listProviders,
  recipientFrom,
  identitiesFrom,
  type Provider,
  type ProviderSettings,
  type ProviderStatus,
} from './providers/registry.js';
export {
  X25519Recipient,
  X25519Identity,
  parseX25519Recipient,
  formatX25519Recipient,
  loadX25519Identity,
  newX25519Key,
} from './providers/x25519.js';
export {
  initKeystore,
  loadPublisherKey,
  loadLocalKek,
  loadX25519Secret,
  newX25519KeyFile,
  newPublisherKey,
  publisherFromSigner,
  readPublisherPublicKey,
  trustedPublishers,
  newLogKey,
  loadLogSigner,
  logSignerFromVerifierKey,
  readLogVerifier,
  defaultLogOrigin,
  noPassphrase,
  KEYSTORE_FILES,
  loadFingerprintKey,
  fingerprintKeyId,
  type Publisher,
  type PassphraseSource,
  type InitResult,
} from './keystore/keystore.js';
export { writeKeyFile } from './keystore/keyfile.js';
export { readSecretFile, fsReason } from './keystore/secretfile.js';
export { loadReleaseIdentity } from './keystore/keystore.js';
export {
  computeRootDigest,
  signModel,
  verifyModelSignature,
  type ManifestEntry,
  type ModelSigner,
} from './provenance/oms.js';
export { localSigner, ecdsaRawToDer, type Signer, type LocalSigner, type SignerAlgorithm } from './crypto/signer.js';
export { writeFileAtomic, findStalePartials, removeStalePartials, type StalePartial } from './io/atomic.js';
export { TransparencyLog, receiptFor, type LogReceipt, type TransparencyLogOptions } from './log/log.js';
export { FileStore } from './log/filestore.js';
export { PgStore, type PgStoreOptions } from './log/pgstore.js';
export { RemoteLog } from './log/remote.js';
export {
  openLogStore,
  openLogSource,
  logSpecKind,
  isPostgresUrl,
  type LogSource,
  type LogSpecKind,
} from './log/open.js';
export { Pseudonymizer, loadPseudonymizer, createPseudonymKey } from './log/pseudonym.js';
export { MAX_ENTRY_BYTES, type LogStore, type AppendResult } from './log/store.js';
export { auditLog, type AuditReport, type AuditProblem } from './log/audit.js';
export { InferenceLedger, type InferenceCalls, type InferenceProblem } from './log/inference-audit.js';
export { NoteSigner, parseVerifierKey, signNote, openNote, type NoteVerifier } from './log/note.js';
export {
  formatCheckpoint,
  parseCheckpoint,
  openCheckpoint,
  originOfPrefix,
  formatProof,
  parseProof,
  verifyProof,
  type Checkpoint,
  type TlogProof,
} from './log/checkpoint.js';
export { leafHash, verifyInclusion, verifyConsistency, EMPTY_ROOT } from './log/merkle.js';
export {
  canonicalJson,
  encodeEvent,
  decodeEvent,
  exportEvents,
  storeEvents,
  type LogEvent,
  type ExportEvent,
  type SealedPackage,
  type ReleaseEvent,
  type DenialsEvent,
  type ScreeningOverrideEvent,
  type KmsGrantEvent,
  type PublisherEvent,
  type InferAdmitEvent,
  type InferSettleEvent,
} from './log/events.js';
export {
  PolicyEngine,
  initPolicyDir,
  POLICY_FILES,
  type License,
  type PolicyDecision,
  type ReleaseQuestion,
  type InferQuestion,
  type ClassificationAnswer,
  type ObservedSource,
  type ScreeningAnswer,
  type RecipientAttributes,
} from './policy/engine.js';
export { PolicyWatcher } from './policy/watcher.js';
export { addLicense, listLicenses, revokeLicense } from './policy/licenses.js';
export { ReleaseService, DENIALS, type ReleaseServiceOptions, type ServiceReply } from './server/service.js';
export {
  startServer,
  MAX_BODY_BYTES,
  type RunningServer,
  type ServeOptions,
  type ExchangeRecord,
} from './server/http.js';
export { FailureLimiter, DEFAULT_RATE_LIMITS, type RateLimits } from './server/ratelimit.js';
export { openReleaseService, dataPaths, type ReleaseServiceSetup } from './server/setup.js';
export {
  AddressRanges,
  canonicalAddress,
  clientAddress,
  defaultCountryDatabase,
  DEFAULT_GEO_MAX_AGE_DAYS,
  GeoLocator,
  SourceLocator,
  type ClientAddress,
  type ForwardedHeader,
  type GeoDatabaseInfo,
} from './compliance/geo/index.js';
export {
  RecipientRegistry,
  loadOrCreateCa,
  CA_FILES,
  recipientNationalities,
  type RecipientRecord,
  type CertificateAuthority,
  type ScreeningOverride,
} from './server/recipients.js';
export {
  openPartyScreening,
  screenRegistration,
  type OverrideLog,
  type RegistrationOverride,
  type RegistrationScreeningOptions,
} from './server/registration.js';
export { screenedParty } from './server/screening.js';
export {
  ReleaseRecipient,
  ReleaseIdentity,
  parseReleaseRecipient,
  serviceInfo,
  logExports,
  requireLicense,
} from './providers/release.js';
export {
  LICENSE_FAILURES,
  licenseFailures,
  type LicenseCheck,
  type LicenseCheckAnswer,
  type LicenseCheckFailure,
  type LicenseFailure,
} from './release/license-check.js';
export {
  requestId,
  requestBytes,
  signRequest,
  verifyRequest,
  type ReleaseRequest,
  type SignedRequest,
} from './release/request.js';
export type { ReleaseAnswer, ServiceInfo } from './release/response.js';
export {
  embedFingerprint,
  MAX_RELATIVE_RMS,
  METADATA_TAG,
  type EmbedOptions,
  type EmbedResult,
  type FingerprintKey,
  type TensorReport,
} from './fingerprint/embed.js';
export {
  rootDigestOf as checkpointRootDigest,
  traceLeak,
  gatherEvidence,
  scoreRecipients,
  judge,
  DEFAULT_EPSILON,
  DEFAULT_TRACES,
  type TraceOptions,
  type TraceReport,
  type TraceEvidence,
  type Accusation,
} from './fingerprint/trace.js';
export { readRegistry, DEFAULT_REGISTRY, type FingerprintRecord, type SignedRecord } from './fingerprint/registry.js';
export { DEFAULT_PARAMS, threshold as accusationThreshold, type CodeParams } from './fingerprint/params.js';
export {
  readCheckpoint,
  type Checkpoint as WeightCheckpoint,
  type WeightFile,
  type WeightTensor,
} from './fingerprint/model.js';
export { decodeFloats, encodeFloats, isFloatDtype, type FloatDtype } from './formats/floats.js';
export {
  readSafetensorsHeader,
  parseSafetensorsHeader,
  encodeSafetensorsHeader,
  type SafetensorsHeader,
  type TensorInfo,
} from './formats/safetensors.js';
export {
  readGgufHeader,
  parseGgufHeader,
  encodeGgufHeader,
  writeGguf,
  dequantizeQ8_0,
  GGML_TYPE,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './formats/gguf.js';
export { dequantizeBlocks, canDequantize, DEQUANTIZABLE } from './formats/quants.js';
export {
  queryEvents,
  findByRequestId,
  eventMatcher,
  copyEvents,
  EVENT_DECISIONS,
  EVENT_TYPES,
  SCREENING_DECISIONS,
  oneOf,
  type EventFilter,
  type EventQueryResult,
  type IndexedEvent,
  type MarkedCopy,
} from './log/query.js';
export {
  openExportLog,
  isServiceLog,
  type ExportLog,
  type ExportLogOptions,
  type LoggedExport,
} from './package/exportlog.js';
export { leakDigest, traceEvent } from './package/trace-record.js';
export { openToStream, releaseReceiptPath, writeReleaseReceipt, type StreamOpenResult } from './package/deliver.js';
export { findPackages, rewrapAll, recoverAll, type RewrapAllOptions } from './package/batch.js';
export {
  ActiveLists,
  ListScreening,
  importLists,
  readListFiles,
  readActive,
  listsStatus,
  migrateDeniedParties,
  newlyFlagged,
  detectFormat,
  LIST_FORMATS,
  LIST_LIMITS,
  DEFAULT_MAX_AGE_DAYS,
  DENIED_PARTIES_SOURCE,
  type ActiveListsOptions,
  type ActiveState,
  type ImportOptions,
  type ImportResult,
  type ListFormat,
  type ListInForce,
  type SourceStatus,
  type NewlyFlagged,
} from './compliance/lists/index.js';
export {
  classify,
  classifyPath,
  configMismatchOf,
  decimalInteger,
  renderDatasheet,
  writeDatasheet,
  type Classification,
  type ClassifyOptions,
  type PackageDigests,
} from './compliance/classify/index.js';
export type {
  ClassificationRecord,
  Determination,
  ModelFacts,
  Regime,
  TrainingCompute,
} from './format/classification.js';
export type {
  ListEntity,
  ScreeningQuery,
  ScreeningResult,
  ScreeningMatch,
  ScreeningType,
  ScreenedParty,
  RecipientScreening,
} from './compliance/types.js';
export {
  determine,
  licenseRequiredFor,
  loadRulePackFile,
  shippedRulePacks,
  statusAt,
  summarizeRulePack,
  type CountryGroups,
  type DetermineOptions,
  type RulePack,
  type RulePackSummary,
} from './compliance/rules/index.js';
// Classification bound into packages (issue 20): the record, the classifier, reading it back.
export type { ClassificationSummary } from './format/classification-json.js';
export { readClassification } from './package/inspect.js';
export { classificationDigest, classificationSummary } from './package/classification.js';
// The auditor's side (issue 21): records, evidence packs, the report.
export type { EvidenceRecords, PolicySetRecord, RecipientEvidence, SnapshotRecord } from './compliance/records.js';
export {
  exportEvidence,
  verifyEvidence,
  EVIDENCE_VERSION,
  type EvidenceGap,
  type EvidenceSelection,
  type EvidenceSummary,
  type EvidenceVerification,
  type ExportEvidenceOptions,
} from './console/evidence/index.js';
export { buildReport, renderReportHtml, type ReportData, type ReportInput } from './console/report/index.js';
export type { TraceEvent } from './log/events.js';
export { openDataRecords } from './server/records.js';
export { remoteRecords } from './console/records-client.js';
// An auditor rehashes an archived policy set; `serve --retain` and POST /v1/records (docs/SERVER.md, docs/API.md).
export { policySetHash, type PolicyFileTexts } from './policy/engine.js';
export { parseRetention, type MissingRecord, type RetentionStatus } from './server/retention.js';
export { MAX_RECORDS_PER_QUERY, type RecordsAnswer, type RecordsQuery } from './release/records.js';
// Registries (issue 22).
export {
  ociPackageInfo,
  pushPackage,
  pullPackage,
  parseReference,
  type OciOptions,
  type RegistryPackageInfo,
  type PushOptions,
  type PushResult,
  type PullOptions,
  type PullResult,
} from './registry/oci/index.js';
// ocicrypt layer keys released by the release service (`modelseal keyprovider`, docs/REGISTRY.md).
export {
  answerKeyProvider,
  parseKeyProviderRequest,
  parseLayerKeyParams,
  parseLayerAnnotation,
  LAYER_ANNOTATION_TYPE,
  MAX_REQUEST_BYTES,
  type KeyProviderOptions,
  type KeyProviderRequest,
  type LayerAnnotation,
} from './registry/keyprovider/index.js';
export {
  registerInMlflow,
  exportLogIndexes,
  mlflowAuthorization,
  DEFAULT_MLFLOW_ALIAS,
  MLFLOW_TAGS,
  type MlflowRegisterOptions,
  type MlflowRegistration,
} from './registry/mlflow/index.js';
export { exportForHuggingFace, HF_TAGS, type HfExportOptions, type HfExportResult } from './registry/hf/index.js';
export { sealedPackageFacts, type SealedPackageFacts } from './registry/package-facts.js';
// The inference gateway's API keys (docs/GATE.md, "Identity").
export {
  ApiKeyStore,
  API_KEY_PREFIX,
  apiKeyHash,
  apiKeyId,
  keyCoversModel,
  parseKeyExpiry,
  type ApiKeyOptions,
  type ApiKeyCheck,
  type ApiKeyRefusal,
} from './gate/keys.js';
export type { ApiKeyRecord, ApiKeys } from './gate/types.js';
// The gateway's metering and quotas (docs/GATE.md, "Quotas and metering").
export {
  tokensFromUsage,
  estimateTextTokens,
  estimatePromptTokens,
  maxCompletionTokens,
  inferenceFlops,
  meteredAmount,
  reservationFor,
  CHAT_MESSAGE_TOKENS,
  CHAT_REPLY_TOKENS,
  type InferEndpoint,
  type TokenCount,
} from './gate/meter.js';
export {
  QuotaFile,
  quotaFilePath,
  parseQuotaFile,
  loadQuotaFile,
  NO_QUOTAS,
  DEFAULT_MAX_TOKENS,
  type QuotaConfig,
  type QuotaSource,
} from './gate/quotas.js';
export { MemoryQuotaStore } from './gate/quota-memory.js';
export type { QuotaAmount, QuotaLimits, QuotaReservation, QuotaStore, QuotaSubject } from './gate/types.js';
// Capability tiers of served models (docs/GATE.md, "Tiers").
export {
  capabilityTier,
  tierInputOf,
  tierOfClassification,
  CAPABILITY_TIERS,
  GENERAL_TIER_PARAMETERS,
  type CapabilityTier,
  type TierInput,
} from './gate/tiers.js';
export { PgQuotaStore } from './gate/quota-pg.js';
// The gate's extraction monitor: prompt features for the admit entry, per-caller risk (docs/GATE.md).
export {
  promptFeatures,
  promptText,
  createExtractionMonitor,
  MONITOR_DEFAULTS,
  applicationRanges,
  SIGNAL_WEIGHTS,
  shapiroWilk,
  reviewGate,
  type CallerReview,
  type GateReview,
  type GateReviewOptions,
  type ExtractionMonitorDetail,
  type MonitorOptions,
  type TemplateCount,
  type ShapiroWilk,
} from './gate/monitor/index.js';
export type { ExtractionMonitor, RiskAssessment, RiskSignal } from './gate/types.js';
// The inference gateway (docs/GATE.md): `modelseal gate` over an opened release service.
export { openGate, type GateSetup, type GateSetupOptions } from './gate/open.js';
export { Gateway, type GatewayOptions } from './gate/gateway.js';
export { servedModel, type ServedModel } from './gate/model.js';
export { DEFAULT_UPSTREAM_TIMEOUTS, type UpstreamTimeouts } from './gate/upstream.js';
