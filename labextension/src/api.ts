/**
 * REST client of `/hpo-widget/api/`: always `ServerConnection.makeRequest` with
 * `URLExt.join(settings.baseUrl, ...)`, so the extension works under a JupyterHub base URL.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

export const API_PREFIX = 'hpo-widget/api';

export interface IAnswer<T> {
  /** null when the server answered 304 Not Modified. */
  data: T | null;
  etag: string | null;
  status: number;
  bytes: number;
}

export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
  }
}

export class HpoAPI {
  constructor(readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings()) {}

  url(path: string, query?: Record<string, string | undefined>): string {
    let url = URLExt.join(this.settings.baseUrl, API_PREFIX, path);
    const q = Object.entries(query ?? {}).filter(([, v]) => v !== undefined) as [string, string][];
    if (q.length) {
      url += '?' + q.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&');
    }
    return url;
  }

  /** A request; `etag` is sent as If-None-Match and a 304 gives `data: null`. */
  async request<T>(
    path: string,
    init: RequestInit & { query?: Record<string, string | undefined>; etag?: string | null } = {}
  ): Promise<IAnswer<T>> {
    const { query, etag, ...rest } = init;
    const headers = new Headers(rest.headers ?? {});
    if (etag) {
      headers.set('If-None-Match', etag);
    }
    if (rest.body && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(
        this.url(path, query),
        { ...rest, headers, cache: 'no-store' },
        this.settings
      );
    } catch (error) {
      throw new APIError(`cannot reach the server: ${String(error)}`, 0);
    }
    const newTag = response.headers.get('Etag');
    if (response.status === 304) {
      return { data: null, etag: etag ?? newTag, status: 304, bytes: 0 };
    }
    const text = await response.text();
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        message = JSON.parse(text).message || message;
      } catch {
        // not JSON: keep the status line
      }
      throw new APIError(message, response.status);
    }
    return {
      data: text ? (JSON.parse(text) as T) : ({} as T),
      etag: newTag,
      status: response.status,
      bytes: text.length
    };
  }

  async get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return (await this.request<T>(path, { query })).data as T;
  }

  async post<T>(path: string, body: unknown = {}): Promise<T> {
    return (await this.request<T>(path, { method: 'POST', body: JSON.stringify(body) })).data as T;
  }

  async del(path: string): Promise<void> {
    await this.request<unknown>(path, { method: 'DELETE' });
  }
}
