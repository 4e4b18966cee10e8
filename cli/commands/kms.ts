/** `kms grant`: a KMS grant bound to one package's EncryptionContext, logged first (docs/PROVIDERS.md, "Grants"). */
import type { Command } from 'commander';
import { grantPackage, KMS_GRANT_OPERATIONS, ModelsealError, type KmsGrantOperation } from '../../src/index.js';
import { collect, emitJson, exportLog, publisherKey, say, SIGNER_OPTION, type GlobalOptions } from '../util.js';
import { LOG_KEY_HELP } from './audit.js';

interface GrantFlags {
  granteePrincipal: string;
  recipient?: string;
  operations: string[];
  log: string;
  logKey?: string;
  signingKey?: string;
  signer?: string;
}

/** --operations: comma-separated or repeated; Decrypt alone when not given. */
function operationsOf(values: readonly string[]): KmsGrantOperation[] {
  const ops = [...new Set(values.flatMap((v) => v.split(',')).map((v) => v.trim()))].filter(Boolean);
  const bad = ops.find((o) => !(KMS_GRANT_OPERATIONS as readonly string[]).includes(o));
  if (bad !== undefined)
    throw new ModelsealError(
      'INVALID_ARGUMENT',
      `--operations ${bad}: expected ${KMS_GRANT_OPERATIONS.join(' or ')} (a package's key needs Decrypt only)`,
    );
  return ops.length ? (ops as KmsGrantOperation[]) : ['Decrypt'];
}

async function grant(pkg: string, o: GrantFlags, g: GlobalOptions): Promise<void> {
  const operations = operationsOf(o.operations);
  const publisher = await publisherKey(g, o.signingKey, o.signer);
  const log = await exportLog(g, o.log, o.logKey);
  try {
    const grants = await grantPackage(pkg, {
      granteePrincipal: o.granteePrincipal,
      operations,
      log,
      publisher,
      ...(o.recipient !== undefined ? { recipient: o.recipient } : {}),
      ...(g.kmsEndpoint ? { endpoint: g.kmsEndpoint } : {}),
    });
    for (const { index, event: e } of grants)
      say(g, `granted ${e.grantee} ${e.operations.join(',')} on ${e.key} (grant ${e.grant}), logged as entry ${index}`);
    emitJson(g, 'kms grant', {
      log: log.origin,
      grants: grants.map(({ index, event: e }) => ({
        index,
        key: e.key,
        grantId: e.grant,
        name: e.name,
        grantee: e.grantee,
        operations: e.operations,
        recipient: e.recipient,
        license: e.license,
        encryptionContext: e.context,
      })),
    });
  } finally {
    await log.close();
  }
}

/** `kms grant`: a KMS grant bound to one package's EncryptionContext, recorded in the log. */
export function registerKms(program: Command): void {
  const kms = program.command('kms').description('AWS KMS keys that release packages outside the release service');
  kms
    .command('grant <package>')
    .description(
      "let a principal Decrypt a package's aws-kms stanza, and nothing else: a KMS grant constrained to exactly " +
        'its EncryptionContext (package, model, recipient, license, policy), recorded in the log first',
    )
    .requiredOption('--grantee-principal <arn>', 'the IAM principal (role or user ARN) the grant is for')
    .requiredOption('--log <dir|postgres-url|url>', 'the log that records the grant (as seal --log); no log, no grant')
    .option('--recipient <id>', 'only the stanza of this recipient (aws-kms:<key ARN>); default: every aws-kms stanza')
    .option('--operations <ops>', `grant operations, comma-separated: ${KMS_GRANT_OPERATIONS.join(', ')}`, collect, [])
    .option('--log-key <key|file>', LOG_KEY_HELP)
    .option('--signing-key <file>', "the publisher key that signs the event sent to a release service's log")
    .option(...SIGNER_OPTION)
    .action((pkg: string, o: GrantFlags, cmd: Command) => grant(pkg, o, cmd.optsWithGlobals<GlobalOptions>()));
}
