// Join URLs (spec/web.json): http(s)://host:port/join#job=J&rank=R&token=T. The token rides in
// the fragment, which browsers never send to a server: only the HMAC proof made from it travels.
import { OnetError } from '../errors.js';
import { WEB } from '../gen/web.js';

export interface JoinTarget {
  /** ws(s)://host:port/ws */
  wsUrl: string;
  job: string;
  rank: number;
  token: string;
}

export function joinUrl(base: string, job: string, rank: number, token: string): string {
  const p = new URLSearchParams({ job, rank: String(rank), token });
  return `${base}${WEB.joinPath}#${p}`;
}

export function parseJoinUrl(url: string): JoinTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new OnetError('EINVAL', `join(${JSON.stringify(url)}): not a URL; pass the join URL onet printed`);
  }
  const p = new URLSearchParams(u.hash.replace(/^#/, '') || u.search);
  const job = p.get('job') ?? '';
  const rank = Number(p.get('rank'));
  const token = p.get('token') ?? '';
  if (!job || !Number.isInteger(rank) || rank < 0 || !token || p.get('rank') === null)
    throw new OnetError(
      'EINVAL',
      `join URL ${u.origin}${u.pathname} lacks job, rank or token (#job=…&rank=…&token=…); ` +
        'copy the whole URL onet serve --web or onet run --web printed',
    );
  const proto = { 'http:': 'ws:', 'https:': 'wss:', 'ws:': 'ws:', 'wss:': 'wss:' }[u.protocol];
  if (!proto) throw new OnetError('EINVAL', `join URL has protocol ${u.protocol}; want http(s) or ws(s)`);
  return { wsUrl: `${proto}//${u.host}${WEB.path}`, job, rank, token };
}
