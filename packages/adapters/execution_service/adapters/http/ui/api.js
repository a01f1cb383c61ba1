// The REST API, with the API token (if one was given) on every request.

const TOKEN_KEY = "execution-service.api-token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

export function phrase(status) {
  return { 202: "Accepted", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 503: "Service Unavailable" }[status] || "";
}

export async function request(method, path, { signal } = {}) {
  const headers = { Accept: "application/json" };
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const response = await fetch(path, { method, headers, signal });
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) throw new ApiError(response.status, body);
  return { status: response.status, body };
}

export async function get(path, options) {
  return (await request("GET", path, options)).body;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

// Every node run of an execution, page by page (the API gives at most 1000 at a time).
// With `at` (ISO), as they stood then.
export async function allNodeRuns(id, options, at) {
  const runs = [];
  const moment = at ? `&at=${encodeURIComponent(at)}` : "";
  for (let page = 1; ; page++) {
    const body = await get(`/api/executions/${encodeURIComponent(id)}/logs?limit=1000&page=${page}${moment}`, options);
    runs.push(...body.data);
    if (page >= body.totalPages || body.data.length === 0) return runs;
  }
}
