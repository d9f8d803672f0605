// A server on 127.0.0.1 laid out as the HuggingFace Hub's resolve URLs, for
// tests of downloads (these machines cannot reach the Hub):
//
//   HEAD/GET /ORG/NAME/resolve/REVISION/FILE
//     small files: 200 with ETag = git's blob SHA-1 and X-Repo-Commit;
//     large files (as LFS): 302 to /storage/SHA256 with X-Linked-Etag =
//     the SHA-256, X-Linked-Size and X-Repo-Commit
//     an unknown file: 404 with X-Error-Code EntryNotFound; an unknown repo:
//     404 with RepoNotFound
//   GET /storage/SHA256   the bytes, with Range requests answered 206
//
// `cutAfter` makes the next storage download stop after that many bytes (a
// dropped connection), `corrupt` serves wrong bytes; `requests` records what
// was asked.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface HubRepo {
  readonly commit: string;
  readonly files: Readonly<Record<string, Uint8Array>>;
}

export interface HubServer {
  readonly url: string;
  readonly requests: { method: string; path: string; range?: string }[];
  /** The next storage GET stops after this many bytes. */
  cutAfter?: number;
  /** Storage GETs serve these bytes instead of the file's. */
  corrupt?: boolean;
  close(): Promise<void>;
}

export const LARGE = 10 * 1024;

export const gitBlobSha1 = (bytes: Uint8Array) => createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
export const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export async function startHubServer(repos: Readonly<Record<string, HubRepo>>): Promise<HubServer> {
  const storage = new Map<string, Uint8Array>();
  for (const repo of Object.values(repos)) for (const bytes of Object.values(repo.files)) if (bytes.length >= LARGE) storage.set(sha256(bytes), bytes);
  const state: { requests: HubServer['requests']; cutAfter?: number; corrupt?: boolean } = { requests: [] };
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    state.requests.push({ method: req.method ?? '', path, ...(req.headers.range ? { range: req.headers.range } : {}) });
    const stored = /^\/storage\/([0-9a-f]{64})$/.exec(path);
    if (stored) {
      let bytes = storage.get(stored[1]!);
      if (!bytes) return void res.writeHead(404).end();
      if (state.corrupt) bytes = bytes.map((b) => b ^ 1);
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const from = m ? Number(m[1]) : 0;
      const body = bytes.subarray(from);
      res.writeHead(m ? 206 : 200, { 'content-length': String(body.length), ...(m ? { 'content-range': `bytes ${from}-${bytes.length - 1}/${bytes.length}` } : {}) });
      if (req.method === 'HEAD') return void res.end();
      const cut = state.cutAfter;
      if (cut !== undefined) {
        state.cutAfter = undefined;
        res.write(body.subarray(0, cut), () => res.destroy());
        return;
      }
      res.end(body);
      return;
    }
    const m = /^\/(.+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    const repo = m ? repos[m[1]!] : undefined;
    if (!m || !repo) return void res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end();
    const bytes = repo.files[m[3]!];
    if (!bytes) return void res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit }).end();
    if (bytes.length >= LARGE) {
      const hash = sha256(bytes);
      return void res.writeHead(302, { location: `/storage/${hash}`, 'x-repo-commit': repo.commit, 'x-linked-etag': `"${hash}"`, 'x-linked-size': String(bytes.length), etag: '"other"' }).end();
    }
    res.writeHead(200, { 'x-repo-commit': repo.commit, etag: `"${gitBlobSha1(bytes)}"`, 'content-length': String(bytes.length) });
    res.end(req.method === 'HEAD' ? undefined : bytes);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    get requests() {
      return state.requests;
    },
    set cutAfter(n: number | undefined) {
      state.cutAfter = n;
    },
    get cutAfter() {
      return state.cutAfter;
    },
    set corrupt(on: boolean | undefined) {
      state.corrupt = on;
    },
    get corrupt() {
      return state.corrupt;
    },
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
