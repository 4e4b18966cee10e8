/**
 * The compact index the matcher screens against: interned tokens, every name as a run of token ids
 * in typed arrays, an inverted index from token to names, and per entity only what results and
 * qualifiers need. A million entities fit in well under a gigabyte (bench/README.md, "screening").
 */
import type { EntitySchema, ListEntity } from '../types.js';
import { normalizeName, TokenKind, tokenKind } from './normalize.js';

/** A uint32 array that doubles as it fills. */
export class GrowableU32 {
  data: Uint32Array = new Uint32Array(1024);
  length = 0;
  /** Appends one value. */
  push(v: number): void {
    if (this.length === this.data.length) {
      const next = new Uint32Array(this.data.length * 2);
      next.set(this.data);
      this.data = next;
    }
    this.data[this.length++] = v;
  }
  /** The filled part, trimmed to size. */
  trimmed(): Uint32Array {
    return this.data.slice(0, this.length);
  }
}

// Separators inside packed strings: control characters no list prints in a name, date or id.
const SEP = '\u0001';
const SEP2 = '\u0002';
const unpackable = (s: string) => s.replaceAll(SEP, ' ').replaceAll(SEP2, ' ');

/** The kinds of an entity's names, by their code in the index. */
export const NAME_KINDS = ['name', 'alias', 'weakAlias'] as const;
/** The schemata, by their code in the index. */
export const SCHEMAS: EntitySchema[] = ['Person', 'Company', 'Organization', 'LegalEntity', 'Vessel', 'Airplane'];

/** Weight factors of the token kinds that say little about who a party is. */
const KIND_FACTOR: Record<TokenKind, number> = {
  [TokenKind.Word]: 1,
  [TokenKind.Form]: 0.15,
  [TokenKind.Honorific]: 0.15,
  [TokenKind.Particle]: 0.3,
  [TokenKind.Number]: 1,
  [TokenKind.Initial]: 0.3,
};

/** One entity's qualifiers as the index keeps them. */
export interface EntityQualifiers {
  countries: string[];
  dob: string[];
  ids: string[];
}

/** The matcher's index: interned tokens, names as token-id runs, postings, weights and per-entity fields. */
export class NameStore {
  readonly vocab = new Map<string, number>();
  readonly tokenText: string[] = [];
  // Per name: its tokens are tokenIds[nameStart[n] .. nameStart[n+1]).
  private nameStartG = new GrowableU32();
  private tokenIdsG = new GrowableU32();
  private nameEntityG = new GrowableU32();
  private nameMetaG = new GrowableU32(); // bits 0-1 the name kind, bit 2 abjad

  // Per entity.
  readonly entityId: string[] = [];
  // Every name of an entity as listed, in one string (fewer objects than a string a name).
  private entityNames: string[] = [];
  private entityInfoG = new GrowableU32(); // bits 0-7 schema, 8-31 source index
  // Countries, dates and ids of an entity packed in one string; '' when it has none.
  private entityQualifiersPacked: string[] = [];
  readonly sources: string[] = [];
  /** How many names are written in an abjad (Arabic, Hebrew). */
  abjadNames = 0;
  // Filled by seal().
  nameStart: Uint32Array = new Uint32Array(0);
  tokenIds: Uint32Array = new Uint32Array(0);
  nameEntity: Uint32Array = new Uint32Array(0);
  nameMeta: Uint32Array = new Uint32Array(0);
  entityInfo: Uint32Array = new Uint32Array(0);
  postingStart: Uint32Array = new Uint32Array(0);
  postings: Uint32Array = new Uint32Array(0);
  weights = new Float32Array(0);

  /** Interns a token. */
  intern(token: string): number {
    let id = this.vocab.get(token);
    if (id === undefined) {
      id = this.tokenText.length;
      this.vocab.set(token, id);
      this.tokenText.push(token);
    }
    return id;
  }

