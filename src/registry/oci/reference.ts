/**
 * OCI references as modelseal spells them: `oci://host[:port]/repo[:tag][@sha256:<hex>]`
 * (the distribution spec's name and tag grammars; docs/REGISTRY.md).
 */
import { ModelsealError } from '../../errors.js';

/** A parsed registry reference. */
export interface OciReference {
  /** "host" or "host:port", as the URL and the Docker config name it. */
  registry: string;
  /** The repository name ("team/llama"). */
  repository: string;
  /** The tag, or null when none was given. */
  tag: string | null;
  /** "sha256:<hex>", or null when none was given. */
  digest: string | null;
}

// distribution spec: <name> path components, <tag> grammar; digests: sha256 only (what we write and verify).
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;

/** Parses `oci://host[:port]/repo[:tag][@sha256:…]`; throws INVALID_ARGUMENT naming what is wrong. */
export function parseReference(ref: string): OciReference {
  const bad = (why: string) =>
    new ModelsealError(
      'INVALID_ARGUMENT',
      `${ref}: ${why}; expected oci://<registry>/<repository>[:<tag>][@sha256:<hex>], ` +
        'e.g. oci://registry.example/models/llama:v1',
    );
  if (!ref.startsWith('oci://')) throw bad('not an oci:// reference');
  let rest = ref.slice('oci://'.length);
  let digest: string | null = null;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(`the digest ${digest} is not sha256:<64 lowercase hex digits>`);
  }
  const slash = rest.indexOf('/');
  if (slash <= 0) throw bad('no repository');
  const registry = rest.slice(0, slash);
  if (!HOST.test(registry)) throw bad(`the registry ${registry} is not a host[:port]`);
  let repository = rest.slice(slash + 1);
  let tag: string | null = null;
  const colon = repository.lastIndexOf(':');
  if (colon >= 0) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!TAG.test(tag)) throw bad(`the tag ${tag} is not a valid tag`);
  }
  if (!NAME.test(repository) || repository.length > 255) throw bad(`the repository ${repository} is not a valid name`);
  return { registry, repository, tag, digest };
}

/** The reference as text: `oci://registry/repo[:tag][@digest]`. */
export function formatReference(r: OciReference): string {
  return `oci://${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}

/** Whether a registry host names this machine (plain HTTP is allowed there without asking). */
export function isLoopback(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(?:\.[0-9]{1,3}){3}$/.test(host);
}
