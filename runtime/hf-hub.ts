// Models by HuggingFace Hub id (`bert-base-uncased`, `google/bert_uncased_L-2_H-128_A-2`):
// found in the local HuggingFace cache, laid out as huggingface_hub writes it
// (so that what Python downloaded is reused, and the reverse), or downloaded
// from the Hub into that same cache.
//
//   $HF_HUB_CACHE (else $HF_HOME/hub, else ~/.cache/huggingface/hub)
//     models--ORG--NAME/
//       refs/main                     the commit `main` points at
//       blobs/ETAG                    each file's bytes, named by its hash
//       snapshots/COMMIT/FILE         a symlink to ../../blobs/ETAG
//       .no_exist/COMMIT/FILE         an empty file: FILE is not in the repo
//
// A download asks the Hub's resolve URL for the file's commit, hash and
// size (HEAD, `X-Repo-Commit`, `X-Linked-Etag` or `ETag`), follows its
// redirect to the storage that serves the bytes, streams them into
// blobs/ETAG.incomplete (resumed where an earlier attempt stopped, with a
// Range request), checks them against the hash (SHA-256 for large files,
// git's blob SHA-1 for small ones) and only then renames the blob into
// place and links it from the snapshot.

import { createHash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, fstatSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { InputError, RunFailure } from './errors.js';

/** A Hub repository id: a name, or an owner and a name; letters, digits, '-', '_' and '.'. */
const REPO_ID = /^(?:[A-Za-z0-9][A-Za-z0-9_.-]{0,95}\/)?[A-Za-z0-9][A-Za-z0-9_.-]{0,95}$/;

/** Whether `text` can name a Hub model (and names no file here: callers look for a path first). */
export function isHubId(text: string): boolean {
  return REPO_ID.test(text) && !text.includes('..') && !/\.(ya?ml|tcc|json|txt|safetensors)$/i.test(text);
}

export interface HubOptions {
  /** The cache directory (default: huggingface_hub's, from the environment). */
  readonly cacheDir?: string;
  /** The Hub's address (default $HF_ENDPOINT, else https://huggingface.co). */
  readonly endpoint?: string;
  /** Never reach the Hub (default: $HF_HUB_OFFLINE). */
  readonly offline?: boolean;
  /** A token for gated or private repositories (default $HF_TOKEN). */
  readonly token?: string;
  readonly revision?: string;
  /** Told as a file's bytes arrive. */
  readonly onProgress?: (file: string, done: number, total: number) => void;
  /** Told when a download starts or resumes. */
  readonly onStart?: (file: string, from: number, total: number) => void;
}

/** huggingface_hub's cache directory: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
export function hubCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env['HF_HUB_CACHE']) return env['HF_HUB_CACHE'];
  const home = env['HF_HOME'] ?? join(env['XDG_CACHE_HOME'] ?? join(os.homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

const repoFolder = (id: string) => `models--${id.replace('/', '--')}`;
const COMMIT = /^[0-9a-f]{40}$/;

/** The files of a model: its config and weights, and what its tokenizer needs. */
export const MODEL_FILES = {
  required: ['config.json'],
  // sentence-transformers' modules, pooling and length, where the model is one (tcc embed).
  optional: ['model.safetensors', 'vocab.txt', 'tokenizer_config.json', 'tokenizer.json', 'special_tokens_map.json', 'modules.json', 'sentence_bert_config.json', '1_Pooling/config.json'],
} as const;

interface Cached {
  readonly commit: string;
  readonly dir: string;
}

/** The snapshot the cache holds for `revision`, if its refs name one. */
function cachedSnapshot(repo: string, revision: string): Cached | undefined {
  const commit = COMMIT.test(revision) ? revision : readRef(join(repo, 'refs', revision));
  if (!commit) return undefined;
  return { commit, dir: join(repo, 'snapshots', commit) };
}

function readRef(path: string): string | undefined {
  try {
    const commit = readFileSync(path, 'utf8').trim();
    return COMMIT.test(commit) ? commit : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the cache has `file` of the snapshot (a link to its blob), knows it is absent, or neither. */
function cachedFile(repo: string, snapshot: Cached, file: string): 'present' | 'absent' | 'unknown' {
  if (existsSync(join(snapshot.dir, file))) return 'present';
  if (existsSync(join(repo, '.no_exist', snapshot.commit, file))) return 'absent';
  return 'unknown';
}

interface Metadata {
  readonly commit: string;
  readonly etag: string;
  readonly size: number;
  /** Where the bytes are (the Hub's redirect to its storage, or the resolve URL itself). */
  readonly url: string;
}

/** What an HTTP failure means to a user, in one line. */
function httpProblem(id: string, file: string, status: number, code: string | null): string {
  if (status === 401 || status === 403) return `${id} needs a HuggingFace token (set HF_TOKEN): it is gated or private`;
  if (status === 404 && code === 'RepoNotFound') return `there is no model '${id}' on the HuggingFace Hub`;
  return `the HuggingFace Hub answered ${status} for ${id}/${file}`;
}

const unquote = (etag: string) => etag.replace(/^W\//, '').replace(/^"|"$/g, '');

/** A blob's name: a hash of hex digits in practice; anything else that could leave blobs/ (a '/', '..') is refused. */
const ETAG = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * The Hub's answer, checked before its values name files in the cache: the
 * commit (a snapshot directory) 40 hex digits, the hash (a blob's name) a
 * plain name, the size a byte count.
 */
function checkedMetadata(id: string, file: string, commit: string | null, etag: string | null, size: number, url: string): Metadata {
  const hash = etag === null ? '' : unquote(etag);
  if (!commit || !COMMIT.test(commit) || !ETAG.test(hash) || !Number.isSafeInteger(size) || size < 0) {
    throw new RunFailure(`the HuggingFace Hub's answer for ${id}/${file} lacks its commit, hash or size`);
  }
  return { commit, etag: hash, size, url };
}

/** HEAD of the resolve URL: the file's commit, hash, size and where its bytes are; undefined when the repo has no such file. */
async function metadata(endpoint: string, id: string, revision: string, file: string, headers: Record<string, string>): Promise<Metadata | undefined> {
  let url = `${endpoint}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;
  for (let hops = 0; hops < 5; hops++) {
    const response = await fetch(url, { method: 'HEAD', redirect: 'manual', headers });
    const code = response.headers.get('x-error-code');
    if (response.status === 404 && code !== 'RepoNotFound') return undefined;
    const location = response.headers.get('location');
    const commit = response.headers.get('x-repo-commit');
    const etag = response.headers.get('x-linked-etag') ?? response.headers.get('etag');
    const length = response.headers.get('x-linked-size') ?? response.headers.get('content-length');
    const size = length === null ? NaN : Number(length);
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, url).toString();
      // A relative redirect (a renamed repo) is the Hub's own: asked again. An absolute one is its storage.
      if (!commit || !etag) {
        url = next;
        continue;
      }
      return checkedMetadata(id, file, commit, etag, size, next);
    }
    if (!response.ok) throw new RunFailure(httpProblem(id, file, response.status, code));
    return checkedMetadata(id, file, commit, etag, size, url);
  }
  throw new RunFailure(`the HuggingFace Hub redirected ${id}/${file} too many times`);
}

/** The hash a blob must have: SHA-256 for a large (LFS) file's 64 hex digits, git's blob SHA-1 for a small file's 40. */
async function blobHash(path: string, etag: string): Promise<string | undefined> {
  const size = statSync(path).size;
  const hash = etag.length === 64 ? createHash('sha256') : etag.length === 40 ? createHash('sha1').update(`blob ${size}\0`) : undefined;
  if (!hash) return undefined;
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Downloads the bytes at `meta.url` into `blob`, resuming a partial `.incomplete` file. */
async function downloadBlob(file: string, meta: Metadata, blob: string, options: HubOptions, headers: Record<string, string>): Promise<void> {
  const partial = `${blob}.incomplete`;
  mkdirSync(dirname(blob), { recursive: true });
  const fd = openSync(partial, 'a');
  try {
    let from = fstatSync(fd).size;
    if (from > meta.size) throw new RunFailure(`${partial} is longer than the file it downloads: remove it`);
    options.onStart?.(file, from, meta.size);
    if (from < meta.size) {
      const storage = new URL(meta.url).origin !== new URL(options.endpoint ?? endpointOf()).origin;
      const response = await fetch(meta.url, { headers: { ...(storage ? {} : headers), ...(from ? { range: `bytes=${from}-` } : {}) } });
      if (!response.ok || !response.body) throw new RunFailure(`downloading ${file} failed: HTTP ${response.status}`);
      if (from && response.status !== 206) {
        // The server sends the whole file again: start over.
        closeSync(openSync(partial, 'w'));
        from = 0;
      }
      let done = from;
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        writeSync(fd, chunk, 0, chunk.length, done);
        done += chunk.length;
        options.onProgress?.(file, done, meta.size);
      }
      if (done !== meta.size) throw new RunFailure(`downloading ${file} stopped at ${done} of ${meta.size} bytes; run again to resume`);
    }
  } catch (e) {
    if (e instanceof RunFailure) throw e;
    throw new RunFailure(`downloading ${file} stopped (${(e as Error).message}); run again to resume`);
  } finally {
    closeSync(fd);
  }
  const got = await blobHash(partial, meta.etag);
  if (got !== undefined && got !== meta.etag) {
    rmSync(partial, { force: true });
    throw new RunFailure(`${file} as downloaded does not match the Hub's hash (${got.slice(0, 12)}… against ${meta.etag.slice(0, 12)}…); it was removed: run again`);
  }
  renameSync(partial, blob);
}

function link(target: string, path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path) || isLink(path)) rmSync(path, { force: true });
  symlinkSync(relative(dirname(path), target), path);
}

function writeEmpty(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  closeSync(openSync(path, 'w'));
}

function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function endpointOf(): string {
  return (process.env['HF_ENDPOINT'] ?? 'https://huggingface.co').replace(/\/+$/, '');
}

/**
 * A local directory holding `files` of the Hub model `id` (required ones
 * must exist in the repo; optional ones are there if the repo has them):
 * the cache's snapshot, completed from the Hub where it lacks a file and the
 * Hub can be reached.
 */
export async function hubModel(id: string, files: { readonly required: readonly string[]; readonly optional: readonly string[] } = MODEL_FILES, options: HubOptions = {}): Promise<string> {
  if (!isHubId(id)) throw new InputError(`'${id}' is not a HuggingFace model id`);
  const cache = options.cacheDir ?? hubCacheDir();
  const revision = options.revision ?? 'main';
  const repo = join(cache, repoFolder(id));
  const offline = options.offline ?? ['1', 'true', 'yes'].includes((process.env['HF_HUB_OFFLINE'] ?? '').toLowerCase());
  const wanted = [...files.required.map((f) => [f, true] as const), ...files.optional.map((f) => [f, false] as const)];
  const cached = cachedSnapshot(repo, revision);
  const missing = wanted.filter(([f]) => !cached || cachedFile(repo, cached, f) === 'unknown');
  if (cached && !missing.length) {
    const absent = files.required.find((f) => cachedFile(repo, cached, f) === 'absent');
    if (absent) throw new InputError(`the HuggingFace model ${id} has no ${absent}`);
    return cached.dir;
  }
  if (offline) {
    if (cached && !missing.some(([, required]) => required)) return cached.dir;
    throw new InputError(`${id} is not in the HuggingFace cache (${cache}) and HF_HUB_OFFLINE is set: download it where the Hub can be reached (huggingface-cli download ${id}), or point HF_HUB_CACHE at a cache that has it`);
  }
  const endpoint = (options.endpoint ?? endpointOf()).replace(/\/+$/, '');
  const token = options.token ?? process.env['HF_TOKEN'];
  const headers: Record<string, string> = { 'user-agent': 'tcc', ...(token ? { authorization: `Bearer ${token}` } : {}) };
  let commit: string | undefined;
  for (const [file, required] of missing) {
    let meta: Metadata | undefined;
    try {
      meta = await metadata(endpoint, id, revision, file, headers);
    } catch (e) {
      if (e instanceof RunFailure) throw e;
      // Unreachable: what the cache has is enough when it has every required file.
      if (cached && !missing.some(([, r]) => r)) return cached.dir;
      const reason = ((e as Error).cause as Error | undefined)?.message ?? (e as Error).message;
      throw new RunFailure(`${id} is not in the HuggingFace cache (${cache}) and the Hub (${endpoint}) cannot be reached (${reason}): download it where the Hub can be reached (huggingface-cli download ${id}), or point HF_HUB_CACHE at a cache that has it`);
    }
    const snapshotCommit = commit ?? meta?.commit ?? cached?.commit;
    if (!meta) {
      if (required) throw new InputError(`the HuggingFace model ${id} has no ${file}`);
      // Remembered as huggingface_hub does, so that the next run does not ask again.
      if (snapshotCommit) writeEmpty(join(repo, '.no_exist', snapshotCommit, file));
      continue;
    }
    commit = meta.commit;
    const blob = join(repo, 'blobs', meta.etag);
    if (!existsSync(blob)) await downloadBlob(file, meta, blob, { ...options, endpoint }, headers);
    link(blob, join(repo, 'snapshots', meta.commit, file));
  }
  if (commit && !COMMIT.test(revision)) {
    mkdirSync(join(repo, 'refs'), { recursive: true });
    const ref = join(repo, 'refs', revision);
    const fd = openSync(`${ref}.tmp-${process.pid}`, 'w');
    writeSync(fd, commit);
    closeSync(fd);
    renameSync(`${ref}.tmp-${process.pid}`, ref);
  }
  const final = cachedSnapshot(repo, revision);
  if (!final) throw new InputError(`the HuggingFace model ${id} has none of ${files.required.join(', ')}`);
  return final.dir;
}
