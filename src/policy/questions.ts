/**
 * The questions the policy answers (docs/POLICY.md): a key release and an inference call, with the
 * recipient, license, screening, observed source and classification they carry. Plain data; the
 * Cedar requests are built from them in requests.ts.
 */

export interface License {
  id: string;
  /** The registered recipient the license is granted to. */
  holder: string;
  /** Model root digests ("sha256:…") it covers; "model:<name>": a model a gateway serves without its package. */
  artifacts: string[];
  /** Destination countries (ISO 3166 alpha-2). */
  destinations: string[];
  notBefore: string;
  notAfter: string;
  maxReleases: number;
  /** The recipient nationalities it covers (deemed exports); absent: any that is not embargoed. */
  nationalities?: string[];
  /** The capability tiers of the models its holder may call through the gateway (docs/GATE.md); absent: every tier. */
  tiers?: string[];
  /**
   * The export authorization the license rests on: a BIS license number ("BIS license D123456") or a
   * license exception ("AIA"). Absent: none, and a release that needs a license is denied (license-required).
   */
  authorization?: string;
}

export interface RecipientAttributes {
  name: string;
  org: string;
  country: string;
  /** The first of `nationalities` ("" when none): the attribute custom policies of earlier versions use. */
  nationality: string;
  /** Nationalities and citizenships, ISO 3166 alpha-2. */
  nationalities: string[];
}

/** The recipient's screening against the lists active at the request (src/compliance, docs/POLICY.md). */
export interface ScreeningAnswer {
  decision: 'clear' | 'review' | 'hit';
  /** The snapshots screened, "<source>@sha256:<hex>". */
  lists: string[];
  /** The sources past their maximum age. */
  stale: string[];
  /** An override recorded at registration covers every listed party the recipient matches now. */
  overridden?: boolean;
}

export interface ReleaseQuestion {
  recipient: RecipientAttributes;
  /** The package's model root digest (of the fingerprinted copy, when it is one). */
  artifact: string;
  /** The original model the copy was marked from, as its release stanza names it; default `artifact`. */
  model?: string;
  license: License;
  /** Releases already made (or reserved) under the license. */
  used: number;
  destination: string;
  time: Date;
  package: string;
  /** Default: clear, against no lists (a service without screening lists). */
  screening?: ScreeningAnswer;
  /** Where the request came from (src/compliance/geo); unknown when absent. */
  observed?: ObservedSource;
  /** What the package is under export rules, as its release stanza binds it; absent: unclassified. */
  classification?: ClassificationAnswer;
}

/**
 * An inference call through the gateway (Cedar action `Infer`, docs/GATE.md "Decisions"): the caller,
 * the served model, the license it runs under, and what the gateway knows of the call.
 */
export interface InferQuestion {
  recipient: RecipientAttributes;
  /** The served model: its root digest (or "model:<name>" without a package), name, tier and exact parameter count. */
  model: { digest: string; name: string; tier: string; parameters: bigint };
  /** The license in force that covers the caller and the model; null when none does. */
  license: License | null;
  /** The destination the caller declared, else the recipient's country. */
  destination: string;
  time: Date;
  /** "chat.completions", "completions" or "embeddings". */
  endpoint: string;
  /** The application the caller declared, "" when none. */
  application: string;
  screening?: ScreeningAnswer;
  observed?: ObservedSource;
  classification?: ClassificationAnswer;
  /** The caller's use of its tightest quota, per mille, before this call. */
  quotaUsed: number;
  /** The caller's extraction-risk score, per mille. */
  risk: number;
  /** The served package's digest (the release context's `package`); default `model.digest`. */
  package?: string;
}

/** The package's classification and what it means for this request (computed by the service, src/compliance/rules). */
export interface ClassificationAnswer {
  /** The US-EAR classification ("4E091", "not-listed", …), "" when none. */
  usEar: string;
  /** The rule packs the classification was made under, "<id>@<date>". */
  rulePacks: string[];
  /** A license is required for the declared destination. */
  licenseRequired: boolean;
  /** A license is required for the observed country (false when it is unknown). */
  licenseRequiredObserved: boolean;
}

/** What the service observed of a request's source: country ("" unknown), network kind, database digest and age. */
export interface ObservedSource {
  country: string;
  network: string;
  database: string;
  ageDays: number;
  stale: boolean;
}
