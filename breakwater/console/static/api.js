// The admin API as the CLI uses it: the same paths, the same JSON, the same bearer token.

const TOKEN_KEY = "breakwater.token";

export class ApiError extends Error {
  constructor(status, message, currentRevision) {
    super(message);
    this.status = status; // 0: the control plane did not answer
    this.currentRevision = currentRevision;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// A write always goes as JSON ({} when it carries nothing): the server refuses any other type,
// so that no web form of another site can write.
export async function call(method, path, body) {
  if (body === undefined && method !== "GET" && method !== "HEAD") body = {};
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const held = token();
  if (held) headers.Authorization = `Bearer ${held}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, `the control plane did not answer (${error.message})`);
  }
  let answer = null;
  try {
    answer = await response.json();
  } catch (error) {
    answer = null;
  }
  if (!response.ok) {
    const sentence = answer && answer.error ? answer.error : `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, sentence, answer ? answer.current_revision : undefined);
  }
  return answer;
}

export const get = (path) => call("GET", path);

export const quote = encodeURIComponent;