  /** Adds one entity of a source, with all its names. */
  add(entity: ListEntity, source: number): void {
    const index = this.entityId.length;
    this.entityId.push(entity.id);
    this.entityInfoG.push(Math.max(0, SCHEMAS.indexOf(entity.schema)) | (source << 8));
    const q = entity.countries.length || entity.dob.length || entity.ids.length;
    const pack = (l: string[]) => l.map(unpackable).join(SEP);
    this.entityQualifiersPacked.push(q ? [entity.countries, entity.dob, entity.ids].map(pack).join(SEP2) : '');
    this.entityNames.push(pack([...entity.names, ...entity.aliases, ...entity.weakAliases]));
    const seen = new Set<string>();
    const lists = [entity.names, entity.aliases, entity.weakAliases];
    let ordinal = 0;
    for (let kind = 0; kind < lists.length; kind++)
      for (const name of lists[kind]!) {
        ordinal++;
        const norm = normalizeName(name, entity.schema === 'Person');
        const key = norm.tokens.join(' ');
        if (!key || seen.has(key)) continue;
        seen.add(key);
        this.nameStartG.push(this.tokenIdsG.length);
        for (const t of norm.tokens) this.tokenIdsG.push(this.intern(t));
        this.nameEntityG.push(index);
        this.nameMetaG.push(kind | (norm.abjad ? 4 : 0) | ((ordinal - 1) << 3));
        if (norm.abjad) this.abjadNames++;
      }
  }

  /** A name as listed. */
  nameText(name: number): string {
    return this.entityNames[this.nameEntity[name]!]!.split(SEP)[this.nameMeta[name]! >>> 3]!;
  }

  /** An entity's primary name. */
  entityName(entity: number): string {
    return this.entityNames[entity]!.split(SEP, 1)[0]!;
  }

  /** An entity's countries, dates and identifiers, or undefined when it has none. */
  entityQualifiers(entity: number): EntityQualifiers | undefined {
    const packed = this.entityQualifiersPacked[entity]!;
    if (!packed) return undefined;
    const [countries, dob, ids] = packed.split(SEP2).map((l) => (l ? l.split(SEP) : []));
    return { countries: countries!, dob: dob!, ids: ids! };
  }

  /** Ends loading: trims the arrays, builds the inverted index and the token weights. */
  seal(): void {
    this.nameStartG.push(this.tokenIdsG.length);
    this.nameStart = this.nameStartG.trimmed();
    this.tokenIds = this.tokenIdsG.trimmed();
    this.nameEntity = this.nameEntityG.trimmed();
    this.nameMeta = this.nameMetaG.trimmed();
    this.entityInfo = this.entityInfoG.trimmed();
    const nTokens = this.tokenText.length;
    const df = new Uint32Array(nTokens + 1);
    const names = this.nameCount;
    for (let n = 0; n < names; n++)
      for (let k = this.nameStart[n]!; k < this.nameStart[n + 1]!; k++) df[this.tokenIds[k]! + 1]!++;
    for (let t = 0; t < nTokens; t++) df[t + 1]! += df[t]!;
    this.postingStart = df;
    const fill = df.slice(0, nTokens);
    this.postings = new Uint32Array(df[nTokens]!);
    for (let n = 0; n < names; n++)
      for (let k = this.nameStart[n]!; k < this.nameStart[n + 1]!; k++) this.postings[fill[this.tokenIds[k]!]!++] = n;
    this.weights = new Float32Array(nTokens);
    for (let t = 0; t < nTokens; t++) this.weights[t] = this.weightFor(this.tokenText[t]!, this.df(t));
  }

  get nameCount(): number {
    return this.nameEntity.length;
  }

  /** How many names hold the token. */
  df(token: number): number {
    return this.postingStart[token + 1]! - this.postingStart[token]!;
  }

  /** A token's weight: rarer in the list weighs more (IDF), weak kinds weigh less. */
  weightFor(token: string, df: number): number {
    const idf = Math.log(1 + Math.max(this.nameCount, 1) / Math.max(df, 1));
    return idf * KIND_FACTOR[tokenKind(token)];
  }

  /** The weight of a query token, known to the list or not. */
  queryWeight(token: string): number {
    const id = this.vocab.get(token);
    return id === undefined ? this.weightFor(token, 1) : this.weights[id]!;
  }

  /** A name's token strings. */
  nameTokens(name: number): string[] {
    const out: string[] = [];
    for (let k = this.nameStart[name]!; k < this.nameStart[name + 1]!; k++)
      out.push(this.tokenText[this.tokenIds[k]!]!);
    return out;
  }

  /** A name's token weights. */
  nameWeights(name: number): number[] {
    const out: number[] = [];
    for (let k = this.nameStart[name]!; k < this.nameStart[name + 1]!; k++) out.push(this.weights[this.tokenIds[k]!]!);
    return out;
  }
}
