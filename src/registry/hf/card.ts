/**
 * The model card (README.md) of a Hugging Face export: YAML front matter in the Hub's conventions
 * (license, tags, base_model, the gating fields) and text telling a recipient how to get a license
 * and open the package. Pure: the facts in, the text out. docs/REGISTRY.md, "Hugging Face".
 */
import type { SealedPackageFacts } from '../package-facts.js';

/** The tags every export carries (the Hub lists and filters by them). */
export const HF_TAGS = ['modelseal', 'encrypted', 'export-controlled'] as const;

/** What a model card is made from. */
export interface ModelCardInput {
  facts: SealedPackageFacts;
  /** The package's file name in the folder. */
  packageFile: string;
  /** Whether the folder holds model.sig. */
  signature: boolean;
  /** A Hub license id (lowercase SPDX-like, e.g. apache-2.0) or any other license name. */
  license?: string;
  /** The Hub id of the model these weights derive from, e.g. meta-llama/Llama-3.1-8B. */
  baseModel?: string;
  /** The release service URL (default: the package's own). */
  releaseUrl?: string | null;
}

/** Text as Markdown shows it literally (a model is named after its folder, which may hold any character). */
const md = (s: string) => s.replace(/[\\`*_[\]<>|~]/g, (c) => `\\${c}`);

/** A file name as a POSIX shell word. */
const sh = (s: string) => (/^[A-Za-z0-9._/@%+=:,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** A YAML scalar: JSON's double-quoted string is valid YAML and needs no other escaping rules. */
const q = (s: string) => JSON.stringify(s);

/** The Hub's `license` field and, for any other license, the `license_name` it then asks for. */
function licenseLines(license: string | undefined): string[] {
  const id = license?.trim().toLowerCase();
  if (id && /^[a-z0-9][a-z0-9.+-]*$/.test(id) && id !== 'other') return [`license: ${q(id)}`];
  const name = (license?.trim() || 'modelseal release license')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  return [`license: "other"`, `license_name: ${q(name || 'modelseal-release-license')}`];
}

/** The front matter: the Hub's model-card metadata, with gated access asking what a license needs. */
function frontMatter(i: ModelCardInput): string[] {
  return [
    '---',
    ...licenseLines(i.license),
    'tags:',
    ...HF_TAGS.map((t) => `- ${q(t)}`),
    ...(i.baseModel ? [`base_model: ${q(i.baseModel)}`] : []),
    `extra_gated_prompt: ${q(
      'These weights are export-controlled and encrypted. Access to this repository gives you the sealed ' +
        'package only; the key is released to licensed recipients by the release service, which logs every ' +
        'release. Give the details a license needs.',
    )}`,
    'extra_gated_fields:',
    `  ${q('Organisation')}: "text"`,
    `  ${q('Country')}: "country"`,
    `  ${q('Nationalities of the people who will use the weights')}: "text"`,
    `  ${q('Intended use')}: "text"`,
    `  ${q('I will not export, re-export or transfer the weights except as my license allows')}: "checkbox"`,
    `extra_gated_button_content: ${q('Request access')}`,
    '---',
  ];
}

/** The classification as the card's table shows it. */
function classificationCell(f: SealedPackageFacts): string {
  return f.classified ? `\`${f.classification || 'none determined'}\`` : 'not classified';
}

/** The card: front matter, then what the package is and how to get a license and open it. */
export function renderModelCard(i: ModelCardInput): string {
  const f = i.facts;
  const url = i.releaseUrl === undefined ? f.releaseUrl : i.releaseUrl;
  const server = url ?? '<release service URL>';
  const recipients = f.recipients.map((r) => `\`${r.recipient}\` (${r.type}, license \`${r.license}\`)`).join(', ');
  const lines = [
    ...frontMatter(i),
    '',
    `# ${md(f.modelName)} (sealed with modelseal)`,
    '',
    `This repository holds ${md(i.packageFile)}, the weights of **${md(f.modelName)}** sealed with ` +
      'modelseal: encrypted, signed by the publisher, and released only to ' +
      'licensed recipients through a release service that logs every release in a transparency log.',
    '',
    '| | |',
    '|---|---|',
    `| package | ${md(i.packageFile)}, ${f.packageBytes} bytes, \`${f.packageDigest}\` |`,
    `| model root digest | \`${f.modelDigest}\` |`,
    `| export classification (US EAR) | ${classificationCell(f)} |`,
    `| publisher key | \`${f.publisher}\` |`,
    `| release service | ${url ? `<${url}>` : 'none: the package is not sealed for a release service'} |`,
    `| sealed for | ${recipients} |`,
    '',
    '## Getting a license',
    '',
    'Request access above. The publisher screens the request, registers you as a recipient of the release ' +
      'service (`modelseal recipient issue` or `recipient register --public-key`), issues a license naming ' +
      'this model and your destination (`modelseal license issue`), and seals a copy for you ' +
      '(`modelseal seal --to release:…#<you>`, or `modelseal rewrap --add`).',
    '',
    '## Opening the package',
    '',
    '```sh',
    `modelseal verify ${sh(i.packageFile)} --publisher publisher.pem   # the publisher's key, from the publisher`,
    `modelseal open ${sh(i.packageFile)} -o ./weights --server ${server} \\`,
    '  --identity <you>.identity --destination <ISO country code>',
    '```',
    '',
    'Opening asks the release service for the key; the service decides under your license, logs the release ' +
      'before the key leaves, and `open` checks every byte against the publisher signature and writes ' +
      '`model.sig` (OpenSSF Model Signing) beside the weights, with a receipt of the logged release.',
    '',
    i.signature
      ? "`model.sig` here is the publisher's OpenSSF Model Signing signature of the plaintext weights: " +
        '`model_signing verify key ./weights --signature model.sig --public_key publisher.pem` checks an opened copy.'
      : '`model.sig` is sealed inside the package (it signs the plaintext weights) and is written by `modelseal open`.',
    '',
  ];
  return lines.join('\n');
}
